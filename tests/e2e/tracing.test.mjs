// OpenTelemetry traces in workerd: the gateway's OTLP/HTTP protobuf exports are received by a
// collector on loopback and decoded with opentelemetry-proto's generated classes (installed
// from PyPI), not with anything written here; their parent/child structure, ids and
// attributes are checked against what the client sent and the origins saw.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http from "node:http";
import { promisify } from "node:util";
import * as jose from "jose";
import { startOrigin, startGateway, documentFor, eventually } from "./harness.mjs";

const run = promisify(execFile);
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN = "00f067aa0ba902b7";
const SECRET = "a-shared-secret-of-at-least-32-bytes!!";
let app, flaky, collector, gateway, sampledOut;
const exports = [];
let flakyCalls = 0;

function doc() {
  return {
    ...documentFor(
      { app: app.url, flaky: { upstreams: [flaky.url], retry: { attempts: 1, backoff_ms: 0, statuses: [503] } } },
      [
        { name: "flaky", path: "/flaky", service: "flaky" },
        { name: "plain", path: "/plain", service: "app" },
        { name: "limited", path: "/limited", service: "app", rate_limits: ["generous"] },
        { name: "broken", path: "/broken", service: "app", upstream_path: "/fail" },
        { name: "cached", path: "/cached", service: "app", cache: { mode: "override", ttl_seconds: 600 } },
        { name: "secure", path: "/secure", service: "app", auth: { mode: "required" } },
        { name: "view", path: "/view", aggregate: { backends: [
          { name: "a", service: "app", path: "/a" },
          { name: "b", service: "app", path: "/b" },
        ] } },
      ],
    ),
    rate_limits: { generous: { rate: { limit: 1000, period_seconds: 60 }, key: ["ip"] } },
    auth: { issuers: { idp: { issuer: "https://idp.test/", audiences: ["gateway"], algorithms: ["HS256"], jwks_url: `${app.url}/jwks` } } },
  };
}

before(async () => {
  app = await startOrigin("app", (req, _body, res) => {
    if (req.url === "/fail") { res.writeHead(500); res.end(); }
    if (req.url === "/jwks") {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=300" });
      res.end(JSON.stringify({ keys: [{ kty: "oct", k: Buffer.from(SECRET).toString("base64url"), alg: "HS256", kid: "k1" }] }));
    }
  });
  flaky = await startOrigin("flaky", (req, _body, res) => {
    flakyCalls += 1;
    if (flakyCalls % 2 === 1) { res.writeHead(503); res.end(); }
  });
  collector = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    exports.push({ url: req.url, headers: req.headers, body: Buffer.concat(chunks) });
    res.writeHead(200, { "content-type": "application/x-protobuf" });
    res.end();
  });
  await new Promise((resolve) => collector.listen(0, "127.0.0.1", resolve));
  const endpoint = `http://127.0.0.1:${collector.address().port}`;
  const bindings = { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: "gateway-under-test", OTEL_EXPORTER_OTLP_HEADERS: "x-collector-key=k-123" };
  gateway = await startGateway({ document: doc(), bindings });
  sampledOut = await startGateway({ document: doc(), bindings: { ...bindings, OTEL_TRACES_SAMPLER_ARG: "0", OTEL_SERVICE_NAME: "sampled-out" } });
});

after(async () => {
  await gateway?.close();
  await sampledOut?.close();
  await app?.close();
  await flaky?.close();
  await new Promise((resolve) => collector?.close(resolve));
});

/** Every span received so far, decoded by opentelemetry-proto: ids in hex, attributes as an object. */
async function received() {
  const script = `
import json, sys, base64
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
def value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None
spans = []
for line in sys.stdin.read().split():
    request = ExportTraceServiceRequest.FromString(base64.b64decode(line))
    for rs in request.resource_spans:
        resource = {a.key: value(a.value) for a in rs.resource.attributes}
        for ss in rs.scope_spans:
            for s in ss.spans:
                spans.append({"resource": resource, "scope": ss.scope.name,
                    "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(), "parent": s.parent_span_id.hex(),
                    "name": s.name, "kind": s.kind, "start": s.start_time_unix_nano, "end": s.end_time_unix_nano,
                    "attributes": {a.key: value(a.value) for a in s.attributes},
                    "status": {"code": s.status.code, "message": s.status.message}})
print(json.dumps(spans))`;
  const child = run("python3", ["-c", script], { env: process.env, maxBuffer: 64 * 1024 * 1024 });
  child.child.stdin.end(exports.map((e) => e.body.toString("base64")).join("\n"));
  return JSON.parse((await child).stdout);
}

