#!/usr/bin/env bash
# `npm run push [-- --local|--remote] [FILE]`: validates a route document, then writes it to the
# CONFIG KV namespace (key `routes`). --local (the default) writes the state `npm run dev` uses;
# --remote writes to the namespace of the deployed gateway (needs `wrangler login` or an API token).
source "$(dirname "$0")/lib.sh"
target="--local"
doc="$ROOT/routes/gateway.json"
for arg in "$@"; do
  case "$arg" in
    --local|--remote) target="$arg" ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) doc="$arg" ;;
  esac
done
step "Validating $doc"
cargo run --quiet --locked --bin gateway-config -- validate "$doc" || fail "not pushed: fix the errors above first"
ensure_npm_packages
ensure_node
step "Writing $doc to KV (binding CONFIG, key routes, $target)"
if [[ "$target" == "--local" ]]; then
  wrangler kv key put routes --path "$doc" --binding CONFIG --local --persist-to "${GATEWAY_STATE:-$ROOT/.wrangler/state}"
else
  wrangler kv key put routes --path "$doc" --binding CONFIG --remote
fi
note "running gateways pick it up within CONFIG_REFRESH_SECONDS (plus KV propagation when remote)"
