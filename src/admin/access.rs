//! The audit trail and revocations.
//!
//! - `GET audit?limit=100` — the newest writes through the admin API, newest first: `id`,
//!   `at_ms`, `operator`, `address`, `action`, `detail`.
//! - `GET revocations` — the revocations in force and the list's `version`.
//! - `POST revocations` with `{"kind": "consumer"|"jti"|"subject", "value": "…",
//!   "expires_in_seconds": 3600, "reason": "…"}` — refused everywhere within seconds
//!   ([`crate::changes::revocation`]).
//! - `DELETE revocations?kind=…&value=…` — lifts one.

use serde::Deserialize;
use serde_json::json;
use worker::{Env, Request, Response, Url};

use super::actor::Actor;
use crate::changes::client;
use crate::changes::revocation::{Kind, Revocation};
use crate::error::GatewayError;
use crate::platform;

/// Longest a revocation may be set to expire in (it can also be forever).
const MAX_EXPIRY_SECONDS: u64 = 400 * 86_400;

fn unavailable(cause: String) -> GatewayError {
    GatewayError::Internal {
        cause: format!("admin: {cause}"),
    }
}

fn invalid(reason: impl Into<String>) -> GatewayError {
    GatewayError::AdminInvalid {
        reason: reason.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Asked {
    kind: String,
    value: String,
    expires_in_seconds: Option<u64>,
    reason: Option<String>,
}

/// Reads what a revocation names, refusing anything that could not match a credential.
fn revocation(asked: Asked, actor: &Actor, now_ms: f64) -> Result<Revocation, GatewayError> {
    let kind = Kind::parse(&asked.kind).ok_or_else(|| {
        invalid(format!(
            "'kind' must be consumer, jti or subject, not '{}'.",
            asked.kind
        ))
    })?;
    if asked.value.is_empty()
        || asked.value.len() > 512
        || asked.value.chars().any(char::is_control)
    {
        return Err(invalid(
            "'value' must be 1-512 characters without control characters.",
        ));
    }
    if let Some(seconds) = asked.expires_in_seconds {
        if seconds == 0 || seconds > MAX_EXPIRY_SECONDS {
            return Err(invalid(format!(
                "'expires_in_seconds' must be from 1 to {MAX_EXPIRY_SECONDS} (or absent: forever)."
            )));
        }
    }
    Ok(Revocation {
        kind,
        value: asked.value,
        at_ms: now_ms,
        until_ms: asked.expires_in_seconds.map(|s| now_ms + s as f64 * 1000.0),
        operator: actor.operator.name.clone(),
        reason: asked.reason.filter(|r| !r.is_empty()),
    })
}

pub async fn handle(
    env: &Env,
    req: &mut Request,
    method: &str,
    first: &str,
    more: &[&str],
    url: &Url,
    actor: &Actor,
) -> Result<Response, GatewayError> {
    let internal = |e: worker::Error| unavailable(e.to_string());
    let query = |name: &str| {
        url.query_pairs()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
    };
    match (first, method, more) {
        ("audit", "GET", []) => {
            let limit = match query("limit") {
                None => 100,
                Some(text) => text
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| invalid("'limit' must be a whole number from 1 to 1000."))?,
            };
            let entries = client::audit_entries(env, limit)
                .await
                .map_err(unavailable)?;
            Response::from_json(&entries).map_err(internal)
        }
        ("audit", _, []) => Err(GatewayError::MethodNotAllowed {
            allow: vec!["GET".into()],
        }),
        ("revocations", "GET", []) => {
            let list = client::revocations(env).await.map_err(unavailable)?;
            Response::from_json(&list).map_err(internal)
        }
        ("revocations", "POST", []) => {
            let body = req.text().await.map_err(internal)?;
            let asked: Asked = serde_json::from_str(&body).map_err(|e| {
                invalid(format!(
                    "The body must be JSON like {{\"kind\": \"jti\", \"value\": \"…\"}}: {e}."
                ))
            })?;
            let now = platform::now_ms();
            let revocation = revocation(asked, actor, now)?;
            let entry = actor.entry("revoke", json!(revocation));
            let answer = client::revoke(env, &revocation, &entry)
                .await
                .map_err(unavailable)?;
            Response::from_json(&json!({"revoked": revocation, "version": answer["version"]}))
                .map_err(internal)
        }
        ("revocations", "DELETE", []) => {
            let asked = Asked {
                kind: query("kind").unwrap_or_default(),
                value: query("value").unwrap_or_default(),
                expires_in_seconds: None,
                reason: None,
            };
            let revocation = revocation(asked, actor, platform::now_ms())?;
            let entry = actor.entry(
                "restore",
                json!({"kind": revocation.kind, "value": revocation.value}),
            );
            let answer = client::restore(env, &revocation, &entry)
                .await
                .map_err(unavailable)?;
            Response::from_json(&answer).map_err(internal)
        }
        ("revocations", _, []) => Err(GatewayError::MethodNotAllowed {
            allow: vec!["GET".into(), "POST".into(), "DELETE".into()],
        }),
        _ => Err(GatewayError::RouteNotFound),
    }
}
