// The gateway's cost per request, side by side in one run on loopback: the gateway in workerd
// (workerd's own socket for the Worker, not a dev proxy), a minimal pass-through Worker built
// the same way (the floor for any gateway on Workers), and nginx as a reverse proxy (the
// traditional anchor), all in front of the same origin (nginx serving a fixed JSON body).
// Load comes from wrk, bounded in time.
//
//   node bench/perf.mjs [--seconds N] [--json FILE] [--alternate N [--jwt no] [--baseline DIR]]
//                       [--connections N] [--var NAME=VALUE]... [--build DIR] [--only REGEX]
//
// Peers in the same run: the JS pass-through Worker and the same routes written by hand with
// Hono (bench/peers), each measured by its own workerd's CPU per request.
//
// `--traced` exports the gateway's traces (every request sampled) to a collector on loopback
// that discards them, so that `--baseline build` measures tracing on against off.
// `--build DIR` measures another build than build/ as the gateway; `--baseline DIR` runs a second gateway from another build (a copy of build/ made before a
// change) in the same --alternate rounds; `--connections` sets wrk's (16).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import * as jose from "jose";
import { ISSUER, authSection, mint as mintToken, signersFor } from "./tokens.mjs";
import { alternate, jsonOut, option, seconds, vars } from "./options.mjs";
import { ROOT } from "../tests/e2e/harness.mjs";
import { startBenchGateway, startNginx, startPassthrough, startPeers, waitFor, workerdPids, wrk } from "./servers.mjs";

const CONNECTIONS = Number(option("--connections", 16));
// In --alternate mode, cold-token scenarios unless `--jwt no`.
const withJwt = option("--jwt", "yes") !== "no";
const baselineDir = option("--baseline");
const buildDir = option("--build");
const traced = process.argv.includes("--traced");
// `--only REGEX` (with --alternate): only the scenarios whose names match, besides the
// pass-through (the floor of every round) and the gateway's plain route.
const only = option("--only") ? new RegExp(option("--only")) : undefined;
const JWT_ALGS = ["HS256", "RS256", "ES256", "EdDSA"];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-perf-"));


/** CPU seconds (user + system) used so far by each workerd process, by pid. */
function workerdCpu() {
  const tick = 100; // USER_HZ on Linux
  const out = new Map();
  for (const pid of workerdPids()) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(pid, (Number(fields[11]) + Number(fields[12])) / tick);
    } catch {
      // the process ended
    }
  }
  return out;
}

