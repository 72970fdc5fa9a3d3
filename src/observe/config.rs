//! The document's `access_log` section: which fields each line carries, which request headers
//! (credentials always redacted), and what share of successful requests is logged.

use serde_json::Value;

use crate::reader::{Errors, Object};

/// Fields a document may leave out of the access log (`type` and `request_id` always stay).
pub const OMITTABLE: [&str; 20] = [
    "trace_id",
    "span_id",
    "method",
    "host",
    "path",
    "route",
    "service",
    "auth",
    "principal",
    "status",
    "upstream_status",
    "duration_ms",
    "upstream_ms",
    "config_version",
    "rate_limit_calls",
    "cache",
    "error_code",
    "error_cause",
    "headers",
    "sampled",
];

/// Request headers whose values are credentials: logged as [`REDACTED`] whatever the document
/// says (with the API-key header the document names).
pub const SECRET_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "cf-access-jwt-assertion",
];

pub const REDACTED: &str = "[redacted]";
/// Request headers one document may log.
const MAX_HEADERS: usize = 20;

/// How access-log lines are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogPolicy {
    /// Percent of requests answered below 400 that are logged; errors always are.
    pub sample_successes_percent: u64,
    /// Request headers logged under `headers` (lower case).
    pub headers: Vec<String>,
    /// Fields left out.
    pub omit: Vec<String>,
}

impl Default for AccessLogPolicy {
    fn default() -> Self {
        Self {
            sample_successes_percent: 100,
            headers: Vec::new(),
            omit: Vec::new(),
        }
    }
}

impl AccessLogPolicy {
    /// Whether the record is written as the gateway always did (no field changes).
    pub fn is_plain(&self) -> bool {
        self.headers.is_empty() && self.omit.is_empty()
    }

    /// Whether a request answered with `status` is logged, given a uniform `draw` in 0..100.
    pub fn logs(&self, status: u16, draw: u64) -> bool {
        status >= 400 || draw < self.sample_successes_percent
    }
}

/// A header value as the log may show it: credentials, and anything that looks like a token,
/// redacted.
pub fn shown<'v>(name: &str, value: &'v str, api_key_header: &str) -> &'v str {
    if SECRET_HEADERS.contains(&name) || name == api_key_header || looks_secret(value) {
        REDACTED
    } else {
        value
    }
}

/// A bearer or basic credential, or a JWT (three base64url segments) anywhere in the value.
fn looks_secret(value: &str) -> bool {
    let lower = value.trim_start().to_ascii_lowercase();
    if lower.starts_with("bearer ") || lower.starts_with("basic ") {
        return true;
    }
    value
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .any(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() == 3 && parts[..2].iter().all(|p| p.len() >= 8)
        })
}

pub fn parse_access_log(value: &Value, path: &str, errors: &mut Errors) -> AccessLogPolicy {
    let mut policy = AccessLogPolicy::default();
    let Some(mut object) = Object::read(value, path, errors) else {
        return policy;
    };
    if let Some(percent) = object.integer_or("sample_successes_percent", (0, 100), 100, errors) {
        policy.sample_successes_percent = percent;
    }
    if let Some(headers) = object.strings_or_empty("headers", errors) {
        if headers.len() > MAX_HEADERS {
            errors.push(
                &format!("{path}.headers"),
                format!("at most {MAX_HEADERS} headers may be logged"),
            );
        }
        for (i, name) in headers.iter().enumerate() {
            if !crate::http::is_token(name) {
                errors.push(&format!("{path}.headers[{i}]"), "not a header name");
            }
        }
        policy.headers = headers.iter().map(|h| h.to_ascii_lowercase()).collect();
    }
    if let Some(omit) = object.strings_or_empty("omit", errors) {
        for (i, field) in omit.iter().enumerate() {
            if !OMITTABLE.contains(&field.as_str()) {
                errors.push(
                    &format!("{path}.omit[{i}]"),
                    format!("'{field}' is not an access-log field that may be left out"),
                );
            }
        }
        policy.omit = omit;
    }
    object.finish(errors);
    policy
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_are_never_shown() {
        assert_eq!(shown("authorization", "Bearer abc", "x-api-key"), REDACTED);
        assert_eq!(shown("cookie", "sid=1", "x-api-key"), REDACTED);
        assert_eq!(
            shown("x-key", "k", "x-key"),
            REDACTED,
            "the document's API-key header"
        );
        assert_eq!(
            shown(
                "x-forwarded-token",
                "eyJhbGciOiJI.eyJzdWIiOiIx.sig",
                "x-api-key"
            ),
            REDACTED,
            "a JWT under any name"
        );
        assert_eq!(
            shown("x-other", "basic dXNlcjpwYXNz", "x-api-key"),
            REDACTED
        );
        assert_eq!(shown("user-agent", "curl/8.5.0", "x-api-key"), "curl/8.5.0");
        assert_eq!(shown("x-version", "1.2.3", "x-api-key"), "1.2.3");
    }

    #[test]
    fn sampling_keeps_every_error() {
        let policy = AccessLogPolicy {
            sample_successes_percent: 10,
            ..AccessLogPolicy::default()
        };
        assert!(policy.logs(200, 5) && !policy.logs(200, 50));
        assert!(policy.logs(500, 99) && policy.logs(404, 99));
    }

    #[test]
    fn the_section_is_checked() {
        let mut errors = Errors::default();
        let policy = parse_access_log(
            &json!({"sample_successes_percent": 5, "headers": ["User-Agent"], "omit": ["host"]}),
            "$.access_log",
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(policy.headers, ["user-agent"]);
        let mut errors = Errors::default();
        parse_access_log(
            &json!({"sample_successes_percent": 101, "headers": ["bad name"], "omit": ["request_id"]}),
            "$.access_log",
            &mut errors,
        );
        assert_eq!(errors.into_vec().len(), 3);
    }
}
