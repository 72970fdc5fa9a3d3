// Fan-out aggregation in the real runtime against real origin servers on loopback that can be
// made slow, failing or unreachable.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { startOrigin, startGateway, closedPort } from "./harness.mjs";

let orders, users, reviews, gateway, down;

const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
};

before(async () => {
  orders = await startOrigin("orders", async (req, body, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname.startsWith("/slow/")) await sleep(300);
    const id = url.pathname.split("/").pop();
    if (id === "missing") return json(res, 404, { error: "no such order" });
    json(res, 200, { id, user_id: `u-${id}`, total: 42, internal: "secret", view: url.searchParams.get("view") });
  });
  users = await startOrigin("users", async (req, body, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname.startsWith("/slow/")) await sleep(300);
    if (url.pathname.startsWith("/hang/")) return new Promise(() => {});
    if (url.pathname.startsWith("/drip/")) {
      // Headers at once, then half a body that never ends.
      res.writeHead(200, { "content-type": "application/json" });
      return res.write('{"user":');
    }
    if (url.pathname.startsWith("/broken/")) return json(res, 500, { error: "boom" });
    json(res, 200, { user: decodeURIComponent(url.pathname.split("/").pop()), tier: "gold" });
  });
  reviews = await startOrigin("reviews", async (req, body, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname.startsWith("/slow/")) await sleep(300);
    if (url.pathname.startsWith("/text/")) {
      res.writeHead(200, { "content-type": "text/plain" });
      return res.end("not json");
    }
    json(res, 200, [{ stars: 5 }, { stars: 3 }]);
  });
  down = `http://127.0.0.1:${await closedPort()}`;
  const route = (name, path, aggregate) => ({ name, path, aggregate });
  const b = (name, service, path, extra = {}) => ({ name, service, path, ...extra });
  gateway = await startGateway({
    document: {
      version: 1,
      services: {
        orders: { upstreams: [orders.url] },
        users: { upstreams: [users.url], timeout_ms: 2000 },
        reviews: { upstreams: [reviews.url] },
        down: { upstreams: [down] },
      },
      routes: [
        route("slow-three", "/slow/{id}", { compose: "nest", backends: [
          b("order", "orders", "/slow/{id}"), b("user", "users", "/slow/{id}"), b("reviews", "reviews", "/slow/{id}"),
        ] }),
        route("fast-one", "/fast/{id}", { backends: [b("order", "orders", "/orders/{id}")] }),
        route("view", "/view/{id}", { compose: "merge", report: true, backends: [
          b("order", "orders", "/orders/{id}?view={query.view}", { fields: { allow: ["id", "user_id", "total", "view"], rename: { id: "order_id" } } }),
          b("customer", "users", "/users/{order.user_id}", { fields: { deny: ["tier"] } }),
          b("reviews", "reviews", "/text/{id}", { required: false }),
        ] }),
        route("optional-down", "/optional-down/{id}", { compose: "nest", backends: [
          b("order", "orders", "/orders/{id}"), b("user", "down", "/users/{id}", { required: false }),
          b("broken", "users", "/broken/{id}", { required: false }),
        ] }),
        route("required-down", "/required-down/{id}", { backends: [b("order", "orders", "/orders/{id}"), b("user", "down", "/users/{id}")] }),
        route("required-error", "/required-error/{id}", { backends: [b("order", "orders", "/orders/{id}"), b("user", "users", "/broken/{id}")] }),
        route("required-slow", "/required-slow/{id}", { timeout_ms: 5000, backends: [
          b("order", "orders", "/orders/{id}"), b("user", "users", "/hang/{id}", { timeout_ms: 300 }),
        ] }),
        route("body-late", "/body-late/{id}", { timeout_ms: 5000, backends: [
          b("order", "orders", "/orders/{id}"), b("user", "users", "/drip/{id}", { timeout_ms: 300 }),
        ] }),
        route("route-deadline", "/route-deadline/{id}", { timeout_ms: 400, backends: [b("user", "users", "/hang/{id}")] }),
        route("dependent-fails", "/dependent-fails/{id}", { backends: [
          b("order", "orders", "/orders/{id}", { required: false }), b("customer", "users", "/users/{order.user_id}", { required: false }),
          b("reviews", "reviews", "/reviews/{id}"),
        ] }),
        route("single", "/single/{id}", { backends: [b("order", "orders", "/orders/{id}", { fields: { deny: ["internal"] } })] }),
        route("list", "/list/{id}", { compose: "array", backends: [b("a", "reviews", "/r/{id}"), b("b", "users", "/u/{id}")] }),
        route("wide", "/wide", { compose: "nest", backends: Array.from({ length: 9 }, (_, i) => b(`r${i}`, "reviews", `/slow/${i}`)) }),
      ],
    },
  });
});

after(async () => {
  await gateway?.close();
  for (const o of [orders, users, reviews]) await o?.close();
});

async function get(p, init) {
  const started = Date.now();
  const r = await gateway.fetch(p, init);
  const text = await r.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: r.status, headers: r.headers, body, ms: Date.now() - started };
}

