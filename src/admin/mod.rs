//! Operator endpoints under `ADMIN_PREFIX` (default `/__gateway`).
//!
//! Disabled unless the secret `ADMIN_TOKEN` or `ADMIN_TOKENS` is set (`wrangler secret put
//! ADMIN_TOKEN`); while disabled the prefix behaves like any unrouted path (404). Requests must
//! carry `Authorization: Bearer <token>` of an operator (compared in constant time) whose
//! scopes allow them (see [`crate::changes::operators`]); every write is in the audit trail.
//!
//! - `GET  {prefix}/health` — liveness and the configuration version being served.
//! - `GET  {prefix}/rate-limits/{policy}?key=K` — a key's current allowance, without using it.
//! - `DELETE {prefix}/rate-limits/{policy}?key=K` — forget a key's usage.
//! - `POST {prefix}/cache/purge` — purge cached responses everywhere, by route, tag or URL:
//!   `{"routes": [...], "tags": [...], "urls": [...], "everything": false}`.
//! - `GET {prefix}/metrics?minutes=60` — per-minute and per-route metrics (see [`crate::metrics`]).
//! - `GET {prefix}/dashboard` — a page drawing those metrics; the page itself holds no data and
//!   sends the token it is given (form or `#token=` fragment) with each call.
//! - `GET {prefix}/openapi.json` — the OpenAPI 3.1 description of the routes.
//! - `GET {prefix}/upstreams` — the active health checks' view of every checked upstream.
//! - `GET {prefix}/config`, `PUT {prefix}/config`, `GET {prefix}/config/versions[/{version}]`,
//!   `POST {prefix}/config/rollback`, `{prefix}/config/candidate[/promote|/abort]` — see
//!   [`config`].
//! - `GET {prefix}/audit`, `{prefix}/revocations` — see [`access`].
//!
//! Health and the configuration endpoints answer even before any valid document was loaded, so
//! a new deployment can be given its first document through this API.

mod access;
mod actor;
mod cache;
mod config;

use std::rc::Rc;

use serde_json::{json, Value};
use worker::{Env, Request, Response, Url};

use crate::bindings;
use crate::cache::{purge, zone};
use crate::changes::operators::{self, Operator, Scope};
use crate::config::Gateway;
use crate::error::GatewayError;
use crate::http::header;
use crate::metrics::{recorder, RETAIN_MINUTES};
use crate::platform;
use crate::rate_limit::client;
use crate::resilience::health;
pub use actor::Actor;

/// The part of `path` below `prefix`, if `path` is an admin path.
pub fn below<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    match path.strip_prefix(prefix)? {
        "" => Some(""),
        rest if rest.starts_with('/') => Some(&rest[1..]),
        _ => None,
    }
}

const DASHBOARD: &str = include_str!("dashboard.html");

fn dashboard() -> Result<Response, GatewayError> {
    let internal = |e: worker::Error| GatewayError::Internal {
        cause: format!("dashboard: {e}"),
    };
    let mut response = Response::from_html(DASHBOARD).map_err(internal)?;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'",
        ),
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
    ] {
        headers.set(name, value).map_err(internal)?;
    }
    Ok(response)
}

/// The operators of this deployment, from `ADMIN_TOKEN` and `ADMIN_TOKENS`; none means the
/// admin API is disabled.
fn operators(env: &Env) -> Result<Vec<Operator>, GatewayError> {
    let secret = |name: &str| env.secret(name).ok().map(|s| s.to_string());
    operators::parse(
        secret(bindings::ADMIN_TOKEN).as_deref(),
        secret(bindings::ADMIN_TOKENS).as_deref(),
    )
    .map_err(|cause| GatewayError::Internal { cause })
}

