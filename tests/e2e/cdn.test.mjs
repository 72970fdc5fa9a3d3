// What a CDN-grade cache does beyond the RFC 9111 core, in the real runtime: targeted cache
// control (RFC 9213), byte ranges from a stored response and from nginx as the origin, exact
// header handling, collapsed misses, cached compositions, and purges through a zone's API.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startOrigin, startGateway, startStaticNginx, eventually, rawRequest, ADMIN_TOKEN } from "./harness.mjs";

// path → (request, count) => { status, headers, body, delay }; unknown paths answer max-age=60.
const behaviour = new Map();
let app, files, api, gateway, version = 0, inFlight = 0, mostInFlight = 0;
const apiAnswers = [];
const hits = (p) => app.requests.filter((r) => r.url.split("?")[0] === p).length;
const fresh = (prefix) => `${prefix}/t${++version}`;
const FILE = "0123456789".repeat(100);
const root = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-files-"));

before(async () => {
  // nginx's workers run as an unprivileged user when it is started as root.
  fs.chmodSync(root, 0o755);
  fs.mkdirSync(path.join(root, "files"), { mode: 0o755 });
  for (const name of ["a", "b", "c", "d"]) fs.writeFileSync(path.join(root, "files", `${name}.txt`), FILE);
  files = await startStaticNginx(root);
  app = await startOrigin("app", async (req, body, res) => {
    const p = req.url.split("?")[0];
    const shape = behaviour.get(p);
    const out = shape ? await shape(req, hits(p)) : { status: 200, headers: { "cache-control": "max-age=60" } };
    inFlight++;
    mostInFlight = Math.max(mostInFlight, inFlight);
    if (out.delay) await sleep(out.delay);
    inFlight--;
    res.writeHead(out.status ?? 200, { "content-type": "application/json", ...out.headers });
    res.end(out.body ?? JSON.stringify({ path: p, count: hits(p) }));
  });
  api = await startOrigin("cloudflare-api", (req, body, res) => {
    const [status, answer] = apiAnswers.shift() ?? [200, { success: true, errors: [], messages: [], result: { id: "zone-1" } }];
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(answer));
  });
  const cached = (name, service, cache = { mode: "origin" }, extra = {}) =>
    ({ name, path: `/${name}/{*rest}`, service, cache, ...extra });
  gateway = await startGateway({
    document: {
      version: 1,
      services: { app: { upstreams: [app.url], timeout_ms: 3000 }, files: { upstreams: [files.url] } },
      routes: [
        cached("cdn", "app", { mode: "origin", tags: ["catalog"] }),
        { name: "files", path: "/files/{*rest}", service: "files", cache: { mode: "origin" } },
        {
          name: "view", path: "/view/{id}", cache: { mode: "origin" },
          aggregate: { compose: "nest", backends: [
            { name: "profile", service: "app", path: "/profile/{id}" },
            { name: "settings", service: "app", path: "/settings/{query.v}", required: false },
          ] },
        },
      ],
    },
    bindings: {
      CLOUDFLARE_ZONE_ID: "zone-1",
      CLOUDFLARE_API_URL: `${api.url}/client/v4`,
      CLOUDFLARE_API_TOKEN: "cf-token",
    },
  });
});

