#!/usr/bin/env bash
# `npm run validate [-- FILE...]`: checks route documents offline exactly as the Worker does,
# printing every problem with its JSON path. Defaults to routes/*.json.
source "$(dirname "$0")/lib.sh"
if [[ $# -eq 0 ]]; then set -- "$ROOT"/routes/*.json; fi
files=()
for f in "$@"; do [[ "$f" == *.schema.json ]] || files+=("$f"); done
cargo run --quiet --locked --bin gateway-config -- validate "${files[@]}"
