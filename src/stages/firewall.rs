//! Firewall: the route's web application firewall reads the request — head, path, query,
//! cookies and, within its limit, the body — after the edge security checks and before
//! authentication, so an attack costs no key lookup, limit or origin call. What it found goes
//! to the access log and the metrics; in `block` mode a request at the threshold is refused.

use super::{Flow, Stage};
use crate::error::GatewayError;
use crate::exchange::Exchange;
use crate::firewall::inspect::{inspect, Request};
use crate::firewall::targets::{body_kind, BodyKind};
use crate::http::header;

/// Refuses (403 `waf-blocked`, naming the rules) a request whose anomaly score reaches the
/// route's threshold, or that a custom `block` rule matches; lets every other request on.
pub struct Firewall;

/// How long the firewall waits for a body it inspects.
const BODY_MS: u64 = 10_000;

impl Stage for Firewall {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let route = ex.route()?;
        let Some(firewall) = route.firewall.clone() else {
            return Ok(Flow::Continue);
        };
        if firewall.reads_cf() {
            ex.load_cf();
        }
        let length = header(&ex.headers, "content-length").map(str::trim);
        let has_body = !matches!(ex.ctx.method.as_str(), "GET" | "HEAD")
            && (length.is_some_and(|l| l != "0")
                || header(&ex.headers, "transfer-encoding").is_some());
        let readable = body_kind(header(&ex.headers, "content-type")) != BodyKind::Opaque;
        let declared = length.and_then(|v| v.parse::<u64>().ok());
        let mut too_large = false;
        if has_body && readable && firewall.body_bytes > 0 {
            if declared.is_some_and(|n| n > firewall.body_bytes) {
                too_large = true;
            } else {
                // The bytes read are the ones the origin gets: nothing is lost.
                ex.read_body(firewall.body_bytes, BODY_MS).await?;
            }
        }
        let verdict = inspect(
            &firewall,
            &Request {
                method: &ex.ctx.method,
                path: ex.url.path(),
                query: ex.url.query(),
                headers: &ex.headers,
                body: ex.body.as_deref(),
                body_too_large: too_large,
                ip: header(&ex.headers, "cf-connecting-ip"),
                cf: ex.cf.as_ref().and_then(Option::as_ref),
            },
        );
        let refused = verdict.refuse.then(|| GatewayError::FirewallBlocked {
            rules: verdict.rule_ids(),
            score: verdict.score,
        });
        if verdict.noteworthy() {
            ex.ctx.firewall = Some(verdict);
        }
        match refused {
            Some(error) => Err(error),
            None => Ok(Flow::Continue),
        }
    }
}
