//! Calling a service's upstreams resiliently: weighted (optionally sticky) choice among the
//! upstreams whose circuit is not open, retries with backoff within the request's deadline and
//! the service's retry budget, circuit breaking per upstream, and a bulkhead per service.

pub mod breaker;
pub mod bulkhead;
pub mod checker;
pub mod config;
pub mod fallback;
pub mod health;
pub mod limiter;
pub mod retry;
pub mod service;

use worker::{Env, Response};

use crate::error::GatewayError;
use crate::observe::otlp::{Kind, Value};
use crate::observe::tracing::Tracer;
use crate::platform::{self, fetch::Upload};
use crate::upstream::{self, target, Outbound};
use service::Service;

/// One request to a service, before an upstream is chosen.
#[derive(Debug, Clone)]
pub struct ServiceRequest<'a> {
    pub service: &'a Service,
    pub method: &'a str,
    /// Path below the upstream's base path, and the query without `?`.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a [(String, String)],
    /// No attempt starts or runs past this platform time.
    pub deadline_ms: f64,
    /// Requests with the same key go to the same upstream while the weights stay the same.
    pub sticky_key: Option<&'a str>,
    /// Where each attempt is recorded as a client span, under `parent_span` (the request's
    /// server span when `None`).
    pub tracer: &'a Tracer,
    pub parent_span: Option<[u8; 8]>,
    /// For the global bulkhead (`global_concurrency`); without it the call is not limited
    /// globally (a background refresh).
    pub env: Option<&'a Env>,
}

/// Sends the request to one of the service's upstreams, retrying where the service allows it,
/// within the service's bulkheads. Every attempt's outcome feeds the upstream's circuit
/// breaker.
pub async fn call(
    request: &ServiceRequest<'_>,
    body: Option<Upload>,
) -> Result<Response, GatewayError> {
    let service = request.service;
    let with_token;
    let request = match (&service.client_credentials, request.env) {
        (Some(credentials), Some(env)) => {
            let token = credentials
                .token(env, platform::now_ms())
                .await
                .map_err(|cause| GatewayError::AuthUnavailable {
                    issuer: format!("client credentials of '{}'", service.name),
                    cause,
                })?;
            let mut headers: Vec<(String, String)> = request
                .headers
                .iter()
                .filter(|(n, _)| n != "authorization")
                .cloned()
                .collect();
            headers.push(("authorization".into(), format!("Bearer {token}")));
            with_token = headers;
            &ServiceRequest {
                headers: &with_token,
                ..request.clone()
            }
        }
        _ => request,
    };
    let result = limited(request, body).await;
    // A refused token is not used again.
    if let (Some(credentials), Ok(response)) = (&service.client_credentials, &result) {
        if response.status_code() == 401 {
            credentials.refused();
        }
    }
    result
}

async fn limited(
    request: &ServiceRequest<'_>,
    body: Option<Upload>,
) -> Result<Response, GatewayError> {
    let service = request.service;
    let (Some(global), Some(env)) = (&service.global_concurrency, request.env) else {
        return attempts(request, body).await;
    };
    let lease = limiter::acquire(env, &service.name, global, request.deadline_ms + 1_000.0)
        .await
        .ok_or_else(|| GatewayError::ServiceSaturated {
            service: service.name.clone(),
            max: global.limit,
        })?;
    let result = attempts(request, body).await;
    if let Some(lease) = lease {
        limiter::release(env, &service.name, lease).await;
    }
    result
}

