// Edge security policies in the real runtime: IP allow/deny lists with IPv4 and IPv6 ranges,
// and CORS preflights and refusals answered at the edge.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, startGateway, rawRequest } from "./harness.mjs";

let origin, gateway;

before(async () => {
  origin = await startOrigin("app", (req, body, res) => {
    if (req.url.startsWith("/cors-origin")) {
      res.writeHead(200, { "content-type": "application/json", "access-control-allow-origin": "*" });
      res.end("{}");
    }
  });
  gateway = await startGateway({
    document: {
      version: 1,
      services: { app: { upstreams: [origin.url] } },
      security: {
        ip: { deny: ["192.0.2.0/24", "2001:db8:bad::/48"] },
        cors: {
          allow_origins: ["https://app.example.com", "https://*.example.org"],
          allow_headers: ["content-type", "authorization"],
          expose_headers: ["x-request-id", "x-total"],
          allow_credentials: true,
          max_age_seconds: 300,
        },
      },
      routes: [
        { name: "open", path: "/open", service: "app" },
        { name: "internal", path: "/internal", service: "app", security: { ip: { allow: ["10.0.0.0/8", "2001:db8:1::/48"], deny: ["10.9.9.9"] } } },
        { name: "writes", path: "/writes", methods: ["GET", "PUT"], service: "app", auth: { mode: "required" } },
        { name: "cors-origin", path: "/cors-origin", service: "app" },
        { name: "no-cors", path: "/no-cors", service: "app", security: { cors: { allow_origins: ["https://only.example.net"] } } },
        { name: "small", path: "/small", service: "app", security: { limits: { max_body_bytes: 100, max_headers: 20, max_header_bytes: 2000 } } },
      ],
      auth: { issuers: { idp: { issuer: "https://idp.test/", audiences: ["api"], algorithms: ["HS256"], keys: [{ kty: "oct", k: "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI", kid: "k" }] } } },
    },
  });
});

after(async () => {
  await gateway?.close();
  await origin?.close();
});

const from = (ip, p = "/open", extra = {}) => rawRequest(gateway.url, { path: p, headers: { "cf-connecting-ip": ip, ...extra } });

test("IP deny lists refuse IPv4 and IPv6 ranges before anything else runs", async () => {
  const before = origin.requests.length;
  for (const ip of ["192.0.2.77", "2001:db8:bad:1::5"]) {
    const r = await from(ip);
    assert.equal(r.status, 403, ip);
    assert.equal(r.headers["content-type"], "application/problem+json");
    assert.equal(r.json.code, "ip-denied");
  }
  assert.equal(origin.requests.length, before, "refused requests never reach the origin");
  for (const ip of ["198.51.100.1", "2001:db8:bae::1"]) assert.equal((await from(ip)).status, 200, ip);
});

test("a route's IP allow list admits only its ranges, IPv4 and IPv6", async () => {
  for (const [ip, status] of [
    ["10.1.2.3", 200], ["10.9.9.9", 403], ["11.0.0.1", 403],
    ["2001:db8:1:ffff::1", 200], ["2001:db8:2::1", 403], ["::ffff:10.0.0.5", 200],
  ]) {
    assert.equal((await from(ip, "/internal")).status, status, ip);
  }
  assert.equal((await from("192.0.2.5", "/internal")).status, 403, "the route's list replaced the document's deny list, and this address is not in its allow list");
});

const preflight = (p, origin, method, headers) =>
  rawRequest(gateway.url, {
    method: "OPTIONS",
    path: p,
    headers: { origin, "access-control-request-method": method, ...(headers ? { "access-control-request-headers": headers } : {}) },
  });

