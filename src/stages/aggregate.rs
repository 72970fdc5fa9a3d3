//! Fan-out: an aggregate route calls its backends concurrently, as far as their dependencies
//! allow, and composes one JSON answer instead of proxying one service.

use super::{Flow, Stage};
use crate::aggregate;
use crate::config::route::Destination;
use crate::error::GatewayError;
use crate::exchange::{Answer, Exchange, Reply};
use crate::platform;
use crate::resilience::health;

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
        // The parts are kept only when the composed answer may use the cache at all.
        let cache = route.cache.as_ref().filter(|_| ex.cache.is_some());
        let request = aggregate::Request {
            params: ex.params(),
            query: ex.url.query(),
            headers: &ex.upstream_headers,
            keep_headers: route.cache.is_some(),
            cache: cache.map(|policy| aggregate::PartCache {
                env: ex.env,
                ctx: ex.worker,
                policy,
                route: &route.name,
                host: &ex.ctx.host,
                caller: ex.cache_caller(),
                refresh_ms: ex.deployment.config.refresh_ms,
            }),
            tracer: &ex.ctx.tracer,
            env: Some(ex.env),
        };
        let services = &route.gateway().services;
        let checked = fan_out.backends.iter().any(|b| {
            services
                .get(&b.service)
                .is_some_and(|s| s.health_check.is_some())
        });
        if checked {
            health::refresh(ex.env, platform::now_ms()).await;
        }
        let sent_at = platform::now_ms();
        let composed = aggregate::run(fan_out, &route.gateway().services, &request).await;
        (ex.sent_ms, ex.received_ms) = (sent_at, platform::now_ms());
        ex.ctx.upstream_ms = Some(ex.received_ms - sent_at);
        let mut composed = composed?;
        ex.ctx.upstream_status = Some(composed.status);
        if route.cache.is_some() {
            let complete = composed.incomplete.is_empty() && composed.fallbacks.is_empty();
            ex.composed = Some((std::mem::take(&mut composed.answers), complete));
        }
        let headers = composed.headers();
        let body = (ex.ctx.method != "HEAD").then_some(composed.body);
        let reply = Reply::composed((composed.status, headers, body));
        Ok(Flow::Respond(Answer::Reply(reply)))
    }
}
