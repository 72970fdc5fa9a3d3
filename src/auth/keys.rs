//! Verification keys and signature checks: keys and tokens read by `jwt-compact`; in the
//! Worker, RSA, ECDSA and Ed25519 signatures checked by the runtime's WebCrypto and HMAC by
//! `jwt-compact`, which checks every family on other targets.
//!
//! Each key is bound to one family of algorithms by its type (an RSA key can never act as an
//! HMAC secret, which rules out algorithm confusion), and optionally to one algorithm by the
//! JWK's `alg`. Which algorithms a token may use at all is the issuer's allow-list.

use std::borrow::Cow;

use jwt_compact::alg::{Ed25519, Es256, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key, Rsa};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, Claims, UntrustedToken};
use serde_json::{Map, Value};

/// The algorithms the gateway verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    Hs256,
    Hs384,
    Hs512,
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

impl Alg {
    pub const ALL: [Alg; 12] = [
        Alg::Hs256,
        Alg::Hs384,
        Alg::Hs512,
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::EdDsa,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Hs384 => "HS384",
            Alg::Hs512 => "HS512",
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }

    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == name)
    }

    fn family(self) -> Family {
        match self {
            Alg::Hs256 | Alg::Hs384 | Alg::Hs512 => Family::Hmac,
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
                Family::Rsa
            }
            Alg::Es256 => Family::P256,
            Alg::Es384 => Family::P384,
            Alg::EdDsa => Family::Ed25519,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Hmac,
    Rsa,
    P256,
    P384,
    Ed25519,
}

/// Key material of one family.
#[derive(Clone)]
pub enum Material {
    Hmac(Vec<u8>),
    Rsa(Box<rsa::RsaPublicKey>),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_compact::PublicKey),
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key bytes: HMAC material is a secret.
        let kind = match self {
            Material::Hmac(_) => "hmac",
            Material::Rsa(_) => "rsa",
            Material::P256(_) => "p256",
            Material::P384(_) => "p384",
            Material::Ed25519(_) => "ed25519",
        };
        write!(f, "Material::{kind}")
    }
}

impl Material {
    /// The public key as a JWK (`kty`, `crv` and coordinates only), the form WebCrypto imports;
    /// `None` for an HMAC secret, which never leaves Wasm.
    pub fn public_jwk(&self) -> Option<String> {
        let jwk = match self {
            Material::Hmac(_) => return None,
            Material::Rsa(key) => {
                use rsa::traits::PublicKeyParts;
                serde_json::json!({
                    "kty": "RSA",
                    "n": b64(&key.n().to_bytes_be()),
                    "e": b64(&key.e().to_bytes_be()),
                })
            }
            Material::P256(key) => {
                let point = key.to_encoded_point(false);
                ec_jwk("P-256", point.as_bytes(), 32)?
            }
            Material::P384(key) => {
                let point = key.to_encoded_point(false);
                ec_jwk("P-384", point.as_bytes(), 48)?
            }
            Material::Ed25519(key) => {
                serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(key.as_ref()) })
            }
        };
        Some(jwk.to_string())
    }

    fn family(&self) -> Family {
        match self {
            Material::Hmac(_) => Family::Hmac,
            Material::Rsa(_) => Family::Rsa,
            Material::P256(_) => Family::P256,
            Material::P384(_) => Family::P384,
            Material::Ed25519(_) => Family::Ed25519,
        }
    }
}

