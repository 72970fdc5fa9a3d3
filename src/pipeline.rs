//! The request path, in order. Each stage reads and writes the [`RequestContext`] and either lets
//! the request continue or ends it with a [`GatewayError`]; stages never call each other.
//!
//! ```text
//!  request
//!    │
//!    ▼
//!  intake ──────────── malformed path, oversized request ──▶ 400
//!    │
//!  configuration (a failure is kept for the admin stage)
//!    │
//!  admin ───────────── {ADMIN_PREFIX}/… answered here ─────▶ 200 / 401 / 404 / 422
//!    │                 (health and config work without a configuration)
//!    ├──────────────── nothing valid ever loaded ──────────▶ 503
//!    │
//!  public OpenAPI ──── GET openapi.path ───────────────────▶ 200
//!    │
//!  route ───────────── no route / wrong method ────────────▶ 404 / 405
//!    │
//!  edge security ───── address, size or origin refused ───▶ 403 / 413 / 431 (preflight ▶ 204)
//!    │
//!  authenticate ────── no / bad credentials, missing scope ─▶ 401 / 403 (503 if keys unknowable)
//!    │
//!  rate limit ──────── a policy is exhausted ──────────────▶ 429 (503 if fail-closed and down)
//!    │
//!  upstream headers (no I/O)
//!    │
//!  fan-out ─────────── aggregate route: backends composed ─▶ 200 (or 502 / 504 naming one)
//!    │
//!  prepare upstream request (no I/O)
//!    │
//!  WebSocket ───────── upgrade on a websocket route ───────▶ 101 with the upstream socket
//!    │
//!  cache lookup ────── fresh / servable stale entry ───────▶ 200 / 304 from the cache
//!    │                 (only-if-cached and nothing usable ─▶ 504)
//!  upstream ────────── refused / too slow ─────────────────▶ 502 / 504 (or a stale entry)
//!    │
//!  cache store ─────── revalidated (304) / origin failed ──▶ stored entry
//!    │                 otherwise keep a copy if storable
//!  invalidate ──────── unsafe method succeeded: purge URL
//!    │
//!  respond (client headers)
//!    │
//!    ▼
//!  response ──▶ access log and metrics (written by the entry point from the context)
//! ```

use worker::wasm_bindgen::JsValue;
use worker::{Context, Env, Request, Response};

