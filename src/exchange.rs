//! The per-request exchange: the client's request, what the stages have learnt about it, and
//! the answer on its way back. Every stage reads and writes it; each stage adapts it to its
//! own domain's plain functions.

use std::ops::Deref;
use std::rc::Rc;

use worker::{Context, Env, Request, Response, Url};

use crate::auth::authenticate::Principal;
use crate::cache::fill::Fill;
use crate::cache::lookup::Stored;
use crate::cache::plan::{Caller, Plan};
use crate::condition::Facts;
use crate::config::route::Route;
use crate::config::Gateway;
use crate::context::RequestContext;
use crate::deployment::{self, Deployment};
use crate::error::GatewayError;
use crate::http::{Head, Whole};
use crate::observe::tracing::Tracer;
use crate::platform;
use crate::resilience::service::Service;
use crate::resilience::{self, ServiceRequest};
use crate::upstream::{self, headers, websocket};

/// One request on its way through the stages.
pub struct Exchange<'a> {
    pub env: &'a Env,
    /// The platform's context, for work that runs after the response (`waitUntil`).
    pub worker: &'a Context,
    /// The client's request; its body streams to the origin untouched.
    pub request: Request,
    pub url: Url,
    /// The client's header pairs with lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// What the access log and the metrics are written from.
    pub ctx: RequestContext,
    pub deployment: Rc<Deployment>,
    /// The configuration, once the configuration stage has run; a failure to load one is kept
    /// for the admin stage, whose endpoints work without one.
    pub config: Option<Result<Rc<Gateway>, GatewayError>>,
    /// The matched route, once the route stage has run.
    pub route: Option<Routed>,
    /// The authenticated caller (none when anonymous or on a route without `auth`).
    pub principal: Option<Principal>,
    /// On routes with `auth`: the client's headers as authentication leaves them for the
    /// upstream (claim headers replaced, credentials removed unless forwarded).
    pub authenticated_headers: Option<Vec<(String, String)>>,
    /// The headers every upstream call of this request carries.
    pub upstream_headers: Vec<(String, String)>,
    /// The call to the route's service, prepared without I/O.
    pub call: Option<Prepared>,
    /// What the cache lookup left for the cache store to settle on the way out.
    pub cache: Option<Pending>,
    /// On a cached fan-out: each backend answer its composition is made of, and whether none
    /// is missing or stood in for, so the cache can judge the composition by them.
    pub composed: Option<(Vec<Head>, bool)>,
    /// Platform times when the origin was asked and when its answer (or failure) came.
    pub sent_ms: f64,
    pub received_ms: f64,
    /// The client's body once a stage has read it (a policy checked or changed it): the
    /// upstream is sent these bytes instead of the stream.
    pub body: Option<Vec<u8>>,
    /// The platform's `request.cf`, once a condition or policy asked for it.
    pub cf: Option<Option<serde_json::Value>>,
    /// The route's policies whose request phase ran (by index), with the header changes each
    /// asked for on the client's answer.
    pub policies: Vec<(usize, headers::HeaderRules)>,
    /// `Set-Cookie` values for the client's answer (a refreshed session).
    pub cookies: Vec<String>,
}

/// A cache lookup that asks the origin: its plan, what was stored (to revalidate or stand in),
/// and the fill this request owns when others wait for its answer.
#[derive(Debug)]
pub struct Pending {
    pub plan: Plan,
    pub stored: Option<Stored>,
    pub fill: Option<Fill>,
}

/// The matched route: its index in the route table and the parameters its pattern captured
/// (still percent-encoded).
#[derive(Debug)]
pub struct Routed {
    pub index: usize,
    pub params: Vec<(String, String)>,
}

/// A route of the configuration that serves this request; derefs to the [`Route`].
pub struct RouteRef {
    gateway: Rc<Gateway>,
    index: usize,
}

impl RouteRef {
    /// The configuration the route belongs to.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// A service of that configuration, by name.
    pub fn service(&self, name: &str) -> Result<&Service, GatewayError> {
        self.gateway
            .services
            .get(name)
            .ok_or_else(|| GatewayError::Internal {
                cause: format!("route '{}' names unknown service '{name}'", self.name),
            })
    }

    /// The configuration, shared, for work that outlives the request.
    pub fn shared_gateway(&self) -> Rc<Gateway> {
        Rc::clone(&self.gateway)
    }
}

impl Deref for RouteRef {
    type Target = Route;

    fn deref(&self) -> &Route {
        // The index came from this configuration's own route table.
        &self.gateway.routes.routes()[self.index]
    }
}

/// The call to a route's service, fixed by the service stage: which service, the path below
/// its upstreams' base paths, and the time the whole call may take.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub service: String,
    pub path: String,
    /// The route's `timeout_ms`, or else the service's.
    pub timeout_ms: u64,
    /// Requests with the same key go to the same upstream.
    pub sticky_key: Option<String>,
}

