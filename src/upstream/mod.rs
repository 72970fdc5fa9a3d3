//! Calling an origin: one subrequest with a deadline, and the responses the client gets.
//!
//! The deadline covers the time until the origin's response headers arrive; the body is then
//! streamed to the client as it comes. When the deadline passes the subrequest is aborted (not
//! merely abandoned) so the origin connection is released.

pub mod config;
pub mod headers;
pub mod target;
pub mod websocket;

use worker::{Response, ResponseBody};

use crate::error::GatewayError;
use crate::platform::fetch::{self, Sent, Upload};

/// One request to send upstream.
#[derive(Debug)]
pub struct Outbound<'a> {
    pub service: &'a str,
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub timeout_ms: u64,
}

/// Sends `outbound` with `body` streamed through, within the service's timeout.
/// Redirects are returned to the client, never followed by the gateway.
pub async fn send(outbound: &Outbound<'_>, body: Option<Upload>) -> Result<Response, GatewayError> {
    let sent = fetch::send(
        outbound.url,
        outbound.method,
        outbound.headers,
        body,
        outbound.timeout_ms,
    )
    .await
    .map_err(|cause| GatewayError::Internal {
        cause: format!("upstream request: {cause}"),
    })?;
    match sent {
        Sent::Answered(response) => Ok(response),
        Sent::TimedOut => Err(GatewayError::UpstreamTimeout {
            service: outbound.service.to_string(),
            timeout_ms: outbound.timeout_ms,
        }),
        Sent::BodyIncomplete => Err(GatewayError::BodyIncomplete {
            timeout_ms: outbound.timeout_ms,
        }),
        Sent::Failed(cause) => Err(GatewayError::UpstreamUnreachable {
            service: outbound.service.to_string(),
            cause,
        }),
    }
}

/// The client's response: `status` and the origin's streamed body under the given headers.
pub fn relay(
    status: u16,
    upstream: &Response,
    headers: &[(String, String)],
) -> Result<Response, GatewayError> {
    if !(200..=599).contains(&status) {
        return Err(GatewayError::Internal {
            cause: format!("upstream answered with status {status}, which cannot be relayed"),
        });
    }
    let headers = fetch::to_headers(headers).map_err(|e| GatewayError::Internal {
        cause: format!("building response headers: {e}"),
    })?;
    Ok(Response::builder()
        .with_status(status)
        .with_headers(headers)
        .body(upstream.body().clone()))
}

/// A response the gateway composes itself (from the cache, or a 304): `body` `None` for none.
pub fn respond(
    status: u16,
    headers: &[(String, String)],
    body: Option<Vec<u8>>,
) -> Result<Response, GatewayError> {
    let internal = |e: worker::Error| GatewayError::Internal {
        cause: format!("building a response: {e}"),
    };
    let headers = fetch::to_headers(headers).map_err(internal)?;
    let builder = Response::builder()
        .with_status(status)
        .with_headers(headers);
    Ok(match body {
        // Not `from_bytes`: that would replace the stored Content-Type.
        Some(bytes) => builder.body(ResponseBody::Body(bytes)),
        None => builder.empty(),
    })
}
