// Malformed and hostile requests, sent as raw bytes to workerd's own socket (the runtime's HTTP
// parser, as in production and the benchmarks; `npm run dev`'s proxy is covered at the end).
// Each is answered as the README's "Bad input" section says: either by the runtime before the
// Worker runs (no gateway log line), or by the gateway with problem+json and an access-log line
// carrying the same request id. A panic inside the gateway is answered too.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { ADMIN_TOKEN, documentFor, startGateway } from "./harness.mjs";

let origin, originUrl, gateway, direct;
const seen = [];

before(async () => {
  origin = http.createServer((req, res) => {
    const chunks = [];
    req.on("error", () => {});
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      seen.push({ url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString("latin1") });
      const wait = req.url.startsWith("/slow") ? 1500 : 0;
      setTimeout(() => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"ok":true}');
      }, wait);
    });
  });
  await new Promise((resolve) => origin.listen(0, "127.0.0.1", resolve));
  originUrl = `http://127.0.0.1:${origin.address().port}`;
  gateway = await startGateway({
    directSocket: true,
    bindings: { PANIC_PROBE: "on" },
    document: documentFor({ app: { upstreams: [originUrl], timeout_ms: 1000 } }, [
      { name: "socket", path: "/ws", service: "app", websocket: true },
      { name: "everything", path: "/{*rest}", service: "app" },
    ]),
  });
  direct = (await gateway.mf.unsafeGetDirectURL("edge-gateway")).href.replace(/\/$/, "");
});

after(async () => {
  await gateway?.close();
  await new Promise((resolve) => origin?.close(resolve));
});

/**
 * Writes `bytes` to `base`'s socket (half-closing it after when `end`), and reads the answer
 * until the server closes or `wait` ms pass.
 */
function send(bytes, { base = direct, end = false, wait = 3000 } = {}) {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(Buffer.from(bytes, "latin1"));
      if (end) socket.end();
    });
    const chunks = [];
    const started = Date.now();
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parse(Buffer.concat(chunks).toString("latin1")), ms: Date.now() - started });
    };
    const timer = setTimeout(done, wait);
    socket.on("data", (chunk) => {
      chunks.push(chunk);
      // One response is all a case needs; keep-alive connections are not waited out.
      const text = Buffer.concat(chunks).toString("latin1");
      const head = text.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, head))?.[1];
      if (head >= 0 && length !== undefined && text.length >= head + 4 + Number(length)) done();
    });
    socket.on("close", done);
    socket.on("error", reject);
  });
}

function parse(text) {
  const head = text.indexOf("\r\n\r\n");
  const lines = text.slice(0, head < 0 ? text.length : head).split("\r\n");
  const status = Number(lines[0].split(" ")[1]);
  const headers = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = head < 0 ? "" : text.slice(head + 4);
  let json;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status, headers, body, json };
}

const HOST = "Host: h\r\nConnection: close\r\n";
const UPGRADE = "Host: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n";
const KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

