#!/usr/bin/env bash
# Builds the Worker into build/ (release by default; `--dev` for a faster, larger build).
source "$(dirname "$0")/lib.sh"
[[ "${GATEWAY_SKIP_SETUP:-}" == 1 ]] && { NODE="$(node_bin)"; export NODE; } || setup
export_build_tools
mode="--release"
[[ "${1:-}" == "--dev" ]] && mode="--dev"
step "Building the Worker ($mode)"
worker-build "$mode"
# The entry module wraps worker-build's so that a panic is still answered (src/platform/entry.js).
cp "$ROOT/src/platform/entry.js" "$ROOT/build/entry.js"
wasm="$ROOT/build/index_bg.wasm"
[[ -f "$wasm" ]] || fail "the build produced no $wasm"
[[ "${GATEWAY_KEEP_WASM_NAMES:-}" == 1 ]] || "$NODE" "$ROOT/scripts/strip-wasm-names.mjs" "$wasm"
note "wasm: $(stat -c %s "$wasm") bytes, $(gzip -9c "$wasm" | wc -c) gzipped"
