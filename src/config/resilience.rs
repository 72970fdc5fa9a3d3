//! The resilience settings of a route document: upstream weights, retries, circuit breakers,
//! stickiness, fallbacks and version routing.

use std::collections::BTreeSet;

use serde_json::Value;

use super::model::{Fallback, Sticky, Upstream, Versions};
use super::parse::parse_upstream_url;
use super::reader::{array, index_path, integer_in, string, string_map, Errors, Object};
use crate::resilience::breaker::BreakerSettings;
use crate::resilience::retry::RetrySettings;
use crate::upstream::headers::{is_token, is_valid_value};

/// Reads one entry of `upstreams`: a URL, or `{"url": ..., "weight": N}`.
pub fn parse_upstream_entry(value: &Value, path: &str, errors: &mut Errors) -> Option<Upstream> {
    let (url, weight) = match value {
        Value::String(url) => (Some(url.as_str()), Some(1)),
        Value::Object(_) => {
            let mut object = Object::read(value, path, errors)?;
            let url = object
                .required("url", errors)
                .and_then(|(v, p)| string(v, &p, errors).map(|u| (u, p)));
            let weight = match object.optional("weight") {
                Some((v, p)) => integer_in(v, &p, 0, 1000, errors).map(|w| w as u32),
                None => Some(1),
            };
            object.finish(errors);
            let (url, url_path) = url?;
            return match parse_upstream_url(url) {
                Ok(upstream) => Some(Upstream {
                    weight: weight?,
                    ..upstream
                }),
                Err(message) => {
                    errors.push(&url_path, message);
                    None
                }
            };
        }
        _ => {
            errors.push(path, "expected a URL or an object with 'url' and 'weight'");
            (None, None)
        }
    };
    match parse_upstream_url(url?) {
        Ok(upstream) => Some(Upstream {
            weight: weight?,
            ..upstream
        }),
        Err(message) => {
            errors.push(path, message);
            None
        }
    }
}

/// Reads a service's `retry`.
pub fn parse_retry(value: &Value, path: &str, errors: &mut Errors) -> Option<RetrySettings> {
    let mut object = Object::read(value, path, errors)?;
    let defaults = RetrySettings::default();
    let mut number =
        |key: &'static str, min: u64, max: u64, default: u64| match object.optional(key) {
            Some((v, p)) => integer_in(v, &p, min, max, errors),
            None => Some(default),
        };
    let attempts = number("attempts", 1, 5, 1);
    let backoff_ms = number("backoff_ms", 0, 10_000, defaults.backoff_ms);
    let max_backoff_ms = number("max_backoff_ms", 0, 60_000, defaults.max_backoff_ms);
    let budget_percent = number("budget_percent", 0, 100, u64::from(defaults.budget_percent));
    let statuses = match object.optional("statuses") {
        Some((v, p)) => array(v, &p, errors).and_then(|items| {
            items
                .iter()
                .enumerate()
                .map(|(i, s)| integer_in(s, &index_path(&p, i), 500, 599, errors).map(|n| n as u16))
                .collect::<Option<Vec<u16>>>()
        }),
        None => Some(defaults.statuses.clone()),
    };
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
pub fn parse_breaker(value: &Value, path: &str, errors: &mut Errors) -> Option<BreakerSettings> {
    let mut object = Object::read(value, path, errors)?;
    let failure_threshold = match object.optional("failure_threshold") {
        Some((v, p)) => integer_in(v, &p, 1, 1000, errors),
        None => Some(5),
    };
    let open_seconds = match object.optional("open_seconds") {
        Some((v, p)) => integer_in(v, &p, 1, 3600, errors),
        None => Some(30),
    };
    object.finish(errors);
    Some(BreakerSettings {
        failure_threshold: failure_threshold? as u32,
        open_ms: open_seconds? * 1000,
    })
}

/// Reads a service's `sticky`: `{"header": NAME}` or `{"cookie": NAME}`.
pub fn parse_sticky(value: &Value, path: &str, errors: &mut Errors) -> Option<Sticky> {
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
    let status = match object.optional("status") {
        Some((v, p)) => integer_in(v, &p, 200, 599, errors).map(|s| s as u16),
        None => Some(200),
    };
    let headers = match object.optional("headers") {
        Some((v, p)) => string_map(
            v,
            &p,
            "header names to values",
            |name, value| {
                if is_token(name) && is_valid_value(value) {
                    Ok((name.to_ascii_lowercase(), value.to_string()))
                } else {
                    Err("must be a valid header name with a valid value".into())
                }
            },
            errors,
        ),
        None => Some(Vec::new()),
    };
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

/// Reads a route's `versions`: `{"header": "x-api-version", "services": {"2": "users-v2"}}`.
pub fn parse_versions(
    value: &Value,
    path: &str,
    services: &BTreeSet<String>,
    errors: &mut Errors,
) -> Option<Versions> {
    let mut object = Object::read(value, path, errors)?;
    let header = object.required("header", errors).and_then(|(v, p)| {
        let name = string(v, &p, errors)?;
        if is_token(name) {
            Some(name.to_ascii_lowercase())
        } else {
            errors.push(&p, format!("'{name}' is not a valid header name"));
            None
        }
    });
    let map = object.required("services", errors).and_then(|(v, p)| {
        let pairs = string_map(
            v,
            &p,
            "header values to service names",
            |version, service| {
                if services.contains(service) {
                    Ok((version.to_string(), service.to_string()))
                } else {
                    Err(format!(
                        "'{service}' is not a service defined in 'services'"
                    ))
                }
            },
            errors,
        )?;
        if pairs.is_empty() {
            errors.push(&p, "must map at least one header value to a service");
            return None;
        }
        Some(pairs)
    });
    object.finish(errors);
    Some(Versions {
        header: header?,
        services: map?,
    })
}
