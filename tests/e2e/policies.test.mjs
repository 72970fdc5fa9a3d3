// Policies end to end: a user's own Worker (plain JS, bound to the gateway by a service
// binding, as a user would write it) allows, denies, rewrites headers and answers; forward auth
// against a loopback HTTP server; transformations of real JSON; validation against inline
// schemas and an OpenAPI document; mocks; conditions and stable percentages of callers.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import * as jose from "jose";
import { startOrigin, startGateway } from "./harness.mjs";

const POLICY_WORKER = {
  name: "user-policy",
  modules: true,
  compatibilityDate: "2026-11-01",
  script: `export default {
    async fetch(request) {
      const d = await request.json();
      const path = d.request.path;
      if (d.phase === "response") {
        return Response.json({ action: "continue", response_headers: { set: { "x-policy-saw-status": String(d.response.status) } } });
      }
      if (path.endsWith("/deny")) {
        return Response.json({ action: "respond", status: 403, headers: { "x-denied-by": d.policy }, body: { error: "not entitled", sub: d.principal?.subject } });
      }
      if (path.endsWith("/answer")) return Response.json({ action: "respond", status: 200, headers: { "content-type": "text/plain" }, body: "answered by the policy" });
      if (path.endsWith("/slow")) { await new Promise((r) => setTimeout(r, 3000)); return Response.json({ action: "continue" }); }
      if (path.endsWith("/crash")) throw new Error("a bug in the policy");
      if (path.endsWith("/malformed")) return new Response("sure, go ahead");
      return Response.json({
        action: "continue",
        request_headers: { set: { "x-policy-description": btoa(JSON.stringify(d)) }, remove: ["x-drop-me"] },
        response_headers: { set: { "x-policy": "allowed" } },
      });
    },
  };`,
};

const SECRET = crypto.getRandomValues(new Uint8Array(32));
const token = (claims = {}) =>
  new jose.SignJWT({ sub: "user-7", tenant: "acme", ...claims })
    .setProtectedHeader({ alg: "HS256", kid: "k1" })
    .setIssuer("https://issuer.test/")
    .setAudience("api")
    .setExpirationTime("5m")
    .sign(SECRET);
const bearer = async (claims) => ({ authorization: `Bearer ${await token(claims)}` });

const PETS = {
  openapi: "3.1.0",
  info: { title: "pets", version: "1" },
  paths: {
    "/pets/{id}": {
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "integer", minimum: 1 } }],
      get: {
        operationId: "getPet",
        responses: { 200: { description: "a pet", content: { "application/json": { example: { id: 1, name: "Rex" } } } } },
      },
      put: {
        operationId: "updatePet",
        parameters: [{ name: "dry_run", in: "query", required: true, schema: { type: "boolean" } }],
        requestBody: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/Pet" } } } },
        responses: { 200: { description: "ok" } },
      },
    },
  },
  components: {
    schemas: {
      Pet: {
        type: "object",
        required: ["name"],
        additionalProperties: false,
        properties: { name: { type: "string", minLength: 1 }, age: { type: "integer", minimum: 0 } },
      },
    },
  },
};

let origin, beta, gateway, auth;
let authHits = 0;

