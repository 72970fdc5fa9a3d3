//! WebSocket: on a route that allows it, an upgrade is a handshake with the service, never
//! cached and never replaced by a fallback; once the service switches protocols the client
//! holds the upstream socket, and frames no longer pass through the gateway's code.

use super::{Flow, Stage};
use crate::error::GatewayError;
use crate::exchange::{Answer, Body, Exchange, Reply};
use crate::platform;
use crate::resilience;
use crate::upstream::websocket;

/// Passes upgrades through to the service (101), or relays its refusal; refuses handshakes
/// RFC 6455 does not accept (400, or 426 for another protocol version).
pub struct WebSocket;

impl Stage for WebSocket {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let route = ex.route()?;
        if !route.websocket || !websocket::is_upgrade(&ex.ctx.method, &ex.headers) {
            return Ok(Flow::Continue);
        }
        websocket::check_handshake(&ex.headers)?;
        let call = ex.call()?;
        let service = route.service(&call.service)?;
        let handshake = websocket::handshake_headers(&ex.upstream_headers);
        let sent_at = platform::now_ms();
        let request = call.request(
            service,
            "GET",
            ex.url.query(),
            &handshake,
            sent_at,
            (&ex.ctx.tracer, ex.env),
        );
        let response = resilience::call(&request, None).await?;
        ex.ctx.upstream_ms = Some(platform::now_ms() - sent_at);
        ex.ctx.upstream_status = Some(response.status_code());
        let reply = if websocket::switched(&response) {
            Reply {
                status: 101,
                headers: websocket::upstream_headers(&response),
                body: Body::WebSocket(response),
            }
        } else {
            Reply::relayed(response)
        };
        Ok(Flow::Respond(Answer::Reply(reply)))
    }
}
