#!/usr/bin/env bash
# `npm test`: installs what is missing, then every check: formatting, lints (host and wasm32),
# host unit tests, the release Worker build, end-to-end tests in workerd against real origins,
# the deploy artifact, and a short run of the benchmark harness.
source "$(dirname "$0")/lib.sh"
setup

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (host, warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "clippy (wasm32, warnings denied)"
cargo clippy --workspace --lib --target wasm32-unknown-unknown --locked -- -D warnings

step "host unit tests"
cargo test --locked

step "the custom-stage example applies to a copy of the tree, passes its tests and builds for wasm32"
bash "$ROOT/scripts/example-stage.sh"

step "route documents in routes/ validate"
bash "$ROOT/scripts/validate.sh"

GATEWAY_SKIP_SETUP=1 bash "$ROOT/scripts/build.sh"
ensure_chromium
# The CDN tests put nginx (static files, byte ranges) behind the gateway.
ensure_bench_tools
ensure_python_packages

step "end-to-end tests (workerd via Miniflare, real KV, real origin servers on loopback)"
"$NODE" --test --test-concurrency=1 --test-reporter=spec tests/e2e/*.test.mjs

step "deploy artifact (wrangler deploy --dry-run)"
rm -rf "$ROOT/dist"
GATEWAY_SKIP_SETUP=1 wrangler deploy --dry-run --outdir "$ROOT/dist" >/dev/null
wasm="$(find "$ROOT/dist" -name '*.wasm' | head -n 1)"
[[ -n "$wasm" ]] || fail "the dry run produced no .wasm"
note "deployable wasm: $(stat -c %s "$wasm") bytes, $(gzip -9c "$wasm" | wc -c) bytes gzipped"

step "benchmark harness (short setting; figures are not checked)"
BENCH_SECONDS=1 bash "$ROOT/scripts/bench.sh" --smoke

step "All checks passed"
