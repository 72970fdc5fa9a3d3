// Response caching in the real runtime: the Cache API and KV as tiers, in front of a real origin
// that counts its hits and whose answers each test shapes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as jose from "jose";
import { startOrigin, startGateway, eventually, rawRequest, ADMIN_TOKEN } from "./harness.mjs";
import { signersFor, authSection, ISSUER } from "../../bench/tokens.mjs";

// path → (request, count) => { status, headers, body }; unknown paths answer 200 with max-age=60.
const behaviour = new Map();
let origin, gateway, signers, version = 0;
const hits = (p) => origin.requests.filter((r) => r.url.split("?")[0] === p).length;

function answer(status, headers = {}, body) {
  return { status, headers, body };
}

function document(url) {
  const route = (name, cache, extra = {}) => ({ name, path: `/${name}/{*rest}`, service: "app", cache, ...extra });
  return {
    version: 1,
    services: { app: { upstreams: [url], timeout_ms: 1000 } },
    auth: authSection(signers),
    routes: [
      route("origin", { mode: "origin" }),
      route("override", { mode: "override", ttl_seconds: 60 }),
      route("stale", { mode: "origin", stale_while_revalidate_seconds: 30, stale_if_error_seconds: 60 }),
      route("keys", { mode: "origin", ignore_query: ["utm_*"], sort_query: true }),
      route("tagged", { mode: "origin", tags: ["catalog"] }),
      route("global", { mode: "origin", global: true }),
      route("per-user", { mode: "origin" }, { auth: { mode: "required" } }),
      route("shared-users", { mode: "origin", shared: true }, { auth: { mode: "required" } }),
    ],
  };
}

before(async () => {
  signers = await signersFor(["HS256"]);
  origin = await startOrigin("app", async (req, body, res) => {
    const p = req.url.split("?")[0];
    const count = origin.requests.filter((r) => r.url.split("?")[0] === p).length;
    const shape = behaviour.get(p);
    if (shape === "hang") return new Promise(() => {});
    const out = shape ? await shape(req, count) : answer(200, { "cache-control": "max-age=60" });
    res.writeHead(out.status, { "content-type": "application/json", ...out.headers });
    res.end(out.body ?? JSON.stringify({ path: p, count, method: req.method }));
  });
  gateway = await startGateway({ document: document(origin.url) });
});

after(async () => {
  await gateway?.close();
  await origin?.close();
});

/** A fresh path under a route, so tests do not share entries. */
const fresh = (route) => `/${route}/t${++version}`;

// A plain HTTP client: fetch() adds headers of its own (Accept-Language, and Cache-Control:
// no-cache whenever a request carries validators), which would change what is being tested.
async function get(p, headers = {}, method = "GET") {
  const r = await rawRequest(gateway.url, { method, path: p, headers });
  const h = new Headers(Object.entries(r.headers).map(([k, v]) => [k, String(v)]));
  return { status: r.status, headers: h, text: r.text, body: r.json ?? null, cache: h.get("x-cache"), age: h.get("age") };
}

/** Whether the entry for `p` gets stored. Stores are written after the response is sent, so
 * this waits until the entry answers; asking with only-if-cached never reaches the origin, so
 * waiting does not change the origin's count. An entry that lives one second may already be
 * stale when the check first sees it: `{ stale: true }` accepts a stale answer too
 * (`max-stale`). */
async function stored(p, headers = {}, { stale = false } = {}) {
  const control = stale ? "only-if-cached, max-stale" : "only-if-cached";
  const states = stale ? ["HIT", "STALE"] : ["HIT"];
  return eventually(async () => states.includes((await get(p, { ...headers, "cache-control": control })).cache), 3000);
}

test("a cacheable response is stored once and then served with Age and X-Cache: HIT", async () => {
  const p = fresh("origin");
  const first = await get(p);
  assert.equal(first.cache, "MISS");
  assert.ok(await stored(p));
  const hit = await get(p);
  assert.equal(hit.cache, "HIT");
  assert.equal(hit.body.count, 1, "the stored body is the first response");
  assert.match(hit.age, /^\d+$/);
  assert.ok(hit.headers.get("x-request-id"), "each answer has its own request id");
  assert.notEqual(hit.headers.get("x-request-id"), first.headers.get("x-request-id"));
  assert.equal(hits(p), 1, "the origin saw one request");
  const head = await get(p, {}, "HEAD");
  assert.equal(head.cache, "HIT", "HEAD is answered from the GET entry");
  assert.equal(head.text, "");
  assert.equal(hits(p), 1);
});

