// The documented commands: offline validation and pushing a document to KV with wrangler.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { startOrigin, startGateway, documentFor, rawRequest, ADMIN_TOKEN, ROOT } from "./harness.mjs";

const run = promisify(execFile);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-commands-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function validate(...files) {
  try {
    const { stdout, stderr } = await run("bash", [path.join(ROOT, "scripts/validate.sh"), ...files], { cwd: ROOT });
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    return { code: e.code, output: `${e.stdout}${e.stderr}` };
  }
}

test("validate: the shipped route documents are valid", async () => {
  const { code, output } = await validate();
  assert.equal(code, 0, output);
  assert.match(output, /gateway\.json: valid/);
});

test("validate: every problem is printed with its JSON path and the command fails", async () => {
  const file = path.join(tmp, "broken.json");
  fs.writeFileSync(file, JSON.stringify({
    version: 1,
    services: { users: { upstreams: ["http://127.0.0.1:1"], timeout_ms: 999999 } },
    routes: [
      { name: "a", path: "/a/{id}", service: "users", upstream_path: "/x/{nope}" },
      { name: "a", path: "/a/{other}", service: "users", cache: true },
    ],
  }));
  const { code, output } = await validate(file);
  assert.equal(code, 1);
  for (const p of ["$.services.users.timeout_ms", "$.routes[0].upstream_path", "$.routes[1].name", "$.routes[1].cache"]) {
    assert.ok(output.includes(p), `missing ${p} in:\n${output}`);
  }
});

test("push: `npm run push -- --local FILE` writes KV that the gateway then serves", async () => {
  const origin = await startOrigin("pushed");
  const state = path.join(tmp, "state");
  const file = path.join(tmp, "routes.json");
  fs.writeFileSync(file, JSON.stringify(documentFor({ app: origin.url }, [{ name: "p", path: "/p", service: "app" }])));
  await run("bash", [path.join(ROOT, "scripts/push.sh"), "--local", file], {
    cwd: ROOT,
    env: { ...process.env, GATEWAY_STATE: state, WRANGLER_SEND_METRICS: "false" },
  });
  const gateway = await startGateway({ persistTo: state });
  try {
    const res = await rawRequest(gateway.url, { path: "/p" });
    assert.equal(res.status, 200);
    assert.equal(res.json.origin, "pushed");
    // The push was recorded as a version, exactly as the admin API records one.
    const list = await (await fetch(`${gateway.url}/__gateway/config/versions`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })).json();
    const version = createHash("sha256").update(fs.readFileSync(file)).digest("hex").slice(0, 16);
    assert.deepEqual(list.versions.map((v) => [v.version, v.current, v.routes]), [[version, true, 1]]);
  } finally {
    await gateway.close();
    await origin.close();
  }
});

test("push: an invalid document is refused before it reaches KV", async () => {
  const file = path.join(tmp, "invalid.json");
  fs.writeFileSync(file, '{"version": 1, "services": {}, "routes": [], "extra": 1}');
  await assert.rejects(
    run("bash", [path.join(ROOT, "scripts/push.sh"), "--local", file], {
      cwd: ROOT,
      env: { ...process.env, GATEWAY_STATE: path.join(tmp, "state-2") },
    }),
    (e) => e.code === 1 && /\$\.extra/.test(e.stderr),
  );
  assert.equal(fs.existsSync(path.join(tmp, "state-2")), false);
});

