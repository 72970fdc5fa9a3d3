// Running the gateway beside an operator's tools, in workerd: bulkheads per service, the
// Prometheus endpoint read by prometheus_client's own parser, and the access log's fields,
// redaction and sampling.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { startOrigin, startGateway, documentFor, eventually, closedPort, ADMIN_TOKEN } from "./harness.mjs";

const run = promisify(execFile);
const SCRAPE = "scrape-token-0123456789";
const BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtdXNlciJ9.c2lnbmF0dXJlLXZhbHVl";
const COOKIE = "session=cookie-secret-value-42";
const API_KEY = "gwk_api-key-secret-value-42";
let slow, fast, gateway, dead;

function doc(accessLog) {
  return {
    ...documentFor(
      {
        slow: { upstreams: [slow.url], max_concurrent: 2, timeout_ms: 5000 },
        fast: fast.url,
        gone: { upstreams: [dead], circuit_breaker: { failure_threshold: 2, open_seconds: 30 } },
      },
      [
        { name: "slow", path: "/slow", service: "slow" },
        { name: "fast", path: "/fast", service: "fast" },
        { name: "missing", path: "/missing", service: "fast", upstream_path: "/404" },
        { name: "gone", path: "/gone", service: "gone" },
      ],
    ),
    ...(accessLog ? { access_log: accessLog } : {}),
  };
}

before(async () => {
  slow = await startOrigin("slow", async () => { await sleep(1000); });
  dead = `http://127.0.0.1:${await closedPort()}`;
  fast = await startOrigin("fast", async (req, _body, res) => {
    if (req.url === "/404") { res.writeHead(404); res.end(); }
  });
  gateway = await startGateway({
    document: doc({ headers: ["user-agent", "authorization", "cookie", "x-api-key", "x-forwarded-token"], omit: ["host", "span_id"] }),
    bindings: { METRICS_SCRAPE_TOKEN: SCRAPE },
  });
  await eventually(async () => (await gateway.fetch("/fast")).status === 200, 5000);
});

after(async () => {
  await gateway?.close();
  await slow?.close();
  await fast?.close();
});

test("a slow service fills its bulkhead and is refused with 503, while another service answers at full speed", async () => {
  const started = Date.now();
  const slowOnes = Promise.all(Array.from({ length: 5 }, () => gateway.fetch("/slow").then(async (r) => ({ status: r.status, retry: r.headers.get("retry-after"), body: await r.json(), ms: Date.now() - started }))));
  await sleep(150);
  const fastStarted = Date.now();
  const quick = await Promise.all(Array.from({ length: 5 }, () => gateway.fetch("/fast").then((r) => r.status)));
  const fastMs = Date.now() - fastStarted;
  const answers = await slowOnes;
  assert.deepEqual(quick, [200, 200, 200, 200, 200]);
  assert.ok(fastMs < 800, `the other service answered in ${fastMs} ms while the slow one took 1000 ms`);
  const ok = answers.filter((a) => a.status === 200);
  const refused = answers.filter((a) => a.status === 503);
  assert.equal(ok.length, 2, "two calls fit");
  assert.equal(refused.length, 3);
  for (const r of refused) {
    assert.equal(r.body.code, "service-saturated");
    assert.equal(r.retry, "1");
    assert.ok(r.ms < 800, `refused at once (${r.ms} ms), not queued`);
  }
  assert.equal((await gateway.fetch("/slow")).status, 200, "a place is free again once the calls end");
});

