// The latency a proxied GET adds over calling the origin directly, measured side by side in
// one run, plus the gzip size of the deployable Wasm. Loopback only, bounded in time.
//
//   node bench/latency.mjs [--seconds N] [--json FILE]
//
// The gateway is reached at workerd's own socket for the Worker (not through Miniflare's
// entry proxy), so the figure is the gateway's cost, not the dev proxy's.
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { startOrigin, startGateway, documentFor, ROOT } from "../tests/e2e/harness.mjs";

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const seconds = Number(arg("--seconds", process.env.BENCH_SECONDS ?? 5));
const jsonOut = arg("--json");

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function get(url) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    http
      .get(url, { agent }, (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode !== 200) reject(new Error(`${url} answered ${res.statusCode}`));
          else resolve(Number(process.hrtime.bigint() - started) / 1e6);
        });
      })
      .on("error", reject);
  });
}

function summarise(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: sorted.reduce((a, b) => a + b, 0) / sorted.length };
}

const origin = await startOrigin("bench", (req, body, res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end('{"id":1,"name":"Ada Lovelace","email":"ada@example.com"}');
});
const gateway = await startGateway({
  document: documentFor({ app: origin.url }, [{ name: "user", methods: ["GET"], path: "/users/{id}", service: "app" }]),
  refreshSeconds: 60,
  directSocket: true,
});
try {
  const direct = `${await gateway.mf.unsafeGetDirectURL("edge-gateway")}`.replace(/\/$/, "");
  const viaGateway = `${direct}/users/1`;
  const toOrigin = `${origin.url}/users/1`;
  for (let i = 0; i < 200; i++) {
    await get(viaGateway);
    await get(toOrigin);
  }
  // Alternate the two so drift on the machine affects both equally.
  const gatewaySamples = [];
  const originSamples = [];
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    originSamples.push(await get(toOrigin));
    gatewaySamples.push(await get(viaGateway));
  }
  const o = summarise(originSamples);
  const g = summarise(gatewaySamples);
  const wasm = fs.readFileSync(path.join(ROOT, "build/index_bg.wasm"));
  const result = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    seconds,
    wasm_bytes: wasm.length,
    wasm_gzip_bytes: zlib.gzipSync(wasm, { level: 9 }).length,
    origin_direct_ms: o,
    through_gateway_ms: g,
    added_p50_ms: g.p50 - o.p50,
    added_p99_ms: g.p99 - o.p99,
  };
  const ms = (v) => v.toFixed(2).padStart(7);
  console.log(`sequential keep-alive GETs, ${o.n} each, alternating, ${seconds}s`);
  console.log(`                      p50 ms  p90 ms  p99 ms`);
  console.log(`origin directly     ${ms(o.p50)} ${ms(o.p90)} ${ms(o.p99)}`);
  console.log(`through the gateway ${ms(g.p50)} ${ms(g.p90)} ${ms(g.p99)}`);
  console.log(`added by gateway    ${ms(g.p50 - o.p50)}         ${ms(g.p99 - o.p99)}`);
  console.log(`wasm: ${result.wasm_bytes} bytes, ${result.wasm_gzip_bytes} gzipped`);
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(result, null, 2) + "\n");
} finally {
  agent.destroy();
  await gateway.close();
  await origin.close();
}