test("Age counts from the origin's own Age and grows while stored", async () => {
  const p = fresh("origin");
  behaviour.set(p, () => answer(200, { "cache-control": "max-age=600", age: "100" }));
  await get(p);
  await stored(p);
  await sleep(1100);
  const hit = await get(p);
  assert.ok(Number(hit.age) >= 101 && Number(hit.age) < 110, `age ${hit.age}`);
});

test("responses the origin forbids storing are bypassed every time", async () => {
  const cases = {
    "no-store": { "cache-control": "no-store, max-age=60" },
    private: { "cache-control": "private, max-age=60" },
    "set-cookie": { "cache-control": "max-age=60", "set-cookie": "session=abc" },
    "vary-star": { "cache-control": "max-age=60", vary: "*" },
  };
  for (const [name, headers] of Object.entries(cases)) {
    const p = fresh("origin") + name;
    behaviour.set(p, () => answer(200, headers));
    for (let i = 0; i < 3; i++) assert.equal((await get(p)).cache, "BYPASS", name);
    await sleep(100);
    assert.equal((await get(p)).cache, "BYPASS", name);
    assert.equal(hits(p), 4, `${name}: every request reached the origin`);
  }
  const error = fresh("origin");
  behaviour.set(error, () => answer(500, { "cache-control": "max-age=60" }));
  await get(error);
  await sleep(100);
  assert.equal((await get(error)).status, 500);
  assert.equal(hits(error), 2, "a 500 is not stored");
});

test("override mode caches for the route's TTL whatever the origin's freshness says", async () => {
  const p = fresh("override");
  behaviour.set(p, () => answer(200, { "cache-control": "no-cache, max-age=0" }));
  await get(p);
  assert.ok(await stored(p));
  assert.equal(hits(p), 1);
  const refused = fresh("override");
  behaviour.set(refused, () => answer(200, { "cache-control": "no-store" }));
  await get(refused);
  await sleep(100);
  assert.equal((await get(refused)).cache, "BYPASS", "no-store still wins");
});

test("Vary: each variant is stored separately and served only to matching requests", async () => {
  const p = fresh("origin");
  behaviour.set(p, (req) => answer(200, { "cache-control": "max-age=60", vary: "Accept-Language" }, JSON.stringify({ lang: req.headers["accept-language"] ?? null })));
  const en = { "accept-language": "en" };
  const de = { "accept-language": "de" };
  assert.equal((await get(p, en)).body.lang, "en");
  assert.ok(await stored(p, en));
  const german = await get(p, de);
  assert.equal(german.cache, "MISS");
  assert.equal(german.body.lang, "de");
  assert.ok(await stored(p, de));
  assert.equal((await get(p, en)).body.lang, "en");
  assert.equal((await get(p, de)).body.lang, "de");
  const none = await get(p);
  assert.equal(none.cache, "MISS", "no Accept-Language is a variant of its own");
  assert.equal(none.body.lang, null);
  assert.equal(hits(p), 3);
});

test("the cache key ignores configured query parameters and their order", async () => {
  const p = fresh("keys");
  await get(`${p}?b=2&a=1&utm_source=mail`);
  assert.ok(await stored(`${p}?a=1&b=2`));
  assert.equal((await get(`${p}?utm_campaign=x&a=1&b=2`)).cache, "HIT");
  assert.equal((await get(`${p}?a=1&b=3`)).cache, "MISS");
  assert.equal(origin.requests.find((r) => r.url.startsWith(p)).url, `${p}?b=2&a=1&utm_source=mail`, "the origin gets the query as sent");
});

function token(sub) {
  return new jose.SignJWT({ sub }).setProtectedHeader({ alg: "HS256", kid: "HS256" }).setIssuer(ISSUER).setAudience("api").setExpirationTime("1h").sign(signers.HS256.key);
}

test("an authenticated route's responses are never served to another caller", async () => {
  const p = fresh("per-user");
  behaviour.set(p, (req) => answer(200, { "cache-control": "max-age=60" }, JSON.stringify({ for: req.headers.authorization ? "someone" : null, n: hits(p) })));
  const alice = { authorization: `Bearer ${await token("alice")}` };
  const bob = { authorization: `Bearer ${await token("bob")}` };
  const a1 = await get(p, alice);
  assert.ok(await stored(p, alice));
  const b1 = await get(p, bob);
  assert.equal(b1.cache, "MISS", "Bob does not get Alice's entry");
  assert.notEqual(b1.body.n, a1.body.n);
  assert.ok(await stored(p, bob));
  assert.equal((await get(p, alice)).body.n, a1.body.n);
  assert.equal((await get(p, bob)).body.n, b1.body.n);
  const otherAlice = { authorization: `Bearer ${await token("alice")}` };
  assert.equal((await get(p, otherAlice)).cache, "HIT", "a new token of the same subject shares the entry");
  assert.equal((await get(p)).status, 401, "anonymous callers never reach the cache");
});