use crate::admin;
use crate::aggregate;
use crate::auth::authenticate::{authenticate, upstream_headers};
use crate::cache::{self, Found, Settled};
use crate::config::loader;
use crate::config::model::{Destination, Fallback, Route, Sticky};
use crate::context::RequestContext;
use crate::deployment;
use crate::error::GatewayError;
use crate::intake;
use crate::openapi;
use crate::platform;
use crate::rate_limit::{client as rate_limit, policy::KeyInputs};
use crate::resilience;
use crate::upstream::{self, headers, target, websocket};

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
    worker_ctx: &Context,
    ctx: &mut RequestContext,
) -> Result<Response, GatewayError> {
    let Incoming { url, headers } = incoming;
    let path = url.path();
    let query = url.query();

    // Intake first: a malformed request must not cost a KV read or a subrequest.
    intake::check(path, query, &headers)?;

    // Configuration before routing: the route table is part of it.
    let gateway = loader::current(env, ctx.started_ms).await;
    if let Ok(gateway) = &gateway {
        ctx.config_version = Some(gateway.version.clone());
    }

    // Admin: operator endpoints are never routed to an origin, and some of them (health, a
    // first push) work before any configuration is loaded.
    let deployment = deployment::get(env);
    if let Some(rest) = admin::below(path, &deployment.admin_prefix) {
        ctx.internal = true;
        return admin::handle(env, gateway, req, &ctx.method, rest, &url, &headers).await;
    }
    let gateway = gateway?;

    // The public OpenAPI document, when the configuration names a path for it.
    if gateway.openapi.path.as_deref() == Some(path)
        && matches!(ctx.method.as_str(), "GET" | "HEAD")
    {
        ctx.internal = true;
        return openapi::respond(&gateway);
    }

    // Route: everything after this point knows which route and service it serves. A CORS
    // preflight is routed by the method it asks about.
    let preflight_method = match (ctx.method.as_str(), headers::header(&headers, "origin")) {
        ("OPTIONS", Some(_)) => headers::header(&headers, "access-control-request-method"),
        _ => None,
    };
    let matched = match preflight_method {
        Some(asked) => {
            // A method the path does not take is still the CORS policy's to refuse.
            let candidate = match gateway.routes.resolve(asked.trim(), &ctx.host, path) {
                Ok(m) => Some(m),
                Err(GatewayError::MethodNotAllowed { allow }) => allow
                    .first()
                    .and_then(|m| gateway.routes.resolve(m, &ctx.host, path).ok()),
                Err(_) => None,
            };
            match candidate {
                Some(m) if m.route.security.cors.is_some() => m,
                _ => gateway.routes.resolve(&ctx.method, &ctx.host, path)?,
            }
        }
        None => gateway.routes.resolve(&ctx.method, &ctx.host, path)?,
    };
    let route = matched.route;
    ctx.route = Some(route.name.clone());

    // Edge security: before authentication, so a refused address or origin costs nothing
    // more, and preflights (which carry no credentials) are answered here.
    if let Some(ip) = &route.security.ip {
        if !ip.admits(headers::header(&headers, "cf-connecting-ip")) {
            return Err(GatewayError::IpDenied);
        }
    }
    if let Some(limits) = route.security.limits {
        intake::check_headers(
            &headers,
            limits.max_header_bytes.unwrap_or(intake::MAX_HEADER_BYTES),
            limits.max_headers.unwrap_or(intake::MAX_HEADERS),
        )?;
        if let Some(max) = limits.max_body_bytes {
            intake::check_body(&headers, max)?;
        }
    }
    if let (Some(cors), Some(origin)) = (&route.security.cors, headers::header(&headers, "origin"))
    {
        if let Some(asked) = preflight_method {
            let methods: Vec<&str> = route.methods.names().collect();
            let requested = headers::header(&headers, "access-control-request-headers");
            let mut answer = cors
                .preflight(origin, asked.trim(), requested, &methods)
                .map_err(|reason| GatewayError::CorsRefused { reason })?;
            answer.push(("x-request-id".to_string(), ctx.request_id.clone()));
            return upstream::respond(204, &answer, None);
        }
        if !cors.allows_origin(origin) {
            return Err(GatewayError::CorsRefused {
                reason: format!("origin '{origin}' is not allowed"),
            });
        }
        ctx.cors_headers = cors.response_headers(origin);
    }

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

    // The headers every upstream call carries (no I/O yet).
    let traceparent = ctx.trace.upstream_header();
    let forwarding = headers::Forwarding {
        client_ip: headers::header(&headers, "cf-connecting-ip"),
        proto: url.scheme(),
        host: headers::header(&headers, "host").unwrap_or(&ctx.host),
        request_id: &ctx.request_id,
        traceparent: &traceparent,
        tracestate: ctx.trace.tracestate.as_deref(),
    };
    let mut outbound_headers = match &route.auth {
        Some(policy) => {
            let authenticated =
                upstream_headers(&headers, &gateway.auth, policy, principal.as_ref());
            headers::for_upstream(&authenticated, &forwarding, &route.request_headers)
        }
        None => headers::for_upstream(&headers, &forwarding, &route.request_headers),
    };

    // Fan-out: an aggregate route calls its backends concurrently and composes one answer
    // instead of proxying one service.
    let service_name = match &route.destination {
        Destination::Service(name) => name,
        Destination::Aggregate(aggregate) => {
            let services: Vec<&str> = aggregate
                .backends
                .iter()
                .map(|b| b.service.as_str())
                .collect();
            ctx.service = Some(services.join(","));
            let request = aggregate::Request {
                params: &matched.params,
                query,
                headers: &outbound_headers,
            };
            let sent_at = platform::now_ms();
            let composed = aggregate::run(aggregate, &gateway.services, &request).await;
            ctx.upstream_ms = Some(platform::now_ms() - sent_at);
            let composed = match (composed, &route.fallback) {
                (Err(error), Some(fallback)) => {
                    ctx.record_error(&error);
                    return respond_with(ctx, route, fallback_answer(fallback, &route.name));
                }
                (composed, _) => composed?,
            };
            ctx.upstream_status = Some(composed.status);
            let mut origin = vec![("content-type".to_string(), "application/json".to_string())];
            if !composed.incomplete.is_empty() {
                origin.push((
                    aggregate::INCOMPLETE_HEADER.to_string(),
                    composed.incomplete.join(", "),
                ));
            }
            if !composed.fallbacks.is_empty() {
                origin.push((
                    aggregate::FALLBACK_HEADER.to_string(),
                    composed.fallbacks.join(", "),
                ));
            }
            let body = (ctx.method != "HEAD").then_some(composed.body);
            return respond_with(ctx, route, (composed.status, origin, body));
        }
    };

    // Version routing: a request header may select another service for this route.
    let service_name = route
        .versions
        .as_ref()
        .and_then(|versions| {
            let asked = headers::header(&headers, &versions.header)?.trim();
            versions
                .services
                .iter()
                .find(|(version, _)| version == asked)
                .map(|(_, service)| service)
        })
        .unwrap_or(service_name);

    // The service and upstream path (no I/O yet): a background cache refresh uses them too.
    let service = gateway
        .services
        .get(service_name)
        .ok_or_else(|| GatewayError::Internal {
            cause: format!(
                "route '{}' names unknown service '{service_name}'",
                route.name
            ),
        })?;
    ctx.service = Some(service.name.clone());
    let upstream_path = target::upstream_path(route, &matched, path);
    let deadline_ms =
        |sent_at: f64| sent_at + route.timeout_ms.unwrap_or(service.timeout_ms) as f64;
    let sticky_key = service.sticky.as_ref().and_then(|sticky| match sticky {
        Sticky::Header(name) => headers::header(&headers, name).map(str::to_string),
        Sticky::Cookie(name) => headers::cookie(&headers, name),
    });

    // WebSocket: on a route that allows it, an upgrade is a handshake with the service (never
    // cached); once the service switches protocols the client holds the upstream socket.
    if route.websocket && websocket::is_upgrade(&ctx.method, &headers) {
        let handshake = websocket::handshake_headers(&outbound_headers);
        let sent_at = platform::now_ms();
        let request = resilience::ServiceRequest {
            service,
            method: "GET",
            path: &upstream_path,
            query,
            headers: &handshake,
            deadline_ms: deadline_ms(sent_at),
            sticky_key: sticky_key.as_deref(),
        };
        let response = resilience::call(&request, None).await?;
        ctx.upstream_ms = Some(platform::now_ms() - sent_at);
        ctx.upstream_status = Some(response.status_code());
        if !websocket::switched(&response) {
            let client_headers = client_headers(ctx, route, &upstream::entries(response.headers()));
            return upstream::relay(&response, &client_headers);
        }
        let client_headers = client_headers(ctx, route, &websocket::upstream_headers(&response));
        return websocket::accept(response, &client_headers);
    }

    // Cache lookup: after the rate limit (a cached answer still counts against it) and before
    // the origin. A usable entry answers here; otherwise the origin is asked, conditionally when
    // a stored entry has validators.
    let mut cached = None;
    if let Some(policy) = &route.cache {
        let plan = cache::Plan::new(
            policy,
            &route.name,
            &ctx.method,
            &ctx.host,
            path,
            query,
            &headers,
            principal.as_ref(),
        );
        match plan {
            None => ctx.cache = Some(cache::Status::Bypass.as_str()),
            Some(plan) => {
                let refresh_ms = deployment.config.refresh_ms;
                let now = platform::now_ms();
                match cache::lookup(env, worker_ctx, &plan, now, refresh_ms).await {
                    Found::Serve {
                        stored,
                        status,
                        refresh,
                    } => {
                        ctx.cache = Some(status.as_str());
                        let answer = cache::answer(&plan, &stored.entry, platform::now_ms());
                        if refresh {
                            let refresh = cache::Refresh {
                                service: service.clone(),
                                path: upstream_path,
                                query: query.map(str::to_string),
                                headers: outbound_headers,
                            };
                            cache::refresh_in_background(worker_ctx, env, plan, stored, refresh);
                        }
                        return respond_with(ctx, route, answer);
                    }
                    Found::Unsatisfiable => return Err(GatewayError::NotCached),
                    Found::Forward { stored, validators } => {
                        outbound_headers = cache::origin_headers(&outbound_headers, &validators);
                        cached = Some((plan, stored));
                    }
                }
            }
        }
    }

    // Upstream: bodies stream through untouched; GET and HEAD carry none.
    let body = match ctx.method.as_str() {
        "GET" | "HEAD" => None,
        _ => req.inner().body().map(JsValue::from),
    };
    // Upstream: one of the service's upstreams by weight (or stickiness), skipping open
    // circuits, retried where the service allows, all within the route's deadline.
    let sent_at = platform::now_ms();
    let service_request = resilience::ServiceRequest {
        service,
        method: &ctx.method,
        path: &upstream_path,
        query,
        headers: &outbound_headers,
        deadline_ms: deadline_ms(sent_at),
        sticky_key: sticky_key.as_deref(),
    };
    let result = resilience::call(&service_request, body).await;
    let received_at = platform::now_ms();
    ctx.upstream_ms = Some(received_at - sent_at);
    if let Ok(response) = &result {
        ctx.upstream_status = Some(response.status_code());
    }

    // Cache store: what the client gets and what is kept, from the origin's answer and what was
    // stored. Storing reads a copy of the body after the response has been sent.
    let response = match cached {
        None => result,
        Some((plan, stored)) => match cache::settle(&plan, stored, result, sent_at, received_at) {
            Settled::Failed(error) => Err(error),
            Settled::FromStore {
                stored,
                status,
                keep,
            } => {
                ctx.cache = Some(status.as_str());
                let answer = cache::answer(&plan, &stored.entry, platform::now_ms());
                if keep {
                    worker_ctx.wait_until(cache::keep_entry(env.clone(), plan, stored));
                }
                return respond_with(ctx, route, answer);
            }
            Settled::Relay {
                mut response,
                status,
                keep,
            } => {
                ctx.cache = Some(status.as_str());
                if let Some(freshness) = keep {
                    let copy = response.cloned().map_err(|e| GatewayError::Internal {
                        cause: format!("copying the response for the cache: {e}"),
                    })?;
                    worker_ctx.wait_until(cache::keep_response(
                        env.clone(),
                        plan.clone(),
                        copy,
                        freshness,
                        sent_at,
                        received_at,
                    ));
                }
                let origin_headers = upstream::entries(response.headers());
                if cache::satisfies_client(&plan, response.status_code(), &origin_headers) {
                    let mut origin_headers = origin_headers;
                    origin_headers.retain(|(name, _)| !name.starts_with("content-"));
                    return respond_with(ctx, route, (304, origin_headers, None));
                }
                Ok(response)
            }
        },
    };

    // Fallback: a failed service (unreachable, too slow, open circuit, 5xx) is answered with
    // the route's static response when it has one, marked as such.
    let response = match (response, &route.fallback) {
        (Err(error), Some(fallback)) => {
            ctx.record_error(&error);
            return respond_with(ctx, route, fallback_answer(fallback, &route.name));
        }
        (Ok(response), Some(fallback)) if response.status_code() >= 500 => {
            return respond_with(ctx, route, fallback_answer(fallback, &route.name));
        }
        (response, _) => response?,
    };

    // A successful unsafe request changes the resource: what is cached for its URL goes.
    if is_unsafe(&ctx.method) && response.status_code() < 400 {
        let cached_for_reads = gateway
            .routes
            .resolve("GET", &ctx.host, path)
            .is_ok_and(|m| m.route.cache.is_some());
        if cached_for_reads {
            cache::invalidate(worker_ctx, env, &ctx.host, path);
        }
    }

    // Respond: the origin's status and streamed body, with the headers the client may see.
    let client_headers = client_headers(ctx, route, &upstream::entries(response.headers()));
    upstream::relay(&response, &client_headers)
}

