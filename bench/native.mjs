// Where the runtime's CPU goes per request, native code included: Linux `perf` samples the
// workerd process of the pass-through Worker and then the gateway's while wrk loads each
// (loopback, bounded in time), with V8's perf map naming the JIT code (the Worker's Wasm and
// JavaScript). Every sample is charged to one of
//   - the Worker's own code (Wasm, split by V8 tier, or JavaScript glue);
//   - the runtime API that code was inside (Headers.append, fetch, setTimeout...);
//   - V8 work under the Worker's code that is not an API (calls into the runtime, GC);
//   - the runtime outside any Worker code (request dispatch, HTTP, destructors, GC),
// and printed per request for both Workers, the biggest differences first.
//
//   node bench/native.mjs [--seconds N] [--rounds N] [--top N] [--var NAME=VALUE]...
//
// Needs `perf` (Debian's linux-perf) allowed to sample this user's processes.
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { option, seconds, vars } from "./options.mjs";
import { plainDocument, startBenchGateway, startNginx, startPassthrough, waitFor, workerdPids, wrk } from "./servers.mjs";

const top = Number(option("--top", 30));
const rounds = Number(option("--rounds", 3));
const HZ = 999;
const execFileAsync = promisify(execFile);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-native-"));

try {
  execFileSync("perf", ["record", "-q", "-o", path.join(tmp, "probe.data"), "--", "true"], { stdio: "ignore" });
} catch {
  console.log("bench/native.mjs: skipped, `perf` is missing or may not sample processes here");
  process.exit(0);
}

// V8 writes a perf map for its JIT code (/tmp/perf-PID.map), and a log of its own, kept here.
// (With flags of its own workerd says its bootstrap compile cache does not apply: harmless.)
process.env.MINIFLARE_WORKERD_V8_FLAGS = `--perf-basic-prof --no-logfile-per-isolate --logfile=${path.join(tmp, "v8.log")}`;

/** Starts a Worker and returns it with the pid of the workerd process it started. */
async function withPid(start) {
  const before = workerdPids();
  const worker = await start();
  const [pid] = [...workerdPids()].filter((p) => !before.has(p));
  if (!pid) throw new Error("no new workerd process");
  return { worker, pid };
}

/** Samples `pid` for `seconds` in the middle of a wrk run; returns the samples' stacks and
 * the requests answered while sampling (the run's count in proportion to the time sampled). */
async function sample(name, url, pid) {
  await wrk(url, { seconds: 1 });
  const file = path.join(tmp, `${name}.data`);
  const load = wrk(url, { seconds: seconds + 2 });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await execFileAsync("perf", ["record", "-q", "-F", String(HZ), "-g", "-o", file, "-p", pid, "--", "sleep", String(seconds)]);
  const requests = ((await load).requests * seconds) / (seconds + 2);
  const { stdout: script } = await execFileAsync("perf", ["script", "-i", file, "-F", "ip,sym,dso"], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
  });
  return { requests, stacks: script.split(/\n\s*\n/).map(frames).filter((f) => f.length) };
}

/** [symbol, object] per frame, leaf first. */
function frames(block) {
  const out = [];
  for (const line of block.split("\n")) {
    const m = line.trim().match(/^[0-9a-f]+ (.*) \((.*)\)$/);
    if (m) out.push([m[1], m[2]]);
  }
  return out;
}

const isJit = ([sym, dso]) => dso.includes("/tmp/perf-") || dso.includes("[JIT]") || sym === "[unknown]";

