// Calls from the gateway's Wasm into JavaScript per request, by imported function: every call
// into the runtime (a header read, a new Request, Date.now, a random fill, a promise hook)
// crosses the JS/Wasm boundary and is a place the runtime spends CPU.
//
//   node bench/crossings.mjs [--requests N] [--route plain|rate-limited|aggregate]
//
// `--route rate-limited` puts a rate limit (one so generous it never denies) on the route, so
// every request also calls the limiter's Durable Object; the object's own calls, made by the
// same module, are counted too. `--route aggregate` composes three backends (`nest`).
// A copy of build/ is instrumented: each function the Wasm module imports is wrapped in a
// counter. The access log (one console.log per request) marks the requests: counting starts
// after a warm-up, and the totals are logged after N more requests.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { option } from "./options.mjs";
import { ROOT, startGateway, startOrigin } from "../tests/e2e/harness.mjs";
import { BODY, plainDocument } from "./servers.mjs";

const requests = Number(option("--requests", 500));
const route = option("--route", "plain");
const ROUTES = { plain: "plain proxied", "rate-limited": "rate-limited", aggregate: "3-backend aggregated" };
if (!ROUTES[route]) throw new Error(`--route ${route}: one of ${Object.keys(ROUTES).join(", ")}`);
const WARM_UP = 50;
const MARK = "gateway-crossings ";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-crossings-"));
for (const file of ["entry.js", "index.js", "index_bg.wasm"]) fs.copyFileSync(path.join(ROOT, "build", file), path.join(dir, file));
const glue = fs.readFileSync(path.join(dir, "index.js"), "utf8");
const instantiation = /new WebAssembly\.Instance\(([\w$]+),([\w$]+)\(\)\)/g;
if (!instantiation.test(glue)) throw new Error("build/index.js: no `new WebAssembly.Instance(module, imports())` to instrument");
const counter = `
globalThis.__gatewayCount = (imports) => {
  const counts = new Map();
  const originals = new Map();
  let logged = 0;
  for (const [module, exported] of Object.entries(imports)) {
    // A copy: an inline JS snippet whose functions need no glue is imported as its module
    // namespace, whose properties cannot be replaced.
    const functions = (imports[module] = { ...exported });
    for (const [name, f] of Object.entries(functions)) {
      if (typeof f !== "function") continue;
      originals.set(name, f);
      const counted = function (...args) {
        counts.set(name, (counts.get(name) ?? 0) + 1);
        return f.apply(this, args);
      };
      // console.log marks requests: the access log is one line per request.
      functions[name] = /^__wbg_log_/.test(name)
        ? function (line) {
            logged++;
            if (logged === ${WARM_UP}) counts.clear();
            const result = counted.call(this, line);
            if (logged === ${WARM_UP + requests}) {
              console.log(${JSON.stringify(MARK)} + JSON.stringify([...counts].map(([n, c]) => [n, c, String(originals.get(n))])));
            }
            return result;
          }
        : counted;
    }
  }
  return imports;
};
`;
fs.writeFileSync(path.join(dir, "index.js"), counter + glue.replace(instantiation, "new WebAssembly.Instance($1,globalThis.__gatewayCount($2()))"));

const origin = await startOrigin("crossings", (req, body, res) => {
  res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(BODY);
});
const document = plainDocument(origin.url);
if (route === "rate-limited") {
  document.rate_limits = { generous: { rate: { limit: 1000000000, period_seconds: 1 }, key: ["ip"] } };
  document.routes[0].rate_limits = ["generous"];
} else if (route === "aggregate") {
  const backends = ["a", "b", "c"].map((name) => ({ name, service: "app", path: `/users/{id}?${name}` }));
  document.routes[0] = { name: "fanout", path: "/users/{id}", aggregate: { compose: "nest", backends } };
}
const gateway = await startGateway({ buildDir: dir, document });
try {
  for (let i = 0; i < WARM_UP + requests; i++) {
    const response = await gateway.fetch("/users/1", { headers: { accept: "application/json", "user-agent": "crossings" } });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`status ${response.status}`);
  }
  let line;
  for (let i = 0; i < 50 && !line; i++) {
    line = gateway.logs.map((l) => l.message).find((m) => m.startsWith(MARK));
    if (!line) await new Promise((r) => setTimeout(r, 100));
  }
  if (!line) throw new Error("the instrumented build logged no counts");
  const counts = JSON.parse(line.slice(MARK.length))
    .map(([name, n, source]) => [name.replace(/^__wbg_/, "").replace(/_[0-9a-f]{16}$/, ""), n / requests, source])
    .filter(([, n]) => n >= 0.5)
    .sort((a, b) => b[1] - a[1]);
  const total = counts.reduce((sum, [, n]) => sum + n, 0);
  console.log(`JS calls from Wasm per ${ROUTES[route]} request (mean over ${requests} requests; those made at least every other request): ${total.toFixed(1)}`);
  // The generated function's body says what it does better than its name.
  const what = (source) => source.replace(/^function\s*\([^)]*\)\s*\{/, "").replace(/\}$/, "").replace(/\s+/g, " ").slice(0, 90);
  for (const [name, n, source] of counts) console.log(`  ${n.toFixed(2).padStart(6)}  ${name.padEnd(28)} ${what(source)}`);
} finally {
  await gateway.close();
  await origin.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
