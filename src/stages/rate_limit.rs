//! Rate limit: the route's policies and the caller's plan's, before the cache and the origin,
//! so a denied client costs neither and a cached answer does not bypass the limit.

use super::{Flow, Stage};
use crate::error::GatewayError;
use crate::exchange::Exchange;
use crate::http::header;
use crate::observe::otlp::{Kind, Value};
use crate::platform;
use crate::rate_limit::client;
use crate::rate_limit::policy::KeyInputs;

/// Checks every policy that applies (429 when one is exhausted, 503 when a fail-closed one
/// cannot be checked) and notes the `RateLimit` headers for the response.
pub struct RateLimit;

impl Stage for RateLimit {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let route = ex.route()?;
        // An authenticated caller without a plan of its own is on the plan `default`.
        let plan = ex
            .principal
            .as_ref()
            .map(|p| p.plan.as_deref().unwrap_or("default"));
        let policies = route
            .gateway()
            .rate_limits
            .for_request(&route.rate_limits, plan);
        if policies.is_empty() {
            return Ok(Flow::Continue);
        }
        let inputs = KeyInputs {
            client_ip: header(&ex.headers, "cf-connecting-ip"),
            route: &route.name,
            headers: &ex.headers,
            principal: ex.principal.as_ref(),
        };
        let started = platform::now_ms();
        let checked = client::check(ex.env, ex.worker, &policies, &inputs, started).await;
        if ex.ctx.tracer.is_on() {
            let names: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
            ex.ctx.tracer.record(
                "rate limit",
                Kind::Internal,
                started,
                None,
                None,
                vec![("gateway.rate_limit.policies", Value::Text(names.join(",")))],
                checked.as_ref().err().map(|e| e.code().to_string()),
            );
        }
        let admitted = checked?;
        ex.ctx.rate_limit_calls = admitted.calls;
        ex.ctx.rate_limit_headers = admitted.headers;
        Ok(Flow::Continue)
    }
}
