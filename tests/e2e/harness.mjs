// Shared by the end-to-end tests: real origin HTTP servers on loopback and the built gateway
// Worker running in Miniflare (workerd) with a real KV namespace.
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { Miniflare, Log, LogLevel, convertV4MiniflareOptions } from "miniflare";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * An origin that records every request and answers from `handler(req, body, res)`; when the
 * handler returns without answering, it echoes the request as JSON.
 */
export async function startOrigin(name, handler = () => {}) {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString("utf8");
    const seen = { method: req.method, url: req.url, headers: req.headers, body };
    requests.push(seen);
    await handler(req, body, res);
    if (!res.headersSent) {
      res.writeHead(200, { "content-type": "application/json", "x-origin": name });
      res.end(JSON.stringify({ origin: name, ...seen }));
    }
  });
  server.keepAliveTimeout = 1000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    }),
  };
}

/** A loopback port with nothing listening on it, for "connection refused". */
export async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The built gateway in workerd, with `document` (object or raw text) in its CONFIG namespace. */
export const ADMIN_TOKEN = "test-admin-token";

const ANALYTICS_RECORDER = {
  name: "analytics-recorder",
  modules: true,
  compatibilityDate: "2026-11-01",
  script: `import { WorkerEntrypoint } from "cloudflare:workers";
  export class Dataset extends WorkerEntrypoint {
    writeDataPoint(point) { console.log(JSON.stringify({ type: "analytics", point })); }
  }
  export default { fetch: () => new Response(null, { status: 404 }) };`,
};

/**
 * Miniflare's options for a Worker built by worker-build into `buildDir`; its entry module is
 * `entry.js` when the build has one (the gateway's), else worker-build's `index.js`.
 */
export function builtWorker(name, buildDir) {
  const entry = path.join(buildDir, "entry.js");
  return {
    name,
    modulesRoot: buildDir,
    modules: [
      ...(fs.existsSync(entry) ? [{ type: "ESModule", path: entry }] : []),
      { type: "ESModule", path: path.join(buildDir, "index.js") },
      { type: "CompiledWasm", path: path.join(buildDir, "index_bg.wasm") },
    ],
    compatibilityDate: "2026-11-01",
  };
}

export async function startGateway({
  document,
  refreshSeconds = 1,
  directSocket = false,
  persistTo,
  rateLimiter,
  captureLogs = true,
  bindings = {},
  analytics = false,
  // Another build of the Worker (bench/crossings.mjs serves an instrumented copy).
  buildDir = path.join(ROOT, "build"),
  // The V8 inspector behind Miniflare's proxy on this port (bench/profile.mjs).
  inspectorPort,
  // More copies of the gateway, each its own isolate with its own socket, sharing the first
  // one's KV and Durable Objects (as two locations share them); their URLs are `replicas`.
  replicas = 0,
  // Other Workers (Miniflare worker options, e.g. a user's policy Worker in JS) and the
  // gateway's service bindings to them: binding name → worker name.
  workers = [],
  serviceBindings = {},
} = {}) {
  const logs = [];
  const options = convertV4MiniflareOptions({
    log: new Log(LogLevel.WARN),
    cf: false,
    ...(inspectorPort === undefined ? {} : { inspectorPort }),
    // Parsing every log line in this process costs more than the gateway itself under load, so
    // benchmarks turn it off.
    handleStructuredLogs: captureLogs ? ({ level, message }) => logs.push({ level, message }) : () => {},
    workers: [
      {
        ...builtWorker("edge-gateway", buildDir),
        // The same namespace id as wrangler.toml, so state written by `wrangler kv key put
        // --local --persist-to DIR` is what the gateway reads.
        kvNamespaces: { CONFIG: "00000000000000000000000000000000", CACHE: "11111111111111111111111111111111" },
        bindings: { CONFIG_KEY: "routes", CONFIG_REFRESH_SECONDS: String(refreshSeconds), ADMIN_TOKEN, ...bindings },
        // The gateway's own RateLimiter class, unless a test substitutes another (see failure tests).
        durableObjects: {
          RATE_LIMITER: rateLimiter?.binding ?? { className: "RateLimiter", useSQLite: true },
          METRICS_STORE: { className: "MetricsStore", useSQLite: true },
          CONFIG_CONTROL: { className: "ConfigControl", useSQLite: true },
          HEALTH_CHECKER: { className: "HealthChecker", useSQLite: true },
          CONCURRENCY_LIMITER: { className: "ConcurrencyLimiter", useSQLite: true },
        },
        // Analytics Engine's local simulator drops data points: a stand-in service with the
        // same writeDataPoint method logs each one instead.
        serviceBindings: {
          ...serviceBindings,
          ...(analytics ? { METRICS: { name: "analytics-recorder", entrypoint: "Dataset" } } : {}),
        },
        // A socket served by workerd itself, bypassing the dev entry proxy (for benchmarks).
        ...(directSocket ? { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } : {}),
        ...(inspectorPort === undefined ? {} : { unsafeInspectorProxy: true }),
      },
      ...Array.from({ length: replicas }, (_, i) => ({
        ...builtWorker(`edge-gateway-${i + 2}`, buildDir),
        kvNamespaces: { CONFIG: "00000000000000000000000000000000", CACHE: "11111111111111111111111111111111" },
        bindings: { CONFIG_KEY: "routes", CONFIG_REFRESH_SECONDS: String(refreshSeconds), ADMIN_TOKEN, ...bindings },
        durableObjects: Object.fromEntries(
          ["RATE_LIMITER:RateLimiter", "METRICS_STORE:MetricsStore", "CONFIG_CONTROL:ConfigControl", "HEALTH_CHECKER:HealthChecker", "CONCURRENCY_LIMITER:ConcurrencyLimiter"]
            .map((pair) => pair.split(":"))
            .map(([binding, className]) => [binding, { className, scriptName: "edge-gateway", useSQLite: true }]),
        ),
        unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
      })),
      ...(rateLimiter?.worker ? [rateLimiter.worker] : []),
      ...(analytics ? [ANALYTICS_RECORDER] : []),
      ...workers,
    ],
  });
  // wrangler's `--persist-to DIR` keeps resources under DIR/v3.
  if (persistTo) options.resourcePersistencePath = path.join(persistTo, "v3");
  const mf = new Miniflare(options);
  const url = await mf.ready;
  const kv = await mf.getKVNamespace("CONFIG");
  const gateway = {
    mf,
    url: url.href.replace(/\/$/, ""),
    logs,
    kv,
    /** Writes a route document to KV, as `wrangler kv key put` does. */
    push: (doc) => kv.put("routes", typeof doc === "string" ? doc : JSON.stringify(doc)),
    /** Sends a request through the gateway (a real socket, not dispatchFetch). */
    fetch: (p, init) => fetch(gateway.url + p, { redirect: "manual", ...init }),
    /** Access log records written so far, parsed. */
    accessLogs: () => jsonLines(logs).filter((l) => l.type === "access"),
    configEvents: () => jsonLines(logs).filter((l) => l.type === "config"),
    /** Waits past the refresh interval so the next request re-reads KV. */
    waitForRefresh: () => sleep(refreshSeconds * 1000 + 150),
    close: () => mf.dispose(),
  };
  if (document !== undefined) await gateway.push(document);
  // The gateway's own socket, where a test may set `request.cf` with the MF-CF-Blob header.
  if (directSocket) gateway.direct = `${await mf.unsafeGetDirectURL("edge-gateway")}`.replace(/\/$/, "");
  gateway.replicas = [];
  for (let i = 0; i < replicas; i++) {
    gateway.replicas.push(`${await mf.unsafeGetDirectURL(`edge-gateway-${i + 2}`)}`.replace(/\/$/, ""));
  }
  return gateway;
}

