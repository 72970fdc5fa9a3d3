#!/usr/bin/env bash
# `npm run dev`: installs what is missing, starts the demo origins, seeds local KV from
# routes/gateway.json, and serves the gateway with `wrangler dev` on http://127.0.0.1:8787.
source "$(dirname "$0")/lib.sh"
setup
export GATEWAY_SKIP_SETUP=1 WRANGLER_SEND_METRICS=false
STATE="$ROOT/.wrangler/state"
DOC="${GATEWAY_ROUTES:-$ROOT/routes/gateway.json}"

step "Validating $DOC"
cargo run --quiet --locked --bin gateway-config -- validate "$DOC"

step "Starting demo origins (users :9101, orders :9102, products :9103)"
"$NODE" "$ROOT/demo/origins.mjs" &
origins=$!
trap 'kill $origins 2>/dev/null || true' EXIT INT TERM

# The admin endpoints need a token; wrangler dev reads secrets from .dev.vars (not committed).
if [[ ! -f "$ROOT/.dev.vars" ]] || ! grep -q '^ADMIN_TOKEN=' "$ROOT/.dev.vars"; then
  echo "ADMIN_TOKEN=dev-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')" >> "$ROOT/.dev.vars"
fi
admin_token="$(sed -n 's/^ADMIN_TOKEN=//p' "$ROOT/.dev.vars" | head -n 1)"

step "Seeding local KV (binding CONFIG, key routes, as a configuration version) from $DOC"
GATEWAY_STATE="$STATE" "$NODE" "$ROOT/scripts/config.mjs" push "$DOC" --local

step "Serving the gateway on http://127.0.0.1:8787 (the first build takes a few minutes)"
note "try: curl -i http://127.0.0.1:8787/api/users/1"
note "admin: curl -H 'Authorization: Bearer $admin_token' http://127.0.0.1:8787/__gateway/health"
note "dashboard: http://127.0.0.1:8787/__gateway/dashboard#token=$admin_token"
note "OpenAPI: http://127.0.0.1:8787/openapi.json"
note "change routes: edit $DOC, then 'npm run push' (a new version, served at once; 'npm run rollback' undoes it)"
# The gateway reads nothing from `request.cf`, so wrangler need not download the object (offline
# that fails with a stack trace on every start); set CLOUDFLARE_CF_FETCH_ENABLED=true to have it.
CLOUDFLARE_CF_FETCH_ENABLED="${CLOUDFLARE_CF_FETCH_ENABLED:-false}" \
  wrangler dev --ip 127.0.0.1 --port 8787 --persist-to "$STATE" --var CONFIG_REFRESH_SECONDS:2 "$@"
