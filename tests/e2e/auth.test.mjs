// Authentication end to end: tokens minted by an independent library (jose), a JWKS served by
// a real local HTTP server with key rotation, attack tokens, API keys created by the documented
// command, scopes, roles, claim forwarding and plans.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import * as jose from "jose";
import { startOrigin, startGateway, rawRequest, closedPort, ROOT } from "./harness.mjs";

const run = promisify(execFile);
const ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];
const now = () => Math.floor(Date.now() / 1000);

let origin, gateway, jwks, stalling, state, document;
const inline = {}; // alg -> { sign key, kid }
let idpKeys = {}; // kid -> { privateKey, jwk }
let served = []; // JWKs currently published
let jwksHits = 0;
let pemKey, pemP384;

async function keyFor(alg) {
  if (alg.startsWith("HS")) {
    const bytes = crypto.getRandomValues(new Uint8Array(64));
    return { privateKey: bytes, jwk: { kty: "oct", k: jose.base64url.encode(bytes) } };
  }
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, alg === "EdDSA" ? { crv: "Ed25519" } : {});
  return { privateKey, publicKey, jwk: await jose.exportJWK(publicKey) };
}

function mint({ alg, key, kid, iss, claims = {}, exp = now() + 300, aud = "api" }) {
  const jwt = new jose.SignJWT({ sub: "user-1", ...claims })
    .setProtectedHeader(kid ? { alg, kid } : { alg })
    .setIssuer(iss)
    .setIssuedAt()
    .setAudience(aud);
  if (exp !== null) jwt.setExpirationTime(exp);
  return jwt.sign(key);
}

function signedByHand(header, payload, secret) {
  const input = `${jose.base64url.encode(JSON.stringify(header))}.${jose.base64url.encode(JSON.stringify(payload))}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

const inlineToken = (alg, options = {}) =>
  mint({ alg, key: inline[alg].privateKey, kid: inline[alg].kid, iss: "https://inline.test/", ...options });

async function rotateTo(kids) {
  served = kids.map((kid) => ({ ...idpKeys[kid].jwk, kid, alg: idpKeys[kid].alg, use: "sig" }));
}

before(async () => {
  for (const alg of ALGS) {
    const key = await keyFor(alg);
    inline[alg] = { ...key, kid: `inline-${alg}` };
  }
  for (const [kid, alg] of [["idp-1", "RS256"], ["idp-2", "ES256"], ["idp-3", "RS256"]]) {
    idpKeys[kid] = { ...(await keyFor(alg)), alg };
  }
  await rotateTo(["idp-1", "idp-2"]);
  const { privateKey, publicKey } = await jose.generateKeyPair("RS256");
  pemKey = { privateKey, pem: await jose.exportSPKI(publicKey) };
  const p384 = await jose.generateKeyPair("ES384");
  pemP384 = { privateKey: p384.privateKey, pem: await jose.exportSPKI(p384.publicKey) };

  jwks = http.createServer((req, res) => {
    jwksHits++;
    res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=300" });
    res.end(JSON.stringify({ keys: served }));
  });
  await new Promise((resolve) => jwks.listen(0, "127.0.0.1", resolve));
  const jwksUrl = `http://127.0.0.1:${jwks.address().port}/jwks.json`;
  const down = await closedPort();
  // Two IdPs that stall: one never answers, the other sends its headers and half a key set.
  stalling = http.createServer((req, res) => {
    if (req.url === "/halfway") {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"keys": [');
    }
  });
  await new Promise((resolve) => stalling.listen(0, "127.0.0.1", resolve));
  const stallingUrl = `http://127.0.0.1:${stalling.address().port}`;

  origin = await startOrigin("app");
  state = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-auth-"));
  const route = (name, auth, extra = {}) => ({ name, path: `/${name}`, service: "app", auth, ...extra });
  const required = { mode: "required", schemes: ["jwt", "api_key"], forward_claims: { sub: "x-user-id" } };
  document = {
      version: 1,
      services: { app: { upstreams: [origin.url] } },
      auth: {
        issuers: {
          inline: {
            issuer: "https://inline.test/", audiences: ["api"], algorithms: ALGS,
            keys: ALGS.map((alg) => ({ ...inline[alg].jwk, kid: inline[alg].kid, alg })),
            roles_claim: "realm.roles", plan_claim: "plan", required_claims: ["sub"],
          },
          idp: {
            issuer: "https://idp.test/", audiences: ["api", "other"], algorithms: ["RS256", "ES256"],
            jwks_url: jwksUrl, jwks_refetch_seconds: 2,
          },
          pem: { issuer: "https://pem.test/", audiences: ["api"], algorithms: ["RS256", "ES384"],
            keys: [{ pem: pemKey.pem, kid: "pem-1" }, { pem: pemP384.pem, kid: "pem-2" }] },
          down: { issuer: "https://down.test/", audiences: ["api"], algorithms: ["RS256"], jwks_url: `http://127.0.0.1:${down}/jwks` },
          silent: { issuer: "https://silent.test/", audiences: ["api"], algorithms: ["RS256"], jwks_url: `${stallingUrl}/silent` },
          halfway: { issuer: "https://halfway.test/", audiences: ["api"], algorithms: ["RS256"], jwks_url: `${stallingUrl}/halfway` },
        },
        api_keys: { header: "x-api-key" },
      },
      routes: [
        route("secure", required),
        route("optional", { ...required, mode: "optional" }),
        route("scoped", { ...required, scopes: { all_of: ["orders:read"] } }),
        route("admins", { ...required, roles: { any_of: ["admin"] } }),
        route("cookie", { mode: "required", cookie: "session" }),
        route("forwarded", { mode: "required", forward_credentials: true }),
        route("idp-only", { mode: "required", issuers: ["idp"] }),
        route("planned", { mode: "required", schemes: ["api_key", "jwt"] }),
      ],
  };
  gateway = await startGateway({ persistTo: state, document });
});

