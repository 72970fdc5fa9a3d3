//! The `rate_limits` section of a route document.

use std::collections::BTreeMap;

use serde_json::Value;

use super::reader::{array, index_path, integer_in, key_path, string, Errors, Object};
use crate::rate_limit::algorithm::{Algorithm, Window};
use crate::rate_limit::policy::{KeyPart, OnError, Policy};
use crate::upstream::headers::is_token;

/// Largest `limit`, `burst`.
const MAX_COUNT: u64 = 1_000_000_000;
/// Longest rate period or quota window: 31 days.
const MAX_PERIOD_SECONDS: u64 = 31 * 86_400;
/// Deadline for the limiter's answer unless `timeout_ms` says otherwise.
pub const DEFAULT_TIMEOUT_MS: u64 = 1_000;

/// Reads `rate_limits`: policy name → policy.
pub fn parse_policies(value: &Value, path: &str, errors: &mut Errors) -> BTreeMap<String, Policy> {
    let mut policies = BTreeMap::new();
    let Value::Object(map) = value else {
        errors.push(path, "expected an object mapping policy names to policies");
        return policies;
    };
    for (name, policy) in map {
        let policy_path = key_path(path, name);
        if !super::parse::is_valid_name(name) {
            errors.push(&policy_path, super::parse::name_rule());
        }
        if let Some(policy) = parse_policy(name, policy, &policy_path, errors) {
            policies.insert(name.clone(), policy);
        }
    }
    policies
}

fn parse_policy(name: &str, value: &Value, path: &str, errors: &mut Errors) -> Option<Policy> {
    let mut object = Object::read(value, path, errors)?;
    let rate = object.optional("rate");
    let quota = object.optional("quota");
    let algorithm = match (rate, quota) {
        (Some((value, rate_path)), None) => parse_rate(value, &rate_path, errors),
        (None, Some((value, quota_path))) => parse_quota(value, &quota_path, errors),
        (Some(_), Some((_, quota_path))) => {
            errors.push(
                &quota_path,
                "a policy has either 'rate' or 'quota', not both",
            );
            None
        }
        (None, None) => {
            errors.push(
                path,
                "needs 'rate' (requests per period) or 'quota' (requests per window)",
            );
            None
        }
    };
    let key = match object.optional("key") {
        Some((value, key_path)) => parse_key(value, &key_path, errors),
        None => Some(vec![KeyPart::Ip]),
    };
    let on_error = match object.optional("on_error") {
        Some((value, on_error_path)) => match string(value, &on_error_path, errors) {
            Some("allow") => Some(OnError::Allow),
            Some("deny") => Some(OnError::Deny),
            Some(other) => {
                errors.push(
                    &on_error_path,
                    format!("'{other}' must be 'allow' or 'deny'"),
                );
                None
            }
            None => None,
        },
        None => Some(OnError::Allow),
    };
    let timeout_ms = match object.optional("timeout_ms") {
        Some((value, timeout_path)) => integer_in(value, &timeout_path, 1, 10_000, errors),
        None => Some(DEFAULT_TIMEOUT_MS),
    };
    object.finish(errors);
    Some(Policy {
        name: name.to_string(),
        algorithm: algorithm?,
        key: key?,
        on_error: on_error?,
        timeout_ms: timeout_ms?,
    })
}

fn parse_rate(value: &Value, path: &str, errors: &mut Errors) -> Option<Algorithm> {
    let mut object = Object::read(value, path, errors)?;
    let limit = object
        .required("limit", errors)
        .and_then(|(v, p)| integer_in(v, &p, 1, MAX_COUNT, errors));
    let period = object
        .required("period_seconds", errors)
        .and_then(|(v, p)| integer_in(v, &p, 1, MAX_PERIOD_SECONDS, errors));
    let burst = match object.optional("burst") {
        Some((v, p)) => integer_in(v, &p, 1, MAX_COUNT, errors).map(Some),
        None => Some(None),
    };
    object.finish(errors);
    let limit = limit?;
    Some(Algorithm::Rate {
        limit,
        period_ms: period? * 1000,
        burst: burst?.unwrap_or(limit),
    })
}

