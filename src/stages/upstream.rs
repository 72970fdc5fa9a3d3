//! Upstream: the origin itself. One of the service's upstreams by weight (or stickiness),
//! skipping open circuits, retried where the service allows, all within the call's deadline;
//! request and response bodies stream through untouched.

use super::{Flow, Stage};
use crate::error::GatewayError;
use crate::exchange::{Answer, Exchange, Reply};
use crate::http::header;
use crate::platform::{self, fetch, fetch::Upload};
use crate::resilience::{self, health};

/// Relays the origin's answer (502 unreachable, 504 too slow, 503 every circuit open).
pub struct Upstream;

impl Stage for Upstream {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let read = ex.body.take();
        let route = ex.route()?;
        let call = ex.call()?;
        let service = route.service(&call.service)?;
        // GET and HEAD carry no body; one a policy has read goes as its bytes.
        let body = match (ex.ctx.method.as_str(), read) {
            ("GET" | "HEAD", _) => None,
            (_, Some(bytes)) => Some(fetch::upload_of(bytes)),
            _ => ex.request.inner().body().map(|stream| Upload {
                stream,
                length: header(&ex.headers, "content-length").and_then(|v| v.trim().parse().ok()),
            }),
        };
        if service.health_check.is_some() {
            health::refresh(ex.env, platform::now_ms()).await;
        }
        let sent_at = platform::now_ms();
        let request = call.request(
            service,
            &ex.ctx.method,
            ex.url.query(),
            &ex.upstream_headers,
            sent_at,
            (&ex.ctx.tracer, ex.env),
        );
        let result = resilience::call(&request, body).await;
        let received_at = platform::now_ms();
        (ex.sent_ms, ex.received_ms) = (sent_at, received_at);
        ex.ctx.upstream_ms = Some(received_at - sent_at);
        let response = result?;
        ex.ctx.upstream_status = Some(response.status_code());
        Ok(Flow::Respond(Answer::Reply(Reply::relayed(response))))
    }
}