/** Without template arguments, parameters or hash suffixes. */
function plain(sym) {
  let s = sym.replace(/::h[0-9a-f]{16}/g, "").replace(/\(.*$/, "");
  for (let prev; prev !== s; ) {
    prev = s;
    s = s.replace(/<[^<>]*>/g, "");
  }
  return s;
}

/** "Class.method" of a runtime API callback from its (often truncated) mangled name. */
function apiName(mangled) {
  const counted = (at) => {
    const m = mangled.slice(at).match(/^(\d+)/);
    return m ? mangled.substr(at + m[1].length, Number(m[1])) : undefined;
  };
  const cls = mangled.match(/NS_3api(?=\d)/);
  const method = mangled.match(/XadL_ZNK?S\d*_(?=\d)/);
  const name = method ? counted(method.index + method[0].length) : mangled.includes("PromiseINS0_3RefINS5_8Response") ? "fetch" : "?";
  return `${cls ? counted(cls.index + cls[0].length) : "?"}.${name}`;
}

function charge(stack) {
  const jit = stack.findIndex(isJit);
  if (jit < 0) {
    if (stack.some(([s]) => /Heap::|Scavenge|MarkCompact|cppgc|Sweeper|ConcurrentMarking/.test(s))) return "runtime: GC";
    const own = stack.find(([s]) => s.startsWith("workerd::") && !/^workerd::(jsg::|IoContext::run|Worker::|server::cli)/.test(s));
    return `runtime: ${own ? plain(own[0]).slice(0, 70) : "event loop, HTTP, allocator (no API frame)"}`;
  }
  if (jit === 0) {
    const [sym] = stack[0];
    if (/-liftoff$/.test(sym)) return "worker code: Wasm, baseline tier (Liftoff)";
    if (/-turbofan$/.test(sym)) return "worker code: Wasm, optimized";
    return "worker code: JavaScript and stubs";
  }
  for (let i = jit - 1; i >= 0; i--) {
    const [sym] = stack[i];
    if (/^_ZN7workerd3jsg\d+\w*Callback/.test(sym)) return `API: ${apiName(sym)}`;
    if (sym.startsWith("workerd::api::")) return `API: ${plain(sym).replace("workerd::api::", "").slice(0, 60)}`;
  }
  // A C++ built-in is entered through a CEntry stub: name the built-in, not the stub.
  const entry = /^Builtins_CEntry/.test(stack[jit - 1][0]) && jit > 1 ? jit - 2 : jit - 1;
  const [callee] = stack[entry];
  if (/Heap::|Scavenge|cppgc/.test(callee)) return "under worker code: GC";
  if (/Liftoff/.test(callee)) return "under worker code: Liftoff frame setup";
  if (callee === "v8::internal::Builtin_HandleApiConstruct") return "API: constructing runtime objects (new Headers, Request...)";
  return `under worker code: ${plain(callee).replace("v8::internal::Builtin_", "built-in ").slice(0, 60)}`;
}

/** Samples charged by `charge`, summed over rounds, as µs per request. */
function tally() {
  const samples = new Map();
  let requests = 0;
  return {
    add(run) {
      requests += run.requests;
      for (const stack of run.stacks) {
        const key = charge(stack);
        samples.set(key, (samples.get(key) ?? 0) + 1);
      }
    },
    perRequest: () => new Map([...samples].map(([k, n]) => [k, (n * 1e6) / HZ / requests])),
  };
}

const nginx = await startNginx(tmp);
const passthrough = await withPid(() => startPassthrough(nginx.origin));
const gateway = await withPid(() => startBenchGateway({ document: plainDocument(nginx.origin), bindings: vars }));
try {
  const gw = gateway.worker.direct;
  await waitFor(`${passthrough.worker.url}/users/1`);
  // The runtime's own cost per request moves by half between runs on a small machine, so the
  // two Workers take turns, round after round, and the figures are over all rounds.
  const [pt, gt] = [tally(), tally()];
  for (let round = 1; round <= rounds; round++) {
    pt.add(await sample("passthrough", `${passthrough.worker.url}/users/1`, passthrough.pid));
    gt.add(await sample("gateway", `${gw}/users/1`, gateway.pid));
  }
  const [a, b] = [pt.perRequest(), gt.perRequest()];
  const us = (v) => (v ?? 0).toFixed(0).padStart(7);
  const group = (m) => {
    const out = new Map();
    for (const [k, v] of m) out.set(k.split(":")[0], (out.get(k.split(":")[0]) ?? 0) + v);
    return out;
  };
  const total = (m) => [...m.values()].reduce((s, v) => s + v, 0);
  console.log(`CPU per request in µs (perf at ${HZ} Hz; ${rounds} rounds of ${seconds}s of wrk with 16 connections each)`);
  console.log(`${"".padEnd(72)}pass-through gateway    diff`);
  console.log(`${"all".padEnd(72)}${us(total(a))} ${us(total(b))} ${us(total(b) - total(a))}`);
  const ga = group(a);
  const gb = group(b);
  for (const k of new Set([...ga.keys(), ...gb.keys()])) console.log(`  ${k.padEnd(70)}${us(ga.get(k))} ${us(gb.get(k))} ${us((gb.get(k) ?? 0) - (ga.get(k) ?? 0))}`);
  console.log(`\nThe ${top} largest differences`);
  const rows = [...new Set([...a.keys(), ...b.keys()])].map((k) => [k, a.get(k) ?? 0, b.get(k) ?? 0]);
  rows.sort((x, y) => Math.abs(y[2] - y[1]) - Math.abs(x[2] - x[1]));
  for (const [k, x, y] of rows.slice(0, top)) console.log(`  ${k.slice(0, 70).padEnd(70)}${us(x)} ${us(y)} ${us(y - x)}`);
} finally {
  await gateway.worker.close();
  await passthrough.worker.close();
  nginx.stop();
  // The recordings and V8's perf maps are a few megabytes a run.
  for (const { pid } of [passthrough, gateway]) fs.rmSync(`/tmp/perf-${pid}.map`, { force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
}