after(async () => {
  await gateway?.close();
  await app?.close();
  await api?.close();
  await files?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

// A plain HTTP client, so that no header is added or normalised on the way.
async function get(p, headers = {}, method = "GET") {
  const r = await rawRequest(gateway.url, { method, path: p, headers });
  const h = new Headers(Object.entries(r.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : String(v)]));
  return { status: r.status, headers: h, raw: r.headers, text: r.text, body: r.json ?? null, cache: h.get("x-cache") };
}

/** Waits until the entry for `p` is stored (only-if-cached never reaches the origin). */
const stored = (p, headers = {}) =>
  eventually(async () => (await get(p, { ...headers, "cache-control": "only-if-cached" })).cache === "HIT", 3000);

const purge = (request) =>
  gateway.fetch("/__gateway/cache/purge", {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(request),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));

test("CDN-Cache-Control decides for this cache over Cache-Control, and passes on to the client", async () => {
  const cases = [
    // [name, origin headers, stored?]
    ["targeted max-age stores what Cache-Control forbids", { "cache-control": "no-store", "cdn-cache-control": "max-age=60" }, true],
    ["targeted no-store forbids what Cache-Control allows", { "cache-control": "max-age=60", "cdn-cache-control": "no-store" }, false],
    ["targeted private", { "cache-control": "public, max-age=60", "cdn-cache-control": "private" }, false],
    ["targeted s-maxage", { "cache-control": "private", "cdn-cache-control": "s-maxage=60" }, true],
    ["Cloudflare's own field before the generic one", { "cloudflare-cdn-cache-control": "max-age=60", "cdn-cache-control": "no-store", "cache-control": "no-store" }, true],
  ];
  for (const [name, headers, storable] of cases) {
    const p = fresh("/cdn");
    behaviour.set(p, () => ({ headers }));
    const first = await get(p);
    assert.equal(first.cache, storable ? "MISS" : "BYPASS", name);
    assert.equal(first.headers.get("cache-control"), headers["cache-control"] ?? null, `${name}: Cache-Control is the client's`);
    assert.equal(first.headers.get("cdn-cache-control"), headers["cdn-cache-control"] ?? null, `${name}: CDN-Cache-Control passes on`);
    assert.equal(first.headers.get("cloudflare-cdn-cache-control"), null, `${name}: this cache's own field is consumed`);
    if (storable) {
      assert.ok(await stored(p), name);
      const hit = await get(p);
      assert.equal(hit.cache, "HIT", name);
      assert.equal(hit.headers.get("cloudflare-cdn-cache-control"), null, `${name}: not on a hit either`);
      assert.equal(hits(p), 1, name);
    } else {
      assert.equal((await get(p)).cache, "BYPASS", name);
      assert.equal(hits(p), 2, name);
    }
  }
});

test("a targeted lifetime shorter than Cache-Control's ends the entry, and targeted no-cache revalidates", async () => {
  const short = fresh("/cdn");
  behaviour.set(short, () => ({ headers: { "cache-control": "max-age=600", "cdn-cache-control": "max-age=1" } }));
  await get(short);
  assert.ok(await stored(short));
  await sleep(1300);
  assert.equal((await get(short)).cache, "MISS", "stale after the targeted max-age");
  assert.equal(hits(short), 2);

  const always = fresh("/cdn");
  behaviour.set(always, (req) => req.headers["if-none-match"] === '"v1"'
    ? { status: 304, headers: { etag: '"v1"', "cdn-cache-control": "no-cache" } }
    : { headers: { etag: '"v1"', "cache-control": "max-age=600", "cdn-cache-control": "no-cache" } });
  await get(always);
  await eventually(async () => (await get(always, { "cache-control": "only-if-cached, max-stale" })).status === 200);
  const again = await get(always);
  assert.equal(again.cache, "REVALIDATED", "no-cache in the targeted field: every use is revalidated");
  assert.equal(app.requests.findLast((r) => r.url === always).headers["if-none-match"], '"v1"');
});

test("a Range is answered 206 from the stored whole response: one part, several, If-Range, 416", async () => {
  const p = "/files/a.txt";
  const full = await get(p);
  assert.equal(full.status, 200);
  assert.equal(full.cache, "MISS");
  assert.equal(full.headers.get("content-length"), "1000");
  assert.ok(await stored(p));
  const etag = full.headers.get("etag");
  const modified = full.headers.get("last-modified");

  const one = await get(p, { range: "bytes=10-19" });
  assert.equal(one.status, 206);
  assert.equal(one.cache, "HIT");
  assert.equal(one.text, "0123456789");
  assert.equal(one.headers.get("content-range"), "bytes 10-19/1000");
  assert.equal(one.headers.get("content-length"), "10");
  assert.equal(one.headers.get("content-type"), "text/plain");

  const suffix = await get(p, { range: "bytes=-3" });
  assert.equal(suffix.status, 206);
  assert.equal(suffix.text, "789");
  assert.equal(suffix.headers.get("content-range"), "bytes 997-999/1000");

  const merged = await get(p, { range: "bytes=0-4, 3-9" });
  assert.equal(merged.headers.get("content-range"), "bytes 0-9/1000", "overlapping ranges are one part");

  const several = await get(p, { range: "bytes=0-1, 995-" });
  assert.equal(several.status, 206);
  const boundary = several.headers.get("content-type").match(/^multipart\/byteranges; boundary=(.+)$/)?.[1];
  assert.ok(boundary, several.headers.get("content-type"));
  const parts = several.text.split(`--${boundary}`).slice(1, -1);
  assert.equal(parts.length, 2);
  assert.match(parts[0], /content-type: text\/plain\r\ncontent-range: bytes 0-1\/1000\r\n\r\n01\r\n$/);
  assert.match(parts[1], /content-range: bytes 995-999\/1000\r\n\r\n56789\r\n$/);
  assert.ok(several.text.endsWith(`--${boundary}--\r\n`));
  assert.equal(Number(several.headers.get("content-length")), Buffer.byteLength(several.text));

  assert.equal((await get(p, { range: "bytes=0-1", "if-range": etag })).status, 206, "If-Range with the stored ETag");
  assert.equal((await get(p, { range: "bytes=0-1", "if-range": modified })).status, 206, "If-Range with the stored date");
  const changed = await get(p, { range: "bytes=0-1", "if-range": '"another"' });
  assert.equal(changed.status, 200, "If-Range naming another version: the whole body");
  assert.equal(changed.text, FILE);

  const beyond = await get(p, { range: "bytes=5000-" });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers.get("content-range"), "bytes */1000");
  assert.equal(beyond.headers.get("content-type"), "application/problem+json");
  assert.equal(beyond.body.code, "range-not-satisfiable");

  const malformed = await get(p, { range: "bytes=ten-twenty" });
  assert.equal(malformed.status, 200, "a malformed Range is ignored");
  assert.equal(malformed.text.length, 1000);

  assert.deepEqual(files.requests().filter((r) => r.uri === p).map((r) => r.range), [""], "nginx was asked once, for the whole file");
});