function jsonLines(logs) {
  const out = [];
  for (const { message } of logs) {
    for (const line of message.split("\n")) {
      try {
        const value = JSON.parse(line);
        if (value && typeof value === "object") out.push(value);
      } catch {
        // not one of ours
      }
    }
  }
  return out;
}

/** A route document with one service per origin and the given routes. */
export function documentFor(services, routes) {
  return {
    version: 1,
    services: Object.fromEntries(
      Object.entries(services).map(([name, s]) => [name, typeof s === "string" ? { upstreams: [s] } : s]),
    ),
    routes,
  };
}

/** Polls `check` until it returns truthy or `ms` pass. */
export async function eventually(check, ms = 3000) {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) return value;
    await sleep(50);
  }
}

/**
 * A request over a raw socket-level client, for what fetch() would normalise away: exact paths
 * (dot segments, bad percent-encoding), a chosen Host header, oversized headers.
 */
export function rawRequest(baseUrl, { method = "GET", path: requestPath = "/", headers = {}, body } = {}) {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: hostname, port, method, path: requestPath, headers, insecureHTTPParser: true },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * nginx serving the files under `root` (with its own Range, If-Range, ETag and Last-Modified
 * handling), every response with `Cache-Control: <cacheControl>`, each request logged to
 * `requests()` as `{ uri, range }`. nginx comes from the distribution (scripts/lib.sh).
 */
export async function startStaticNginx(root, { cacheControl = "max-age=600" } = {}) {
  const { spawn } = await import("node:child_process");
  const os = await import("node:os");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-nginx-"));
  const port = await closedPort();
  const log = path.join(tmp, "access.log");
  fs.writeFileSync(path.join(tmp, "nginx.conf"), `
worker_processes 1;
pid ${tmp}/nginx.pid;
error_log ${tmp}/error.log warn;
events { worker_connections 256; }
http {
  log_format requests escape=json '{"uri":"$request_uri","range":"$http_range"}';
  access_log ${log} requests;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  types { text/plain txt; application/octet-stream bin; }
  server {
    listen 127.0.0.1:${port};
    root ${root};
    add_header Cache-Control "${cacheControl}";
  }
}`);
  const nginx = spawn("nginx", ["-c", path.join(tmp, "nginx.conf"), "-p", tmp, "-g", "daemon off;"], { stdio: "inherit" });
  const url = `http://127.0.0.1:${port}`;
  let exited = null;
  nginx.once("exit", (code) => { exited = code; });
  for (let i = 0; ; i++) {
    if (exited !== null) throw new Error(`nginx exited with ${exited}`);
    try {
      await fetch(`${url}/`);
      break;
    } catch (error) {
      if (i > 100) throw new Error(`nginx did not come up: ${error.message}`);
      await sleep(50);
    }
  }
  const requests = () =>
    fs.existsSync(log)
      ? fs.readFileSync(log, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line))
      : [];
  return {
    url,
    requests,
    close: async () => {
      if (exited === null) {
        nginx.kill("SIGTERM");
        await new Promise((resolve) => nginx.once("exit", resolve));
      }
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
