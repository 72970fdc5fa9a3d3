// Side-by-side figures for the gateway, measured in one run on loopback, bounded in time:
//   - latency a proxied GET adds over calling the origin directly, what a rate limit adds, and
//     what a cache hit costs instead;
//   - throughput of the same route with and without a rate limit, and as a cache hit;
//   - latency of a 3-backend aggregation against its slowest backend proxied alone;
//   - Durable Object calls a denied burst costs with the isolate's memory of denials;
//   - gzip size of the deployable Wasm.
//
//   node bench/gateway.mjs [--seconds N] [--json FILE]
//
// The gateway is reached at workerd's own socket for the Worker (Miniflare's entry proxy is
// bypassed), so the figures are the gateway's cost, not the dev proxy's.
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { authSection, mint as mintToken, signersFor } from "./tokens.mjs";
import { jsonOut, seconds } from "./options.mjs";
import { startOrigin, startGateway, ROOT, eventually } from "../tests/e2e/harness.mjs";

const CONCURRENCY = 16;
const ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];
// Tokens per algorithm for the cold series (each used once, so each is verified).
const TOKENS_PER_ALG = Math.max(10, Math.min(150, seconds * 15));

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
function get(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    http
      .get(url, { agent, headers }, (res) => {
        res.resume();
        res.on("end", () => resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, status: res.statusCode }));
      })
      .on("error", reject);
  });
}

function summarise(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

/** Sequential requests, one to each URL in turn, so drift affects every series equally. */
async function latency(urls, duration) {
  const samples = urls.map(() => []);
  const until = Date.now() + duration;
  while (Date.now() < until) {
    for (const [i, url] of urls.entries()) {
      const { ms, status } = await get(url);
      if (status !== 200) throw new Error(`${url} answered ${status}`);
      samples[i].push(ms);
    }
  }
  return samples.map(summarise);
}

/** Closed loop with CONCURRENCY clients for `duration` ms; requests per second. */
async function throughput(url, duration) {
  let done = 0;
  const until = Date.now() + duration;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) {
        const { status } = await get(url);
        if (status !== 200) throw new Error(`${url} answered ${status}`);
        done++;
      }
    }),
  );
  return done / (duration / 1000);
}

const signers = await signersFor(ALGS);
const mint = (alg, jti) => mintToken(signers, alg, jti);

