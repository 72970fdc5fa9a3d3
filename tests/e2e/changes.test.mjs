// Safe configuration changes in workerd, through the real ConfigControl object, KV and
// metrics store: compare-and-set pushes, scoped operators and the audit trail, retention,
// revocation in seconds, and staged rollouts judged from real traffic.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import * as jose from "jose";
import { startOrigin, startGateway, documentFor, closedPort, eventually, ADMIN_TOKEN, ROOT } from "./harness.mjs";

const run = promisify(execFile);

const VIEWER = "viewer-token-0123456789";
const PURGER = "purger-token-0123456789";
const SECRET = "a-shared-secret-of-at-least-32-bytes!!";
const CHECK_MS = 2000;
let app, gateway, dead;

const versionOf = (text) => createHash("sha256").update(text).digest("hex").slice(0, 16);

function doc(extra = {}, routes = []) {
  return {
    ...documentFor({ app: app.url, dead: dead }, [
      { name: "home", path: "/home", service: "app" },
      { name: "keyed", path: "/keyed", service: "app", auth: { mode: "required", schemes: ["api_key"] } },
      { name: "tokened", path: "/tokened", service: "app", auth: { mode: "required" } },
      ...routes,
    ]),
    auth: {
      issuers: {
        local: {
          issuer: "https://idp.test/",
          audiences: ["gateway"],
          algorithms: ["HS256"],
          keys: [{ kty: "oct", k: Buffer.from(SECRET).toString("base64url"), alg: "HS256" }],
        },
      },
    },
    ...extra,
  };
}

const admin = async (method, route, { body, token = ADMIN_TOKEN, headers = {} } = {}) => {
  const res = await fetch(`${gateway.url}/__gateway/${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": "192.0.2.10", ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, headers: res.headers, body: json };
};
const push = (document, headers = {}) => admin("PUT", "config", { body: document, headers });
const current = async () => (await admin("GET", "config")).body.version;
const from = (ip, p = "/home", headers = {}) => gateway.fetch(p, { headers: { "cf-connecting-ip": ip, ...headers } });

before(async () => {
  app = await startOrigin("app");
  dead = `http://127.0.0.1:${await closedPort()}`;
  gateway = await startGateway({
    document: doc(),
    bindings: {
      ADMIN_TOKENS: JSON.stringify({
        viewer: { token: VIEWER, scopes: ["read"] },
        purger: { token: PURGER, scopes: ["read", "cache"] },
      }),
    },
  });
  // The first document came straight into KV, as `wrangler kv key put` writes it.
  await eventually(async () => (await from("198.51.100.1")).status === 200, 5000);
});

after(async () => {
  await gateway?.close();
  await app?.close();
});

test("two pushes with the same If-Match: one is made current, the other gets 412 and changes nothing", async () => {
  const base = await admin("GET", "config");
  assert.equal(base.status, 200);
  const etag = base.headers.get("etag");
  assert.equal(etag, `"${base.body.version}"`, "the current version is the ETag");
  const a = JSON.stringify(doc({}, [{ name: "from-a", path: "/a", service: "app" }]));
  const b = JSON.stringify(doc({}, [{ name: "from-b", path: "/b", service: "app" }]));
  const [ra, rb] = await Promise.all([push(a, { "if-match": etag }), push(b, { "if-match": etag })]);
  const statuses = [ra.status, rb.status].sort();
  assert.deepEqual(statuses, [200, 412], JSON.stringify([ra.body, rb.body]));
  const [won, lost, wonText] = ra.status === 200 ? [ra, rb, a] : [rb, ra, b];
  assert.equal(lost.body.code, "config-conflict");
  assert.match(lost.body.detail, new RegExp(`current version is ${won.body.version}, not ${base.body.version}`));
  assert.equal(won.body.previous, base.body.version);
  assert.equal(await current(), versionOf(wonText), "the winner is current");

  // A stale If-Match is refused even when nothing else is in flight; a fresh one works.
  const stale = await push(a, { "if-match": etag });
  assert.equal(stale.status, 412);
  const fresh = await push(JSON.stringify(doc({}, [{ name: "fresh", path: "/fresh", service: "app" }])), { "if-match": `"${won.body.version}"` });
  assert.equal(fresh.status, 200);
  assert.equal((await push(a, { "if-match": "W/\"x\"" })).status, 400, "a weak or malformed tag is refused");
  const rollback = await admin("POST", "config/rollback", { headers: { "if-match": etag } });
  assert.equal(rollback.status, 412, "a rollback checks If-Match too");
});

