//! The resilience side of the document: `services` (upstreams, timeouts, retries, circuit
//! breakers, stickiness) and the `fallback` answers of routes and backends.

use crate::auth::client_credentials::ClientCredentials;
use std::collections::BTreeMap;

use serde_json::Value;

use super::breaker::BreakerSettings;
use super::fallback::Fallback;
use super::health::parse_health_check;
use super::limiter::parse_global_concurrency;
use super::retry::RetrySettings;
use super::service::{Service, Sticky, DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS};
use crate::http::{is_token, is_valid_value};
use crate::reader::{named, statuses, string, string_map, Errors, Object};
use crate::upstream::config::parse_upstreams;

/// Reads `services`: service name → service.
pub fn parse_services(value: &Value, path: &str, errors: &mut Errors) -> BTreeMap<String, Service> {
    named(
        value,
        path,
        "service names to services",
        errors,
        parse_service,
    )
}

fn parse_service(name: &str, value: &Value, path: &str, errors: &mut Errors) -> Option<Service> {
    let mut object = Object::read(value, path, errors)?;
    let upstreams = object
        .required("upstreams", errors)
        .and_then(|(value, path)| parse_upstreams(value, &path, errors));
    let timeout_ms = object.integer_or(
        "timeout_ms",
        (1, MAX_TIMEOUT_MS),
        DEFAULT_TIMEOUT_MS,
        errors,
    );
    let retry = object.or("retry", RetrySettings::default(), errors, parse_retry);
    let breaker = object.maybe("circuit_breaker", errors, parse_breaker);
    let sticky = object.maybe("sticky", errors, parse_sticky);
    let max_concurrent = object.maybe_integer("max_concurrent", (1, 10_000), errors);
    let health_check = object.maybe("health_check", errors, parse_health_check);
    let global_concurrency = object.maybe("global_concurrency", errors, parse_global_concurrency);
    let client_credentials = object.maybe("client_credentials", errors, parse_client_credentials);
    object.finish(errors);
    Some(Service {
        name: name.to_string(),
        upstreams: upstreams?,
        timeout_ms: timeout_ms?,
        retry: retry?,
        breaker: breaker?,
        sticky: sticky?,
        max_concurrent: max_concurrent?.map(|n| n as u32),
        health_check: health_check?,
        global_concurrency: global_concurrency?,
        client_credentials: client_credentials?,
    })
}

/// `client_credentials`: `{token_url, client_id, client_secret_var, scope?, resource?}`.
fn parse_client_credentials(
    value: &Value,
    path: &str,
    errors: &mut Errors,
) -> Option<ClientCredentials> {
    let mut object = Object::read(value, path, errors)?;
    let token_url = object.required("token_url", errors).and_then(|(v, p)| {
        let url = crate::reader::string(v, &p, errors)?;
        match crate::upstream::config::parse_upstream_url(url) {
            Ok(_) => Some(url.to_string()),
            Err(message) => {
                errors.push(&p, message);
                None
            }
        }
    });
    let client_id = object
        .required("client_id", errors)
        .and_then(|(v, p)| crate::reader::string(v, &p, errors).map(str::to_string));
    let client_secret_var = object
        .required("client_secret_var", errors)
        .and_then(|(v, p)| crate::reader::secret_name(v, &p, errors));
    let scope = object.maybe_string("scope", errors);
    let resource = object.maybe_string("resource", errors);
    object.finish(errors);
    Some(ClientCredentials {
        token_url: token_url?,
        client_id: client_id?,
        client_secret_var: client_secret_var?,
        scope: scope?,
        resource: resource?,
    })
}

/// Reads a service's `retry`.
fn parse_retry(value: &Value, path: &str, errors: &mut Errors) -> Option<RetrySettings> {
    let mut object = Object::read(value, path, errors)?;
    let defaults = RetrySettings::default();
    let attempts = object.integer_or("attempts", (1, 5), 1, errors);
    let backoff_ms = object.integer_or("backoff_ms", (0, 10_000), defaults.backoff_ms, errors);
    let max_backoff_ms = object.integer_or(
        "max_backoff_ms",
        (0, 60_000),
        defaults.max_backoff_ms,
        errors,
    );
    let budget_percent = object.integer_or(
        "budget_percent",
        (0, 100),
        u64::from(defaults.budget_percent),
        errors,
    );
    let statuses = object.or("statuses", defaults.statuses, errors, |v, p, errors| {
        statuses(v, p, (500, 599), errors)
    });
    object.finish(errors);
    Some(RetrySettings {
        attempts: attempts? as u32,
        backoff_ms: backoff_ms?,
        max_backoff_ms: max_backoff_ms?,
        statuses: statuses?,
        budget_percent: budget_percent? as u32,
    })
}

/// Reads a service's `circuit_breaker`.
fn parse_breaker(value: &Value, path: &str, errors: &mut Errors) -> Option<BreakerSettings> {
    let mut object = Object::read(value, path, errors)?;
    let failure_threshold = object.integer_or("failure_threshold", (1, 1000), 5, errors);
    let open_seconds = object.integer_or("open_seconds", (1, 3600), 30, errors);
    object.finish(errors);
    Some(BreakerSettings {
        failure_threshold: failure_threshold? as u32,
        open_ms: open_seconds? * 1000,
    })
}

