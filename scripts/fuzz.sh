#!/usr/bin/env bash
# `npm run fuzz [-- --minutes N] [-- TARGET...]`: coverage-guided fuzzing (libFuzzer, through
# cargo-fuzz from crates.io) of every target in fuzz/targets.rs for N minutes in all (default
# 10), the time split between them; then the property tests (tests/properties.rs) with many
# cases. An input that makes a target fail (a panic, or one input taking over 10 s) is copied
# to fuzz/regressions/<target>/, which `cargo test` replays from then on, and the run fails.
#
# cargo-fuzz builds with unstable compiler flags; the stable toolchain accepts them with
# RUSTC_BOOTSTRAP=1, which is set for the fuzz build alone. Without cargo-fuzz (it cannot be
# installed), the whole time goes to the property tests with large case counts instead.
source "$(dirname "$0")/lib.sh"

minutes=10
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ "$minutes" =~ ^[0-9]+$ && "$minutes" -gt 0 ]] || fail "--minutes takes a whole number above 0"
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(sed -n 's/^name = "\([a-z_]*\)"$/\1/p' "$ROOT/fuzz/Cargo.toml" | grep -v '^edge-gateway')
fi

CARGO_FUZZ_VERSION="0.13.2"
fuzzer=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  step "Installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io (once)"
  cargo_install cargo-fuzz "$CARGO_FUZZ_VERSION" || { note "cargo-fuzz is not available: property tests only"; fuzzer=0; }
fi

budget=$((minutes * 60))
failed=0
if [[ "$fuzzer" == 1 ]]; then
  # The property tests get a tenth of the time, the targets the rest.
  per=$(((budget * 9 / 10) / ${#targets[@]}))
  [[ "$per" -ge 5 ]] || per=5
  for target in "${targets[@]}"; do
    step "Fuzzing '$target' for $per s"
    mkdir -p "$ROOT/fuzz/corpus/$target" "$ROOT/fuzz/seeds/$target"
    rm -rf "$ROOT/fuzz/artifacts/$target"
    log="$ROOT/fuzz/artifacts/$target.log"
    mkdir -p "$ROOT/fuzz/artifacts"
    status=0
    (cd "$ROOT/fuzz" && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" \
      "corpus/$target" "seeds/$target" -- -max_total_time="$per" -timeout=10 -rss_limit_mb=2048) \
      >"$log" 2>&1 || status=$?
    grep -E '^Done [0-9]+ runs' "$log" | sed 's/^/    /' || true
    if compgen -G "$ROOT/fuzz/artifacts/$target/*" >/dev/null; then
      mkdir -p "$ROOT/fuzz/regressions/$target"
      cp "$ROOT/fuzz/artifacts/$target/"* "$ROOT/fuzz/regressions/$target/"
      grep -E 'panicked|ERROR|SUMMARY' "$log" | head -n 5 | sed 's/^/    /' || true
      note "'$target' failed: the input is kept in fuzz/regressions/$target/ (replayed by cargo test)"
      failed=1
    elif [[ "$status" != 0 ]]; then
      tail -n 20 "$log" >&2
      fail "cargo fuzz could not run '$target' (the log is $log)"
    fi
  done
  cases=20000
else
  cases=$((budget * 200))
fi

step "Property tests with $cases cases each"
PROPTEST_CASES="$cases" cargo test --release --locked --test properties --test fuzz_regressions \
  || failed=1
[[ "$failed" == 0 ]] || fail "fuzzing found failures (see above)"
step "Fuzzing found nothing"
