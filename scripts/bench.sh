#!/usr/bin/env bash
# `npm run bench`: release builds of the gateway and of a minimal pass-through Worker, then the
# side-by-side figures (loopback only, bounded in time) written to bench/results/*.json:
#   bench/perf.mjs     throughput and latency under wrk: gateway vs pass-through vs nginx
#   bench/gateway.mjs  sequential latency, rate-limit cost, cache hit, aggregation, denied
#                      bursts, JWT per algorithm
#   bench/verify.mjs   signature verification per algorithm timed inside Wasm (bench/verify.rs;
#                      the Worker checks RSA, ECDSA and Ed25519 with WebCrypto instead)
#   bench/crossings.mjs calls from the Wasm into JavaScript per plain request, by function
#   bench/collapse.mjs origin calls a burst of concurrent cold requests for one key makes
#   bench/native.mjs   CPU per request by runtime API and kind of work (Linux perf), pass-through
#                      vs gateway
#   bench/memory.mjs   Wasm linear memory and the isolate's JS heap after 100k requests of
#                      every kind
#   bench/profile.mjs  V8's sampling profile per request, pass-through vs gateway (smoke only;
#                      run it by hand on a build with GATEWAY_KEEP_WASM_NAMES=1)
#   benches/stages.rs  the pure stages timed on the host (cargo bench)
#   bench/lease_overshoot.rs how far approximate rate limits stray from exact ones (simulated)
#   bench/waf-corpus.mjs the firewall's detection and false-positive rates on public corpora
# `--smoke` runs them on a very short setting, to check that the harness works (npm test).
source "$(dirname "$0")/lib.sh"
if [[ "${1:-}" == "--smoke" ]]; then
  NODE="$(node_bin)"
  export NODE
  export_build_tools
  ensure_bench_tools
  build_passthrough
  "$NODE" "$ROOT/bench/perf.mjs" --seconds "${BENCH_SECONDS:-1}"
  "$NODE" "$ROOT/bench/gateway.mjs" --seconds "${BENCH_SECONDS:-1}"
  "$NODE" --disable-warning=ExperimentalWarning "$ROOT/bench/verify.mjs" --seconds "${BENCH_SECONDS:-1}"
  "$NODE" "$ROOT/bench/crossings.mjs" --requests 20
  "$NODE" "$ROOT/bench/collapse.mjs" --burst 10 --keys 1
  "$NODE" "$ROOT/bench/profile.mjs" --seconds 1 --top 10
  "$NODE" "$ROOT/bench/native.mjs" --seconds 1 --rounds 1 --top 10
  "$NODE" "$ROOT/bench/memory.mjs" --seconds 1 --requests 1
  exit 0
fi
setup
ensure_bench_tools
GATEWAY_SKIP_SETUP=1 bash "$ROOT/scripts/build.sh"
export_build_tools
build_passthrough
mkdir -p "$ROOT/bench/results"
"$NODE" "$ROOT/bench/perf.mjs" --seconds "${BENCH_SECONDS:-10}" --json "$ROOT/bench/results/perf.json"
"$NODE" "$ROOT/bench/gateway.mjs" --seconds "${BENCH_SECONDS:-10}" --json "$ROOT/bench/results/gateway.json"
"$NODE" --disable-warning=ExperimentalWarning "$ROOT/bench/verify.mjs" --seconds "${BENCH_SECONDS:-10}" --rounds 3 --json "$ROOT/bench/results/verify.json"
"$NODE" "$ROOT/bench/crossings.mjs"
"$NODE" "$ROOT/bench/collapse.mjs" --json "$ROOT/bench/results/collapse.json"
"$NODE" "$ROOT/bench/crossings.mjs" --route rate-limited
"$NODE" "$ROOT/bench/crossings.mjs" --route aggregate
"$NODE" "$ROOT/bench/native.mjs" --seconds 5 --rounds 4
"$NODE" "$ROOT/bench/memory.mjs" --seconds 2 --requests 100000 --json "$ROOT/bench/results/memory.json"
step "Approximate rate limits against exact ones, simulated (bench/lease_overshoot.rs)"
cargo run --quiet --release --bin lease-overshoot
step "Pure stages on the host (cargo bench --bench stages)"
cargo bench --quiet --bench stages
step "Firewall detection and false positives on public corpora (bench/waf-corpus.mjs)"
"$NODE" "$ROOT/bench/waf-corpus.mjs"
