// Retries, circuit breaking, fallbacks, weighted and sticky balancing and version routing, in
// the real runtime against origins on loopback that fail, reset connections or go away.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { startOrigin, startGateway, closedPort } from "./harness.mjs";

let flaky, blue, green, v2, gateway, down;
// path → remaining failures; each origin request for the path consumes one.
const failures = new Map();
let breakerHealthy = false;

const hits = (origin, prefix) => origin.requests.filter((r) => r.url.startsWith(prefix)).length;

function document() {
  return {
    version: 1,
    services: {
      flaky: { upstreams: [flaky.url], retry: { attempts: 2, backoff_ms: 20, budget_percent: 100 } },
      tight: { upstreams: [flaky.url], retry: { attempts: 1, backoff_ms: 0, budget_percent: 0 } },
      patient: { upstreams: [flaky.url], retry: { attempts: 5, backoff_ms: 0, budget_percent: 100 } },
      fragile: { upstreams: [flaky.url], circuit_breaker: { failure_threshold: 3, open_seconds: 1 } },
      gone: { upstreams: [down] },
      split: { upstreams: [{ url: blue.url, weight: 80 }, { url: green.url, weight: 20 }] },
      sticky: { upstreams: [blue.url, green.url], sticky: { header: "x-session" } },
      v1: { upstreams: [blue.url] },
      v2: { upstreams: [v2.url] },
    },
    routes: [
      { name: "retry", path: "/retry/{*rest}", service: "flaky" },
      { name: "budget", path: "/budget/{*rest}", service: "tight" },
      { name: "deadline", path: "/deadline/{*rest}", service: "patient", timeout_ms: 300 },
      { name: "breaker", path: "/breaker/{*rest}", service: "fragile" },
      { name: "breaker-fallback", path: "/guarded/{*rest}", service: "fragile", fallback: { status: 200, headers: { "cache-control": "no-store" }, body: { items: [], degraded: true } } },
      { name: "gone", path: "/gone", service: "gone", fallback: { status: 503, body: { message: "try later" } } },
      { name: "split", path: "/split", service: "split" },
      { name: "sticky", path: "/sticky", service: "sticky" },
      { name: "versions", path: "/versioned", service: "v1", versions: { header: "x-api-version", services: { 2: "v2" } } },
      { name: "view", path: "/view/{id}", aggregate: { backends: [
        { name: "a", service: "v1", path: "/a/{id}" },
        { name: "b", service: "gone", path: "/b/{id}", fallback: { body: { placeholder: true } } },
      ] } },
    ],
  };
}

before(async () => {
  flaky = await startOrigin("flaky", async (req, body, res) => {
    const p = req.url;
    if (p.startsWith("/breaker/") || p.startsWith("/guarded/")) {
      if (!breakerHealthy) {
        res.writeHead(500, { "content-type": "application/json" });
        return res.end('{"error":"down"}');
      }
      return;
    }
    const left = failures.get(p) ?? 0;
    if (left > 0 && p.startsWith("/deadline/")) await sleep(120);
    if (left > 0) {
      failures.set(p, left - 1);
      if (p.includes("reset")) return req.socket.destroy();
      res.writeHead(503, { "content-type": "application/json" });
      return res.end('{"error":"busy"}');
    }
  });
  blue = await startOrigin("blue");
  green = await startOrigin("green");
  v2 = await startOrigin("v2");
  down = `http://127.0.0.1:${await closedPort()}`;
  gateway = await startGateway({ document: document() });
});

after(async () => {
  await gateway?.close();
  for (const o of [flaky, blue, green, v2]) await o?.close();
});

test("idempotent requests are retried on configured statuses and connection resets", async () => {
  failures.set("/retry/a", 2);
  const r = await gateway.fetch("/retry/a");
  assert.equal(r.status, 200);
  await r.text();
  assert.equal(hits(flaky, "/retry/a"), 3, "two failures, then success");
  failures.set("/retry/reset", 1);
  const reset = await gateway.fetch("/retry/reset");
  assert.equal(reset.status, 200, "a reset connection is retried");
  await reset.text();
  failures.set("/retry/b", 5);
  const exhausted = await gateway.fetch("/retry/b");
  assert.equal(exhausted.status, 503, "after the attempts, the origin's answer is relayed");
  await exhausted.text();
  assert.equal(hits(flaky, "/retry/b"), 3);
});

test("non-idempotent requests and requests with bodies are not retried", async () => {
  failures.set("/retry/post", 2);
  const post = await gateway.fetch("/retry/post", { method: "POST", body: "{}" });
  assert.equal(post.status, 503);
  await post.text();
  assert.equal(hits(flaky, "/retry/post"), 1);
  failures.set("/retry/put", 2);
  const put = await gateway.fetch("/retry/put", { method: "PUT", body: "{}" });
  assert.equal(put.status, 503, "PUT is idempotent, but its body streamed through once");
  await put.text();
  assert.equal(hits(flaky, "/retry/put"), 1);
});

