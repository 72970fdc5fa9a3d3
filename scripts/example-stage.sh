#!/usr/bin/env bash
# Checks the documented custom-stage example (examples/custom-stage): applied to a copy of this
# tree, the copy must pass the layer and diagram checks, the stage's own tests, and build for
# Workers (wasm32). The build shares this tree's target directory, so only the crate rebuilds.
source "$(dirname "$0")/lib.sh"
copy="$(mktemp -d)"
trap 'rm -rf "$copy"' EXIT
for part in Cargo.toml Cargo.lock clippy.toml README.md src tests examples bench benches; do
  cp -r "$ROOT/$part" "$copy/"
done
bash "$copy/examples/custom-stage/apply.sh" "$copy" >/dev/null
bash "$copy/examples/custom-stage/apply.sh" "$copy" >/dev/null
export CARGO_TARGET_DIR="$ROOT/target"
cargo test --quiet --locked --manifest-path "$copy/Cargo.toml" --test structure
cargo test --quiet --locked --manifest-path "$copy/Cargo.toml" --lib stages::maintenance
cargo clippy --quiet --locked --manifest-path "$copy/Cargo.toml" --lib --target wasm32-unknown-unknown -- -D warnings
grep -q "Maintenance => stages::maintenance::Maintenance" "$copy/src/pipeline.rs" || fail "the stage is not in the pipeline"
note "the custom-stage example applies, passes its tests and builds for wasm32"