before(async () => {
  origin = await startOrigin("main", (req, body, res) => {
    if (req.url.startsWith("/wrapped")) {
      res.writeHead(200, { "content-type": "application/json", etag: '"v1"' });
      res.end(JSON.stringify({ data: { name: "Rex", secret: "s3" }, meta: { page: 1 } }));
    } else if (req.url.startsWith("/binary")) {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(Buffer.from(body, "utf8"));
    }
  });
  beta = await startOrigin("beta");
  auth = http.createServer(async (req, res) => {
    authHits += 1;
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const d = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    res.writeHead(200, { "content-type": "application/json" });
    if (d.request.headers["x-session"] === "good") {
      res.end(JSON.stringify({ action: "continue", request_headers: { set: { "x-user": "alice" } } }));
    } else {
      res.end(JSON.stringify({ action: "respond", status: 401, headers: { "www-authenticate": "Session" }, body: { error: "log in" } }));
    }
  });
  await new Promise((resolve) => auth.listen(0, "127.0.0.1", resolve));
  const authUrl = `http://127.0.0.1:${auth.address().port}/check`;
  const worker = (extra = {}) => ({ name: "entitled", worker: { binding: "POLICY", ...extra } });
  const document = {
    version: 1,
    services: { main: { upstreams: [origin.url] }, beta: { upstreams: [beta.url] } },
    auth: {
      issuers: {
        inline: {
          issuer: "https://issuer.test/", audiences: ["api"], algorithms: ["HS256"],
          keys: [{ kty: "oct", k: jose.base64url.encode(SECRET), kid: "k1", alg: "HS256" }],
        },
      },
    },
    specs: { pets: PETS },
    routes: [
      { name: "ext", path: "/ext/{id}", service: "main", auth: { mode: "required" }, policies: [worker({ body_bytes: 1024, response: true })] },
      { name: "ext-slow", path: "/ext-slow/slow", service: "main", policies: [worker({ timeout_ms: 300 })] },
      { name: "ext-crash", path: "/ext-crash/crash", service: "main", policies: [worker()] },
      { name: "ext-lenient", path: "/ext-lenient/crash", service: "main", policies: [worker({ on_error: "allow" })] },
      { name: "ext-malformed", path: "/ext-malformed/malformed", service: "main", policies: [worker()] },
      { name: "unbound", path: "/unbound", service: "main", policies: [{ name: "missing", worker: { binding: "NOT_BOUND" } }] },
      { name: "forward-auth", path: "/session", service: "main", policies: [{ name: "sessions", http: { url: authUrl, cache_seconds: 30 } }] },
      {
        name: "shape-in", path: "/shape-in/{id}", methods: ["POST"], service: "main", auth: { mode: "required" },
        policies: [{
          name: "shape",
          transform: {
            request: {
              headers: { set: { "x-tenant": "{claim:tenant}" }, remove: ["x-debug"] },
              query: { set: { source: "edge-{route}" }, remove: ["debug"] },
              body: [
                { op: "set", path: "/owner", value_from: "claim:sub" },
                { op: "set", path: "/id", value_from: "param:id" },
                { op: "remove", path: "/internal" },
                { op: "rename", path: "/user_name", to: "userName" },
                { op: "move", from: "/address/city", path: "/city" },
                { op: "wrap", path: "/item" },
                { op: "set", path: "/version", value: 2 },
              ],
            },
          },
        }],
      },
      {
        name: "shape-out", path: "/wrapped", service: "main",
        policies: [{ name: "unwrap", transform: { response: { headers: { set: { "x-shaped": "yes" } }, body: [{ op: "unwrap", path: "/data" }, { op: "remove", path: "/secret" }] } } }],
      },
      {
        name: "stream", path: "/binary", methods: ["POST"], service: "main",
        policies: [{ name: "tag", transform: { request: { headers: { set: { "x-tagged": "1" } } }, response: { body: [{ op: "remove", path: "/x" }] } } }],
      },
      {
        name: "create-pet", path: "/pets", methods: ["POST"], service: "main",
        policies: [{
          name: "pet-shape",
          validate: {
            headers: { properties: { "x-tenant": { type: "string", pattern: "^[a-z]+$" } }, required: ["x-tenant"] },
            query: { properties: { limit: { type: "integer", maximum: 10 } } },
            body: { $ref: "#/$defs/pet", $defs: { pet: PETS.components.schemas.Pet } },
          },
        }],
      },
      { name: "update-pet", path: "/pets/{id}", methods: ["PUT"], service: "main", policies: [{ name: "openapi", validate: { spec: "pets", operation: "updatePet" } }] },
      { name: "get-pet", path: "/pets/{id}", methods: ["GET"], service: "main", policies: [{ name: "example", mock: { spec: "pets", operation: "getPet" } }] },
      { name: "mocked", path: "/mocked", service: "main", policies: [{ name: "demo", mock: { status: 201, headers: { "x-mock": "1" }, body: { created: true } } }] },
      {
        name: "flagged", path: "/flagged", service: "main",
        policies: [
          { name: "beta-header", when: { header: { "x-beta": "1" }, method: ["GET"] }, mock: { body: "beta" } },
          { name: "kiwi", when: { country: ["NZ"] }, mock: { body: "kia ora" } },
          { name: "bots", when: { cf: { "botManagement.score": { lt: 30 } } }, mock: { status: 403, body: "bot" } },
        ],
      },
      { name: "split", path: "/split", service: "main", policies: [{ name: "canary", when: { percent: { value: 30, by: "header:x-user" } }, mock: { body: "canary" } }] },
      {
        name: "choose", path: "/choose", service: "main",
        choose: [
          { when: { cookie: { plan: "beta" } }, service: "beta" },
          { when: { claim: { tenant: "beta-corp" } }, service: "beta" },
        ],
        auth: { mode: "optional" },
      },
    ],
  };
  gateway = await startGateway({ document, workers: [POLICY_WORKER], serviceBindings: { POLICY: "user-policy" }, directSocket: true });
});