// [name, raw request, expected status, who answers, and what else must hold]
const CASES = [
  // The request line.
  ["no HTTP version", "GET /x\r\n\r\n", 400, "runtime"],
  ["HTTP/2.0 over an HTTP/1 connection", `GET /x HTTP/2.0\r\n${HOST}\r\n`, 400, "runtime"],
  ["HTTP/0.9", `GET /x HTTP/0.9\r\n${HOST}\r\n`, 400, "runtime"],
  ["a lower-case method", `get /x HTTP/1.1\r\n${HOST}\r\n`, 501, "runtime"],
  ["punctuation in the method", `G@T /x HTTP/1.1\r\n${HOST}\r\n`, 400, "runtime"],
  ["an unknown method", `BREW /x HTTP/1.1\r\n${HOST}\r\n`, 501, "runtime"],
  ["TRACE, which no route takes", `TRACE /x HTTP/1.1\r\n${HOST}\r\n`, 405, "method-not-allowed"],
  ["CONNECT", `CONNECT h:443 HTTP/1.1\r\n${HOST}\r\n`, 500, "runtime"],
  ["the asterisk target", `OPTIONS * HTTP/1.1\r\n${HOST}\r\n`, 404, "route-not-found"],
  ["two spaces before the target", `GET  /x HTTP/1.1\r\n${HOST}\r\n`, 400, "runtime"],
  // Encodings in the path.
  ["malformed percent-encoding", `GET /x%zz HTTP/1.1\r\n${HOST}\r\n`, 400, "invalid-path"],
  ["an encoded NUL", `GET /x%00y HTTP/1.1\r\n${HOST}\r\n`, 400, "invalid-path"],
  ["encoded dot segments", `GET /dots/a/%2e%2e/b HTTP/1.1\r\n${HOST}\r\n`, 200, "gateway",
    (seenBy) => assert.equal(seenBy.url, "/dots/b", "resolved as the URL standard says, never above the route")],
  ["overlong UTF-8 dots", `GET /a/%c0%ae%c0%ae/b HTTP/1.1\r\n${HOST}\r\n`, 200, "gateway",
    (seenBy) => assert.equal(seenBy.url, "/a/%c0%ae%c0%ae/b", "passed on still encoded, never decoded")],
  ["raw UTF-8 in the path", `GET /caf\u00c3\u00a9 HTTP/1.1\r\n${HOST}\r\n`, 200, "gateway",
    (seenBy) => assert.equal(seenBy.url, "/caf%C3%A9")],
  ["a raw NUL in the path", `GET /a\u0000b HTTP/1.1\r\n${HOST}\r\n`, 400, "runtime"],
  // Header syntax.
  ["an obsolete folded header", `GET /x HTTP/1.1\r\n${HOST}X-A: one\r\n two\r\n\r\n`, 400, "runtime"],
  ["a control character in a value", `GET /x HTTP/1.1\r\n${HOST}X-A: a\u0001b\r\n\r\n`, 400, "invalid-header"],
  ["DEL in a value", `GET /x HTTP/1.1\r\n${HOST}X-A: a\u007fb\r\n\r\n`, 400, "invalid-header"],
  ["a header line without a colon", `GET /x HTTP/1.1\r\n${HOST}JustText\r\n\r\n`, 400, "runtime"],
  ["white space before the colon", `GET /x HTTP/1.1\r\n${HOST}X-A : b\r\n\r\n`, 400, "runtime"],
  ["an empty header name", `GET /x HTTP/1.1\r\n${HOST}: b\r\n\r\n`, 400, "runtime"],
  // Lengths and framing.
  ["two different Content-Lengths", `POST /x HTTP/1.1\r\n${HOST}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`, 400, "runtime"],
  ["a negative Content-Length", `POST /x HTTP/1.1\r\n${HOST}Content-Length: -1\r\n\r\n`, 400, "runtime"],
  ["Content-Length and chunked together", `POST /framed HTTP/1.1\r\n${HOST}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, 200, "gateway",
    (seenBy) => assert.deepEqual([seenBy.body, seenBy.headers["content-length"]], ["abc", undefined], "chunked wins; the origin gets one framing")],
  ["a body longer than its Content-Length", `POST /longer HTTP/1.1\r\n${HOST}Content-Length: 2\r\n\r\nabcdef`, 200, "gateway",
    (seenBy) => assert.equal(seenBy.body, "ab", "only the declared bytes")],
  ["a chunk extension", `POST /extension HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n`, 200, "gateway",
    (seenBy) => assert.equal(seenBy.body, "abc")],
  ["chunked trailers", `POST /trailers HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n`, 200, "gateway",
    (seenBy) => assert.deepEqual([seenBy.body, seenBy.headers["x-t"]], ["abc", undefined])],
  ["an invalid chunk size", `POST /badchunk HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`, 200, "gateway",
    (seenBy) => assert.equal(seenBy.body, "", "the runtime reads it as the end of the body")],
  ["Transfer-Encoding: identity", `POST /x HTTP/1.1\r\n${HOST}Transfer-Encoding: identity\r\n\r\n`, 400, "runtime"],
  // Hosts, ports and targets.
  ["two Host headers", `GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n`, 400, "invalid-url"],
  ["a port above 65535", `GET /x HTTP/1.1\r\nHost: evil.example:99999\r\nConnection: close\r\n\r\n`, 400, "invalid-url"],
  ["a space in the Host", `GET /x HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n`, 400, "invalid-url"],
  ["userinfo in the Host", `GET /x HTTP/1.1\r\nHost: user@h\r\nConnection: close\r\n\r\n`, 400, "invalid-url"],
  ["an empty Host", `GET /x HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n`, 400, "runtime"],
  ["no Host in HTTP/1.1", `GET /x HTTP/1.1\r\nConnection: close\r\n\r\n`, 400, "runtime"],
  ["an absolute-form target", `GET http://other.example/absolute HTTP/1.1\r\n${HOST}\r\n`, 200, "gateway",
    (seenBy, log) => assert.deepEqual([seenBy.url, log.host], ["/absolute", "h"], "its path; the runtime takes the host from Host")],
  ["an absolute https target with port and query", `GET https://other.example:8443/abs?q=1 HTTP/1.1\r\n${HOST}\r\n`, 200, "gateway",
    (seenBy) => assert.equal(seenBy.url, "/abs?q=1")],
  // Sizes.
  ["a 100 KB URL", `GET /${"a".repeat(100_000)} HTTP/1.1\r\n${HOST}\r\n`, 414, "runtime"],
  ["a 40 KB header", `GET /x HTTP/1.1\r\n${HOST}X-Big: ${"b".repeat(40_000)}\r\n\r\n`, 431, "headers-too-large"],
  ["150 header fields", `GET /x HTTP/1.1\r\n${HOST}${Array.from({ length: 150 }, (_, i) => `X-H${i}: v\r\n`).join("")}\r\n`, 431, "headers-too-large"],
  // WebSocket handshakes.
  ["an upgrade without a key", `GET /ws HTTP/1.1\r\n${UPGRADE}Sec-WebSocket-Version: 13\r\n\r\n`, 400, "invalid-handshake"],
  ["an upgrade with a short key", `GET /ws HTTP/1.1\r\n${UPGRADE}Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n`, 400, "invalid-handshake"],
  ["an upgrade for version 8", `GET /ws HTTP/1.1\r\n${UPGRADE}${KEY}Sec-WebSocket-Version: 8\r\n\r\n`, 426, "websocket-version",
    (_, __, res) => assert.equal(res.headers["sec-websocket-version"], "13")],
];