test("shared entries for credentialed requests need the origin's permission", async () => {
  const alice = { authorization: `Bearer ${await token("alice")}` };
  const bob = { authorization: `Bearer ${await token("bob")}` };
  const plain = fresh("shared-users");
  await get(plain, alice);
  await sleep(100);
  assert.equal((await get(plain, bob)).cache, "BYPASS", "max-age alone does not allow sharing");
  const open = fresh("shared-users");
  behaviour.set(open, () => answer(200, { "cache-control": "public, max-age=60" }));
  await get(open, alice);
  assert.ok(await stored(open, bob), "public allows it");
  assert.equal(hits(open), 1);
  const raw = fresh("origin");
  await get(raw, { authorization: "Basic dTpw" });
  await sleep(100);
  assert.equal((await get(raw, { authorization: "Basic dTpw" })).cache, "BYPASS", "an Authorization header passed to the origin counts too");
});

test("a successful POST, PUT, PATCH or DELETE invalidates the URL's entries", async () => {
  for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
    const p = fresh("origin");
    await get(p);
    assert.ok(await stored(p));
    await get(`${p}?page=2`);
    assert.ok(await stored(`${p}?page=2`));
    const write = await gateway.fetch(p, { method, body: method === "DELETE" ? undefined : "{}" });
    assert.equal(write.status, 200);
    await write.text();
    assert.equal((await get(p)).cache, "MISS", `${method} invalidated the URL`);
    assert.equal((await get(`${p}?page=2`)).cache, "MISS", `${method} invalidated every query of it`);
  }
  const p = fresh("origin");
  await get(p);
  assert.ok(await stored(p));
  behaviour.set(p, (req) => (req.method === "POST" ? answer(409) : answer(200, { "cache-control": "max-age=60" })));
  await (await gateway.fetch(p, { method: "POST", body: "{}" })).text();
  assert.equal((await get(p)).cache, "HIT", "a failed write leaves the entry");
});

test("client validators are answered with 304 from the cache and on a miss", async () => {
  const p = fresh("origin");
  behaviour.set(p, () => answer(200, { "cache-control": "max-age=60", etag: '"v1"', "last-modified": "Sun, 06 Nov 1994 08:49:37 GMT" }));
  const miss = await get(p, { "if-none-match": '"v1"' });
  assert.equal(miss.status, 304, "a miss still answers the client's validator");
  assert.equal(miss.cache, "MISS");
  assert.equal(origin.requests.findLast((r) => r.url === p).headers["if-none-match"], undefined, "the origin was asked for the full response");
  assert.ok(await stored(p));
  const hit = await get(p, { "if-none-match": 'W/"v1"' });
  assert.equal(hit.status, 304);
  assert.equal(hit.cache, "HIT");
  assert.equal(hit.headers.get("etag"), '"v1"');
  assert.equal(hit.text, "");
  assert.equal((await get(p, { "if-none-match": '"v0"' })).status, 200);
  assert.equal((await get(p, { "if-modified-since": "Sun, 06 Nov 1994 08:49:37 GMT" })).status, 304);
  assert.equal((await get(p, { "if-modified-since": "Sat, 05 Nov 1994 08:49:37 GMT" })).status, 200);
  assert.equal(hits(p), 1);
});

test("a stale entry is revalidated with its validators and a 304 refreshes its headers", async () => {
  const p = fresh("origin");
  behaviour.set(p, (req, count) =>
    req.headers["if-none-match"] === '"v1"'
      ? answer(304, { "cache-control": "max-age=60", etag: '"v1"', "x-checked": String(count) })
      : answer(200, { "cache-control": "max-age=1", etag: '"v1"', "x-checked": "0" }, JSON.stringify({ body: "original" })),
  );
  await get(p);
  assert.ok(await stored(p, {}, { stale: true }));
  await sleep(1200);
  const revalidated = await get(p);
  assert.equal(revalidated.cache, "REVALIDATED");
  assert.equal(revalidated.body.body, "original");
  assert.equal(revalidated.headers.get("x-checked"), "2", "headers come from the 304");
  assert.equal(origin.requests.findLast((r) => r.url === p).headers["if-none-match"], '"v1"');
  const after = await eventually(async () => { const r = await get(p); return r.cache === "HIT" && r; });
  assert.equal(after.headers.get("x-checked"), "2", "the refreshed entry was stored with the new lifetime");
  assert.equal(hits(p), 2);
});