impl Prepared {
    /// The request to `service` that starts now: retries included, it ends by `now_ms` plus
    /// the call's timeout.
    pub fn request<'r>(
        &'r self,
        service: &'r Service,
        method: &'r str,
        query: Option<&'r str>,
        headers: &'r [(String, String)],
        now_ms: f64,
        (tracer, env): (&'r Tracer, &'r worker::Env),
    ) -> ServiceRequest<'r> {
        ServiceRequest {
            service,
            method,
            path: &self.path,
            query,
            headers,
            deadline_ms: now_ms + self.timeout_ms as f64,
            sticky_key: self.sticky_key.as_deref(),
            tracer,
            parent_span: None,
            env: Some(env),
        }
    }
}

/// A service call to be made again after the response: see [`Exchange::again`].
pub struct Again {
    gateway: Rc<Gateway>,
    call: Prepared,
    query: Option<String>,
    pub deadline_ms: f64,
}

impl Again {
    /// The call, with `headers`.
    pub fn send(
        self,
        headers: Vec<(String, String)>,
    ) -> impl std::future::Future<Output = Result<Response, GatewayError>> + 'static {
        call_later(
            self.gateway,
            self.call,
            self.query,
            headers,
            self.deadline_ms,
        )
    }
}

/// A `GET` of the same call that outlives the request (a background refresh): it owns what
/// it needs, goes to no sticky upstream, and ends by `deadline_ms`.
async fn call_later(
    gateway: Rc<Gateway>,
    call: Prepared,
    query: Option<String>,
    headers: Vec<(String, String)>,
    deadline_ms: f64,
) -> Result<Response, GatewayError> {
    let service = gateway
        .services
        .get(&call.service)
        .ok_or_else(|| internal(&format!("unknown service '{}'", call.service)))?;
    // A background call outlives the request's trace.
    let untraced = Tracer::default();
    let request = ServiceRequest {
        service,
        method: "GET",
        path: &call.path,
        query: query.as_deref(),
        headers: &headers,
        deadline_ms,
        sticky_key: None,
        tracer: &untraced,
        parent_span: None,
        env: None,
    };
    resilience::call(&request, None).await
}

/// A response on its way back through the stages.
pub enum Answer {
    /// Sent as it is: the admin API, the OpenAPI document, a CORS preflight.
    Ready(Response),
    /// For the route's client: its headers are shaped once, at the end (route rules, request
    /// id, rate-limit, cache and CORS headers).
    Reply(Reply),
}

/// The status, headers (as the origin or the gateway gave them) and body of a reply.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

/// Where a reply's body comes from.
pub enum Body {
    /// None at all (HEAD, 304).
    Empty,
    /// Composed by the gateway: from the cache, a fallback, a fan-out.
    Bytes(Vec<u8>),
    /// The origin's response, whose body streams to the client.
    Origin(Response),
    /// The origin accepted a WebSocket upgrade: the client is handed its socket.
    WebSocket(Response),
}

impl From<Option<Vec<u8>>> for Body {
    fn from(bytes: Option<Vec<u8>>) -> Self {
        bytes.map_or(Body::Empty, Body::Bytes)
    }
}

impl Reply {
    /// A reply the gateway composed: `(status, headers, body)`.
    pub fn composed((status, headers, body): Whole) -> Self {
        Self {
            status,
            headers,
            body: body.into(),
        }
    }

    /// A reply relaying the origin's `response`, whose headers have been read.
    pub fn relayed(response: Response) -> Self {
        Self {
            status: response.status_code(),
            headers: crate::platform::fetch::entries(response.headers()),
            body: Body::Origin(response),
        }
    }
}

impl<'a> Exchange<'a> {
    pub fn new(
        env: &'a Env,
        worker: &'a Context,
        request: Request,
        url: Url,
        headers: Vec<(String, String)>,
        ctx: RequestContext,
    ) -> Self {
        Self {
            env,
            worker,
            request,
            url,
            headers,
            ctx,
            deployment: deployment::get(env),
            config: None,
            route: None,
            principal: None,
            authenticated_headers: None,
            upstream_headers: Vec::new(),
            call: None,
            cache: None,
            composed: None,
            sent_ms: 0.0,
            received_ms: 0.0,
            body: None,
            cf: None,
            policies: Vec::new(),
            cookies: Vec::new(),
        }
    }

    /// Reads the platform's `cf` object once, for conditions that look at it.
    pub fn load_cf(&mut self) {
        if self.cf.is_none() {
            self.cf = Some(platform::fetch::cf_of(&self.request));
        }
    }

