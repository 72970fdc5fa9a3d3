//! Subrequests and the header maps that cross with them: each a single call into JavaScript
//! (see [`super::js`]).

use worker::js_sys;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys;
use worker::{Headers, Response, ResponseBody};

use super::js;

/// A request body streamed through to the origin: the client's stream and, when the client
/// declared it, its length (so the origin gets a `Content-Length` too).
pub struct Upload {
    pub stream: worker::web_sys::ReadableStream,
    pub length: Option<u64>,
}

/// How a subrequest with a deadline ended.
pub enum Sent {
    /// The response headers arrived in time; the body streams on without a deadline.
    Answered(Response),
    /// The deadline passed first and the subrequest was aborted.
    TimedOut,
    /// The client's body had not arrived in full when the deadline passed, or the client went
    /// away before it did: the origin was waiting for the client, not the other way round.
    BodyIncomplete,
    /// The runtime refused or failed the request (refused, reset, DNS, TLS), with its message.
    Failed(String),
}

/// Sends `method url` with `headers` and `body` streamed through (watched, so that a client
/// that never finishes it is told apart from a slow origin), within `timeout_ms` for the
/// response headers. Redirects are returned, never followed. `Err` when the request cannot
/// even be built (a header with NUL, or one the runtime refuses) or the runtime answers with
/// something other than a response.
pub async fn send(
    url: &str,
    method: &str,
    headers: &[(String, String)],
    body: Option<Upload>,
    timeout_ms: u64,
) -> Result<Sent, String> {
    let packed = packed(headers)?;
    let (stream, length) = match body {
        Some(upload) => (
            JsValue::from(upload.stream),
            upload.length.map(|n| n as f64),
        ),
        None => (JsValue::UNDEFINED, None),
    };
    // Timeouts are whole milliseconds well below the timer's 2^31 limit (validated config);
    // lengths are below 2^53 (a route's body limit, or what the runtime accepted).
    let promise = js::fetch_within(url, method, &packed, &stream, length, timeout_ms as f64)
        .map_err(|e| worker::Error::from(e).to_string())?;
    match JsFuture::from(promise).await {
        Ok(answer) if answer.is_null() => Ok(Sent::TimedOut),
        Ok(answer) if answer.as_f64() == Some(0.0) => Ok(Sent::BodyIncomplete),
        Ok(answer) => answer
            .dyn_into::<web_sys::Response>()
            .map(|response| Sent::Answered(Response::from(response)))
            .map_err(|e| format!("reading the response: {}", worker::Error::from(e))),
        Err(error) => Ok(Sent::Failed(worker::Error::from(error).to_string())),
    }
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
/// open until the client's request ends.
pub async fn get_text_within(url: &str, ms: u64) -> Option<Result<TextAnswer, String>> {
    text_within(url, "GET", &[], None, ms).await
}

/// [`get_text_within`] for any method, with `headers` and a `body`.
pub async fn text_within(
    url: &str,
    method: &str,
    headers: &[(String, String)],
    body: Option<Vec<u8>>,
    ms: u64,
) -> Option<Result<TextAnswer, String>> {
    text_through(None, url, method, headers, body, ms).await
}

/// [`text_within`] through a service binding of `env` (another Worker), by its name.
pub async fn bound_text_within(
    (env, binding): (&worker::Env, &str),
    url: &str,
    method: &str,
    headers: &[(String, String)],
    body: Option<Vec<u8>>,
    ms: u64,
) -> Option<Result<TextAnswer, String>> {
    text_through(Some((env, binding)), url, method, headers, body, ms).await
}

async fn text_through(
    bound: Option<(&worker::Env, &str)>,
    url: &str,
    method: &str,
    headers: &[(String, String)],
    body: Option<Vec<u8>>,
    ms: u64,
) -> Option<Result<TextAnswer, String>> {
    let promise = match packed(headers).and_then(|packed| {
        // Deadlines are whole milliseconds well below the timer's 2^31 limit.
        match bound {
            None => js::text_within(url, method, &packed, body, ms as f64),
            Some((env, binding)) => {
                js::bound_text_within(env, binding, url, method, &packed, body, ms as f64)
            }
        }
        .map_err(|e| worker::Error::from(e).to_string())
    }) {
        Ok(promise) => promise,
        Err(error) => return Some(Err(error)),
    };
    let answer = match JsFuture::from(promise).await {
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

/// The whole body of `response`, read within `ms`; `None` when the deadline passes first. The
/// runtime reads the stream natively: chunk by chunk from Wasm under a timer future took about
/// sixteen crossings.
pub async fn read_within(response: &Response, ms: u64) -> Option<Result<Vec<u8>, String>> {
    let stream = match response.body() {
        ResponseBody::Empty => return Some(Ok(Vec::new())),
        ResponseBody::Body(bytes) => return Some(Ok(bytes.clone())),
        ResponseBody::Stream(stream) => stream,
    };
    read_stream_within(stream, ms).await
}

/// A body sent as `bytes`, which the gateway has read (and perhaps changed).
pub fn upload_of(bytes: Vec<u8>) -> Upload {
    let length = Some(bytes.len() as u64);
    Upload {
        stream: js::stream_of(bytes),
        length,
    }
}

/// The platform's `request.cf` object, as JSON (none outside the platform's edge).
pub fn cf_of(request: &worker::Request) -> Option<serde_json::Value> {
    let text = js::cf_of(request.inner());
    serde_json::from_str(&text)
        .ok()
        .filter(serde_json::Value::is_object)
}

/// The whole of a body `stream`, read within `ms`; `None` when the deadline passes first.
pub async fn read_stream_within(
    stream: &web_sys::ReadableStream,
    ms: u64,
) -> Option<Result<Vec<u8>, String>> {
    #[cfg(target_arch = "wasm32")]
    {
        // Deadlines are whole milliseconds well below the timer's 2^31 limit (validated config).
        match JsFuture::from(js::body_within(stream, ms as f64)).await {
            Ok(answer) if answer.is_null() => None,
            Ok(bytes) => Some(Ok(bytes.unchecked_into::<js_sys::Uint8Array>().to_vec())),
            Err(error) => Some(Err(worker::Error::from(error).to_string())),
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (stream, ms);
        Some(Err("response bodies exist only in the Worker".into()))
    }
}

/// Name/value pairs (lower-case names) of a platform header map.
pub fn entries(headers: &Headers) -> Vec<(String, String)> {
    unpack(&js::pack_headers(&headers.0))
}

/// A platform header map holding `pairs`, in order.
pub fn to_headers(pairs: &[(String, String)]) -> worker::Result<Headers> {
    let packed = packed(pairs).map_err(worker::Error::RustError)?;
    js::unpack_headers(&packed)
        .map(Headers)
        .map_err(worker::Error::from)
}

/// `pairs` packed for `unpack_headers`, unless a name or value contains NUL.
fn packed(pairs: &[(String, String)]) -> Result<String, String> {
    if pairs
        .iter()
        .any(|(n, v)| n.contains('\0') || v.contains('\0'))
    {
        return Err("a header contains NUL".into());
    }
    Ok(pack(pairs))
}

/// `name\0value\0…` for `unpack_headers`.
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

/// The pairs of a string from `pack_headers`.
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
    use crate::http::pairs;

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
        assert!(packed(&pairs(&[("x", "a\0b")])).is_err());
    }
}
