#!/usr/bin/env bash
# Adds the maintenance stage to a checkout of the gateway (default: this one): its file, its
# module line, its line in the stage list and the diagram (pipeline.rs and README). Running it
# twice changes nothing the second time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dst="${1:-$here/../..}"
cp "$here/maintenance.rs" "$dst/src/stages/maintenance.rs"
python3 - "$dst" <<'PY'
import pathlib, sys
root = pathlib.Path(sys.argv[1])
def edit(relative, anchor, addition):
    path = root / relative
    text = path.read_text()
    if addition in text:
        return
    if anchor not in text:
        sys.exit(f"{relative}: cannot find where the stage goes ({anchor!r})")
    path.write_text(text.replace(anchor, anchor + addition, 1))
edit("src/stages/mod.rs", "pub mod invalidate;\n", "pub mod maintenance;\n")
edit("src/pipeline.rs", "    Route => stages::route::Route,\n",
     "    /// Right after routing: a closed route costs nothing more.\n"
     "    Maintenance => stages::maintenance::Maintenance,\n")
diagram = "  route ───────────── no route / wrong method ────────────▶ 404 / 405\n"
line = "  maintenance ─────── MAINTENANCE=on, route not exempt ──▶ 503\n"
edit("src/pipeline.rs", "//!" + diagram + "//!    │\n", "//!" + line + "//!    │\n")
edit("README.md", diagram[1:] + "   │\n", line[1:] + "   │\n")
PY
echo "added the maintenance stage to $dst"
