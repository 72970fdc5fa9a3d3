// The other credentials users bring: Basic consumers created by the documented command (salted
// PBKDF2 hashes in KV), HTTP Message Signatures (RFC 9421) made by an independent library
// (`http-message-signatures` from npm), and client certificates as the platform reports them in
// `request.cf.tlsClientAuth` (set here through Miniflare's cf header on workerd's own socket,
// for a real certificate made by openssl: mutual TLS itself ends at Cloudflare's edge).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { httpbis, createSigner } from "http-message-signatures";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { startOrigin, startGateway, ROOT } from "./harness.mjs";

const run = promisify(execFile);
const HMAC_SECRET = "a shared secret of partner and gateway";
let origin, gateway, state, certificate;

before(async () => {
  state = fs.mkdtempSync(path.join(os.tmpdir(), "credentials-"));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cert-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
    "-subj", "/CN=partner.example/O=Partner", "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")], { stdio: "ignore" });
  certificate = new X509Certificate(fs.readFileSync(path.join(dir, "cert.pem")));
  fs.rmSync(dir, { recursive: true, force: true });
  origin = await startOrigin("api");
  gateway = await startGateway({
    persistTo: state,
    directSocket: true,
    bindings: { PARTNER_HMAC: HMAC_SECRET },
    document: {
      version: 1,
      services: { api: { upstreams: [origin.url] } },
      auth: {
        issuers: { inline: { issuer: "https://inline.test/", audiences: ["api"], algorithms: ["HS256"], keys: [{ kty: "oct", k: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", kid: "k" }] } },
        signatures: { max_age_seconds: 60, keys: { "partner-key": { secret_var: "PARTNER_HMAC", consumer: "partner", scopes: ["orders:write"] } } },
        client_certificates: {
          consumers: {
            partner: { fingerprints: [certificate.fingerprint256], scopes: ["orders:read"], plan: "gold" },
            auditor: { subjects: ["CN=auditor.example,O=Audit"] },
          },
        },
      },
      routes: [
        { name: "basic", path: "/basic", service: "api", auth: { mode: "required", schemes: ["basic"], scopes: { all_of: ["reports"] } } },
        { name: "either", path: "/either", service: "api", auth: { mode: "required", schemes: ["jwt", "basic"] } },
        { name: "signed", path: "/signed", methods: ["GET", "POST"], service: "api", auth: { mode: "required", schemes: ["signature"], scopes: { all_of: ["orders:write"] } } },
        { name: "mtls", path: "/mtls", service: "api", auth: { mode: "required", schemes: ["mtls"], forward_claims: { consumer: "x-consumer" } } },
      ],
    },
  });
});

after(async () => {
  await gateway?.close();
  await origin?.close();
  fs.rmSync(state, { recursive: true, force: true });
});

async function createBasicConsumer(name, ...options) {
  const { stdout } = await run("bash", [path.join(ROOT, "scripts/consumer.sh"), "create", name, "--password", ...options, "--local"], {
    cwd: ROOT,
    env: { ...process.env, GATEWAY_STATE: state },
  });
  return stdout.trim();
}

const basic = (user, password) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` });

test("Basic: a consumer made by the command is let in with its scopes; its password is stored hashed", async () => {
  const password = await createBasicConsumer("reporter", "--scopes", "reports");
  const stored = await gateway.kv.get("basic:reporter", "json");
  assert.equal(stored.password.alg, "pbkdf2-sha256");
  assert.ok(!JSON.stringify(stored).includes(password), "only a hash is stored");
  const res = await gateway.fetch("/basic", { headers: basic("reporter", password) });
  assert.equal(res.status, 200);
  const seen = await res.json();
  assert.equal(seen.headers.authorization, undefined, "credentials do not reach the service");
  const log = gateway.accessLogs().find((l) => l.path === "/basic");
  assert.equal(log.auth, "basic");
  assert.equal(log.principal, "reporter");
  assert.ok(!gateway.logs.map((l) => l.message).join("\n").includes(password));
});

test("Basic: a wrong password, an unknown user and no credentials get 401 with a Basic challenge", async () => {
  const password = await createBasicConsumer("viewer");
  for (const headers of [basic("viewer", `${password}x`), basic("nobody", password), {}]) {
    const res = await gateway.fetch("/basic", { headers });
    assert.equal(res.status, 401);
    assert.match(res.headers.get("www-authenticate"), /^Basic realm="edge-gateway"/);
    assert.equal((await res.json()).code, "unauthenticated");
  }
  const scoped = await gateway.fetch("/basic", { headers: basic("viewer", password) });
  assert.equal(scoped.status, 403, "a consumer without the route's scope");
  const either = await gateway.fetch("/either");
  assert.equal(either.status, 401);
  assert.match(either.headers.get("www-authenticate"), /Basic realm.*Bearer realm/, "both challenges where both are accepted");
  assert.equal((await gateway.fetch("/either", { headers: basic("viewer", password) })).status, 200);
});

const cf = (tlsClientAuth) => ({ "mf-cf-blob": JSON.stringify({ tlsClientAuth }) });

test("client certificates: a verified certificate listed by fingerprint or subject names the consumer", async () => {
  const verified = {
    certPresented: "1", certVerified: "SUCCESS",
    certFingerprintSHA256: certificate.fingerprint256.replaceAll(":", "").toLowerCase(),
    certSubjectDN: certificate.subject.split("\n").reverse().join(","),
  };
  const res = await fetch(`${gateway.direct}/mtls`, { headers: cf(verified) });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).headers["x-consumer"], "partner");
  const auditor = await fetch(`${gateway.direct}/mtls`, { headers: cf({ certPresented: "1", certVerified: "SUCCESS", certFingerprintSHA256: "00".repeat(32), certSubjectDN: "CN=auditor.example,O=Audit" }) });
  assert.equal(auditor.status, 200);
  assert.equal((await auditor.json()).headers["x-consumer"], "auditor");
});

test("client certificates: unverified, unlisted or absent certificates get 401", async () => {
  for (const tls of [
    { certPresented: "1", certVerified: "FAILED:self signed certificate", certFingerprintSHA256: certificate.fingerprint256.replaceAll(":", "").toLowerCase() },
    { certPresented: "1", certVerified: "SUCCESS", certFingerprintSHA256: "ab".repeat(32), certSubjectDN: "CN=stranger" },
    { certPresented: "0" },
  ]) {
    const res = await fetch(`${gateway.direct}/mtls`, { headers: cf(tls) });
    assert.equal(res.status, 401, JSON.stringify(tls));
    await res.arrayBuffer();
  }
  assert.equal((await fetch(`${gateway.direct}/mtls`)).status, 401);
});

/** A request signed as the RFC describes, by the library: method, path, authority, digest. */
async function signed(method, body, { secret = HMAC_SECRET, keyid = "partner-key", fields, created } = {}) {
  const url = `${gateway.url}/signed`;
  const headers = { "content-type": "application/json" };
  if (body !== undefined) headers["content-digest"] = `sha-256=:${createHash("sha256").update(body).digest("base64")}:`;
  const message = await httpbis.signMessage({
    key: createSigner(secret, "hmac-sha256", keyid),
    fields: fields ?? ["@method", "@path", "@authority", ...(body === undefined ? [] : ["content-digest"])],
    params: ["created", "keyid", "alg"],
    ...(created ? { paramValues: { created } } : {}),
  }, { method, url, headers });
  return { url, init: { method, headers: message.headers, ...(body === undefined ? {} : { body }) } };
}

test("signatures: a signed request with its body's digest is let in, once", async () => {
  const body = JSON.stringify({ order: 42 });
  const { url, init } = await signed("POST", body);
  const res = await fetch(url, init);
  assert.equal(res.status, 200);
  const seen = await res.json();
  assert.equal(seen.body, body);
  assert.equal(seen.headers.signature, undefined, "the signature is a credential: not forwarded");
  assert.equal(gateway.accessLogs().find((l) => l.path === "/signed").principal, "partner");
  const replay = await fetch(url, init);
  assert.equal(replay.status, 401, "the same signature again is a replay");
  const get = await signed("GET");
  assert.equal((await fetch(get.url, get.init)).status, 200);
});

test("signatures: a changed body, a wrong key, an old signature or missing coverage get 401", async () => {
  const body = JSON.stringify({ order: 1 });
  const tampered = await signed("POST", body);
  assert.equal((await fetch(tampered.url, { ...tampered.init, body: JSON.stringify({ order: 999 }) })).status, 401);
  const wrongKey = await signed("POST", body, { secret: "not the shared secret" });
  assert.equal((await fetch(wrongKey.url, wrongKey.init)).status, 401);
  const unknown = await signed("POST", body, { keyid: "stranger" });
  assert.equal((await fetch(unknown.url, unknown.init)).status, 401);
  const old = await signed("POST", body, { created: new Date(Date.now() - 120_000) });
  assert.equal((await fetch(old.url, old.init)).status, 401);
  const uncovered = await signed("POST", body, { fields: ["@method", "@path", "@authority"] });
  assert.equal((await fetch(uncovered.url, uncovered.init)).status, 401, "a body must be covered by its digest");
  const unsigned = await fetch(`${gateway.url}/signed`);
  assert.equal(unsigned.status, 401);
});
