//! A minimal pass-through Worker, built exactly like the gateway, for benchmarks: it forwards
//! each request to the `ORIGIN` variable's host with the same path, method, headers and body.

use worker::{event, Context, Env, Fetch, Request, RequestInit, Response, Result};

#[event(fetch)]
pub async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let origin = env.var("ORIGIN")?.to_string();
    let url = req.url()?;
    let target = match url.query() {
        Some(query) => format!("{origin}{}?{query}", url.path()),
        None => format!("{origin}{}", url.path()),
    };
    let mut init = RequestInit::new();
    init.with_method(req.method())
        .with_headers(req.headers().clone());
    if let Some(body) = req.inner().body() {
        init.with_body(Some(body.into()));
    }
    Fetch::Request(Request::new_with_init(&target, &init)?)
        .send()
        .await
}
