//! A minimal pass-through Worker, built exactly like the gateway, for benchmarks: it forwards
//! each request to the `ORIGIN` variable's host with the same path, method, headers and body.
//!
//! Below `/rebuilt/` it does, in addition, the least that any gateway able to rewrite headers
//! must do, and nothing else: it reads the request's headers into Wasm memory and builds the
//! upstream request's headers from them, and answers with a new response whose headers were
//! read from the origin's and written back. The difference between the two is what that
//! costs in the runtime, apart from any gateway logic.

use worker::{
    event, Context, Env, Fetch, Headers, Request, RequestInit, Response, ResponseBody, Result,
};

const REBUILT: &str = "/rebuilt";

#[event(fetch)]
pub async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let origin = env.var("ORIGIN")?.to_string();
    let url = req.url()?;
    let (path, rebuild) = match url.path().strip_prefix(REBUILT) {
        Some(rest) => (rest, true),
        None => (url.path(), false),
    };
    let target = match url.query() {
        Some(query) => format!("{origin}{path}?{query}"),
        None => format!("{origin}{path}"),
    };
    let headers = if rebuild {
        copied(req.headers())?
    } else {
        req.headers().clone()
    };
    let mut init = RequestInit::new();
    init.with_method(req.method()).with_headers(headers);
    if let Some(body) = req.inner().body() {
        init.with_body(Some(body.into()));
    }
    let response = Fetch::Request(Request::new_with_init(&target, &init)?)
        .send()
        .await?;
    if !rebuild {
        return Ok(response);
    }
    let headers = copied(response.headers())?;
    let status = response.status_code();
    let body = match response.body() {
        ResponseBody::Stream(stream) => ResponseBody::Stream(stream.clone()),
        ResponseBody::Body(bytes) => ResponseBody::Body(bytes.clone()),
        ResponseBody::Empty => ResponseBody::Empty,
    };
    Ok(Response::builder()
        .with_status(status)
        .with_headers(headers)
        .body(body))
}

/// New headers with every field read into Wasm strings and written back.
fn copied(from: &Headers) -> Result<Headers> {
    let pairs: Vec<(String, String)> = from.entries().collect();
    let headers = Headers::new();
    for (name, value) in &pairs {
        headers.append(name, value)?;
    }
    Ok(headers)
}
