// Metrics: what a test sends is what the admin API counts (per route: status classes,
// latency, cache hits, rate-limit denials, auth failures), Analytics Engine receives one data
// point per request, and the dashboard draws it all in a real browser (Debian's Chromium).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { startOrigin, startGateway, rawRequest, eventually, ADMIN_TOKEN, ROOT } from "./harness.mjs";

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const ARTIFACTS = path.join(ROOT, "tests/artifacts");
let origin, gateway;

const metrics = async () =>
  (await fetch(`${gateway.url}/__gateway/metrics?minutes=5`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();

before(async () => {
  origin = await startOrigin("app", async (req, body, res) => {
    if (req.url.startsWith("/broken")) {
      res.writeHead(503, { "content-type": "text/plain" });
      res.end("down");
    } else if (req.url.startsWith("/cached")) {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=300" });
      res.end('{"cached":true}');
    }
  });
  gateway = await startGateway({
    analytics: true,
    document: {
      version: 1,
      services: { app: { upstreams: [origin.url] } },
      auth: { api_keys: { header: "x-api-key" } },
      rate_limits: { two: { quota: { limit: 2, window: "hour" }, key: ["route"] } },
      routes: [
        { name: "ok", path: "/ok", service: "app" },
        { name: "broken", path: "/broken", service: "app" },
        { name: "cached", path: "/cached", service: "app", cache: { mode: "origin" } },
        { name: "limited", path: "/limited", service: "app", rate_limits: ["two"] },
        { name: "secure", path: "/secure", service: "app", auth: { mode: "required", schemes: ["api_key"] } },
      ],
    },
  });
});

after(async () => {
  await gateway?.close();
  await origin?.close();
});

test("the metrics endpoint counts exactly what was sent, per route", async () => {
  for (let i = 0; i < 5; i++) await rawRequest(gateway.url, { path: "/ok" });
  for (let i = 0; i < 3; i++) await rawRequest(gateway.url, { path: "/broken" });
  for (let i = 0; i < 4; i++) await rawRequest(gateway.url, { path: "/cached" });
  for (let i = 0; i < 5; i++) await rawRequest(gateway.url, { path: "/limited" });
  for (let i = 0; i < 2; i++) await rawRequest(gateway.url, { path: "/secure", headers: { "x-api-key": "wrong" } });
  await rawRequest(gateway.url, { path: "/nowhere" });
  await rawRequest(gateway.url, { path: "/__gateway/health", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

  const data = await eventually(async () => {
    const m = await metrics();
    return m.routes?.limited?.requests === 5 && m.routes?.secure?.requests === 2 ? m : null;
  }, 5000);
  assert.ok(data, "the batch reaches the store within a few seconds");
  const r = data.routes;
  assert.equal(r.ok.requests, 5);
  assert.equal(r.ok.status["2xx"], 5);
  assert.ok(r.ok.latency_ms.p50 > 0 && r.ok.upstream_ms.count === 5);
  assert.equal(r.broken.status["5xx"], 3);
  assert.equal(r.cached.cache.lookups, 4);
  assert.equal(r.cached.cache.hits, 3, "the first request misses, the next three hit");
  assert.equal(r.cached.upstream_ms.count, 1, "hits never reach the origin");
  assert.equal(r.limited.status["2xx"], 2);
  assert.equal(r.limited.rate_limited, 3);
  assert.equal(r.secure.auth_failures, 2);
  assert.equal(r.secure.status["4xx"], 2);
  assert.equal(r["(unrouted)"].status["4xx"], 1);
  assert.equal(Object.keys(r).includes("admin"), false);
  const total = data.minutes.reduce((sum, m) => sum + m.requests, 0);
  assert.equal(total, 5 + 3 + 4 + 5 + 2 + 1, "admin calls are not counted");
  assert.equal(data.minutes.length, 5);
});

test("Analytics Engine receives one data point per request when bound", async () => {
  const points = () => gateway.logs
    .flatMap(({ message }) => message.split("\n"))
    .filter((line) => line.includes('"analytics"'))
    .map((line) => JSON.parse(line).point);
  const before = points().length;
  await rawRequest(gateway.url, { path: "/broken" });
  const written = await eventually(() => points().length === before + 1 && points().at(-1), 2000);
  assert.ok(written);
  assert.deepEqual(written.indexes, ["broken"]);
  assert.deepEqual(written.blobs, ["broken", "5xx", "", ""]);
  assert.equal(written.doubles[0], 503);
  assert.ok(written.doubles[1] > 0 && written.doubles[2] >= 0);
  // The same request reaches the metrics store too; waiting for it also keeps its late batch
  // from landing in the middle of the next test's comparisons.
  const counted = await eventually(async () => (await metrics()).routes?.broken?.requests === 4, 5000);
  assert.ok(counted, "the request is counted by the metrics store as well");
});

test("the metrics endpoint needs the admin token and a sane window", async () => {
  assert.equal((await fetch(`${gateway.url}/__gateway/metrics`)).status, 401);
  const bad = await fetch(`${gateway.url}/__gateway/metrics?minutes=0`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(bad.status, 400);
});

test("the dashboard draws the metrics in Chromium", { skip: !fs.existsSync(CHROMIUM) && `no browser at ${CHROMIUM}` }, async () => {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    // Without a token the page asks for one and shows nothing.
    await page.goto(`${gateway.url}/__gateway/dashboard`);
    await page.waitForSelector("body[data-state=login]");
    assert.equal(await page.isVisible("#charts"), false);
    // A wrong token is refused.
    await page.fill("#token", "wrong");
    await page.click("#login button");
    await page.waitForFunction(() => document.getElementById("error").textContent.includes("refused"));
    // The right one draws every chart.
    await page.fill("#token", ADMIN_TOKEN);
    await page.click("#login button");
    await page.waitForSelector("body[data-state=ready]");
    for (const [chart, mark] of [["requests", "rect"], ["latency", "circle"], ["cache", "circle"], ["refusals", "rect"]]) {
      const marks = await page.$$eval(`#chart-${chart} ${mark}`, (nodes) => nodes.filter((n) => n.getBBox().height > 0).length);
      assert.ok(marks > 0, `${chart} draws its data`);
    }
    const drawn = await page.$$eval("#chart-cache circle", (nodes) => nodes.map((n) => Number(n.dataset.value)));
    const counted = (await metrics()).minutes.filter((m) => m.cache.lookups).map((m) => m.cache.hit_ratio * 100);
    assert.deepEqual(drawn, counted, "each minute's hit ratio is drawn");
    const bars = await page.$$eval("#chart-requests rect", (rects) => rects.reduce((s, r) => s + Number(r.dataset.value), 0));
    const expected = (await metrics()).minutes.reduce((sum, m) => sum + m.requests, 0);
    assert.equal(bars, expected, "the bars add up to the requests counted");
    const limitedRow = await page.$$eval("#routes tr[data-route=limited] td", (cells) => cells.map((c) => c.textContent));
    assert.equal(limitedRow[10], "3", "the routes table shows the denials");
    const version = (await (await fetch(`${gateway.url}/__gateway/config`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()).version;
    assert.equal(await page.textContent("#config-version"), version, "the current version is shown");
    const versionRow = await page.$$eval(`#versions tr[data-version="${version}"] td`, (cells) => cells.map((c) => c.textContent));
    assert.equal(Number(versionRow[1]), (await metrics()).versions[version].requests, "and its requests");
    assert.deepEqual(errors, []);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard.png"), fullPage: true });
  } finally {
    await browser.close();
  }
});
