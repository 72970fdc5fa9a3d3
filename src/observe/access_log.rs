//! One JSON line per request, written through the console (Workers Logs collects it).

use serde::Serialize;

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
    /// The request headers the document asks for, credentials redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<serde_json::Map<String, serde_json::Value>>,
    /// What the firewall found: mode, score, whether it refused, the rules and their targets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firewall: Option<serde_json::Value>,
    /// The percent of successes logged, when successes are sampled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled: Option<u64>,
}

/// Whole milliseconds of a duration, 0 for anything negative or not finite.
pub fn whole_ms(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        ms.round() as u64
    } else {
        0
    }
}

/// The record as one line of JSON without the fields `omit` names.
pub fn line_without(record: &AccessLog<'_>, omit: &[String]) -> String {
    if omit.is_empty() {
        return line(record);
    }
    match serde_json::to_value(record) {
        Ok(serde_json::Value::Object(mut fields)) => {
            for name in omit {
                fields.remove(name);
            }
            serde_json::Value::Object(fields).to_string()
        }
        _ => line(record),
    }
}

/// The record as one line of JSON.
pub fn line(record: &AccessLog<'_>) -> String {
    serde_json::to_string(record).unwrap_or_else(|_| {
        format!(
            "{{\"type\":\"access\",\"request_id\":{:?}}}",
            record.request_id
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_json_line_with_every_field() {
        let record = AccessLog {
            kind: "access",
            request_id: "rid",
            trace_id: "t",
            span_id: "s",
            method: "GET",
            host: "h",
            path: "/users/1",
            route: Some("user"),
            service: None,
            auth: None,
            principal: None,
            status: 502,
            upstream_status: None,
            duration_ms: whole_ms(12.4),
            upstream_ms: None,
            config_version: None,
            rate_limit_calls: 0,
            cache: None,
            error_code: Some("upstream-unreachable"),
            error_cause: Some("connection refused"),
            headers: None,
            firewall: None,
            sampled: None,
        };
        let text = line(&record);
        let trimmed: serde_json::Value =
            serde_json::from_str(&line_without(&record, &["path".to_string()])).expect("json");
        assert!(trimmed.get("path").is_none() && trimmed["route"] == "user");
        assert!(!text.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["type"], "access");
        assert_eq!(value["duration_ms"], 12);
        assert_eq!(value["error_cause"], "connection refused");
        assert_eq!(value["upstream_status"], serde_json::Value::Null);
        assert_eq!(whole_ms(-3.0), 0);
        assert_eq!(whole_ms(f64::NAN), 0);
    }
}