/// `bytes` in base64url without padding, as JWK members are written.
fn b64(bytes: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The JWK of an uncompressed SEC1 point (`04 || x || y`, each coordinate `size` bytes).
fn ec_jwk(curve: &str, sec1: &[u8], size: usize) -> Option<Value> {
    let coordinates = sec1.strip_prefix(&[4])?;
    if coordinates.len() != 2 * size {
        return None;
    }
    let (x, y) = coordinates.split_at(size);
    Some(serde_json::json!({ "kty": "EC", "crv": curve, "x": b64(x), "y": b64(y) }))
}

/// A verification key with its identity and the algorithm it is bound to, if any.
#[derive(Debug, Clone)]
pub struct VerifyKey {
    pub kid: Option<String>,
    pub alg: Option<Alg>,
    pub material: Material,
}

impl VerifyKey {
    /// Whether this key may check a token signed with `alg`.
    pub fn fits(&self, alg: Alg) -> bool {
        self.material.family() == alg.family() && self.alg.is_none_or(|bound| bound == alg)
    }
}

/// Reads a JWK (`kty` RSA, EC P-256 or P-384, OKP Ed25519 or oct). Private parts are refused:
/// a gateway needs only public keys, except for HMAC secrets, which are symmetric by nature.
pub fn from_jwk(value: &Value) -> Result<VerifyKey, String> {
    let object = value.as_object().ok_or("a JWK must be an object")?;
    if ["d", "p", "q", "dp", "dq", "qi"]
        .iter()
        .any(|k| object.contains_key(*k))
    {
        return Err("contains private key parts; give the public key only".into());
    }
    let kid = object
        .get("kid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let alg = match object.get("alg").and_then(Value::as_str) {
        Some(name) => {
            Some(Alg::from_name(name).ok_or_else(|| format!("unsupported alg '{name}'"))?)
        }
        None => None,
    };
    if object
        .get("use")
        .and_then(Value::as_str)
        .is_some_and(|u| u != "sig")
    {
        return Err("is not a signature key (use != sig)".into());
    }
    let jwk: JsonWebKey<'_> =
        serde_json::from_value(value.clone()).map_err(|e| format!("is not a valid JWK: {e}"))?;
    let material = match &jwk {
        JsonWebKey::Rsa { .. } => {
            let key = rsa::RsaPublicKey::try_from(&jwk).map_err(|e| format!("bad RSA key: {e}"))?;
            Material::Rsa(Box::new(key))
        }
        JsonWebKey::EllipticCurve { curve, .. } if curve == "P-256" => Material::P256(
            p256::ecdsa::VerifyingKey::try_from(&jwk).map_err(|e| format!("bad P-256 key: {e}"))?,
        ),
        JsonWebKey::EllipticCurve { curve, x, y, .. } if curve == "P-384" => {
            Material::P384(p384_from_coordinates(x, y)?)
        }
        JsonWebKey::EllipticCurve { curve, .. } => {
            return Err(format!("unsupported curve '{curve}'"))
        }
        JsonWebKey::KeyPair { curve, x, .. } if curve == "Ed25519" => Material::Ed25519(
            ed25519_compact::PublicKey::from_slice(x)
                .map_err(|e| format!("bad Ed25519 key: {e}"))?,
        ),
        JsonWebKey::KeyPair { curve, .. } => return Err(format!("unsupported curve '{curve}'")),
        JsonWebKey::Symmetric { secret } => {
            let bytes: &[u8] = secret;
            if bytes.len() < 32 {
                return Err("an HMAC secret must be at least 32 bytes".into());
            }
            Material::Hmac(bytes.to_vec())
        }
        _ => return Err("unsupported key type".into()),
    };
    check(VerifyKey { kid, alg, material })
}

/// A P-384 public key from its JWK coordinates; the point must lie on the curve.
fn p384_from_coordinates(x: &[u8], y: &[u8]) -> Result<p384::ecdsa::VerifyingKey, String> {
    const SIZE: usize = 48;
    if x.len() != SIZE || y.len() != SIZE {
        return Err(format!("bad P-384 key: coordinates must be {SIZE} bytes"));
    }
    let point = p384::EncodedPoint::from_affine_coordinates(x.into(), y.into(), false);
    p384::ecdsa::VerifyingKey::from_encoded_point(&point)
        .map_err(|_| "bad P-384 key: the point is not on the curve".to_string())
}

/// Reads a PEM public key (SPKI for RSA, P-256, P-384 and Ed25519; PKCS#1 for RSA).
pub fn from_pem(pem: &str, kid: Option<String>, alg: Option<Alg>) -> Result<VerifyKey, String> {
    use p256::pkcs8::DecodePublicKey;
    use rsa::pkcs1::DecodeRsaPublicKey;
    let material = if let Ok(key) = rsa::RsaPublicKey::from_public_key_pem(pem) {
        Material::Rsa(Box::new(key))
    } else if let Ok(key) = rsa::RsaPublicKey::from_pkcs1_pem(pem) {
        Material::Rsa(Box::new(key))
    } else if let Ok(key) = p256::PublicKey::from_public_key_pem(pem) {
        Material::P256(p256::ecdsa::VerifyingKey::from(key))
    } else if let Ok(key) = p384::PublicKey::from_public_key_pem(pem) {
        Material::P384(p384::ecdsa::VerifyingKey::from(key))
    } else if let Ok(key) = ed25519_compact::PublicKey::from_pem(pem) {
        Material::Ed25519(key)
    } else {
        return Err("is not an RSA, P-256, P-384 or Ed25519 public key in PEM form".into());
    };
    check(VerifyKey { kid, alg, material })
}

fn check(key: VerifyKey) -> Result<VerifyKey, String> {
    if let Material::Rsa(rsa_key) = &key.material {
        use rsa::traits::PublicKeyParts;
        let bits = rsa_key.n().bits();
        if bits < MIN_RSA_BITS {
            return Err(format!(
                "an RSA key of {bits} bits is too weak (at least {MIN_RSA_BITS})"
            ));
        }
    }
    if let Some(alg) = key.alg {
        if alg.family() != key.material.family() {
            return Err(format!(
                "a {:?} key cannot be used with {}",
                key.material,
                alg.name()
            ));
        }
    }
    Ok(key)
}

/// Claims of a token whose signature checked out; time and audience are not yet judged.
pub type VerifiedClaims = Claims<Map<String, Value>>;

/// Verifies `token`'s signature with `key` under `alg` (which the caller took from the header
/// and checked against the issuer's allow-list).
pub fn verify(
    token: &UntrustedToken<'_>,
    alg: Alg,
    key: &VerifyKey,
) -> Result<VerifiedClaims, String> {
    if !key.fits(alg) {
        return Err("key does not fit the algorithm".into());
    }
    let result = match (&key.material, alg) {
        (Material::Hmac(secret), alg) => return verify_hmac(token, alg, secret),
        (Material::Rsa(rsa_key), alg) => {
            let algorithm = match alg {
                Alg::Rs256 => Rsa::rs256(),
                Alg::Rs384 => Rsa::rs384(),
                Alg::Rs512 => Rsa::rs512(),
                Alg::Ps256 => Rsa::ps256(),
                Alg::Ps384 => Rsa::ps384(),
                _ => Rsa::ps512(),
            };
            algorithm.validator(rsa_key.as_ref()).validate(token)
        }
        (Material::P256(verifying), Alg::Es256) => Es256.validator(verifying).validate(token),
        (Material::P384(verifying), Alg::Es384) => Es384.validator(verifying).validate(token),
        (Material::Ed25519(public), Alg::EdDsa) => jwt_compact::Renamed::new(Ed25519, "EdDSA")
            .validator(public)
            .validate(token),
        _ => return Err("key does not fit the algorithm".into()),
    };
    result.map(|t| t.into_parts().1).map_err(|e| e.to_string())
}

/// `ES384` (ECDSA on P-384 with SHA-384), which `jwt-compact` 0.8 does not offer, so that
/// host builds check it like every other algorithm and tests can sign with it.
#[derive(Debug, Default)]
pub struct Es384;

/// An ES384 signature: `r || s`, 48 bytes each.
pub struct Es384Signature(p384::ecdsa::Signature);

impl jwt_compact::AlgorithmSignature for Es384Signature {
    const LENGTH: Option<std::num::NonZeroUsize> = std::num::NonZeroUsize::new(96);

    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        p384::ecdsa::Signature::from_slice(slice)
            .map(Self)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.to_bytes().to_vec())
    }
}

