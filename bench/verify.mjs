// Signature verification timed inside WebAssembly: bench/verify.rs (the gateway's own key and
// signature code) built for wasm32-wasip1 with the release profile and run under Node's WASI,
// so V8 executes the same Wasm code generation as workerd, without a request around it. In the
// Worker only HMAC runs this code: RSA, ECDSA and Ed25519 signatures go to the runtime's
// WebCrypto, and these figures are what that saves (perf.mjs measures the Worker's cold tokens).
//
//   node bench/verify.mjs [--seconds N] [--json FILE] [--compare CARGO-CONFIG] [--rounds N]
//
// `--compare 'profile.release.opt-level="z"'` builds a second time with that `cargo --config`
// override (`;` separates several) and runs the two builds in alternating rounds, reporting
// each algorithm's time under both and their ratio.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { WASI } from "node:wasi";
import { mint, signersFor } from "./tokens.mjs";
import { jsonOut, option, seconds } from "./options.mjs";
import { ROOT } from "../tests/e2e/harness.mjs";

const ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];
const compare = option("--compare");
const rounds = Number(option("--rounds", compare ? 3 : 1));
// Time per algorithm and round, in ms.
const budget = Math.max(50, Math.round((seconds * 1000) / ALGS.length));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-verify-"));

/** Builds verify-bench for wasm32-wasip1, with `cargo --config` overrides if given. */
function build(overrides = []) {
  const args = ["build", "--quiet", "--release", "--locked", "--bin", "verify-bench", "--target", "wasm32-wasip1"];
  for (const config of overrides) args.push("--config", config);
  // One target directory per variant, so that switching between them does not rebuild.
  const variant = overrides.length ? createHash("sha256").update(overrides.join(";")).digest("hex").slice(0, 12) : "shipped";
  const targetDir = path.join(ROOT, "target", "verify-bench", variant);
  execFileSync("cargo", [...args, "--target-dir", targetDir], { cwd: ROOT, stdio: "inherit" });
  return fs.readFileSync(path.join(targetDir, "wasm32-wasip1/release/verify-bench.wasm"));
}

/** Runs one build over the cases; returns microseconds per verification by algorithm. */
async function run(bytes, casesFile) {
  const outFile = path.join(tmp, "out.txt");
  const stdin = fs.openSync(casesFile, "r");
  const stdout = fs.openSync(outFile, "w");
  try {
    const wasi = new WASI({ version: "preview1", args: ["verify-bench", String(budget)], stdin, stdout, returnOnExit: true });
    const instance = await WebAssembly.instantiate(await WebAssembly.compile(bytes), wasi.getImportObject());
    const code = wasi.start(instance);
    if (code !== 0) throw new Error(`verify-bench exited with ${code}`);
  } finally {
    fs.closeSync(stdin);
    fs.closeSync(stdout);
  }
  const times = {};
  for (const line of fs.readFileSync(outFile, "utf8").trim().split("\n")) {
    const [alg, us] = line.split(" ");
    times[alg] = Number(us);
  }
  return times;
}

const signers = await signersFor(ALGS);
const cases = await Promise.all(ALGS.map(async (alg) => ({ alg, jwk: signers[alg].jwk, token: await mint(signers, alg, "verify") })));
const casesFile = path.join(tmp, "cases.json");
fs.writeFileSync(casesFile, JSON.stringify(cases));

const builds = { shipped: build() };
if (compare) builds.variant = build(compare.split(";"));
const samples = Object.fromEntries(Object.keys(builds).map((name) => [name, []]));
for (let i = 0; i < rounds; i++) {
  for (const [name, bytes] of Object.entries(builds)) samples[name].push(await run(bytes, casesFile));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
for (const [name, runs] of Object.entries(samples)) {
  results[name] = Object.fromEntries(ALGS.map((alg) => [alg, median(runs.map((r) => r[alg]))]));
}

const names = Object.keys(results);
console.log(`verification in Wasm (V8, ${process.version}), µs per token, median of ${rounds} round(s) of ${budget} ms`);
console.log(["alg".padEnd(6), ...names.map((n) => n.padStart(14)), ...(compare ? ["ratio".padStart(8)] : [])].join(" "));
for (const alg of ALGS) {
  const cells = names.map((n) => results[n][alg].toFixed(1).padStart(14));
  const ratio = compare ? [`${(results[names[1]][alg] / results.shipped[alg]).toFixed(2)}x`.padStart(8)] : [];
  console.log([alg.padEnd(6), ...cells, ...ratio].join(" "));
}
if (compare) {
  console.log(`variant: ${compare}`);
  for (const [name] of Object.entries(builds)) {
    console.log(`${name}: ${builds[name].length} bytes of verify-bench Wasm`);
  }
}
jsonOut && fs.writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds, budget_ms: budget, results }, null, 2));
fs.rmSync(tmp, { recursive: true, force: true });
