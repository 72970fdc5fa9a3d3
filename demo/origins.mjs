// Demo origin microservices for `npm run dev`: users, orders and products, each a real HTTP
// server on loopback with in-memory JSON data. Every response says which service answered and
// echoes the gateway's request id, so the effect of each route is visible with curl.
import http from "node:http";

const users = new Map([
  ["1", { id: "1", name: "Ada Lovelace", email: "ada@example.com", plan: "pro" }],
  ["2", { id: "2", name: "Alan Turing", email: "alan@example.com", plan: "free" }],
  ["3", { id: "3", name: "Grace Hopper", email: "grace@example.com", plan: "enterprise" }],
]);
const orders = new Map([
  ["100", { id: "100", user_id: "1", status: "shipped", total: 42.5, items: [{ sku: "kb-01", qty: 1 }] }],
  ["101", { id: "101", user_id: "3", status: "pending", total: 13.0, items: [{ sku: "mg-02", qty: 2 }] }],
]);
const products = new Map([
  ["kb-01", { sku: "kb-01", name: "Mechanical keyboard", price: 42.5, stock: 12 }],
  ["mg-02", { sku: "mg-02", name: "Coffee mug", price: 6.5, stock: 140 }],
]);

function serve(name, port, routes) {
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url, `http://${req.headers.host}`);
    const send = (status, value, extra = {}) => {
      res.writeHead(status, {
        "content-type": "application/json",
        "x-service": name,
        "x-powered-by": "demo-origin",
        ...extra,
      });
      res.end(JSON.stringify(value, null, 2) + "\n");
    };
    for (const [method, pattern, handler] of routes) {
      const match = url.pathname.match(pattern);
      if (match && req.method === method) {
        return handler({ match, url, body, send, headers: req.headers });
      }
    }
    send(404, { error: `${name} has no ${req.method} ${url.pathname}` });
  });
  server.listen(port, "127.0.0.1", () => console.log(`demo origin '${name}' on http://127.0.0.1:${port}`));
  return server;
}

const meta = (headers) => ({
  request_id: headers["x-request-id"],
  traceparent: headers.traceparent,
  ...(headers["x-consumer"] ? { consumer: headers["x-consumer"] } : {}),
});

serve("users", 9101, [
  ["GET", /^\/users$/, ({ send, headers }) => send(200, { users: [...users.values()], ...meta(headers) })],
  ["GET", /^\/users\/([^/]+)$/, ({ match, send, headers }) => {
    const user = users.get(match[1]);
    user ? send(200, { ...user, ...meta(headers) }) : send(404, { error: `no user ${match[1]}` });
  }],
  ["POST", /^\/users$/, ({ body, send }) => {
    let input;
    try {
      input = JSON.parse(body || "{}");
    } catch {
      return send(400, { error: "body must be JSON" });
    }
    const id = String(users.size + 1);
    const user = { id, name: input.name ?? "anonymous", email: input.email ?? null, plan: "free" };
    users.set(id, user);
    send(201, user);
  }],
]);

serve("orders", 9102, [
  ["GET", /^\/orders$/, ({ url, send, headers }) => {
    const user = url.searchParams.get("user_id");
    const list = [...orders.values()].filter((o) => !user || o.user_id === user);
    send(200, { orders: list, api_version: headers["x-api-version"] ?? null, ...meta(headers) });
  }],
  ["GET", /^\/orders\/([^/]+)$/, ({ match, send, headers }) => {
    const order = orders.get(match[1]);
    order ? send(200, { ...order, ...meta(headers) }) : send(404, { error: `no order ${match[1]}` });
  }],
]);

serve("products", 9103, [
  ["GET", /^\/catalog\/items\/([^/]+)$/, ({ match, send, headers }) => {
    // Cacheable: the gateway's product route keeps it for a minute (see X-Cache and Age).
    const product = products.get(match[1]);
    const caching = { "cache-control": "public, max-age=60", "cache-tag": `product-${match[1]}` };
    product
      ? send(200, { ...product, served_at: new Date().toISOString() }, { ...caching, etag: `"${product.sku}-${product.stock}"` })
      : send(404, { error: `no product ${match[1]}` }, caching);
  }],
]);