test("a client's no-cache forces revalidation; only-if-cached never reaches the origin", async () => {
  const p = fresh("origin");
  behaviour.set(p, (req) => (req.headers["if-none-match"] ? answer(304, { etag: '"e"' }) : answer(200, { "cache-control": "max-age=60", etag: '"e"' })));
  await get(p);
  assert.ok(await stored(p));
  assert.equal((await get(p, { "cache-control": "no-cache" })).cache, "REVALIDATED");
  assert.equal((await get(p, { pragma: "no-cache" })).cache, "REVALIDATED");
  assert.equal((await get(p, { "cache-control": "only-if-cached" })).cache, "HIT");
  const missing = await get(fresh("origin"), { "cache-control": "only-if-cached" });
  assert.equal(missing.status, 504);
  assert.equal(missing.body.code, "not-cached");
});

test("stale-while-revalidate serves the stale entry at once and refreshes it in the background", async () => {
  const p = fresh("stale");
  behaviour.set(p, async (req, count) => {
    if (count > 1) await sleep(300);
    // Two seconds of freshness: the refreshed entry must still be fresh when it is looked
    // for, on a loaded machine too.
    return answer(200, { "cache-control": "max-age=2" }, JSON.stringify({ generation: count }));
  });
  await get(p);
  assert.ok(await stored(p, {}, { stale: true }));
  await sleep(2200);
  const started = Date.now();
  const stale = await get(p);
  assert.equal(stale.cache, "STALE");
  assert.equal(stale.body.generation, 1);
  assert.ok(Date.now() - started < 300, "the client did not wait for the origin");
  const refreshed = await eventually(async () => { const r = await get(p); return r.cache === "HIT" && r.body.generation === 2 && r; }, 4000);
  assert.ok(refreshed, "the background refresh stored the new response");
  assert.equal(hits(p), 2);
});

test("stale-if-error stands in when the origin fails, times out or refuses; must-revalidate does not", async () => {
  const p = fresh("stale");
  let mode = "ok";
  behaviour.set(p, () => (mode === "ok" ? answer(200, { "cache-control": "max-age=1, stale-while-revalidate=0" }, JSON.stringify({ good: true })) : answer(503)));
  await get(p);
  assert.ok(await stored(p, {}, { stale: true }));
  await sleep(1200);
  mode = "fail";
  const served = await get(p);
  assert.equal(served.status, 200);
  assert.equal(served.cache, "STALE");
  assert.equal(served.body.good, true);
  behaviour.set(p, "hang");
  const timedOut = await get(p);
  assert.equal(timedOut.cache, "STALE", "a timeout counts as failure");
  const strict = fresh("stale");
  mode = "ok";
  behaviour.set(strict, () => (mode === "ok" ? answer(200, { "cache-control": "max-age=2, must-revalidate" }) : answer(503)));
  await get(strict);
  assert.ok(await stored(strict));
  await sleep(2200);
  mode = "fail";
  assert.equal((await get(strict)).status, 503, "must-revalidate: the origin's failure is relayed");
});