test("a Range that misses relays nginx's 206 and fills the whole response behind it", async () => {
  const p = "/files/b.txt";
  const first = await get(p, { range: "bytes=0-9" });
  assert.equal(first.status, 206);
  assert.equal(first.cache, "BYPASS", "a part is not stored");
  assert.equal(first.text, "0123456789");
  assert.equal(first.headers.get("content-range"), "bytes 0-9/1000");
  assert.ok(await stored(p), "the whole response was fetched and stored after it");
  const next = await get(p, { range: "bytes=990-999" });
  assert.equal(next.status, 206);
  assert.equal(next.cache, "HIT");
  assert.equal(next.text, "0123456789");
  const asked = files.requests().filter((r) => r.uri === "/files/b.txt").map((r) => r.range);
  assert.deepEqual(asked, ["bytes=0-9", ""], "the client's range, then the whole file once");
});

test("answers from the cache carry Content-Length, also after a 304 refresh", async () => {
  const p = fresh("/cdn");
  const body = JSON.stringify({ text: "é".repeat(20) });
  behaviour.set(p, (req) => req.headers["if-none-match"] === '"v1"'
    ? { status: 304, headers: { etag: '"v1"', "cache-control": "max-age=1" } }
    : { headers: { etag: '"v1"', "cache-control": "max-age=1" }, body });
  await get(p);
  assert.ok(await stored(p));
  const hit = await get(p);
  assert.equal(hit.cache, "HIT");
  assert.equal(hit.headers.get("content-length"), String(Buffer.byteLength(body)));
  await sleep(1200);
  const refreshed = await get(p);
  assert.equal(refreshed.cache, "REVALIDATED");
  assert.equal(refreshed.headers.get("content-length"), String(Buffer.byteLength(body)));
  assert.equal(refreshed.text, body);
});

test("Age is read from its first value; an Expires that is not a valid date is already past", async () => {
  const listed = fresh("/cdn");
  behaviour.set(listed, () => ({ headers: { "cache-control": "max-age=600", age: "100, 0" } }));
  await get(listed);
  assert.ok(await stored(listed));
  assert.ok(Number((await get(listed)).headers.get("age")) >= 100, "a list: the first member");

  const lines = fresh("/cdn");
  behaviour.set(lines, () => ({ headers: { "cache-control": "max-age=600", age: ["50", "0"] } }));
  await get(lines);
  assert.ok(await stored(lines));
  assert.ok(Number((await get(lines)).headers.get("age")) >= 50, "several lines: the first");

  const invalid = fresh("/cdn");
  behaviour.set(invalid, () => ({ headers: { expires: "Thu, 01 Jan 2099 1:00:00 GMT" } }));
  assert.equal((await get(invalid)).cache, "BYPASS", "a one-digit hour: not a date, so already expired");
  assert.equal((await get(invalid)).cache, "BYPASS");
  assert.equal(hits(invalid), 2);

  const overridden = fresh("/cdn");
  behaviour.set(overridden, () => ({ headers: { expires: "soon", "cache-control": "max-age=60" } }));
  await get(overridden);
  assert.ok(await stored(overridden), "max-age wins over an invalid Expires");
});

