//! Per-request state that crosses stages. The access log and the metrics sample are written
//! from it alone.

use crate::error::GatewayError;
use crate::firewall::inspect::Verdict;
use crate::metrics::{Sample, UNROUTED};
use std::rc::Rc;

use crate::observe::access_log::{line, line_without, whole_ms, AccessLog};
use crate::observe::config::AccessLogPolicy;
use crate::observe::otlp::{Span, Value};
use crate::observe::trace::TraceContext;
use crate::observe::tracing::Tracer;

/// What every stage may read and record about the request being served.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub trace: TraceContext,
    /// Platform time when the request arrived, in milliseconds since the epoch.
    pub started_ms: f64,
    pub method: String,
    pub host: String,
    pub path: String,
    /// Name of the matched route, once routing has chosen one.
    pub route: Option<String>,
    pub service: Option<String>,
    /// `jwt` or `api_key` once a caller is authenticated.
    pub auth_scheme: Option<&'static str>,
    /// The authenticated caller's subject (JWT `sub` or API-key consumer).
    pub principal: Option<String>,
    /// Version (content hash) of the configuration that served the request.
    pub config_version: Option<String>,
    pub upstream_status: Option<u16>,
    /// Time from sending the upstream request to its response headers.
    pub upstream_ms: Option<f64>,
    /// `RateLimit` response headers from the rate-limit stage.
    pub rate_limit_headers: Vec<(&'static str, String)>,
    /// Rate-limiter Durable Object calls made for this request.
    pub rate_limit_calls: u32,
    /// The `X-Cache` value on cached routes.
    pub cache: Option<&'static str>,
    /// CORS response headers for an allowed cross-origin request (errors carry them too).
    pub cors_headers: Vec<(String, String)>,
    /// The status returned to the client.
    pub status: u16,
    /// The error that ended the request, if one did: its stable code and full cause.
    pub error: Option<(&'static str, String)>,
    /// An admin API or OpenAPI request: logged, but not counted in the routes' metrics.
    pub internal: bool,
    /// How the configuration wants this request logged (the default before one is loaded).
    pub log_policy: Option<Rc<AccessLogPolicy>>,
    /// The request headers the policy logs, already redacted.
    pub logged_headers: Vec<(String, String)>,
    /// Records the request's spans when the deployment exports traces.
    pub tracer: Tracer,
    /// What the firewall found, when it found anything (or a custom rule let the request
    /// skip it).
    pub firewall: Option<Verdict>,
}

impl RequestContext {
    pub fn new(request_id: String, trace: TraceContext, started_ms: f64) -> Self {
        Self {
            request_id,
            trace,
            started_ms,
            method: String::new(),
            host: String::new(),
            path: String::new(),
            route: None,
            service: None,
            auth_scheme: None,
            principal: None,
            config_version: None,
            upstream_status: None,
            upstream_ms: None,
            rate_limit_headers: Vec::new(),
            rate_limit_calls: 0,
            cache: None,
            cors_headers: Vec::new(),
            status: 0,
            error: None,
            internal: false,
            log_policy: None,
            logged_headers: Vec::new(),
            tracer: Tracer::default(),
            firewall: None,
        }
    }

    /// Records the error that ended the request; its full cause goes to the log, not the client.
    pub fn record_error(&mut self, error: &GatewayError) {
        if let GatewayError::RateLimited { calls, .. } = error {
            self.rate_limit_calls = *calls;
        }
        self.error = Some((error.code(), error.to_string()));
    }

    /// The access log record of the finished request; `now_ms` is when its response was ready.
    pub fn access_log(&self, now_ms: f64) -> AccessLog<'_> {
        AccessLog {
            kind: "access",
            request_id: &self.request_id,
            trace_id: &self.trace.trace_id,
            span_id: &self.trace.span_id,
            method: &self.method,
            host: &self.host,
            path: &self.path,
            route: self.route.as_deref(),
            service: self.service.as_deref(),
            auth: self.auth_scheme,
            principal: self.principal.as_deref(),
            status: self.status,
            upstream_status: self.upstream_status,
            duration_ms: whole_ms(now_ms - self.started_ms),
            upstream_ms: self.upstream_ms.map(whole_ms),
            config_version: self.config_version.as_deref(),
            rate_limit_calls: self.rate_limit_calls,
            cache: self.cache,
            error_code: self.error.as_ref().map(|(code, _)| *code),
            error_cause: self.error.as_ref().map(|(_, cause)| cause.as_str()),
            headers: (!self.logged_headers.is_empty()).then(|| {
                self.logged_headers
                    .iter()
                    .map(|(n, v)| (n.clone(), serde_json::Value::String(v.clone())))
                    .collect()
            }),
            firewall: self.firewall.as_ref().map(firewall_record),
            sampled: self
                .log_policy
                .as_ref()
                .map(|p| p.sample_successes_percent)
                .filter(|p| *p < 100 && self.status < 400),
        }
    }

    /// The finished request's access-log line, or none when sampling leaves it out; `draw` is
    /// uniform in 0..100.
    pub fn log_line(&self, now_ms: f64, draw: impl FnOnce() -> u64) -> Option<String> {
        let record = self.access_log(now_ms);
        match &self.log_policy {
            None => Some(line(&record)),
            Some(policy) => {
                let logged =
                    policy.sample_successes_percent >= 100 || policy.logs(self.status, draw());
                logged.then(|| line_without(&record, &policy.omit))
            }
        }
    }

    /// The request's spans: the server span (OpenTelemetry HTTP server conventions) ending at
    /// `now_ms`, and the children the stages recorded.
    pub fn spans(&self, now_ms: f64) -> Vec<Span> {
        let text = |s: &str| Value::Text(s.to_string());
        let mut attributes = vec![
            ("http.request.method", text(&self.method)),
            ("url.path", text(&self.path)),
            ("server.address", text(&self.host)),
            (
                "http.response.status_code",
                Value::Int(i64::from(self.status)),
            ),
            ("gateway.request_id", text(&self.request_id)),
        ];
        if let Some(route) = &self.route {
            attributes.push(("gateway.route", text(route)));
        }
        if let Some(version) = &self.config_version {
            attributes.push(("gateway.config_version", text(version)));
        }
        if let Some(cache) = self.cache {
            attributes.push(("gateway.cache", text(cache)));
        }
        if let Some((code, _)) = &self.error {
            attributes.push(("error.type", text(code)));
        }
        let name = match &self.route {
            Some(route) => format!("{} {route}", self.method),
            None => self.method.clone(),
        };
        let error = (self.status >= 500).then(|| {
            self.error
                .as_ref()
                .map_or_else(|| self.status.to_string(), |(code, _)| code.to_string())
        });
        self.tracer.finish(
            &self.trace,
            name,
            self.started_ms,
            now_ms,
            attributes,
            error,
        )
    }

    /// The metrics sample of the finished request.
    pub fn sample(&self, now_ms: f64) -> Sample {
        Sample {
            route: self.route.clone().unwrap_or_else(|| UNROUTED.to_string()),
            status: self.status,
            latency_ms: (now_ms - self.started_ms).max(0.0),
            upstream_ms: self.upstream_ms,
            cache: self.cache,
            error_code: self.error.as_ref().map(|(code, _)| *code),
            at_ms: now_ms,
            version: self.config_version.clone(),
            firewall: self
                .firewall
                .as_ref()
                .filter(|v| !v.matches.is_empty())
                .map(|v| (v.refuse, v.rule_ids())),
        }
    }
}

