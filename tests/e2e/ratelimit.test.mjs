// Exact global rate limiting through real Durable Objects in workerd.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startOrigin, startGateway, rawRequest, eventually, ADMIN_TOKEN } from "./harness.mjs";

let origin, gateway;

const policies = {
  "hourly-50": { rate: { limit: 50, period_seconds: 3600 }, key: ["route"] },
  "window-50": { quota: { limit: 50, window: 5 }, key: ["route"] },
  "per-client-3": { quota: { limit: 3, window: "hour" }, key: ["header:x-client"] },
  "five-a-minute": { quota: { limit: 5, window: "minute" }, key: ["route"] },
  "one-per-2s": { rate: { limit: 1, period_seconds: 2, burst: 1 }, key: ["ip"] },
  "admin-3": { quota: { limit: 3, window: "hour" }, key: ["route"] },
  "approx-40": { quota: { limit: 40, window: "hour" }, key: ["route"], mode: "approximate", lease: 10 },
  "approx-30": { quota: { limit: 30, window: "hour" }, key: ["route"], mode: "approximate", lease: 10 },
  "approx-rate": { rate: { limit: 50, period_seconds: 3600 }, key: ["route"], mode: "approximate" },
};

function document(url) {
  const routes = [
    ["exact-rate", ["hourly-50"]],
    ["exact-window", ["window-50"]],
    ["per-client", ["per-client-3"]],
    ["headers", ["five-a-minute"]],
    ["retry", ["one-per-2s"]],
    ["admin", ["admin-3"]],
    ["two-policies", ["five-a-minute", "per-client-3"]],
    ["approximate", ["approx-40"]],
    ["approximate-burst", ["approx-30"]],
    ["approximate-rate", ["approx-rate"]],
  ].map(([name, limits]) => ({ name, path: `/${name}`, service: "app", rate_limits: limits }));
  routes.push({ name: "unlimited", path: "/unlimited", service: "app" });
  return { version: 1, services: { app: { upstreams: [url] } }, rate_limits: policies, routes };
}

before(async () => {
  origin = await startOrigin("app");
  gateway = await startGateway({ document: document(origin.url) });
});

after(async () => {
  await gateway?.close();
  await origin?.close();
});

async function burst(p, n, headers = {}) {
  const responses = await Promise.all(
    Array.from({ length: n }, () => gateway.fetch(p, { headers }).then(async (r) => ({ status: r.status, headers: r.headers, body: await r.text() }))),
  );
  const count = (status) => responses.filter((r) => r.status === status).length;
  return { responses, ok: count(200), limited: count(429) };
}

test("200 concurrent requests against a rate of 50 admit exactly 50", async () => {
  const before = origin.requests.length;
  const { ok, limited, responses } = await burst("/exact-rate", 200);
  assert.equal(ok, 50);
  assert.equal(limited, 150);
  assert.equal(origin.requests.length - before, 50, "denied requests never reach the origin");
  const denied = responses.find((r) => r.status === 429);
  assert.equal(denied.headers.get("content-type"), "application/problem+json");
  assert.equal(JSON.parse(denied.body).code, "rate-limited");
  assert.ok(Number(denied.headers.get("retry-after")) >= 1);
});

test("a fixed window of 50 admits exactly 50 of 200, and 50 again after it rolls over", async () => {
  const windowMs = 5000;
  const untilNextWindow = () => windowMs - (Date.now() % windowMs);
  await sleep(untilNextWindow() + 50);
  const first = await burst("/exact-window", 200);
  assert.equal(first.ok, 50);
  assert.equal(first.limited, 150);
  await sleep(untilNextWindow() + 50);
  const second = await burst("/exact-window", 200);
  assert.equal(second.ok, 50);
  assert.equal(second.limited, 150);
});

test("different keys do not interfere", async () => {
  const a = await burst("/per-client", 6, { "x-client": "alpha" });
  const b = await burst("/per-client", 6, { "x-client": "beta" });
  assert.deepEqual([a.ok, a.limited], [3, 3]);
  assert.deepEqual([b.ok, b.limited], [3, 3]);
});

test("RateLimit and RateLimit-Policy headers count down; 429 carries Retry-After", async () => {
  const seen = [];
  for (let i = 0; i < 6; i++) {
    const res = await gateway.fetch("/headers");
    await res.text();
    seen.push([res.status, res.headers.get("ratelimit"), res.headers.get("ratelimit-policy"), res.headers.get("retry-after")]);
  }
  for (const [i, [status, limit, policy]] of seen.slice(0, 5).entries()) {
    assert.equal(status, 200);
    assert.equal(policy, '"five-a-minute";q=5;w=60');
    const [, remaining, reset] = limit.match(/^"five-a-minute";r=(\d+);t=(\d+)$/);
    assert.equal(Number(remaining), 4 - i);
    assert.ok(Number(reset) >= 1 && Number(reset) <= 60);
  }
  const [status, limit, , retryAfter] = seen[5];
  assert.equal(status, 429);
  assert.match(limit, /^"five-a-minute";r=0;t=\d+$/);
  const reset = Number(limit.match(/t=(\d+)/)[1]);
  assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60);
  assert.ok(Math.abs(Number(retryAfter) - reset) <= 1, "Retry-After matches the reset");
});

