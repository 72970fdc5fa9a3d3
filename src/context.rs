//! Per-request state that crosses stages. The access log is written from it alone.

use crate::error::GatewayError;
use crate::observe::trace::TraceContext;

/// What every stage may read and record about the request being served.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub trace: TraceContext,
    /// Platform time when the request arrived, in milliseconds since the epoch.
    pub started_ms: f64,
    pub method: String,
    pub host: String,
    pub path: String,
    /// Name of the matched route, once routing has chosen one.
    pub route: Option<String>,
    pub service: Option<String>,
    /// `jwt` or `api_key` once a caller is authenticated.
    pub auth_scheme: Option<&'static str>,
    /// The authenticated caller's subject (JWT `sub` or API-key consumer).
    pub principal: Option<String>,
    /// Version (content hash) of the configuration that served the request.
    pub config_version: Option<String>,
    pub upstream_status: Option<u16>,
    /// Time from sending the upstream request to its response headers.
    pub upstream_ms: Option<f64>,
    /// `RateLimit` response headers from the rate-limit stage.
    pub rate_limit_headers: Vec<(&'static str, String)>,
    /// Rate-limiter Durable Object calls made for this request.
    pub rate_limit_calls: u32,
    /// The `X-Cache` value on cached routes.
    pub cache: Option<&'static str>,
    /// CORS response headers for an allowed cross-origin request (errors carry them too).
    pub cors_headers: Vec<(String, String)>,
    /// The status returned to the client.
    pub status: u16,
    /// The error that ended the request, if one did: its stable code and full cause.
    pub error: Option<(&'static str, String)>,
    /// An admin API or OpenAPI request: logged, but not counted in the routes' metrics.
    pub internal: bool,
}

impl RequestContext {
    pub fn new(request_id: String, trace: TraceContext, started_ms: f64) -> Self {
        Self {
            request_id,
            trace,
            started_ms,
            method: String::new(),
            host: String::new(),
            path: String::new(),
            route: None,
            service: None,
            auth_scheme: None,
            principal: None,
            config_version: None,
            upstream_status: None,
            upstream_ms: None,
            rate_limit_headers: Vec::new(),
            rate_limit_calls: 0,
            cache: None,
            cors_headers: Vec::new(),
            status: 0,
            error: None,
            internal: false,
        }
    }

    /// Records the error that ended the request; its full cause goes to the log, not the client.
    pub fn record_error(&mut self, error: &GatewayError) {
        if let GatewayError::RateLimited { calls, .. } = error {
            self.rate_limit_calls = *calls;
        }
        self.error = Some((error.code(), error.to_string()));
    }
}