test("headers a Connection field names are not forwarded either way, nor stored", async () => {
  const p = fresh("/cdn");
  behaviour.set(p, () => ({ headers: { "cache-control": "max-age=60", connection: "x-origin-hop", "x-origin-hop": "1", "x-kept": "1" } }));
  const first = await get(p, { connection: "keep-alive, x-hop", "x-hop": "secret", "x-other": "kept" });
  const seen = app.requests.findLast((r) => r.url === p).headers;
  assert.equal(seen["x-hop"], undefined, "the client's nominated header stops at the gateway");
  assert.equal(seen["x-other"], "kept");
  assert.equal(first.headers.get("x-origin-hop"), null, "the origin's nominated header stops too");
  assert.equal(first.headers.get("x-kept"), "1");
  assert.ok(await stored(p));
  const hit = await get(p);
  assert.equal(hit.headers.get("x-origin-hop"), null, "and is not stored");
  assert.equal(hit.headers.get("x-kept"), "1");
});

test("50 concurrent misses for one key make one origin call; unstorable answers are fetched side by side", async () => {
  const p = fresh("/cdn");
  behaviour.set(p, () => ({ delay: 300, headers: { "cache-control": "max-age=60" } }));
  const answers = await Promise.all(Array.from({ length: 50 }, () => get(p)));
  assert.ok(answers.every((a) => a.status === 200 && a.body.path === p));
  assert.equal(hits(p), 1, "one origin call for 50 concurrent cold requests");
  const states = answers.map((a) => a.cache).sort();
  assert.deepEqual([...new Set(states)], ["HIT", "MISS"]);
  assert.equal(states.filter((s) => s === "MISS").length, 1);

  const unstorable = fresh("/cdn");
  behaviour.set(unstorable, () => ({ delay: 200, headers: { "cache-control": "no-store" } }));
  mostInFlight = 0;
  const first = await Promise.all(Array.from({ length: 20 }, () => get(unstorable)));
  assert.ok(first.every((a) => a.status === 200 && a.cache === "BYPASS"));
  assert.equal(hits(unstorable), 20, "an answer that cannot be shared: each asks the origin");
  assert.ok(mostInFlight >= 10, `the waiters went to the origin together (at most ${mostInFlight} at once)`);
  mostInFlight = 0;
  await Promise.all(Array.from({ length: 20 }, () => get(unstorable)));
  assert.ok(mostInFlight >= 10, `a key known unstorable is not collapsed (at most ${mostInFlight} at once)`);
});

