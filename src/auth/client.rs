//! The gateway as an OAuth2 client: a form posted to one of the provider's endpoints (token,
//! introspection) with the client's id and secret (client_secret_basic, RFC 6749 §2.3.1).

use base64::Engine;

use crate::platform::fetch::{self, TextAnswer};

/// Deadline for the endpoint's whole answer.
pub const FETCH_TIMEOUT_MS: u64 = 5_000;

/// Posts `pairs` as a form to `endpoint`, authenticated as `client_id` with the secret named
/// `secret_var`; `what` names the endpoint in errors.
pub async fn post_form(
    env: &worker::Env,
    (endpoint, what): (&str, &str),
    (client_id, secret_var): (&str, &str),
    pairs: &[(&str, &str)],
) -> Result<TextAnswer, String> {
    let secret = env
        .secret(secret_var)
        .map(|s| s.to_string())
        .map_err(|_| format!("the secret {secret_var} is not set"))?;
    let form = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        form(client_id),
        form(&secret)
    ));
    let headers = [
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("accept".to_string(), "application/json".to_string()),
        ("authorization".to_string(), format!("Basic {basic}")),
    ];
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    fetch::text_within(
        endpoint,
        "POST",
        &headers,
        Some(body.into_bytes()),
        FETCH_TIMEOUT_MS,
    )
    .await
    .ok_or_else(|| format!("{what}: no answer within {FETCH_TIMEOUT_MS} ms"))?
}
