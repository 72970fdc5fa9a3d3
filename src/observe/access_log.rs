//! One JSON line per request, written through the console (Workers Logs collects it).

use serde::Serialize;

use crate::context::RequestContext;

/// The access log record. Field names are a stable contract for log pipelines.
#[derive(Debug, Serialize)]
pub struct AccessLog<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub request_id: &'a str,
    pub trace_id: &'a str,
    pub span_id: &'a str,
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub route: Option<&'a str>,
    pub service: Option<&'a str>,
    pub auth: Option<&'static str>,
    pub principal: Option<&'a str>,
    pub status: u16,
    pub upstream_status: Option<u16>,
    /// Whole milliseconds from arrival to the response headers being ready.
    pub duration_ms: u64,
    pub upstream_ms: Option<u64>,
    pub config_version: Option<&'a str>,
    /// Rate-limiter Durable Object calls made (0 when denied from the isolate's memory).
    pub rate_limit_calls: u32,
    /// `HIT`, `MISS`, `STALE`, `REVALIDATED` or `BYPASS` on cached routes.
    pub cache: Option<&'static str>,
    pub error_code: Option<&'static str>,
    pub error_cause: Option<&'a str>,
}

/// Builds the record for a finished request; `now_ms` is when its response was ready.
pub fn record(ctx: &RequestContext, now_ms: f64) -> AccessLog<'_> {
    AccessLog {
        kind: "access",
        request_id: &ctx.request_id,
        trace_id: &ctx.trace.trace_id,
        span_id: &ctx.trace.span_id,
        method: &ctx.method,
        host: &ctx.host,
        path: &ctx.path,
        route: ctx.route.as_deref(),
        service: ctx.service.as_deref(),
        auth: ctx.auth_scheme,
        principal: ctx.principal.as_deref(),
        status: ctx.status,
        upstream_status: ctx.upstream_status,
        duration_ms: whole_ms(now_ms - ctx.started_ms),
        upstream_ms: ctx.upstream_ms.map(whole_ms),
        config_version: ctx.config_version.as_deref(),
        rate_limit_calls: ctx.rate_limit_calls,
        cache: ctx.cache,
        error_code: ctx.error.as_ref().map(|(code, _)| *code),
        error_cause: ctx.error.as_ref().map(|(_, cause)| cause.as_str()),
    }
}

fn whole_ms(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        ms.round() as u64
    } else {
        0
    }
}

/// Whether to write access logs, from the `ACCESS_LOG` variable: on unless it says `off`.
pub fn enabled(setting: Option<&str>) -> bool {
    !matches!(
        setting.map(str::trim),
        Some("off") | Some("false") | Some("0")
    )
}

/// The record as one line of JSON.
pub fn line(ctx: &RequestContext, now_ms: f64) -> String {
    serde_json::to_string(&record(ctx, now_ms)).unwrap_or_else(|_| {
        format!(
            "{{\"type\":\"access\",\"request_id\":{:?}}}",
            ctx.request_id
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::GatewayError;
    use crate::observe::trace::TraceContext;

    #[test]
    fn logging_is_on_unless_switched_off() {
        assert!(enabled(None));
        assert!(enabled(Some("on")));
        assert!(!enabled(Some("off")));
        assert!(!enabled(Some(" false ")));
    }

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
        let value: serde_json::Value = serde_json::from_str(&line(&ctx, 1_012.4)).expect("json");
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
    }
}
