// Active health checks in workerd: the HealthChecker object probes each upstream from its
// alarm; an upstream that fails its probes is taken out of every isolate's rotation and put
// back when it passes them again, and a service whose upstreams all fail keeps being served.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { chromium } from "playwright-core";
import { startOrigin, startGateway, documentFor, eventually, ADMIN_TOKEN } from "./harness.mjs";

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
let a, b, gateway;
const health = { a: 200, b: 200 };
const probes = { a: 0, b: 0 };

function origin(name) {
  return startOrigin(name, (req, _body, res) => {
    if (req.url === "/healthz") {
      probes[name] += 1;
      res.writeHead(health[name]);
      res.end();
    }
  });
}

before(async () => {
  a = await origin("a");
  b = await origin("b");
  gateway = await startGateway({
    document: documentFor(
      { pool: { upstreams: [a.url, b.url], health_check: { path: "/healthz", interval_seconds: 1, timeout_ms: 500, healthy_threshold: 2, unhealthy_threshold: 2 } } },
      [{ name: "pool", path: "/pool", service: "pool" }],
    ),
  });
  await eventually(async () => (await gateway.fetch("/pool")).status === 200, 5000);
});

after(async () => {
  await gateway?.close();
  await a?.close();
  await b?.close();
});

async function origins(n) {
  const seen = { a: 0, b: 0 };
  for (let i = 0; i < n; i++) {
    const res = await gateway.fetch("/pool");
    assert.equal(res.status, 200);
    seen[res.headers.get("x-origin")] += 1;
  }
  return seen;
}

const state = async () => (await (await gateway.fetch("/__gateway/upstreams", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json());
const healthyOf = async (url) => (await state()).upstreams.find((u) => u.upstream === url)?.state?.healthy;

test("the checker probes every upstream on its interval, with no client traffic needed", async () => {
  const before = { ...probes };
  await sleep(2500);
  assert.ok(probes.a - before.a >= 2 && probes.b - before.b >= 2, `probed about once a second: ${JSON.stringify(probes)}`);
  const view = await state();
  assert.equal(view.upstreams.length, 2);
  assert.ok(view.upstreams.every((u) => u.state.healthy && u.state.last_status === 200 && u.interval_ms === 1000));
});

test("an upstream failing its probes is taken out of rotation, and put back when it recovers", async () => {
  const both = await origins(30);
  assert.ok(both.a > 0 && both.b > 0, `both serve while healthy: ${JSON.stringify(both)}`);
  health.b = 503;
  assert.ok(await eventually(async () => (await healthyOf(b.url)) === false, 6000), "b reported unhealthy");
  await sleep(2200); // every isolate looks again within 2 s
  const without = await origins(30);
  assert.deepEqual(without, { a: 30, b: 0 }, "no request reaches the unhealthy upstream");
  const view = await state();
  const entry = view.upstreams.find((u) => u.upstream === b.url);
  assert.equal(entry.state.last_status, 503);

  health.b = 200;
  assert.ok(await eventually(async () => (await healthyOf(b.url)) === true, 6000), "b healthy again");
  await sleep(2200);
  const back = await origins(30);
  assert.ok(back.b > 0, `b serves again: ${JSON.stringify(back)}`);
  const events = gateway.logs.map((l) => l.message).filter((m) => m.includes('"type":"health"'));
  assert.ok(events.some((m) => m.includes("upstream_unhealthy")) && events.some((m) => m.includes("upstream_healthy")), events.join("\n"));
});

test("when every upstream fails its probes, they are all still used", async () => {
  health.a = 500;
  health.b = 500;
  assert.ok(await eventually(async () => (await healthyOf(a.url)) === false && (await healthyOf(b.url)) === false, 6000));
  await sleep(2200);
  const seen = await origins(20);
  assert.equal(seen.a + seen.b, 20, "served rather than refused");
  health.a = 200;
  health.b = 200;
});

test("the dashboard shows each checked upstream's health", { skip: !fs.existsSync(CHROMIUM) && `no browser at ${CHROMIUM}` }, async () => {
  health.b = 503;
  assert.ok(await eventually(async () => (await healthyOf(a.url)) === true && (await healthyOf(b.url)) === false, 8000));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--no-first-run"] });
  try {
    const page = await browser.newPage();
    await page.goto(`${gateway.url}/__gateway/dashboard#token=${ADMIN_TOKEN}`);
    await page.waitForSelector("body[data-state=ready]");
    assert.equal(await page.getAttribute(`#upstreams tr[data-upstream="${a.url}"]`, "data-healthy"), "true");
    assert.equal(await page.getAttribute(`#upstreams tr[data-upstream="${b.url}"]`, "data-healthy"), "false");
  } finally {
    await browser.close();
    health.b = 200;
  }
});
