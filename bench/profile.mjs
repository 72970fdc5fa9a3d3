// Where the runtime's CPU goes per request: V8's sampling profiler, through workerd's
// inspector, over the same load (wrk on loopback, bounded in time) on the pass-through Worker
// and on the gateway, one after the other. Prints self time per request by function and by
// kind: the Worker's Wasm code, the bindings' JavaScript glue (index.js), the runtime's
// built-ins (fetch, Headers, timers, queueMicrotask...), garbage collection, and V8's own
// "(program)" time.
//
//   node bench/profile.mjs [--seconds N] [--top N] [--path /users/1] [--var NAME=VALUE]... [--save DIR]
//
// Build the gateway with GATEWAY_KEEP_WASM_NAMES=1 for Wasm function names. An attached
// profiler slows both Workers alike (throughput here is not a benchmark figure), and an
// attached inspector also receives every console.log, which makes the access log look several
// times as costly as it is: compare with `--var ACCESS_LOG=off`. `--save DIR` writes
// the .cpuprofile files, which Chrome DevTools opens.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { option, seconds, vars } from "./options.mjs";
import { ROOT } from "../tests/e2e/harness.mjs";
import { freePort, inspect, plainDocument, startBenchGateway, startNginx, startPassthrough, waitFor, wrk } from "./servers.mjs";

const top = Number(option("--top", 40));
const requestPath = option("--path", "/users/1");
const saveDir = option("--save");



/** Self time in µs per request by function, from one profiled wrk run after a warm-up. */
async function profile(name, url, port, buildDir) {
  await wrk(url, { seconds: Math.max(1, seconds / 2), connections: 8 });
  const session = await inspect(port);
  await session.send("Profiler.enable");
  await session.send("Profiler.setSamplingInterval", { interval: 50 });
  await session.send("Profiler.start");
  const { requests } = await wrk(url, { seconds, connections: 8 });
  const { profile: p } = await session.send("Profiler.stop");
  session.close();
  if (saveDir) fs.writeFileSync(path.join(saveDir, `${name}.cpuprofile`), JSON.stringify(p));
  const nodes = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map();
  p.samples.forEach((id, i) => {
    const key = label(nodes.get(id), buildDir);
    self.set(key, (self.get(key) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  return { requests, perRequest: new Map([...self].map(([k, us]) => [k, us / requests])) };
}

const glue = new Map();
/** "kind: name". Glue functions are minified, so they are named by their first characters. */
function label({ functionName, url, lineNumber, columnNumber }, buildDir) {
  if (url.startsWith("wasm://")) return `wasm: ${functionName.replace(/::h[0-9a-f]{16}$/, "")}`;
  if (url.endsWith("index.js")) {
    const file = path.join(buildDir, url);
    if (!glue.has(file)) glue.set(file, fs.readFileSync(file, "utf8").split("\n"));
    const text = glue.get(file)[lineNumber]?.slice(columnNumber, columnNumber + 60) ?? functionName;
    return `glue: ${functionName.startsWith("__wbg_") ? functionName.replace(/_[0-9a-f]{16}$/, "") : text}`;
  }
  if (/^\((program|garbage collector|idle|root)\)$/.test(functionName)) return `v8: ${functionName}`;
  return url ? `js: ${functionName || "(anonymous)"} ${url.split("/").pop()}` : `runtime: ${functionName || "(anonymous)"}`;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-profile-"));
if (saveDir) fs.mkdirSync(saveDir, { recursive: true });
const nginx = await startNginx(tmp);
const passthroughPort = await freePort();
const gatewayPort = await freePort();
const passthrough = await startPassthrough(nginx.origin, { inspectorPort: passthroughPort });
const gateway = await startBenchGateway({ document: plainDocument(nginx.origin), bindings: vars, inspectorPort: gatewayPort });
try {
  const gw = gateway.direct;
  await waitFor(`${gw}${requestPath}`);
  await waitFor(`${passthrough.url}${requestPath}`);
  const a = await profile("passthrough", `${passthrough.url}${requestPath}`, passthroughPort, path.join(ROOT, "bench/passthrough/build"));
  const b = await profile("gateway", `${gw}${requestPath}`, gatewayPort, path.join(ROOT, "build"));
  const us = (v) => (v ?? 0).toFixed(1).padStart(8);
  const kinds = (m) => {
    const out = new Map();
    for (const [k, v] of m) {
      const kind = k.startsWith("v8:") ? k : k.split(":")[0];
      out.set(kind, (out.get(kind) ?? 0) + v);
    }
    return out;
  };
  const busy = (m) => [...m].filter(([k]) => k !== "v8: (idle)").reduce((s, [, v]) => s + v, 0);
  console.log(`Self time per request in µs, sampled every 50 µs over ${seconds}s of wrk (8 connections) each`);
  console.log(`${"".padEnd(60)}pass-through  gateway`);
  console.log(`${"requests profiled".padEnd(60)}${String(a.requests).padStart(8)} ${String(b.requests).padStart(8)}`);
  console.log(`${"busy (all but idle)".padEnd(60)}${us(busy(a.perRequest))} ${us(busy(b.perRequest))}`);
  const ka = kinds(a.perRequest);
  const kb = kinds(b.perRequest);
  for (const kind of new Set([...kb.keys(), ...ka.keys()])) console.log(`  ${kind.padEnd(58)}${us(ka.get(kind))} ${us(kb.get(kind))}`);
  console.log(`\nBy function, the gateway's top ${top} (glue is named by its minified source)`);
  const rows = [...b.perRequest].filter(([k]) => k !== "v8: (idle)").sort((x, y) => y[1] - x[1]).slice(0, top);
  for (const [k, v] of rows) console.log(`  ${k.slice(0, 90).padEnd(90)}${us(a.perRequest.get(k))} ${us(v)}`);
} finally {
  await gateway.close();
  await passthrough.close();
  nginx.stop();
}