impl jwt_compact::Algorithm for Es384 {
    type SigningKey = p384::ecdsa::SigningKey;
    type VerifyingKey = p384::ecdsa::VerifyingKey;
    type Signature = Es384Signature;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("ES384")
    }

    fn sign(&self, key: &Self::SigningKey, message: &[u8]) -> Self::Signature {
        use p384::ecdsa::signature::Signer;
        Es384Signature(key.sign(message))
    }

    fn verify_signature(
        &self,
        signature: &Self::Signature,
        key: &Self::VerifyingKey,
        message: &[u8],
    ) -> bool {
        use p384::ecdsa::signature::Verifier;
        key.verify(message, &signature.0).is_ok()
    }
}

fn verify_hmac(
    token: &UntrustedToken<'_>,
    alg: Alg,
    secret: &[u8],
) -> Result<VerifiedClaims, String> {
    let result = match alg {
        Alg::Hs256 => Hs256.validator(&Hs256Key::new(secret)).validate(token),
        Alg::Hs384 => Hs384.validator(&Hs384Key::new(secret)).validate(token),
        Alg::Hs512 => Hs512.validator(&Hs512Key::new(secret)).validate(token),
        _ => return Err("key does not fit the algorithm".into()),
    };
    result.map(|t| t.into_parts().1).map_err(|e| e.to_string())
}

