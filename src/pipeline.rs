//! The request path, in order. Each stage reads and writes the [`RequestContext`] and either lets
//! the request continue or ends it with a [`GatewayError`]; stages never call each other.
//!
//! ```text
//!  request
//!    │
//!    ▼
//!  intake ──────────── malformed path, oversized request ──▶ 400
//!    │
//!  configuration ───── nothing valid ever loaded ──────────▶ 503
//!    │
//!  admin ───────────── {ADMIN_PREFIX}/… answered here ─────▶ 200 / 401 / 404
//!    │
//!  route ───────────── no route / wrong method ────────────▶ 404 / 405
//!    │
//!  authenticate ────── no / bad credentials, missing scope ─▶ 401 / 403 (503 if keys unknowable)
//!    │
//!  rate limit ──────── a policy is exhausted ──────────────▶ 429 (503 if fail-closed and down)
//!    │
//!  (cache lookup: slots in here)
//!    │
//!  upstream ────────── refused / too slow ─────────────────▶ 502 / 504
//!    │
//!  respond (client headers; cache store slots in here)
//!    │
//!    ▼
//!  response ──▶ access log (written by the entry point from the context)
//! ```

use worker::wasm_bindgen::JsValue;
use worker::{Env, Request, Response};

use crate::admin;
use crate::auth::authenticate::{authenticate, upstream_headers};
use crate::config::loader;
use crate::context::RequestContext;
use crate::error::GatewayError;
use crate::intake;
use crate::platform;
use crate::rate_limit::{client as rate_limit, policy::KeyInputs};
use crate::upstream::{self, headers, target};

/// What the entry point read from the request before the pipeline starts.
pub struct Incoming {
    pub url: worker::Url,
    /// Header pairs with lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
}

/// Runs every stage for one request.
pub async fn run(
    req: Request,
    incoming: Incoming,
    env: &Env,
    ctx: &mut RequestContext,
) -> Result<Response, GatewayError> {
    let Incoming { url, headers } = incoming;
    let path = url.path();
    let query = url.query();

    // Intake first: a malformed request must not cost a KV read or a subrequest.
    intake::check(path, query, &headers)?;

    // Configuration before routing: the route table is part of it.
    let gateway = loader::current(env, ctx.started_ms).await?;
    ctx.config_version = Some(gateway.version.clone());

    // Admin: operator endpoints need the configuration but are never routed to an origin.
    if let Some(rest) = admin::below(path, &admin::prefix(env)) {
        return admin::handle(env, &gateway, &ctx.method, rest, &url, &headers).await;
    }

    // Route: everything after this point knows which route and service it serves.
    let matched = gateway.routes.resolve(&ctx.method, &ctx.host, path)?;
    let route = matched.route;
    ctx.route = Some(route.name.clone());

    // Authenticate before rate limiting: who is asking decides the limit and the plan.
    let principal = match &route.auth {
        Some(policy) => {
            let now = platform::now_ms();
            authenticate(env, &gateway.auth, &gateway.version, policy, &headers, now).await?
        }
        None => None,
    };
    if let Some(principal) = &principal {
        ctx.auth_scheme = Some(principal.scheme);
        ctx.principal = principal.subject.clone();
    }

    // Rate limit: before the cache and the origin, so a denied client costs neither, and a
    // cached answer does not bypass the limit.
    let policies = gateway.policies_for(route, principal.as_ref());
    if !policies.is_empty() {
        let inputs = KeyInputs {
            client_ip: headers::header(&headers, "cf-connecting-ip"),
            route: &route.name,
            headers: &headers,
            principal: principal.as_ref(),
        };
        let admitted = rate_limit::check(env, &policies, &inputs, platform::now_ms()).await?;
        ctx.rate_limit_calls = admitted.calls;
        ctx.rate_limit_headers = admitted.headers;
    }

    // Cache lookup belongs here.

    // Upstream: one origin of the route's service, chosen at random.
    let service = gateway
        .services
        .get(&route.service)
        .ok_or_else(|| GatewayError::Internal {
            cause: format!(
                "route '{}' names unknown service '{}'",
                route.name, route.service
            ),
        })?;
    ctx.service = Some(service.name.clone());
    let origin = target::pick(&service.upstreams, platform::random_u32()).ok_or_else(|| {
        GatewayError::Internal {
            cause: format!("service '{}' has no upstreams", service.name),
        }
    })?;
    let upstream_path = target::upstream_path(route, &matched, path);
    let upstream_url = target::upstream_url(origin, &upstream_path, query);
    let traceparent = ctx.trace.upstream_header();
    let forwarding = headers::Forwarding {
        client_ip: headers::header(&headers, "cf-connecting-ip"),
        proto: url.scheme(),
        host: headers::header(&headers, "host").unwrap_or(&ctx.host),
        request_id: &ctx.request_id,
        traceparent: &traceparent,
        tracestate: ctx.trace.tracestate.as_deref(),
    };
    let outbound_headers = match &route.auth {
        Some(policy) => {
            let authenticated =
                upstream_headers(&headers, &gateway.auth, policy, principal.as_ref());
            headers::for_upstream(&authenticated, &forwarding, &route.request_headers)
        }
        None => headers::for_upstream(&headers, &forwarding, &route.request_headers),
    };
    // Bodies stream through untouched; GET and HEAD carry none.
    let body = match ctx.method.as_str() {
        "GET" | "HEAD" => None,
        _ => req.inner().body().map(JsValue::from),
    };
    let outbound = upstream::Outbound {
        service: &service.name,
        method: &ctx.method,
        url: &upstream_url,
        headers: &outbound_headers,
        timeout_ms: service.timeout_ms,
    };
    let sent_at = platform::now_ms();
    let result = upstream::send(&outbound, body).await;
    ctx.upstream_ms = Some(platform::now_ms() - sent_at);
    let response = result?;
    ctx.upstream_status = Some(response.status_code());

    // Respond: the origin's status and body, with the headers the client may see.
    let mut client_headers = headers::for_client(
        &upstream::entries(response.headers()),
        &route.response_headers,
        &ctx.request_id,
    );
    client_headers.extend(
        ctx.rate_limit_headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone())),
    );
    upstream::relay(&response, &client_headers)
}
