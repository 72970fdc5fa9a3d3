//! Opaque access tokens, checked by the issuer's introspection endpoint (RFC 7662) with the
//! gateway's client credentials (a secret). Answers are kept per token hash: an active one until
//! the token's `exp` (at most `cache_seconds`), an inactive one for `negative_cache_seconds`.

use std::cell::RefCell;

use serde_json::{Map, Value};

use super::claims::ClaimRules;
use super::client;
use crate::digest::sha256_hex;
use crate::memo::Expiring;

/// Answers kept per isolate.
const CAPACITY: usize = 10_000;

/// How an issuer introspects its opaque tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introspection {
    /// The endpoint; from the issuer's discovery metadata when absent.
    pub endpoint: Option<String>,
    pub client_id: String,
    /// Name of the secret (`wrangler secret put NAME`) holding the client secret.
    pub client_secret_var: String,
    /// Longest an active answer is kept (default 300 s; never past the token's `exp`).
    pub cache_s: u64,
    /// How long an inactive answer is kept (default 10 s).
    pub negative_s: u64,
}

thread_local! {
    /// (configuration version, issuer, SHA-256 of token) → the active token's claims, or none.
    static ANSWERS: RefCell<Expiring<Option<Map<String, Value>>>> = RefCell::new(Expiring::new(CAPACITY));
}

/// The claims of an active token; `Ok(None)` for an inactive one; `Err` when the endpoint
/// cannot say.
pub async fn introspect(
    env: &worker::Env,
    (settings, endpoint): (&Introspection, &str),
    (rules, cache_prefix): (&ClaimRules, &str),
    token: &str,
    now_ms: f64,
) -> Result<Option<Map<String, Value>>, String> {
    let key = format!("{cache_prefix}:{}", sha256_hex(token));
    if let Some((_, answer)) =
        ANSWERS.with(|a| a.borrow().get(&key, now_ms).map(|(u, v)| (u, v.clone())))
    {
        return Ok(answer);
    }
    let client = (
        settings.client_id.as_str(),
        settings.client_secret_var.as_str(),
    );
    let pairs = [("token", token), ("token_type_hint", "access_token")];
    let answer = client::post_form(env, (endpoint, "introspection"), client, &pairs).await?;
    if answer.status != 200 {
        return Err(format!("introspection answered {}", answer.status));
    }
    let claims = read_answer(&answer.text, rules, now_ms)?;
    let until = match &claims {
        Some(claims) => {
            let exp_ms = claims
                .get("exp")
                .and_then(Value::as_f64)
                .map_or(f64::MAX, |e| e * 1000.0);
            exp_ms.min(now_ms + settings.cache_s as f64 * 1000.0)
        }
        None => now_ms + settings.negative_s as f64 * 1000.0,
    };
    ANSWERS.with(|a| a.borrow_mut().insert(key, until, claims.clone(), now_ms));
    Ok(claims)
}

/// Reads an introspection answer: `None` unless it is active, unexpired and, where it says,
/// for this issuer and one of its audiences, with the required claims.
pub fn read_answer(
    text: &str,
    rules: &ClaimRules,
    now_ms: f64,
) -> Result<Option<Map<String, Value>>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("introspection: not JSON: {e}"))?;
    let claims = value
        .as_object()
        .ok_or("introspection: not a JSON object")?;
    if claims.get("active") != Some(&Value::Bool(true)) {
        return Ok(None);
    }
    let now_s = now_ms / 1000.0;
    let leeway = rules.leeway_s as f64;
    let time = |name: &str| claims.get(name).and_then(Value::as_f64);
    let expired = time("exp").is_some_and(|exp| exp + leeway <= now_s);
    let early = time("nbf").is_some_and(|nbf| nbf - leeway > now_s);
    let other_issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .is_some_and(|iss| iss.trim_end_matches('/') != rules.issuer.trim_end_matches('/'));
    let audience_ok = match claims.get("aud") {
        None => true,
        Some(Value::String(aud)) => rules.audiences.iter().any(|a| a == aud),
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| rules.audiences.iter().any(|a| a == aud)),
        Some(_) => false,
    };
    let missing = rules.required.iter().any(|name| !claims.contains_key(name));
    if expired || early || other_issuer || !audience_ok || missing {
        return Ok(None);
    }
    let mut claims = claims.clone();
    // A client's own token (client credentials) has no subject: the client is the caller.
    if !claims.contains_key("sub") {
        if let Some(client) = claims.get("client_id").cloned() {
            claims.insert("sub".into(), client);
        }
    }
    Ok(Some(claims))
}

/// Whether a bearer token is a JWT (three base64url parts) rather than an opaque one.
pub fn is_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: "https://idp.test".into(),
            audiences: vec!["api".into()],
            leeway_s: 0,
            required: Vec::new(),
            roles_claim: None,
            plan_claim: None,
        }
    }

    #[test]
    fn only_active_unexpired_tokens_for_this_issuer_and_audience_pass() {
        let now = 1_000_000.0;
        let read = |text: &str| read_answer(text, &rules(), now * 1000.0).unwrap();
        let active = read(r#"{"active":true,"client_id":"app","scope":"a b","exp":1000100,"iss":"https://idp.test/"}"#).unwrap();
        assert_eq!(active["sub"], "app", "a client's token names the client");
        assert!(read(r#"{"active":false}"#).is_none());
        assert!(read(r#"{"active":"true"}"#).is_none());
        assert!(read(r#"{"active":true,"exp":999999}"#).is_none(), "expired");
        assert!(read(r#"{"active":true,"iss":"https://other.test"}"#).is_none());
        assert!(read(r#"{"active":true,"aud":["other"]}"#).is_none());
        assert!(read(r#"{"active":true,"aud":"api","sub":"u"}"#).is_some());
        assert!(read_answer("<html>", &rules(), now).is_err());
    }

    #[test]
    fn jwts_are_told_from_opaque_tokens() {
        assert!(is_jwt("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"));
        assert!(!is_jwt("Qq3ZbZ3x_Vd9kLx0aTk5mHc3ZzZtbW1wbG9wbG9w"));
        assert!(!is_jwt("a.b"));
        assert!(!is_jwt("a..c"));
    }
}
