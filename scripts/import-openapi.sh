#!/usr/bin/env bash
# `npm run import-openapi -- FILE [--service NAME] [--upstream URL] [--mock] [--out FILE]`:
# prints (or writes) a route document made from an OpenAPI 3.0/3.1 document in YAML or JSON;
# what must still be filled in goes to stderr. Edit it, then `npm run push -- FILE`.
source "$(dirname "$0")/lib.sh"
ensure_npm_packages >/dev/null 2>&1 || ensure_npm_packages
NODE="$(node_bin)"
exec "$NODE" "$ROOT/scripts/import-openapi.mjs" "$@"