/// Reads a service's `sticky`: `{"header": NAME}` or `{"cookie": NAME}`.
fn parse_sticky(value: &Value, path: &str, errors: &mut Errors) -> Option<Sticky> {
    let mut object = Object::read(value, path, errors)?;
    let header = object.optional("header");
    let cookie = object.optional("cookie");
    object.finish(errors);
    let token = |v: &Value, p: &str, errors: &mut Errors| {
        let name = string(v, p, errors)?;
        if is_token(name) {
            Some(name.to_string())
        } else {
            errors.push(p, format!("'{name}' is not a valid name"));
            None
        }
    };
    match (header, cookie) {
        (Some((v, p)), None) => {
            token(v, &p, errors).map(|n| Sticky::Header(n.to_ascii_lowercase()))
        }
        (None, Some((v, p))) => token(v, &p, errors).map(Sticky::Cookie),
        _ => {
            errors.push(path, "name exactly one of 'header' and 'cookie'");
            None
        }
    }
}

/// Reads a `fallback`: `{"status": 200, "headers": {...}, "body": JSON}`.
pub fn parse_fallback(value: &Value, path: &str, errors: &mut Errors) -> Option<Fallback> {
    let mut object = Object::read(value, path, errors)?;
    let status = object
        .integer_or("status", (200, 599), 200, errors)
        .map(|s| s as u16);
    let headers = object.or("headers", Vec::new(), errors, |v, p, errors| {
        string_map(
            v,
            p,
            "header names to values",
            |name, value| {
                if is_token(name) && is_valid_value(value) {
                    Ok((name.to_ascii_lowercase(), value.to_string()))
                } else {
                    Err("must be a valid header name with a valid value".into())
                }
            },
            errors,
        )
    });
    let body = object
        .optional("body")
        .map(|(v, _)| v.clone())
        .unwrap_or(Value::Null);
    object.finish(errors);
    Some(Fallback {
        status: status?,
        headers: headers?,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(errors: Errors) -> String {
        errors
            .into_vec()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn services_compile_with_their_defaults() {
        let mut errors = Errors::default();
        let services = parse_services(
            &json!({
                "plain": {"upstreams": ["http://127.0.0.1:9101/base/"]},
                "s": {
                    "upstreams": ["http://127.0.0.1:1", {"url": "http://127.0.0.1:2/v2", "weight": 9}],
                    "timeout_ms": 2000,
                    "retry": {"attempts": 2, "backoff_ms": 10, "statuses": [503]},
                    "circuit_breaker": {"failure_threshold": 3, "open_seconds": 5},
                    "sticky": {"cookie": "sid"}
                }
            }),
            "$.services",
            &mut errors,
        );
        assert!(errors.is_empty(), "{}", messages(errors));
        let plain = &services["plain"];
        assert_eq!(plain.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(plain.retry, RetrySettings::default());
        assert_eq!((plain.breaker, plain.sticky.clone()), (None, None));
        assert_eq!(plain.upstreams[0].base_path, "/base");
        let service = &services["s"];
        assert_eq!(service.timeout_ms, 2000);
        assert_eq!(
            (service.retry.attempts, service.retry.statuses.clone()),
            (2, vec![503])
        );
        assert_eq!(
            service.breaker.map(|b| (b.failure_threshold, b.open_ms)),
            Some((3, 5000))
        );
        assert_eq!(service.sticky, Some(Sticky::Cookie("sid".into())));
    }

    #[test]
    fn mistakes_are_reported_with_their_paths() {
        let mut errors = Errors::default();
        parse_services(
            &json!({
                "s": {"upstreams": [{"url": "http://127.0.0.1:1", "weight": 0}], "retry": {"attempts": 9, "statuses": [404]},
                      "circuit_breaker": {"failure_threshold": 0}, "sticky": {"header": "a", "cookie": "b"},
                      "timeout_ms": 0, "retries": 3},
                "Bad Name": {"upstreams": []}
            }),
            "$.services",
            &mut errors,
        );
        let fallback = parse_fallback(&json!({"status": 99, "bodyy": 1}), "$.f", &mut errors);
        assert!(fallback.is_none());
        let found = messages(errors);
        for expected in [
            "$.services.s.upstreams: at least one upstream needs a weight above 0",
            "$.services.s.retry.attempts: 9 is out of range",
            "$.services.s.retry.statuses[0]: 404 is out of range",
            "$.services.s.circuit_breaker.failure_threshold: 0 is out of range",
            "$.services.s.sticky: name exactly one of 'header' and 'cookie'",
            "$.services.s.timeout_ms: 0 is out of range",
            "$.services.s.retries: unknown key",
            "$.services[\"Bad Name\"]: names must be",
            "$.services[\"Bad Name\"].upstreams: must list between 1 and 32 URLs",
            "$.f.status: 99 is out of range",
            "$.f.bodyy: unknown key",
        ] {
            assert!(found.contains(expected), "{expected} in\n{found}");
        }
    }

    #[test]
    fn fallbacks_lower_case_their_headers() {
        let mut errors = Errors::default();
        let fallback = parse_fallback(
            &json!({"status": 503, "headers": {"Retry-After": "5"}, "body": {"items": []}}),
            "$.f",
            &mut errors,
        )
        .expect("valid");
        assert_eq!(
            (fallback.status, fallback.headers),
            (503, vec![("retry-after".into(), "5".into())])
        );
        assert_eq!(fallback.body, json!({"items": []}));
    }
}
