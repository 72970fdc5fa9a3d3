//! The authentication stage: find the credentials, verify them, and check what the route
//! demands.

use std::cell::RefCell;

use jwt_compact::UntrustedToken;
use serde_json::{json, Map, Value};
use worker::Env;

use super::certificate::{self, Presented as Certificate};
use super::claims;
use super::jwks::{self, JwksSettings};
use super::keys::{self, Alg, VerifyKey};
use super::settings::{AuthSettings, Issuer, Mode, RouteAuth};
use super::signature;
use super::{api_key, basic, discovery, introspection};
use crate::digest::sha256_hex;
use crate::error::GatewayError;
use crate::http::header;
use crate::memo::Expiring;
use crate::observe::tracing::Scope;

/// Longest token parsed; longer ones are refused unread.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Most verified tokens remembered per isolate.
const VERIFIED_CAPACITY: usize = 10_000;

/// Who is calling, once credentials have been verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// `jwt` or `api_key`.
    pub scheme: &'static str,
    /// The issuer's name in the document, for JWTs.
    pub issuer: Option<String>,
    /// `sub` of a JWT, or the API-key consumer's name.
    pub subject: Option<String>,
    pub scopes: Vec<String>,
    pub roles: Vec<String>,
    /// The rate-limit plan named by the consumer or the issuer's `plan_claim`.
    pub plan: Option<String>,
    /// All claims (for API keys: `sub`, `consumer`, `scope` and `plan`).
    pub claims: Map<String, Value>,
}

impl Principal {
    /// A claim as header text: strings as they are, anything else as JSON.
    pub fn claim_text(&self, name: &str) -> Option<String> {
        match self.claims.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}

thread_local! {
    /// (config version, SHA-256 of token) → principal, until the token's `exp`.
    static VERIFIED: RefCell<Expiring<Principal>> = RefCell::new(Expiring::new(VERIFIED_CAPACITY));
}

/// What a request presents to authentication.
#[derive(Clone, Copy)]
pub struct Presented<'a> {
    pub headers: &'a [(String, String)],
    /// The platform's `cf` object (client certificates), when the route accepts them.
    pub cf: Option<&'a Value>,
    pub method: &'a str,
    pub url: &'a url::Url,
}

/// Authenticates a request for a route with an `auth` policy. `Ok(None)` is an anonymous
/// caller on an optional route.
pub async fn authenticate(
    env: &Env,
    settings: &AuthSettings,
    config_version: &str,
    policy: &RouteAuth,
    request: Presented<'_>,
    now_ms: f64,
    scope: Scope<'_>,
) -> Result<Option<Principal>, GatewayError> {
    let Presented {
        headers,
        cf,
        method,
        url,
    } = request;
    let token = if policy.jwt {
        token_from(headers, policy.cookie.as_deref())
    } else {
        None
    };
    let key = if policy.api_key {
        header(headers, &settings.api_key_header)
    } else {
        None
    };
    let basic = if policy.basic {
        header(headers, "authorization").and_then(basic::credentials)
    } else {
        None
    };
    let certificate = if policy.mtls {
        certificate::presented(cf)
    } else {
        Certificate::None
    };
    let signed = policy.signature && header(headers, "signature-input").is_some();
    let principal = match (token, key) {
        (Some(token), _) if introspection::is_jwt(&token) => {
            verify_jwt(settings, config_version, policy, &token, now_ms, scope).await?
        }
        (Some(token), _) => {
            verify_opaque(env, settings, config_version, policy, &token, now_ms).await?
        }
        (None, Some(key)) => verify_api_key(env, key, now_ms).await?,
        (None, None) => match (basic, certificate) {
            (Some((user, password)), _) => {
                verify_basic(env, policy, &user, &password, now_ms).await?
            }
            _ if signed => {
                let settings = settings
                    .signatures
                    .as_ref()
                    .ok_or_else(|| invalid("no signature keys"))?;
                let request = signature::Signed {
                    method,
                    url,
                    headers,
                };
                let secret = |name: &str| env.secret(name).ok().map(|s| s.to_string());
                let consumer =
                    signature::verify(settings, &request, secret, now_ms).map_err(invalid)?;
                consumer_principal("signature", &consumer)
            }
            (
                None,
                Certificate::Verified {
                    fingerprint,
                    subject,
                },
            ) => {
                let consumer = settings
                    .certificates
                    .consumer(&fingerprint, &subject)
                    .ok_or_else(|| invalid("the client certificate names no consumer"))?;
                consumer_principal("mtls", consumer)
            }
            (None, Certificate::Unverified(verdict)) => {
                return Err(invalid(format!(
                    "the client certificate was not verified: {verdict}"
                )))
            }
            (None, Certificate::None) => {
                return match policy.mode {
                    Mode::Optional => Ok(None),
                    Mode::Required if policy.basic => Err(GatewayError::BasicUnauthenticated {
                        presented: false,
                        bearer_too: policy.jwt,
                        cause: "no credentials".into(),
                    }),
                    Mode::Required => Err(GatewayError::Unauthenticated {
                        presented: false,
                        cause: "no credentials".into(),
                    }),
                };
            }
        },
    };
    authorize(policy, &principal)?;
    Ok(Some(principal))
}