test("a read-scoped operator reads but cannot push; scopes and the audit trail name who did what", async () => {
  assert.equal((await admin("GET", "config", { token: VIEWER })).status, 200);
  assert.equal((await admin("GET", "config/versions", { token: VIEWER })).status, 200);
  const denied = await push(JSON.stringify(doc()), { authorization: `Bearer ${VIEWER}` });
  assert.equal(denied.status, 403);
  assert.equal(denied.body.code, "admin-forbidden");
  assert.match(denied.body.detail, /'viewer' lacks the 'config' scope/);
  assert.equal((await admin("POST", "cache/purge", { token: VIEWER, body: { everything: true } })).status, 403);
  assert.equal((await admin("POST", "revocations", { token: VIEWER, body: { kind: "jti", value: "x" } })).status, 403);
  assert.equal((await admin("POST", "cache/purge", { token: PURGER, body: { everything: true } })).status, 200);
  assert.equal((await push(JSON.stringify(doc()), { authorization: `Bearer ${PURGER}` })).status, 403);
  assert.equal((await admin("GET", "config", { token: "not-an-operator-token" })).status, 401);

  const audit = await admin("GET", "audit?limit=50", { token: VIEWER });
  assert.equal(audit.status, 200);
  const entries = audit.body.entries;
  const purge = entries.find((e) => e.action === "cache.purge");
  assert.equal(purge.operator, "purger");
  assert.equal(purge.address, "192.0.2.10");
  assert.deepEqual(purge.detail.request, { everything: true });
  const pushes = entries.filter((e) => e.action === "config.push");
  assert.ok(pushes.length >= 2 && pushes.every((e) => e.operator === "admin" && e.at_ms > 0));
  assert.ok(entries.some((e) => e.action === "config.rollback") === false, "the refused rollback changed nothing and is not a write");
  assert.ok(entries[0].id > entries.at(-1).id, "newest first");
});

test("retention keeps the newest N and never the current, previous or candidate", async () => {
  const keep = { changes: { retention: { keep_versions: 1, keep_days: 0 }, rollout: { check_seconds: 3600 } } };
  const texts = ["r1", "r2", "r3", "r4"].map((name) => JSON.stringify(doc(keep, [{ name, path: `/${name}`, service: "app" }])));
  for (const text of texts) assert.equal((await push(text)).status, 200);
  const listed = (await admin("GET", "config/versions")).body.versions.map((v) => v.version);
  assert.deepEqual(listed.sort(), [versionOf(texts[2]), versionOf(texts[3])].sort(), "the current and the one it replaced");
  const deleted = gateway.configEvents().filter((e) => e.event === "version_deleted").map((e) => e.version);
  for (const text of texts.slice(0, 2)) assert.ok(deleted.includes(versionOf(text)), "each deletion is logged");
  assert.equal((await admin("GET", `config/versions/${versionOf(texts[0])}`)).status, 404);

  const candidate = JSON.stringify(doc(keep, [{ name: "r5", path: "/r5", service: "app" }]));
  const started = await admin("PUT", "config/candidate?percent=10", { body: candidate });
  assert.equal(started.status, 200, JSON.stringify(started.body));
  const withCandidate = (await admin("GET", "config/versions")).body.versions.map((v) => v.version).sort();
  assert.deepEqual(withCandidate, [versionOf(texts[2]), versionOf(texts[3]), versionOf(candidate)].sort());
  assert.equal((await admin("POST", "config/candidate/abort")).status, 200);
  assert.equal(await current(), versionOf(texts[3]), "aborting leaves the current alone");
});

