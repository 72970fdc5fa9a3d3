//! Forwarding: the headers every upstream call of this request carries, computed once (no
//! I/O): hop-by-hop headers dropped, the route's request rules applied, and the forwarding,
//! request-id and trace headers written by the gateway.

use super::{Flow, Stage};
use crate::error::GatewayError;
use crate::exchange::Exchange;
use crate::http::header;
use crate::upstream::headers::{for_upstream, Forwarding as Forwarded};

/// Prepares the upstream headers from the client's (as authentication left them).
pub struct Forwarding;

impl Stage for Forwarding {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let route = ex.route()?;
        let traceparent = ex.ctx.trace.upstream_header();
        let forwarded = Forwarded {
            client_ip: header(&ex.headers, "cf-connecting-ip"),
            proto: ex.url.scheme(),
            host: header(&ex.headers, "host").unwrap_or(&ex.ctx.host),
            request_id: &ex.ctx.request_id,
            traceparent: &traceparent,
            tracestate: ex.ctx.trace.tracestate.as_deref(),
        };
        let incoming = ex.authenticated_headers.as_deref().unwrap_or(&ex.headers);
        ex.upstream_headers = for_upstream(incoming, &forwarded, &route.request_headers);
        Ok(Flow::Continue)
    }
}
