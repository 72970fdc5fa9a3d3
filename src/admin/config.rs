//! The configuration endpoints of the admin API.
//!
//! - `GET config` — the current document, its version (also as `ETag`), its pointer (with any
//!   candidate), and the version this isolate serves.
//! - `PUT config` — validates a document and makes it current; every problem is answered at once
//!   as 422 `config-invalid` and nothing changes. With `If-Match: "<version>"`, only while that
//!   version is current: else 412 `config-conflict`, nothing changed.
//! - `GET config/versions` — the stored versions, newest first, the current one marked.
//! - `GET config/versions/{version}` — one stored document.
//! - `POST config/rollback` — `{"version": "…"}`, or no body for the version the current
//!   document replaced; the stored document is validated again before it becomes current.
//! - `GET config/candidate` — the candidate being rolled out, its latest checks, and the last
//!   rollout's outcome; `PUT config/candidate?percent=10` — validates a document and serves it
//!   to that share of clients, judged automatically; `POST config/candidate/promote` and
//!   `POST config/candidate/abort` decide by hand.
//!
//! Every change goes through the `ConfigControl` object, which serialises them, compares the
//! expected version, applies retention and records it in the audit trail. A change takes effect
//! in this isolate at once and in the others at their next KV check (`CONFIG_REFRESH_SECONDS`).

use std::rc::Rc;

use serde_json::{json, Value};
use worker::{Env, Request, Response, Url};

use super::actor::Actor;
use crate::changes;
use crate::changes::config::ChangeSettings;
use crate::changes::object::{Commit, Committed};
use crate::changes::rollout::Candidate;
use crate::changes::versions::{self, version_of};
use crate::config::loader;
use crate::config::{compile, Gateway};
use crate::error::GatewayError;
use crate::http::header;

fn internal(cause: impl std::fmt::Display) -> GatewayError {
    GatewayError::Internal {
        cause: format!("config admin: {cause}"),
    }
}

/// What `If-Match` asks for: a version in quotes (`W/` is not accepted: versions are strong
/// validators) or `*`; `None` when absent.
fn expected(headers: &[(String, String)]) -> Result<Option<String>, GatewayError> {
    let Some(value) = header(headers, "if-match").map(str::trim) else {
        return Ok(None);
    };
    if value == "*" {
        return Ok(Some("*".into()));
    }
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .filter(|v| versions::is_version(v))
        .map(|v| Some(v.to_string()))
        .ok_or_else(|| GatewayError::AdminInvalid {
            reason: format!(
                "If-Match must be one version in quotes (the ETag of GET config) or *, not {value}."
            ),
        })
}

