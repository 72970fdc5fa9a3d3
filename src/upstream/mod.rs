//! Calling an origin: one subrequest with a deadline, and relaying its response.
//!
//! The deadline covers the time until the origin's response headers arrive; the body is then
//! streamed to the client as it comes. When the deadline passes the subrequest is aborted (not
//! merely abandoned) so the origin connection is released.

pub mod headers;
pub mod target;
pub mod websocket;

use worker::wasm_bindgen::JsValue;
use worker::{
    AbortController, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response,
    ResponseBody,
};

use crate::error::GatewayError;
use crate::platform;

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
pub async fn send(
    outbound: &Outbound<'_>,
    body: Option<JsValue>,
) -> Result<Response, GatewayError> {
    let internal = |what: &str, e: worker::Error| GatewayError::Internal {
        cause: format!("{what}: {e}"),
    };
    let headers =
        to_headers(outbound.headers).map_err(|e| internal("building upstream headers", e))?;
    let mut init = RequestInit::new();
    init.with_method(Method::from(outbound.method.to_string()))
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(body);
    let request = Request::new_with_init(outbound.url, &init)
        .map_err(|e| internal("building upstream request", e))?;

    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let outcome =
        platform::with_deadline(fetch.send_with_signal(&signal), outbound.timeout_ms).await;
    match outcome {
        Some(Ok(response)) => Ok(response),
        Some(Err(error)) => Err(GatewayError::UpstreamUnreachable {
            service: outbound.service.to_string(),
            cause: error.to_string(),
        }),
        None => {
            controller.abort();
            Err(GatewayError::UpstreamTimeout {
                service: outbound.service.to_string(),
                timeout_ms: outbound.timeout_ms,
            })
        }
    }
}

/// The client's response: the origin's status and streamed body under the given headers.
pub fn relay(upstream: &Response, headers: &[(String, String)]) -> Result<Response, GatewayError> {
    let status = upstream.status_code();
    if !(200..=599).contains(&status) {
        return Err(GatewayError::Internal {
            cause: format!("upstream answered with status {status}, which cannot be relayed"),
        });
    }
    let headers = to_headers(headers).map_err(|e| GatewayError::Internal {
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
    let headers = to_headers(headers).map_err(internal)?;
    let builder = Response::builder()
        .with_status(status)
        .with_headers(headers);
    Ok(match body {
        // Not `from_bytes`: that would replace the stored Content-Type.
        Some(bytes) => builder.body(ResponseBody::Body(bytes)),
        None => builder.empty(),
    })
}

/// Name/value pairs (lower-case names) of a platform header map.
pub fn entries(headers: &Headers) -> Vec<(String, String)> {
    headers.entries().collect()
}

pub(crate) fn to_headers(pairs: &[(String, String)]) -> worker::Result<Headers> {
    let headers = Headers::new();
    for (name, value) in pairs {
        headers.append(name, value)?;
    }
    Ok(headers)
}
