//! The request path, in order. Each stage (one file in `stages/`) has a request phase that
//! lets the request go on or answers it, and a response phase that runs on the way back, in
//! reverse order, for every stage whose request phase ran. Stages never call each other; the
//! order below is the only place they meet.
//!
//! ```text
//!  request
//!    │
//!    ▼
//!  intake ──────────── malformed path, oversized request ──▶ 400 / 431
//!    │
//!  configuration ───── loaded from KV (versioned); a failure is kept for admin
//!    │
//!  admin ───────────── {ADMIN_PREFIX}/… answered here ─────▶ 200 / 401 / 404 / 422
//!    │                 (health and config work without a configuration)
//!    ├──────────────── nothing valid ever loaded ──────────▶ 503
//!    │
//!  public OpenAPI ──── GET openapi.path ───────────────────▶ 200
//!    │
//!  login ───────────── a session's callback or logout path ▶ 302 (400 login-failed)
//!    │
//!  route ───────────── no route / wrong method ────────────▶ 404 / 405
//!    │
//!  edge security ───── address, size or origin refused ────▶ 403 / 411 / 413 / 431 (preflight ▶ 204)
//!    │
//!  firewall ────────── anomaly score at the threshold ─────▶ 403 waf-blocked (log mode: passes)
//!    │
//!  authenticate ────── no / bad credentials, missing scope ▶ 401 / 403 (503 if keys unknowable)
//!    │
//!  revocation ──────── a revoked consumer, token or subject ▶ 401
//!    │
//!  rate limit ──────── a policy is exhausted ──────────────▶ 429 (503 if fail-closed and down)
//!    │
//!  forwarding ──────── the upstream headers (no I/O)
//!    │
//!  policies ────────── the route's own, in order: worker / http / transform / validate / mock
//!    │                 answered or refused by one ─────────▶ its answer / 400 / 502
//!    │                 ◀ on the way out, in reverse: headers, bodies, response-phase calls
//!    │
//!  service ─────────── version routing, path, deadline (no I/O)
//!    │
//!  WebSocket ───────── upgrade on a websocket route ───────▶ 101 (client holds the upstream socket)
//!    │
//!  fallback ────────── ◀ on the way out: a failed service or fan-out ▶ the route's fallback
//!    │
//!  cache lookup ────── fresh or servable stale entry ──────▶ 200 / 206 / 304 from the cache
//!    │                 (only-if-cached and nothing usable ─▶ 504; bad range ─▶ 416)
//!    │                 concurrent misses of a key wait for the first one's answer
//!  cache store ─────── ◀ on the way out: keep a copy, 304 revalidation, stale-if-error
//!    │
//!  fan-out ─────────── aggregate route: backends composed ─▶ 200 (or 502 / 504 naming one)
//!    │
//!  invalidate ──────── ◀ on the way out: successful unsafe method purges its URL
//!    │
//!  upstream ────────── weighted / sticky choice, retries ──▶ origin's answer, or 502 / 504 / 503
//!    │
//!    ▼
//!  response ──▶ client headers shaped once; access log and metrics (written by the entry point)
//! ```

use worker::Response;

use crate::error::GatewayError;
use crate::exchange::Exchange;
use crate::stages::{self, Flow, Outcome, Stage};

/// Declares the stages in order: one line each, with why it sits where it does. Generates
/// [`Step`] and the `match` that dispatches each phase to its stage (static dispatch: no
/// allocation per stage per request).
macro_rules! stages {
    ($($(#[doc = $why:literal])+ $name:ident => $stage:path,)+) => {
        /// One stage of the request path.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Step {
            $($(#[doc = $why])+ $name,)+
        }

        impl Step {
            /// Every stage, in the order requests meet them.
            pub const ORDER: &'static [Step] = &[$(Step::$name,)+];

            async fn request(self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
                match self {
                    $(Step::$name => $stage.request(ex).await,)+
                }
            }

            async fn response(self, ex: &mut Exchange<'_>, outcome: Outcome) -> Outcome {
                match self {
                    $(Step::$name => $stage.response(ex, outcome).await,)+
                }
            }
        }
    };
}

stages! {
    /// First: a malformed request must not cost a KV read or a subrequest.
    Intake => stages::intake::Intake,
    /// Before routing: the route table is part of the configuration.
    Configuration => stages::configuration::Configuration,
    /// Operator endpoints are never routed, and some work before any configuration exists.
    Admin => stages::admin::Admin,
    /// Before routing, so no route can shadow the public OpenAPI document.
    OpenApi => stages::openapi::OpenApi,
    /// Before routing: a login's callback and logout paths belong to no route.
    Login => stages::login::Login,
    /// Everything after this knows which route serves the request.
    Route => stages::route::Route,
    /// Before authentication: a refused address or origin costs nothing more.
    EdgeSecurity => stages::edge_security::EdgeSecurity,
    /// After the cheap refusals, before authentication: an attack costs no key lookup,
    /// limit or origin call.
    Firewall => stages::firewall::Firewall,
    /// Before rate limiting: who is asking decides the limit and the plan.
    Authenticate => stages::authenticate::Authenticate,
    /// Right after it: a revoked credential is refused before it costs a limit or a call.
    Revocation => stages::revocation::Revocation,
    /// Before cache and origin: a denied client costs neither, a cached answer still counts.
    RateLimit => stages::rate_limit::RateLimit,
    /// Once the caller is known: the headers every upstream call carries.
    Forwarding => stages::forwarding::Forwarding,
    /// After the limit and the upstream headers, before the service and the cache: a user's
    /// policy sees who is asking, may change what the origin gets, and sees every answer.
    Policies => stages::policies::Policies,
    /// The service call, prepared for the WebSocket, cache and upstream stages below.
    Service => stages::service::Service,
    /// Above the fallback and the cache: a handshake is neither replaced nor cached.
    WebSocket => stages::websocket::WebSocket,
    /// On the way out it stands in for what fails below it: the fan-out or the service.
    Fallback => stages::fallback::Fallback,
    /// After the limit, before the origin or fan-out: a usable stored answer saves them.
    CacheLookup => stages::cache_lookup::CacheLookup,
    /// On the way out it settles the origin's or the fan-out's answer against the lookup.
    CacheStore => stages::cache_store::CacheStore,
    /// An aggregate route's whole answer, composed from its backends.
    Aggregate => stages::aggregate::Aggregate,
    /// On the way out it sees the origin's own answer, before anything stands in for it.
    Invalidate => stages::invalidate::Invalidate,
    /// Last: the origin answers whatever no stage before it did.
    Upstream => stages::upstream::Upstream,
}

/// Runs the stages for one request and returns the client's response, or the error to
/// render.
pub async fn run(ex: &mut Exchange<'_>) -> Result<Response, GatewayError> {
    let mut ran = 0;
    let mut outcome: Option<Outcome> = None;
    for step in Step::ORDER {
        ran += 1;
        match step.request(ex).await {
            Ok(Flow::Continue) => {}
            Ok(Flow::Respond(answer)) => outcome = Some(Ok(answer)),
            Err(error) => outcome = Some(Err(error)),
        }
        if outcome.is_some() {
            break;
        }
    }
    let mut outcome = outcome.unwrap_or_else(|| {
        Err(GatewayError::Internal {
            cause: "no stage answered the request".into(),
        })
    });
    for step in Step::ORDER[..ran].iter().rev() {
        outcome = step.response(ex, outcome).await;
    }
    ex.respond(outcome?)
}
