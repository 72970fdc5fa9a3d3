//! Edge security: the route's IP rules, size limits and CORS policy, before authentication, so
//! a refused address or origin costs nothing more. Preflights carry no credentials and are
//! answered here.

use super::{Flow, Stage};
use crate::error::GatewayError;
use crate::exchange::{Answer, Exchange};
use crate::http::header;
use crate::security::cors;
use crate::security::limits::{self, MAX_HEADERS, MAX_HEADER_BYTES};
use crate::upstream;

/// Refuses an address (403), oversized headers (431) or body (413, 411 without a length), or a
/// cross-origin request the route does not allow (403); answers preflights (204) and notes
/// the CORS headers of allowed cross-origin requests, which errors carry too.
pub struct EdgeSecurity;

impl Stage for EdgeSecurity {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let route = ex.route()?;
        let security = &route.security;
        if let Some(ip) = &security.ip {
            if !ip.admits(header(&ex.headers, "cf-connecting-ip")) {
                return Err(GatewayError::IpDenied);
            }
        }
        if let Some(route_limits) = security.limits {
            limits::check_headers(
                &ex.headers,
                route_limits.max_header_bytes.unwrap_or(MAX_HEADER_BYTES),
                route_limits.max_headers.unwrap_or(MAX_HEADERS),
            )?;
            if let Some(max) = route_limits.max_body_bytes {
                limits::check_body(&ex.headers, max)?;
            }
        }
        let (Some(policy), Some(origin)) = (&security.cors, header(&ex.headers, "origin")) else {
            return Ok(Flow::Continue);
        };
        if let Some(asked) = cors::preflight_method(&ex.ctx.method, &ex.headers) {
            let methods: Vec<&str> = route.methods.names().collect();
            let requested = header(&ex.headers, "access-control-request-headers");
            let mut answer = policy
                .preflight(origin, asked.trim(), requested, &methods)
                .map_err(|reason| GatewayError::CorsRefused { reason })?;
            answer.push(("x-request-id".to_string(), ex.ctx.request_id.clone()));
            let response = upstream::respond(204, &answer, None)?;
            return Ok(Flow::Respond(Answer::Ready(response)));
        }
        if !policy.allows_origin(origin) {
            return Err(GatewayError::CorsRefused {
                reason: format!("origin '{origin}' is not allowed"),
            });
        }
        ex.ctx.cors_headers = policy.response_headers(origin);
        Ok(Flow::Continue)
    }
}