/** The Prometheus text, parsed by prometheus_client: samples as [name, labels, value]. */
async function scrape(token = SCRAPE) {
  const res = await gateway.fetch("/__gateway/metrics/prometheus", { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const script = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append([family.name, family.type, s.name, s.labels, s.value])
print(json.dumps(out))`;
  const child = run("python3", ["-c", script], { env: process.env });
  child.child.stdin.end(text);
  const { stdout } = await child;
  return JSON.parse(stdout);
}

test("the Prometheus endpoint's counters and histograms, read by prometheus_client", async () => {
  for (let i = 0; i < 7; i++) assert.equal((await gateway.fetch("/fast")).status, 200);
  for (let i = 0; i < 3; i++) assert.equal((await gateway.fetch("/missing")).status, 404);
  // Two failures open the circuit of the dead upstream; the third is refused by it.
  assert.deepEqual([await gateway.fetch("/gone"), await gateway.fetch("/gone"), await gateway.fetch("/gone")].map((r) => r.status), [502, 502, 503]);
  await gateway.fetch("/fast"); // an opening reaches the store with the next request's batch
  const value = (samples, name, labels) => samples.find((s) => s[2] === name && Object.entries(labels).every(([k, v]) => s[3][k] === v))?.[4];
  // Batches reach the store about a second after a request.
  const samples = await eventually(async () => {
    const s = await scrape();
    return value(s, "gateway_requests_total", { route: "missing", status: "4xx" }) === 3 && s;
  }, 5000);
  assert.ok(samples, "the 404s were counted");
  const fastOk = value(samples, "gateway_requests_total", { route: "fast", status: "2xx" });
  assert.ok(fastOk >= 12, `fast 2xx: ${fastOk}`);
  const families = new Map(samples.map((s) => [s[0], s[1]]));
  assert.equal(families.get("gateway_requests"), "counter");
  assert.equal(families.get("gateway_request_duration_seconds"), "histogram");
  const buckets = samples.filter((s) => s[2] === "gateway_request_duration_seconds_bucket" && s[3].route === "fast");
  const counts = buckets.map((s) => s[4]);
  assert.deepEqual(counts, [...counts].sort((a, b) => a - b), "buckets are cumulative");
  assert.equal(buckets.at(-1)[3].le, "+Inf");
  assert.equal(counts.at(-1), value(samples, "gateway_request_duration_seconds_count", { route: "fast" }));
  assert.equal(value(samples, "gateway_upstream_errors_total", { route: "slow" }), 3, "the saturated calls count as upstream errors");
  const later = await eventually(async () => {
    const s = await scrape();
    return value(s, "gateway_circuit_breaker_opens_total", { upstream: dead }) !== undefined && s;
  }, 5000);
  assert.equal(value(later, "gateway_circuit_breaker_opens_total", { upstream: dead }), 1, "the circuit opened once");
  assert.equal(value(later, "gateway_upstream_errors_total", { route: "gone" }), 3, "unreachable twice, then the open circuit");
  const version = (await (await gateway.fetch("/__gateway/config", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()).version;
  assert.ok(value(samples, "gateway_config_requests_total", { version, status: "2xx" }) >= 12);

  // The scrape token reads this endpoint and nothing else; operators with read scope may too.
  assert.equal((await gateway.fetch("/__gateway/config", { headers: { authorization: `Bearer ${SCRAPE}` } })).status, 401);
  assert.equal((await gateway.fetch("/__gateway/metrics/prometheus", { headers: { authorization: "Bearer nope" } })).status, 401);
  assert.ok((await scrape(ADMIN_TOKEN)).length > 0);
});

test("the access log logs the asked-for headers with every credential redacted, without the omitted fields", async () => {
  const res = await gateway.fetch("/fast?token=query-secret", {
    headers: { "user-agent": "probe/1.0", authorization: `Bearer ${BEARER}`, cookie: COOKIE, "x-api-key": API_KEY, "x-forwarded-token": BEARER },
  });
  assert.equal(res.status, 200);
  const id = res.headers.get("x-request-id");
  const line = await eventually(() => gateway.accessLogs().find((l) => l.request_id === id), 2000);
  assert.ok(line, "logged");
  assert.equal(line.headers["user-agent"], "probe/1.0");
  for (const name of ["authorization", "cookie", "x-api-key", "x-forwarded-token"]) assert.equal(line.headers[name], "[redacted]", name);
  assert.equal(line.host, undefined, "omitted");
  assert.equal(line.span_id, undefined, "omitted");
  assert.equal(line.route, "fast");
  const everything = gateway.logs.map((l) => l.message).join("\n");
  for (const secret of [BEARER, "cookie-secret-value-42", "api-key-secret-value-42", "query-secret"]) {
    assert.ok(!everything.includes(secret), `${secret} appears in no log line`);
  }
});

test("sampled successes: a share of them is logged, every error is", async () => {
  await gateway.push(doc({ sample_successes_percent: 0 }));
  await gateway.waitForRefresh();
  await gateway.fetch("/fast");
  const before = gateway.accessLogs().length;
  const ids = [];
  for (let i = 0; i < 10; i++) ids.push((await gateway.fetch("/fast")).headers.get("x-request-id"));
  for (let i = 0; i < 3; i++) ids.push((await gateway.fetch("/missing")).headers.get("x-request-id"));
  await sleep(300);
  const logged = gateway.accessLogs().slice(before);
  assert.equal(logged.filter((l) => l.status === 200).length, 0, "no success at 0%");
  assert.equal(logged.filter((l) => l.status === 404).length, 3, "every error");

  await gateway.push(doc({ sample_successes_percent: 50 }));
  await gateway.waitForRefresh();
  await gateway.fetch("/fast");
  const mark = gateway.accessLogs().length;
  for (let i = 0; i < 200; i++) await gateway.fetch("/fast");
  await sleep(300);
  const sampled = gateway.accessLogs().slice(mark).filter((l) => l.status === 200);
  assert.ok(sampled.length > 60 && sampled.length < 140, `about half of 200 logged: ${sampled.length}`);
  assert.ok(sampled.every((l) => l.sampled === 50), "each sampled line says its rate");
});