test("a composed answer is cached as long as its shortest-lived part, and the parts each on their own", async () => {
  const profile = (id) => `/profile/${id}`;
  const settings = "/settings/dark";
  for (const id of ["1", "2"]) behaviour.set(profile(id), () => ({ headers: { "cache-control": "max-age=120", vary: "accept-language" }, body: JSON.stringify({ id }) }));
  behaviour.set(settings, () => ({ headers: { "cache-control": "max-age=30" }, body: JSON.stringify({ theme: "dark" }) }));
  const first = await get("/view/1?v=dark", { "accept-language": "en" });
  assert.equal(first.status, 200);
  assert.equal(first.cache, "MISS");
  assert.deepEqual(first.body, { profile: { id: "1" }, settings: { theme: "dark" } });
  assert.match(first.headers.get("cache-control"), /^public, max-age=(29|30)$/, "the shortest part's lifetime");
  assert.equal(first.headers.get("vary"), "accept-language", "every part's Vary");
  assert.ok(await stored("/view/1?v=dark", { "accept-language": "en" }));
  const hit = await get("/view/1?v=dark", { "accept-language": "en" });
  assert.equal(hit.cache, "HIT");
  assert.equal(hit.headers.get("content-length"), String(Buffer.byteLength(hit.text)));
  assert.equal(hits(profile("1")), 1);
  assert.equal(hits(settings), 1);
  assert.equal((await get("/view/1?v=dark", { "accept-language": "de" })).cache, "MISS", "another variant");

  // Another composition that shares a part: only the part it does not share is fetched.
  await eventually(async () => (await get("/view/2?v=dark", { "accept-language": "en" })).status === 200);
  assert.equal(hits(profile("2")), 1);
  assert.equal(hits(settings), 1, "the shared part came from the cache");

  // A part that may not be stored makes the composition unstorable; so does a missing one.
  const noStore = "/settings/private";
  behaviour.set(noStore, () => ({ headers: { "cache-control": "no-store" }, body: "{}" }));
  const unstorable = await get("/view/1?v=private");
  assert.equal(unstorable.headers.get("cache-control"), "no-store");
  assert.equal(unstorable.cache, "BYPASS");
  assert.equal((await get("/view/1?v=private")).cache, "BYPASS");
  behaviour.set("/settings/broken", () => ({ status: 500, headers: {} }));
  const incomplete = await get("/view/1?v=broken");
  assert.equal(incomplete.headers.get("x-gateway-incomplete"), "settings");
  assert.equal(incomplete.cache, "BYPASS", "an answer missing a part is not kept");
});

test("a purge also goes to the zone's API, by tag, and the markers still apply when it refuses", async () => {
  const p = fresh("/cdn");
  await get(p);
  assert.ok(await stored(p));
  const before = api.requests.length;
  const tagged = await purge({ tags: ["catalog"] });
  assert.equal(tagged.status, 200);
  assert.deepEqual(tagged.body.zone, { purged: true, requests: 1 });
  const sent = api.requests.slice(before);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].method, "POST");
  assert.equal(sent[0].url, "/client/v4/zones/zone-1/purge_cache");
  assert.equal(sent[0].headers.authorization, "Bearer cf-token");
  assert.equal(sent[0].headers["content-type"], "application/json");
  assert.deepEqual(JSON.parse(sent[0].body), { tags: ["gateway-tag-catalog"] }, "never purge_everything");
  assert.equal((await get(p)).cache, "MISS");

  const all = await purge({ everything: true, routes: ["cdn"], urls: [p], prefixes: ["/cdn"] });
  const tags = JSON.parse(api.requests.at(-1).body).tags;
  assert.equal(tags.length, 4);
  assert.deepEqual(tags.slice(0, 2), ["gateway-all", "gateway-route-cdn"]);
  assert.match(tags[2], /^gateway-url-[0-9a-f]{32}$/);
  assert.match(tags[3], /^gateway-prefix-[0-9a-f]{32}$/);
  assert.equal(all.body.purged, 4);

  const q = fresh("/cdn");
  await get(q);
  assert.ok(await stored(q));
  apiAnswers.push([403, { success: false, errors: [{ code: 10000, message: "Authentication error" }] }]);
  const refused = await purge({ urls: [q] });
  assert.equal(refused.status, 200, "the markers are written whatever the API says");
  assert.equal(refused.body.zone.purged, false);
  assert.match(refused.body.zone.error, /403: 10000 Authentication error/);
  assert.equal((await get(q)).cache, "MISS", "purged by its marker");
});

test("a prefix purge covers the paths below it and no others", async () => {
  const inside = "/cdn/prefixed/a/1";
  const deeper = "/cdn/prefixed/a/b/2";
  const sibling = "/cdn/prefixed/ab/3";
  for (const p of [inside, deeper, sibling]) {
    await get(p);
    assert.ok(await stored(p));
  }
  const done = await purge({ prefixes: ["/cdn/prefixed/a/"] });
  assert.equal(done.status, 200);
  assert.equal((await get(inside)).cache, "MISS");
  assert.equal((await get(deeper)).cache, "MISS");
  assert.equal((await get(sibling)).cache, "HIT", "/cdn/prefixed/ab is not below /cdn/prefixed/a");
  const tooDeep = await purge({ prefixes: ["/x".repeat(17)] });
  assert.equal(tooDeep.status, 400);
  assert.match(tooDeep.body.detail, /deeper than 16 segments/);
});
