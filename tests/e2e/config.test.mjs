// Route documents in KV: loading, hot swapping without a redeploy, and surviving bad pushes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, startGateway, documentFor, rawRequest } from "./harness.mjs";

let v1, v2, gateway;

const docFor = (name, url) => documentFor({ app: url }, [{ name, path: `/${name}`, service: "app" }]);

before(async () => {
  v1 = await startOrigin("v1");
  v2 = await startOrigin("v2");
  gateway = await startGateway({ refreshSeconds: 1 });
});

after(async () => {
  await gateway?.close();
  await v1?.close();
  await v2?.close();
});

test("without any document the gateway answers 503 problem+json", async () => {
  const res = await rawRequest(gateway.url, { path: "/a" });
  assert.equal(res.status, 503);
  assert.equal(res.headers["content-type"], "application/problem+json");
  assert.equal(res.json.code, "config-unavailable");
  assert.ok(res.headers["retry-after"]);
});

test("an invalid first document still answers 503, and every error is logged with its path", async () => {
  await gateway.push({ version: 1, services: { app: { upstreams: ["nope"] } }, routes: [{ name: "a", path: "x", service: "zz" }] });
  const res = await rawRequest(gateway.url, { path: "/a" });
  assert.equal(res.status, 503);
  const rejected = gateway.configEvents().find((e) => e.event === "rejected");
  assert.ok(rejected, "the rejection is logged");
  const paths = rejected.errors.map((e) => e.path).sort();
  assert.deepEqual(paths, ["$.routes[0].path", "$.routes[0].service", "$.services.app.upstreams[0]"]);
});

test("a valid document is served once pushed, without a restart", async () => {
  await gateway.push(docFor("a", v1.url));
  await gateway.waitForRefresh();
  const res = await rawRequest(gateway.url, { path: "/a" });
  assert.equal(res.status, 200);
  assert.equal(res.json.origin, "v1");
});

test("a new document replaces the old one within the refresh interval", async () => {
  await gateway.push(docFor("b", v2.url));
  await gateway.waitForRefresh();
  assert.equal((await rawRequest(gateway.url, { path: "/a" })).status, 404, "the old route is gone");
  const res = await rawRequest(gateway.url, { path: "/b" });
  assert.equal(res.status, 200);
  assert.equal(res.json.origin, "v2");
  const log = gateway.accessLogs().at(-1);
  const loaded = gateway.configEvents().filter((e) => e.event === "loaded").at(-1);
  assert.equal(log.config_version, loaded.version, "the access log names the version that served it");
});

test("a broken push keeps the last good document serving", async () => {
  await gateway.push('{"version": 1, "services": {}, "routes": [ { "name": "c", ');
  await gateway.waitForRefresh();
  const res = await rawRequest(gateway.url, { path: "/b" });
  assert.equal(res.status, 200);
  assert.equal(res.json.origin, "v2");
  const rejected = gateway.configEvents().filter((e) => e.event === "rejected").at(-1);
  assert.match(rejected.errors[0].message, /not valid JSON/);
});

test("a deleted document keeps the last good one serving", async () => {
  await gateway.kv.delete("routes");
  await gateway.waitForRefresh();
  assert.equal((await rawRequest(gateway.url, { path: "/b" })).status, 200);
  assert.ok(gateway.configEvents().some((e) => e.event === "missing"));
});