/// Verifies `raw` (parsed as `token`) as the Worker does: RSA, ECDSA and Ed25519 signatures
/// by the runtime's WebCrypto, which is native code (a cold RS256 token costs about 1 ms and
/// an ES256 one about 3 ms of CPU when checked in Wasm: `bench/verify.mjs`); HMAC, and every
/// family on other targets, by [`verify`].
pub async fn verify_signature(
    token: &UntrustedToken<'_>,
    raw: &str,
    alg: Alg,
    key: &VerifyKey,
) -> Result<VerifiedClaims, String> {
    #[cfg(target_arch = "wasm32")]
    {
        if !key.fits(alg) {
            return Err("key does not fit the algorithm".into());
        }
        if let Material::Hmac(secret) = &key.material {
            return verify_hmac(token, alg, secret);
        }
        let jwk = key.material.public_jwk().ok_or("key cannot be exported")?;
        // The JWS signing input: header and payload as they were sent.
        let (signed, _) = raw.rsplit_once('.').ok_or("malformed token")?;
        if !subtle::verify(alg.name(), &jwk, token.signature_bytes(), signed.as_bytes()).await? {
            return Err("signature has failed verification".into());
        }
        token
            .deserialize_claims_unchecked()
            .map_err(|e| e.to_string())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = raw;
        verify(token, alg, key)
    }
}

/// The runtime's WebCrypto, for signatures Wasm would check slowly.
#[cfg(target_arch = "wasm32")]
mod subtle {
    use worker::js_sys;
    use worker::wasm_bindgen::prelude::wasm_bindgen;
    use worker::wasm_bindgen_futures::JsFuture;

    // Keys are imported once per isolate (a `CryptoKey` is no I/O object, so requests share
    // it) and remembered by algorithm and JWK; the map is emptied if a rotating JWKS ever
    // grows it past 256. The signature and signing input are copied out of Wasm memory before
    // the first await, which could let the memory grow under the views.
    #[wasm_bindgen(inline_js = r#"
const imported = new Map();
const rsa = (name, hash, saltLength) => [{ name, hash }, saltLength ? { name, saltLength } : { name }];
const ALGORITHMS = {
  RS256: rsa("RSASSA-PKCS1-v1_5", "SHA-256"),
  RS384: rsa("RSASSA-PKCS1-v1_5", "SHA-384"),
  RS512: rsa("RSASSA-PKCS1-v1_5", "SHA-512"),
  PS256: rsa("RSA-PSS", "SHA-256", 32),
  PS384: rsa("RSA-PSS", "SHA-384", 48),
  PS512: rsa("RSA-PSS", "SHA-512", 64),
  ES256: [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }],
  ES384: [{ name: "ECDSA", namedCurve: "P-384" }, { name: "ECDSA", hash: "SHA-384" }],
  EdDSA: [{ name: "Ed25519" }, { name: "Ed25519" }],
};
export async function subtle_verify(alg, jwk, signature, data) {
  signature = signature.slice();
  data = data.slice();
  const [importAs, verifyAs] = ALGORITHMS[alg];
  const id = alg + jwk;
  let key = imported.get(id);
  if (key === undefined) {
    key = await crypto.subtle.importKey("jwk", JSON.parse(jwk), importAs, false, ["verify"]);
    if (imported.size >= 256) imported.clear();
    imported.set(id, key);
  }
  return crypto.subtle.verify(verifyAs, key, signature, data);
}
"#)]
    extern "C" {
        fn subtle_verify(alg: &str, jwk: &str, signature: &[u8], data: &[u8]) -> js_sys::Promise;
    }

    /// Whether `signature` is `alg`'s signature of `data` by the public key `jwk`.
    pub async fn verify(
        alg: &str,
        jwk: &str,
        signature: &[u8],
        data: &[u8],
    ) -> Result<bool, String> {
        match JsFuture::from(subtle_verify(alg, jwk, signature, data)).await {
            Ok(answer) => Ok(answer.as_bool() == Some(true)),
            Err(error) => Err(format!(
                "signature could not be checked: {}",
                worker::Error::from(error)
            )),
        }
    }
}