    /// What a `when` may look at (`cf` only after [`Exchange::load_cf`]).
    pub fn facts(&self) -> Facts<'_> {
        Facts {
            method: &self.ctx.method,
            headers: &self.headers,
            query: self.url.query(),
            claims: self.principal.as_ref().map(|p| &p.claims),
            scopes: self.principal.as_ref().map_or(&[], |p| p.scopes.as_slice()),
            subject: self.principal.as_ref().and_then(|p| p.subject.as_deref()),
            cf: self.cf.as_ref().and_then(Option::as_ref),
        }
    }

    /// The client's whole body (empty for GET and HEAD), read once within `timeout_ms`; 413
    /// beyond `limit` bytes, 408 when it does not arrive in full in time.
    pub async fn read_body(&mut self, limit: u64, timeout_ms: u64) -> Result<&[u8], GatewayError> {
        if self.body.is_none() {
            let declared = crate::http::header(&self.headers, "content-length")
                .and_then(|v| v.trim().parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit) {
                return Err(GatewayError::BodyTooLarge { limit });
            }
            let stream = match self.ctx.method.as_str() {
                "GET" | "HEAD" => None,
                _ => self.request.inner().body(),
            };
            let bytes = match stream {
                None => Vec::new(),
                Some(stream) => {
                    match platform::fetch::read_stream_within(&stream, timeout_ms).await {
                        Some(Ok(bytes)) => bytes,
                        _ => return Err(GatewayError::BodyIncomplete { timeout_ms }),
                    }
                }
            };
            if bytes.len() as u64 > limit {
                return Err(GatewayError::BodyTooLarge { limit });
            }
            self.body = Some(bytes);
        }
        Ok(self.body.as_deref().unwrap_or_default())
    }

    /// The configuration serving this request, or why there is none.
    pub fn gateway(&self) -> Result<Rc<Gateway>, GatewayError> {
        match &self.config {
            Some(Ok(gateway)) => Ok(Rc::clone(gateway)),
            Some(Err(error)) => Err(error.clone()),
            None => Err(internal(
                "the configuration is read by the configuration stage",
            )),
        }
    }

    /// The route serving this request.
    pub fn route(&self) -> Result<RouteRef, GatewayError> {
        let index = self
            .route
            .as_ref()
            .ok_or_else(|| internal("the route is chosen by the route stage"))?
            .index;
        Ok(RouteRef {
            gateway: self.gateway()?,
            index,
        })
    }

    /// The authenticated caller, as the cache tells callers apart.
    pub fn cache_caller(&self) -> Option<Caller<'_>> {
        self.principal.as_ref().map(|p| Caller {
            scheme: p.scheme,
            issuer: p.issuer.as_deref(),
            subject: p.subject.as_deref(),
        })
    }

    /// The parameters the route's pattern captured.
    pub fn params(&self) -> &[(String, String)] {
        self.route.as_ref().map_or(&[], |r| r.params.as_slice())
    }

    /// The prepared service call, to be made again after the response (a background refresh
    /// or fill) within the service's own timeout from now; `None` on routes without one.
    pub fn again(&self) -> Result<Option<Again>, GatewayError> {
        let Some(call) = &self.call else {
            return Ok(None);
        };
        let route = self.route()?;
        let timeout_ms = route.service(&call.service)?.timeout_ms;
        Ok(Some(Again {
            gateway: route.shared_gateway(),
            call: call.clone(),
            query: self.url.query().map(str::to_string),
            deadline_ms: platform::now_ms() + timeout_ms as f64,
        }))
    }

    /// The prepared service call.
    pub fn call(&self) -> Result<&Prepared, GatewayError> {
        self.call
            .as_ref()
            .ok_or_else(|| internal("the service call is prepared by the service stage"))
    }

    /// The response the client gets for `answer`.
    pub fn respond(&self, answer: Answer) -> Result<Response, GatewayError> {
        let reply = match answer {
            Answer::Ready(response) => return Ok(response),
            Answer::Reply(reply) => reply,
        };
        let route = self.route()?;
        let mut headers = client_headers(&self.ctx, &route.response_headers, &reply.headers);
        headers.extend(
            self.cookies
                .iter()
                .map(|c| ("set-cookie".to_string(), c.clone())),
        );
        match reply.body {
            Body::Empty => upstream::respond(reply.status, &headers, None),
            Body::Bytes(bytes) => upstream::respond(reply.status, &headers, Some(bytes)),
            Body::Origin(origin) => upstream::relay(reply.status, &origin, &headers),
            Body::WebSocket(origin) => websocket::accept(origin, &headers),
        }
    }
}

/// The headers the client sees: the reply's after the route's rules, the request id, the
/// rate-limit fields and, on cached routes, `X-Cache`; the gateway's CORS answer replaces
/// whatever the origin said about CORS.
fn client_headers(
    ctx: &RequestContext,
    rules: &headers::HeaderRules,
    reply: &[(String, String)],
) -> Vec<(String, String)> {
    let mut out = headers::for_client(reply, rules, &ctx.request_id);
    out.extend(
        ctx.rate_limit_headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone())),
    );
    if let Some(status) = ctx.cache {
        out.push(("x-cache".to_string(), status.to_string()));
    }
    if !ctx.cors_headers.is_empty() {
        out.retain(|(name, _)| !name.starts_with("access-control-"));
        out.extend(ctx.cors_headers.iter().cloned());
    }
    out
}

fn internal(cause: &str) -> GatewayError {
    GatewayError::Internal {
        cause: cause.to_string(),
    }
}
