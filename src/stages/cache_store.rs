//! Cache store: on the way out, the origin's answer is settled against what the lookup found:
//! a copy kept when it may be stored (MISS), the stored entry refreshed by a 304
//! (REVALIDATED) or standing in for a failed origin (`stale-if-error`, STALE), the client's
//! own validators answered with a 304, and BYPASS for what may not be stored.

use super::{Outcome, Stage};
use crate::cache::keep::{self, Answered};
use crate::cache::settle::{self, settle, Origin, Settled};
use crate::error::GatewayError;
use crate::exchange::{Answer, Body, Exchange, Reply};
use crate::platform;

/// Settles the origin's answer on routes whose lookup asked the origin.
pub struct CacheStore;

impl Stage for CacheStore {
    async fn response(&self, ex: &mut Exchange<'_>, outcome: Outcome) -> Outcome {
        let Some((plan, stored)) = ex.cache.take() else {
            return outcome;
        };
        let origin = match &outcome {
            Ok(Answer::Reply(reply)) => Origin::Answered {
                status: reply.status,
                headers: &reply.headers,
            },
            Ok(Answer::Ready(_)) => return outcome,
            Err(_) => Origin::Failed,
        };
        let (sent_ms, received_ms) = (ex.sent_ms, ex.received_ms);
        let (status, keep) = match settle(&plan, stored, origin, sent_ms, received_ms) {
            Settled::Failed => return outcome,
            Settled::Relay { status, keep } => (status, keep),
            Settled::FromStore {
                stored,
                status,
                keep,
            } => {
                ex.ctx.cache = Some(status.as_str());
                let answer = settle::answer(&plan, &stored.entry, platform::now_ms());
                if keep {
                    let env = ex.env.clone();
                    ex.worker.wait_until(keep::keep_entry(env, plan, stored));
                }
                return Ok(Answer::Reply(Reply::composed(answer)));
            }
        };
        ex.ctx.cache = Some(status.as_str());
        let Ok(Answer::Reply(mut reply)) = outcome else {
            return outcome;
        };
        if let (Some(freshness), Body::Origin(response)) = (keep, &mut reply.body) {
            let (status, headers) = (reply.status, reply.headers.clone());
            let answered = Answered {
                status,
                headers,
                freshness,
                sent_ms,
                received_ms,
            };
            keep::keep_copy(ex.worker, ex.env, plan.clone(), response, answered)
                .map_err(|cause| GatewayError::Internal { cause })?;
        }
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
