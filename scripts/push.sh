#!/usr/bin/env bash
# `npm run push -- [FILE] [--local|--remote] [--force] [--candidate [PERCENT]] [--gateway URL]
# [--token T]`: validates a route document offline, then makes it the current configuration
# version (or, with --candidate, rolls it out to a share of clients; see scripts/config.mjs).
# By default through the admin API of the gateway at GATEWAY_URL (http://127.0.0.1:8787, i.e.
# `npm run dev`; pass --gateway and --token for a deployed one). --local / --remote write KV with wrangler instead
# (the state `npm run dev` uses / the deployed namespace), for a gateway without an admin token.
source "$(dirname "$0")/lib.sh"
doc="$ROOT/routes/gateway.json"
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --gateway|--token) args+=("$1" "${2:-}"); shift ;;
    --candidate) args+=("$1"); if [[ "${2:-}" =~ ^[0-9]+$ ]]; then args+=("$2"); shift; fi ;;
    --*) args+=("$1") ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) doc="$1" ;;
  esac
  shift
done
step "Validating $doc"
cargo run --quiet --locked --bin gateway-config -- validate "$doc" || fail "not pushed: fix the errors above first"
ensure_npm_packages >/dev/null
ensure_node
exec "$NODE" "$ROOT/scripts/config.mjs" push "$doc" "${args[@]}"
