//! Cache lookup: after the rate limit (a cached answer still counts against it) and before the
//! origin. A usable entry answers here (HIT, STALE, a 206 for a `Range`, a 304 for the client's
//! validators); otherwise the origin will be asked, conditionally when the stored entry has
//! validators, and the cache store stage settles its answer. Concurrent misses for one key in
//! an isolate wait for the first one's answer instead of asking the origin too.

use super::{Flow, Stage};
use crate::cache::keep;
use crate::cache::lookup::{lookup_collapsed, origin_headers, Found, Stored};
use crate::cache::plan::{Plan, Request, Status};
use crate::cache::settle;
use crate::config::route::Destination;
use crate::error::GatewayError;
use crate::exchange::{Answer, Exchange, Pending, Reply};
use crate::observe::otlp::{Kind, Value};
use crate::observe::tracing::Scope;
use crate::platform;
use crate::resilience::service::DEFAULT_TIMEOUT_MS;

/// On routes with `cache`: answers from the cache (HIT, STALE in `X-Cache`; 416 for a range
/// outside the body; 504 for `only-if-cached` with nothing usable), or leaves the plan for the
/// cache store stage.
pub struct CacheLookup;

impl Stage for CacheLookup {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let route = ex.route()?;
        let Some(policy) = &route.cache else {
            return Ok(Flow::Continue);
        };
        let request = Request {
            route: &route.name,
            method: &ex.ctx.method,
            host: &ex.ctx.host,
            path: ex.url.path(),
            query: ex.url.query(),
            headers: &ex.headers,
        };
        let caller = ex.cache_caller();
        let Some(plan) = Plan::new(policy, &request, caller) else {
            ex.ctx.cache = Some(Status::Bypass.as_str());
            return Ok(Flow::Continue);
        };
        // Waiters give up on another request's fill when their own origin call would end.
        let wait_ms = match (&route.destination, ex.call.as_ref()) {
            (Destination::Aggregate(fan_out), _) => fan_out.timeout_ms,
            (_, Some(call)) => call.timeout_ms,
            (_, None) => DEFAULT_TIMEOUT_MS,
        };
        let deadline_ms = platform::now_ms() + wait_ms as f64;
        let refresh_ms = ex.deployment.config.refresh_ms;
        let started = platform::now_ms();
        let span = ex.ctx.tracer.is_on().then(|| ex.ctx.tracer.new_id());
        let scope = Scope {
            tracer: &ex.ctx.tracer,
            parent: span,
        };
        let (found, fill) =
            lookup_collapsed(ex.env, ex.worker, &plan, refresh_ms, deadline_ms, scope).await;
        if ex.ctx.tracer.is_on() {
            let (outcome, tier) = match &found {
                Found::Serve { stored, .. } => ("found", stored.tier),
                Found::Forward {
                    stored: Some(stored),
                    ..
                } => ("revalidate", stored.tier),
                Found::Forward { .. } => ("miss", None),
                _ => ("refused", None),
            };
            let mut attributes = vec![("gateway.cache.lookup", Value::Text(outcome.into()))];
            if let Some(tier) = tier {
                attributes.push(("gateway.cache.tier", Value::Text(tier.as_str().into())));
            }
            ex.ctx.tracer.record(
                "cache lookup",
                Kind::Internal,
                started,
                None,
                span,
                attributes,
                None,
            );
        }
        match found {
            Found::Serve {
                stored,
                status,
                refresh,
            } => {
                ex.ctx.cache = Some(status.as_str());
                let answer = settle::answer(&plan, &stored.entry, platform::now_ms())?;
                if refresh {
                    refresh_in_background(ex, plan, stored)?;
                }
                Ok(Flow::Respond(Answer::Reply(Reply::composed(answer))))
            }
            Found::Unsatisfiable => Err(GatewayError::NotCached),
            Found::Forward { stored, validators } => {
                ex.upstream_headers = origin_headers(&ex.upstream_headers, &validators);
                ex.cache = Some(Pending { plan, stored, fill });
                Ok(Flow::Continue)
            }
        }
    }
}

/// Revalidates the stale entry just served, after the response, through the same service call
/// (weights, retries, breakers) with the service's own timeout. A fan-out's entry is not
/// refreshed in the background: it is fetched anew once its stale window is over.
fn refresh_in_background(
    ex: &Exchange<'_>,
    plan: Plan,
    stored: Stored,
) -> Result<(), GatewayError> {
    let Some(again) = ex.again()? else {
        return Ok(());
    };
    let deadline_ms = again.deadline_ms;
    keep::refresh_in_background(ex.worker, ex.env, plan, stored, deadline_ms, |validators| {
        again.send(origin_headers(&ex.upstream_headers, validators))
    });
    Ok(())
}