test("three delayed backends compose in about the time of the slowest, not the sum", async () => {
  await get("/slow/1"); // warm the isolate
  const r = await get("/slow/2");
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.body).sort(), ["order", "reviews", "user"]);
  assert.equal(r.body.order.id, "2");
  assert.deepEqual(r.body.reviews, [{ stars: 5 }, { stars: 3 }]);
  assert.ok(r.ms < 700, `took ${r.ms} ms; each backend takes 300 ms, the sum is 900`);
  assert.ok(r.ms >= 290, `took ${r.ms} ms: faster than one backend?`);
});

test("a dependent call uses a field of another backend's response; fields are filtered and renamed", async () => {
  const r = await get("/view/7?view=full");
  assert.equal(r.status, 200);
  assert.deepEqual(
    { order_id: r.body.order_id, user_id: r.body.user_id, total: r.body.total, view: r.body.view, user: r.body.user },
    { order_id: "7", user_id: "u-7", total: 42, view: "full", user: "u-7" },
  );
  assert.equal(r.body.internal, undefined, "not in the allow list");
  assert.equal(r.body.tier, undefined, "denied");
  assert.equal(users.requests.findLast((q) => q.url.startsWith("/users/")).url, "/users/u-7");
  // The optional reviews backend answered text, not JSON: left out and reported.
  assert.equal(r.headers.get("x-gateway-incomplete"), "reviews");
  assert.equal(r.body._backends.reviews.ok, false);
  assert.match(r.body._backends.reviews.error, /not JSON/);
  assert.equal(r.body._backends.order.status, 200);
  assert.equal(typeof r.body._backends.customer.ms, "number");
});

test("failed optional backends leave the rest of the response intact", async () => {
  const r = await get("/optional-down/3");
  assert.equal(r.status, 200);
  assert.equal(r.body.order.id, "3");
  assert.equal(r.body.user, undefined);
  assert.equal(r.headers.get("x-gateway-incomplete"), "user, broken");
  const dependent = await get("/dependent-fails/missing");
  assert.equal(dependent.status, 200, "order (optional) 404s, so customer (optional) cannot run");
  assert.equal(dependent.headers.get("x-gateway-incomplete"), "order, customer");
  assert.deepEqual(dependent.body, { reviews: [{ stars: 5 }, { stars: 3 }] });
});

test("a failed required backend fails the request with a problem naming it", async () => {
  const refused = await get("/required-down/1");
  assert.equal(refused.status, 502);
  assert.equal(refused.headers.get("content-type"), "application/problem+json");
  assert.equal(refused.body.code, "backend-failed");
  assert.match(refused.body.detail, /'user'/);
  const error = await get("/required-error/1");
  assert.equal(error.status, 502);
  assert.match(error.body.detail, /'user'/);
  const log = gateway.accessLogs().findLast((l) => l.path === "/required-error/1");
  assert.match(log.error_cause, /answered 500/);
});

// The time limit makes a deadline that never fires a failure rather than a hang.
test("timeouts abort: a backend's own timeout and the route's deadline", { timeout: 20_000 }, async () => {
  const slow = await get("/required-slow/1");
  assert.equal(slow.status, 504);
  assert.equal(slow.body.code, "backend-timeout");
  assert.match(slow.body.detail, /'user' did not answer within 300 ms/);
  assert.ok(slow.ms < 1500, `took ${slow.ms} ms`);
  const deadline = await get("/route-deadline/1");
  assert.equal(deadline.status, 504);
  assert.match(deadline.body.detail, /within 400 ms/, "the route's deadline is shorter than the service's 2000 ms");
  assert.ok(deadline.ms < 1500, `took ${deadline.ms} ms`);
  // The headers came in time, the body never finished: the deadline covers the body too.
  const late = await get("/body-late/1");
  assert.equal(late.status, 504);
  assert.equal(late.body.code, "backend-timeout");
  assert.match(late.body.detail, /'user' did not answer within 300 ms/);
  assert.ok(late.ms < 1500, `took ${late.ms} ms: the route's own 5 s deadline did not decide it`);
});

test("a single backend's status is preserved; arrays collect bodies in order", async () => {
  const missing = await get("/single/missing");
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body, { order: { error: "no such order" } }, "composed as configured (nest)");
  const found = await get("/fast/5");
  assert.equal(found.status, 200);
  assert.equal(found.body.order.id, "5");
  const single = await get("/single/5");
  assert.equal(single.body.order.internal, undefined);
  const list = await get("/list/1");
  assert.deepEqual(list.body, [[{ stars: 5 }, { stars: 3 }], { user: "1", tier: "gold" }]);
  const head = await gateway.fetch("/fast/5", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
  assert.equal((await gateway.fetch("/fast/5", { method: "POST" })).status, 405);
});

test("at most six backend calls are open at a time", async () => {
  const before = reviews.requests.length;
  const r = await get("/wide");
  assert.equal(r.status, 200);
  assert.equal(Object.keys(r.body).length, 9);
  assert.equal(reviews.requests.length - before, 9);
  // Nine 300 ms calls, six at a time: two rounds.
  assert.ok(r.ms >= 590, `took ${r.ms} ms: more than six ran at once`);
  assert.ok(r.ms < 1400, `took ${r.ms} ms`);
});