after(async () => {
  await gateway?.close();
  await origin?.close();
  await new Promise((resolve) => jwks?.close(resolve));
  stalling?.closeAllConnections();
  await new Promise((resolve) => stalling?.close(resolve));
  fs.rmSync(state, { recursive: true, force: true });
});

const bearer = (token) => ({ authorization: `Bearer ${token}` });

function assertInvalid(res, label) {
  assert.equal(res.status, 401, label);
  assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="edge-gateway", error="invalid_token"', label);
}

test("tokens signed with every supported algorithm are accepted (keys inline as JWKs)", async () => {
  await gateway.fetch("/secure");
  const rejected = gateway.configEvents().find((e) => e.event === "rejected");
  assert.equal(rejected, undefined, JSON.stringify(rejected?.errors));
  for (const alg of ALGS) {
    const res = await gateway.fetch("/secure", { headers: bearer(await inlineToken(alg)) });
    assert.equal(res.status, 200, alg);
    const seen = origin.requests.at(-1).headers;
    assert.equal(seen["x-user-id"], "user-1", `${alg}: sub forwarded`);
    assert.equal(seen.authorization, undefined, `${alg}: the token stays at the gateway`);
  }
});

test("PEM keys verify their tokens (RSA and P-384)", async () => {
  const token = await mint({ alg: "RS256", key: pemKey.privateKey, kid: "pem-1", iss: "https://pem.test/" });
  assert.equal((await gateway.fetch("/secure", { headers: bearer(token) })).status, 200);
  const p384 = await mint({ alg: "ES384", key: pemP384.privateKey, kid: "pem-2", iss: "https://pem.test/" });
  assert.equal((await gateway.fetch("/secure", { headers: bearer(p384) })).status, 200);
  const foreign = await mint({ alg: "ES384", key: inline.ES384.privateKey, kid: "pem-2", iss: "https://pem.test/" });
  assertInvalid(await gateway.fetch("/secure", { headers: bearer(foreign) }), "ES384 by a key other than the PEM's");
});

test("JWKS: concurrent first requests share one fetch, then keys come from cache", async () => {
  const before = jwksHits;
  const token = await mint({ alg: "RS256", key: idpKeys["idp-1"].privateKey, kid: "idp-1", iss: "https://idp.test/" });
  const statuses = await Promise.all(Array.from({ length: 20 }, () => gateway.fetch("/secure", { headers: bearer(token) }).then((r) => r.status)));
  assert.deepEqual([...new Set(statuses)], [200]);
  const es = await mint({ alg: "ES256", key: idpKeys["idp-2"].privateKey, kid: "idp-2", iss: "https://idp.test/", aud: ["x", "other"] });
  assert.equal((await gateway.fetch("/secure", { headers: bearer(es) })).status, 200, "aud as an array");
  assert.equal(jwksHits - before, 1);
});