for (const [name, bytes, status, by, check] of CASES) {
  test(`bad input: ${name} → ${status} (${by === "runtime" ? "the runtime" : "the gateway"})`, async () => {
    const logsBefore = gateway.accessLogs().length;
    const seenBefore = seen.length;
    const res = await send(bytes);
    assert.equal(res.status, status, `${name}: ${res.body.slice(0, 200)}`);
    if (by === "runtime") {
      // Answered before the Worker ran: nothing of the gateway's is involved.
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(gateway.accessLogs().length, logsBefore, "the Worker never ran");
      assert.notEqual(res.headers["content-type"], "application/problem+json");
      return;
    }
    const id = res.headers["x-request-id"];
    assert.ok(id, "the gateway's answer names its request");
    if (by !== "gateway") {
      assert.equal(res.headers["content-type"], "application/problem+json");
      assert.equal(res.json.code, by);
      assert.equal(res.json.request_id, id);
      assert.equal(seen.length, seenBefore, "refused before the origin");
    }
    const log = await waitForLog(id);
    assert.equal(log.status, status);
    assert.equal(log.error_code, by === "gateway" ? null : by);
    check?.(seen[seen.length - 1], log, res);
  });
}

async function waitForLog(id) {
  for (let i = 0; i < 40; i++) {
    const line = gateway.accessLogs().find((l) => l.request_id === id);
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`no access-log line for request ${id}`);
}

test("bad input: a body shorter than its Content-Length is 408 at the service's deadline, the origin not blamed", async () => {
  const res = await send(`POST /short HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc`);
  assert.equal(res.status, 408, res.body);
  assert.equal(res.json.code, "body-incomplete");
  assert.ok(res.ms >= 900 && res.ms < 2500, `answered after ${res.ms} ms, at the 1000 ms deadline`);
  assert.equal((await waitForLog(res.headers["x-request-id"])).error_code, "body-incomplete");
});

test("bad input: a client that stops sending and closes is answered 408 at once", async () => {
  const res = await send(`POST /gone HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc`, { end: true });
  assert.equal(res.status, 408, res.body);
  assert.equal(res.json.code, "body-incomplete");
  assert.ok(res.ms < 900, `answered after ${res.ms} ms`);
  await waitForLog(res.headers["x-request-id"]);
});

test("bad input: a chunked body that never ends is 408; a slow origin with a whole body is still 504", async () => {
  const unfinished = await send(`POST /unfinished HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n`);
  assert.equal(unfinished.status, 408, unfinished.body);
  const slow = await send(`POST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`);
  assert.equal(slow.status, 504, slow.body);
  assert.equal(slow.json.code, "upstream-timeout");
  assert.equal(seen.find((s) => s.url === "/slow")?.body, "abc", "the origin had the whole body and was slow");
});

test("a panic inside the gateway: the requests in flight get a problem and a log line, then the next is served", async () => {
  const inFlight = fetch(`${direct}/slow/in-flight`, { headers: { "x-request-id": "in-flight-1" } });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const panicked = await fetch(`${direct}/__gateway/panic`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "x-request-id": "panicked-1" },
  });
  for (const [res, id] of [[panicked, "panicked-1"], [await inFlight, "in-flight-1"]]) {
    assert.equal(res.status, 500);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    assert.equal(res.headers.get("x-request-id"), id);
    const problem = await res.json();
    assert.deepEqual(Object.keys(problem).sort(), ["code", "detail", "request_id", "status", "title", "type"]);
    assert.equal(problem.code, "internal-error");
    const log = await waitForLog(id);
    assert.equal(log.status, 500);
    assert.match(log.error_cause, /^panic: .*panic probe/s);
  }
  const next = await fetch(`${direct}/after-the-panic`);
  assert.equal(next.status, 200, "a fresh instance serves the next request");
  assert.equal((await next.json()).ok, true);
});

test("bad input through `npm run dev`'s proxy: an invalid Host never reaches the Worker", async () => {
  // Miniflare's entry worker builds a URL from Host before the gateway runs, and fails with
  // its own 500; workerd's own socket (above, and production's runtime) hands it over.
  const before = gateway.accessLogs().length;
  const res = await send(`GET /x HTTP/1.1\r\nHost: evil.example:99999\r\nConnection: close\r\n\r\n`, { base: gateway.url });
  assert.equal(res.status, 500);
  assert.notEqual(res.headers["content-type"], "application/problem+json");
  assert.equal(gateway.accessLogs().length, before);
});
