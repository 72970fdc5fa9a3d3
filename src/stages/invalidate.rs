//! Invalidate: on the way out, a successful unsafe request changes its resource, so what is
//! cached for its URL goes, here at once and elsewhere through KV (RFC 9111 §4.4).

use super::{Outcome, Stage};
use crate::cache::keep;
use crate::exchange::{Answer, Exchange};

/// Purges the URL of a `POST`, `PUT`, `PATCH` or `DELETE` the origin accepted (below 400),
/// when a cached route serves reads of it.
pub struct Invalidate;

impl Stage for Invalidate {
    async fn response(&self, ex: &mut Exchange<'_>, outcome: Outcome) -> Outcome {
        let accepted = matches!(&outcome, Ok(Answer::Reply(reply)) if reply.status < 400);
        let unsafe_method = matches!(ex.ctx.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
        if !accepted || !unsafe_method {
            return outcome;
        }
        let (host, path) = (ex.ctx.host.as_str(), ex.url.path());
        let cached_for_reads = ex.gateway().is_ok_and(|gateway| {
            gateway
                .routes
                .resolve("GET", host, path)
                .is_ok_and(|m| m.route.cache.is_some())
        });
        if cached_for_reads {
            keep::invalidate(ex.worker, ex.env, host, path);
        }
        outcome
    }
}