test("JWKS rotation: a new kid is fetched without a redeploy, the removed one stops working", async () => {
  await sleep(2100); // past the issuer's jwks_refetch_seconds since the first fetch
  const oldToken = await mint({ alg: "RS256", key: idpKeys["idp-1"].privateKey, kid: "idp-1", iss: "https://idp.test/" });
  await rotateTo(["idp-3", "idp-2"]);
  const fresh = await mint({ alg: "RS256", key: idpKeys["idp-3"].privateKey, kid: "idp-3", iss: "https://idp.test/" });
  assert.equal((await gateway.fetch("/secure", { headers: bearer(fresh) })).status, 200);
  assertInvalid(await gateway.fetch("/secure", { headers: bearer(oldToken) }), "removed kid");
});

test("forged kids cannot make the gateway hammer the IdP", async () => {
  const tokens = await Promise.all(
    Array.from({ length: 30 }, (_, i) => mint({ alg: "RS256", key: idpKeys["idp-3"].privateKey, kid: `forged-${i}`, iss: "https://idp.test/" })),
  );
  await sleep(2100);
  const before = jwksHits;
  const responses = await Promise.all(tokens.map((t) => gateway.fetch("/secure", { headers: bearer(t) })));
  responses.forEach((res, i) => assertInvalid(res, `forged kid ${i}`));
  assert.ok(jwksHits - before <= 1, `${jwksHits - before} fetches for 30 forged kids`);
});

test("attack and broken tokens are all refused with invalid_token", async () => {
  const rsaPublicPem = pemKey.pem;
  const unsigned = `${jose.base64url.encode(JSON.stringify({ alg: "none", typ: "JWT" }))}.${jose.base64url.encode(
    JSON.stringify({ iss: "https://inline.test/", aud: "api", sub: "admin", exp: now() + 300 }),
  )}.`;
  const good = await inlineToken("RS256");
  const [h, p, s] = good.split(".");
  const tampered = `${h}.${jose.base64url.encode(JSON.stringify({ ...jose.decodeJwt(good), sub: "admin" }))}.${s}`;
  const cases = {
    "alg none": unsigned,
    "alg none with the inline RS256 kid": unsigned.replace(/^[^.]+/, jose.base64url.encode(JSON.stringify({ alg: "none", kid: "inline-RS256" }))),
    "HS256 signed with the RSA public key (algorithm confusion)": await mint({
      alg: "HS256", key: new TextEncoder().encode(rsaPublicPem), kid: "pem-1", iss: "https://pem.test/",
    }),
    "HS256 keyed by the RSA JWK's kid": await mint({
      alg: "HS256", key: new TextEncoder().encode(rsaPublicPem), kid: "inline-RS256", iss: "https://inline.test/",
    }),
    expired: await inlineToken("ES256", { exp: now() - 120 }),
    "not yet valid": await mint({ alg: "ES256", key: inline.ES256.privateKey, kid: inline.ES256.kid, iss: "https://inline.test/", claims: { nbf: now() + 600 } }),
    "no exp": await inlineToken("ES256", { exp: null }),
    "wrong issuer": await mint({ alg: "ES256", key: inline.ES256.privateKey, kid: inline.ES256.kid, iss: "https://evil.test/" }),
    "wrong audience": await inlineToken("ES256", { aud: "someone-else" }),
    "missing required claim (sub)": await inlineToken("ES256", { claims: { sub: undefined } }),
    "kid with path traversal": await mint({ alg: "ES256", key: inline.ES256.privateKey, kid: "../../../etc/passwd", iss: "https://inline.test/" }),
    "unknown kid": await mint({ alg: "ES256", key: inline.ES256.privateKey, kid: "who-knows", iss: "https://inline.test/" }),
    // jose refuses to sign unknown critical extensions, so this one is signed by hand (HMAC).
    "unknown crit header": signedByHand(
      { alg: "HS256", kid: inline.HS256.kid, crit: ["urn:x:ext"], "urn:x:ext": true },
      { sub: "user-1", iss: "https://inline.test/", aud: "api", exp: now() + 300 },
      inline.HS256.privateKey,
    ),
    "tampered payload": tampered,
    "signed by another key": await mint({ alg: "RS256", key: pemKey.privateKey, kid: "inline-RS256", iss: "https://inline.test/" }),
    "truncated signature": good.slice(0, -10),
    garbage: "not.a.jwt",
    "oversized (over 8 KB)": await inlineToken("HS256", { claims: { pad: "x".repeat(9000) } }),
  };
  for (const [label, token] of Object.entries(cases)) {
    const res = await gateway.fetch("/secure", { headers: bearer(token) });
    assertInvalid(res, label);
    const body = await res.json();
    assert.equal(body.code, "unauthenticated", label);
    assert.equal(body.detail, "The credentials are invalid or expired.", `${label}: the body does not say which check failed`);
  }
});

