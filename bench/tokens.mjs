// Signing keys and JWTs for the benchmarks, made by jose (an independent implementation), and
// the issuer entry of the route document that trusts them.
import * as jose from "jose";

export const ISSUER = "https://bench.test/";

/** One key per algorithm, with its public JWK. */
export async function signersFor(algs) {
  const signers = {};
  for (const alg of algs) {
    if (alg.startsWith("HS")) {
      const secret = crypto.getRandomValues(new Uint8Array(64));
      signers[alg] = { key: secret, jwk: { kty: "oct", k: jose.base64url.encode(secret) } };
    } else {
      const { privateKey, publicKey } = await jose.generateKeyPair(alg, alg === "EdDSA" ? { crv: "Ed25519" } : {});
      signers[alg] = { key: privateKey, jwk: await jose.exportJWK(publicKey) };
    }
  }
  return signers;
}

/** A token signed with `alg`'s key; `jti` makes it unique. */
export function mint(signers, alg, jti) {
  return new jose.SignJWT({ sub: "bench", jti })
    .setProtectedHeader({ alg, kid: alg })
    .setIssuer(ISSUER)
    .setAudience("api")
    .setExpirationTime("1h")
    .sign(signers[alg].key);
}

/** The `auth` section of a route document that trusts these keys. */
export function authSection(signers) {
  const algs = Object.keys(signers);
  return {
    issuers: {
      bench: {
        issuer: ISSUER,
        audiences: ["api"],
        algorithms: algs,
        keys: algs.map((alg) => ({ ...signers[alg].jwk, kid: alg, alg })),
      },
    },
  };
}