async fn attempts(
    request: &ServiceRequest<'_>,
    mut body: Option<Upload>,
) -> Result<Response, GatewayError> {
    let service = request.service;
    // Held until this function returns: through every attempt, until headers or failure.
    let _slot = match service.max_concurrent {
        Some(max) => Some(bulkhead::enter(&service.name, max).ok_or_else(|| {
            GatewayError::ServiceSaturated {
                service: service.name.clone(),
                max,
            }
        })?),
        None => None,
    };
    let retry_allowed =
        service.retry.attempts > 0 && body.is_none() && retry::is_idempotent(request.method);
    if service.retry.attempts > 0 {
        retry::record_request(&service.name, platform::now_ms());
    }
    let point = request.sticky_key.map(sticky_point);
    let mut attempt = 0;
    loop {
        let now = platform::now_ms();
        let left = request.deadline_ms - now;
        if left < 1.0 {
            return Err(GatewayError::UpstreamTimeout {
                service: service.name.clone(),
                timeout_ms: service.timeout_ms,
            });
        }
        let point = point.unwrap_or_else(platform::random_u32);
        let closed = |u: &upstream::target::Upstream| {
            service
                .breaker
                .is_none_or(|settings| breaker::available(&u.origin_url(), settings, now))
        };
        let healthy = |u: &upstream::target::Upstream| {
            service.health_check.is_none() || health::admits(&u.origin_url())
        };
        // When health checks report every upstream down they are all used anyway.
        let chosen = target::choose(&service.upstreams, |u| closed(u) && healthy(u), point)
            .or_else(|| {
                service
                    .health_check
                    .as_ref()
                    .and_then(|_| target::choose(&service.upstreams, closed, point))
            });
        let Some(upstream) = chosen else {
            return Err(GatewayError::CircuitOpen {
                service: service.name.clone(),
            });
        };
        // The circuit is keyed by the upstream's base URL, built only when there is one.
        let key = service.breaker.map(|_| upstream.origin_url());
        if let (Some(settings), Some(key)) = (service.breaker, &key) {
            if !breaker::admit(key, settings, now) {
                return Err(GatewayError::CircuitOpen {
                    service: service.name.clone(),
                });
            }
        }
        let url = target::upstream_url(upstream, request.path, request.query);
        let outbound = Outbound {
            service: &service.name,
            method: request.method,
            url: &url,
            headers: request.headers,
            timeout_ms: service.timeout_ms.min(left as u64),
        };
        let result = upstream::send(&outbound, body.take()).await;
        let finished = platform::now_ms();
        if request.tracer.is_on() {
            record_attempt(request, &url, attempt, now, &result);
        }
        if let (Some(settings), Some(key)) = (service.breaker, &key) {
            let success = match &result {
                Ok(response) => response.status_code() < 500,
                Err(_) => false,
            };
            breaker::record(key, success, settings, finished);
        }
        let retryable = match &result {
            Ok(response) => service.retry.statuses.contains(&response.status_code()),
            Err(GatewayError::UpstreamUnreachable { .. }) => true,
            Err(_) => false,
        };
        if !retry_allowed || !retryable || attempt >= service.retry.attempts {
            return result;
        }
        let wait = retry::backoff_ms(&service.retry, attempt, platform::random_u32());
        if finished + wait as f64 >= request.deadline_ms
            || !retry::try_retry(&service.name, service.retry.budget_percent, finished)
        {
            return result;
        }
        if wait > 0 {
            worker::Delay::from(std::time::Duration::from_millis(wait)).await;
        }
        attempt += 1;
    }
}

/// One attempt as a client span (OpenTelemetry HTTP client conventions).
fn record_attempt(
    request: &ServiceRequest<'_>,
    url: &str,
    attempt: u32,
    started_ms: f64,
    result: &Result<Response, GatewayError>,
) {
    let server = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?']).next())
        .unwrap_or_default();
    let mut attributes = vec![
        (
            "http.request.method",
            Value::Text(request.method.to_string()),
        ),
        ("url.full", Value::Text(url.to_string())),
        ("server.address", Value::Text(server.to_string())),
        ("gateway.service", Value::Text(request.service.name.clone())),
    ];
    if attempt > 0 {
        attributes.push(("http.request.resend_count", Value::Int(i64::from(attempt))));
    }
    let error = match result {
        Ok(response) => {
            let status = response.status_code();
            attributes.push(("http.response.status_code", Value::Int(i64::from(status))));
            (status >= 500).then(|| status.to_string())
        }
        Err(error) => {
            attributes.push(("error.type", Value::Text(error.code().to_string())));
            Some(error.code().to_string())
        }
    };
    request.tracer.record(
        request.method,
        Kind::Client,
        started_ms,
        request.parent_span,
        None,
        attributes,
        error,
    );
}

/// A stable point in [0, 2^32) for a sticky key (FNV-1a), so the same key picks the same upstream.
fn sticky_point(key: &str) -> u32 {
    let hash = key.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    // Spread the low bits, which a modulo by a small total weight would otherwise use alone.
    hash ^ (hash >> 16)
}