async function purge(body, token = ADMIN_TOKEN) {
  const r = await gateway.fetch("/__gateway/cache/purge", { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

test("purges by tag, route and URL make entries unreachable; new entries are kept", async () => {
  const tagged = fresh("tagged");
  const fromOrigin = fresh("origin");
  behaviour.set(fromOrigin, () => answer(200, { "cache-control": "max-age=60", "cache-tag": "promo, catalog-extra" }));
  const bystander = fresh("origin");
  for (const p of [tagged, fromOrigin, bystander]) {
    await get(p);
    assert.ok(await stored(p));
  }
  const byTag = await purge({ tags: ["catalog"] });
  assert.equal(byTag.status, 200);
  assert.equal(byTag.body.zone, null, "no zone is configured: nothing goes to the Cloudflare API");
  assert.equal((await get(tagged)).cache, "MISS", "the route's tag");
  assert.equal((await get(bystander)).cache, "HIT");
  assert.ok(await stored(tagged), "an entry fetched after the purge is kept");
  assert.equal((await purge({ tags: ["promo"] })).status, 200);
  assert.equal((await get(fromOrigin)).cache, "MISS", "the origin's Cache-Tag");
  assert.equal((await purge({ urls: [bystander] })).status, 200);
  assert.equal((await get(bystander)).cache, "MISS", "by URL");
  assert.ok(await stored(tagged));
  assert.equal((await purge({ routes: ["tagged"] })).status, 200);
  assert.equal((await get(tagged)).cache, "MISS", "by route");
});

test("purge markers reach other isolates through KV", async () => {
  const cache = await gateway.mf.getKVNamespace("CACHE");
  const { keys } = await cache.list({ prefix: "cache-purge:" });
  const names = keys.map((k) => k.name);
  assert.ok(names.includes("cache-purge:tag:catalog"), names.join());
  assert.ok(names.includes("cache-purge:route:tagged"));
  assert.ok(keys.every((k) => typeof k.metadata?.at === "number" && k.expiration > Date.now() / 1000));
});

test("the purge endpoint refuses a wrong token and invalid requests", async () => {
  assert.equal((await purge({ tags: ["x"] }, "wrong")).status, 401);
  const unknown = await purge({ routes: ["nope"], urls: ["::"] });
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.detail, /no route named 'nope'/);
  assert.equal((await purge({})).status, 400);
  assert.equal((await purge({ tag: ["x"] })).status, 400, "unknown fields are refused");
  const get = await gateway.fetch("/__gateway/cache/purge", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(get.status, 405);
});

test("the global KV tier answers when the edge tier is empty, and fills it back", async () => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-cache-"));
  const doc = document(origin.url);
  const p = fresh("global");
  let first = await startGateway({ document: doc, persistTo: state });
  try {
    const miss = await first.fetch(p);
    assert.equal(miss.headers.get("x-cache"), "MISS");
    await miss.text();
    const cache = await first.mf.getKVNamespace("CACHE");
    assert.ok(await eventually(async () => (await cache.list({ prefix: "cache:" })).keys.length > 0), "stored in KV");
    assert.ok(await eventually(async () => { const r = await first.fetch(p); await r.text(); return r.headers.get("x-cache") === "HIT"; }));
  } finally {
    await first.close();
  }
  // A new location: same KV, empty edge cache.
  fs.rmSync(path.join(state, "v3", "cache"), { recursive: true, force: true });
  const second = await startGateway({ document: doc, persistTo: state });
  try {
    const before = hits(p);
    const r = await second.fetch(p);
    assert.equal(r.headers.get("x-cache"), "HIT");
    assert.equal((await r.json()).count, 1);
    assert.equal(hits(p), before, "served from KV, not the origin");
  } finally {
    await second.close();
    fs.rmSync(state, { recursive: true, force: true });
  }
});

test("the access log records the cache outcome", async () => {
  const p = fresh("origin");
  await get(p);
  // Plain requests until one is a hit (only-if-cached waiting would log misses of its own),
  // then until its log line has been collected.
  await eventually(async () => (await get(p)).cache === "HIT", 3000);
  await eventually(() => gateway.accessLogs().some((l) => l.path === p && l.cache === "HIT"), 3000);
  const lines = gateway.accessLogs().filter((l) => l.path === p);
  assert.deepEqual([...new Set(lines.map((l) => l.cache))].sort(), ["HIT", "MISS"]);
  assert.equal(lines.find((l) => l.cache === "HIT").upstream_status, null);
});

test("npm run purge purges through the admin API and reports refusals", async () => {
  const { execFile } = await import("node:child_process");
  const run = (...args) =>
    new Promise((resolve) => {
      execFile("bash", ["scripts/purge.sh", "--gateway", gateway.url, ...args], { cwd: path.resolve(import.meta.dirname, "../..") }, (error, stdout, stderr) =>
        resolve({ code: error?.code ?? 0, stdout, stderr }),
      );
    });
  const p = fresh("tagged");
  await get(p);
  assert.ok(await stored(p));
  const ok = await run("--token", ADMIN_TOKEN, "--tag", "catalog");
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /purged 1 target/);
  assert.equal((await get(p)).cache, "MISS");
  const wrong = await run("--token", "nope", "--route", "tagged");
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /refused \(401 admin-unauthorized\)/);
  const unknown = await run("--token", ADMIN_TOKEN, "--route", "missing");
  assert.match(unknown.stderr, /no route named 'missing'/);
  assert.equal((await run("--token", ADMIN_TOKEN)).code, 2, "nothing named");
});