const SERVER = 2;
const CLIENT = 3;

test("a request is a server span continuing the client's trace, with a client span per upstream attempt", async () => {
  const res = await gateway.fetch("/flaky", { headers: { traceparent: `00-${TRACE}-${CLIENT_SPAN}-01`, "cf-connecting-ip": "203.0.113.9" } });
  assert.equal(res.status, 200);
  const requestId = res.headers.get("x-request-id");
  const spans = await eventually(async () => {
    const all = await received();
    return all.some((s) => s.kind === SERVER && s.attributes["gateway.request_id"] === requestId) && all;
  }, 5000);
  assert.ok(spans, "exported within the batch interval");
  const server = spans.find((s) => s.kind === SERVER && s.attributes["gateway.request_id"] === requestId);
  assert.equal(server.trace_id, TRACE, "the client's trace continues");
  assert.equal(server.parent, CLIENT_SPAN, "under the client's span");
  assert.equal(server.name, "GET flaky");
  assert.equal(server.attributes["http.request.method"], "GET");
  assert.equal(server.attributes["http.response.status_code"], 200);
  assert.equal(server.attributes["gateway.route"], "flaky");
  assert.equal(server.resource["service.name"], "gateway-under-test");
  assert.equal(server.scope, "edge-gateway");
  const attempts = spans.filter((s) => s.parent === server.span_id && s.kind === CLIENT).sort((a, b) => a.start - b.start);
  assert.equal(attempts.length, 2, "the 503 and its retry");
  assert.equal(attempts[0].attributes["http.response.status_code"], 503);
  assert.equal(attempts[0].status.code, 2, "a 5xx attempt is an error");
  assert.equal(attempts[1].attributes["http.response.status_code"], 200);
  assert.equal(attempts[1].attributes["http.request.resend_count"], 1);
  assert.match(attempts[1].attributes["url.full"], new RegExp(`^${flaky.url}/flaky`));
  assert.ok(attempts.every((a) => a.trace_id === TRACE && a.start <= a.end && a.start >= server.start));
  const seen = flaky.requests.at(-1).headers.traceparent;
  assert.equal(seen, `00-${TRACE}-${server.span_id}-01`, "the origin's parent is the gateway's span");
  const sent = exports.at(-1);
  assert.equal(sent.url, "/v1/traces");
  assert.equal(sent.headers["content-type"], "application/x-protobuf");
  assert.equal(sent.headers["x-collector-key"], "k-123", "headers from the secret");
});

test("rate-limit calls and aggregation backends are child spans, each backend over its own attempt", async () => {
  const limited = await gateway.fetch("/limited");
  const view = await gateway.fetch("/view");
  assert.equal(limited.status, 200);
  assert.equal(view.status, 200);
  const ids = [limited, view].map((r) => r.headers.get("x-request-id"));
  const spans = await eventually(async () => {
    const all = await received();
    return ids.every((id) => all.some((s) => s.attributes["gateway.request_id"] === id)) && all;
  }, 5000);
  const serverOf = (id) => spans.find((s) => s.attributes["gateway.request_id"] === id);
  const limitServer = serverOf(ids[0]);
  const check = spans.find((s) => s.parent === limitServer.span_id && s.name === "rate limit");
  assert.ok(check, "the rate-limit check");
  assert.equal(check.attributes["gateway.rate_limit.policies"], "generous");
  const viewServer = serverOf(ids[1]);
  const backends = spans.filter((s) => s.parent === viewServer.span_id && s.name.startsWith("backend "));
  assert.deepEqual(backends.map((b) => b.name).sort(), ["backend a", "backend b"]);
  for (const backend of backends) {
    const attempts = spans.filter((s) => s.parent === backend.span_id && s.kind === CLIENT);
    assert.equal(attempts.length, 1, `${backend.name} has its attempt under it`);
    assert.equal(attempts[0].trace_id, viewServer.trace_id);
  }
});

