//! The one error type of the request path and the one place that renders it.
//!
//! Every stage returns [`GatewayError`] unchanged up to the entry point, which calls
//! [`GatewayError::problem`] once. Clients see a stable `code` and a safe message; the access log
//! sees the full cause through [`GatewayError::log_cause`].

use serde::Serialize;

use crate::reader::{ConfigError, Violation};

/// Whose fault an error is, which decides the status class and how loudly it is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// The request was wrong: 4xx.
    Client,
    /// The origin failed or was too slow: 502/504.
    Upstream,
    /// The gateway itself cannot serve: 5xx other than upstream failures.
    Gateway,
}

/// Everything that can stop a request before the origin's own response is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// No route matches the host and path.
    RouteNotFound,
    /// A route matches the path but not the method; `allow` lists the methods that would match.
    MethodNotAllowed { allow: Vec<String> },
    /// The path is not acceptable: malformed percent-encoding or a dot segment.
    InvalidPath { reason: &'static str },
    /// The request's URL or `Host` cannot be parsed (an invalid port, a malformed host).
    InvalidUrl { cause: String },
    /// A header value carries a control character (RFC 9110 §5.5), which no origin should be
    /// sent: `name` is the header's.
    InvalidHeader { name: String },
    /// A WebSocket upgrade whose handshake RFC 6455 refuses (no or a malformed key).
    InvalidHandshake { reason: &'static str },
    /// A WebSocket upgrade for a protocol version other than 13 (RFC 6455 §4.4).
    WebSocketVersion,
    /// A `Range` none of whose ranges lies within the stored body of `length` bytes.
    RangeNotSatisfiable { length: u64 },
    /// The request body did not arrive in full (shorter than its `Content-Length`, or a chunked
    /// body never finished) before the upstream call's deadline or the client went away.
    BodyIncomplete { timeout_ms: u64 },
    /// The request line or headers exceed the documented limits.
    RequestTooLarge { what: &'static str, limit: usize },
    /// No valid route configuration has ever been loaded by this isolate.
    ConfigUnavailable { cause: String },
    /// The origin could not be reached (refused, reset, DNS, TLS).
    UpstreamUnreachable { service: String, cause: String },
    /// The origin did not answer within the service's timeout; the subrequest was aborted.
    UpstreamTimeout { service: String, timeout_ms: u64 },
    /// A rate-limit policy denied the request. `headers` are the `RateLimit` fields of every
    /// policy that answered; `calls` is how many limiter objects were asked (for the log).
    RateLimited {
        policy: String,
        retry_after_s: u64,
        headers: Vec<(&'static str, String)>,
        calls: u32,
    },
    /// A fail-closed policy's limiter could not answer.
    RateLimitUnavailable { policy: String, cause: String },
    /// Credentials are missing (`presented: false`) or invalid. `cause` is for the log only:
    /// clients are not told which check failed.
    Unauthenticated { presented: bool, cause: String },
    /// The same, on a route that takes Basic credentials: the challenge says so (and offers
    /// Bearer too when the route also takes tokens).
    BasicUnauthenticated {
        presented: bool,
        bearer_too: bool,
        cause: String,
    },
    /// Valid credentials without the scopes or roles the route demands.
    InsufficientScope { scope: String },
    /// The issuer's keys cannot be had and none are cached: fail closed.
    AuthUnavailable { issuer: String, cause: String },
    /// A required backend of an aggregate route failed (refused, error status, not JSON, or a
    /// backend it depends on failed).
    BackendFailed { backend: String, cause: String },
    /// A required backend of an aggregate route ran out of time; its call was aborted.
    BackendTimeout { backend: String, timeout_ms: u64 },
    /// The request's header fields are too large or too many (RFC 6585 §5).
    HeadersTooLarge { what: &'static str, limit: usize },
    /// The request body is larger than the route allows.
    BodyTooLarge { limit: u64 },
    /// The route limits bodies and the request sent one without `Content-Length`.
    LengthRequired,
    /// The client's address is not allowed on this route.
    IpDenied,
    /// A cross-origin request or preflight the route's CORS policy does not allow.
    CorsRefused { reason: String },
    /// Every upstream of the service has an open circuit: failing fast.
    CircuitOpen { service: String },
    /// The service's bulkhead is full in this isolate: refused rather than queued.
    ServiceSaturated { service: String, max: u32 },
    /// The client sent `Cache-Control: only-if-cached` and nothing usable is stored.
    NotCached,
    /// An admin request without the right bearer token.
    AdminUnauthorized,
    /// An admin request that names nothing the gateway knows, or lacks a parameter.
    AdminInvalid { reason: String },
    /// An admin operator without the scope a request needs.
    AdminForbidden {
        operator: String,
        scope: &'static str,
    },
    /// A conditional configuration change whose expected version is no longer current.
    ConfigConflict {
        expected: String,
        current: Option<String>,
    },
    /// The request's credential (API-key consumer, token id or subject) has been revoked.
    CredentialRevoked { kind: &'static str },
    /// A pushed route document (or a stored version being restored) does not validate; every
    /// problem is listed and nothing changed.
    ConfigRejected { errors: Vec<ConfigError> },
    /// An admin request names a configuration version that is not stored.
    VersionNotFound { version: String },
    /// No route document is stored at all (admin read or rollback before any push).
    ConfigNotFound { key: String },
    /// A `validate` policy found the request wrong: every violation, with its JSON Pointer.
    RequestInvalid {
        policy: String,
        violations: Vec<Violation>,
    },
    /// A body a policy must read as JSON is not JSON.
    InvalidBody { policy: String, reason: String },
    /// A `worker` or `http` policy failed, was too slow or answered something malformed, and
    /// denies on error.
    PolicyFailed { policy: String, cause: String },
    /// A browser login's callback was refused: a changed or missing login cookie, a wrong
    /// `state` or `nonce`, an ID token that does not verify, or the provider said no.
    LoginFailed { cause: String },
    /// An unsafe method with a session cookie from another origin (cross-site request forgery).
    CsrfRefused,
    /// The firewall found the request malicious: the ids of the rules that matched (never the
    /// payload) and the anomaly score they add up to.
    FirewallBlocked { rules: Vec<String>, score: u32 },
    /// A bug or platform failure inside the gateway.
    Internal { cause: String },
}

/// An RFC 9457 problem document plus the response metadata that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: u16,
    /// Extra response headers (for example `Allow` on 405).
    pub headers: Vec<(&'static str, String)>,
    pub body: ProblemBody,
}

/// The JSON body of a problem response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, equal to the last segment of `type`.
    pub code: &'static str,
    pub request_id: String,
    /// Every problem of a rejected route document (`config-invalid` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ConfigError>,
    /// Every violation of a refused request (`request-invalid` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// The policy that refused or failed the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The firewall rules that refused the request (`waf-blocked` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
}

/// Prefix of every problem `type`; the code follows it.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:edge-gateway:problem:";

impl GatewayError {
    /// The stable code clients can match on; never changes once released.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RouteNotFound => "route-not-found",
            Self::MethodNotAllowed { .. } => "method-not-allowed",
            Self::InvalidPath { .. } => "invalid-path",
            Self::InvalidUrl { .. } => "invalid-url",
            Self::InvalidHandshake { .. } => "invalid-handshake",
            Self::InvalidHeader { .. } => "invalid-header",
            Self::WebSocketVersion => "websocket-version",
            Self::BodyIncomplete { .. } => "body-incomplete",
            Self::RangeNotSatisfiable { .. } => "range-not-satisfiable",
            Self::RequestTooLarge { .. } => "request-too-large",
            Self::ConfigUnavailable { .. } => "config-unavailable",
            Self::UpstreamUnreachable { .. } => "upstream-unreachable",
            Self::UpstreamTimeout { .. } => "upstream-timeout",
            Self::RateLimited { .. } => "rate-limited",
            Self::Unauthenticated { .. } | Self::BasicUnauthenticated { .. } => "unauthenticated",
            Self::InsufficientScope { .. } => "insufficient-scope",
            Self::AuthUnavailable { .. } => "auth-unavailable",
            Self::RateLimitUnavailable { .. } => "rate-limit-unavailable",
            Self::NotCached => "not-cached",
            Self::CircuitOpen { .. } => "circuit-open",
            Self::ServiceSaturated { .. } => "service-saturated",
            Self::IpDenied => "ip-denied",
            Self::HeadersTooLarge { .. } => "headers-too-large",
            Self::BodyTooLarge { .. } => "body-too-large",
            Self::LengthRequired => "length-required",
            Self::CorsRefused { .. } => "cors-refused",
            Self::BackendFailed { .. } => "backend-failed",
            Self::BackendTimeout { .. } => "backend-timeout",
            Self::AdminUnauthorized => "admin-unauthorized",
            Self::AdminInvalid { .. } => "admin-invalid",
            Self::AdminForbidden { .. } => "admin-forbidden",
            Self::ConfigConflict { .. } => "config-conflict",
            Self::CredentialRevoked { .. } => "credential-revoked",
            Self::ConfigRejected { .. } => "config-invalid",
            Self::VersionNotFound { .. } => "version-not-found",
            Self::ConfigNotFound { .. } => "config-not-found",
            Self::RequestInvalid { .. } => "request-invalid",
            Self::InvalidBody { .. } => "invalid-body",
            Self::PolicyFailed { .. } => "policy-failed",
            Self::LoginFailed { .. } => "login-failed",
            Self::CsrfRefused => "csrf-refused",
            Self::FirewallBlocked { .. } => "waf-blocked",
            Self::Internal { .. } => "internal-error",
        }
    }

    /// Whose fault this is.
    pub fn fault(&self) -> Fault {
        match self {
            Self::RouteNotFound
            | Self::MethodNotAllowed { .. }
            | Self::InvalidPath { .. }
            | Self::InvalidUrl { .. }
            | Self::InvalidHandshake { .. }
            | Self::InvalidHeader { .. }
            | Self::WebSocketVersion
            | Self::BodyIncomplete { .. }
            | Self::RangeNotSatisfiable { .. }
            | Self::RequestTooLarge { .. }
            | Self::RateLimited { .. }
            | Self::Unauthenticated { .. }
            | Self::BasicUnauthenticated { .. }
            | Self::InsufficientScope { .. }
            | Self::AdminUnauthorized
            | Self::NotCached
            | Self::IpDenied
            | Self::HeadersTooLarge { .. }
            | Self::BodyTooLarge { .. }
            | Self::LengthRequired
            | Self::CorsRefused { .. }
            | Self::AdminInvalid { .. }
            | Self::AdminForbidden { .. }
            | Self::ConfigConflict { .. }
            | Self::CredentialRevoked { .. }
            | Self::ConfigRejected { .. }
            | Self::VersionNotFound { .. }
            | Self::ConfigNotFound { .. }
            | Self::RequestInvalid { .. }
            | Self::InvalidBody { .. }
            | Self::LoginFailed { .. }
            | Self::FirewallBlocked { .. }
            | Self::CsrfRefused => Fault::Client,
            Self::UpstreamUnreachable { .. }
            | Self::UpstreamTimeout { .. }
            | Self::BackendFailed { .. }
            | Self::BackendTimeout { .. }
            | Self::CircuitOpen { .. }
            | Self::ServiceSaturated { .. }
            | Self::PolicyFailed { .. } => Fault::Upstream,
            Self::ConfigUnavailable { .. }
            | Self::RateLimitUnavailable { .. }
            | Self::AuthUnavailable { .. }
            | Self::Internal { .. } => Fault::Gateway,
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::RouteNotFound | Self::VersionNotFound { .. } | Self::ConfigNotFound { .. } => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::ConfigRejected { .. } => 422,
            Self::InvalidPath { .. }
            | Self::InvalidUrl { .. }
            | Self::InvalidHandshake { .. }
            | Self::InvalidHeader { .. }
            | Self::RequestTooLarge { .. }
            | Self::AdminInvalid { .. }
            | Self::RequestInvalid { .. }
            | Self::InvalidBody { .. }
            | Self::LoginFailed { .. } => 400,
            Self::BodyIncomplete { .. } => 408,
            Self::WebSocketVersion => 426,
            Self::RangeNotSatisfiable { .. } => 416,
            Self::AdminUnauthorized
            | Self::Unauthenticated { .. }
            | Self::BasicUnauthenticated { .. }
            | Self::CredentialRevoked { .. } => 401,
            Self::InsufficientScope { .. }
            | Self::IpDenied
            | Self::CorsRefused { .. }
            | Self::CsrfRefused
            | Self::FirewallBlocked { .. }
            | Self::AdminForbidden { .. } => 403,
            Self::ConfigConflict { .. } => 412,
            Self::HeadersTooLarge { .. } => 431,
            Self::BodyTooLarge { .. } => 413,
            Self::LengthRequired => 411,
            Self::RateLimited { .. } => 429,
            Self::ConfigUnavailable { .. }
            | Self::RateLimitUnavailable { .. }
            | Self::AuthUnavailable { .. }
            | Self::CircuitOpen { .. }
            | Self::ServiceSaturated { .. } => 503,
            Self::UpstreamUnreachable { .. }
            | Self::BackendFailed { .. }
            | Self::PolicyFailed { .. } => 502,
            Self::UpstreamTimeout { .. } | Self::NotCached | Self::BackendTimeout { .. } => 504,
            Self::Internal { .. } => 500,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::RouteNotFound | Self::VersionNotFound { .. } | Self::ConfigNotFound { .. } => {
                "Not Found"
            }
            Self::MethodNotAllowed { .. } => "Method Not Allowed",
            Self::ConfigRejected { .. } => "Unprocessable Content",
            Self::InvalidPath { .. }
            | Self::InvalidUrl { .. }
            | Self::InvalidHandshake { .. }
            | Self::InvalidHeader { .. }
            | Self::RequestTooLarge { .. }
            | Self::AdminInvalid { .. }
            | Self::RequestInvalid { .. }
            | Self::InvalidBody { .. }
            | Self::LoginFailed { .. } => "Bad Request",
            Self::BodyIncomplete { .. } => "Request Timeout",
            Self::WebSocketVersion => "Upgrade Required",
            Self::RangeNotSatisfiable { .. } => "Range Not Satisfiable",
            Self::AdminUnauthorized
            | Self::Unauthenticated { .. }
            | Self::BasicUnauthenticated { .. }
            | Self::CredentialRevoked { .. } => "Unauthorized",
            Self::InsufficientScope { .. }
            | Self::IpDenied
            | Self::CorsRefused { .. }
            | Self::CsrfRefused
            | Self::FirewallBlocked { .. }
            | Self::AdminForbidden { .. } => "Forbidden",
            Self::ConfigConflict { .. } => "Precondition Failed",
            Self::HeadersTooLarge { .. } => "Request Header Fields Too Large",
            Self::BodyTooLarge { .. } => "Content Too Large",
            Self::LengthRequired => "Length Required",
            Self::RateLimited { .. } => "Too Many Requests",
            Self::ConfigUnavailable { .. }
            | Self::RateLimitUnavailable { .. }
            | Self::AuthUnavailable { .. }
            | Self::CircuitOpen { .. }
            | Self::ServiceSaturated { .. } => "Service Unavailable",
            Self::UpstreamUnreachable { .. }
            | Self::BackendFailed { .. }
            | Self::PolicyFailed { .. } => "Bad Gateway",
            Self::UpstreamTimeout { .. } | Self::NotCached | Self::BackendTimeout { .. } => {
                "Gateway Timeout"
            }
            Self::Internal { .. } => "Internal Server Error",
        }
    }

    /// What the client is told: enough to act on, nothing about our internals.
    fn safe_detail(&self) -> String {
        match self {
            Self::RouteNotFound => "No route matches this host and path.".into(),
            Self::MethodNotAllowed { allow } => {
                format!("This route accepts only: {}.", allow.join(", "))
            }
            Self::InvalidPath { reason } => format!("The request path is invalid: {reason}."),
            Self::InvalidUrl { .. } => "The request's URL or Host cannot be parsed.".into(),
            Self::InvalidHandshake { reason } => {
                format!("The WebSocket handshake is invalid: {reason}.")
            }
            Self::WebSocketVersion => "Only WebSocket version 13 is supported.".into(),
            Self::RangeNotSatisfiable { length } => {
                format!("No requested range lies within the {length} bytes of the body.")
            }
            Self::InvalidHeader { name } => {
                format!("The header '{name}' carries a control character.")
            }
            Self::BodyIncomplete { timeout_ms } => format!(
                "The request body did not arrive in full: it ended early, or took over {timeout_ms} ms."
            ),
            Self::RequestTooLarge { what, limit } => {
                format!("The {what} exceeds the limit of {limit} bytes.")
            }
            Self::ConfigUnavailable { .. } => {
                "The gateway has no valid route configuration loaded yet.".into()
            }
            Self::UpstreamUnreachable { service, .. } => {
                format!("The upstream service '{service}' could not be reached.")
            }
            Self::UpstreamTimeout {
                service,
                timeout_ms,
            } => {
                format!("The upstream service '{service}' did not answer within {timeout_ms} ms.")
            }
            Self::RateLimited {
                policy,
                retry_after_s,
                ..
            } => {
                format!("Rate limit '{policy}' exceeded; retry after {retry_after_s} s.")
            }
            Self::RateLimitUnavailable { policy, .. } => {
                format!("Rate limit '{policy}' cannot be checked right now.")
            }
            Self::BackendFailed { backend, .. } => {
                format!("The required backend '{backend}' failed.")
            }
            Self::BackendTimeout {
                backend,
                timeout_ms,
            } => format!("The required backend '{backend}' did not answer within {timeout_ms} ms."),
            Self::IpDenied => "Requests from this address are not allowed on this route.".into(),
            Self::HeadersTooLarge { what, limit } => {
                format!("The request's header fields exceed the limit of {limit} {what}.")
            }
            Self::BodyTooLarge { limit } => {
                format!("The request body exceeds the limit of {limit} bytes.")
            }
            Self::LengthRequired => "This route limits request bodies: send Content-Length.".into(),
            Self::CorsRefused { reason } => format!("Cross-origin request refused: {reason}."),
            Self::CircuitOpen { service } => {
                format!("The upstream service '{service}' is failing; requests are refused for a while.")
            }
            Self::ServiceSaturated { service, .. } => format!(
                "The upstream service '{service}' has as many requests under way as it may; retry shortly."
            ),
            Self::NotCached => {
                "Nothing usable is cached and the request asked for only-if-cached.".into()
            }
            Self::AdminUnauthorized => "A valid admin bearer token is required.".into(),
            Self::Unauthenticated {
                presented: false, ..
            }
            | Self::BasicUnauthenticated {
                presented: false, ..
            } => "This route requires credentials.".into(),
            Self::Unauthenticated {
                presented: true, ..
            }
            | Self::BasicUnauthenticated {
                presented: true, ..
            } => "The credentials are invalid or expired.".into(),
            Self::InsufficientScope { scope } => {
                format!("The credentials lack what this route requires: {scope}.")
            }
            Self::AuthUnavailable { .. } => "Credentials cannot be verified right now.".into(),
            Self::AdminInvalid { reason } => reason.clone(),
            Self::AdminForbidden { operator, scope } => {
                format!("The operator '{operator}' lacks the '{scope}' scope this request needs.")
            }
            Self::ConfigConflict { expected, current } => format!(
                "The current version is {}, not {expected}: nothing was changed. Read the current document again and retry.",
                current.as_deref().unwrap_or("none")
            ),
            Self::CredentialRevoked { kind } => {
                format!("These credentials have been revoked ({kind}).")
            }
            Self::ConfigRejected { errors } => format!(
                "The route document has {} problem(s), listed in 'errors'; nothing was changed.",
                errors.len()
            ),
            Self::VersionNotFound { version } => {
                format!("No configuration version '{version}' is stored.")
            }
            Self::ConfigNotFound { key } => {
                format!("No route document is stored under the KV key '{key}' yet.")
            }
            Self::RequestInvalid { violations, .. } => format!(
                "The request does not match what this route accepts: {} violation(s), listed in 'violations'.",
                violations.len()
            ),
            Self::InvalidBody { reason, .. } => format!("The request body is not valid JSON: {reason}."),
            Self::PolicyFailed { policy, .. } => {
                format!("The policy '{policy}' could not decide on this request.")
            }
            Self::LoginFailed { .. } => {
                "The login could not be completed; start it again.".into()
            }
            Self::CsrfRefused => {
                "A request that changes something must come from this site's own pages.".into()
            }
            Self::FirewallBlocked { .. } => {
                "The request was refused by the firewall; quote the request id to have it looked into.".into()
            }
            Self::Internal { .. } => "The gateway failed to handle this request.".into(),
        }
    }

    /// The full cause for the access log; `None` when the client-facing detail says it all.
    pub fn log_cause(&self) -> Option<&str> {
        match self {
            Self::ConfigUnavailable { cause }
            | Self::InvalidUrl { cause }
            | Self::UpstreamUnreachable { cause, .. }
            | Self::BackendFailed { cause, .. }
            | Self::RateLimitUnavailable { cause, .. }
            | Self::Unauthenticated { cause, .. }
            | Self::BasicUnauthenticated { cause, .. }
            | Self::AuthUnavailable { cause, .. }
            | Self::PolicyFailed { cause, .. }
            | Self::LoginFailed { cause }
            | Self::Internal { cause } => Some(cause),
            _ => None,
        }
    }

    /// Turns the error into the problem response clients receive.
    pub fn problem(&self, request_id: &str) -> Problem {
        let status = self.status();
        let code = self.code();
        let mut headers = vec![("cache-control", "no-store".to_string())];
        match self {
            Self::MethodNotAllowed { allow } => headers.push(("allow", allow.join(", "))),
            Self::WebSocketVersion => headers.push(("sec-websocket-version", "13".to_string())),
            Self::RangeNotSatisfiable { length } => {
                headers.push(("content-range", format!("bytes */{length}")));
            }
            Self::ConfigUnavailable { .. }
            | Self::RateLimitUnavailable { .. }
            | Self::AuthUnavailable { .. }
            | Self::CircuitOpen { .. } => {
                headers.push(("retry-after", "5".to_string()));
            }
            Self::ServiceSaturated { .. } => headers.push(("retry-after", "1".to_string())),
            // RFC 6750 §3: no error code when no credentials were sent.
            Self::Unauthenticated { presented: false, .. } => {
                headers.push(("www-authenticate", "Bearer realm=\"edge-gateway\"".to_string()));
            }
            Self::CredentialRevoked { .. } => headers.push((
                "www-authenticate",
                "Bearer realm=\"edge-gateway\", error=\"invalid_token\"".to_string(),
            )),
            // One field with both challenges (RFC 9110 §11.6.1): header maps keep one value.
            Self::BasicUnauthenticated { bearer_too, .. } => headers.push((
                "www-authenticate",
                if *bearer_too {
                    "Basic realm=\"edge-gateway\", charset=\"UTF-8\", Bearer realm=\"edge-gateway\""
                } else {
                    "Basic realm=\"edge-gateway\", charset=\"UTF-8\""
                }
                .to_string(),
            )),
            Self::Unauthenticated { presented: true, .. } => headers.push((
                "www-authenticate",
                "Bearer realm=\"edge-gateway\", error=\"invalid_token\"".to_string(),
            )),
            Self::InsufficientScope { scope } => headers.push((
                "www-authenticate",
                format!("Bearer realm=\"edge-gateway\", error=\"insufficient_scope\", scope=\"{scope}\""),
            )),
            Self::RateLimited {
                retry_after_s,
                headers: limits,
                ..
            } => {
                headers.push(("retry-after", retry_after_s.to_string()));
                headers.extend(limits.iter().cloned());
            }
            Self::AdminUnauthorized => {
                headers.push((
                    "www-authenticate",
                    "Bearer realm=\"edge-gateway admin\"".to_string(),
                ));
            }
            _ => {}
        }
        Problem {
            status,
            headers,
            body: ProblemBody {
                type_uri: format!("{PROBLEM_TYPE_PREFIX}{code}"),
                title: self.title(),
                status,
                detail: self.safe_detail(),
                code,
                request_id: request_id.to_string(),
                errors: match self {
                    Self::ConfigRejected { errors } => errors.clone(),
                    _ => Vec::new(),
                },
                violations: match self {
                    Self::RequestInvalid { violations, .. } => violations.clone(),
                    _ => Vec::new(),
                },
                policy: match self {
                    Self::RequestInvalid { policy, .. }
                    | Self::InvalidBody { policy, .. }
                    | Self::PolicyFailed { policy, .. } => Some(policy.clone()),
                    _ => None,
                },
                rules: match self {
                    Self::FirewallBlocked { rules, .. } => rules.clone(),
                    _ => Vec::new(),
                },
            },
        }
    }
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.log_cause() {
            Some(cause) => write!(f, "{}: {cause}", self.code()),
            None => write!(f, "{}: {}", self.code(), self.safe_detail()),
        }
    }
}

impl std::error::Error for GatewayError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_not_allowed_carries_allow_header() {
        let problem = GatewayError::MethodNotAllowed {
            allow: vec!["GET".into(), "HEAD".into()],
        }
        .problem("req-1");
        assert_eq!(problem.status, 405);
        assert!(problem
            .headers
            .contains(&("allow", "GET, HEAD".to_string())));
        assert_eq!(
            problem.body.type_uri,
            "urn:edge-gateway:problem:method-not-allowed"
        );
        assert_eq!(problem.body.request_id, "req-1");
    }

    #[test]
    fn upstream_causes_do_not_reach_the_client() {
        let error = GatewayError::UpstreamUnreachable {
            service: "users".into(),
            cause: "connect ECONNREFUSED 10.0.0.7:8080".into(),
        };
        let problem = error.problem("r");
        assert_eq!(problem.status, 502);
        assert!(!problem.body.detail.contains("10.0.0.7"));
        assert_eq!(
            error.log_cause(),
            Some("connect ECONNREFUSED 10.0.0.7:8080")
        );
        assert_eq!(error.fault(), Fault::Upstream);
    }

    #[test]
    fn timeouts_are_504_and_name_the_service() {
        let problem = GatewayError::UpstreamTimeout {
            service: "orders".into(),
            timeout_ms: 250,
        }
        .problem("r");
        assert_eq!(problem.status, 504);
        assert!(problem.body.detail.contains("orders"));
        assert!(problem.body.detail.contains("250 ms"));
    }
}
