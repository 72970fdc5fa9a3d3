//! A named rate-limit policy, the key it counts by, and the response headers it produces.

use super::algorithm::{Algorithm, Decision};

/// One policy from the route document's `rate_limits`.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub algorithm: Algorithm,
    /// What identifies a client: the parts are joined, so `["ip", "route"]` counts each client
    /// on each route separately.
    pub key: Vec<KeyPart>,
    /// What to do when the Durable Object fails or is slower than `timeout_ms` (default: allow).
    pub on_error: OnError,
    /// Deadline for the Durable Object's answer (default 1000 ms).
    pub timeout_ms: u64,
    /// Whether every request asks the object (default) or spends leased credit.
    pub mode: Mode,
}

/// How a policy's count is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every request is checked by the key's Durable Object: exact wherever it arrives.
    Exact,
    /// Each isolate leases `lease` requests at a time from the object and admits them on its
    /// own: one object call per `lease` requests, at most `lease` per isolate over the limit.
    Approximate { lease: u64 },
}

/// A piece of a rate-limit key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPart {
    /// The client address from `CF-Connecting-IP`.
    Ip,
    /// The matched route's name.
    Route,
    /// The value of a request header (lower-case name); absent headers share one bucket.
    Header(String),
    /// A claim of the authenticated caller (`sub`, `tenant`, ...); anonymous callers share one.
    Claim(String),
    /// The authenticated caller: API-key consumer name or JWT `sub`.
    Consumer,
}

/// Fail open or closed when the limiter cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Let the request through and log the failure.
    Allow,
    /// Answer 503 `rate-limit-unavailable`.
    Deny,
}

/// Longest header value used as-is in a key; longer ones are shortened with a hash suffix.
const MAX_KEY_VALUE: usize = 256;

/// What a key may be built from, read once per request.
#[derive(Debug, Clone, Copy)]
pub struct KeyInputs<'a> {
    pub client_ip: Option<&'a str>,
    pub route: &'a str,
    /// Request headers with lower-case names.
    pub headers: &'a [(String, String)],
    pub principal: Option<&'a crate::auth::authenticate::Principal>,
}

impl Policy {
    /// The key this request counts against, e.g. `ip=203.0.113.5|route=orders`.
    pub fn key_for(&self, inputs: &KeyInputs<'_>) -> String {
        let parts: Vec<String> = self
            .key
            .iter()
            .map(|part| match part {
                KeyPart::Ip => format!("ip={}", inputs.client_ip.unwrap_or("-")),
                KeyPart::Route => format!("route={}", inputs.route),
                KeyPart::Header(name) => {
                    let value = crate::http::header(inputs.headers, name);
                    format!("header.{name}={}", bounded(value.unwrap_or("-")))
                }
                KeyPart::Claim(name) => {
                    let value = inputs.principal.and_then(|p| p.claim_text(name));
                    format!("claim.{name}={}", bounded(value.as_deref().unwrap_or("-")))
                }
                KeyPart::Consumer => {
                    let subject = inputs.principal.and_then(|p| p.subject.as_deref());
                    format!("consumer={}", bounded(subject.unwrap_or("-")))
                }
            })
            .collect();
        parts.join("|")
    }

    /// The Durable Object name for `key`: one object per (policy, key).
    pub fn object_name(&self, key: &str) -> String {
        format!("{}/{key}", self.name)
    }

    /// This policy's item of `RateLimit-Policy`.
    pub fn policy_header_item(&self, decision: &Decision) -> String {
        format!(
            "\"{}\";q={};w={}",
            self.name, decision.limit, decision.window_s
        )
    }

    /// This policy's item of `RateLimit`.
    pub fn limit_header_item(&self, decision: &Decision) -> String {
        format!(
            "\"{}\";r={};t={}",
            self.name,
            decision.remaining,
            decision.reset_ms.div_ceil(1000)
        )
    }
}

fn bounded(value: &str) -> String {
    if value.len() <= MAX_KEY_VALUE {
        return value.to_string();
    }
    let mut cut = MAX_KEY_VALUE;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{}", &value[..cut], crate::digest::fingerprint(value))
}

/// The rate-limit response headers for every policy that answered.
pub fn response_headers(decisions: &[(&Policy, Decision)]) -> Vec<(&'static str, String)> {
    if decisions.is_empty() {
        return Vec::new();
    }
    let join = |f: &dyn Fn(&Policy, &Decision) -> String| {
        decisions
            .iter()
            .map(|(p, d)| f(p, d))
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        ("ratelimit-policy", join(&|p, d| p.policy_header_item(d))),
        ("ratelimit", join(&|p, d| p.limit_header_item(d))),
    ]
}

/// Seconds for `Retry-After`: at least 1, rounded up.
pub fn retry_after_seconds(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::algorithm::Window;

    fn policy(key: Vec<KeyPart>) -> Policy {
        Policy {
            name: "burst".into(),
            algorithm: Algorithm::Quota {
                limit: 5,
                window: Window::Seconds { seconds: 60 },
            },
            key,
            on_error: OnError::Allow,
            timeout_ms: 1000,
            mode: Mode::Exact,
        }
    }

    #[test]
    fn keys_combine_their_parts() {
        let headers = vec![("x-api-key".to_string(), "k1".to_string())];
        let inputs = KeyInputs {
            client_ip: Some("203.0.113.5"),
            route: "orders",
            headers: &headers,
            principal: None,
        };
        let key = policy(vec![
            KeyPart::Ip,
            KeyPart::Route,
            KeyPart::Header("x-api-key".into()),
        ])
        .key_for(&inputs);
        assert_eq!(key, "ip=203.0.113.5|route=orders|header.x-api-key=k1");
        let missing = policy(vec![KeyPart::Header("x-other".into())]).key_for(&inputs);
        assert_eq!(missing, "header.x-other=-");
    }

    #[test]
    fn long_header_values_are_bounded_but_distinct() {
        let a = "a".repeat(1000);
        let b = format!("{}b", "a".repeat(999));
        assert_ne!(bounded(&a), bounded(&b));
        assert!(bounded(&a).len() < 300);
    }

    #[test]
    fn headers_follow_the_ietf_draft() {
        let p = policy(vec![KeyPart::Ip]);
        let decision = Decision {
            allowed: true,
            limit: 5,
            remaining: 3,
            reset_ms: 41_200,
            retry_after_ms: 0,
            window_s: 60,
        };
        let headers = response_headers(&[(&p, decision)]);
        assert_eq!(
            headers[0],
            ("ratelimit-policy", "\"burst\";q=5;w=60".to_string())
        );
        assert_eq!(headers[1], ("ratelimit", "\"burst\";r=3;t=42".to_string()));
        assert_eq!(retry_after_seconds(1), 1);
        assert_eq!(retry_after_seconds(0), 1);
        assert_eq!(retry_after_seconds(2_001), 3);
    }
}
