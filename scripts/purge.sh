#!/usr/bin/env bash
# `npm run purge -- [--tag T] [--route R] [--url U] [--prefix P] [--everything] [--gateway URL] [--token T]`
source "$(dirname "$0")/lib.sh"
ensure_npm_packages >/dev/null 2>&1 || ensure_npm_packages
NODE="$(node_bin)"
exec "$NODE" "$ROOT/scripts/purge.mjs" "$@"
