// Routing and proxying through the real runtime: matching, precedence, rewrites, headers,
// request ids, trace context and streaming.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startOrigin, startGateway, documentFor, rawRequest, eventually } from "./harness.mjs";

let users, orders, gateway;
let releaseStream;

before(async () => {
  users = await startOrigin("users", async (req, body, res) => {
    if (req.url === "/stream") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first chunk\n");
      await new Promise((resolve) => (releaseStream = resolve));
      res.end("last chunk\n");
    } else if (req.url === "/upload") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ bytes: Buffer.byteLength(body), sha256: createHash("sha256").update(body).digest("hex") }));
    } else if (req.url === "/no-content") {
      res.writeHead(204, { "x-powered-by": "origin" });
      res.end();
    } else if (req.url === "/redirect") {
      res.writeHead(302, { location: "/elsewhere" });
      res.end();
    } else if (req.url.startsWith("/headers")) {
      res.writeHead(201, { "content-type": "application/json", "x-powered-by": "origin", "x-internal": "secret" });
      res.end("{}");
    }
  });
  orders = await startOrigin("orders");
  gateway = await startGateway({
    document: documentFor(
      { users: users.url, orders: `${orders.url}/base` },
      [
        { name: "me", methods: ["GET"], path: "/users/me", service: "users", upstream_path: "/whoami" },
        { name: "user", methods: ["GET"], path: "/users/{id}", service: "users", upstream_path: "/v2/people/{id}" },
        { name: "user-write", methods: ["PUT", "DELETE"], path: "/users/{id}", service: "users" },
        { name: "orders", path: "/api/orders/{*rest}", service: "orders", strip_prefix: "/api" },
        { name: "orders-admin", host: "admin.example.com", path: "/api/orders/{*rest}", service: "users" },
        { name: "stream", methods: ["GET"], path: "/stream", service: "users" },
        { name: "upload", methods: ["POST"], path: "/upload", service: "users" },
        { name: "no-content", path: "/no-content", service: "users",
          response_headers: { remove: ["x-powered-by"] } },
        { name: "redirect", path: "/redirect", service: "users" },
        {
          name: "headers", path: "/headers", service: "users",
          request_headers: { set: { "x-api-version": "2" }, remove: ["cookie"] },
          response_headers: { set: { "x-served-by": "edge-gateway" }, remove: ["x-powered-by", "x-internal"] },
        },
      ],
    ),
  });
});

after(async () => {
  releaseStream?.();
  await gateway?.close();
  await users?.close();
  await orders?.close();
});

test("a path parameter is substituted into the upstream path template", async () => {
  const res = await gateway.fetch("/users/42?fields=name&x=%20y");
  assert.equal(res.status, 200);
  const seen = await res.json();
  assert.equal(seen.url, "/v2/people/42?fields=name&x=%20y", "query string passes through unchanged");
});

test("static segments take precedence over parameters", async () => {
  const seen = await (await gateway.fetch("/users/me")).json();
  assert.equal(seen.url, "/whoami");
});

test("the method selects between routes on the same path", async () => {
  const res = await gateway.fetch("/users/7", { method: "PUT", body: "x" });
  const seen = await res.json();
  assert.equal(seen.method, "PUT");
  assert.equal(seen.url, "/users/7", "no template on this route: path unchanged");
  assert.equal(seen.body, "x");
});

test("a catch-all route strips its prefix and keeps the service base path", async () => {
  const seen = await (await gateway.fetch("/api/orders/17/items?page=2")).json();
  assert.equal(seen.origin, "orders");
  assert.equal(seen.url, "/base/orders/17/items?page=2");
});

test("a route for a specific host wins over one for any host", async () => {
  const res = await rawRequest(gateway.url, { path: "/api/orders/1", headers: { host: "admin.example.com" } });
  assert.equal(res.status, 200);
  assert.equal(res.json.origin, "users");
  assert.equal(res.json.url, "/api/orders/1");
  const other = await rawRequest(gateway.url, { path: "/api/orders/1", headers: { host: "shop.example.com" } });
  assert.equal(other.json.origin, "orders");
});

test("HEAD is accepted wherever GET is", async () => {
  const res = await gateway.fetch("/users/42", { method: "HEAD" });
  assert.equal(res.status, 200);
  assert.equal(users.requests.at(-1).method, "HEAD");
});

test("request headers: route rules, hop-by-hop removal and forwarding headers", async () => {
  const res = await rawRequest(gateway.url, {
    path: "/headers",
    headers: {
      host: "api.example.com:8443",
      cookie: "session=abc",
      connection: "keep-alive, x-hop",
      "x-hop": "must not pass",
      "keep-alive": "timeout=5",
      "x-api-version": "1",
      "x-forwarded-host": "forged.example",
      "x-forwarded-for": "198.51.100.1",
      "cf-connecting-ip": "203.0.113.5",
    },
  });
  assert.equal(res.status, 201, "the origin's status is preserved");
  const seen = users.requests.at(-1).headers;
  assert.equal(seen.cookie, undefined, "removed by the route");
  assert.equal(seen["x-api-version"], "2", "set by the route, replacing the client's");
  assert.equal(seen["x-hop"], undefined, "named in Connection, so hop-by-hop");
  assert.equal(seen["keep-alive"], undefined);
  assert.equal(seen["x-forwarded-host"], "api.example.com:8443");
  assert.equal(seen["x-forwarded-proto"], "http");
  assert.match(seen["x-forwarded-for"], /^198\.51\.100\.1, /, "the client's chain is kept and extended");
});