/// Checks the route's scope and role requirements.
pub fn authorize(policy: &RouteAuth, principal: &Principal) -> Result<(), GatewayError> {
    for (requirement, held) in [
        (&policy.scopes, &principal.scopes),
        (&policy.roles, &principal.roles),
    ] {
        if !requirement.met_by(held) {
            return Err(GatewayError::InsufficientScope {
                scope: requirement.names(),
            });
        }
    }
    Ok(())
}

/// The bearer token from `Authorization`, or else from the named cookie.
pub fn token_from(headers: &[(String, String)], cookie: Option<&str>) -> Option<String> {
    let bearer = header(headers, "authorization").and_then(|value| {
        let (scheme, token) = value.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    });
    bearer.or_else(|| crate::http::cookie(headers, cookie?))
}

fn invalid(cause: impl Into<String>) -> GatewayError {
    GatewayError::Unauthenticated {
        presented: true,
        cause: cause.into(),
    }
}

async fn verify_jwt(
    settings: &AuthSettings,
    config_version: &str,
    policy: &RouteAuth,
    token: &str,
    now_ms: f64,
    scope: Scope<'_>,
) -> Result<Principal, GatewayError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid(format!(
            "token of {} bytes is over the limit",
            token.len()
        )));
    }
    let cache_key = format!("{config_version}:{}", sha256_hex(token));
    let remembered = VERIFIED.with(|v| v.borrow().get(&cache_key, now_ms).map(|(_, p)| p.clone()));
    if let Some(principal) = remembered {
        if issuer_allowed(policy, principal.issuer.as_deref().unwrap_or_default()) {
            return Ok(principal);
        }
        return Err(invalid("issuer not accepted on this route"));
    }

    let untrusted = UntrustedToken::new(token).map_err(|e| invalid(format!("malformed: {e}")))?;
    // RFC 7515 §4.1.11: a token whose `crit` names extensions we do not implement must be refused.
    if has_crit(token) {
        return Err(invalid("critical header extensions are not supported"));
    }
    let (alg_name, kid) = keys::header_of(&untrusted);
    let alg = Alg::from_name(alg_name)
        .ok_or_else(|| invalid(format!("algorithm '{alg_name}' is not supported")))?;
    let unverified = untrusted
        .deserialize_claims_unchecked::<Map<String, Value>>()
        .map_err(|e| invalid(format!("claims unreadable: {e}")))?;
    let iss = unverified
        .custom
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let issuer = settings
        .issuers
        .values()
        .find(|i| i.rules.issuer == iss && issuer_allowed(policy, &i.name))
        .ok_or_else(|| invalid(format!("issuer '{iss}' not accepted on this route")))?;
    if !issuer.algorithms.contains(&alg) {
        return Err(invalid(format!(
            "algorithm {alg_name} not allowed for issuer '{}'",
            issuer.name
        )));
    }
    let kid = kid.map(|k| k.into_owned());
    let verified = verify_with_issuer_keys(
        issuer,
        &untrusted,
        token,
        alg,
        kid.as_deref(),
        (now_ms, scope),
    )
    .await?;
    claims::check(&verified, &issuer.rules, now_ms).map_err(invalid)?;

    let principal = principal_of("jwt", issuer, verified.custom.clone());
    let until = verified
        .expiration
        .map_or(now_ms, |exp| exp.timestamp() as f64 * 1000.0);
    remember(cache_key, until, &principal, now_ms);
    Ok(principal)
}

