#!/usr/bin/env bash
# `npm run consumer -- create NAME [--scopes a,b] [--plan P] [--local|--remote]`
source "$(dirname "$0")/lib.sh"
ensure_npm_packages >/dev/null 2>&1 || ensure_npm_packages
NODE="$(node_bin)"
exec "$NODE" "$ROOT/scripts/consumer.mjs" "$@"
