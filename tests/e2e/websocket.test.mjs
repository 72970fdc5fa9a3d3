// WebSocket pass-through: the handshake is authenticated and rate limited at the edge, then
// frames flow between the client and a real WebSocket origin through workerd.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import * as jose from "jose";
import WebSocket, { WebSocketServer } from "ws";
import { startGateway, rawRequest } from "./harness.mjs";

const secret = crypto.getRandomValues(new Uint8Array(32));
let origin, handshakes, gateway;

/** An echo origin that records each handshake's headers and replies to frames with "echo:". */
async function startEchoOrigin() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ upgrade: req.headers.upgrade ?? null }));
  });
  const wss = new WebSocketServer({
    server,
    handleProtocols: (protocols) => (protocols.has("chat.v2") ? "chat.v2" : false),
  });
  wss.on("connection", (socket, req) => {
    handshakes.push(req.headers);
    socket.on("message", (data, binary) => socket.send(binary ? data : `echo:${data}`, { binary }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const token = (sub = "user-1") =>
  new jose.SignJWT({ sub }).setProtectedHeader({ alg: "HS256" }).setIssuer("https://ws.test/")
    .setAudience("api").setIssuedAt().setExpirationTime("5m").sign(secret);

/** Opens a WebSocket through the gateway; resolves with the socket or the refused handshake. */
function connect(path, { headers = {}, protocols } = {}) {
  const url = gateway.url.replace(/^http/, "ws") + path;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, { headers });
    socket.once("open", () => resolve({ socket }));
    socket.once("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: body ? JSON.parse(body) : null }));
    });
    socket.once("error", reject);
  });
}

/** The socket's incoming messages, in order: `next()` resolves with the next one (none is lost
 *  between awaits, however fast they arrive). */
function inbox(socket) {
  const queued = [];
  const waiting = [];
  socket.on("message", (data, binary) => {
    const message = binary ? data : data.toString();
    if (waiting.length) waiting.shift()(message);
    else queued.push(message);
  });
  return { next: () => (queued.length ? Promise.resolve(queued.shift()) : new Promise((resolve) => waiting.push(resolve))) };
}

before(async () => {
  handshakes = [];
  origin = await startEchoOrigin();
  gateway = await startGateway({
    document: {
      version: 1,
      services: { chat: { upstreams: [origin.url] } },
      auth: {
        issuers: {
          ws: { issuer: "https://ws.test/", audiences: ["api"], algorithms: ["HS256"],
            keys: [{ kty: "oct", k: jose.base64url.encode(secret) }] },
        },
      },
      rate_limits: { "three-per-user": { quota: { limit: 3, window: "hour" }, key: ["consumer"] } },
      routes: [
        { name: "chat", path: "/chat", service: "chat", websocket: true,
          auth: { mode: "required" }, rate_limits: ["three-per-user"] },
        { name: "plain", path: "/plain", service: "chat", upstream_path: "/chat" },
      ],
    },
  });
});

after(async () => {
  await gateway?.close();
  await origin?.close();
});

test("frames are echoed through the gateway, text and binary, with the subprotocol negotiated", async () => {
  const { socket, status } = await connect("/chat", { headers: { authorization: `Bearer ${await token()}` }, protocols: ["chat.v2"] });
  assert.equal(status, undefined, "the handshake is accepted");
  assert.equal(socket.protocol, "chat.v2");
  const messages = inbox(socket);
  socket.send("hello");
  assert.equal(await messages.next(), "echo:hello");
  socket.send(Buffer.from([1, 2, 3]));
  assert.deepEqual([...await messages.next()], [1, 2, 3]);
  for (let i = 0; i < 20; i++) socket.send(`m${i}`);
  const replies = [];
  while (replies.length < 20) replies.push(await messages.next());
  assert.deepEqual(replies, Array.from({ length: 20 }, (_, i) => `echo:m${i}`), "order is kept");
  const closed = new Promise((resolve) => socket.once("close", (code) => resolve(code)));
  socket.close(1000);
  assert.equal(await closed, 1000);
  const seen = handshakes.at(-1);
  assert.match(seen["x-request-id"], /.+/, "the origin sees the gateway's request id on the handshake");
  assert.equal(seen["x-forwarded-proto"] ?? "http", "http");
});

test("a handshake without valid credentials is refused with a problem and never reaches the origin", async () => {
  const count = handshakes.length;
  const missing = await connect("/chat");
  assert.equal(missing.status, 401);
  assert.equal(missing.body.code, "unauthenticated");
  const forged = await connect("/chat", { headers: { authorization: "Bearer not.a.token" } });
  assert.equal(forged.status, 401);
  assert.equal(handshakes.length, count);
});

test("handshakes count against the route's rate limit", async () => {
  const auth = { authorization: `Bearer ${await token("limited")}` };
  const opened = [];
  for (let i = 0; i < 3; i++) {
    const { socket } = await connect("/chat", { headers: auth });
    assert.ok(socket, `handshake ${i + 1} is admitted`);
    opened.push(socket);
  }
  const refused = await connect("/chat", { headers: auth });
  assert.equal(refused.status, 429);
  assert.equal(refused.body.code, "rate-limited");
  assert.ok(refused.headers["retry-after"]);
  // Open sockets are unaffected by the refusal.
  const messages = inbox(opened[0]);
  opened[0].send("still here");
  assert.equal(await messages.next(), "echo:still here");
  for (const s of opened) s.close();
});

test("a route without websocket forwards an upgrade request as plain HTTP", async () => {
  const res = await rawRequest(gateway.url, {
    path: "/plain",
    headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" },
  });
  assert.equal(res.status, 200);
  assert.equal(res.json.upgrade, null, "the origin never sees the Upgrade header");
});
