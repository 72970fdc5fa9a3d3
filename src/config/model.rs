//! The validated configuration: what the rest of the gateway reads. Nothing here can be invalid.

use std::collections::BTreeMap;

use crate::aggregate::Aggregate;
use crate::auth::{AuthSettings, RouteAuth};
use crate::cache::CachePolicy;
use crate::rate_limit::policy::Policy;
use crate::resilience::breaker::BreakerSettings;
use crate::resilience::retry::RetrySettings;
use crate::routing::methods::MethodSet;
use crate::routing::pattern::Template;
use crate::security::SecurityPolicy;

/// A whole route document after validation.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub services: BTreeMap<String, Service>,
    /// Rate-limit policies by name; routes refer to them.
    pub rate_limits: BTreeMap<String, Policy>,
    /// Plan name → policies for callers on that plan (`default`: callers without one).
    pub plans: BTreeMap<String, Vec<String>>,
    /// Token issuers and API-key settings.
    pub auth: AuthSettings,
    pub routes: Vec<Route>,
    /// How the generated OpenAPI document describes the gateway.
    pub openapi: super::openapi::OpenApiSettings,
}

/// A named origin microservice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    /// One or more base URLs; each request goes to one of them, chosen at random in proportion
    /// to their weights (or by a sticky key).
    pub upstreams: Vec<Upstream>,
    /// How long one attempt waits for the origin's response headers (default 15 s).
    pub timeout_ms: u64,
    /// Retries of failed idempotent requests (default: none).
    pub retry: RetrySettings,
    /// Circuit breaking per upstream (default: none).
    pub breaker: Option<BreakerSettings>,
    /// Keeps a client on one upstream (default: no stickiness).
    pub sticky: Option<Sticky>,
}

/// What keeps a client on the same upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sticky {
    /// The value of this request header (lower case).
    Header(String),
    /// The value of this cookie.
    Cookie(String),
}

/// One base URL of a service, split so that paths can be appended without re-parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// The base URL's path without a trailing slash; empty for the root.
    pub base_path: String,
    /// Share of the service's traffic, relative to the other upstreams (default 1; 0 drains).
    pub weight: u32,
}

impl Upstream {
    /// The base URL, which names the upstream for circuit breaking.
    pub fn origin_url(&self) -> String {
        format!("{}{}", self.origin, self.base_path)
    }
}

/// A static answer used when a route's service or a backend fails.
#[derive(Debug, Clone, PartialEq)]
pub struct Fallback {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

/// Sends requests to another service by a request header's value (API versions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    /// Lower-case header name, such as `x-api-version`.
    pub header: String,
    /// Header value → service name.
    pub services: Vec<(String, String)>,
}

/// One route: which requests it takes and how they reach their service.
#[derive(Debug, Clone)]
pub struct Route {
    /// Index in the document's `routes` array, for error paths.
    pub position: usize,
    pub name: String,
    /// Accepted methods; all known methods when the document names none.
    pub methods: MethodSet,
    /// The matchit pattern, for example `/users/{id}`.
    pub path: String,
    /// Only requests for this host (lower case, without port) match; any host when absent.
    pub host: Option<String>,
    /// Where requests go: one service, or a fan-out to several backends.
    pub destination: Destination,
    pub rewrite: Rewrite,
    pub request_headers: HeaderRules,
    pub response_headers: HeaderRules,
    /// Names of the rate-limit policies applied to this route, in document order.
    pub rate_limits: Vec<String>,
    /// Who may call this route; anyone when absent.
    pub auth: Option<RouteAuth>,
    /// How responses are cached; not at all when absent.
    pub cache: Option<CachePolicy>,
    /// Deadline for the whole request to the service, retries included (default: the
    /// service's `timeout_ms`).
    pub timeout_ms: Option<u64>,
    /// Answer used when the service fails or its circuit is open.
    pub fallback: Option<Fallback>,
    /// Version routing by request header.
    pub versions: Option<Versions>,
    /// CORS and IP rules: the route's own, or the document's.
    pub security: SecurityPolicy,
    /// WebSocket upgrades are passed through to the service (after authentication and rate
    /// limiting of the handshake).
    pub websocket: bool,
}

/// Where a route's requests go.
#[derive(Debug, Clone)]
pub enum Destination {
    /// Proxied to one upstream of this service.
    Service(String),
    /// Fanned out to several backends whose answers are composed.
    Aggregate(Aggregate),
}

/// How the path sent upstream is derived from the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// Send the request path unchanged (the default).
    Keep,
    /// Remove this literal prefix; an empty remainder becomes `/`.
    StripPrefix(String),
    /// Build the path from a template using the route's parameters.
    Template(Template),
}

/// Header changes applied in order: remove first, then set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderRules {
    /// Lower-case names to set, replacing any value already present.
    pub set: Vec<(String, String)>,
    /// Lower-case names to remove.
    pub remove: Vec<String>,
}