/// The caller a token's claims describe, as the issuer's rules read them.
fn principal_of(scheme: &'static str, issuer: &Issuer, custom: Map<String, Value>) -> Principal {
    Principal {
        scheme,
        issuer: Some(issuer.name.clone()),
        subject: custom
            .get("sub")
            .and_then(Value::as_str)
            .map(str::to_string),
        scopes: claims::scopes(&custom),
        roles: issuer
            .rules
            .roles_claim
            .as_deref()
            .map(|path| claims::at_path(&custom, path))
            .unwrap_or_default(),
        plan: issuer
            .rules
            .plan_claim
            .as_deref()
            .and_then(|path| claims::at_path(&custom, path).into_iter().next()),
        claims: custom,
    }
}

/// An opaque token, asked of each introspecting issuer the route accepts until one says it
/// is active.
async fn verify_opaque(
    env: &Env,
    settings: &AuthSettings,
    config_version: &str,
    policy: &RouteAuth,
    token: &str,
    now_ms: f64,
) -> Result<Principal, GatewayError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid("token over the limit"));
    }
    let mut unavailable = None;
    let introspecting = settings
        .issuers
        .values()
        .filter(|i| i.introspection.is_some() && issuer_allowed(policy, &i.name));
    for issuer in introspecting {
        let Some(introspection) = &issuer.introspection else {
            continue;
        };
        let endpoint = match (&introspection.endpoint, &issuer.discovery) {
            (Some(endpoint), _) => Ok(endpoint.clone()),
            (None, Some(discovery)) => discovery::metadata(discovery, now_ms).await.and_then(|m| {
                m.introspection_endpoint
                    .clone()
                    .ok_or_else(|| "the metadata names no introspection_endpoint".into())
            }),
            (None, None) => Err("no introspection endpoint".into()),
        };
        let prefix = format!("{config_version}:{}", issuer.name);
        let answer = match endpoint {
            Ok(endpoint) => {
                introspection::introspect(
                    env,
                    (introspection, &endpoint),
                    (&issuer.rules, &prefix),
                    token,
                    now_ms,
                )
                .await
            }
            Err(cause) => Err(cause),
        };
        match answer {
            Ok(Some(claims)) => return Ok(principal_of("oauth2", issuer, claims)),
            Ok(None) => {}
            Err(cause) => unavailable = Some((issuer.name.clone(), cause)),
        }
    }
    match unavailable {
        Some((issuer, cause)) => Err(GatewayError::AuthUnavailable { issuer, cause }),
        None => Err(invalid(
            "the token is not active (introspection), or no issuer of the route introspects",
        )),
    }
}

/// The claims of an ID token from `issuer` for the client `client_id` (OpenID Connect Core
/// §3.1.3.7: signature, `iss`, `aud`, `exp`); the caller checks its `nonce`.
pub async fn verify_id_token(
    issuer: &Issuer,
    token: &str,
    client_id: &str,
    now_ms: f64,
) -> Result<Map<String, Value>, String> {
    let untrusted =
        UntrustedToken::new(token).map_err(|e| format!("the ID token is malformed: {e}"))?;
    let (alg_name, kid) = keys::header_of(&untrusted);
    let alg = Alg::from_name(alg_name)
        .filter(|alg| issuer.algorithms.contains(alg))
        .ok_or_else(|| format!("the ID token's algorithm {alg_name} is not allowed"))?;
    let kid = kid.map(|k| k.into_owned());
    let untraced = crate::observe::tracing::Tracer::default();
    let scope = Scope {
        tracer: &untraced,
        parent: None,
    };
    let verified = verify_with_issuer_keys(
        issuer,
        &untrusted,
        token,
        alg,
        kid.as_deref(),
        (now_ms, scope),
    )
    .await
    .map_err(|e| format!("the ID token: {e}"))?;
    let mut rules = issuer.rules.clone();
    rules.audiences = vec![client_id.to_string()];
    rules.required = vec!["sub".into()];
    claims::check(&verified, &rules, now_ms).map_err(|why| format!("the ID token: {why}"))?;
    Ok(verified.custom)
}

/// Whether the token's protected header carries `crit`. Read separately because the JWT
/// library ignores header fields it does not know.
fn has_crit(token: &str) -> bool {
    use base64::Engine;
    let Some(encoded) = token.split('.').next() else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
        .is_some_and(|header| header.contains_key("crit"))
}

fn issuer_allowed(policy: &RouteAuth, name: &str) -> bool {
    policy.issuers.is_empty() || policy.issuers.iter().any(|i| i == name)
}

fn remember(key: String, until: f64, principal: &Principal, now_ms: f64) {
    VERIFIED.with(|v| v.borrow_mut().insert(key, until, principal.clone(), now_ms));
}

