#!/usr/bin/env bash
# `npm run rollback -- [VERSION]` and `npm run versions`: see scripts/config.mjs.
source "$(dirname "$0")/lib.sh"
ensure_npm_packages >/dev/null 2>&1 || ensure_npm_packages
ensure_node
exec "$NODE" "$ROOT/scripts/config.mjs" "$@"