test("a request sent after Retry-After succeeds", async () => {
  const first = await gateway.fetch("/retry");
  assert.equal(first.status, 200);
  const denied = await gateway.fetch("/retry");
  assert.equal(denied.status, 429);
  const wait = Number(denied.headers.get("retry-after"));
  assert.ok(wait >= 1 && wait <= 2, `Retry-After ${wait}`);
  await sleep(wait * 1000 + 100);
  assert.equal((await gateway.fetch("/retry")).status, 200);
});

test("once denied, a key is denied from the isolate's memory without calling the object", async () => {
  await burst("/two-policies", 5, { "x-client": "memo" });
  // One at a time, so each request sees the denials remembered by the ones before it.
  for (let i = 0; i < 10; i++) {
    const res = await gateway.fetch("/two-policies", { headers: { "x-client": "memo", "x-request-id": `memo-${i}` } });
    assert.equal(res.status, 429);
  }
  const lines = await eventually(() => {
    const found = gateway.accessLogs().filter((l) => /^memo-\d$/.test(l.request_id));
    return found.length >= 10 ? found : undefined;
  });
  const calls = lines.map((l) => l.rate_limit_calls);
  // The first may still ask the object whose limit it exhausts; the rest ask no object.
  assert.ok(calls.slice(1).every((c) => c === 0), `object calls per denied request: ${calls}`);
});

test("admin: a key's state can be read and reset with the token, and not without it", async () => {
  await burst("/admin", 4);
  const url = `/__gateway/rate-limits/admin-3?key=${encodeURIComponent("route=admin")}`;
  assert.equal((await gateway.fetch(url)).status, 401);
  const wrong = await gateway.fetch(url, { headers: { authorization: "Bearer nope" } });
  assert.equal(wrong.status, 401);
  assert.match(wrong.headers.get("www-authenticate"), /^Bearer/);
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const state = await (await gateway.fetch(url, { headers: auth })).json();
  assert.equal(state.limit, 3);
  assert.equal(state.remaining, 0);
  assert.equal(state.state.used, 3);
  assert.equal((await gateway.fetch("/admin")).status, 429);
  const reset = await gateway.fetch(url, { method: "DELETE", headers: auth });
  assert.equal(reset.status, 200);
  assert.equal((await gateway.fetch("/admin")).status, 200, "the reset takes effect at once");
  const unknown = await gateway.fetch("/__gateway/rate-limits/nope?key=x", { headers: auth });
  assert.equal(unknown.status, 400);
});

test("an approximate quota admits exactly its limit from one isolate, calling the object a fraction of the time", async () => {
  const seen = [];
  for (let i = 0; i < 45; i++) {
    const res = await gateway.fetch("/approximate", { headers: { "x-request-id": `approx-${i}` } });
    await res.text();
    seen.push([res.status, res.headers.get("ratelimit")]);
  }
  assert.equal(seen.filter(([s]) => s === 200).length, 40);
  assert.ok(seen.slice(40).every(([s]) => s === 429), "the 41st and later are refused");
  // 30 at the object and 9 leased here after the first; the count goes down one by one.
  assert.deepEqual(seen.slice(0, 5).map(([, h]) => h), [39, 38, 37, 36, 35].map((r) => `"approx-40";r=${r};t=${h(seen[0][1])}`));
  const lines = await eventually(() => {
    const found = gateway.accessLogs().filter((l) => /^approx-\d+$/.test(l.request_id));
    return found.length >= 45 ? found : undefined;
  });
  const calls = lines.filter((l) => l.status === 200).reduce((sum, l) => sum + l.rate_limit_calls, 0);
  assert.ok(calls >= 4 && calls <= 15, `${calls} object calls for 40 admitted requests (an exact policy makes 40)`);
});

function h(header) {
  return header.match(/t=(\d+)$/)[1];
}

test("concurrent requests on an approximate quota never pass its limit", async () => {
  const { ok, limited } = await burst("/approximate-burst", 100);
  assert.equal(ok, 30);
  assert.equal(limited, 70);
});

test("an approximate rate admits its burst, and an admin reset drops the isolate's credit", async () => {
  const first = await burst("/approximate-rate", 80);
  assert.equal(first.ok, 50);
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const url = `/__gateway/rate-limits/approx-rate?key=${encodeURIComponent("route=approximate-rate")}`;
  assert.equal((await gateway.fetch(url, { method: "DELETE", headers: auth })).status, 200);
  const second = await burst("/approximate-rate", 80);
  assert.equal(second.ok, 50, "the whole burst again after the reset, and no more");
});

