//! The `rate_limits` and `plans` sections of a route document, and a route's `rate_limits`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::algorithm::{Algorithm, Window};
use super::policy::{KeyPart, Mode, OnError, Policy};
use crate::http::is_token;
use crate::reader::{array, index_path, integer_in, key_path, named, string, Errors, Object};

/// Largest `limit`, `burst`.
const MAX_COUNT: u64 = 1_000_000_000;
/// Longest rate period or quota window: 31 days.
const MAX_PERIOD_SECONDS: u64 = 31 * 86_400;
/// Deadline for the limiter's answer unless `timeout_ms` says otherwise.
pub const DEFAULT_TIMEOUT_MS: u64 = 1_000;

/// Reads `rate_limits`: policy name → policy.
pub fn parse_policies(value: &Value, path: &str, errors: &mut Errors) -> BTreeMap<String, Policy> {
    named(
        value,
        path,
        "policy names to policies",
        errors,
        parse_policy,
    )
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
    let key = object.or("key", vec![KeyPart::Ip], errors, parse_key);
    let on_error = object.or(
        "on_error",
        OnError::Allow,
        errors,
        |value, path, errors| match string(value, path, errors)? {
            "allow" => Some(OnError::Allow),
            "deny" => Some(OnError::Deny),
            other => {
                errors.push(path, format!("'{other}' must be 'allow' or 'deny'"));
                None
            }
        },
    );
    let timeout_ms = object.integer_or("timeout_ms", (1, 10_000), DEFAULT_TIMEOUT_MS, errors);
    let approximate = object.or("mode", false, errors, |value, path, errors| {
        match string(value, path, errors)? {
            "exact" => Some(false),
            "approximate" => Some(true),
            other => {
                errors.push(path, format!("'{other}' must be 'exact' or 'approximate'"));
                None
            }
        }
    });
    let lease = object.optional("lease");
    object.finish(errors);
    let algorithm = algorithm?;
    let mode = parse_mode(approximate?, lease, &algorithm, errors)?;
    Some(Policy {
        name: name.to_string(),
        algorithm,
        key: key?,
        on_error: on_error?,
        timeout_ms: timeout_ms?,
        mode,
    })
}

/// Most credit an isolate leases when `lease` is not given.
const DEFAULT_LEASE_CAP: u64 = 100;

/// `mode` and `lease`: a lease is at most what the key can admit at once (a rate's burst, a
/// quota's limit), and by default a tenth of it, between 1 and 100.
fn parse_mode(
    approximate: bool,
    lease: Option<(&Value, String)>,
    algorithm: &Algorithm,
    errors: &mut Errors,
) -> Option<Mode> {
    let capacity = match *algorithm {
        Algorithm::Rate { burst, .. } => burst,
        Algorithm::Quota { limit, .. } => limit,
    };
    match (approximate, lease) {
        (false, None) => Some(Mode::Exact),
        (false, Some((_, lease_path))) => {
            errors.push(&lease_path, "only applies with \"mode\": \"approximate\"");
            None
        }
        (true, None) => Some(Mode::Approximate {
            lease: (capacity / 10).clamp(1, DEFAULT_LEASE_CAP),
        }),
        (true, Some((value, lease_path))) => {
            let lease = integer_in(value, &lease_path, 1, MAX_COUNT, errors)?;
            if lease > capacity {
                errors.push(
                    &lease_path,
                    format!("{lease} is more than the {capacity} the policy admits at once"),
                );
                return None;
            }
            Some(Mode::Approximate { lease })
        }
    }
}