/// The headers the client sees: the origin's after the route's rules, the request id, the
/// rate-limit fields and, on cached routes, `X-Cache`.
fn client_headers(
    ctx: &RequestContext,
    route: &Route,
    origin: &[(String, String)],
) -> Vec<(String, String)> {
    let mut out = headers::for_client(origin, &route.response_headers, &ctx.request_id);
    out.extend(
        ctx.rate_limit_headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone())),
    );
    if let Some(status) = ctx.cache {
        out.push(("x-cache".to_string(), status.to_string()));
    }
    if !ctx.cors_headers.is_empty() {
        // The gateway's CORS answer replaces whatever the origin said about it.
        out.retain(|(name, _)| !name.starts_with("access-control-"));
        out.extend(ctx.cors_headers.iter().cloned());
    }
    out
}

/// A response built by the gateway (from the cache, or a 304).
fn respond_with(
    ctx: &RequestContext,
    route: &Route,
    (status, origin, body): (u16, Vec<(String, String)>, Option<Vec<u8>>),
) -> Result<Response, GatewayError> {
    upstream::respond(status, &client_headers(ctx, route, &origin), body)
}

/// A configured fallback as an answer, marked with `X-Gateway-Fallback`.
fn fallback_answer(
    fallback: &Fallback,
    name: &str,
) -> (u16, Vec<(String, String)>, Option<Vec<u8>>) {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    headers.retain(|(n, _)| !fallback.headers.iter().any(|(f, _)| f == n));
    headers.extend(fallback.headers.iter().cloned());
    headers.push((aggregate::FALLBACK_HEADER.to_string(), name.to_string()));
    let body = serde_json::to_vec(&fallback.body).unwrap_or_default();
    (fallback.status, headers, Some(body))
}

fn is_unsafe(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
}