test("response headers: route rules remove and set", async () => {
  const res = await gateway.fetch("/headers");
  assert.equal(res.headers.get("x-served-by"), "edge-gateway");
  assert.equal(res.headers.get("x-powered-by"), null);
  assert.equal(res.headers.get("x-internal"), null);
  const empty = await gateway.fetch("/no-content");
  assert.equal(empty.status, 204);
  assert.equal(empty.headers.get("x-powered-by"), null);
});

test("redirects from the origin are returned, not followed", async () => {
  const res = await gateway.fetch("/redirect");
  assert.equal(res.status, 302);
  assert.equal(res.headers.get("location"), "/elsewhere");
});

test("a valid X-Request-Id is kept; the same id reaches the origin and the client", async () => {
  const res = await gateway.fetch("/users/1", { headers: { "x-request-id": "client-id-123" } });
  assert.equal(res.headers.get("x-request-id"), "client-id-123");
  assert.equal(users.requests.at(-1).headers["x-request-id"], "client-id-123");
});

test("a missing or unsafe X-Request-Id is replaced by a generated one", async () => {
  const res = await gateway.fetch("/users/1", { headers: { "x-request-id": "bad id <script>" } });
  const id = res.headers.get("x-request-id");
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(users.requests.at(-1).headers["x-request-id"], id);
  const other = await gateway.fetch("/users/1");
  assert.notEqual(other.headers.get("x-request-id"), id, "ids are unique per request");
});

test("traceparent: the client's trace continues with the gateway as parent", async () => {
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  await gateway.fetch("/users/1", {
    headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate: "congo=t61rcWkgMzE" },
  });
  const seen = users.requests.at(-1).headers;
  const [version, trace, parent, flags] = seen.traceparent.split("-");
  assert.equal(version, "00");
  assert.equal(trace, traceId);
  assert.notEqual(parent, "00f067aa0ba902b7", "the gateway's own span is the parent");
  assert.match(parent, /^[0-9a-f]{16}$/);
  assert.equal(flags, "01");
  assert.equal(seen.tracestate, "congo=t61rcWkgMzE");
});

test("traceparent: a trace is started when the client sends none or an invalid one", async () => {
  await gateway.fetch("/users/1", { headers: { traceparent: "nonsense", tracestate: "a=b" } });
  const seen = users.requests.at(-1).headers;
  assert.match(seen.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.equal(seen.tracestate, undefined, "tracestate without a valid traceparent is dropped");
});

// identity: the local runtime's entry proxy would otherwise gzip, and compression holds small chunks.
test("response bodies stream: the first chunk arrives before the origin finishes", async () => {
  const res = await gateway.fetch("/stream", { headers: { "accept-encoding": "identity" } });
  const reader = res.body.getReader();
  const first = await Promise.race([
    reader.read(),
    new Promise((_, reject) => setTimeout(() => reject(new Error("first chunk was buffered")), 5000)),
  ]);
  assert.match(new TextDecoder().decode(first.value), /first chunk/);
  releaseStream();
  let rest = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    rest += new TextDecoder().decode(value);
  }
  assert.match(rest, /last chunk/);
});

test("request bodies reach the origin intact (8 MiB)", async () => {
  const body = "0123456789abcdef".repeat(512 * 1024);
  const res = await gateway.fetch("/upload", { method: "POST", body, headers: { "content-type": "text/plain" } });
  const seen = await res.json();
  assert.equal(seen.bytes, body.length);
  assert.equal(seen.sha256, createHash("sha256").update(body).digest("hex"));
});

test("one structured access log line per request, matching what the client saw", async () => {
  const res = await gateway.fetch("/api/orders/5?x=1", { headers: { "x-request-id": "log-check-1" } });
  await res.text();
  const lines = await eventually(() => {
    const found = gateway.accessLogs().filter((l) => l.request_id === "log-check-1");
    return found.length ? found : undefined;
  });
  assert.equal(lines.length, 1);
  const [line] = lines;
  assert.equal(line.route, "orders");
  assert.equal(line.service, "orders");
  assert.equal(line.method, "GET");
  assert.equal(line.path, "/api/orders/5");
  assert.equal(line.status, 200);
  assert.equal(line.upstream_status, 200);
  assert.equal(typeof line.duration_ms, "number");
  assert.equal(typeof line.upstream_ms, "number");
  assert.match(line.trace_id, /^[0-9a-f]{32}$/);
  assert.equal(line.error_code, null);
});