fn parse_quota(value: &Value, path: &str, errors: &mut Errors) -> Option<Algorithm> {
    let mut object = Object::read(value, path, errors)?;
    let limit = object
        .required("limit", errors)
        .and_then(|(v, p)| integer_in(v, &p, 1, MAX_COUNT, errors));
    let window = object
        .required("window", errors)
        .and_then(|(v, p)| match v {
            Value::String(unit) => match unit.as_str() {
                "minute" => Some(Window::Seconds { seconds: 60 }),
                "hour" => Some(Window::Seconds { seconds: 3_600 }),
                "day" => Some(Window::Seconds { seconds: 86_400 }),
                "month" => Some(Window::Month),
                other => {
                    errors.push(
                        &p,
                        format!(
                            "'{other}' must be minute, hour, day, month or a number of seconds"
                        ),
                    );
                    None
                }
            },
            other => integer_in(other, &p, 1, MAX_PERIOD_SECONDS, errors)
                .map(|seconds| Window::Seconds { seconds }),
        });
    object.finish(errors);
    Some(Algorithm::Quota {
        limit: limit?,
        window: window?,
    })
}

fn parse_key(value: &Value, path: &str, errors: &mut Errors) -> Option<Vec<KeyPart>> {
    let items = array(value, path, errors)?;
    if items.is_empty() {
        errors.push(
            path,
            "must name at least one part (ip, route, consumer, header:<name>, claim:<name>)",
        );
        return None;
    }
    let mut parts = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let item_path = index_path(path, i);
        let part = string(item, &item_path, errors).and_then(|text| match text {
            "ip" => Some(KeyPart::Ip),
            "route" => Some(KeyPart::Route),
            "consumer" => Some(KeyPart::Consumer),
            _ => match (text.strip_prefix("header:"), text.strip_prefix("claim:")) {
                (Some(name), _) if is_token(name) => Some(KeyPart::Header(name.to_ascii_lowercase())),
                (_, Some(name)) if !name.is_empty() => Some(KeyPart::Claim(name.to_string())),
                _ => {
                    errors.push(
                        &item_path,
                        format!("'{text}' must be ip, route, consumer, header:<name> or claim:<name>"),
                    );
                    None
                }
            },
        });
        match part {
            Some(part) if parts.contains(&part) => {
                errors.push(&item_path, "is listed twice");
                ok = false;
            }
            Some(part) => parts.push(part),
            None => ok = false,
        }
    }
    ok.then_some(parts)
}

/// Reads a route's `rate_limits`: names of policies defined in the document.
pub fn parse_route_policies(
    value: &Value,
    path: &str,
    declared: &std::collections::BTreeSet<String>,
    errors: &mut Errors,
) -> Option<Vec<String>> {
    let items = array(value, path, errors)?;
    let mut names: Vec<String> = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let item_path = index_path(path, i);
        match string(item, &item_path, errors) {
            Some(name) if names.iter().any(|n| n == name) => {
                errors.push(&item_path, format!("'{name}' is listed twice"));
                ok = false;
            }
            Some(name) if declared.contains(name) => names.push(name.to_string()),
            Some(name) => {
                errors.push(&item_path, format!("unknown rate-limit policy '{name}'"));
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(names)
}

/// Reads `plans`: plan name → the policies that apply to that plan's callers on every
/// authenticated route, besides the route's own.
pub fn parse_plans(
    value: &Value,
    path: &str,
    declared: &std::collections::BTreeSet<String>,
    errors: &mut Errors,
) -> BTreeMap<String, Vec<String>> {
    let mut plans = BTreeMap::new();
    let Value::Object(map) = value else {
        errors.push(path, "expected an object mapping plan names to plans");
        return plans;
    };
    for (name, plan) in map {
        let plan_path = key_path(path, name);
        let Some(mut object) = Object::read(plan, &plan_path, errors) else {
            continue;
        };
        let policies = object
            .required("rate_limits", errors)
            .and_then(|(v, p)| parse_route_policies(v, &p, declared, errors));
        object.finish(errors);
        if let Some(policies) = policies {
            plans.insert(name.clone(), policies);
        }
    }
    plans
}