/// Whether the request carries the `METRICS_SCRAPE_TOKEN` secret.
fn scraper(env: &Env, headers: &[(String, String)]) -> bool {
    let Some(token) = env
        .secret(bindings::METRICS_SCRAPE_TOKEN)
        .ok()
        .map(|s| s.to_string())
        .filter(|t| !t.is_empty())
    else {
        return false;
    };
    let presented = header(headers, "authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    operators::constant_time_eq(presented.trim().as_bytes(), token.as_bytes())
}

/// The metrics store's running totals as Prometheus text.
async fn prometheus(env: &Env) -> Result<Response, GatewayError> {
    let text = recorder::prometheus(env)
        .await
        .map_err(|cause| GatewayError::Internal {
            cause: format!("metrics: {cause}"),
        })?;
    let internal = |e: worker::Error| GatewayError::Internal {
        cause: e.to_string(),
    };
    let mut response = Response::ok(text).map_err(internal)?;
    let headers = response.headers_mut();
    headers
        .set("content-type", crate::metrics::prometheus::CONTENT_TYPE)
        .map_err(internal)?;
    headers.set("cache-control", "no-store").map_err(internal)?;
    Ok(response)
}

fn authorize(
    operators: &[Operator],
    headers: &[(String, String)],
) -> Result<Operator, GatewayError> {
    let presented = header(headers, "authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    operators::identify(operators, presented.trim())
        .cloned()
        .ok_or(GatewayError::AdminUnauthorized)
}

/// The scope a request below the prefix needs.
pub fn scope_for(method: &str, segments: &[&str]) -> Scope {
    match (method, segments) {
        ("GET" | "HEAD", _) => Scope::Read,
        (_, ["cache", ..]) => Scope::Cache,
        (_, ["rate-limits", ..]) => Scope::RateLimits,
        (_, ["revocations", ..]) => Scope::Revoke,
        _ => Scope::Config,
    }
}

/// Answers one admin request. `rest` is the path below the prefix.
pub async fn handle(
    env: &Env,
    gateway: Result<Rc<Gateway>, GatewayError>,
    req: &mut Request,
    method: &str,
    rest: &str,
    url: &Url,
    headers: &[(String, String)],
) -> Result<Response, GatewayError> {
    // The dashboard page holds no data: it asks for the token and sends it with each call.
    // The scrape token reads the Prometheus endpoint and nothing else.
    if method == "GET" && rest == "metrics/prometheus" && scraper(env, headers) {
        return prometheus(env).await;
    }
    let operators = operators(env)?;
    if operators.is_empty() {
        return Err(GatewayError::RouteNotFound);
    }
    if method == "GET" && rest == "dashboard" {
        return dashboard();
    }
    let operator = authorize(&operators, headers)?;
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let scope = scope_for(method, &segments);
    if !operator.may(scope) {
        return Err(GatewayError::AdminForbidden {
            operator: operator.name,
            scope: scope.as_str(),
        });
    }
    let actor = Actor {
        operator,
        address: header(headers, "cf-connecting-ip").map(str::to_string),
    };
    let internal = |e: worker::Error| GatewayError::Internal {
        cause: e.to_string(),
    };
    if let ["config", more @ ..] = segments.as_slice() {
        return config::handle(env, &gateway, req, method, more, url, &actor, headers).await;
    }
    if let [first @ ("audit" | "revocations"), more @ ..] = segments.as_slice() {
        return access::handle(env, req, method, first, more, url, &actor).await;
    }
    match (method, segments.as_slice()) {
        ("GET", ["health"]) => Response::from_json(&json!({
            "status": if gateway.is_ok() { "ok" } else { "no-config" },
            "config_version": gateway.as_ref().ok().map(|g| g.version.clone()),
            "routes": gateway.as_ref().map(|g| g.routes.routes().len()).unwrap_or(0),
            "isolate": { "wasm_memory_bytes": platform::wasm_memory_bytes() },
        }))
        .map_err(internal),
        ("GET", ["openapi.json"]) => crate::openapi::respond(&*gateway?),
        ("GET", ["metrics", "prometheus"]) => prometheus(env).await,
        ("GET", ["upstreams"]) => {
            let state = platform::object::call(
                env,
                bindings::HEALTH_CHECKER,
                health::CHECKER_NAME,
                "GET",
                "/state",
                None,
                Some(5_000),
            )
            .await
            .map_err(|cause| GatewayError::Internal {
                cause: format!("health checker: {cause}"),
            })?;
            let mut response = Response::ok(state).map_err(internal)?;
            response
                .headers_mut()
                .set("content-type", "application/json")
                .map_err(internal)?;
            Ok(response)
        }
        ("GET", ["metrics"]) => {
            let minutes = url
                .query_pairs()
                .find(|(name, _)| name == "minutes")
                .map(|(_, v)| {
                    v.parse::<u64>()
                        .ok()
                        .filter(|m| (1..=RETAIN_MINUTES).contains(m))
                })
                .unwrap_or(Some(60))
                .ok_or_else(|| GatewayError::AdminInvalid {
                    reason: format!("'minutes' must be a whole number from 1 to {RETAIN_MINUTES}."),
                })?;
            let summary = recorder::query(env, minutes, platform::now_ms())
                .await
                .map_err(|cause| GatewayError::Internal {
                    cause: format!("metrics: {cause}"),
                })?;
            Response::from_json(&summary).map_err(internal)
        }
        (method, ["rate-limits", policy]) => {
            let gateway = gateway?;
            let policy = gateway.rate_limits.policies.get(*policy).ok_or_else(|| {
                GatewayError::AdminInvalid {
                    reason: format!("No rate-limit policy named '{policy}'."),
                }
            })?;
            let key = url
                .query_pairs()
                .find(|(name, _)| name == "key")
                .map(|(_, value)| value.into_owned())
                .ok_or_else(|| GatewayError::AdminInvalid {
                    reason: "The query parameter 'key' is required (e.g. key=ip=203.0.113.5)."
                        .into(),
                })?;
            let unavailable = |cause: String| GatewayError::RateLimitUnavailable {
                policy: policy.name.clone(),
                cause,
            };
            match method {
                "GET" => {
                    let snapshot = client::peek(env, policy, &key).await.map_err(unavailable)?;
                    Response::from_json(&json!({
                        "policy": policy.name, "key": key,
                        "limit": snapshot.decision.limit,
                        "remaining": snapshot.decision.remaining,
                        "reset_seconds": snapshot.decision.reset_ms.div_ceil(1000),
                        "window_seconds": snapshot.decision.window_s,
                        "state": snapshot.state,
                    }))
                    .map_err(internal)
                }
                "DELETE" => {
                    client::reset(env, policy, &key)
                        .await
                        .map_err(unavailable)?;
                    actor
                        .record(
                            env,
                            "rate_limits.reset",
                            json!({"policy": policy.name, "key": key}),
                        )
                        .await;
                    Response::from_json(&json!({"policy": policy.name, "key": key, "reset": true}))
                        .map_err(internal)
                }
                _ => Err(GatewayError::MethodNotAllowed {
                    allow: vec!["GET".into(), "DELETE".into()],
                }),
            }
        }
        ("POST", ["panic"]) if crate::deployment::get(env).panic_probe => {
            panic!("the panic probe was asked to panic")
        }
        ("POST", ["cache", "purge"]) => {
            let body = req.text().await.map_err(internal)?;
            let targets = cache::purge_targets(&*gateway?, &body, url)?;
            let at = platform::now_ms();
            purge::publish(env, &targets, at)
                .await
                .map_err(|cause| GatewayError::Internal {
                    cause: format!("cache purge: {cause}"),
                })?;
            // The markers are the guarantee; the zone's API makes the edge forget sooner.
            let zone = match zone::purge(env, &targets).await {
                zone::Outcome::NotConfigured => Value::Null,
                zone::Outcome::Purged { requests } => json!({"purged": true, "requests": requests}),
                zone::Outcome::Failed(error) => json!({"purged": false, "error": error}),
            };
            let answer = json!({"purged": targets.len(), "at_ms": at as u64, "zone": zone});
            actor
                .record(
                    env,
                    "cache.purge",
                    json!({"request": serde_json::from_str::<Value>(&body).ok(), "answer": answer}),
                )
                .await;
            Response::from_json(&answer).map_err(internal)
        }
        (_, ["cache", "purge"]) => Err(GatewayError::MethodNotAllowed {
            allow: vec!["POST".into()],
        }),
        _ => Err(GatewayError::RouteNotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_below_the_prefix() {
        assert_eq!(below("/__gateway/health", "/__gateway"), Some("health"));
        assert_eq!(below("/__gateway", "/__gateway"), Some(""));
        assert_eq!(below("/__gatewayx/health", "/__gateway"), None);
        assert_eq!(below("/api", "/__gateway"), None);
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(operators::constant_time_eq(b"secret", b"secret"));
        assert!(!operators::constant_time_eq(b"secret", b"secreT"));
        assert!(!operators::constant_time_eq(b"secret", b"secret2"));
        assert!(!operators::constant_time_eq(b"", b"x"));
    }

    #[test]
    fn reads_need_read_and_writes_their_own_scope() {
        assert_eq!(scope_for("GET", &["config"]), Scope::Read);
        assert_eq!(scope_for("GET", &["audit"]), Scope::Read);
        assert_eq!(scope_for("PUT", &["config"]), Scope::Config);
        assert_eq!(scope_for("POST", &["config", "rollback"]), Scope::Config);
        assert_eq!(scope_for("POST", &["cache", "purge"]), Scope::Cache);
        assert_eq!(
            scope_for("DELETE", &["rate-limits", "p"]),
            Scope::RateLimits
        );
        assert_eq!(scope_for("POST", &["revocations"]), Scope::Revoke);
        assert_eq!(scope_for("POST", &["anything-else"]), Scope::Config);
    }
}
