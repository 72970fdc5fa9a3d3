//! Cache store: on the way out, the origin's answer (or a fan-out's) is settled against what
//! the lookup found: a copy kept when it may be stored (MISS), the stored entry refreshed by a
//! 304 (REVALIDATED) or standing in for a failed origin (`stale-if-error`, STALE), the client's
//! own validators answered with a 304, and BYPASS for what may not be stored. It sits above the
//! fan-out, which it judges by the caching headers of the backend answers it is made of.

use super::{Outcome, Stage};
use crate::cache::fill::Fill;
use crate::cache::keep::{self, Answered};
use crate::cache::plan::Plan;
use crate::cache::settle::{self, settle, Origin, Settled};
use crate::error::GatewayError;
use crate::exchange::{Answer, Body, Exchange, Pending, Reply};
use crate::platform;

/// Settles the answer on routes whose lookup asked the origin.
pub struct CacheStore;

impl Stage for CacheStore {
    async fn response(&self, ex: &mut Exchange<'_>, mut outcome: Outcome) -> Outcome {
        let Some(Pending { plan, stored, fill }) = ex.cache.take() else {
            return outcome;
        };
        let (sent_ms, received_ms) = (ex.sent_ms, ex.received_ms);
        if let (Ok(Answer::Reply(reply)), Some((parts, complete))) =
            (&mut outcome, ex.composed.take())
        {
            let headers = std::mem::take(&mut reply.headers);
            reply.headers =
                settle::composed(&plan, headers, &parts, complete, sent_ms, received_ms);
        }
        let origin = match &outcome {
            Ok(Answer::Reply(reply)) => Origin::Answered {
                status: reply.status,
                headers: &reply.headers,
            },
            Ok(Answer::Ready(_)) => return outcome,
            Err(_) => Origin::Failed,
        };
        let (status, keep) = match settle(&plan, stored, origin, sent_ms, received_ms) {
            Settled::Failed => return outcome,
            Settled::Relay { status, keep } => (status, keep),
            Settled::FromStore {
                stored,
                status,
                keep,
            } => {
                ex.ctx.cache = Some(status.as_str());
                let answer = settle::answer(&plan, &stored.entry, platform::now_ms())?;
                if keep {
                    let env = ex.env.clone();
                    ex.worker
                        .wait_until(keep::keep_entry(env, plan, *stored, fill));
                }
                return Ok(Answer::Reply(Reply::composed(answer)));
            }
        };
        ex.ctx.cache = Some(status.as_str());
        let Ok(Answer::Reply(mut reply)) = outcome else {
            return outcome;
        };
        if reply.status == 206 && keep.is_none() {
            fill_whole(ex, plan.clone(), fill)?;
        } else if keep.is_none() {
            if let Some(fill) = fill {
                fill.pass();
            }
        } else if let Some(freshness) = keep {
            let answered = Answered {
                status: reply.status,
                headers: reply.headers.clone(),
                freshness,
                sent_ms,
                received_ms,
            };
            match &mut reply.body {
                Body::Origin(response) => {
                    keep::keep_copy(ex.worker, ex.env, plan.clone(), response, answered, fill)
                        .map_err(|cause| GatewayError::Internal { cause })?
                }
                Body::Bytes(bytes) => {
                    let body = bytes.clone();
                    keep::keep_composed(ex.worker, ex.env, plan.clone(), body, answered, fill)
                }
                Body::Empty | Body::WebSocket(_) => {}
            }
        }
        reply.headers = settle::for_client(&reply.headers);
        // The client's own validators were not sent upstream: the gateway answers them.
        if settle::satisfies_client(&plan, reply.status, &reply.headers) {
            reply
                .headers
                .retain(|(name, _)| !name.starts_with("content-"));
            reply.status = 304;
            reply.body = Body::Empty;
        }
        Ok(Answer::Reply(reply))
    }
}

/// After a range relayed from the origin (a 206 is not stored), the whole response is fetched
/// in the background, without the client's `Range`, and kept when it may be, so that later
/// ranges are answered from the cache.
fn fill_whole(ex: &Exchange<'_>, plan: Plan, fill: Option<Fill>) -> Result<(), GatewayError> {
    let Some(again) = ex.again()? else {
        return Ok(());
    };
    let headers: Vec<(String, String)> = ex
        .upstream_headers
        .iter()
        .filter(|(name, _)| name != "range" && name != "if-range")
        .cloned()
        .collect();
    let deadline_ms = again.deadline_ms;
    keep::fill_in_background(ex.worker, ex.env, plan, fill, deadline_ms, |_| {
        again.send(headers)
    });
    Ok(())
}