test("the cache lookup is a span saying what it found and in which tier", async () => {
  const miss = await gateway.fetch("/cached");
  assert.equal(miss.headers.get("x-cache"), "MISS");
  const hit = await eventually(async () => {
    const r = await gateway.fetch("/cached");
    return r.headers.get("x-cache") === "HIT" && r;
  }, 3000);
  const ids = [miss, hit].map((r) => r.headers.get("x-request-id"));
  const spans = await eventually(async () => {
    const all = await received();
    return ids.every((id) => all.some((s) => s.attributes["gateway.request_id"] === id)) && all;
  }, 5000);
  const lookupOf = (id) => {
    const server = spans.find((s) => s.attributes["gateway.request_id"] === id);
    return spans.find((s) => s.parent === server.span_id && s.name === "cache lookup");
  };
  assert.equal(lookupOf(ids[0]).attributes["gateway.cache.lookup"], "miss");
  const reads = spans.filter((s) => s.parent === lookupOf(ids[0]).span_id).map((s) => [s.name, s.attributes["gateway.cache.hit"]]);
  assert.deepEqual(reads, [["cache read edge", false]], "the miss read the edge tier (the route is not global)");
  assert.equal(lookupOf(ids[1]).attributes["gateway.cache.lookup"], "found");
  assert.equal(lookupOf(ids[1]).attributes["gateway.cache.tier"], "memory");
  const server = spans.find((s) => s.attributes["gateway.request_id"] === ids[1]);
  assert.equal(server.attributes["gateway.cache"], "HIT");
  assert.equal(spans.filter((s) => s.parent === server.span_id && s.kind === CLIENT).length, 0, "a hit calls no upstream");
});

test("a JWKS fetch is a client span under the authentication span", async () => {
  const token = await new jose.SignJWT({ sub: "u1" }).setProtectedHeader({ alg: "HS256", kid: "k1" })
    .setIssuer("https://idp.test/").setAudience("gateway").setExpirationTime("5m").sign(new TextEncoder().encode(SECRET));
  const res = await gateway.fetch("/secure", { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  const id = res.headers.get("x-request-id");
  const spans = await eventually(async () => {
    const all = await received();
    return all.some((s) => s.attributes["gateway.request_id"] === id) && all;
  }, 5000);
  const server = spans.find((s) => s.attributes["gateway.request_id"] === id);
  const auth = spans.find((s) => s.parent === server.span_id && s.name === "authenticate");
  assert.equal(auth.attributes["gateway.auth.scheme"], "jwt");
  const fetched = spans.find((s) => s.parent === auth.span_id && s.name === "jwks fetch");
  assert.ok(fetched, spans.filter((s) => s.parent === auth.span_id).map((s) => s.name).join());
  assert.equal(fetched.kind, CLIENT);
  assert.equal(fetched.attributes["url.full"], `${app.url}/jwks`);
  assert.equal(fetched.status.code, 0);
});

test("head sampling at 0 keeps no successful trace, and every server error", async () => {
  const before = (await received()).filter((s) => s.resource["service.name"] === "sampled-out").length;
  for (let i = 0; i < 5; i++) assert.equal((await sampledOut.fetch("/plain")).status, 200);
  const broken = await sampledOut.fetch("/broken");
  assert.equal(broken.status, 500);
  const id = broken.headers.get("x-request-id");
  const spans = await eventually(async () => {
    const all = await received();
    return all.some((s) => s.attributes["gateway.request_id"] === id) && all;
  }, 5000);
  const mine = spans.filter((s) => s.resource["service.name"] === "sampled-out").slice(before);
  const servers = mine.filter((s) => s.kind === SERVER);
  assert.equal(servers.length, 1, "only the failed request");
  assert.equal(servers[0].attributes["gateway.request_id"], id);
  assert.equal(servers[0].status.code, 2);
});