/// Answers a request below `{prefix}/config`; `segments` are the path segments after `config`.
#[allow(clippy::too_many_arguments)]
pub async fn handle(
    env: &Env,
    serving: &Result<Rc<Gateway>, GatewayError>,
    req: &mut Request,
    method: &str,
    segments: &[&str],
    url: &Url,
    actor: &Actor,
    headers: &[(String, String)],
) -> Result<Response, GatewayError> {
    let key = crate::deployment::get(env).config.key.clone();
    let serving = serving.as_ref().ok().map(|g| g.version.as_str());
    let change = |action: &'static str, expected: Option<String>| Change {
        env,
        key: &key,
        action,
        expected,
        actor,
    };
    match (method, segments) {
        ("GET", []) => {
            let (text, pointer) = versions::current(env, &key)
                .await
                .map_err(internal)?
                .ok_or_else(|| GatewayError::ConfigNotFound { key: key.clone() })?;
            let document =
                serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text.clone()));
            let version = version_of(&text);
            let mut response = Response::from_json(&json!({
                "version": version,
                "serving": serving,
                "pointer": pointer,
                "document": document,
            }))
            .map_err(internal)?;
            response
                .headers_mut()
                .set("etag", &format!("\"{version}\""))
                .map_err(internal)?;
            Ok(response)
        }
        ("PUT", []) => {
            let text = req.text().await.map_err(internal)?;
            let outcome = change("push", expected(headers)?).make(&text, None).await?;
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
            let current = version_of(&current_text);
            let target = versions::rollback_target(asked.as_deref(), pointer.as_ref(), &current)
                .map_err(|reason| GatewayError::AdminInvalid { reason })?;
            let text = stored(env, &key, &target).await?;
            // A rollback is relative to what was current when it was asked for.
            let expected = expected(headers)?.unwrap_or(current);
            let outcome = change("rollback", Some(expected)).make(&text, None).await?;
            Response::from_json(&outcome).map_err(internal)
        }
        ("GET", ["candidate"]) => {
            let view = changes::client::candidate(env).await.map_err(internal)?;
            Response::from_json(&view).map_err(internal)
        }
        ("PUT", ["candidate"]) => {
            let percent = match url.query_pairs().find(|(n, _)| n == "percent") {
                None => None,
                Some((_, v)) => Some(
                    v.parse::<u64>()
                        .ok()
                        .filter(|p| (1..=99).contains(p))
                        .ok_or_else(|| GatewayError::AdminInvalid {
                            reason: "'percent' must be a whole number from 1 to 99.".into(),
                        })?,
                ),
            };
            let text = req.text().await.map_err(internal)?;
            let outcome = change("candidate", expected(headers)?)
                .make(&text, percent)
                .await?;
            Response::from_json(&outcome).map_err(internal)
        }
        ("POST", ["candidate", decision @ ("promote" | "abort")]) => {
            let view = changes::client::candidate(env).await.map_err(internal)?;
            let candidate: Option<Candidate> =
                serde_json::from_value(view["candidate"].clone()).map_err(internal)?;
            let candidate = candidate.ok_or_else(|| GatewayError::AdminInvalid {
                reason: "No candidate is being rolled out.".into(),
            })?;
            let expected = expected(headers)?.unwrap_or(candidate.against.clone());
            let outcome = match *decision {
                "promote" => {
                    let text = stored(env, &key, &candidate.version).await?;
                    change("promote", Some(expected)).make(&text, None).await?
                }
                _ => change("abort", Some(expected)).abort().await?,
            };
            Response::from_json(&outcome).map_err(internal)
        }
        (_, []) => Err(GatewayError::MethodNotAllowed {
            allow: vec!["GET".into(), "PUT".into()],
        }),
        (_, ["candidate"]) => Err(GatewayError::MethodNotAllowed {
            allow: vec!["GET".into(), "PUT".into()],
        }),
        (_, ["candidate", "promote" | "abort"]) | (_, ["rollback"]) => {
            Err(GatewayError::MethodNotAllowed {
                allow: vec!["POST".into()],
            })
        }
        (_, ["versions"] | ["versions", _]) => Err(GatewayError::MethodNotAllowed {
            allow: vec!["GET".into()],
        }),
        _ => Err(GatewayError::RouteNotFound),
    }
}

/// One change of the current document, as an operator asked for it.
struct Change<'a> {
    env: &'a Env,
    key: &'a str,
    action: &'static str,
    expected: Option<String>,
    actor: &'a Actor,
}

impl Change<'_> {
    /// Validates `text` and, only if it is valid and the expected version is still current,
    /// makes it current (or the candidate) and serves it in this isolate.
    async fn make(self, text: &str, percent: Option<u64>) -> Result<Value, GatewayError> {
        let gateway = compile(text).map_err(|errors| GatewayError::ConfigRejected { errors })?;
        let routes = gateway.routes.routes().len();
        let changes = gateway.changes;
        let pointer = self
            .commit(text.to_string(), routes, changes, percent)
            .await?;
        if self.action != "candidate" {
            loader::install(gateway, self.key);
        }
        Ok(pointer)
    }

    /// Ends the candidate: every client is served the current version again.
    async fn abort(self) -> Result<Value, GatewayError> {
        self.commit(String::new(), 0, ChangeSettings::default(), None)
            .await
    }

    async fn commit(
        &self,
        text: String,
        routes: usize,
        changes: ChangeSettings,
        percent: Option<u64>,
    ) -> Result<Value, GatewayError> {
        let commit = Commit {
            key: self.key.to_string(),
            text,
            expected: self.expected.clone(),
            action: self.action.to_string(),
            routes,
            changes,
            operator: self.actor.operator.name.clone(),
            address: self.actor.address.clone(),
            percent,
        };
        match changes::client::commit(self.env, &commit)
            .await
            .map_err(internal)?
        {
            Committed::Done { pointer, deleted } => Ok(json!({
                "version": pointer.version,
                "previous": pointer.previous,
                "action": pointer.action,
                "candidate": pointer.candidate,
                "routes": routes,
                "deleted": deleted,
            })),
            Committed::Conflict { current } => Err(GatewayError::ConfigConflict {
                expected: self.expected.clone().unwrap_or_default(),
                current,
            }),
            Committed::Refused { reason } => Err(GatewayError::AdminInvalid { reason }),
        }
    }
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