test("a revoked API key and a revoked token are refused everywhere within the check interval", async () => {
  const key = "gwk_test-key-for-revocation";
  const hash = createHash("sha256").update(key).digest("hex");
  await gateway.kv.put(`consumer:${hash}`, JSON.stringify({ name: "acme", scopes: [], plan: null }));
  const keyed = () => from("198.51.100.2", "/keyed", { "x-api-key": key });
  assert.equal((await keyed()).status, 200);
  const token = await new jose.SignJWT({ sub: "user-7", jti: "token-42" })
    .setProtectedHeader({ alg: "HS256" }).setIssuer("https://idp.test/").setAudience("gateway").setExpirationTime("10m")
    .sign(new TextEncoder().encode(SECRET));
  const tokened = () => from("198.51.100.2", "/tokened", { authorization: `Bearer ${token}` });
  assert.equal((await tokened()).status, 200);
  // The verified key is remembered for 30 s; revocation must not wait for that.
  const t0 = Date.now();
  const revoked = await admin("POST", "revocations", { body: { kind: "consumer", value: "acme", reason: "leaked" } });
  assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
  const refusedKey = await eventually(async () => (await keyed()).status === 401, 10_000);
  const keyMs = Date.now() - t0;
  assert.ok(refusedKey, "the key is refused");
  const answer = await keyed();
  assert.equal((await answer.json()).code, "credential-revoked");
  assert.ok(keyMs <= CHECK_MS + 1500, `refused ${keyMs} ms after the revocation (check interval ${CHECK_MS} ms)`);
  console.log(`# API key refused ${keyMs} ms after its revocation`);

  const t1 = Date.now();
  assert.equal((await admin("POST", "revocations", { body: { kind: "jti", value: "token-42", expires_in_seconds: 600 } })).status, 200);
  assert.ok(await eventually(async () => (await tokened()).status === 401, 10_000));
  const tokenMs = Date.now() - t1;
  assert.ok(tokenMs <= CHECK_MS + 1500, `token refused after ${tokenMs} ms`);
  console.log(`# token refused ${tokenMs} ms after its revocation`);

  const list = await admin("GET", "revocations", { token: VIEWER });
  assert.deepEqual(list.body.entries.map((e) => `${e.kind}:${e.value}`).sort(), ["consumer:acme", "jti:token-42"]);
  assert.equal((await admin("DELETE", "revocations?kind=consumer&value=acme")).status, 200);
  assert.ok(await eventually(async () => (await keyed()).status === 200, 10_000), "lifted again");
  const audit = (await admin("GET", "audit")).body.entries.map((e) => e.action);
  assert.ok(audit.includes("revoke") && audit.includes("restore"));
});

/** Sends `n` requests from distinct clients; returns their statuses by whether the client is
 * among the candidate's (`x-gateway-config` says which version served it). */
async function traffic(n, tag) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const res = await from(`10.${tag}.${i >> 8}.${i & 255}`);
    await res.arrayBuffer();
    out.push(res.status);
  }
  return out;
}

