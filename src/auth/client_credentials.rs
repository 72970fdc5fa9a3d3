//! Tokens for upstream calls: a service that requires them gets an OAuth2 client-credentials
//! access token (RFC 6749 §4.4), obtained by one request at a time, kept per isolate until 30 s
//! before it expires, and forgotten when the service refuses it.

use std::cell::RefCell;

use serde_json::Value;

use super::client::{self, FETCH_TIMEOUT_MS};
use super::shared::{self, Fetched};

/// A token is renewed this long before it expires.
const EARLY_MS: f64 = 30_000.0;

/// How a service's token is obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub token_url: String,
    pub client_id: String,
    /// Name of the secret holding the client secret.
    pub client_secret_var: String,
    /// Space-separated scopes to ask for.
    pub scope: Option<String>,
    /// The resource (RFC 8707) or audience the token is for.
    pub resource: Option<String>,
}

thread_local! {
    static TOKENS: RefCell<Fetched<String>> = RefCell::new(Fetched::default());
}

impl ClientCredentials {
    fn key(&self) -> String {
        format!(
            "{}\n{}\n{:?}\n{:?}",
            self.token_url, self.client_id, self.scope, self.resource
        )
    }

    /// The current access token; `Err` says why none can be had.
    pub async fn token(&self, env: &worker::Env, now_ms: f64) -> Result<String, String> {
        shared::get(&TOKENS, &self.key(), now_ms, FETCH_TIMEOUT_MS, || {
            self.fetch(env)
        })
        .await
    }

    /// Forgets the token (the service refused it): the next call asks for a new one.
    pub fn refused(&self) {
        shared::forget(&TOKENS, &self.key());
    }

    async fn fetch(&self, env: &worker::Env) -> Result<(String, f64), String> {
        let mut pairs = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &self.scope {
            pairs.push(("scope", scope));
        }
        if let Some(resource) = &self.resource {
            pairs.push(("resource", resource));
        }
        let endpoint = (self.token_url.as_str(), "token endpoint");
        let client = (self.client_id.as_str(), self.client_secret_var.as_str());
        let answer = client::post_form(env, endpoint, client, &pairs).await?;
        if answer.status != 200 {
            return Err(format!("token endpoint answered {}", answer.status));
        }
        read_token(&answer.text)
    }
}

/// The access token of a token response and how long it may be used (ms).
pub fn read_token(text: &str) -> Result<(String, f64), String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("token endpoint: not JSON: {e}"))?;
    let token = value
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && crate::http::is_valid_value(t))
        .ok_or("token endpoint: no usable access_token")?;
    let expires_ms = value
        .get("expires_in")
        .and_then(Value::as_f64)
        .unwrap_or(300.0)
        * 1000.0;
    Ok((token.to_string(), (expires_ms - EARLY_MS).max(5_000.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers_are_read_and_renewed_early() {
        assert_eq!(
            read_token(r#"{"access_token":"abc","expires_in":600}"#).unwrap(),
            ("abc".into(), 570_000.0)
        );
        assert_eq!(
            read_token(r#"{"access_token":"abc","expires_in":10}"#)
                .unwrap()
                .1,
            5_000.0
        );
        assert!(read_token(r#"{"error":"invalid_client"}"#).is_err());
        assert!(read_token(r#"{"access_token":"a\nb"}"#).is_err());
    }
}
