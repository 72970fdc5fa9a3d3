// Memory after many requests: the gateway's Wasm linear memory (`GET /__gateway/health`, the
// isolate's `wasm_memory_bytes`) and its isolate's JavaScript heap after a full garbage
// collection (V8's `HeapProfiler.collectGarbage` and `Runtime.getHeapUsage` through workerd's
// inspector), sampled after every round of load until `--requests` (default 100,000) have been
// served. Each round loads, with wrk on loopback for `--seconds` each: the plain route, a JWT
// route with a different token on every request (each one verified and remembered), an exact
// and an approximate rate limit keyed by a different client on every request (each key a new
// object, a new remembered denial or lease), a cached route at a different URL every time
// (every entry new), a 3-backend aggregation, and the firewall. What is remembered per
// isolate is bounded, so after the first rounds neither figure should grow.
//
//   node bench/memory.mjs [--requests N] [--seconds N] [--json FILE]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ISSUER, authSection, mint, signersFor } from "./tokens.mjs";
import { jsonOut, option, seconds } from "./options.mjs";
import { ADMIN_TOKEN } from "../tests/e2e/harness.mjs";
import { freePort, inspect, startBenchGateway, startNginx, wrk } from "./servers.mjs";

const target = Number(option("--requests", 100_000));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-memory-"));


/** A wrk script: `GET` of `prefix` plus a different number every time, with `headers`. */
function script(name, lines) {
  const file = path.join(tmp, `${name}.lua`);
  fs.writeFileSync(file, lines);
  return file;
}

const signers = await signersFor(["HS256"]);
const tokens = await Promise.all(Array.from({ length: 20_000 }, (_, i) => mint(signers, "HS256", `memory-${i}`)));
const tokenFile = path.join(tmp, "tokens");
fs.writeFileSync(tokenFile, tokens.join("\n"));

const nginx = await startNginx(tmp);
const inspectorPort = await freePort();
const gateway = await startBenchGateway({
  inspectorPort,
  document: {
    version: 1,
    services: { app: { upstreams: [nginx.origin] } },
    auth: authSection(signers),
    rate_limits: {
      exact: { rate: { limit: 1000000000, period_seconds: 1 }, key: ["header:x-client"] },
      approximate: { rate: { limit: 1000000000, period_seconds: 1 }, key: ["header:x-client"], mode: "approximate", lease: 100 },
    },
    routes: [
      { name: "plain", methods: ["GET"], path: "/users/{id}", service: "app" },
      { name: "jwt", methods: ["GET"], path: "/jwt/{id}", service: "app", upstream_path: "/users/{id}", auth: { mode: "required" } },
      { name: "exact", methods: ["GET"], path: "/exact/{id}", service: "app", upstream_path: "/users/{id}", rate_limits: ["exact"] },
      { name: "approximate", methods: ["GET"], path: "/approximate/{id}", service: "app", upstream_path: "/users/{id}", rate_limits: ["approximate"] },
      { name: "cached", methods: ["GET"], path: "/cached/{id}", service: "app", upstream_path: "/users/{id}", cache: { mode: "override", ttl_seconds: 3600 } },
      { name: "guarded", methods: ["GET"], path: "/guarded/{id}", service: "app", upstream_path: "/users/{id}", firewall: {} },
      { name: "fanout", path: "/fanout/{id}", aggregate: { compose: "nest", backends: [
        { name: "a", service: "app", path: "/users/{id}" },
        { name: "b", service: "app", path: "/users/{id}?b" },
        { name: "c", service: "app", path: "/users/{id}?c" },
      ] } },
    ],
  },
});

const gw = gateway.direct;
const loads = [
  ["plain", `${gw}/users/1`, []],
  ["JWT, a new token each time", `${gw}/jwt/1`, ["-s", script("jwt", `
local tokens = {}
for line in io.lines("${tokenFile}") do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/jwt/1", { ["Authorization"] = "Bearer " .. tokens[((i - 1) % #tokens) + 1] })
end`)]],
  ...["exact", "approximate"].map((name) => [`${name} limit, a new key each time`, `${gw}/${name}/1`, ["-s", script(name, `
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/${name}/1", { ["X-Client"] = "client-" .. i .. "-" .. math.random(1, 1000000000) })
end`)]]),
  ["cache, a new URL each time", `${gw}/cached/1`, ["-s", script("cached", `
request = function()
  return wrk.format("GET", "/cached/" .. math.random(1, 1000000000))
end`)]],
  ["firewall", `${gw}/guarded/1?q=blue+suede+shoes&page=2`, []],
  ["3-backend aggregation", `${gw}/fanout/1`, []],
];

const session = await inspect(inspectorPort, "edge-gateway");
async function sample(requests) {
  const health = await (await fetch(`${gw}/__gateway/health`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
  await session.send("HeapProfiler.collectGarbage");
  const heap = await session.send("Runtime.getHeapUsage");
  return { requests, wasm_bytes: health.isolate.wasm_memory_bytes, heap_used_bytes: heap.usedSize, heap_total_bytes: heap.totalSize };
}

const mb = (bytes) => (bytes / 1048576).toFixed(2);
const samples = [];
let served = 0;
try {
  samples.push(await sample(0));
  console.log("requests   Wasm memory MiB   JS heap used MiB (after GC)   JS heap total MiB");
  const line = (s) => console.log(`${String(s.requests).padStart(8)}   ${mb(s.wasm_bytes).padStart(15)}   ${mb(s.heap_used_bytes).padStart(27)}   ${mb(s.heap_total_bytes).padStart(17)}`);
  line(samples[0]);
  while (served < target) {
    for (const [, url, args] of loads) {
      served += (await wrk(url, { seconds, connections: 16, args })).requests;
    }
    samples.push(await sample(served));
    line(samples.at(-1));
  }
  // The first round fills what the isolate remembers; growth is judged from there on.
  const [settled, last] = [samples[1], samples.at(-1)];
  console.log(`from ${settled.requests} to ${last.requests} requests: Wasm memory ${mb(settled.wasm_bytes)} -> ${mb(last.wasm_bytes)} MiB, ` +
    `JS heap after GC ${mb(settled.heap_used_bytes)} -> ${mb(last.heap_used_bytes)} MiB`);
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ loads: loads.map(([name]) => name), seconds, samples }, null, 2));
} finally {
  session.close();
  await gateway.close();
  nginx.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}
