// The servers the benchmarks run against, all on loopback: nginx as the origin (a fixed JSON
// body) and as a keep-alive reverse proxy to it, the minimal pass-through Worker
// (bench/passthrough) and the gateway, both in workerd at workerd's own sockets.
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import { promisify } from "node:util";
import path from "node:path";
import { Miniflare, Log, LogLevel, convertV4MiniflareOptions } from "miniflare";
import { ROOT, builtWorker, closedPort, startGateway } from "../tests/e2e/harness.mjs";

export const BODY = '{"id":1,"name":"Ada Lovelace","email":"ada@example.com"}';

const execFileAsync = promisify(execFile);

/** wrk on one thread against `url` for `seconds` with `connections` (`args` go before the URL);
 * its report and the requests it completed. Asynchronous on purpose: the calling process
 * drains the runtime's log pipe, and workerd stalls when it is full. */
export async function wrk(url, { seconds, connections = 16, args = [] }) {
  const argv = ["-t1", `-c${connections}`, `-d${seconds}s`, ...args, url];
  const { stdout } = await execFileAsync("wrk", argv, { encoding: "utf8" });
  return { stdout, requests: Number(stdout.match(/(\d+) requests in/)?.[1] ?? 0) };
}

/** A loopback port nothing listens on yet. */
export const freePort = closedPort;

export async function waitFor(url) {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not come up`);
}

/** nginx twice: the origin (a fixed JSON body) and a keep-alive reverse proxy to it. */
export async function startNginx(tmp) {
  const originPort = await freePort();
  const proxyPort = await freePort();
  const conf = path.join(tmp, "nginx.conf");
  fs.writeFileSync(conf, `
worker_processes 1;
pid ${tmp}/nginx.pid;
error_log ${tmp}/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  keepalive_requests 1000000;
  upstream origin { server 127.0.0.1:${originPort}; keepalive 32; }
  server {
    listen 127.0.0.1:${originPort};
    location / { default_type application/json; return 200 '${BODY}'; }
  }
  server {
    listen 127.0.0.1:${proxyPort};
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}`);
  const nginx = spawn("nginx", ["-c", conf, "-p", tmp, "-g", "daemon off;"], { stdio: "inherit" });
  const origin = `http://127.0.0.1:${originPort}`;
  await waitFor(`${origin}/`);
  await waitFor(`http://127.0.0.1:${proxyPort}/`);
  return { origin, proxy: `http://127.0.0.1:${proxyPort}`, stop: () => nginx.kill("SIGTERM") };
}

export async function startPassthrough(origin, { inspectorPort } = {}) {
  const mf = new Miniflare(convertV4MiniflareOptions({
    log: new Log(LogLevel.WARN),
    cf: false,
    ...(inspectorPort === undefined ? {} : { inspectorPort }),
    workers: [{
      ...builtWorker("passthrough", path.join(ROOT, "bench/passthrough/build")),
      bindings: { ORIGIN: origin },
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
      ...(inspectorPort === undefined ? {} : { unsafeInspectorProxy: true }),
    }],
  }));
  await mf.ready;
  const url = `${await mf.unsafeGetDirectURL("passthrough")}`.replace(/\/$/, "");
  return { url, close: () => mf.dispose() };
}

/** The hand-written peers in one workerd: the JS pass-through Worker and the Hono gateway
 * (bench/peers, bundled by esbuild), each on its own socket; `secret` is the HS256 key (a
 * string, as hono/jwt takes it) and `issuer` the `iss` the Hono routes expect. */
export async function startPeers(origin, { secret, issuer }) {
  const { build } = await import("esbuild");
  const bundle = async (file) =>
    (await build({ entryPoints: [path.join(ROOT, "bench/peers", file)], bundle: true, format: "esm", write: false, platform: "neutral", mainFields: ["module", "main"] })).outputFiles[0].text;
  const worker = (name, script, extra = {}) => ({
    name, modules: true, script, compatibilityDate: "2026-11-01",
    bindings: { ORIGIN: origin, SECRET: secret, ISSUER: issuer },
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    ...extra,
  });
  const mf = new Miniflare(convertV4MiniflareOptions({
    log: new Log(LogLevel.WARN),
    cf: false,
    workers: [
      worker("js-passthrough", await bundle("passthrough.mjs")),
      worker("hono", await bundle("hono.mjs"), { durableObjects: { LIMITER: "Limiter" } }),
    ],
  }));
  await mf.ready;
  const direct = async (name) => `${await mf.unsafeGetDirectURL(name)}`.replace(/\/$/, "");
  return { passthrough: await direct("js-passthrough"), hono: await direct("hono"), close: () => mf.dispose() };
}

/** One route, `GET /users/{id}`, proxied to `origin`. */
export const plainDocument = (origin) => ({
  version: 1,
  services: { app: { upstreams: [origin] } },
  routes: [{ name: "plain", methods: ["GET"], path: "/users/{id}", service: "app" }],
});

/** The gateway as the benchmarks run it (workerd's own socket, logs not parsed, the document
 * never re-read during a run), answering once `/users/1` does; `direct` is its socket's URL.
 * `options` go to the harness (document, bindings, buildDir, inspectorPort). */
export async function startBenchGateway(options) {
  const gateway = await startGateway({ refreshSeconds: 300, directSocket: true, captureLogs: false, ...options });
  gateway.direct = `${await gateway.mf.unsafeGetDirectURL("edge-gateway")}`.replace(/\/$/, "");
  await waitFor(`${gateway.direct}/users/1`);
  return gateway;
}

/** The pids of the running workerd processes (one per Miniflare instance). */
export function workerdPids() {
  const pids = new Set();
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "workerd") pids.add(pid);
    } catch {
      // the process ended
    }
  }
  return pids;
}

/** A DevTools protocol session with a Worker behind Miniflare's inspector proxy on `port`:
 * the one whose target names `name`, or the first. */
export async function inspect(port, name) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const target = targets.find((t) => name !== undefined && `${t.title} ${t.url} ${t.id}`.includes(name)) ?? targets[0];
  // The proxy accepts local origins only.
  const ws = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: "http://localhost" } });
  ws.binaryType = "arraybuffer";
  const pending = new Map();
  let next = 0;
  ws.addEventListener("message", ({ data }) => {
    const message = JSON.parse(typeof data === "string" ? data : Buffer.from(data).toString());
    pending.get(message.id)?.(message);
    pending.delete(message.id);
  });
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", reject);
  });
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++next;
      pending.set(id, (m) => (m.error ? reject(new Error(`${method}: ${m.error.message}`)) : resolve(m.result)));
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { send, close: () => ws.close() };
}
