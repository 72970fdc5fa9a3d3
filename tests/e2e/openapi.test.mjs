// The OpenAPI 3.1 document generated from the route configuration, validated against the
// OpenAPI 3.1 schema, served publicly where the configuration says and to the admin API.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { startGateway, ADMIN_TOKEN, ROOT } from "./harness.mjs";

let gateway;
const shipped = JSON.parse(fs.readFileSync(path.join(ROOT, "routes/gateway.json"), "utf8"));

// Everything the generator describes: auth alternatives, scopes, cookies, rate limits, caching,
// size limits, catch-alls, host-specific routes, aggregation, WebSockets and policies.
const wide = {
  version: 1,
  openapi: { title: "Wide", version: "2.3.0", servers: ["https://api.example.com"] },
  services: { a: { upstreams: ["http://127.0.0.1:1"] }, b: { upstreams: ["http://127.0.0.1:2"] } },
  auth: {
    issuers: {
      idp: { issuer: "https://idp.test/", audiences: ["api"], algorithms: ["RS256"], jwks_url: "http://127.0.0.1:3/jwks" },
      oidc: { issuer: "https://oidc.test", audiences: ["api"], algorithms: ["RS256"], discovery: true },
    },
    signatures: { keys: { partner: { secret_var: "PARTNER_KEY" } } },
    api_keys: { header: "x-key" },
  },
  rate_limits: { "per-ip": { quota: { limit: 10, window: "minute" }, key: ["ip"] } },
  routes: [
    { name: "item", methods: ["GET", "PUT", "DELETE"], path: "/items/{id}", service: "a",
      auth: { mode: "required", schemes: ["jwt", "api_key"], scopes: { all_of: ["items:write"] } },
      rate_limits: ["per-ip"], security: { limits: { max_body_bytes: 1024 } } },
    { name: "files", methods: ["GET"], path: "/files/{*rest}", service: "b", cache: { mode: "origin" } },
    { name: "admin-files", methods: ["GET"], host: "admin.example.com", path: "/files/{*rest}", service: "a" },
    { name: "session", methods: ["GET"], path: "/me", service: "a", auth: { mode: "optional", cookie: "sid" } },
    { name: "live", methods: ["GET"], path: "/live", service: "b", websocket: true },
    { name: "checked", methods: ["POST"], path: "/checked/{id}", service: "a", policies: [
      { name: "shape", validate: { params: { properties: { id: { type: "integer", minimum: 1 } } },
        query: { properties: { dry: { type: "boolean" } }, required: ["dry"] },
        headers: { properties: { "x-tenant": { type: "string" } } },
        body: { $ref: "#/$defs/item", $defs: { item: { type: "object", required: ["name"], properties: { name: { type: "string" } } } } } } },
      { name: "ext", when: { header: { "x-beta": "1" } }, http: { url: "https://auth.example/check" } }] },
    { name: "partners", methods: ["POST"], path: "/partners", service: "a", auth: { mode: "required", schemes: ["basic", "mtls", "signature", "jwt"], issuers: ["oidc"] } },
    { name: "canned", methods: ["GET"], path: "/canned", service: "a", policies: [{ name: "demo", mock: { status: 201, body: { ok: true } } }] },
    { name: "view", path: "/view/{id}", aggregate: { backends: [
      { name: "x", service: "a", path: "/x/{id}" }, { name: "y", service: "b", path: "/y/{id}" }] } },
  ],
};

async function valid(doc) {
  const result = await new Validator().validate(structuredClone(doc));
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
}

before(async () => {
  gateway = await startGateway({ document: shipped });
});

after(() => gateway?.close());

test("the shipped configuration's document is served publicly and validates against OpenAPI 3.1", async () => {
  const res = await gateway.fetch("/openapi.json");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /application\/json/);
  const doc = await res.json();
  assert.equal(doc.openapi, "3.1.0");
  assert.equal(doc.info.title, "Demo shop API");
  await valid(doc);
  for (const route of shipped.routes) {
    const openapiPath = route.path.replace("{*", "{");
    assert.ok(doc.paths[openapiPath], `${route.name} is described at ${openapiPath}`);
  }
  // The invalid variant is caught: the validator is not a rubber stamp.
  const broken = structuredClone(doc);
  broken.paths["/api/users/{id}"].get.responses = { oops: {} };
  assert.equal((await new Validator().validate(broken)).valid, false);
});

test("every feature the generator describes still validates, and reads as configured", async () => {
  await gateway.push(wide);
  await gateway.waitForRefresh();
  const res = await gateway.fetch("/__gateway/openapi.json", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(res.status, 200);
  const doc = await res.json();
  await valid(doc);
  assert.equal(doc.info.version, "2.3.0");
  const item = doc.paths["/items/{id}"];
  assert.deepEqual(Object.keys(item).sort(), ["delete", "get", "put"]);
  assert.deepEqual(item.put.security, [{ bearer: [] }, { "oidc-oidc": [] }, { apiKey: [] }]);
  assert.equal(item.put["x-gateway-scopes"], "items:write");
  assert.deepEqual(Object.keys(item.put.responses).sort(),
    ["400", "401", "403", "408", "411", "413", "429", "431", "502", "503", "504", "default"]);
  assert.equal(doc.components.securitySchemes.apiKey.name, "x-key");
  assert.equal(doc.components.securitySchemes["cookie-sid"].in, "cookie");
  assert.deepEqual(doc.paths["/me"].get.security, [{ bearer: [] }, { "oidc-oidc": [] }, { "cookie-sid": [] }, {}]);
  assert.ok(doc.paths["/files/{rest}"].get.responses.default.headers["X-Cache"]);
  assert.deepEqual(doc.paths["/files/{rest}"].get["x-gateway-also-routes"], ["admin-files"]);
  assert.ok(doc.paths["/live"].get.responses["101"]);
  assert.match(doc.paths["/view/{id}"].get.responses.default.description, /x, y/);
  const checked = doc.paths["/checked/{id}"].post;
  assert.deepEqual(checked.parameters.map((p) => `${p.in} ${p.name} ${p.required}`),
    ["path id true", "query dry true", "header x-tenant false"]);
  assert.equal(checked.parameters[0].schema.minimum, 1);
  assert.deepEqual(checked.requestBody.content["application/json"].schema.required, ["name"]);
  assert.match(checked.responses["502"].description, /policy-failed/);
  assert.deepEqual(doc.paths["/canned"].get.responses.default.content["application/json"].example, { ok: true });
  assert.deepEqual(doc.paths["/partners"].post.security, [{ bearer: [] }, { "oidc-oidc": [] }, { basic: [] }, { mutualTLS: [] }, { signature: [] }]);
  assert.equal(doc.components.securitySchemes["oidc-oidc"].type, "openIdConnect");
  // The wide document names no public path: only the admin API serves it.
  assert.equal((await gateway.fetch("/openapi.json")).status, 404);
  assert.equal((await gateway.fetch("/__gateway/openapi.json")).status, 401);
});
