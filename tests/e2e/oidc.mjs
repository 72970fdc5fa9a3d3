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
