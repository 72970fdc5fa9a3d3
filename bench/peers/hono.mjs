// The gateway's peer: what a team writes by hand with Hono on Workers for the same routes as
// the benchmark's gateway document. A request id (hono/request-id), forwarding with new
// Headers (Host dropped, X-Forwarded-*, X-Request-Id); JWT HS256 with iss, aud and exp checked
// (hono/jwt) and `sub` forwarded; an exact per-address limit through a Durable Object; the
// Cache API in front of the origin; three origin calls composed into one JSON answer.
import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { verify } from "hono/jwt";

const app = new Hono();
app.use("*", requestId());

function forward(c, path, extra = {}) {
  const url = new URL(c.req.url);
  const headers = new Headers(c.req.raw.headers);
  headers.delete("host");
  headers.set("x-forwarded-for", c.req.header("cf-connecting-ip") ?? "127.0.0.1");
  headers.set("x-forwarded-host", url.host);
  headers.set("x-forwarded-proto", url.protocol.slice(0, -1));
  headers.set("x-request-id", c.get("requestId"));
  for (const [name, value] of Object.entries(extra)) headers.set(name, value);
  return fetch(c.env.ORIGIN + path + url.search, { method: c.req.method, headers, body: c.req.raw.body });
}

app.get("/users/:id", (c) => forward(c, `/users/${c.req.param("id")}`));

app.get("/jwt/:id", async (c) => {
  const token = c.req.header("authorization")?.replace(/^Bearer /, "");
  if (!token) return c.json({ error: "unauthenticated" }, 401);
  let payload;
  try {
    payload = await verify(token, c.env.SECRET, { alg: "HS256", iss: c.env.ISSUER, aud: "api" });
  } catch {
    return c.json({ error: "unauthenticated" }, 401);
  }
  return forward(c, `/users/${c.req.param("id")}`, { "x-user": String(payload.sub) });
});

app.get("/limited/:id", async (c) => {
  const address = c.req.header("cf-connecting-ip") ?? "127.0.0.1";
  const limiter = c.env.LIMITER.get(c.env.LIMITER.idFromName(address));
  const verdict = await (await limiter.fetch("https://limiter/take")).json();
  if (!verdict.allowed) return c.json({ error: "rate-limited" }, 429);
  return forward(c, `/users/${c.req.param("id")}`);
});

app.get("/cached/:id", async (c) => {
  const cache = caches.default;
  const key = new Request(c.req.url);
  const hit = await cache.match(key);
  if (hit) {
    const answer = new Response(hit.body, hit);
    answer.headers.set("x-cache", "HIT");
    return answer;
  }
  const origin = await forward(c, `/users/${c.req.param("id")}`);
  const stored = new Response(origin.body, origin);
  stored.headers.set("cache-control", "public, max-age=3600");
  c.executionCtx.waitUntil(cache.put(key, stored.clone()));
  return stored;
});

app.get("/fanout/:id", async (c) => {
  const id = c.req.param("id");
  const [a, b, d] = await Promise.all(
    [`/users/${id}`, `/users/${id}?b`, `/users/${id}?c`].map((path) => forward(c, path).then((r) => r.json())),
  );
  return c.json({ a, b, c: d });
});

// An exact fixed-window limit per address, a billion a second: every request costs the round
// trip, as the gateway's exact limits do.
export class Limiter {
  constructor() {
    this.window = 0;
    this.count = 0;
  }
  fetch() {
    const now = Math.floor(Date.now() / 1000);
    if (now !== this.window) {
      this.window = now;
      this.count = 0;
    }
    this.count += 1;
    return Response.json({ allowed: this.count <= 1_000_000_000, remaining: 1_000_000_000 - this.count });
  }
}

export default app;
