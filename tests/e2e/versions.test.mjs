// Configuration versions through the admin API and the commands: push (validated, every error
// reported), list, read, roll back; the version served is reported by health and the access log.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { startOrigin, startGateway, documentFor, rawRequest, ADMIN_TOKEN, ROOT } from "./harness.mjs";

const run = promisify(execFile);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-versions-"));
let v1, v2, gateway;

const versionOf = (text) => createHash("sha256").update(text).digest("hex").slice(0, 16);
const textFor = (name, url) =>
  JSON.stringify(documentFor({ app: url }, [{ name, path: `/${name}`, service: "app" }]), null, 2);
const admin = (method, route, body, token = ADMIN_TOKEN) =>
  fetch(`${gateway.url}/__gateway/${route}`, {
    method,
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
    body,
  });

before(async () => {
  v1 = await startOrigin("v1");
  v2 = await startOrigin("v2");
  // A long refresh interval: every change below must take effect through the API alone.
  gateway = await startGateway({ refreshSeconds: 300 });
});

after(async () => {
  await gateway?.close();
  await v1?.close();
  await v2?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("the config endpoints refuse a missing or wrong secret", async () => {
  for (const token of [null, "wrong", `${ADMIN_TOKEN}x`]) {
    for (const [method, route] of [["GET", "config"], ["PUT", "config"], ["GET", "config/versions"], ["POST", "config/rollback"]]) {
      const res = await admin(method, route, method === "PUT" ? textFor("a", v1.url) : undefined, token);
      assert.equal(res.status, 401, `${method} ${route} with ${token}`);
      assert.equal((await res.json()).code, "admin-unauthorized");
    }
  }
  assert.equal((await admin("GET", "config/versions")).status, 200, "the right secret is accepted");
});

test("before any document, health says so and an invalid push is refused with every error", async () => {
  const health = await (await admin("GET", "health")).json();
  assert.equal(health.status, "no-config");
  const memory = health.isolate.wasm_memory_bytes;
  assert.ok(memory > 0 && memory % 65536 === 0, `the isolate's Wasm memory in whole pages: ${memory}`);
  const res = await admin("PUT", "config", JSON.stringify({
    version: 1,
    services: { app: { upstreams: ["nope"] } },
    routes: [{ name: "a", path: "x", service: "zz" }],
  }));
  assert.equal(res.status, 422);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const problem = await res.json();
  assert.equal(problem.code, "config-invalid");
  assert.deepEqual(problem.errors.map((e) => e.path).sort(), ["$.routes[0].path", "$.routes[0].service", "$.services.app.upstreams[0]"]);
  assert.equal((await rawRequest(gateway.url, { path: "/a" })).status, 503, "nothing became current");
  assert.deepEqual((await (await admin("GET", "config/versions")).json()).versions, []);
  for (const [method, route] of [["GET", "config"], ["POST", "config/rollback"]]) {
    const res = await admin(method, route);
    assert.equal(res.status, 404, `${method} ${route} before any push`);
    assert.equal((await res.json()).code, "config-not-found");
  }
});

test("pushes become versions and take effect at once; rollback restores the earlier behaviour", async () => {
  const first = textFor("a", v1.url);
  const second = textFor("b", v2.url);
  const pushed1 = await (await admin("PUT", "config", first)).json();
  assert.equal(pushed1.version, versionOf(first), "the version is the document's content hash");
  assert.equal((await rawRequest(gateway.url, { path: "/a" })).json.origin, "v1");

  const res2 = await admin("PUT", "config", second);
  assert.equal(res2.status, 200);
  const pushed2 = await res2.json();
  assert.equal(pushed2.previous, pushed1.version);
  assert.equal((await rawRequest(gateway.url, { path: "/a" })).status, 404, "the first document's route is gone");
  assert.equal((await rawRequest(gateway.url, { path: "/b" })).json.origin, "v2");

  const current = await (await admin("GET", "config")).json();
  assert.equal(current.version, pushed2.version);
  assert.equal(current.serving, pushed2.version);
  assert.deepEqual(current.document, JSON.parse(second));

  const list = await (await admin("GET", "config/versions")).json();
  assert.deepEqual(list.versions.map((v) => [v.version, v.current]), [[pushed2.version, true], [pushed1.version, false]]);
  const stored = await admin("GET", `config/versions/${pushed1.version}`);
  assert.equal(await stored.text(), first, "a stored version is the exact text pushed");

  const rolled = await (await admin("POST", "config/rollback")).json();
  assert.equal(rolled.version, pushed1.version, "without a body, rollback restores what the current one replaced");
  assert.equal(rolled.action, "rollback");
  const res = await rawRequest(gateway.url, { path: "/a" });
  assert.equal(res.status, 200);
  assert.equal(res.json.origin, "v1");
  assert.equal(gateway.accessLogs().at(-1).config_version, pushed1.version, "the access log names the version");
  assert.equal((await (await admin("GET", "health")).json()).config_version, pushed1.version);

  const forward = await (await admin("POST", "config/rollback", JSON.stringify({ version: pushed2.version }))).json();
  assert.equal(forward.version, pushed2.version, "any stored version can be made current again");
  assert.equal((await rawRequest(gateway.url, { path: "/b" })).json.origin, "v2");
  assert.equal((await (await admin("GET", "config/versions")).json()).versions.length, 2, "no version is stored twice");
});

test("rollback to an unknown or malformed version is refused and changes nothing", async () => {
  const before = (await (await admin("GET", "config")).json()).version;
  const unknown = await admin("POST", "config/rollback", JSON.stringify({ version: "0123456789abcdef" }));
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).code, "version-not-found");
  const malformed = await admin("POST", "config/rollback", JSON.stringify({ version: "../routes" }));
  assert.equal(malformed.status, 400);
  assert.equal((await malformed.json()).code, "admin-invalid");
  assert.equal((await admin("DELETE", "config")).status, 405);
  assert.equal((await (await admin("GET", "config")).json()).version, before);
});

test("commands: push, versions and rollback work against a running gateway's admin API", async () => {
  const file = path.join(tmp, "c.json");
  fs.writeFileSync(file, textFor("c", v1.url));
  const env = { ...process.env, GATEWAY_URL: gateway.url, GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN };
  const pushed = await run("bash", [path.join(ROOT, "scripts/push.sh"), file], { cwd: ROOT, env });
  const version = versionOf(fs.readFileSync(file, "utf8"));
  assert.match(pushed.stdout, new RegExp(`version ${version} is current`));
  assert.equal((await rawRequest(gateway.url, { path: "/c" })).json.origin, "v1");

  const listed = await run("bash", [path.join(ROOT, "scripts/config.sh"), "versions"], { cwd: ROOT, env });
  assert.match(listed.stdout, new RegExp(`^\\* ${version} `, "m"), "the current version is marked");

  const rolled = await run("bash", [path.join(ROOT, "scripts/config.sh"), "rollback"], { cwd: ROOT, env });
  assert.match(rolled.stdout, /rolled back: version [0-9a-f]{16} is current/);
  assert.equal((await rawRequest(gateway.url, { path: "/c" })).status, 404, "the rolled-back route is gone");

  await assert.rejects(
    run("bash", [path.join(ROOT, "scripts/config.sh"), "rollback", "--token", "wrong"], { cwd: ROOT, env }),
    (e) => e.code === 1 && /admin-unauthorized/.test(e.stderr),
  );
});