after(async () => {
  await gateway?.close();
  await origin?.close();
  await beta?.close();
  await new Promise((resolve) => auth?.close(resolve));
});

const lastSeen = (server) => server.requests[server.requests.length - 1];

test("a worker policy lets a request through, changing headers both ways, and sees who asks", async () => {
  const res = await gateway.fetch("/ext/42?a=1&a=2", {
    method: "POST",
    headers: { ...(await bearer({ plan: "gold" })), "content-type": "application/json", "x-drop-me": "1", "cf-connecting-ip": "203.0.113.5" },
    body: JSON.stringify({ hello: "world" }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-policy"), "allowed");
  assert.equal(res.headers.get("x-policy-saw-status"), "200", "the response phase saw the origin's status");
  const seen = await res.json();
  assert.equal(seen.headers["x-drop-me"], undefined);
  assert.equal(JSON.parse(seen.body).hello, "world", "the body still reached the origin");
  const d = JSON.parse(Buffer.from(seen.headers["x-policy-description"], "base64").toString("utf8"));
  assert.equal(d.version, 1);
  assert.equal(d.phase, "request");
  assert.equal(d.policy, "entitled");
  assert.deepEqual(d.route, { name: "ext", params: { id: "42" } });
  assert.equal(d.request.method, "POST");
  assert.equal(d.request.path, "/ext/42");
  assert.deepEqual(d.request.query, { a: ["1", "2"] });
  assert.equal(d.request.body, JSON.stringify({ hello: "world" }));
  assert.equal(d.principal.subject, "user-7");
  assert.equal(d.principal.claims.plan, "gold");
  assert.equal(d.request.headers.authorization, undefined, "credentials are not passed on");
  assert.match(d.request_id, /.+/);
});

test("a worker policy denies and answers in place of the origin", async () => {
  const before = origin.requests.length;
  const denied = await gateway.fetch("/ext/deny", { headers: await bearer() });
  assert.equal(denied.status, 403);
  assert.equal(denied.headers.get("x-denied-by"), "entitled");
  assert.deepEqual(await denied.json(), { error: "not entitled", sub: "user-7" });
  const answered = await gateway.fetch("/ext/answer", { headers: await bearer() });
  assert.equal(answered.status, 200);
  assert.equal(await answered.text(), "answered by the policy");
  assert.ok(answered.headers.get("x-request-id"));
  assert.equal(origin.requests.length, before, "the origin was not called");
});

test("a slow, crashing, malformed or unbound policy gets policy-failed, naming it in the log", async () => {
  const started = Date.now();
  const slow = await gateway.fetch("/ext-slow/slow");
  assert.ok(Date.now() - started < 2500, "the policy's deadline cut the call short");
  for (const [res, path] of [
    [slow, "/ext-slow/slow"],
    [await gateway.fetch("/ext-crash/crash"), "/ext-crash/crash"],
    [await gateway.fetch("/ext-malformed/malformed"), "/ext-malformed/malformed"],
    [await gateway.fetch("/unbound"), "/unbound"],
  ]) {
    assert.equal(res.status, 502, path);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    const problem = await res.json();
    assert.equal(problem.code, "policy-failed", path);
    assert.ok(["entitled", "missing"].includes(problem.policy), path);
    const log = gateway.accessLogs().find((l) => l.path === path);
    assert.equal(log.error_code, "policy-failed");
    assert.match(log.error_cause, /policy '(entitled|missing)'/);
  }
  const malformed = gateway.accessLogs().find((l) => l.path === "/ext-malformed/malformed");
  assert.match(malformed.error_cause, /not JSON/);
});

test("on_error allow lets the request through and logs the failure", async () => {
  const res = await gateway.fetch("/ext-lenient/crash");
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  const logged = gateway.logs
    .flatMap((l) => l.message.split("\n"))
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line))
    .find((line) => line.type === "policy" && line.route === "ext-lenient");
  assert.equal(logged.policy, "entitled");
  assert.equal(logged.on_error, "allow");
  assert.match(logged.error, /a bug in the policy/);
});

test("http forward auth allows, denies, and keeps its verdicts for cache_seconds", async () => {
  const hits = authHits;
  const good = await gateway.fetch("/session", { headers: { "x-session": "good" } });
  assert.equal(good.status, 200);
  assert.equal((await good.json()).headers["x-user"], "alice");
  const again = await gateway.fetch("/session", { headers: { "x-session": "good" } });
  assert.equal((await again.json()).headers["x-user"], "alice");
  assert.equal(authHits, hits + 1, "the second identical request used the kept verdict");
  const bad = await gateway.fetch("/session", { headers: { "x-session": "forged" } });
  assert.equal(bad.status, 401);
  assert.equal(bad.headers.get("www-authenticate"), "Session");
  assert.deepEqual(await bad.json(), { error: "log in" });
  assert.equal(authHits, hits + 2);
});

test("transforms rewrite a real JSON request: body by pointer, query and headers from claims and params", async () => {
  const res = await gateway.fetch("/shape-in/9?debug=1&keep=yes", {
    method: "POST",
    headers: { ...(await bearer()), "content-type": "application/json", "x-debug": "on" },
    body: JSON.stringify({ internal: true, user_name: "ada", address: { city: "Oslo", zip: "0150" }, owner: "forged" }),
  });
  assert.equal(res.status, 200);
  const seen = await res.json();
  assert.deepEqual(JSON.parse(seen.body), {
    item: { owner: "user-7", id: "9", userName: "ada", address: { zip: "0150" }, city: "Oslo" },
    version: 2,
  });
  assert.equal(seen.headers["content-length"], String(Buffer.byteLength(seen.body)));
  assert.equal(seen.headers["x-tenant"], "acme");
  assert.equal(seen.headers["x-debug"], undefined);
  assert.equal(seen.url, "/shape-in/9?keep=yes&source=edge-shape-in");
  const notJson = await gateway.fetch("/shape-in/9", { method: "POST", headers: { ...(await bearer()), "content-type": "application/json" }, body: "{oops" });
  assert.equal(notJson.status, 400);
  assert.equal((await notJson.json()).code, "invalid-body");
});

test("transforms rewrite the origin's JSON answer, and leave other bodies untouched", async () => {
  const res = await gateway.fetch("/wrapped");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-shaped"), "yes");
  assert.equal(res.headers.get("etag"), null, "a changed body does not keep the origin's validator");
  assert.deepEqual(await res.json(), { name: "Rex" });
  const bytes = Buffer.alloc(256 * 1024, "xyz");
  const streamed = await gateway.fetch("/binary", { method: "POST", body: bytes });
  assert.equal(streamed.status, 200);
  assert.ok(Buffer.from(await streamed.arrayBuffer()).equals(bytes), "a non-JSON answer passes unchanged");
  assert.equal(lastSeen(origin).headers["x-tagged"], "1");
  assert.equal(lastSeen(origin).headers["content-length"], String(bytes.length), "the request body streamed as it came");
});

test("validation lists every violation with its JSON pointer", async () => {
  const before = origin.requests.length;
  const res = await gateway.fetch("/pets?limit=50", {
    method: "POST",
    headers: { "content-type": "application/json", "x-tenant": "ACME" },
    body: JSON.stringify({ age: -1, colour: "brown" }),
  });
  assert.equal(res.status, 400);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const problem = await res.json();
  assert.equal(problem.code, "request-invalid");
  assert.equal(problem.policy, "pet-shape");
  assert.deepEqual(
    problem.violations.map((v) => `${v.in} ${v.pointer}`).sort(),
    ["body /age", "body /colour", "body /name", "header /x-tenant", "query /limit"],
  );
  assert.equal(origin.requests.length, before, "nothing reached the origin");
  const ok = await gateway.fetch("/pets?limit=5", {
    method: "POST",
    headers: { "content-type": "application/json", "x-tenant": "acme" },
    body: JSON.stringify({ name: "Rex", age: 3 }),
  });
  assert.equal(ok.status, 200);
  assert.equal(JSON.parse((await ok.json()).body).name, "Rex");
});

test("validation from an OpenAPI operation checks path, query and body", async () => {
  const res = await gateway.fetch("/pets/0", { method: "PUT", headers: { "content-type": "application/json" }, body: "{}" });
  assert.equal(res.status, 400);
  const problem = await res.json();
  assert.deepEqual(
    problem.violations.map((v) => `${v.in} ${v.pointer} ${v.message}`),
    ["path /id must be at least 1", "query /dry_run is required", "body /name is required"],
  );
  const ok = await gateway.fetch("/pets/3?dry_run=true", { method: "PUT", headers: { "content-type": "application/json" }, body: '{"name":"Rex"}' });
  assert.equal(ok.status, 200);
  await ok.arrayBuffer();
});

test("mocks answer from inline examples and from the OpenAPI document without an origin", async () => {
  const before = origin.requests.length;
  const inline = await gateway.fetch("/mocked");
  assert.equal(inline.status, 201);
  assert.equal(inline.headers.get("x-mock"), "1");
  assert.deepEqual(await inline.json(), { created: true });
  const example = await gateway.fetch("/pets/1");
  assert.equal(example.status, 200);
  assert.equal(example.headers.get("content-type"), "application/json");
  assert.deepEqual(await example.json(), { id: 1, name: "Rex" });
  assert.equal(origin.requests.length, before);
});

test("conditions read headers, methods and the platform's cf fields", async () => {
  assert.equal(await (await gateway.fetch("/flagged", { headers: { "x-beta": "1" } })).text(), "beta");
  const post = await gateway.fetch("/flagged", { method: "POST", headers: { "x-beta": "1" } });
  assert.equal((await post.json()).origin, "main", "the method did not match");
  const kiwi = await fetch(`${gateway.direct}/flagged`, { headers: { "mf-cf-blob": JSON.stringify({ country: "NZ" }) } });
  assert.equal(await kiwi.text(), "kia ora");
  const bot = await fetch(`${gateway.direct}/flagged`, { headers: { "mf-cf-blob": JSON.stringify({ country: "DE", botManagement: { score: 5 } }) } });
  assert.equal(bot.status, 403);
  const human = await fetch(`${gateway.direct}/flagged`, { headers: { "mf-cf-blob": JSON.stringify({ country: "DE", botManagement: { score: 90 } }) } });
  assert.equal((await human.json()).origin, "main");
});

test("a percentage splits callers stably and close to its size", async () => {
  const users = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
  const outcome = {};
  for (let i = 0; i < users.length; i += 25) {
    await Promise.all(users.slice(i, i + 25).map(async (user) => {
      const text = await (await gateway.fetch("/split", { headers: { "x-user": user } })).text();
      outcome[user] = text === "canary";
    }));
  }
  const inside = Object.values(outcome).filter(Boolean).length;
  assert.ok(inside >= 250 && inside <= 350, `${inside} of 1000 callers in a 30% share`);
  for (const user of users.slice(0, 50)) {
    const text = await (await gateway.fetch("/split", { headers: { "x-user": user } })).text();
    assert.equal(text === "canary", outcome[user], `${user} stays where it was`);
  }
  const anonymous = await gateway.fetch("/split");
  assert.equal((await anonymous.json()).origin, "main", "a caller without the key is never in the share");
});

test("a route chooses its service by condition: cookie or claim, else its own", async () => {
  assert.equal((await (await gateway.fetch("/choose")).json()).origin, "main");
  assert.equal((await (await gateway.fetch("/choose", { headers: { cookie: "plan=beta" } })).json()).origin, "beta");
  const claimed = await gateway.fetch("/choose", { headers: await bearer({ tenant: "beta-corp" }) });
  assert.equal((await claimed.json()).origin, "beta");
  const other = await gateway.fetch("/choose", { headers: await bearer() });
  assert.equal((await other.json()).origin, "main");
});

test("an imported OpenAPI document (YAML) becomes routes that validate, authenticate and mock", async () => {
  const { execFile } = await import("node:child_process");
  const { promisify } = await import("node:util");
  const fs = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const { ROOT } = await import("./harness.mjs");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "import-"));
  const file = path.join(dir, "pets.yaml");
  fs.writeFileSync(file, `openapi: 3.0.3
info: {title: pets, version: "1"}
servers: [{url: "${origin.url}"}]
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Api-Key}
paths:
  /pets:
    get:
      operationId: listPets
      parameters: [{name: limit, in: query, schema: {type: integer, maximum: 50}}]
      responses:
        "200": {description: ok, content: {application/json: {example: [{id: 1, name: Rex}]}}}
    post:
      operationId: createPet
      security: [{key: []}]
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, required: [name], properties: {name: {type: string}}}
      responses: {"201": {description: made}}
`);
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [path.join(ROOT, "scripts/import-openapi.mjs"), file, "--mock"], { cwd: ROOT });
  const document = JSON.parse(stdout);
  assert.deepEqual(document.routes.map((r) => `${r.methods[0]} ${r.path} ${r.name}`), ["GET /pets list-pets", "POST /pets create-pet"]);
  assert.doesNotMatch(stderr, /does not validate/);
  const imported = await startGateway({ document });
  try {
    const listed = await imported.fetch("/pets?limit=5");
    assert.equal(listed.status, 200);
    assert.deepEqual(await listed.json(), [{ id: 1, name: "Rex" }], "answered from the example");
    const tooMany = await imported.fetch("/pets?limit=500");
    assert.equal(tooMany.status, 400);
    assert.equal((await tooMany.json()).violations[0].pointer, "/limit");
    const anonymous = await imported.fetch("/pets", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(anonymous.status, 401, "the operation's security became the route's auth");
  } finally {
    await imported.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