const origin = await startOrigin("bench", async (req, body, res) => {
  const delay = req.url.match(/^\/delay\/(\d+)/);
  if (delay) await new Promise((resolve) => setTimeout(resolve, Number(delay[1])));
  res.writeHead(200, { "content-type": "application/json" });
  res.end('{"id":1,"name":"Ada Lovelace","email":"ada@example.com"}');
});
const gateway = await startGateway({
  document: {
    version: 1,
    services: { app: { upstreams: [origin.url] } },
    rate_limits: {
      generous: { rate: { limit: 1000000000, period_seconds: 1 }, key: ["ip"] },
      closed: { quota: { limit: 1, window: "day" }, key: ["route"] },
    },
    auth: authSection(signers),
    routes: [
      { name: "plain", methods: ["GET"], path: "/plain/{id}", service: "app" },
      { name: "jwt", methods: ["GET"], path: "/jwt/{id}", service: "app", auth: { mode: "required" } },
      { name: "limited", methods: ["GET"], path: "/limited/{id}", service: "app", rate_limits: ["generous"] },
      { name: "denied", methods: ["GET"], path: "/denied", service: "app", rate_limits: ["closed"] },
      { name: "cached", methods: ["GET"], path: "/cached/{id}", service: "app", cache: { mode: "override", ttl_seconds: 3600 } },
      { name: "slowest", methods: ["GET"], path: "/slowest", service: "app", upstream_path: "/delay/20" },
      { name: "fanout", path: "/fanout", aggregate: { compose: "nest", backends: [
        { name: "a", service: "app", path: "/delay/5" },
        { name: "b", service: "app", path: "/delay/10" },
        { name: "c", service: "app", path: "/delay/20" },
      ] } },
    ],
  },
  refreshSeconds: 60,
  directSocket: true,
});
try {
  const base = `${await gateway.mf.unsafeGetDirectURL("edge-gateway")}`.replace(/\/$/, "");
  const urls = { origin: `${origin.url}/users/1`, plain: `${base}/plain/1`, limited: `${base}/limited/1`, cached: `${base}/cached/1` };
  await latency(Object.values(urls), 1000); // warm-up (and stores the cached route's entry)
  const cachedBefore = origin.requests.length;

  const [o, p, l, c] = await latency(Object.values(urls), seconds * 1000);
  const plainRps = await throughput(urls.plain, seconds * 1000);
  const limitedRps = await throughput(urls.limited, seconds * 1000);
  const cachedRps = await throughput(urls.cached, seconds * 1000);
  const cachedMisses = origin.requests.filter((r, i) => i >= cachedBefore && r.url.startsWith("/cached")).length;

  // Aggregation: three backends answering in 5, 10 and 20 ms, against the 20 ms one alone.
  const [slowest, fanout] = await latency([`${base}/slowest`, `${base}/fanout`], Math.min(seconds, 5) * 1000);

  // A denied burst: one admitted request, then 500 that the limit refuses.
  await get(`${base}/denied`);
  const burstSize = 500;
  await Promise.all(Array.from({ length: burstSize }, () => get(`${base}/denied`)));
  const denials = await eventually(() => {
    const lines = gateway.accessLogs().filter((l) => l.route === "denied" && l.status === 429);
    return lines.length >= burstSize ? lines : undefined;
  }, 10000);
  const objectCalls = (denials ?? []).reduce((sum, l) => sum + l.rate_limit_calls, 0);

  // JWT verification per algorithm: fresh tokens (signature checked every time) and one token
  // repeated (verify cache warm), each alternated with the plain route.
  const jwt = {};
  for (const alg of ALGS) {
    const cold = await Promise.all(Array.from({ length: TOKENS_PER_ALG }, (_, i) => mint(alg, `${alg}-${i}`)));
    const warm = await mint(alg, `${alg}-warm`);
    await get(`${base}/jwt/1`, { authorization: `Bearer ${warm}` });
    const series = { cold: [], warm: [], plain: [] };
    for (const token of cold) {
      for (const [name, url, headers] of [
        ["plain", urls.plain, {}],
        ["cold", `${base}/jwt/1`, { authorization: `Bearer ${token}` }],
        ["warm", `${base}/jwt/1`, { authorization: `Bearer ${warm}` }],
      ]) {
        const { ms, status } = await get(url, headers);
        if (status !== 200) throw new Error(`${alg} ${name} answered ${status}`);
        series[name].push(ms);
      }
    }
    const [c, w, p0] = [summarise(series.cold), summarise(series.warm), summarise(series.plain)];
    jwt[alg] = {
      cold_p50_ms: c.p50, warm_p50_ms: w.p50, plain_p50_ms: p0.p50,
      cold_ratio: p0.p50 / c.p50, warm_ratio: p0.p50 / w.p50, verify_ms: c.p50 - w.p50,
    };
  }

  const wasm = fs.readFileSync(path.join(ROOT, "build/index_bg.wasm"));
  const result = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    seconds,
    concurrency: CONCURRENCY,
    latency_ms: { origin_direct: o, gateway_plain: p, gateway_rate_limited: l, gateway_cache_hit: c },
    added_by_gateway_p50_ms: p.p50 - o.p50,
    added_by_rate_limit_p50_ms: l.p50 - p.p50,
    cache_hit_vs_plain_p50_ms: c.p50 - p.p50,
    throughput_rps: {
      gateway_plain: plainRps, gateway_rate_limited: limitedRps, ratio: limitedRps / plainRps,
      gateway_cache_hit: cachedRps, cache_hit_ratio: cachedRps / plainRps,
    },
    cache_hit_origin_requests: cachedMisses,
    aggregation_ms: { slowest_backend_alone: slowest, three_backends: fanout, added_p50: fanout.p50 - slowest.p50 },
    denied_burst: { requests: burstSize, denied_logged: denials?.length ?? 0, object_calls: objectCalls },
    jwt_per_algorithm: jwt,
    wasm_bytes: wasm.length,
    wasm_gzip_bytes: zlib.gzipSync(wasm, { level: 9 }).length,
  };
  const ms = (v) => v.toFixed(2).padStart(7);
  console.log(`sequential keep-alive GETs, alternating, ${seconds}s (${o.n} per series)`);
  console.log(`                         p50 ms  p90 ms  p99 ms`);
  console.log(`origin directly        ${ms(o.p50)} ${ms(o.p90)} ${ms(o.p99)}`);
  console.log(`gateway, plain route   ${ms(p.p50)} ${ms(p.p90)} ${ms(p.p99)}`);
  console.log(`gateway, rate-limited  ${ms(l.p50)} ${ms(l.p90)} ${ms(l.p99)}`);
  console.log(`gateway, cache hit     ${ms(c.p50)} ${ms(c.p90)} ${ms(c.p99)}`);
  console.log(`added by the gateway (p50): ${result.added_by_gateway_p50_ms.toFixed(2)} ms; by the rate limit: ${result.added_by_rate_limit_p50_ms.toFixed(2)} ms`);
  console.log(`throughput with ${CONCURRENCY} clients: plain ${plainRps.toFixed(0)} req/s, rate-limited ${limitedRps.toFixed(0)} req/s (${(limitedRps / plainRps).toFixed(2)}x)`);
  console.log(`cache hit: ${cachedRps.toFixed(0)} req/s (${(cachedRps / plainRps).toFixed(2)}x the plain route), ${(c.p50 - p.p50).toFixed(2)} ms p50 against it; ${cachedMisses} origin requests while measured`);
  console.log(`3-backend aggregation (5, 10, 20 ms): p50 ${fanout.p50.toFixed(2)} ms against ${slowest.p50.toFixed(2)} ms for the 20 ms backend alone (+${(fanout.p50 - slowest.p50).toFixed(2)} ms; the sum would be 35 ms)`);
  console.log(`denied burst: ${burstSize} requests refused with ${objectCalls} Durable Object calls`);
  console.log(`JWT, p50 ms (ratio = plain p50 / this p50; ${TOKENS_PER_ALG} requests per series):`);
  console.log(`  alg     cold    warm   plain  cold ratio  warm ratio  verify`);
  for (const [alg, r] of Object.entries(jwt)) {
    console.log(`  ${alg.padEnd(5)} ${ms(r.cold_p50_ms)} ${ms(r.warm_p50_ms)} ${ms(r.plain_p50_ms)}     ${r.cold_ratio.toFixed(2)}x       ${r.warm_ratio.toFixed(2)}x  ${ms(r.verify_ms)}`);
  }
  console.log(`wasm: ${result.wasm_bytes} bytes, ${result.wasm_gzip_bytes} gzipped`);
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(result, null, 2) + "\n");
} finally {
  agent.destroy();
  await gateway.close();
  await origin.close();
}