/** Requests `url` until it is answered from the cache (the store runs after the first response). */
async function waitForCacheHit(url) {
  for (let i = 0; i < 50; i++) {
    const r = await fetch(url);
    await r.arrayBuffer();
    if (r.headers.get("x-cache") === "HIT") return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

/** One wrk run; returns requests per second and latency percentiles in ms. */
async function load(url, { headers = {}, script } = {}) {
  const args = ["--latency"];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  if (script) args.push("-s", script);
  const { stdout: out, requests } = await wrk(url, { seconds, connections: CONNECTIONS, args });
  const rps = Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? 0);
  const pct = (p) => {
    const m = out.match(new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)\\b`));
    if (!m) return NaN;
    return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
  };
  const errors = Number(out.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0);
  return { rps, p50_ms: pct(50), p99_ms: pct(99), requests, non_2xx: errors };
}

// Keys and tokens for the JWT scenarios.
const signers = await signersFor(JWT_ALGS);
const mint = (alg, jti) => mintToken(signers, alg, jti);

/** Enough distinct tokens for a run at `rps` requests per second (20% spare, at least 1,000). */
const tokensFor = (rps) => Math.max(1000, Math.ceil(rps * seconds * 1.2));

/** A wrk script sending `count` distinct tokens of `alg` in turn, so that each is verified. */
async function coldTokenScript(alg, count) {
  const tokens = await Promise.all(Array.from({ length: count }, (_, i) => mint(alg, `${alg}-${i}`)));
  const file = path.join(tmp, `${alg}.tokens`);
  fs.writeFileSync(file, tokens.join("\n"));
  const script = path.join(tmp, `${alg}.lua`);
  fs.writeFileSync(script, `
local tokens = {}
for line in io.lines("${file}") do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/jwt/1", { ["Authorization"] = "Bearer " .. tokens[((i - 1) % #tokens) + 1] })
end`);
  return script;
}

// The policy Worker of the `worker` policy row: it lets every request through.
const ALLOW_WORKER = {
  name: "allow-policy",
  modules: true,
  compatibilityDate: "2026-11-01",
  script: `export default { async fetch(request) { await request.text(); return Response.json({ action: "continue" }); } };`,
};
// A 4 KiB order and the schema the `validate` row checks it against.
const ORDER_SCHEMA = {
  type: "object", required: ["customer", "items"], additionalProperties: false,
  properties: {
    customer: { type: "string", format: "email" },
    items: { type: "array", minItems: 1, maxItems: 500, items: {
      type: "object", required: ["sku", "quantity", "price"], additionalProperties: false,
      properties: { sku: { type: "string", pattern: "^[A-Z]{3}-[0-9]{4}$" }, quantity: { type: "integer", minimum: 1 },
        price: { type: "number", minimum: 0 }, note: { type: "string", maxLength: 64 } } } },
  },
};
const ORDER = JSON.stringify({
  customer: "ada@example.com",
  items: Array.from({ length: 57 }, (_, i) => ({ sku: `ABC-${String(1000 + i)}`, quantity: 1 + (i % 5), price: 9.5 + i, note: "gift wrap, please" })),
});
// A JSON document of ordinary records just under 64 KiB for the firewall row: every string in
// it is read.
const record = (i) => ({
  id: i, name: `Customer ${i} O'Neil`, email: `c${i}@example.com`, city: "Dublin",
  note: "Please deliver after 5 pm; ring twice & wait.", tags: ["retail", "eu"],
});
let RECORDS = [];
while (JSON.stringify({ records: [...RECORDS, record(RECORDS.length)] }).length <= 65536) RECORDS.push(record(RECORDS.length));
RECORDS = JSON.stringify({ records: RECORDS });
const bigScript = path.join(tmp, "post-64k.lua");
fs.writeFileSync(bigScript, `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[${RECORDS}]]\n`);
const postScript = path.join(tmp, "post.lua");
const BROWSING = {
  "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
  cookie: "session=3b1f0c9e2a; theme=dark; consent=analytics%3Dno",
  referer: "https://shop.example/catalogue?page=1",
};
fs.writeFileSync(postScript, `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[${ORDER}]]\n`);

// An introspection endpoint that calls every token active: after the first request the
// gateway answers from its introspection cache, which is what the row measures.
const OPAQUE = "bench-opaque-access-token-0123456789abcdef";
let introspections = 0;
const introspection = http.createServer((req, res) => {
  introspections += 1;
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ active: true, sub: "bench", scope: "api", exp: Math.floor(Date.now() / 1000) + 3600 }));
  });
});
await new Promise((resolve) => introspection.listen(0, "127.0.0.1", resolve));

const nginx = await startNginx(tmp);
const passthrough = await startPassthrough(nginx.origin);
// The hand-written peers: the JS pass-through Worker and the same routes written with Hono.
const HONO_SECRET = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
const peers = await startPeers(nginx.origin, { secret: HONO_SECRET, issuer: ISSUER });
const honoToken = await new jose.SignJWT({ sub: "bench" }).setProtectedHeader({ alg: "HS256" }).setIssuer(ISSUER)
  .setAudience("api").setExpirationTime("1h").sign(new TextEncoder().encode(HONO_SECRET));
