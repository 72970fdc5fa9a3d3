//! Calling an origin: one subrequest with a deadline, and relaying its response.
//!
//! The deadline covers the time until the origin's response headers arrive; the body is then
//! streamed to the client as it comes. When the deadline passes the subrequest is aborted (not
//! merely abandoned) so the origin connection is released.

pub mod headers;
pub mod target;
pub mod websocket;

use worker::js_sys;
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys;
use worker::{Headers, Response, ResponseBody};

use crate::error::GatewayError;

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
    let headers = packed(outbound.headers).map_err(|e| internal("building upstream headers", e))?;
    // Timeouts are whole milliseconds well below the timer's 2^31 limit (validated config).
    let promise = fetch_within(
        outbound.url,
        outbound.method,
        &headers,
        &body.unwrap_or(JsValue::UNDEFINED),
        outbound.timeout_ms as f64,
    )
    .map_err(|e| internal("building upstream request", e.into()))?;
    match JsFuture::from(promise).await {
        Ok(answer) if answer.is_null() => Err(GatewayError::UpstreamTimeout {
            service: outbound.service.to_string(),
            timeout_ms: outbound.timeout_ms,
        }),
        Ok(answer) => answer
            .dyn_into::<web_sys::Response>()
            .map(Response::from)
            .map_err(|e| internal("reading the upstream response", e.into())),
        Err(error) => Err(GatewayError::UpstreamUnreachable {
            service: outbound.service.to_string(),
            cause: worker::Error::from(error).to_string(),
        }),
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

// Header maps cross between the runtime and Wasm as one string each way: names and values
// joined by NUL, which neither may contain. Copying them one call per header (two strings
// each) costs a boundary crossing per field in each direction.
//
// The upstream call is one call too. Building the request, the abort controller, the timer
// and the fetch from Wasm took fifteen crossings, two closures and a `select` per request;
// here the response resolves the promise, a passed deadline resolves it to `null` (the
// subrequest aborted, not merely abandoned, so the origin connection is released), and any
// other failure rejects it. The timer is cleared once the response headers are in, so the
// body streams on without a deadline. `get_text` shares the deadline but keeps it over the
// whole body, which it reads.
#[wasm_bindgen(inline_js = r#"
function fetch_until(request, ms, read) {
  const controller = new AbortController();
  let late = false;
  const timer = setTimeout(() => { late = true; controller.abort(); }, ms);
  const answer = fetch(request, { signal: controller.signal });
  return (read === undefined ? answer : answer.then(read)).then(
    (response) => { clearTimeout(timer); return response; },
    (error) => { clearTimeout(timer); if (late) return null; throw error; },
  );
}
export function fetch_within(url, method, packed, body, ms) {
  const request = new Request(url, { method, headers: unpack_headers(packed), body, redirect: "manual" });
  return fetch_until(request, ms);
}
export function get_text(url, ms) {
  return fetch_until(url, ms, async (response) =>
    [response.status, response.headers.get("cache-control") ?? "", await response.text()]);
}
export function pack_headers(headers) {
  let packed = "";
  for (const [name, value] of headers) packed += name + "\0" + value + "\0";
  return packed;
}
export function unpack_headers(packed) {
  const headers = new Headers();
  const parts = packed.split("\0");
  for (let i = 0; i + 1 < parts.length; i += 2) headers.append(parts[i], parts[i + 1]);
  return headers;
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn fetch_within(
        url: &str,
        method: &str,
        packed_headers: &str,
        body: &JsValue,
        ms: f64,
    ) -> Result<js_sys::Promise, JsValue>;
    fn get_text(url: &str, ms: f64) -> js_sys::Promise;
    fn pack_headers(headers: &web_sys::Headers) -> String;
    #[wasm_bindgen(catch)]
    fn unpack_headers(packed: &str) -> Result<web_sys::Headers, JsValue>;
}

/// What a GET answered, read whole: status, `Cache-Control` (empty when absent) and body.
#[derive(Debug)]
pub struct TextAnswer {
    pub status: u16,
    pub cache_control: String,
    pub text: String,
}

/// GETs `url` (following redirects) and reads its whole body within `ms`; `None` when the
/// deadline passes first, headers or body, and the request is aborted then rather than left
/// open until the client's request ends. One call into JavaScript.
pub async fn get_text_within(url: &str, ms: u64) -> Option<Result<TextAnswer, String>> {
    // Deadlines are whole milliseconds well below the timer's 2^31 limit.
    let answer = match JsFuture::from(get_text(url, ms as f64)).await {
        Ok(answer) if answer.is_null() => return None,
        Ok(answer) => answer.unchecked_into::<js_sys::Array>(),
        Err(error) => return Some(Err(worker::Error::from(error).to_string())),
    };
    let text = |i: u32| answer.get(i).as_string().unwrap_or_default();
    Some(Ok(TextAnswer {
        status: answer.get(0).as_f64().unwrap_or_default() as u16,
        cache_control: text(1),
        text: text(2),
    }))
}

/// Name/value pairs (lower-case names) of a platform header map.
pub fn entries(headers: &Headers) -> Vec<(String, String)> {
    unpack(&pack_headers(&headers.0))
}

pub(crate) fn to_headers(pairs: &[(String, String)]) -> worker::Result<Headers> {
    unpack_headers(&packed(pairs)?)
        .map(Headers)
        .map_err(worker::Error::from)
}

/// `pairs` packed for [`unpack_headers`], unless a name or value contains NUL.
fn packed(pairs: &[(String, String)]) -> worker::Result<String> {
    if pairs
        .iter()
        .any(|(n, v)| n.contains('\0') || v.contains('\0'))
    {
        return Err(worker::Error::RustError("a header contains NUL".into()));
    }
    Ok(pack(pairs))
}

/// `name\0value\0…` for [`unpack_headers`].
fn pack(pairs: &[(String, String)]) -> String {
    let mut packed = String::with_capacity(pairs.iter().map(|(n, v)| n.len() + v.len() + 2).sum());
    for (name, value) in pairs {
        packed.push_str(name);
        packed.push('\0');
        packed.push_str(value);
        packed.push('\0');
    }
    packed
}

/// The pairs of a string from [`pack_headers`].
fn unpack(packed: &str) -> Vec<(String, String)> {
    let mut parts = packed.split('\0');
    let mut pairs = Vec::new();
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        pairs.push((name.to_string(), value.to_string()));
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::headers::pairs;

    #[test]
    fn packed_headers_round_trip() {
        let original = pairs(&[
            ("content-type", "application/json"),
            ("set-cookie", "a=1; Path=/"),
            ("set-cookie", "b=2"),
            ("x-empty", ""),
        ]);
        assert_eq!(unpack(&pack(&original)), original);
        assert_eq!(unpack(""), Vec::<(String, String)>::new());
    }
}