test("RSA, ECDSA and Ed25519 signatures are checked for real: tampered, foreign and cut ones are refused", async () => {
  for (const alg of ALGS.filter((a) => !a.startsWith("HS"))) {
    const good = await inlineToken(alg);
    const [h, p, s] = good.split(".");
    const forged = { ...jose.decodeJwt(good), sub: "admin" };
    const stranger = await keyFor(alg);
    const cases = {
      "tampered payload": `${h}.${jose.base64url.encode(JSON.stringify(forged))}.${s}`,
      "signed by another key": await mint({ alg, key: stranger.privateKey, kid: inline[alg].kid, iss: "https://inline.test/" }),
      "signature one byte short": `${h}.${p}.${jose.base64url.encode(jose.base64url.decode(s).slice(0, -1))}`,
      "signature of another token": `${h}.${p}.${(await inlineToken(alg, { claims: { sub: "user-2" } })).split(".")[2]}`,
    };
    for (const [label, token] of Object.entries(cases)) {
      assertInvalid(await gateway.fetch("/secure", { headers: bearer(token) }), `${alg}: ${label}`);
    }
    // The genuine token still passes after the refusals (the imported key is reused).
    assert.equal((await gateway.fetch("/secure", { headers: bearer(good) })).status, 200, `${alg}: genuine`);
  }
});

test("a token within the clock-skew leeway (60 s) is accepted", async () => {
  const token = await inlineToken("ES256", { exp: now() - 20 });
  assert.equal((await gateway.fetch("/secure", { headers: bearer(token) })).status, 200);
});

test("missing credentials: 401 without an error code; optional routes admit anonymous callers", async () => {
  const res = await gateway.fetch("/secure");
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="edge-gateway"');
  const anonymous = await gateway.fetch("/optional", { headers: { "x-user-id": "forged-admin" } });
  assert.equal(anonymous.status, 200);
  assert.equal(origin.requests.at(-1).headers["x-user-id"], undefined, "forged claim headers are stripped");
  assertInvalid(await gateway.fetch("/optional", { headers: bearer("bad.token.here") }), "optional but invalid");
});

test("clients cannot forge forwarded claim headers", async () => {
  const res = await gateway.fetch("/secure", { headers: { ...bearer(await inlineToken("EdDSA")), "x-user-id": "admin" } });
  assert.equal(res.status, 200);
  assert.equal(origin.requests.at(-1).headers["x-user-id"], "user-1");
});

test("scopes: 403 insufficient_scope without them, 200 with scope or scp", async () => {
  const none = await gateway.fetch("/scoped", { headers: bearer(await inlineToken("ES256")) });
  assert.equal(none.status, 403);
  assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="edge-gateway", error="insufficient_scope", scope="orders:read"');
  const scope = await inlineToken("ES256", { claims: { scope: "orders:write orders:read" } });
  assert.equal((await gateway.fetch("/scoped", { headers: bearer(scope) })).status, 200);
  const scp = await inlineToken("ES256", { claims: { scp: ["orders:read"] } });
  assert.equal((await gateway.fetch("/scoped", { headers: bearer(scp) })).status, 200);
});

test("roles come from the configured claim path", async () => {
  const user = await inlineToken("ES256", { claims: { realm: { roles: ["user"] } } });
  assert.equal((await gateway.fetch("/admins", { headers: bearer(user) })).status, 403);
  const admin = await inlineToken("ES256", { claims: { realm: { roles: ["user", "admin"] } } });
  assert.equal((await gateway.fetch("/admins", { headers: bearer(admin) })).status, 200);
});

test("a token may come from the configured cookie", async () => {
  const token = await inlineToken("ES256");
  assert.equal((await gateway.fetch("/cookie", { headers: { cookie: `theme=dark; session=${token}` } })).status, 200);
  assert.equal((await gateway.fetch("/cookie", { headers: { cookie: `other=${token}` } })).status, 401);
});

test("Authorization reaches the upstream only where the route says so", async () => {
  const token = await inlineToken("ES256");
  await gateway.fetch("/forwarded", { headers: bearer(token) });
  assert.equal(origin.requests.at(-1).headers.authorization, `Bearer ${token}`);
});

test("a route can accept only some issuers", async () => {
  assertInvalid(await gateway.fetch("/idp-only", { headers: bearer(await inlineToken("ES256")) }), "inline issuer on idp-only");
  const idp = await mint({ alg: "RS256", key: idpKeys["idp-3"].privateKey, kid: "idp-3", iss: "https://idp.test/" });
  assert.equal((await gateway.fetch("/idp-only", { headers: bearer(idp) })).status, 200);
});