const gatewayOptions = {
  bindings: { ...vars, INTROSPECTION_SECRET: "bench" },
  workers: [ALLOW_WORKER],
  serviceBindings: { POLICY: "allow-policy" },
  document: {
    version: 1,
    services: { app: { upstreams: [nginx.origin] } },
    rate_limits: {
      generous: { rate: { limit: 1000000000, period_seconds: 1 }, key: ["ip"] },
      // The same limit spent from credit leased 100 requests at a time.
      "generous-approximate": { rate: { limit: 1000000000, period_seconds: 1 }, key: ["ip"], mode: "approximate", lease: 100 },
    },
    auth: {
      issuers: {
        ...authSection(signers).issuers,
        opaque: {
          issuer: "https://opaque.bench.test/", audiences: ["api"],
          introspection: { endpoint: `http://127.0.0.1:${introspection.address().port}/introspect`, client_id: "gateway", client_secret_var: "INTROSPECTION_SECRET", cache_seconds: 3600 },
        },
      },
    },
    routes: [
      { name: "plain", methods: ["GET"], path: "/users/{id}", service: "app" },
      { name: "jwt", methods: ["GET"], path: "/jwt/{id}", service: "app", auth: { mode: "required" } },
      { name: "limited", methods: ["GET"], path: "/limited/{id}", service: "app", rate_limits: ["generous"] },
      { name: "approximate", methods: ["GET"], path: "/approximate/{id}", service: "app", upstream_path: "/users/{id}", rate_limits: ["generous-approximate"] },
      { name: "cached", methods: ["GET"], path: "/cached/{id}", service: "app", upstream_path: "/users/{id}", cache: { mode: "override", ttl_seconds: 3600 } },
      // A `worker` policy that lets every request through (a JS Worker bound by a service
      // binding), and a 4 KiB JSON body sent as it is and checked by a `validate` policy.
      { name: "policy", methods: ["GET"], path: "/policy/{id}", service: "app", upstream_path: "/users/{id}", policies: [{ name: "allow", worker: { binding: "POLICY" } }] },
      { name: "opaque", methods: ["GET"], path: "/opaque/{id}", service: "app", upstream_path: "/users/{id}", auth: { mode: "required" } },
      { name: "posted", methods: ["POST"], path: "/posted/{id}", service: "app", upstream_path: "/users/{id}" },
      { name: "validated", methods: ["POST"], path: "/validated/{id}", service: "app", upstream_path: "/users/{id}", policies: [{ name: "shape", validate: { body: ORDER_SCHEMA } }] },
      // The firewall at its defaults in front of a GET with a query and a cookie, and of a
      // 64 KiB JSON body.
      { name: "guarded", methods: ["GET"], path: "/guarded/{id}", service: "app", upstream_path: "/users/{id}", firewall: {} },
      { name: "guarded-post", methods: ["POST"], path: "/guarded-post/{id}", service: "app", upstream_path: "/users/{id}", firewall: { body_bytes: 131072 } },
      { name: "fanout", path: "/fanout/{id}", aggregate: { compose: "nest", backends: [
        { name: "a", service: "app", path: "/users/{id}" },
        { name: "b", service: "app", path: "/users/{id}?b" },
        { name: "c", service: "app", path: "/users/{id}?c" },
      ] } },
    ],
  },
};
// A collector that takes every export and keeps nothing.
const collector = traced ? http.createServer((req, res) => { req.resume(); req.on("end", () => res.end()); }) : undefined;
if (collector) await new Promise((resolve) => collector.listen(0, "127.0.0.1", resolve));
const tracedOptions = collector
  ? { ...gatewayOptions, bindings: { ...vars, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.address().port}` } }
  : gatewayOptions;
const gateway = await startBenchGateway(buildDir ? { ...tracedOptions, buildDir: path.resolve(buildDir) } : tracedOptions);
// `--baseline DIR` (with --alternate): another build of the gateway, side by side.
const baseline = baselineDir ? await startBenchGateway({ ...gatewayOptions, buildDir: path.resolve(baselineDir) }) : undefined;

const results = {};
try {
  const gw = gateway.direct;
  await waitFor(`${passthrough.url}/users/1`);
  const run = async (name, url, options) => {
    results[name] = await load(url, options);
    const r = results[name];
    console.log(`${name.padEnd(28)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50_ms.toFixed(2)} ms  p99 ${r.p99_ms.toFixed(2)} ms${r.non_2xx ? `  (${r.non_2xx} non-2xx!)` : ""}`);
  };
  console.log(`wrk, ${CONNECTIONS} connections, ${seconds}s per scenario`);
  if (alternate) {
    // Throughput moves with whatever else the two cores are doing; the runtime's CPU time per
    // request (from /proc, the busiest workerd process during the run) moves far less. Every
    // round measures each scenario once, so a drift of the machine affects all of them alike;
    // each figure is also given as a multiple of the pass-through's CPU in the same round.
    const measured = async (url, options) => {
      const before = workerdCpu();
      const r = await load(url, options);
      const after = workerdCpu();
      const spent = Math.max(...[...after].map(([pid, t]) => t - (before.get(pid) ?? t)));
      return { ...r, cpu_us: (spent * 1e6) / r.requests };
    };
    // Each gateway scenario, and with --baseline the same scenario on the baseline build.
    const both = (name, target) => [
      [`gateway ${name}`, (rps) => target(gw, rps)],
      ...(baseline ? [[`baseline ${name}`, (rps) => target(baseline.direct, rps)]] : []),
    ];
    const scenarios = [
      ["pass-through", () => [`${passthrough.url}/users/1`]],
      ["pass-through, rebuilt", () => [`${passthrough.url}/rebuilt/users/1`]],
      ...both("plain", (base) => [`${base}/users/1`]),
      ...both("cache hit", async (base) => {
        if (!(await waitForCacheHit(`${base}/cached/1`))) console.log(`warning: ${base}/cached/1 never answered X-Cache: HIT`);
        return [`${base}/cached/1`];
      }),
      // The same entry asked for its first 16 bytes: a 206 cut from the stored body.
      ...both("cache hit, Range", (base) => [`${base}/cached/1`, { headers: { range: "bytes=0-15" } }]),
      ...both("rate-limited", (base) => [`${base}/limited/1`]),
      ...both("rate-limited, approximate", (base) => [`${base}/approximate/1`]),
      ...both("3-backend aggregation", (base) => [`${base}/fanout/1`]),
      ...both("worker policy", (base) => [`${base}/policy/1`]),
      ...both("JWT HS256 warm", async (base) => [`${base}/jwt/1`, { headers: { authorization: `Bearer ${await mint("HS256", "warm")}` } }]),
      ...both("opaque token, introspection cached", (base) => [`${base}/opaque/1`, { headers: { authorization: `Bearer ${OPAQUE}` } }]),
      ...both("POST 4 KiB JSON", (base) => [`${base}/posted/1`, { script: postScript }]),
      ...both("POST 4 KiB, validated", (base) => [`${base}/validated/1`, { script: postScript }]),
      ...both("GET with query and cookie", (base) => [`${base}/users/1?q=blue+suede+shoes&page=2&sort=-price`, { headers: BROWSING }]),
      ...both("firewall, GET with query and cookie", (base) => [`${base}/guarded/1?q=blue+suede+shoes&page=2&sort=-price`, { headers: BROWSING }]),
      ...both("POST 64 KiB JSON", (base) => [`${base}/posted/1`, { script: bigScript }]),
      ...both("firewall, POST 64 KiB JSON", (base) => [`${base}/guarded-post/1`, { script: bigScript }]),
      ["JS pass-through", () => [`${peers.passthrough}/users/1`]],
      ["Hono plain", () => [`${peers.hono}/users/1`]],
      ["Hono JWT HS256", () => [`${peers.hono}/jwt/1`, { headers: { authorization: `Bearer ${honoToken}` } }]],
      ["Hono rate-limited", () => [`${peers.hono}/limited/1`]],
      ["Hono cache hit", async () => {
        if (!(await waitForCacheHit(`${peers.hono}/cached/1`))) console.log("warning: Hono's /cached/1 never answered X-Cache: HIT");
        return [`${peers.hono}/cached/1`];
      }],
      ["Hono 3-backend aggregation", () => [`${peers.hono}/fanout/1`]],
      ...(withJwt ? JWT_ALGS : []).flatMap((alg) =>
        both(`JWT ${alg} cold`, async (base, rps) => [`${base}/jwt/1`, { script: await coldTokenScript(alg, tokensFor(rps)) }])),
    ];
    if (only) {
      const kept = scenarios.filter(([name]) => name === "pass-through" || name === "gateway plain" || only.test(name));
      scenarios.splice(0, scenarios.length, ...kept);
    }
    const rounds = Object.fromEntries(scenarios.map(([name]) => [name, { rps: [], cpu: [], relative: [] }]));
    for (let i = 1; i <= alternate; i++) {
      let floor;
      const line = [];
      for (const [name, target] of scenarios) {
        const r = await measured(...(await target(Math.max(1, ...rounds["gateway plain"].rps))));
        floor ??= r.cpu_us;
        rounds[name].rps.push(r.rps);
        rounds[name].cpu.push(r.cpu_us);
        rounds[name].relative.push(r.cpu_us / floor);
        line.push(`${name} ${r.cpu_us.toFixed(0)} µs${r.non_2xx ? ` (${r.non_2xx} non-2xx!)` : ""}`);
      }
      console.log(`round ${i}: ${line.join(", ")}`);
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(`medians over ${alternate} rounds (CPU per request; as a multiple of the pass-through's; throughput against the pass-through's):`);
    const floorRps = median(rounds["pass-through"].rps);
    for (const [name] of scenarios) {
      const r = rounds[name];
      console.log(`  ${name.padEnd(32)} ${median(r.cpu).toFixed(0).padStart(6)} µs  ${median(r.relative).toFixed(2)}x  ${(median(r.rps) / floorRps).toFixed(2)}x`);
    }
    console.log("gateway / Hono, CPU per request (median of the per-round ratios):");
    for (const [ours, theirs] of [["gateway plain", "Hono plain"], ["gateway JWT HS256 warm", "Hono JWT HS256"],
      ["gateway rate-limited", "Hono rate-limited"], ["gateway rate-limited, approximate", "Hono rate-limited"], ["gateway cache hit", "Hono cache hit"], ["gateway 3-backend aggregation", "Hono 3-backend aggregation"]]) {
      if (!rounds[ours] || !rounds[theirs]) continue;
      const pairs = rounds[ours].cpu.map((cpu, i) => cpu / rounds[theirs].cpu[i]);
      console.log(`  ${ours.replace(/^gateway /, "").padEnd(26)} ${median(pairs).toFixed(2)}  (lower in ${pairs.filter((x) => x < 1).length} of ${pairs.length} rounds)`);
    }
    if (baseline) {
      console.log("gateway / baseline, CPU per request (median of the per-round ratios):");
      for (const [name] of scenarios.filter(([n]) => n.startsWith("gateway "))) {
        const other = rounds[name.replace(/^gateway /, "baseline ")];
        const pairs = rounds[name].cpu.map((cpu, i) => cpu / other.cpu[i]);
        const lower = pairs.filter((x) => x < 1).length;
        console.log(`  ${name.replace(/^gateway /, "").padEnd(22)} ${median(pairs).toFixed(2)}  (lower in ${lower} of ${pairs.length} rounds)`);
      }
    }
  } else {
    await run("origin (nginx, direct)", `${nginx.origin}/users/1`);
    await run("nginx reverse proxy", `${nginx.proxy}/users/1`);
    await run("pass-through Worker", `${passthrough.url}/users/1`);
    // The same, also copying every header through Wasm both ways and building a new response:
    // the least a gateway that may rewrite headers does (bench/passthrough/src/lib.rs).
    await run("pass-through, rebuilt", `${passthrough.url}/rebuilt/users/1`);
    await run("JS pass-through Worker", `${peers.passthrough}/users/1`);
    await run("Hono: plain", `${peers.hono}/users/1`);
    await run("Hono: JWT HS256", `${peers.hono}/jwt/1`, { headers: { authorization: `Bearer ${honoToken}` } });
    await run("Hono: rate-limited", `${peers.hono}/limited/1`);
    if (!(await waitForCacheHit(`${peers.hono}/cached/1`))) console.log("warning: Hono's /cached/1 never answered X-Cache: HIT");
    await run("Hono: cache hit", `${peers.hono}/cached/1`);
    await run("Hono: 3-backend aggregation", `${peers.hono}/fanout/1`);
    await run("gateway: plain proxy", `${gw}/users/1`);
    await run("gateway: rate-limited", `${gw}/limited/1`);
    await run("gateway: rate-limited, approximate", `${gw}/approximate/1`);
    // The same origin response, answered from the edge cache once stored.
    const cached = await waitForCacheHit(`${gw}/cached/1`);
    if (!cached) console.log("warning: the cached route never answered X-Cache: HIT");
    await run("gateway: cache hit", `${gw}/cached/1`);
    await run("gateway: 3-backend aggregation", `${gw}/fanout/1`);
    await run("gateway: worker policy", `${gw}/policy/1`);
    await run("gateway: opaque token, introspection cached", `${gw}/opaque/1`, { headers: { authorization: `Bearer ${OPAQUE}` } });
    await run("gateway: POST 4 KiB JSON", `${gw}/posted/1`, { script: postScript });
    await run("gateway: POST 4 KiB, validated", `${gw}/validated/1`, { script: postScript });
    await run("gateway: firewall, GET with query", `${gw}/guarded/1?q=blue+suede+shoes&page=2&sort=-price`, { headers: BROWSING });
    await run("gateway: firewall, POST 64 KiB", `${gw}/guarded-post/1`, { script: bigScript });
    for (const alg of JWT_ALGS) {
      const warm = await mint(alg, "warm");
      await run(`gateway: JWT ${alg} warm`, `${gw}/jwt/1`, { headers: { authorization: `Bearer ${warm}` } });
      // Cold: a different token on every request, so every one is verified.
      const count = tokensFor(results["gateway: plain proxy"].rps);
      const script = await coldTokenScript(alg, count);
      await run(`gateway: JWT ${alg} cold`, `${gw}/jwt/1`, { script });
      results[`gateway: JWT ${alg} cold`].tokens = count;
    }
  }
} finally {
  await gateway.close();
  collector?.close();
  introspection.close();
  await baseline?.close();
  await passthrough.close();
  await peers.close();
  nginx.stop();
}
if (alternate) process.exit(0);

const floor = results["pass-through Worker"].rps;
for (const r of Object.values(results)) r.ratio_to_passthrough = r.rps / floor;

// Size and start-up: gzip size of the deployable Wasm, and V8's time to compile and
// instantiate it (median of 5), the work an isolate does before its first request.
async function startup(file) {
  const bytes = fs.readFileSync(file);
  const times = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const module = await WebAssembly.compile(bytes);
    times.push(performance.now() - t0);
    void module;
  }
  times.sort((a, b) => a - b);
  return { bytes: bytes.length, gzip_bytes: zlib.gzipSync(bytes, { level: 9 }).length, compile_ms: times[2] };
}
const size = {
  gateway: await startup(path.join(ROOT, "build/index_bg.wasm")),
  passthrough: await startup(path.join(ROOT, "bench/passthrough/build/index_bg.wasm")),
};
console.log("");
console.log("scenario                         req/s   p50 ms   p99 ms   vs pass-through");
for (const [name, r] of Object.entries(results)) {
  console.log(`${name.padEnd(30)} ${r.rps.toFixed(0).padStart(7)} ${r.p50_ms.toFixed(2).padStart(8)} ${r.p99_ms.toFixed(2).padStart(8)}   ${r.ratio_to_passthrough.toFixed(2)}x`);
}
for (const [name, s] of Object.entries(size)) {
  console.log(`${name} wasm: ${s.bytes} bytes, ${s.gzip_bytes} gzipped, compiles in ${s.compile_ms.toFixed(1)} ms`);
}
const nginxVersion = execFileSync("nginx", ["-v"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }) || "";
const report = {
  date: new Date().toISOString(),
  machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
  node: process.version,
  wrk: { connections: CONNECTIONS, threads: 1, seconds },
  nginx: nginxVersion.trim() || "nginx (version on stderr)",
  scenarios: results,
  size,
};
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(report, null, 2) + "\n");
fs.rmSync(tmp, { recursive: true, force: true });
