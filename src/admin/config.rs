//! The configuration endpoints of the admin API.
//!
//! - `GET config` — the current document, its version and history pointer, and the version this
//!   isolate serves.
//! - `PUT config` — validates a document and makes it current; every problem is answered at once
//!   as 422 `config-invalid` and nothing changes.
//! - `GET config/versions` — the stored versions, newest first, the current one marked.
//! - `GET config/versions/{version}` — one stored document.
//! - `POST config/rollback` — `{"version": "…"}`, or no body for the version the current
//!   document replaced; the stored document is validated again before it becomes current.
//!
//! A change takes effect in this isolate at once and in the others at their next KV check
//! (`CONFIG_REFRESH_SECONDS`), exactly like a push with wrangler.

use std::rc::Rc;

use serde_json::{json, Value};
use worker::{Env, Request, Response, Url};

use crate::config::loader;
use crate::config::versions::{self, version_of};
use crate::config::{compile, Gateway};
use crate::error::GatewayError;
use crate::platform;

fn internal(cause: impl std::fmt::Display) -> GatewayError {
    GatewayError::Internal {
        cause: format!("config admin: {cause}"),
    }
}

/// Answers a request below `{prefix}/config`; `segments` are the path segments after `config`.
pub async fn handle(
    env: &Env,
    serving: &Result<Rc<Gateway>, GatewayError>,
    req: &mut Request,
    method: &str,
    segments: &[&str],
    url: &Url,
) -> Result<Response, GatewayError> {
    let key = crate::deployment::get(env).config.key.clone();
    let serving = serving.as_ref().ok().map(|g| g.version.as_str());
    match (method, segments) {
        ("GET", []) => {
            let (text, pointer) = versions::current(env, &key)
                .await
                .map_err(internal)?
                .ok_or_else(|| GatewayError::ConfigNotFound { key: key.clone() })?;
            let document =
                serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text.clone()));
            Response::from_json(&json!({
                "version": version_of(&text),
                "serving": serving,
                "pointer": pointer,
                "document": document,
            }))
            .map_err(internal)
        }
        ("PUT", []) => {
            let text = req.text().await.map_err(internal)?;
            let outcome = make_current(env, &key, &text, "push").await?;
            Response::from_json(&outcome).map_err(internal)
        }
        ("GET", ["versions"]) => {
            let current = versions::current(env, &key)
                .await
                .map_err(internal)?
                .map(|(text, _)| version_of(&text));
            let list = versions::list(env, &key).await.map_err(internal)?;
            let entries: Vec<Value> = list
                .iter()
                .map(|record| {
                    json!({
                        "version": record.version,
                        "pushed_at_ms": record.pushed_at_ms as u64,
                        "routes": record.routes,
                        "bytes": record.bytes,
                        "current": current.as_deref() == Some(record.version.as_str()),
                    })
                })
                .collect();
            Response::from_json(
                &json!({"current": current, "serving": serving, "versions": entries}),
            )
            .map_err(internal)
        }
        ("GET", ["versions", version]) => {
            let text = stored(env, &key, version).await?;
            let mut response = Response::ok(text).map_err(internal)?;
            response
                .headers_mut()
                .set("content-type", "application/json")
                .map_err(internal)?;
            Ok(response)
        }
        ("POST", ["rollback"]) => {
            let body = req.text().await.map_err(internal)?;
            let asked = rollback_request(&body, url)?;
            let (current_text, pointer) = versions::current(env, &key)
                .await
                .map_err(internal)?
                .ok_or_else(|| GatewayError::ConfigNotFound { key: key.clone() })?;
            let target = versions::rollback_target(
                asked.as_deref(),
                pointer.as_ref(),
                &version_of(&current_text),
            )
            .map_err(|reason| GatewayError::AdminInvalid { reason })?;
            let text = stored(env, &key, &target).await?;
            let outcome = make_current(env, &key, &text, "rollback").await?;
            Response::from_json(&outcome).map_err(internal)
        }
        (_, []) => Err(GatewayError::MethodNotAllowed {
            allow: vec!["GET".into(), "PUT".into()],
        }),
        (_, ["versions"] | ["versions", _]) => Err(GatewayError::MethodNotAllowed {
            allow: vec!["GET".into()],
        }),
        (_, ["rollback"]) => Err(GatewayError::MethodNotAllowed {
            allow: vec!["POST".into()],
        }),
        _ => Err(GatewayError::RouteNotFound),
    }
}

/// Validates `text` and, only if it is valid, stores it as a version, moves the pointer and
/// serves it in this isolate.
async fn make_current(
    env: &Env,
    key: &str,
    text: &str,
    action: &str,
) -> Result<Value, GatewayError> {
    let gateway = compile(text).map_err(|errors| GatewayError::ConfigRejected { errors })?;
    let routes = gateway.routes.routes().len();
    let pointer = versions::make_current(env, key, text, routes, action, platform::now_ms())
        .await
        .map_err(internal)?;
    loader::install(gateway, key);
    Ok(json!({
        "version": pointer.version,
        "previous": pointer.previous,
        "action": pointer.action,
        "routes": routes,
    }))
}

async fn stored(env: &Env, key: &str, version: &str) -> Result<String, GatewayError> {
    if !versions::is_version(version) {
        return Err(GatewayError::VersionNotFound {
            version: version.to_string(),
        });
    }
    versions::read(env, key, version)
        .await
        .map_err(internal)?
        .ok_or_else(|| GatewayError::VersionNotFound {
            version: version.to_string(),
        })
}

/// The version a rollback names: `{"version": "…"}` in the body or `?version=` in the URL;
/// neither means "the previous one".
fn rollback_request(body: &str, url: &Url) -> Result<Option<String>, GatewayError> {
    if let Some((_, v)) = url.query_pairs().find(|(name, _)| name == "version") {
        return Ok(Some(v.into_owned()));
    }
    if body.trim().is_empty() {
        return Ok(None);
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rollback {
        version: Option<String>,
    }
    serde_json::from_str::<Rollback>(body)
        .map(|r| r.version)
        .map_err(|e| GatewayError::AdminInvalid {
            reason: format!("The body must be JSON like {{\"version\": \"…\"}} or empty: {e}."),
        })
}