/// Tries the inline keys, then the JWKS; an unknown `kid` earns one (rate-limited) refetch.
async fn verify_with_issuer_keys(
    issuer: &Issuer,
    token: &UntrustedToken<'_>,
    raw: &str,
    alg: Alg,
    kid: Option<&str>,
    (now_ms, scope): (f64, Scope<'_>),
) -> Result<keys::VerifiedClaims, GatewayError> {
    if let Some(claims) = try_keys(&issuer.keys, token, raw, alg, kid).await {
        return claims;
    }
    let unavailable = |cause: String| GatewayError::AuthUnavailable {
        issuer: issuer.name.clone(),
        cause,
    };
    let discovered;
    let settings = match (&issuer.jwks, &issuer.discovery) {
        (Some(settings), _) => settings,
        (None, Some(discovery)) => {
            let metadata = discovery::metadata(discovery, now_ms)
                .await
                .map_err(unavailable)?;
            let url = metadata
                .jwks_uri
                .clone()
                .ok_or_else(|| unavailable("the metadata names no jwks_uri".into()))?;
            discovered = JwksSettings {
                url,
                min_ttl_s: discovery.min_ttl_s,
                max_ttl_s: discovery.max_ttl_s,
                refetch_ms: issuer.refetch_ms,
            };
            &discovered
        }
        (None, None) => return Err(invalid("no key of the issuer verifies the token")),
    };
    let set = jwks::keys(settings, now_ms, false, scope)
        .await
        .map_err(unavailable)?;
    let kid_known =
        |set: &[VerifyKey]| kid.is_none_or(|k| set.iter().any(|key| key.kid.as_deref() == Some(k)));
    let set = if kid_known(&set) {
        set
    } else {
        jwks::keys(settings, now_ms, true, scope)
            .await
            .map_err(unavailable)?
    };
    try_keys(&set, token, raw, alg, kid)
        .await
        .unwrap_or_else(|| Err(invalid("no key of the issuer verifies the token")))
}

/// `None` when no key was a candidate; otherwise the first verification that succeeded, or the
/// failure.
async fn try_keys(
    keys: &[VerifyKey],
    token: &UntrustedToken<'_>,
    raw: &str,
    alg: Alg,
    kid: Option<&str>,
) -> Option<Result<keys::VerifiedClaims, GatewayError>> {
    let mut candidates = keys
        .iter()
        .filter(|key| key.fits(alg) && (kid.is_none() || key.kid.as_deref() == kid))
        .peekable();
    candidates.peek()?;
    let mut last = String::new();
    for key in candidates {
        match keys::verify_signature(token, raw, alg, key).await {
            Ok(claims) => return Some(Ok(claims)),
            Err(e) => last = e,
        }
    }
    Some(Err(invalid(format!("signature: {last}"))))
}

async fn verify_api_key(env: &Env, key: &str, now_ms: f64) -> Result<Principal, GatewayError> {
    if key.len() > 512 {
        return Err(invalid("API key over the limit"));
    }
    let consumer = api_key::lookup(env, key, now_ms)
        .await
        .map_err(|cause| GatewayError::AuthUnavailable {
            issuer: "api_keys".into(),
            cause,
        })?
        .ok_or_else(|| invalid("unknown or disabled API key"))?;
    Ok(consumer_principal("api_key", &consumer))
}

/// A consumer (API key, Basic user, client certificate) as the caller.
fn consumer_principal(scheme: &'static str, consumer: &api_key::Consumer) -> Principal {
    let claims = json!({
        "sub": consumer.name,
        "consumer": consumer.name,
        "scope": consumer.scopes.join(" "),
        "plan": consumer.plan,
    });
    Principal {
        scheme,
        issuer: None,
        subject: Some(consumer.name.clone()),
        scopes: consumer.scopes.clone(),
        roles: Vec::new(),
        plan: consumer.plan.clone(),
        claims: claims.as_object().cloned().unwrap_or_default(),
    }
}

async fn verify_basic(
    env: &Env,
    policy: &RouteAuth,
    user: &str,
    password: &str,
    now_ms: f64,
) -> Result<Principal, GatewayError> {
    let refused = |cause: &str| GatewayError::BasicUnauthenticated {
        presented: true,
        bearer_too: policy.jwt,
        cause: cause.to_string(),
    };
    if user.len() > 256 || password.len() > 1024 {
        return Err(refused("Basic credentials over the limit"));
    }
    let consumer = basic::verify(env, user, password, now_ms)
        .await
        .map_err(|cause| GatewayError::AuthUnavailable {
            issuer: "basic".into(),
            cause,
        })?
        .ok_or_else(|| refused("unknown user, disabled, or wrong password"))?;
    Ok(consumer_principal("basic", &consumer))
}

/// The request headers for the upstream after authentication: claim headers always stripped
/// first (so clients cannot forge them), credentials removed unless the route forwards them,
/// then the principal's claims added.
pub fn upstream_headers(
    headers: &[(String, String)],
    settings: &AuthSettings,
    policy: &RouteAuth,
    principal: Option<&Principal>,
) -> Vec<(String, String)> {
    let credential = |name: &str| {
        name == "authorization"
            || name == settings.api_key_header
            || (policy.signature && (name == "signature" || name == "signature-input"))
    };
    let mut out: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| {
            !policy.forward_claims.iter().any(|(_, h)| h == name)
                && (policy.forward_credentials || !credential(name))
        })
        .cloned()
        .collect();
    if let Some(principal) = principal {
        for (claim, header_name) in &policy.forward_claims {
            if let Some(value) = principal.claim_text(claim) {
                if crate::http::is_valid_value(&value) {
                    out.push((header_name.clone(), value));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::claims::Requirement;
    use crate::http::pairs;

    fn policy() -> RouteAuth {
        RouteAuth {
            mode: Mode::Required,
            jwt: true,
            api_key: true,
            basic: false,
            mtls: false,
            signature: false,
            session: None,
            issuers: vec![],
            scopes: Requirement::AllOf(vec!["orders:read".into()]),
            roles: Requirement::None,
            forward_claims: vec![("sub".into(), "x-user-id".into())],
            forward_credentials: false,
            cookie: Some("session".into()),
        }
    }

    #[test]
    fn crit_headers_are_detected() {
        // {"alg":"HS256","crit":["exp"]} and {"alg":"HS256"}
        assert!(has_crit("eyJhbGciOiJIUzI1NiIsImNyaXQiOlsiZXhwIl19.e30.sig"));
        assert!(!has_crit("eyJhbGciOiJIUzI1NiJ9.e30.sig"));
        assert!(!has_crit("%%%.e30.sig"));
    }

    #[test]
    fn tokens_come_from_bearer_or_the_cookie() {
        assert_eq!(
            token_from(&pairs(&[("authorization", "Bearer abc")]), None).as_deref(),
            Some("abc")
        );
        assert_eq!(
            token_from(&pairs(&[("authorization", "bearer  abc ")]), None).as_deref(),
            Some("abc")
        );
        assert_eq!(
            token_from(&pairs(&[("authorization", "Basic abc")]), None),
            None
        );
        let cookie = pairs(&[("cookie", "a=1; session=tok; b=2")]);
        assert_eq!(token_from(&cookie, Some("session")).as_deref(), Some("tok"));
        assert_eq!(token_from(&cookie, None), None);
    }

    #[test]
    fn claim_headers_cannot_be_forged_and_credentials_stay_here() {
        let settings = AuthSettings {
            api_key_header: "x-api-key".into(),
            ..Default::default()
        };
        let incoming = pairs(&[
            ("x-user-id", "forged"),
            ("authorization", "Bearer t"),
            ("x-api-key", "k"),
            ("accept", "*/*"),
        ]);
        let principal = Principal {
            scheme: "jwt",
            issuer: None,
            subject: Some("u1".into()),
            scopes: vec![],
            roles: vec![],
            plan: None,
            claims: json!({"sub": "u1"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        let out = upstream_headers(&incoming, &settings, &policy(), Some(&principal));
        assert_eq!(header(&out, "x-user-id"), Some("u1"));
        assert_eq!(out.iter().filter(|(n, _)| n == "x-user-id").count(), 1);
        assert_eq!(header(&out, "authorization"), None);
        assert_eq!(header(&out, "x-api-key"), None);
        let anonymous = upstream_headers(&incoming, &settings, &policy(), None);
        assert_eq!(header(&anonymous, "x-user-id"), None);
    }

    #[test]
    fn scopes_are_checked() {
        let mut principal = Principal {
            scheme: "api_key",
            issuer: None,
            subject: None,
            scopes: vec!["orders:write".into()],
            roles: vec![],
            plan: None,
            claims: Map::new(),
        };
        assert!(matches!(
            authorize(&policy(), &principal),
            Err(GatewayError::InsufficientScope { .. })
        ));
        principal.scopes.push("orders:read".into());
        assert!(authorize(&policy(), &principal).is_ok());
    }
}
