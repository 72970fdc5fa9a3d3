//! OpenID Connect discovery: an issuer configured by its URL alone reads
//! `/.well-known/openid-configuration` (its JWKS, token, introspection, authorization and
//! logout endpoints), kept per isolate for its `Cache-Control` (clamped like a key set's),
//! fetched once at a time, with the last copy standing in when a refetch fails.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;

use super::jwks::max_age;
use super::shared::{self, Fetched};
use crate::platform::fetch;

/// Deadline for the provider's whole answer.
const FETCH_TIMEOUT_MS: u64 = 5_000;

/// What an issuer's metadata says (OpenID Connect Discovery 1.0 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub token_endpoint: Option<String>,
    pub introspection_endpoint: Option<String>,
    pub authorization_endpoint: Option<String>,
    pub end_session_endpoint: Option<String>,
}

/// Where an issuer's metadata is, and how long a copy may be kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    /// `{issuer}/.well-known/openid-configuration`.
    pub url: String,
    pub issuer: String,
    pub min_ttl_s: u64,
    pub max_ttl_s: u64,
}

impl Discovery {
    /// For the issuer identifier `issuer` (an `https` or `http` URL).
    pub fn for_issuer(issuer: &str, (min_ttl_s, max_ttl_s): (u64, u64)) -> Self {
        Self {
            url: format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            ),
            issuer: issuer.to_string(),
            min_ttl_s,
            max_ttl_s,
        }
    }
}

thread_local! {
    static METADATA: RefCell<Fetched<Rc<Metadata>>> = RefCell::new(Fetched::default());
}

/// The issuer's metadata.
pub async fn metadata(discovery: &Discovery, now_ms: f64) -> Result<Rc<Metadata>, String> {
    shared::get(
        &METADATA,
        &discovery.url,
        now_ms,
        FETCH_TIMEOUT_MS,
        || async {
            let answer = fetch::get_text_within(&discovery.url, FETCH_TIMEOUT_MS)
                .await
                .ok_or_else(|| format!("discovery: no answer within {FETCH_TIMEOUT_MS} ms"))??;
            if answer.status != 200 {
                return Err(format!("discovery answered {}", answer.status));
            }
            let metadata = parse_metadata(&answer.text, &discovery.issuer)?;
            let ttl = max_age(&answer.cache_control)
                .unwrap_or(0)
                .clamp(discovery.min_ttl_s, discovery.max_ttl_s);
            Ok((Rc::new(metadata), ttl as f64 * 1000.0))
        },
    )
    .await
}

/// Reads a metadata document; its `issuer` must be the one configured (Discovery §4.3), so a
/// provider cannot speak for another.
pub fn parse_metadata(text: &str, expected_issuer: &str) -> Result<Metadata, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("discovery: not JSON: {e}"))?;
    let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_string);
    let issuer = field("issuer").ok_or("discovery: no 'issuer'")?;
    if issuer.trim_end_matches('/') != expected_issuer.trim_end_matches('/') {
        return Err(format!(
            "discovery: the document is for '{issuer}', not '{expected_issuer}'"
        ));
    }
    let url =
        |name: &str| field(name).filter(|u| u.starts_with("https://") || u.starts_with("http://"));
    Ok(Metadata {
        issuer,
        jwks_uri: url("jwks_uri"),
        token_endpoint: url("token_endpoint"),
        introspection_endpoint: url("introspection_endpoint"),
        authorization_endpoint: url("authorization_endpoint"),
        end_session_endpoint: url("end_session_endpoint"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_must_name_the_configured_issuer() {
        let text = r#"{"issuer":"https://idp.test","jwks_uri":"https://idp.test/jwks",
            "introspection_endpoint":"https://idp.test/introspect","token_endpoint":"ftp://x"}"#;
        let metadata = parse_metadata(text, "https://idp.test/").unwrap();
        assert_eq!(metadata.jwks_uri.as_deref(), Some("https://idp.test/jwks"));
        assert_eq!(
            metadata.token_endpoint, None,
            "only http(s) endpoints are used"
        );
        assert!(parse_metadata(text, "https://other.test").is_err());
        assert!(parse_metadata("[]", "https://idp.test").is_err());
        let discovery = Discovery::for_issuer("https://idp.test/", (60, 600));
        assert_eq!(
            discovery.url,
            "https://idp.test/.well-known/openid-configuration"
        );
    }
}
