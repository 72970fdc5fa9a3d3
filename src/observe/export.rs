//! Sends finished spans over OTLP/HTTP (protobuf) to the deployment's collector: batched per
//! isolate and posted about a second after the first span of a batch, from `waitUntil`, so no
//! request waits for it. Headers for the collector (an API key) come from the secret
//! `OTEL_EXPORTER_OTLP_HEADERS` (`name=value,name=value`, as OpenTelemetry SDKs read it).

use std::cell::{Cell, RefCell};
use std::time::Duration;

use serde_json::json;
use worker::{Context, Delay, Env};

use super::otlp::{self, Span, Value};
use crate::deployment::Tracing;
use crate::platform;

/// Spans an isolate holds at most; beyond it the oldest are dropped (and counted in the log).
const CAPACITY: usize = 4096;
const FLUSH_AFTER: Duration = Duration::from_millis(1000);
const EXPORT_TIMEOUT_MS: u64 = 10_000;
/// The secret with the collector's headers.
pub const HEADERS_SECRET: &str = "OTEL_EXPORTER_OTLP_HEADERS";

thread_local! {
    static PENDING: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static DROPPED: Cell<u64> = const { Cell::new(0) };
    static SCHEDULED: Cell<bool> = const { Cell::new(false) };
}

/// The collector headers from `name=value,name=value`; malformed members are skipped.
pub fn parse_headers(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|member| {
            let (name, value) = member.split_once('=')?;
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim().to_string();
            (crate::http::is_token(&name) && crate::http::is_valid_value(&value))
                .then_some((name, value))
        })
        .collect()
}

/// Queues a request's spans for the next export.
pub fn submit(tracing: &Tracing, env: &Env, worker_ctx: &Context, spans: &[Span]) {
    PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        for span in spans {
            let mut encoded = Vec::with_capacity(256);
            otlp::span(&mut encoded, span);
            pending.push(encoded);
        }
        if pending.len() > CAPACITY {
            let over = pending.len() - CAPACITY;
            pending.drain(..over);
            DROPPED.with(|d| d.set(d.get() + over as u64));
        }
    });
    if !SCHEDULED.with(|s| s.replace(true)) {
        worker_ctx.wait_until(flush_later(env.clone(), tracing.clone()));
    }
}

async fn flush_later(env: Env, tracing: Tracing) {
    Delay::from(FLUSH_AFTER).await;
    SCHEDULED.with(|s| s.set(false));
    let spans = PENDING.with(|pending| std::mem::take(&mut *pending.borrow_mut()));
    let dropped = DROPPED.with(|d| d.replace(0));
    if dropped > 0 {
        platform::log_error(
            &json!({"type": "tracing", "event": "spans_dropped", "count": dropped}).to_string(),
        );
    }
    if spans.is_empty() {
        return;
    }
    let resource = [
        ("service.name", Value::Text(tracing.service.clone())),
        ("telemetry.sdk.language", Value::Text("rust".into())),
        ("cloud.provider", Value::Text("cloudflare".into())),
        ("cloud.platform", Value::Text("cloudflare_workers".into())),
    ];
    let body = otlp::export_request(
        &resource,
        ("edge-gateway", env!("CARGO_PKG_VERSION")),
        &spans,
    );
    let mut headers = vec![(
        "content-type".to_string(),
        "application/x-protobuf".to_string(),
    )];
    if let Ok(secret) = env.secret(HEADERS_SECRET) {
        headers.extend(parse_headers(&secret.to_string()));
    }
    let sent = platform::fetch::text_within(
        &tracing.url,
        "POST",
        &headers,
        Some(body),
        EXPORT_TIMEOUT_MS,
    )
    .await;
    let problem = match sent {
        None => Some(format!("no answer within {EXPORT_TIMEOUT_MS} ms")),
        Some(Err(e)) => Some(e),
        Some(Ok(answer)) if !(200..300).contains(&answer.status) => {
            Some(format!("the collector answered {}", answer.status))
        }
        Some(Ok(_)) => None,
    };
    if let Some(cause) = problem {
        platform::log_error(
            &json!({"type": "tracing", "event": "export_failed", "spans": spans.len(), "cause": cause})
                .to_string(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_headers_read_like_the_sdks() {
        assert_eq!(
            parse_headers("x-api-key=abc, Authorization=Bearer t,bad,=x"),
            [
                ("x-api-key".to_string(), "abc".to_string()),
                ("authorization".to_string(), "Bearer t".to_string())
            ]
        );
    }
}
