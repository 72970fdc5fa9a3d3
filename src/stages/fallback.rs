//! Fallback: on the way out, a failed service or fan-out is answered with the route's static
//! response, marked `X-Gateway-Fallback`. It stands in for what the stages after it could
//! not get: the service's failure (unreachable, too slow, open circuit, a 5xx from its
//! origin) or a required backend's. What the gateway refuses itself passes through.

use super::{Outcome, Stage};
use crate::error::Fault;
use crate::exchange::{Answer, Body, Exchange, Reply};

/// Replaces an upstream failure by the route's `fallback`, when it has one.
pub struct Fallback;

impl Stage for Fallback {
    async fn response(&self, ex: &mut Exchange<'_>, outcome: Outcome) -> Outcome {
        let Ok(route) = ex.route() else {
            return outcome;
        };
        let Some(fallback) = &route.fallback else {
            return outcome;
        };
        match outcome {
            Err(error) if error.fault() == Fault::Upstream => {
                ex.ctx.record_error(&error);
            }
            Ok(Answer::Reply(Reply {
                status,
                body: Body::Origin(_),
                ..
            })) if status >= 500 => {}
            other => return other,
        }
        let (status, headers, body) = fallback.answer(&route.name);
        Ok(Answer::Reply(Reply {
            status,
            headers,
            body: Body::Bytes(body),
        }))
    }
}
