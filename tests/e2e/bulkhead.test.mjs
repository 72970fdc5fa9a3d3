// The global bulkhead in workerd: two copies of the gateway, each its own isolate, share one
// ConcurrencyLimiter object per service, so a service's global_concurrency holds across them
// (the per-isolate max_concurrent could not), and a short queue lets a call wait for a lease.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { startOrigin, startGateway, documentFor, eventually } from "./harness.mjs";

let slow, gateway, inFlight = 0, most = 0;

before(async () => {
  slow = await startOrigin("slow", async () => {
    inFlight += 1;
    most = Math.max(most, inFlight);
    await sleep(600);
    inFlight -= 1;
  });
  gateway = await startGateway({
    replicas: 1,
    document: documentFor(
      {
        shared: { upstreams: [slow.url], global_concurrency: { limit: 2 } },
        queued: { upstreams: [slow.url], global_concurrency: { limit: 1, queue_ms: 2000 } },
      },
      [
        { name: "shared", path: "/shared", service: "shared" },
        { name: "queued", path: "/queued", service: "queued" },
      ],
    ),
  });
  for (const base of [gateway.url, ...gateway.replicas]) {
    assert.ok(await eventually(async () => (await fetch(`${base}/shared`)).status === 200, 5000), base);
  }
});

after(async () => {
  await gateway?.close();
  await slow?.close();
});

const call = async (base, p) => {
  const started = Date.now();
  const res = await fetch(`${base}${p}`);
  return { status: res.status, body: await res.json(), ms: Date.now() - started };
};

test("the limit holds across isolates: 6 calls through two gateways, 2 under way, the rest refused at once", async () => {
  most = 0;
  const answers = await Promise.all(
    Array.from({ length: 6 }, (_, i) => call(i % 2 ? gateway.replicas[0] : gateway.url, "/shared")),
  );
  const ok = answers.filter((a) => a.status === 200);
  const refused = answers.filter((a) => a.status === 503);
  assert.equal(ok.length, 2, JSON.stringify(answers.map((a) => a.status)));
  assert.equal(refused.length, 4);
  assert.ok(refused.every((a) => a.body.code === "service-saturated" && a.ms < 500), "refused without waiting");
  assert.equal(most, 2, "the origin never saw more than the limit");
  assert.equal((await call(gateway.replicas[0], "/shared")).status, 200, "leases are given back");
});

test("with queue_ms a call waits for a lease instead of being refused", async () => {
  most = 0;
  const answers = await Promise.all([call(gateway.url, "/queued"), call(gateway.replicas[0], "/queued")]);
  assert.deepEqual(answers.map((a) => a.status), [200, 200]);
  assert.equal(most, 1, "one at a time");
  const [first, second] = answers.map((a) => a.ms).sort((a, b) => a - b);
  assert.ok(second >= first + 400, `the second waited for the first (${first} and ${second} ms)`);
});
