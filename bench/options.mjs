// Command-line options shared by the benchmark scripts: `--seconds N` (default: BENCH_SECONDS
// or 5) and `--json FILE` (where to write the results, if anywhere).
const args = process.argv.slice(2);

function option(name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
}

export const seconds = Number(option("--seconds", process.env.BENCH_SECONDS ?? 5));
export const jsonOut = option("--json");
/// `--alternate N`: perf.mjs measures only the pass-through Worker and the plain proxy, in N
/// alternating rounds, for comparing two builds of the gateway with less drift.
export const alternate = Number(option("--alternate", 0));
