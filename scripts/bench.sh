#!/usr/bin/env bash
# `npm run bench`: release build, then the side-by-side latency figures (loopback only).
# `--smoke` runs a very short setting on the existing build, to check that the harness works.
source "$(dirname "$0")/lib.sh"
if [[ "${1:-}" == "--smoke" ]]; then
  NODE="$(node_bin)"
  "$NODE" "$ROOT/bench/gateway.mjs" --seconds "${BENCH_SECONDS:-1}"
  exit 0
fi
setup
GATEWAY_SKIP_SETUP=1 bash "$ROOT/scripts/build.sh"
mkdir -p "$ROOT/bench/results"
"$NODE" "$ROOT/bench/gateway.mjs" --seconds "${BENCH_SECONDS:-10}" --json "$ROOT/bench/results/gateway.json"