test("retries stop at the service's retry budget", async () => {
  for (let i = 0; i < 6; i++) {
    failures.set(`/budget/${i}`, 5);
    const r = await gateway.fetch(`/budget/${i}`);
    assert.equal(r.status, 503);
    await r.text();
  }
  const total = [0, 1, 2, 3, 4, 5].reduce((sum, i) => sum + hits(flaky, `/budget/${i}`), 0);
  assert.equal(total, 6 + 3, "a 0% budget still allows three retries per window, no more");
});

test("retries stop at the route's deadline", async () => {
  // Each failure takes 120 ms: attempts at 0 and 120 ms fail, the one at 240 ms is cut off
  // by the 300 ms deadline although five retries are allowed.
  failures.set("/deadline/x", 10);
  const started = Date.now();
  const r = await gateway.fetch("/deadline/x");
  assert.equal(r.status, 504);
  assert.equal((await r.json()).code, "upstream-timeout");
  const took = Date.now() - started;
  assert.equal(hits(flaky, "/deadline/x"), 3);
  assert.ok(took < 700, `took ${took} ms against a 300 ms deadline`);
});

test("the circuit opens after consecutive failures, fails fast, half-opens and closes", async () => {
  breakerHealthy = false;
  for (let i = 0; i < 3; i++) {
    const r = await gateway.fetch(`/breaker/${i}`);
    assert.equal(r.status, 500);
    await r.text();
  }
  const before = hits(flaky, "/breaker/");
  const open = await gateway.fetch("/breaker/open");
  assert.equal(open.status, 503);
  assert.equal((await open.json()).code, "circuit-open");
  assert.equal(hits(flaky, "/breaker/"), before, "failing fast: the origin is not called");
  const guarded = await gateway.fetch("/guarded/1");
  assert.equal(guarded.status, 200, "the fallback answers while the circuit is open");
  assert.equal(guarded.headers.get("x-gateway-fallback"), "breaker-fallback");
  assert.deepEqual(await guarded.json(), { items: [], degraded: true });
  await sleep(1100);
  breakerHealthy = true;
  const probe = await gateway.fetch("/breaker/probe");
  assert.equal(probe.status, 200, "one probe after the pause; the upstream recovered");
  await probe.text();
  const closed = await gateway.fetch("/breaker/after");
  assert.equal(closed.status, 200);
  await closed.text();
  assert.equal(hits(flaky, "/breaker/") - before, 2);
});

test("fallbacks answer for an unreachable service and a failed backend, marked as such", async () => {
  const r = await gateway.fetch("/gone");
  assert.equal(r.status, 503);
  assert.equal(r.headers.get("x-gateway-fallback"), "gone");
  assert.deepEqual(await r.json(), { message: "try later" });
  const log = gateway.accessLogs().findLast((l) => l.path === "/gone");
  assert.equal(log.error_code, "upstream-unreachable", "the log keeps the real cause");
  const view = await gateway.fetch("/view/1");
  assert.equal(view.status, 200);
  assert.equal(view.headers.get("x-gateway-fallback"), "b");
  const body = await view.json();
  assert.deepEqual(body.b, { placeholder: true });
  assert.equal(body.a.origin, "blue");
});

test("weights split traffic; changing them in KV moves it (canary, then blue-green)", async () => {
  const count = async (n) => {
    const seen = { blue: 0, green: 0 };
    for (let i = 0; i < n; i++) {
      const r = await gateway.fetch("/split");
      seen[(await r.json()).origin]++;
    }
    return seen;
  };
  const canary = await count(400);
  assert.ok(canary.blue >= 290 && canary.blue <= 350, `80/20 split: ${JSON.stringify(canary)}`);
  const doc = document();
  doc.services.split.upstreams = [{ url: blue.url, weight: 0 }, { url: green.url, weight: 1 }];
  await gateway.push(doc);
  await gateway.waitForRefresh();
  const cutover = await count(50);
  assert.deepEqual(cutover, { blue: 0, green: 50 }, "weight 0 drains blue");
  await gateway.push(document());
  await gateway.waitForRefresh();
});

test("sticky sessions keep a client on one upstream", async () => {
  const origins = async (session) => {
    const seen = new Set();
    for (let i = 0; i < 15; i++) {
      const r = await gateway.fetch("/sticky", { headers: { "x-session": session } });
      seen.add((await r.json()).origin);
    }
    return seen;
  };
  const placed = new Set();
  for (const session of ["alice", "bob", "carol", "dave", "erin", "frank"]) {
    const seen = await origins(session);
    assert.equal(seen.size, 1, `${session} stayed on one upstream`);
    placed.add([...seen][0]);
  }
  assert.equal(placed.size, 2, "different sessions spread over both upstreams");
});

test("a version header routes to another service", async () => {
  const v2r = await gateway.fetch("/versioned", { headers: { "x-api-version": "2" } });
  assert.equal((await v2r.json()).origin, "v2");
  const v1r = await gateway.fetch("/versioned");
  assert.equal((await v1r.json()).origin, "blue");
  const unknown = await gateway.fetch("/versioned", { headers: { "x-api-version": "9" } });
  assert.equal((await unknown.json()).origin, "blue", "unknown versions use the route's service");
});