test("an unlimited route carries no rate-limit headers", async () => {
  const res = await gateway.fetch("/unlimited");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("ratelimit"), null);
});

test("quota usage survives a restart of the runtime with persisted state", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-quota-"));
  const doc = {
    version: 1,
    services: { app: { upstreams: [origin.url] } },
    rate_limits: { daily: { quota: { limit: 5, window: "day" }, key: ["route"] } },
    routes: [{ name: "q", path: "/q", service: "app", rate_limits: ["daily"] }],
  };
  try {
    const first = await startGateway({ document: doc, persistTo: dir });
    for (let i = 0; i < 3; i++) assert.equal((await first.fetch("/q")).status, 200);
    await first.close();
    const second = await startGateway({ persistTo: dir });
    try {
      const res = await second.fetch("/q");
      assert.equal(res.status, 200);
      assert.match(res.headers.get("ratelimit"), /r=1;/, "4 of 5 used across the restart");
      assert.equal((await second.fetch("/q")).status, 200);
      assert.equal((await second.fetch("/q")).status, 429);
    } finally {
      await second.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A gateway whose limiter is a stand-in object running `fetchBody`, with a fail-open and a
 * fail-closed policy (`/open`, `/closed`) given `policyExtra`. */
function gatewayWithStandIn(fetchBody, policyExtra = {}) {
  return startGateway({
    document: {
      version: 1,
      services: { app: { upstreams: [origin.url] } },
      rate_limits: {
        open: { quota: { limit: 1, window: "hour" }, on_error: "allow", ...policyExtra },
        closed: { quota: { limit: 1, window: "hour" }, on_error: "deny", ...policyExtra },
      },
      routes: [
        { name: "open", path: "/open", service: "app", rate_limits: ["open"] },
        { name: "closed", path: "/closed", service: "app", rate_limits: ["closed"] },
      ],
    },
    rateLimiter: {
      binding: { className: "StandIn", scriptName: "stand-in-limiter" },
      worker: {
        name: "stand-in-limiter",
        modules: true,
        script: `export class StandIn { async fetch() { ${fetchBody} } }
                 export default { fetch() { return new Response("unused"); } };`,
        durableObjects: { SELF: "StandIn" },
      },
    },
  });
}

test("when the limiter throws: fail-open policies admit, fail-closed policies answer 503", async () => {
  // The real object cannot be made to fail on demand, so this gateway is bound to a stand-in
  // object that always throws.
  const broken = await gatewayWithStandIn(`throw new Error("limiter exploded");`);
  try {
    const open = await rawRequest(broken.url, { path: "/open" });
    assert.equal(open.status, 200);
    assert.equal(open.headers.ratelimit, undefined);
    const closed = await rawRequest(broken.url, { path: "/closed" });
    assert.equal(closed.status, 503);
    assert.equal(closed.json.code, "rate-limit-unavailable");
    const logged = await eventually(() =>
      broken.logs.some((l) => /"event":"unavailable"/.test(l.message) && /"action":"allowed"/.test(l.message)),
    );
    assert.ok(logged, "fail-open is logged");
  } finally {
    await broken.close();
  }
});

test("an approximate policy whose limiter fails leases nothing: fail-open admits, fail-closed answers 503", async () => {
  const broken = await gatewayWithStandIn(`throw new Error("limiter exploded");`, { mode: "approximate", lease: 1 });
  try {
    for (let i = 0; i < 2; i++) {
      assert.equal((await rawRequest(broken.url, { path: "/open" })).status, 200);
      const closed = await rawRequest(broken.url, { path: "/closed" });
      assert.equal(closed.status, 503, "a failed lease leaves no credit behind");
      assert.equal(closed.json.code, "rate-limit-unavailable");
    }
  } finally {
    await broken.close();
  }
});

// The time limit makes a deadline that never fires a failure rather than a hang.
test("a limiter that does not answer within timeout_ms counts as failed, and the request goes on", { timeout: 15_000 }, async () => {
  const silent = await gatewayWithStandIn(`await new Promise(() => {});`, { timeout_ms: 300 });
  try {
    const started = Date.now();
    const open = await rawRequest(silent.url, { path: "/open" });
    const openMs = Date.now() - started;
    assert.equal(open.status, 200, "fail open: admitted");
    assert.ok(openMs >= 250, `waited for the deadline (${openMs} ms)`);
    const closed = await rawRequest(silent.url, { path: "/closed" });
    assert.equal(closed.status, 503);
    assert.equal(closed.json.code, "rate-limit-unavailable");
    assert.ok(Date.now() - started < 5000, "neither request hung on the silent object");
    const logged = await eventually(() =>
      silent.logs.some((l) => /"event":"unavailable"/.test(l.message) && /no answer within 300 ms/.test(l.message)),
    );
    assert.ok(logged, "the missed deadline is logged with its cause");
  } finally {
    await silent.close();
  }
});
