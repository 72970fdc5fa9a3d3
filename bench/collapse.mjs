// Collapsed misses: how many origin calls a burst of concurrent requests for one cold key
// makes, and how long its requests take, on loopback. The origin (Node, on 127.0.0.1) answers
// after a fixed delay with a cacheable body and counts its calls per path.
//
//   node bench/collapse.mjs [--burst N] [--keys N] [--delay MS] [--baseline DIR] [--json FILE]
//
// Every key is fresh, so every burst is a cold miss. `--baseline DIR` runs the same bursts
// against another build of the gateway (a copy of build/ from before a change), alternating
// key by key.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { jsonOut, option } from "./options.mjs";
import { startGateway, startOrigin } from "../tests/e2e/harness.mjs";

const BURST = Number(option("--burst", 50));
const KEYS = Number(option("--keys", 5));
const DELAY_MS = Number(option("--delay", 200));
const baselineDir = option("--baseline");

const calls = new Map();
const origin = await startOrigin("collapse", async (req, _body, res) => {
  calls.set(req.url, (calls.get(req.url) ?? 0) + 1);
  await new Promise((resolve) => setTimeout(resolve, DELAY_MS));
  res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=600" });
  res.end(JSON.stringify({ path: req.url }));
});
const options = {
  refreshSeconds: 300,
  directSocket: true,
  captureLogs: false,
  document: {
    version: 1,
    services: { app: { upstreams: [origin.url] } },
    routes: [{ name: "cold", methods: ["GET"], path: "/cold/{id}", service: "app", cache: { mode: "origin" } }],
  },
};
const direct = async (gateway) => `${await gateway.mf.unsafeGetDirectURL("edge-gateway")}`.replace(/\/$/, "");
const gateways = [["gateway", await startGateway(options)]];
if (baselineDir) gateways.push(["baseline", await startGateway({ ...options, buildDir: path.resolve(baselineDir) })]);

const agent = new http.Agent({ keepAlive: true, maxSockets: BURST });
function get(url) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    http
      .get(url, { agent }, (res) => {
        res.resume();
        res.on("end", () => resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, status: res.statusCode, cache: res.headers["x-cache"] }));
      })
      .on("error", reject);
  });
}

const results = {};
try {
  const bases = await Promise.all(gateways.map(([, g]) => direct(g)));
  // Warm each isolate (compile, first document read) on a key of its own.
  for (const base of bases) await get(`${base}/cold/warm-${Math.random()}`);
  for (const [name] of gateways) results[name] = { origin_calls: [], p50_ms: [], max_ms: [] };
  for (let k = 0; k < KEYS; k++) {
    for (const [i, [name]] of gateways.entries()) {
      const key = `/cold/${name}-${k}-${Date.now()}`;
      const answers = await Promise.all(Array.from({ length: BURST }, () => get(`${bases[i]}${key}`)));
      if (answers.some((a) => a.status !== 200)) throw new Error(`${name}: a request of the burst failed`);
      const ms = answers.map((a) => a.ms).sort((a, b) => a - b);
      results[name].origin_calls.push(calls.get(key) ?? 0);
      results[name].p50_ms.push(ms[Math.floor(ms.length / 2)]);
      results[name].max_ms.push(ms[ms.length - 1]);
    }
  }
  console.log(`${BURST} concurrent requests for a cold key, origin answering in ${DELAY_MS} ms, ${KEYS} keys each:`);
  for (const [name, r] of Object.entries(results)) {
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    r.mean_origin_calls = mean(r.origin_calls);
    console.log(`  ${name.padEnd(9)} origin calls per burst ${r.origin_calls.join(", ")} (mean ${r.mean_origin_calls.toFixed(1)}); burst p50 ${mean(r.p50_ms).toFixed(0)} ms, slowest ${mean(r.max_ms).toFixed(0)} ms`);
  }
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ burst: BURST, keys: KEYS, delay_ms: DELAY_MS, results }, null, 2));
} finally {
  agent.destroy();
  for (const [, g] of gateways) await g.close();
  await origin.close();
}