test("an issuer whose keys cannot be fetched fails closed with 503", async () => {
  const token = await mint({ alg: "RS256", key: pemKey.privateKey, kid: "k", iss: "https://down.test/" });
  const res = await gateway.fetch("/secure", { headers: bearer(token) });
  assert.equal(res.status, 503);
  assert.equal((await res.json()).code, "auth-unavailable");
});

// The time limit makes a deadline that never fires a failure rather than a hang.
test("an IdP that stalls, before its headers or in its key set, fails closed at the fetch deadline", { timeout: 20_000 }, async () => {
  const started = Date.now();
  const answers = await Promise.all(["silent", "halfway"].map(async (issuer) => {
    const token = await mint({ alg: "RS256", key: pemKey.privateKey, kid: "k", iss: `https://${issuer}.test/` });
    const res = await gateway.fetch("/secure", { headers: bearer(token) });
    return { issuer, status: res.status, body: await res.json(), seconds: (Date.now() - started) / 1000 };
  }));
  for (const { issuer, status, body, seconds } of answers) {
    assert.equal(status, 503, issuer);
    assert.equal(body.code, "auth-unavailable", issuer);
    assert.ok(seconds >= 4.5 && seconds < 10, `${issuer} answered after ${seconds} s, at the 5 s deadline`);
  }
  const causes = gateway.accessLogs().filter((l) => l.status === 503 && /no answer within 5000 ms/.test(l.error_cause ?? ""));
  assert.equal(causes.length, 2, "both logged as the deadline passing");
});

test("when the IdP goes down, cached keys keep verifying", async () => {
  const token = await mint({ alg: "ES256", key: idpKeys["idp-2"].privateKey, kid: "idp-2", iss: "https://idp.test/", claims: { jti: "after-outage" } });
  jwks.closeAllConnections?.();
  await new Promise((resolve) => jwks.close(resolve));
  assert.equal((await gateway.fetch("/secure", { headers: bearer(token) })).status, 200);
});

async function createConsumer(name, ...options) {
  const { stdout } = await run("bash", [path.join(ROOT, "scripts/consumer.sh"), "create", name, ...options, "--local"], {
    cwd: ROOT,
    env: { ...process.env, GATEWAY_STATE: state },
  });
  return stdout.trim();
}

test("API keys: created by the command, stored hashed, accepted with the consumer's scopes", async () => {
  const key = await createConsumer("acme", "--scopes", "orders:read");
  assert.match(key, /^gwk_[A-Za-z0-9_-]{43}$/);
  const stored = await gateway.kv.list({ prefix: "consumer:" });
  assert.ok(stored.keys.some((k) => /^consumer:[0-9a-f]{64}$/.test(k.name)), "stored under its SHA-256");
  assert.ok(!stored.keys.some((k) => k.name.includes(key)), "the key itself is not stored");
  const res = await gateway.fetch("/scoped", { headers: { "x-api-key": key } });
  assert.equal(res.status, 200);
  const seen = origin.requests.at(-1).headers;
  assert.equal(seen["x-user-id"], "acme");
  assert.equal(seen["x-api-key"], undefined, "the key stays at the gateway");
  assertInvalid(await gateway.fetch("/secure", { headers: { "x-api-key": `${key}x` } }), "unknown key");
});

test("plans: a consumer's plan adds its policies; callers without one get the default plan", async () => {
  await gateway.push({
    ...document,
    rate_limits: {
      "gold-limit": { quota: { limit: 5, window: "hour" }, key: ["consumer"] },
      "default-limit": { quota: { limit: 2, window: "hour" }, key: ["consumer"] },
    },
    plans: { gold: { rate_limits: ["gold-limit"] }, default: { rate_limits: ["default-limit"] } },
  });
  await gateway.waitForRefresh();
  const gold = await createConsumer("gold-co", "--plan", "gold");
  const basic = await createConsumer("basic-co");
  const statuses = async (key, n) => {
    const out = [];
    for (let i = 0; i < n; i++) out.push((await gateway.fetch("/planned", { headers: { "x-api-key": key } })).status);
    return out;
  };
  assert.deepEqual(await statuses(gold, 6), [200, 200, 200, 200, 200, 429]);
  assert.deepEqual(await statuses(basic, 3), [200, 200, 429]);
  const res = await gateway.fetch("/planned", { headers: { "x-api-key": basic } });
  assert.match(res.headers.get("ratelimit-policy"), /"default-limit";q=2/);
});
