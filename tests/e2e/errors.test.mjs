// Every refusal is RFC 9457 problem+json with a stable code, and nothing a client sends makes the
// gateway fail with a 500 or panic.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, startGateway, documentFor, rawRequest, closedPort, eventually } from "./harness.mjs";

let origin, gateway;
const aborted = [];

before(async () => {
  origin = await startOrigin("slow", async (req, body, res) => {
    if (req.url === "/trickle") {
      // Headers at once, the rest of the body well after the service's 300 ms timeout.
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first\n");
      await new Promise((resolve) => setTimeout(resolve, 900));
      res.end("last\n");
    } else if (req.url.startsWith("/slow")) {
      let closed = false;
      res.on("close", () => {
        closed = true;
        if (!res.writableFinished) aborted.push(req.url);
      });
      await new Promise((resolve) => setTimeout(resolve, 3000));
      if (!closed) {
        res.writeHead(200);
        res.end("too late");
      }
    }
  });
  const refused = await closedPort();
  gateway = await startGateway({
    document: documentFor(
      {
        app: origin.url,
        slow: { upstreams: [origin.url], timeout_ms: 300 },
        down: { upstreams: [`http://127.0.0.1:${refused}`], timeout_ms: 2000 },
      },
      [
        { name: "items", methods: ["GET", "POST"], path: "/items/{*rest}", service: "app" },
        { name: "slow", path: "/slow", service: "slow" },
        { name: "trickle", path: "/trickle", service: "slow" },
        { name: "down", path: "/down", service: "down" },
      ],
    ),
  });
});

after(async () => {
  await gateway?.close();
  await origin?.close();
});

function assertProblem(res, status, code) {
  assert.equal(res.status, status);
  assert.equal(res.headers["content-type"], "application/problem+json");
  assert.equal(res.json.status, status);
  assert.equal(res.json.code, code);
  assert.equal(res.json.type, `urn:edge-gateway:problem:${code}`);
  assert.equal(res.json.request_id, res.headers["x-request-id"]);
  assert.ok(res.json.title && res.json.detail);
}

test("no route: 404 problem", async () => {
  assertProblem(await rawRequest(gateway.url, { path: "/nothing/here" }), 404, "route-not-found");
});

test("wrong method: 405 problem with Allow", async () => {
  const res = await rawRequest(gateway.url, { method: "DELETE", path: "/items/1" });
  assertProblem(res, 405, "method-not-allowed");
  assert.equal(res.headers.allow, "GET, HEAD, POST");
});

test("unreachable upstream: 502 problem that does not reveal the address", async () => {
  const res = await rawRequest(gateway.url, { path: "/down" });
  assertProblem(res, 502, "upstream-unreachable");
  assert.doesNotMatch(res.text, /127\.0\.0\.1/);
  const log = await eventually(() => gateway.accessLogs().find((l) => l.request_id === res.headers["x-request-id"]));
  assert.equal(log.error_code, "upstream-unreachable");
  assert.ok(log.error_cause, "the log keeps the full cause");
});

test("slow upstream: 504 at the service timeout, and the subrequest is aborted", async () => {
  const started = Date.now();
  const res = await rawRequest(gateway.url, { path: "/slow" });
  const elapsed = Date.now() - started;
  assertProblem(res, 504, "upstream-timeout");
  assert.ok(elapsed < 2500, `answered after ${elapsed} ms, before the origin would have`);
  const seen = await eventually(() => aborted.includes("/slow"), 2500);
  assert.ok(seen, "the origin saw its connection closed before it answered");
});

test("the service timeout covers the response headers: a body still streaming after it arrives whole", async () => {
  const res = await rawRequest(gateway.url, { path: "/trickle", headers: { "accept-encoding": "identity" } });
  assert.equal(res.status, 200);
  assert.equal(res.text, "first\nlast\n");
});

test("malformed percent-encoding: 400 problem", async () => {
  assertProblem(await rawRequest(gateway.url, { path: "/items/%zz" }), 400, "invalid-path");
  assertProblem(await rawRequest(gateway.url, { path: "/items/a%2" }), 400, "invalid-path");
});

test("dot segments never reach an origin, however they are encoded", async () => {
  const before = origin.requests.length;
  for (const p of ["/items/%2e%2e/admin", "/items/%2E%2e/%2e%2E/admin", "/items/.%2e/admin", "/items/%2E/x/../../admin"]) {
    const res = await rawRequest(gateway.url, { path: p });
    // The runtime resolves some encodings itself (leaving /admin: 404); the gateway refuses the rest.
    assert.ok([400, 404].includes(res.status), `${p} gave ${res.status}`);
    assert.equal(res.headers["content-type"], "application/problem+json");
  }
  assert.equal(origin.requests.length, before, "no request reached the origin");
});

test("encoded control characters: 400 problem", async () => {
  assertProblem(await rawRequest(gateway.url, { path: "/items/a%00b" }), 400, "invalid-path");
  assertProblem(await rawRequest(gateway.url, { path: "/items/a%0d%0aSet-Cookie:x" }), 400, "invalid-path");
});

test("oversized path or query: 400; oversized or too many headers: 431", async () => {
  assertProblem(await rawRequest(gateway.url, { path: `/items/${"a".repeat(5000)}` }), 400, "request-too-large");
  assertProblem(await rawRequest(gateway.url, { path: `/items/x?q=${"b".repeat(9000)}` }), 400, "request-too-large");
  const big = {};
  for (let i = 0; i < 5; i++) big[`x-big-${i}`] = "c".repeat(7000);
  assertProblem(await rawRequest(gateway.url, { path: "/items/x", headers: big }), 431, "headers-too-large");
  const many = {};
  for (let i = 0; i < 101; i++) many[`x-n-${i}`] = "v";
  assertProblem(await rawRequest(gateway.url, { path: "/items/x", headers: many }), 431, "headers-too-large");
});

test("hostile input never yields a 500 or a crash", async () => {
  const methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "BREW"];
  const pieces = ["%", "%%", "%ff", "%c3%28", "..", "%2e", "{", "}", "*", "//", ";", "\u00e9", "%u0041", "?", "&", "=", "#"];
  let seed = 7;
  const next = (n) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let i = 0; i < 150; i++) {
    let p = "/items/";
    for (let j = 0; j < 1 + next(6); j++) p += pieces[next(pieces.length)] + "x";
    const headers = { "x-request-id": "bad id!<>".repeat(next(3)), traceparent: "00-zz".repeat(next(3)) };
    const res = await rawRequest(gateway.url, { method: methods[next(methods.length)], path: encodeURI(p).replace(/%25/g, "%"), headers });
    assert.ok(res.status < 500, `${p} gave ${res.status}: ${res.text}`);
  }
  const crashes = gateway.logs.filter((l) => /panicked|RuntimeError|Reinitializing/.test(l.message));
  assert.deepEqual(crashes, []);
});
