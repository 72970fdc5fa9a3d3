//! Cache lookup: after the rate limit (a cached answer still counts against it) and before the
//! origin. A usable entry answers here (HIT, STALE, or a 304 for the client's validators);
//! otherwise the origin will be asked, conditionally when the stored entry has validators,
//! and the cache store stage settles its answer.

use super::{Flow, Stage};
use crate::cache::keep;
use crate::cache::lookup::{lookup, origin_headers, Found, Stored};
use crate::cache::plan::{Caller, Plan, Request, Status};
use crate::cache::settle;
use crate::error::GatewayError;
use crate::exchange::{call_later, Answer, Exchange, Reply};
use crate::platform;

/// On routes with `cache`: answers from the cache (HIT, STALE in `X-Cache`; 504 for
/// `only-if-cached` with nothing usable), or leaves the plan for the cache store stage.
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
        let caller = ex.principal.as_ref().map(|p| Caller {
            scheme: p.scheme,
            issuer: p.issuer.as_deref(),
            subject: p.subject.as_deref(),
        });
        let Some(plan) = Plan::new(policy, &request, caller) else {
            ex.ctx.cache = Some(Status::Bypass.as_str());
            return Ok(Flow::Continue);
        };
        let refresh_ms = ex.deployment.config.refresh_ms;
        match lookup(ex.env, ex.worker, &plan, platform::now_ms(), refresh_ms).await {
            Found::Serve {
                stored,
                status,
                refresh,
            } => {
                ex.ctx.cache = Some(status.as_str());
                let answer = settle::answer(&plan, &stored.entry, platform::now_ms());
                if refresh {
                    refresh_in_background(ex, plan, stored)?;
                }
                Ok(Flow::Respond(Answer::Reply(Reply::composed(answer))))
            }
            Found::Unsatisfiable => Err(GatewayError::NotCached),
            Found::Forward { stored, validators } => {
                ex.upstream_headers = origin_headers(&ex.upstream_headers, &validators);
                ex.cache = Some((plan, stored));
                Ok(Flow::Continue)
            }
        }
    }
}

/// Revalidates the stale entry just served, after the response, through the same service call
/// (weights, retries, breakers) with the service's own timeout.
fn refresh_in_background(
    ex: &Exchange<'_>,
    plan: Plan,
    stored: Stored,
) -> Result<(), GatewayError> {
    let route = ex.route()?;
    let call = ex.call()?;
    let deadline_ms = platform::now_ms() + route.service(&call.service)?.timeout_ms as f64;
    keep::refresh_in_background(ex.worker, ex.env, plan, stored, deadline_ms, |validators| {
        let headers = origin_headers(&ex.upstream_headers, validators);
        let query = ex.url.query().map(str::to_string);
        call_later(
            route.shared_gateway(),
            call.clone(),
            query,
            headers,
            deadline_ms,
        )
    });
    Ok(())
}