fn parse_rate(value: &Value, path: &str, errors: &mut Errors) -> Option<Algorithm> {
    let mut object = Object::read(value, path, errors)?;
    let limit = object
        .required("limit", errors)
        .and_then(|(v, p)| integer_in(v, &p, 1, MAX_COUNT, errors));
    let period = object
        .required("period_seconds", errors)
        .and_then(|(v, p)| integer_in(v, &p, 1, MAX_PERIOD_SECONDS, errors));
    let burst = object.maybe_integer("burst", (1, MAX_COUNT), errors);
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
    declared: &BTreeSet<String>,
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
    declared: &BTreeSet<String>,
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

/// The document's policies and plans, and which apply to a request.
#[derive(Debug, Default)]
pub struct RateLimits {
    /// Policy name → policy; routes and plans refer to them.
    pub policies: BTreeMap<String, Policy>,
    /// Plan name → policies for callers on that plan (`default`: callers without one).
    pub plans: BTreeMap<String, Vec<String>>,
}

impl RateLimits {
    /// The policies for a request: the route's own, then its caller's plan's. `caller_plan` is
    /// `None` for an anonymous caller; an authenticated caller whose plan is unknown gets the
    /// plan `default`. Each policy once.
    pub fn for_request(&self, route: &[String], caller_plan: Option<&str>) -> Vec<&Policy> {
        let plan =
            caller_plan.and_then(|name| self.plans.get(name).or_else(|| self.plans.get("default")));
        let mut names: Vec<&String> = route.iter().collect();
        for name in plan.into_iter().flatten() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names.iter().filter_map(|n| self.policies.get(*n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn declared(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn policies_compile_with_defaults() {
        let mut errors = Errors::default();
        let policies = parse_policies(
            &json!({
                "burst": { "rate": { "limit": 10, "period_seconds": 1 } },
                "monthly": { "quota": { "limit": 1000, "window": "month" }, "key": ["header:X-Api-Key", "route"], "on_error": "deny", "timeout_ms": 250 }
            }),
            "$.rate_limits",
            &mut errors,
        );
        let route = parse_route_policies(
            &json!(["burst", "monthly"]),
            "$.routes[0].rate_limits",
            &declared(&["burst", "monthly"]),
            &mut errors,
        );
        assert!(errors.is_empty());
        let burst = &policies["burst"];
        assert_eq!(
            burst.algorithm,
            Algorithm::Rate {
                limit: 10,
                period_ms: 1000,
                burst: 10
            }
        );
        assert_eq!(burst.key, [KeyPart::Ip]);
        assert_eq!(
            (burst.on_error, burst.timeout_ms),
            (OnError::Allow, DEFAULT_TIMEOUT_MS)
        );
        let monthly = &policies["monthly"];
        assert_eq!(
            monthly.algorithm,
            Algorithm::Quota {
                limit: 1000,
                window: Window::Month
            }
        );
        assert_eq!(
            monthly.key,
            [KeyPart::Header("x-api-key".into()), KeyPart::Route]
        );
        assert_eq!((monthly.on_error, monthly.timeout_ms), (OnError::Deny, 250));
        assert_eq!((burst.mode, monthly.mode), (Mode::Exact, Mode::Exact));
        assert_eq!(
            route.as_deref(),
            Some(&["burst".to_string(), "monthly".to_string()][..])
        );
    }

    #[test]
    fn mistakes_are_reported_with_paths() {
        let mut errors = Errors::default();
        parse_policies(
            &json!({
                "both": { "rate": { "limit": 1, "period_seconds": 1 }, "quota": { "limit": 1, "window": "day" } },
                "neither": { "key": ["ip"] },
                "bad": { "rate": { "limit": 0, "period_seconds": 1, "brust": 2 }, "key": ["ip", "ip", "cookie"], "on_error": "maybe" },
                "window": { "quota": { "limit": 5, "window": "fortnight" } }
            }),
            "$.rate_limits",
            &mut errors,
        );
        parse_route_policies(
            &json!(["burst", "both", "both"]),
            "$.routes[0].rate_limits",
            &declared(&["both", "neither", "bad", "window"]),
            &mut errors,
        );
        let got: Vec<String> = errors.into_vec().into_iter().map(|e| e.path).collect();
        for expected in [
            "$.rate_limits.both.quota",
            "$.rate_limits.neither",
            "$.rate_limits.bad.rate.limit",
            "$.rate_limits.bad.rate.brust",
            "$.rate_limits.bad.key[1]",
            "$.rate_limits.bad.key[2]",
            "$.rate_limits.bad.on_error",
            "$.rate_limits.window.quota.window",
            "$.routes[0].rate_limits[0]",
            "$.routes[0].rate_limits[2]",
        ] {
            assert!(
                got.iter().any(|p| p == expected),
                "missing {expected} in {got:?}"
            );
        }
    }

    #[test]
    fn approximate_policies_lease_a_tenth_of_what_they_admit_by_default() {
        let mut errors = Errors::default();
        let policies = parse_policies(
            &json!({
                "small": { "rate": { "limit": 5, "period_seconds": 1 }, "mode": "approximate" },
                "big": { "quota": { "limit": 100000, "window": "day" }, "mode": "approximate" },
                "set": { "rate": { "limit": 600, "period_seconds": 60, "burst": 50 }, "mode": "approximate", "lease": 20 },
                "too-big": { "quota": { "limit": 10, "window": "day" }, "mode": "approximate", "lease": 11 },
                "exact-lease": { "quota": { "limit": 10, "window": "day" }, "lease": 2 },
                "unknown": { "quota": { "limit": 10, "window": "day" }, "mode": "roughly" }
            }),
            "$.rate_limits",
            &mut errors,
        );
        let modes: Vec<(&str, Mode)> = policies
            .iter()
            .map(|(name, p)| (name.as_str(), p.mode))
            .collect();
        assert_eq!(
            modes,
            [
                ("big", Mode::Approximate { lease: 100 }),
                ("set", Mode::Approximate { lease: 20 }),
                ("small", Mode::Approximate { lease: 1 }),
            ]
        );
        let got: Vec<String> = errors.into_vec().into_iter().map(|e| e.path).collect();
        assert_eq!(
            got,
            [
                "$.rate_limits.exact-lease.lease",
                "$.rate_limits.too-big.lease",
                "$.rate_limits.unknown.mode"
            ]
        );
    }

    #[test]
    fn plans_add_their_policies_for_authenticated_callers() {
        let mut errors = Errors::default();
        let policies = parse_policies(
            &json!({
                "route": { "quota": { "limit": 5, "window": "minute" } },
                "free": { "quota": { "limit": 10, "window": "day" } },
                "pro": { "quota": { "limit": 1000, "window": "day" } }
            }),
            "$.rate_limits",
            &mut errors,
        );
        let names = declared(&["route", "free", "pro"]);
        let plans = parse_plans(
            &json!({"default": {"rate_limits": ["free"]}, "pro": {"rate_limits": ["pro", "route"]}}),
            "$.plans",
            &names,
            &mut errors,
        );
        assert!(errors.is_empty());
        let limits = RateLimits { policies, plans };
        let names = |list: Vec<&Policy>| list.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        let route = ["route".to_string()];
        assert_eq!(names(limits.for_request(&route, None)), ["route"]);
        assert_eq!(
            names(limits.for_request(&route, Some("default"))),
            ["route", "free"]
        );
        assert_eq!(
            names(limits.for_request(&route, Some("gold"))),
            ["route", "free"]
        );
        assert_eq!(
            names(limits.for_request(&route, Some("pro"))),
            ["route", "pro"]
        );
    }
}
