//! Fan-out: an aggregate route calls its backends concurrently, as far as their dependencies
//! allow, and composes one JSON answer instead of proxying one service.

use super::{Flow, Stage};
use crate::aggregate;
use crate::config::route::Destination;
use crate::error::GatewayError;
use crate::exchange::{Answer, Exchange, Reply};
use crate::platform;

/// Answers aggregate routes with the composed document (502/504 naming a failed required
/// backend; optional ones left out are named in `X-Gateway-Incomplete`).
pub struct Aggregate;

impl Stage for Aggregate {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let route = ex.route()?;
        let Destination::Aggregate(fan_out) = &route.destination else {
            return Ok(Flow::Continue);
        };
        let services: Vec<&str> = fan_out
            .backends
            .iter()
            .map(|b| b.service.as_str())
            .collect();
        ex.ctx.service = Some(services.join(","));
        let request = aggregate::Request {
            params: ex.params(),
            query: ex.url.query(),
            headers: &ex.upstream_headers,
        };
        let sent_at = platform::now_ms();
        let composed = aggregate::run(fan_out, &route.gateway().services, &request).await;
        ex.ctx.upstream_ms = Some(platform::now_ms() - sent_at);
        let composed = composed?;
        ex.ctx.upstream_status = Some(composed.status);
        let headers = composed.headers();
        let body = (ex.ctx.method != "HEAD").then_some(composed.body);
        let reply = Reply::composed((composed.status, headers, body));
        Ok(Flow::Respond(Answer::Reply(reply)))
    }
}
