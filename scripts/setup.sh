#!/usr/bin/env bash
# Installs whatever is missing: npm packages, the wasm32 target, wasm-bindgen-cli, worker-build.
source "$(dirname "$0")/lib.sh"
setup
step "Toolchain ready"
