// OAuth2 and OpenID Connect end to end against a real provider (`oidc-provider` from npm,
// started here): discovery instead of a configured key set, opaque tokens by introspection
// (active, inactive, revoked), their scopes and claims feeding the route like a JWT's.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, startGateway } from "./harness.mjs";
import { startProvider } from "./oidc.mjs";

let idp, origin, guarded, gateway;
let lastToken;

/** What the guarded service thinks of a bearer token: it asks the provider itself. */
async function introspectAtProvider(token) {
  const res = await fetch(`${idp.issuer}/token/introspection`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from("gateway:gateway-secret").toString("base64")}` },
    body: new URLSearchParams({ token }).toString(),
  });
  return res.json();
}

before(async () => {
  idp = await startProvider();
  origin = await startOrigin("api");
  // A service that accepts only active tokens of the provider, as a resource server would.
  guarded = await startOrigin("guarded", async (req, body, res) => {
    const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    lastToken = token;
    const answer = token ? await introspectAtProvider(token) : { active: false };
    if (!answer.active) {
      res.writeHead(401, { "www-authenticate": "Bearer" });
      res.end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ client: answer.client_id, scope: answer.scope }));
  });
  gateway = await startGateway({
    bindings: { IDP_CLIENT_SECRET: "gateway-secret", MACHINE_SECRET: "machine-secret" },
    document: {
      version: 1,
      services: {
        api: { upstreams: [origin.url] },
        guarded: {
          upstreams: [guarded.url],
          client_credentials: { token_url: `${idp.issuer}/token`, client_id: "machine", client_secret_var: "MACHINE_SECRET", scope: "api:read" },
        },
      },
      auth: {
        issuers: {
          idp: {
            issuer: idp.issuer, audiences: ["api"], algorithms: ["RS256"], discovery: true,
            introspection: { client_id: "gateway", client_secret_var: "IDP_CLIENT_SECRET", cache_seconds: 2, negative_cache_seconds: 1 },
          },
        },
      },
      routes: [
        { name: "read", path: "/read", service: "api", auth: { mode: "required", scopes: { all_of: ["api:read"] }, forward_claims: { client_id: "x-client-id", scope: "x-scope" } } },
        { name: "write", path: "/write", service: "api", auth: { mode: "required", scopes: { all_of: ["api:write"] } } },
        { name: "guarded", path: "/guarded", service: "guarded" },
      ],
    },
  });
});

after(async () => {
  await gateway?.close();
  await origin?.close();
  await guarded?.close();
  await idp?.close();
});

const bearer = (token) => ({ authorization: `Bearer ${token}` });

test("a JWT is verified with the keys discovery found, fetched once for concurrent requests", async () => {
  const token = await idp.clientToken("jwt-machine", "jwt-machine-secret");
  const answers = await Promise.all(Array.from({ length: 8 }, () => gateway.fetch("/read", { headers: bearer(token) })));
  for (const res of answers) {
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  }
  assert.equal(idp.hits["/.well-known/openid-configuration"], 1, "one discovery fetch");
  assert.equal(idp.hits["/jwks"], 1, "one key-set fetch");
  const seen = origin.requests[origin.requests.length - 1];
  assert.equal(seen.headers["x-client-id"], "jwt-machine");
  assert.equal(seen.headers.authorization, undefined);
  const log = gateway.accessLogs().find((l) => l.path === "/read");
  assert.equal(log.auth, "jwt");
});

test("an opaque token is introspected once, then served from the cache, its claims forwarded", async () => {
  const token = await idp.clientToken("machine", "machine-secret", "api:read");
  const before = idp.hits["/token/introspection"] ?? 0;
  for (let i = 0; i < 3; i++) {
    const res = await gateway.fetch("/read", { headers: bearer(token) });
    assert.equal(res.status, 200);
    const seen = await res.json();
    assert.equal(seen.headers["x-client-id"], "machine");
    assert.equal(seen.headers["x-scope"], "api:read");
  }
  assert.equal(idp.hits["/token/introspection"], before + 1, "one introspection for three requests");
  const log = gateway.accessLogs().filter((l) => l.path === "/read").pop();
  assert.equal(log.auth, "oauth2");
  assert.equal(log.principal, "machine");
});

test("the token's scopes decide the route: a read-only token may not write", async () => {
  const token = await idp.clientToken("machine", "machine-secret", "api:read");
  const res = await gateway.fetch("/write", { headers: bearer(token) });
  assert.equal(res.status, 403);
  assert.match(res.headers.get("www-authenticate"), /insufficient_scope/);
  const writer = await idp.clientToken("machine", "machine-secret", "api:read api:write");
  assert.equal((await gateway.fetch("/write", { headers: bearer(writer) })).status, 200);
});

test("inactive and revoked tokens get 401 invalid_token; a revocation is seen once the cache ends", async () => {
  const unknown = await gateway.fetch("/read", { headers: bearer("not-a-token-the-provider-issued") });
  assert.equal(unknown.status, 401);
  assert.match(unknown.headers.get("www-authenticate"), /invalid_token/);
  assert.equal((await unknown.json()).code, "unauthenticated");

  const revokedFirst = await idp.clientToken("machine", "machine-secret");
  await idp.revoke(revokedFirst, "machine", "machine-secret");
  assert.equal((await gateway.fetch("/read", { headers: bearer(revokedFirst) })).status, 401);

  const token = await idp.clientToken("machine", "machine-secret");
  assert.equal((await gateway.fetch("/read", { headers: bearer(token) })).status, 200);
  await idp.revoke(token, "machine", "machine-secret");
  await new Promise((resolve) => setTimeout(resolve, 2200));
  assert.equal((await gateway.fetch("/read", { headers: bearer(token) })).status, 401, "refused after cache_seconds");
});

test("no token or client secret reaches a log line", async () => {
  const token = await idp.clientToken("machine", "machine-secret");
  await (await gateway.fetch("/read", { headers: bearer(token) })).arrayBuffer();
  const all = gateway.logs.map((l) => l.message).join("\n");
  assert.ok(!all.includes(token), "the opaque token is not logged");
  assert.ok(!all.includes("gateway-secret"), "the client secret is not logged");
});

test("calls to a service that requires tokens carry a client-credentials token, renewed when refused", async () => {
  const before = idp.hits["/token"] ?? 0;
  for (let i = 0; i < 3; i++) {
    const res = await gateway.fetch("/guarded", { headers: { authorization: "Bearer from-the-client" } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { client: "machine", scope: "api:read" });
  }
  assert.equal(idp.hits["/token"], before + 1, "one token for three calls");
  // The provider revokes it: the service refuses it once, and the gateway asks for another.
  await idp.revoke(lastToken, "machine", "machine-secret");
  assert.equal((await gateway.fetch("/guarded")).status, 401);
  const again = await gateway.fetch("/guarded");
  assert.equal(again.status, 200);
  await again.arrayBuffer();
  assert.equal(idp.hits["/token"], before + 2);
  const all = gateway.logs.map((l) => l.message).join("\n");
  assert.ok(!all.includes(lastToken) && !all.includes("machine-secret"), "tokens and secrets stay out of the logs");
});