test("the JSON Schema and the gateway agree on valid and invalid documents", async () => {
  const { default: Ajv2020 } = await import("ajv/dist/2020.js");
  const schema = JSON.parse(fs.readFileSync(path.join(ROOT, "routes/gateway.schema.json"), "utf8"));
  const check = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
  const base = () => ({
    version: 1,
    services: { s: { upstreams: ["http://127.0.0.1:9/base"], timeout_ms: 100 } },
    routes: [{ name: "r", methods: ["GET"], path: "/r/{id}", service: "s", upstream_path: "/x/{id}" }],
  });
  // Cross-references (a route naming an undefined service or policy) are beyond a JSON Schema;
  // the gateway's own tests cover them.
  const cases = {
    valid: [
      base(),
      { ...base(), services: { s: { upstreams: ["https://xn--bcher-kva.example/api/v1"] } } },
      JSON.parse(fs.readFileSync(path.join(ROOT, "routes/gateway.json"), "utf8")),
      {
        ...base(),
        rate_limits: {
          a: { rate: { limit: 5, period_seconds: 60, burst: 2 }, key: ["ip", "header:x-api-key"], on_error: "deny", timeout_ms: 500 },
          b: { quota: { limit: 100, window: 3600 } },
          c: { quota: { limit: 100, window: "day" }, mode: "approximate", lease: 25 },
          d: { rate: { limit: 100, period_seconds: 1 }, mode: "exact" },
        },
        routes: [{ name: "r", path: "/r", service: "s", rate_limits: ["a", "b", "c", "d"] }],
      },
      {
        ...base(),
        routes: [
          { name: "a", path: "/a", service: "s", cache: { mode: "origin", stale_while_revalidate_seconds: 30, global: true, ignore_query: ["utm_*"], sort_query: true, tags: ["catalog"] } },
          { name: "b", path: "/b", service: "s", cache: { mode: "override", ttl_seconds: 60, statuses: [200, 404], shared: true, max_body_bytes: 2048 } },
          { name: "c", path: "/c", service: "s", cache: { mode: "off" } },
        ],
      },
      {
        ...base(),
        routes: [{ name: "v", path: "/v/{id}", methods: ["GET"], aggregate: { compose: "merge", timeout_ms: 500, report: true, backends: [
          { name: "a", service: "s", path: "/a/{id}?q={query.q}", required: true, timeout_ms: 100, fields: { allow: ["x.y"], deny: ["z"], rename: { x: "w" } } },
          { name: "b", service: "s", path: "/b/{a.x.y}", required: false, fallback: { body: { none: true } } },
        ] } }],
      },
      {
        ...base(),
        services: {
          s: { upstreams: ["http://127.0.0.1:9", { url: "http://127.0.0.1:8/x", weight: 0 }], retry: { attempts: 2, backoff_ms: 10, max_backoff_ms: 100, statuses: [503], budget_percent: 10 },
               circuit_breaker: { failure_threshold: 3, open_seconds: 10 }, sticky: { cookie: "sid" } },
          t: { upstreams: ["http://127.0.0.1:7"] },
        },
        routes: [{ name: "r", path: "/r", service: "s", timeout_ms: 500, fallback: { status: 503, headers: { "retry-after": "5" }, body: [] }, versions: { header: "x-api-version", services: { 2: "t" } } }],
      },
      {
        ...base(),
        security: { cors: { allow_origins: ["https://app.example.com", "https://*.example.org", "*"], allow_methods: ["GET"], allow_headers: ["content-type"], expose_headers: ["x-total"], allow_credentials: true, max_age_seconds: 60 }, ip: { deny: ["192.0.2.0/24"] } },
        routes: [{ name: "r", path: "/r", service: "s", security: { ip: { allow: ["10.0.0.0/8", "2001:db8::/32"], deny: ["10.1.1.1"] }, limits: { max_body_bytes: 1000, max_header_bytes: 4096, max_headers: 40 } } }],
      },
      { ...base(), changes: { retention: { keep_versions: 5, keep_days: 0 }, rollout: { percent: 25, check_seconds: 10, healthy_seconds: 300, min_requests: 50, max_error_rate_increase_percent: 1, max_latency_increase_percent: 20 } } },
      { ...base(), access_log: { sample_successes_percent: 10, headers: ["user-agent", "x-version"], omit: ["host", "span_id"] } },
      { ...base(), services: { s: { upstreams: ["http://127.0.0.1:9"], max_concurrent: 20 } } },
      { ...base(), services: { s: { upstreams: ["http://127.0.0.1:9"], global_concurrency: { limit: 100, queue_ms: 250 } } } },
      { ...base(), services: { s: { upstreams: ["http://127.0.0.1:9"], health_check: { path: "/health", interval_seconds: 5, timeout_ms: 1000, expected_statuses: [200, 204], healthy_threshold: 2, unhealthy_threshold: 3 } } } },
      { ...base(), auth: { issuers: { idp: { issuer: "https://idp.example.com", audiences: ["api"], algorithms: ["RS256"], discovery: true, introspection: { client_id: "gw", client_secret_var: "IDP_SECRET", cache_seconds: 60 } } } } },
      { ...base(), services: { s: { upstreams: ["http://127.0.0.1:9"], client_credentials: { token_url: "https://idp.example.com/token", client_id: "gw", client_secret_var: "GW_SECRET", scope: "a b", resource: "https://api.example.com" } } } },
      { ...base(), auth: { client_certificates: { consumers: { partner: { fingerprints: ["AB".repeat(32)], scopes: ["a"], plan: "gold" }, auditor: { subjects: ["CN=auditor"] } } } },
        routes: [{ name: "r", path: "/r", service: "s", auth: { mode: "required", schemes: ["basic", "mtls", "api_key"] } }] },
      { ...base(), auth: { signatures: { max_age_seconds: 60, components: ["@method", "@path", "@authority", "@query"], keys: { k1: { secret_var: "K1", consumer: "partner", scopes: ["a"] } } } },
        routes: [{ name: "r", path: "/r", service: "s", auth: { mode: "required", schemes: ["signature"] } }] },
      { ...base(), auth: { issuers: { idp: { issuer: "https://idp.example.com", audiences: ["api"], algorithms: ["RS256"], discovery: true } },
        sessions: { web: { issuer: "idp", client_id: "web", client_secret_var: "WEB_SECRET", key_var: "SESSION_KEY", scopes: ["openid", "email"], callback_path: "/login/cb", logout_path: "/logout", after_logout: "https://www.example.com/", refresh_before_seconds: 30, max_age_seconds: 3600 } } },
        routes: [{ name: "r", path: "/r", service: "s", auth: { mode: "required", session: "web" } }] },
      { ...base(), auth: { issuers: { opaque: { issuer: "https://idp.example.com", audiences: ["api"], introspection: { client_id: "gw", client_secret_var: "IDP_SECRET", endpoint: "https://idp.example.com/introspect" },
        oauth2: { token_url: "https://idp.example.com/token", authorization_url: "https://idp.example.com/authorize", scopes: { "orders:read": "Read orders" } } } } } },
      {
        ...base(),
        specs: { pets: { openapi: "3.1.0", paths: { "/p": { get: { operationId: "list", responses: { 200: { description: "ok", content: { "application/json": { example: [] } } } } } } } } },
        routes: [{
          name: "r", path: "/r/{id}", service: "s",
          choose: [{ when: { cookie: { plan: "beta" }, percent: { value: 12.5, by: "cookie:uid" } }, service: "s" }],
          policies: [
            { name: "a", when: { any: [{ header: { "x-beta": "1" } }, { claim: { tier: { gte: 2 } } }], not: { country: ["NZ"] } }, worker: { binding: "POLICY", timeout_ms: 200, on_error: "allow", body_bytes: 4096, response: true } },
            { name: "b", http: { url: "https://auth.example/check", cache_seconds: 10 } },
            { name: "c", transform: { request: { headers: { set: { "x-user": "{claim:sub}" }, remove: ["x-debug"] }, query: { set: { v: "2" } }, body: [{ op: "set", path: "/id", value_from: "param:id" }, { op: "move", from: "/a", path: "/b" }, { op: "wrap", path: "/data" }] }, response: { body: [{ op: "unwrap", path: "/data" }] } } },
            { name: "d", validate: { params: { properties: { id: { type: "integer" } } }, query: { properties: { q: { type: "string" } }, required: ["q"] }, body: { type: "object" } } },
            { name: "e", validate: { spec: "pets", operation: "list" } },
            { name: "f", mock: { status: 201, headers: { "x-mock": "1" }, body: { ok: true } } },
          ],
        }],
      },
      { ...base(), firewall: { mode: "log", paranoia: 3, threshold: 10, body_bytes: 0 } },
      {
        ...base(),
        firewall: {
          exclude: [{ rules: [942100, "xss", "bots"], targets: ["body:/post/*/html", "query:q"] }, { targets: ["header:x-raw"] }],
          rules: [
            { id: "bots", target: "cf:botManagement.score", operator: "lt", value: 30, score: 5 },
            { id: "office", target: "ip", operator: "cidr", value: ["10.0.0.0/8"], action: "allow" },
            { id: "eu", target: "cf:country", operator: "in", value: ["DE", "FR"], negate: true, score: 2 },
            { id: "probe", target: "path", operator: "regex", value: "^/wp-(admin|login)", action: "block" },
            { id: "debug", target: "header:x-debug", operator: "exists", action: "block" },
          ],
        },
        routes: [{ ...base().routes[0], firewall: false }],
      },
    ],
    invalid: [
      { ...base(), extra: 1 },
      { ...base(), firewall: { mode: "deny" } },
      { ...base(), firewall: { paranoia: 5 } },
      { ...base(), firewall: { treshold: 5 } },
      { ...base(), firewall: { exclude: [{}] } },
      { ...base(), firewall: { exclude: [{ targets: ["params:q"] }] } },
      { ...base(), firewall: { rules: [{ id: "x", target: "ip", operator: "cidr", value: ["10.0.0.0/8"] }] } },
      { ...base(), firewall: { rules: [{ id: "x", target: "ip", operator: "near", value: "a", score: 1 }] } },
      { ...base(), firewall: { rules: [{ id: "x", target: "query", operator: "equals", value: "a", score: 1 }] } },
      { ...base(), firewall: { rules: [{ id: "942100", target: "path", operator: "equals", value: "a", score: 1 }] } },
      { ...base(), routes: [{ ...base().routes[0], firewall: true }] },
      { ...base(), version: 2 },
      { ...base(), services: { s: { upstreams: ["http://127.0.0.1:9"], timeout: 5 } } },
      { ...base(), services: { s: { upstreams: ["http://127.0.0.1:9"], timeout_ms: 0 } } },
      { ...base(), services: { s: { upstreams: [] } } },
      { ...base(), services: { s: { upstreams: ["http://user:pw@127.0.0.1:9"] } } },
      { ...base(), services: { s: { upstreams: ["https://bücher.example/api"] } } },
      { ...base(), services: { "Bad Name": { upstreams: ["http://127.0.0.1:9"] } } },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", methdos: ["GET"] }] },
      { ...base(), changes: { rollout: { percent: 100 } } },
      { ...base(), access_log: { omit: ["request_id"] } },
      { ...base(), access_log: { sample_successes_percent: 101 } },
      { ...base(), access_log: { headers: ["bad name"] } },
      { ...base(), services: { s: { upstreams: ["http://127.0.0.1:9"], max_concurrent: 0 } } },
      { ...base(), services: { s: { upstreams: ["http://127.0.0.1:9"], global_concurrency: { queue_ms: 10 } } } },
      { ...base(), services: { s: { upstreams: ["http://127.0.0.1:9"], global_concurrency: { limit: 1, queue_ms: 9000 } } } },
      { ...base(), services: { s: { upstreams: ["http://127.0.0.1:9"], health_check: { path: "health" } } } },
      { ...base(), services: { s: { upstreams: ["http://127.0.0.1:9"], health_check: { interval_seconds: 5 } } } },
      { ...base(), changes: { retention: { keep_versions: 0 } } },
      { ...base(), changes: { retention: { keep: 3 } } },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", methods: ["FETCH"] }] },
      { ...base(), routes: [{ name: "r", path: "r", service: "s" }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", strip_prefix: "/r", upstream_path: "/x" }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", host: "Example.com:80" }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", request_headers: { set: { "bad name": "v" } } }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", response_headers: { add: { a: "b" } } }] },
      { ...base(), rate_limits: { p: { rate: { limit: 1, period_seconds: 1 }, quota: { limit: 1, window: "day" } } } },
      { ...base(), rate_limits: { p: { quota: { limit: 1, window: "week" } } } },
      { ...base(), rate_limits: { p: { rate: { limit: 1, period_seconds: 1 }, key: ["cookie"] } } },
      { ...base(), rate_limits: { p: { rate: { limit: 1, period_seconds: 1 }, on_error: "retry" } } },
      { ...base(), rate_limits: { p: { rate: { limit: 1, period_seconds: 1 }, mode: "roughly" } } },
      { ...base(), rate_limits: { p: { quota: { limit: 10, window: "day" }, lease: 2 } } },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", cache: { mode: "override" } }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", cache: { mode: "origin", ttl_seconds: 5 } }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", cache: { mode: "origin", ttl: 5 } }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", cache: { mode: "always" } }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", cache: { mode: "origin", tags: ["a,b"] } }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", cache: { mode: "override", ttl_seconds: 9999999 } }] },
      { ...base(), routes: [{ name: "r", path: "/r" }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", aggregate: { backends: [{ name: "a", service: "s", path: "/a" }] } }] },
      { ...base(), routes: [{ name: "r", path: "/r", aggregate: { backends: [] } }] },
      { ...base(), routes: [{ name: "r", path: "/r", aggregate: { compose: "zip", backends: [{ name: "a", service: "s", path: "/a" }] } }] },
      { ...base(), routes: [{ name: "r", path: "/r", strip_prefix: "/r", aggregate: { backends: [{ name: "a", service: "s", path: "/a" }] } }] },
      { ...base(), routes: [{ name: "r", path: "/r", aggregate: { backends: [{ name: "a", service: "s", path: "a", retries: 2 }] } }] },
      { ...base(), services: { s: { upstreams: ["http://127.0.0.1:9"], retry: { attempts: 9 } } } },
      { ...base(), services: { s: { upstreams: ["http://127.0.0.1:9"], sticky: { header: "a", cookie: "b" } } } },
      { ...base(), services: { s: { upstreams: [{ url: "http://127.0.0.1:9", weight: -1 }] } } },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", fallback: { status: 99 } }] },
      { ...base(), security: { cors: { allow_origins: ["app.example.com"] } } },
      { ...base(), security: { cors: {} } },
      { ...base(), security: { firewall: {} } },
      { ...base(), security: { limits: { max_headers: 500 } } },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", security: { ip: { allow: ["10.0.0.0/8"], block: [] } } }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", policies: [{ name: "a", mock: {}, worker: { binding: "P" } }] }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", policies: [{ name: "a", worker: { binding: "P", on_error: "retry" } }] }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", policies: [{ name: "a", transform: { request: { body: [{ op: "set", path: "no-slash", value: 1 }] } } }] }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", policies: [{ name: "a", transform: { request: { body: [{ op: "jump", path: "/a" }] } } }] }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", policies: [{ name: "a", when: { percent: { value: 101 } }, mock: {} }] }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", policies: [{ name: "a", when: { weekday: "mon" }, mock: {} }] }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", policies: [{ name: "a", http: { url: "ftp://x" } }] }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", policies: [{ name: "a", validate: { spec: "pets" } }] }] },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", choose: [{ service: "s" }] }] },
      { ...base(), specs: { pets: { swagger: "2.0", paths: {} } } },
      { ...base(), auth: { issuers: { idp: { issuer: "https://idp.example.com", audiences: ["api"], introspection: { client_id: "gw" } } } } },
      { ...base(), auth: { issuers: { idp: { issuer: "https://idp.example.com", audiences: ["api"], introspection: { client_id: "gw", client_secret_var: "bad-name", endpoint: "https://idp.example.com/i" } } } } },
      { ...base(), auth: { issuers: { idp: { issuer: "https://idp.example.com", audiences: ["api"], discovery: true } } } },
      { ...base(), services: { s: { upstreams: ["http://127.0.0.1:9"], client_credentials: { token_url: "https://idp.example.com/token", client_id: "gw" } } } },
      { ...base(), auth: { client_certificates: { consumers: { partner: { fingerprints: ["xyz"] } } } } },
      { ...base(), auth: { client_certificates: { consumers: { partner: { scopes: ["a"] } } } } },
      { ...base(), routes: [{ name: "r", path: "/r", service: "s", auth: { mode: "required", schemes: ["kerberos"] } }] },
      { ...base(), auth: { signatures: { keys: { k1: { secret: "inline" } } } } },
      { ...base(), auth: { signatures: { max_age_seconds: 0, keys: {} } } },
      { ...base(), auth: { issuers: { opaque: { issuer: "https://idp.example.com", audiences: ["api"], introspection: { client_id: "gw", client_secret_var: "IDP_SECRET", endpoint: "https://idp.example.com/introspect" }, oauth2: { authorization_url: "https://idp.example.com/a" } } } } },
      { ...base(), auth: { issuers: { idp: { issuer: "https://idp.example.com", audiences: ["api"], algorithms: ["RS256"], discovery: true } },
        sessions: { web: { issuer: "idp", client_id: "web", client_secret_var: "WEB_SECRET", key_var: "SESSION_KEY", scopes: ["email"] } } } },
      { ...base(), auth: { issuers: { idp: { issuer: "https://idp.example.com", audiences: ["api"], algorithms: ["RS256"], discovery: true } },
        sessions: { web: { issuer: "idp", client_id: "web", client_secret_var: "WEB_SECRET", key_var: "SESSION_KEY", callback_path: "//evil" } } } },
    ],
  };
  const files = [];
  for (const [kind, docs] of Object.entries(cases)) {
    docs.forEach((doc, i) => {
      const file = path.join(tmp, `${kind}-${i}.json`);
      fs.writeFileSync(file, JSON.stringify(doc));
      files.push({ kind, file, doc });
    });
  }
  let report;
  try {
    ({ stdout: report } = await run("cargo", ["run", "--quiet", "--locked", "--bin", "gateway-config", "--", "validate", "--json", ...files.map((f) => f.file)], { cwd: ROOT }));
  } catch (e) {
    report = e.stdout;
  }
  const results = JSON.parse(report);
  files.forEach(({ kind, file, doc }, i) => {
    assert.equal(results[i].file, file);
    assert.equal(results[i].valid, kind === "valid", `gateway on ${JSON.stringify(doc)}: ${JSON.stringify(results[i].errors)}`);
    assert.equal(check(doc), kind === "valid", `schema on ${JSON.stringify(doc)}: ${JSON.stringify(check.errors)}`);
  });
});
