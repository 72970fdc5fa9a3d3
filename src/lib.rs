//! An API gateway that runs as a Cloudflare Worker.
//!
//! The entry point reads the request once, runs the [`pipeline`], renders any error as
//! problem+json, and writes the access log. See `pipeline.rs` for the order of stages.
//!
//! The modules form layers, and imports only point down them (a host test, `tests/layers.rs`,
//! keeps it so): leaves (`platform`, `http`, `digest`, `reader`, `bindings`, `deployment`,
//! `memo`) → `error` → `observe` → `metrics` → the domains (`routing`, `upstream`,
//! `resilience`, `security`, `auth`, `cache`, `rate_limit`, `aggregate`, `changes`), each owning its
//! part of the route document → `config`, which composes them → the per-request `context`
//! and `exchange` → `openapi`, `admin` → `stages` → `pipeline` → this entry point.

pub mod admin;
pub mod aggregate;
pub mod auth;
pub mod bindings;
pub mod cache;
pub mod changes;
pub mod condition;
pub mod config;
pub mod context;
pub mod deployment;
pub mod digest;
pub mod error;
pub mod exchange;
pub mod firewall;
pub mod http;
pub mod memo;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod pipeline;
pub mod platform;
pub mod policy;
pub mod rate_limit;
pub mod reader;
pub mod resilience;
pub mod routing;
pub mod security;
pub mod stages;
pub mod upstream;

use worker::{event, Context, Env, Request, Response};

use context::RequestContext;
use error::GatewayError;
use exchange::Exchange;
use http::header;
use observe::tracing::Tracer;
use observe::{request_id, trace::TraceContext};

#[event(fetch)]
pub async fn fetch(req: Request, env: Env, worker_ctx: Context) -> worker::Result<Response> {
    let started_ms = platform::now_ms();
    platform::report_panics();
    let headers = platform::fetch::entries(req.headers());
    let request_id =
        request_id::accept_or_generate(header(&headers, "x-request-id"), platform::random_bytes());
    let trace = TraceContext::continue_or_start(
        header(&headers, "traceparent"),
        header(&headers, "tracestate"),
        platform::random_bytes(),
    );
    let mut ctx = RequestContext::new(request_id, trace, started_ms);
    ctx.method = req.method().to_string();
    let deployment = deployment::get(&env);
    if deployment.tracing.is_some() {
        ctx.tracer = Tracer::recording(&ctx.trace);
    }

    let url = req.url().map_err(|e| e.to_string()).and_then(|url| {
        // `Host: user@h` parses, but a Host never carries userinfo (RFC 9110 §7.2).
        match url.username().is_empty() && url.password().is_none() {
            true => Ok(url),
            false => Err(format!("the Host carries userinfo: {url}")),
        }
    });
    let (outcome, mut ctx) = match url {
        Ok(url) => {
            ctx.host = url.host_str().unwrap_or_default().to_ascii_lowercase();
            ctx.path = url.path().to_string();
            let mut exchange = Exchange::new(&env, &worker_ctx, req, url, headers, ctx);
            let outcome = pipeline::run(&mut exchange).await;
            (outcome, exchange.ctx)
        }
        // The runtime accepts some URLs the URL standard refuses (a port above 65535, a host
        // with a space): the client's mistake, answered before any stage runs.
        Err(e) => {
            let mut cause = format!("request URL unreadable: {e}");
            truncate(&mut cause, 512);
            (Err(GatewayError::InvalidUrl { cause }), ctx)
        }
    };
    let response = match outcome {
        Ok(response) => response,
        Err(error) => {
            ctx.record_error(&error);
            let response = render_problem(&error, &ctx.request_id)?;
            for (name, value) in &ctx.cors_headers {
                response.headers().append(name, value)?;
            }
            response
        }
    };
    ctx.status = response.status_code();
    let finished_ms = platform::now_ms();
    if let Some(tracing) = &deployment.tracing {
        // Head sampling by the trace id; a server error is always kept.
        if ctx.status >= 500 || observe::tracing::sampled(&ctx.trace.trace_id, tracing.ratio) {
            let spans = ctx.spans(finished_ms);
            observe::export::submit(tracing, &env, &worker_ctx, &spans);
        }
    }
    if deployment.access_log {
        if let Some(line) = ctx.log_line(finished_ms, || u64::from(platform::random_u32() % 100)) {
            platform::log(&line);
        }
    }
    if !ctx.internal {
        metrics::recorder::record(&deployment, &env, &worker_ctx, ctx.sample(finished_ms));
    }
    Ok(response)
}

/// Shortens `text` to at most `max` bytes, at a character boundary.
fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}

/// The one place an error becomes a response: RFC 9457 problem+json with a stable code.
fn render_problem(error: &GatewayError, request_id: &str) -> worker::Result<Response> {
    let problem = error.problem(request_id);
    let body =
        serde_json::to_vec(&problem.body).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let response = Response::from_bytes(body)?.with_status(problem.status);
    let headers = response.headers();
    headers.set("content-type", "application/problem+json")?;
    headers.set("x-request-id", request_id)?;
    for (name, value) in &problem.headers {
        headers.set(name, value)?;
    }
    Ok(response)
}
