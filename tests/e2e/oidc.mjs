// A real OpenID provider for the tests: `oidc-provider` (from npm) on loopback, with the
// clients the tests use, introspection, revocation, client credentials (JWT access tokens for
// the `api` resource, opaque ones otherwise), and its development login screens.
import http from "node:http";
import * as jose from "jose";
import Provider from "oidc-provider";

export const RESOURCE = "https://api.test";

/** Starts the provider; `clients` are added to the defaults. */
export async function startProvider({ clients = [], accessTokenTtl = 600 } = {}) {
  const { privateKey } = await jose.generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await jose.exportJWK(privateKey)), kid: "provider-key", alg: "RS256", use: "sig" };
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    jwks: { keys: [jwk] },
    clients: [
      // The gateway itself: it introspects tokens.
      { client_id: "gateway", client_secret: "gateway-secret", grant_types: ["client_credentials"], response_types: [], redirect_uris: [] },
      // A machine client with opaque tokens, and one whose tokens are JWTs for the API.
      { client_id: "machine", client_secret: "machine-secret", grant_types: ["client_credentials"], response_types: [], redirect_uris: [], scope: "api:read api:write" },
      { client_id: "jwt-machine", client_secret: "jwt-machine-secret", grant_types: ["client_credentials"], response_types: [], redirect_uris: [], scope: "api:read api:write" },
      ...clients,
    ],
    scopes: ["openid", "offline_access", "profile", "email", "api:read", "api:write"],
    claims: { openid: ["sub"], email: ["email"], profile: ["name"] },
    findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub, email: `${sub}@example.com`, name: `User ${sub}` }) }),
    features: {
      introspection: { enabled: true },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, client) => (client.clientId === "jwt-machine" ? RESOURCE : undefined),
        getResourceServerInfo: () => ({ scope: "api:read api:write", audience: "api", accessTokenTTL: accessTokenTtl, accessTokenFormat: "jwt", jwt: { sign: { alg: "RS256" } } }),
        useGrantedResource: () => true,
      },
    },
    pkce: { required: () => true },
    ttl: { AccessToken: accessTokenTtl, ClientCredentials: accessTokenTtl, Session: 3600, Grant: 3600, Interaction: 600, IdToken: 600, RefreshToken: 86400 },
    rotateRefreshToken: false,
    // Every client allowed the refresh grant gets a refresh token, without prompting for it.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed("refresh_token"),
  });
  // Requests by path, so tests can tell which were made and how often.
  const hits = {};
  server.on("request", (req) => {
    const path = req.url.split("?")[0];
    hits[path] = (hits[path] ?? 0) + 1;
  });
  server.on("request", provider.callback());
  const form = (fields) => new URLSearchParams(fields).toString();
  const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
  return {
    issuer,
    provider,
    hits,
    /** A client-credentials access token for `client`. */
    async clientToken(client, secret, scope = "api:read") {
      const res = await fetch(`${issuer}/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(client, secret) },
        body: form({ grant_type: "client_credentials", scope }),
      });
      const body = await res.json();
      if (!res.ok) throw new Error(`token: ${res.status} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    /** Revokes a token at the provider (RFC 7009). */
    async revoke(token, client, secret) {
      const res = await fetch(`${issuer}/token/revocation`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(client, secret) },
        body: form({ token }),
      });
      if (!res.ok) throw new Error(`revocation: ${res.status}`);
    },
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}

/**
 * A browser with a cookie jar: follows redirects by hand (so each response's cookies are kept),
 * and fills the provider's development login and consent forms as a user would.
 */
export function browser({ login = "alice" } = {}) {
  const jar = new Map(); // origin → (cookie name → value)
  const cookiesOf = (origin) => jar.get(origin) ?? jar.set(origin, new Map()).get(origin);
  async function request(url, init = {}) {
    const { origin } = new URL(url);
    const cookies = [...cookiesOf(origin)].map(([n, v]) => `${n}=${v}`).join("; ");
    const headers = { accept: "text/html", ...(cookies ? { cookie: cookies } : {}), ...(init.headers ?? {}) };
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";");
      const at = pair.indexOf("=");
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      const gone = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === "";
      if (gone) cookiesOf(origin).delete(name);
      else cookiesOf(origin).set(name, value);
    }
    return res;
  }
  /** Follows redirects and fills forms until a response is not a redirect or `stop(url)` holds. */
  async function follow(url, { stop = () => false, init } = {}) {
    let res = await request(url, init);
    for (let hops = 0; hops < 20; hops++) {
      if ([301, 302, 303, 307].includes(res.status)) {
        const next = new URL(res.headers.get("location"), url).href;
        if (stop(next)) return { res, next };
        url = next;
        res = await request(url);
        continue;
      }
      const html = res.headers.get("content-type")?.includes("text/html") ? await res.text() : null;
      const form = html?.match(/<form([^>]*method="post"[^>]*)>([\s\S]*?)<\/form>/i);
      const action = form?.[1].match(/action="([^"]+)"/)?.[1];
      if (!action) return { res, html, url };
      const fields = {};
      for (const [tag] of form[2].matchAll(/<input[^>]*>/gi)) {
        const name = tag.match(/name="([^"]+)"/)?.[1];
        if (name) fields[name] = tag.match(/value="([^"]*)"/)?.[1] ?? "";
      }
      // The first named button (the provider's "Yes, sign me out") is the one pressed.
      const button = html.match(/<button[^>]*name="([^"]+)"[^>]*>/i)?.[0];
      if (button) fields[button.match(/name="([^"]+)"/)[1]] = button.match(/value="([^"]*)"/)?.[1] ?? "";
      if ("login" in fields) Object.assign(fields, { login, password: "any password" });
      url = new URL(action.replaceAll("&amp;", "&"), url).href;
      res = await request(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() });
    }
    throw new Error("too many redirects");
  }
  return { jar, cookiesOf, request, follow };
}
