// Edge login for browser apps against a real OpenID provider (`oidc-provider` from npm): the
// full authorization-code flow with PKCE through a cookie jar (redirect, the provider's login
// and consent forms, callback, session, refresh, logout), tampered state, nonce and cookie
// refused, CSRF refused, and API clients with Bearer tokens on the same route.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startOrigin, startGateway } from "./harness.mjs";
import { startProvider, browser } from "./oidc.mjs";

let idp, origin, gateway;

before(async () => {
  gateway = await startGateway({
    bindings: { WEB_CLIENT_SECRET: "web-secret", SESSION_KEY: randomBytes(32).toString("base64url"), IDP_CLIENT_SECRET: "gateway-secret" },
  });
  idp = await startProvider({
    clients: [{
      client_id: "web", client_secret: "web-secret",
      grant_types: ["authorization_code", "refresh_token"], response_types: ["code"],
      redirect_uris: [`${gateway.url}/auth/callback`], post_logout_redirect_uris: [`${gateway.url}/bye`],
      scope: "openid email profile offline_access api:read",
    }],
  });
  // The service checks every access token with the provider itself, as a resource server would.
  origin = await startOrigin("app", async (req, body, res) => {
    const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    if (!req.url.startsWith("/app")) return;
    const answer = await (await fetch(`${idp.issuer}/token/introspection`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from("gateway:gateway-secret").toString("base64")}` },
      body: new URLSearchParams({ token }).toString(),
    })).json();
    res.writeHead(answer.active ? 200 : 401, { "content-type": "application/json" });
    res.end(JSON.stringify({ active: answer.active, sub: answer.sub ?? answer.client_id, token, cookie: req.headers.cookie ?? null, method: req.method }));
  });
  await gateway.push({
    version: 1,
    services: { app: { upstreams: [origin.url] } },
    auth: {
      issuers: {
        idp: {
          issuer: idp.issuer, audiences: ["api"], algorithms: ["RS256"], discovery: true,
          introspection: { client_id: "gateway", client_secret_var: "IDP_CLIENT_SECRET" },
        },
      },
      sessions: {
        web: {
          issuer: "idp", client_id: "web", client_secret_var: "WEB_CLIENT_SECRET", key_var: "SESSION_KEY",
          scopes: ["openid", "email", "offline_access", "api:read"], after_logout: "/bye", refresh_before_seconds: 597,
        },
      },
    },
    routes: [
      // API clients' tokens reach the service too, which checks them as it checks the session's.
      { name: "app", path: "/app/{*rest}", methods: ["GET", "POST"], service: "app", auth: { mode: "required", session: "web", forward_credentials: true } },
      { name: "bye", path: "/bye", service: "app" },
    ],
  });
});

after(async () => {
  await gateway?.close();
  await origin?.close();
  await idp?.close();
});

const callback = () => `${gateway.url}/auth/callback`;

/** Logs a browser in from `path`; returns the browser and the gateway's answer to the callback. */
async function login(path = "/app/home", change = (url) => url) {
  const b = browser();
  const start = await b.request(`${gateway.url}${path}`);
  assert.equal(start.status, 302, "a browser without a session is sent to log in");
  const toProvider = change(start.headers.get("location"));
  const { next } = await b.follow(toProvider, { stop: (url) => url.startsWith(callback()) });
  assert.ok(next?.startsWith(callback()), `the provider sent the browser back: ${next}`);
  return { b, start, next };
}

test("a browser logs in: PKCE to the provider, callback, an encrypted session cookie, the access token upstream", async () => {
  const { b, start, next } = await login();
  const authorize = new URL(start.headers.get("location"));
  assert.equal(authorize.origin, idp.issuer);
  assert.equal(authorize.searchParams.get("code_challenge_method"), "S256");
  assert.ok(authorize.searchParams.get("state") && authorize.searchParams.get("nonce"));
  const set = start.headers.getSetCookie().join("\n");
  assert.match(set, /__Host-session-login=.*Path=\/; Secure; HttpOnly; SameSite=Lax/);

  const back = await b.request(next);
  assert.equal(back.status, 302);
  assert.equal(back.headers.get("location"), "/app/home", "back where the browser started");
  const cookies = back.headers.getSetCookie().join("\n");
  assert.match(cookies, /__Host-session=[^;]{40,}; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=\d+/);
  assert.match(cookies, /__Host-session-login=; .*Max-Age=0/, "the login cookie is cleared");
  const session = b.cookiesOf(new URL(gateway.url).origin).get("__Host-session");
  assert.ok(!session.includes("ey") || !/eyJ/.test(session), "the cookie does not carry readable tokens");

  const page = await b.request(`${gateway.url}/app/home`);
  assert.equal(page.status, 200);
  const seen = await page.json();
  assert.equal(seen.active, true, "the provider confirms the access token the service got");
  assert.equal(seen.sub, "alice");
  assert.ok(!(seen.cookie ?? "").includes("__Host-session"), "the session cookie stays at the gateway");
  const log = gateway.accessLogs().filter((l) => l.path === "/app/home").pop();
  assert.equal(log.auth, "session");
  assert.equal(log.principal, "alice");
  const lines = gateway.logs.map((l) => l.message).join("\n");
  assert.ok(!lines.includes(seen.token) && !lines.includes(session), "no token or cookie in a log line");
});

test("API clients on the same route use Bearer tokens; without either they get 401, not a redirect", async () => {
  const token = await idp.clientToken("machine", "machine-secret");
  const api = await fetch(`${gateway.url}/app/data`, { headers: { authorization: `Bearer ${token}`, accept: "application/json" } });
  assert.equal(api.status, 200);
  assert.equal((await api.json()).sub, "machine");
  assert.equal(gateway.accessLogs().filter((l) => l.path === "/app/data").pop().auth, "oauth2");
  const anonymous = await fetch(`${gateway.url}/app/data`, { headers: { accept: "application/json" }, redirect: "manual" });
  assert.equal(anonymous.status, 401);
});

test("a changed state, a changed nonce or a changed login cookie is refused at the callback", async () => {
  const { b, next } = await login();
  const forged = new URL(next);
  forged.searchParams.set("state", "forged-state");
  const refused = await b.request(forged.href);
  assert.equal(refused.status, 400);
  assert.equal((await refused.json()).code, "login-failed");

  const nonce = await login("/app/home", (url) => {
    const u = new URL(url);
    u.searchParams.set("nonce", "a-nonce-the-gateway-never-made");
    return u.href;
  });
  const wrongNonce = await nonce.b.request(nonce.next);
  assert.equal(wrongNonce.status, 400, "the ID token's nonce is not the login's");
  assert.match(gateway.accessLogs().filter((l) => l.error_code === "login-failed").pop().error_cause, /nonce/);

  const cookie = await login();
  const jar = cookie.b.cookiesOf(new URL(gateway.url).origin);
  const sealed = jar.get("__Host-session-login");
  jar.set("__Host-session-login", `${sealed.slice(0, 20)}${sealed[20] === "A" ? "B" : "A"}${sealed.slice(21)}`);
  assert.equal((await cookie.b.request(cookie.next)).status, 400);
});

test("a changed session cookie is no session: the browser logs in again", async () => {
  const { b, next } = await login();
  await b.request(next);
  const jar = b.cookiesOf(new URL(gateway.url).origin);
  const sealed = jar.get("__Host-session");
  jar.set("__Host-session", `${sealed.slice(0, 30)}${sealed[30] === "x" ? "y" : "x"}${sealed.slice(31)}`);
  const again = await b.request(`${gateway.url}/app/home`);
  assert.equal(again.status, 302);
  assert.ok(again.headers.get("location").startsWith(idp.issuer));
});

test("the access token is refreshed before it expires, and the new one goes upstream", async () => {
  const { b, next } = await login();
  await b.request(next);
  const first = await (await b.request(`${gateway.url}/app/one`)).json();
  const refreshesBefore = idp.hits["/token"];
  await new Promise((resolve) => setTimeout(resolve, 3500));
  const refreshed = await b.request(`${gateway.url}/app/two`);
  assert.equal(refreshed.status, 200);
  assert.match(refreshed.headers.getSetCookie().join("\n"), /__Host-session=/, "the refreshed session is set");
  const second = await refreshed.json();
  assert.notEqual(second.token, first.token);
  assert.equal(second.active, true);
  assert.equal(idp.hits["/token"], refreshesBefore + 1, "one refresh grant");
});

test("unsafe methods with a session must come from the gateway's own origin", async () => {
  const { b, next } = await login();
  await b.request(next);
  const forged = await b.request(`${gateway.url}/app/transfer`, { method: "POST", headers: { origin: "https://evil.example", "content-type": "application/json" }, body: "{}" });
  assert.equal(forged.status, 403);
  assert.equal((await forged.json()).code, "csrf-refused");
  const own = await b.request(`${gateway.url}/app/transfer`, { method: "POST", headers: { origin: new URL(gateway.url).origin, "content-type": "application/json" }, body: "{}" });
  assert.equal(own.status, 200);
  assert.equal((await own.json()).method, "POST");
});

test("logout clears the session and ends it at the provider (RP-initiated logout)", async () => {
  const { b, next } = await login();
  await b.request(next);
  const out = await b.request(`${gateway.url}/auth/logout`);
  assert.equal(out.status, 302);
  const end = new URL(out.headers.get("location"));
  assert.equal(`${end.origin}${end.pathname}`, `${idp.issuer}/session/end`);
  assert.equal(end.searchParams.get("post_logout_redirect_uri"), `${gateway.url}/bye`);
  assert.ok(end.searchParams.get("id_token_hint"));
  assert.match(out.headers.getSetCookie().join("\n"), /__Host-session=; .*Max-Age=0/);
  const after = await b.request(`${gateway.url}/app/home`);
  assert.equal(after.status, 302, "no session any more");
  const { next: back } = await b.follow(end.href, { stop: (url) => url.startsWith(`${gateway.url}/bye`) });
  assert.equal(back, `${gateway.url}/bye`, "the provider ended its session and sent the browser back");
});
