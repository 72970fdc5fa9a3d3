// Command-line options shared by the benchmark scripts: `--seconds N` (default: BENCH_SECONDS
// or 5) and `--json FILE` (where to write the results, if anywhere).
const args = process.argv.slice(2);

export function option(name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
}

export const seconds = Number(option("--seconds", process.env.BENCH_SECONDS ?? 5));
export const jsonOut = option("--json");
/// `--alternate N`: perf.mjs measures only the runtime CPU per request of the pass-through
/// Worker, the plain proxy, the rate-limited and aggregating routes and cold-token verification, in N rounds of
/// one run each, for comparing two builds of the gateway with less drift.
export const alternate = Number(option("--alternate", 0));
/// `--var NAME=VALUE` (repeatable): a Worker variable for the gateway under test, for example
/// `--var ACCESS_LOG=off` to measure what the access log costs.
export const vars = Object.fromEntries(
  args.flatMap((arg, i) => (arg === "--var" && args[i + 1]?.includes("=") ? [args[i + 1].split(/=(.*)/s).slice(0, 2)] : [])),
);
