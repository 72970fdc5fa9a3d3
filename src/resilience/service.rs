//! A named origin service: its upstreams and how calls to it behave.

use super::breaker::BreakerSettings;
use super::health::{HealthCheck, Target};
use super::limiter::GlobalConcurrency;
use super::retry::RetrySettings;
use crate::auth::client_credentials::ClientCredentials;
use crate::http::{cookie, header};
use crate::upstream::target::Upstream;

/// Service timeout when `timeout_ms` is absent.
pub const DEFAULT_TIMEOUT_MS: u64 = 15_000;
/// Largest accepted `timeout_ms`: five minutes.
pub const MAX_TIMEOUT_MS: u64 = 300_000;

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
    /// Calls under way at once in one isolate (default: no limit); see [`super::bulkhead`].
    pub max_concurrent: Option<u32>,
    /// Active probes of every upstream (default: none); see [`super::health`].
    pub health_check: Option<HealthCheck>,
    /// Calls under way at once across every isolate (default: no limit); see
    /// [`super::limiter`].
    pub global_concurrency: Option<GlobalConcurrency>,
    /// Calls carry an OAuth2 client-credentials token (default: none); see
    /// [`crate::auth::client_credentials`].
    pub client_credentials: Option<ClientCredentials>,
}

/// What keeps a client on the same upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sticky {
    /// The value of this request header (lower case).
    Header(String),
    /// The value of this cookie.
    Cookie(String),
}

impl Service {
    /// What the health checker probes for this service: each upstream's origin at the
    /// check's path.
    pub fn health_targets(&self) -> Vec<Target> {
        let Some(check) = &self.health_check else {
            return Vec::new();
        };
        self.upstreams
            .iter()
            .map(|upstream| Target {
                service: self.name.clone(),
                upstream: upstream.origin_url(),
                url: format!("{}{}", upstream.origin, check.path),
                check: check.clone(),
            })
            .collect()
    }

    /// The request's sticky key, when the service has stickiness and the request carries one.
    pub fn sticky_key(&self, headers: &[(String, String)]) -> Option<String> {
        match self.sticky.as_ref()? {
            Sticky::Header(name) => header(headers, name).map(str::to_string),
            Sticky::Cookie(name) => cookie(headers, name),
        }
    }
}