/// The access log's `firewall` object: mode, score, threshold, whether the request was
/// refused, and each matched rule with the target it matched in (never the value).
fn firewall_record(verdict: &Verdict) -> serde_json::Value {
    let matches: Vec<serde_json::Value> = verdict
        .matches
        .iter()
        .map(|m| serde_json::json!({"rule": m.rule, "target": m.target, "score": m.score}))
        .collect();
    let mut record = serde_json::json!({
        "mode": verdict.mode.name(),
        "score": verdict.score,
        "threshold": verdict.threshold,
        "blocked": verdict.refuse,
        "matches": matches,
    });
    if let Some(rule) = &verdict.allowed_by {
        record["allowed_by"] = serde_json::Value::String(rule.clone());
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::access_log::line;

    #[test]
    fn a_failed_request_logs_its_cause() {
        let trace = TraceContext::continue_or_start(None, None, [3; 24]);
        let mut ctx = RequestContext::new("rid".into(), trace, 1_000.0);
        ctx.method = "GET".into();
        ctx.path = "/users/1".into();
        ctx.route = Some("user".into());
        ctx.status = 502;
        ctx.record_error(&GatewayError::UpstreamUnreachable {
            service: "users".into(),
            cause: "connection refused".into(),
        });
        let value: serde_json::Value =
            serde_json::from_str(&line(&ctx.access_log(1_012.4))).expect("json");
        assert_eq!(value["type"], "access");
        assert_eq!(value["request_id"], "rid");
        assert_eq!(value["route"], "user");
        assert_eq!(value["status"], 502);
        assert_eq!(value["duration_ms"], 12);
        assert_eq!(value["error_code"], "upstream-unreachable");
        assert!(value["error_cause"]
            .as_str()
            .is_some_and(|c| c.contains("connection refused")));
        assert_eq!(value["upstream_status"], serde_json::Value::Null);
        let sample = ctx.sample(1_012.4);
        assert_eq!((sample.route.as_str(), sample.status), ("user", 502));
        assert_eq!(sample.error_code, Some("upstream-unreachable"));
    }

    #[test]
    fn unrouted_requests_are_counted_apart() {
        let trace = TraceContext::continue_or_start(None, None, [3; 24]);
        let ctx = RequestContext::new("rid".into(), trace, 0.0);
        assert_eq!(ctx.sample(5.0).route, UNROUTED);
        assert_eq!(ctx.sample(5.0).latency_ms, 5.0);
    }
}