test("CORS preflights are answered at the edge, without credentials and without the origin", async () => {
  const before = origin.requests.length;
  const ok = await preflight("/writes", "https://app.example.com", "PUT", "Content-Type, Authorization");
  assert.equal(ok.status, 204);
  assert.equal(ok.headers["access-control-allow-origin"], "https://app.example.com");
  assert.equal(ok.headers["access-control-allow-credentials"], "true");
  assert.equal(ok.headers["access-control-allow-methods"], "GET, HEAD, PUT");
  assert.equal(ok.headers["access-control-allow-headers"], "content-type, authorization");
  assert.equal(ok.headers["access-control-max-age"], "300");
  assert.match(ok.headers.vary, /Origin/);
  const wildcard = await preflight("/writes", "https://team.example.org", "GET");
  assert.equal(wildcard.status, 204, "a subdomain wildcard");
  assert.equal(origin.requests.length, before, "preflights never reach the origin");
});

test("CORS refusals are problem+json: unknown origin, method or header", async () => {
  for (const [origin_, method, headers, reason] of [
    ["https://evil.example.com", "GET", undefined, /origin 'https:\/\/evil.example.com' is not allowed/],
    ["https://app.example.com", "DELETE", undefined, /method DELETE/],
    ["https://app.example.com", "GET", "x-secret", /header 'x-secret'/],
    ["https://example.org", "GET", undefined, /not allowed/],
  ]) {
    const r = await preflight("/writes", origin_, method, headers);
    assert.equal(r.status, 403, `${origin_} ${method}`);
    assert.equal(r.json.code, "cors-refused");
    assert.match(r.json.detail, reason);
  }
  const actual = await rawRequest(gateway.url, { path: "/open", headers: { origin: "https://evil.example.com" } });
  assert.equal(actual.status, 403, "an actual request from a refused origin");
  const other = await preflight("/no-cors", "https://app.example.com", "GET");
  assert.equal(other.status, 403, "the route's own policy replaced the document's");
});

test("allowed cross-origin responses carry the CORS headers, errors included", async () => {
  const r = await rawRequest(gateway.url, { path: "/open", headers: { origin: "https://app.example.com" } });
  assert.equal(r.status, 200);
  assert.equal(r.headers["access-control-allow-origin"], "https://app.example.com");
  assert.equal(r.headers["access-control-allow-credentials"], "true");
  assert.equal(r.headers["access-control-expose-headers"], "x-request-id, x-total");
  const denied = await rawRequest(gateway.url, { path: "/writes", headers: { origin: "https://app.example.com" } });
  assert.equal(denied.status, 401);
  assert.equal(denied.headers["access-control-allow-origin"], "https://app.example.com", "so the page can read the error");
  const replaced = await rawRequest(gateway.url, { path: "/cors-origin", headers: { origin: "https://app.example.com" } });
  assert.equal(replaced.headers["access-control-allow-origin"], "https://app.example.com", "the origin's own '*' is replaced");
  const sameOrigin = await rawRequest(gateway.url, { path: "/open" });
  assert.equal(sameOrigin.headers["access-control-allow-origin"], undefined, "no Origin, no CORS headers");
});

test("a route's size limits: 413 for a large body, 411 without a length, 431 for headers", async () => {
  const before = origin.requests.length;
  const post = (body, headers = {}) => rawRequest(gateway.url, { method: "POST", path: "/small", headers, body });
  const big = await post("x".repeat(101), { "content-length": "101" });
  assert.equal(big.status, 413);
  assert.equal(big.json.code, "body-too-large");
  const chunked = await post("x".repeat(10), { "transfer-encoding": "chunked" });
  assert.equal(chunked.status, 411);
  assert.equal(chunked.json.code, "length-required");
  const many = {};
  for (let i = 0; i < 21; i++) many[`x-n-${i}`] = "v";
  const crowded = await rawRequest(gateway.url, { path: "/small", headers: many });
  assert.equal(crowded.status, 431);
  assert.match(crowded.json.detail, /20 fields/);
  const heavy = await rawRequest(gateway.url, { path: "/small", headers: { "x-big": "v".repeat(2100) } });
  assert.equal(heavy.status, 431);
  assert.match(heavy.json.detail, /2000 bytes/);
  assert.equal(origin.requests.length, before, "refused requests never reach the origin");
  const ok = await post("x".repeat(100), { "content-length": "100" });
  assert.equal(ok.status, 200);
  assert.equal((await rawRequest(gateway.url, { path: "/open", headers: many })).status, 200, "other routes keep the gateway's own limits");
});