test("a candidate that breaks a route is rolled back by itself; the current version keeps serving the rest", async () => {
  const rollout = { check_seconds: 1, healthy_seconds: 60, min_requests: 10 };
  const good = JSON.stringify(doc({ changes: { rollout } }));
  assert.equal((await push(good)).status, 200);
  // The candidate sends /home to a port nothing listens on.
  const broken = doc({ changes: { rollout } });
  broken.routes[0].service = "dead";
  const started = await admin("PUT", "config/candidate?percent=50", { body: broken });
  assert.equal(started.status, 200, JSON.stringify(started.body));
  assert.equal(started.body.candidate.percent, 50);
  await gateway.waitForRefresh();
  const during = await traffic(60, 1);
  const failures = during.filter((s) => s === 502).length;
  assert.ok(failures > 10 && failures < 50, `about half the clients saw the candidate (${failures} of 60 failed)`);
  assert.ok(during.every((s) => s === 200 || s === 502));
  const decided = await eventually(async () => {
    const view = (await admin("GET", "config/candidate", { token: VIEWER })).body;
    return view.candidate === null && view.last?.decision === "roll_back" && view.last;
  }, 15_000);
  assert.ok(decided, "rolled back");
  assert.match(decided.reason, /5xx rate/);
  assert.equal(await current(), versionOf(good), "the current version was never replaced");
  await gateway.waitForRefresh();
  const after = await traffic(40, 2);
  assert.ok(after.every((s) => s === 200), `every client is served the current version again: ${after}`);
  const events = gateway.configEvents().map((e) => e.event);
  assert.ok(events.includes("rollout_check") && events.includes("candidate_rolled_back"), events.join());
  const audit = (await admin("GET", "audit")).body.entries;
  assert.ok(audit.some((e) => e.operator === "rollout" && e.action === "config.abort"));
});

test("a healthy candidate is promoted after its healthy period", async () => {
  const rollout = { check_seconds: 1, healthy_seconds: 3, min_requests: 10 };
  assert.equal((await push(JSON.stringify(doc({ changes: { rollout } })))).status, 200);
  const next = JSON.stringify(doc({ changes: { rollout } }, [{ name: "extra", path: "/extra", service: "app" }]));
  assert.equal((await admin("PUT", "config/candidate?percent=50", { body: next })).status, 200);
  await gateway.waitForRefresh();
  const promoted = await eventually(async () => {
    await traffic(10, 3);
    return (await current()) === versionOf(next);
  }, 20_000);
  assert.ok(promoted, "promoted");
  const view = (await admin("GET", "config/candidate")).body;
  assert.equal(view.last.decision, "promote");
  assert.ok(view.last.decisions.length >= 1);
  await gateway.waitForRefresh();
  assert.equal((await from("10.9.9.9", "/extra")).status, 200, "every client is served the promoted version");
});

test("npm run push prints what a push changes, and --candidate starts a rollout", async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-changes-"));
  const env = { ...process.env, GATEWAY_URL: gateway.url, GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN };
  const base = doc();
  assert.equal((await push(JSON.stringify(base))).status, 200);
  const next = doc({}, [{ name: "added", path: "/added", service: "app" }]);
  next.routes[0].upstream_path = "/elsewhere";
  next.routes = next.routes.filter((r) => r.name !== "tokened");
  const file = path.join(tmp, "next.json");
  fs.writeFileSync(file, JSON.stringify(next, null, 2));
  const pushed = await run("bash", [path.join(ROOT, "scripts/push.sh"), file], { cwd: ROOT, env });
  assert.match(pushed.stdout, /^\+ route added$/m);
  assert.match(pushed.stdout, /^- route tokened$/m);
  assert.match(pushed.stdout, /^~ route home: upstream_path$/m);
  assert.match(pushed.stdout, /is current/);
  const again = await run("bash", [path.join(ROOT, "scripts/push.sh"), file], { cwd: ROOT, env });
  assert.match(again.stdout, /already current; nothing to push/);

  const candidate = path.join(tmp, "candidate.json");
  fs.writeFileSync(candidate, JSON.stringify(base, null, 2));
  const started = await run("bash", [path.join(ROOT, "scripts/push.sh"), candidate, "--candidate", "30"], { cwd: ROOT, env });
  assert.match(started.stdout, /is a candidate for 30% of clients/);
  assert.equal((await admin("GET", "config/candidate")).body.candidate.percent, 30);
  assert.equal((await admin("POST", "config/candidate/abort")).status, 200);
  fs.rmSync(tmp, { recursive: true, force: true });
});