/// The `alg` and `kid` of a token's header, before anything is trusted.
pub fn header_of<'t>(token: &'t UntrustedToken<'_>) -> (&'t str, Option<Cow<'t, str>>) {
    (
        token.algorithm(),
        token.header().key_id.as_deref().map(Cow::Borrowed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA: &str = r#"{"kty":"RSA","n":"vZA2gO-KiWVSofAv4zYBrQqznXAFFl0BsUQuSZn30B5cHYw6713AVLjGDbxFIC5avX5qznBJ3LffMVoiGu7QP6rcSflidJRuwDzl2NknbAC-y7Zuogx5ux2T8qfDSGHmoBn8NGfVhupBHRKJ0cmq0YqW7gJnyDBDP5gPM6yYz4hShxpifK20a9sNb4mmCG-RirmQ34ieqIfwHgRMmlLpKZ97jFgNlErLjJUsrBLIAFiTI4USq5HG9p2rtKgzx3nr93gWIYM5hRn_kF4USDwj0GfUEGYIEViyYa25bnnkAxXcIsDAurE78VjTLSdydgLZrW-1ruk-Y1GiJGhrgSLjiw","e":"AQAB"}"#;
    const P256: &str = r#"{"kty":"EC","crv":"P-256","x":"Spt4GiIM5Qtb_ZM19WJdice0TpNjRU-H26FSRByRygI","y":"oxZeuqdlqwwNlwjJQLXxK2RcTwJxGjIn8vaKQUmT2nY"}"#;
    const ED25519: &str =
        r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
    const P384: &str = r#"{"kty":"EC","crv":"P-384","x":"vdJMpH7y8kZCzf1FS46TuHjJURE9sui2CuUswbEJ6rh2F4K_JuWKD480-QHxeWNY","y":"wY4-OUWoUWTkAlii0frp-IxltcDFJEWg7dYUYl80JK2psDZeWL5iGaN5lzv_Tw0P"}"#;

    #[test]
    fn public_keys_go_to_webcrypto_as_the_jwk_they_came_from() {
        for original in [RSA, P256, P384, ED25519] {
            let original: Value = serde_json::from_str(original).expect("fixture");
            let key = from_jwk(&original).expect("a valid key");
            let exported = key.material.public_jwk().expect("a public key");
            let exported: Value = serde_json::from_str(&exported).expect("JSON");
            assert_eq!(exported, original);
        }
        let secret = serde_json::json!({"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"});
        let hmac = from_jwk(&secret).expect("a 32-byte secret");
        assert_eq!(hmac.material.public_jwk(), None, "secrets never leave Wasm");
    }

    fn p384_signer() -> (p384::ecdsa::SigningKey, VerifyKey) {
        let signer = p384::ecdsa::SigningKey::from_slice(&[7; 48]).expect("a valid scalar");
        let point = signer.verifying_key().to_encoded_point(false);
        let jwk = ec_jwk("P-384", point.as_bytes(), 48).expect("an uncompressed point");
        (signer, from_jwk(&jwk).expect("a valid P-384 key"))
    }

    #[test]
    fn es384_tokens_verify_and_tampered_ones_do_not() {
        use jwt_compact::Header;
        let (signer, key) = p384_signer();
        let claims = Claims::new(Map::from_iter([("sub".to_string(), Value::from("user-1"))]));
        let token = Es384
            .token(&Header::empty(), &claims, &signer)
            .expect("signed");
        let parsed = UntrustedToken::new(&token).expect("well formed");
        assert_eq!(parsed.algorithm(), "ES384");
        let verified = verify(&parsed, Alg::Es384, &key).expect("genuine");
        assert_eq!(verified.custom["sub"], "user-1");
        assert!(
            verify(&parsed, Alg::Es256, &key).is_err(),
            "a P-384 key is ES384 only"
        );

        let (head, signature) = token.rsplit_once('.').expect("three parts");
        let (header, _) = head.split_once('.').expect("three parts");
        let forged_payload = b64(br#"{"sub":"admin"}"#);
        let tampered = format!("{header}.{forged_payload}.{signature}");
        let tampered = UntrustedToken::new(&tampered).expect("well formed");
        assert!(verify(&tampered, Alg::Es384, &key).is_err());
        let short = format!("{head}.{}", &signature[..signature.len() - 4]);
        let short = UntrustedToken::new(&short).expect("well formed");
        assert!(verify(&short, Alg::Es384, &key).is_err());
    }

    #[test]
    fn p384_keys_off_the_curve_or_of_the_wrong_size_are_refused() {
        let (_, key) = p384_signer();
        let good: Value =
            serde_json::from_str(&key.material.public_jwk().expect("public")).expect("JSON");
        let mut off = good.clone();
        let y = off["y"].as_str().expect("y").to_string();
        let flipped = if y.starts_with('A') { "B" } else { "A" };
        off["y"] = Value::from(format!("{flipped}{}", &y[1..]));
        assert!(from_jwk(&off)
            .expect_err("off the curve")
            .contains("not on the curve"));
        let mut short = good.clone();
        short["x"] = Value::from("AAAA");
        assert!(from_jwk(&short).expect_err("short").contains("48 bytes"));
    }
}
