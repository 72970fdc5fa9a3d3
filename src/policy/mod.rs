//! Policies: what users add to a route without changing the gateway. A route's `policies`
//! run in order between authentication and the origin, and in reverse on the way out; each
//! may have a `when`. Kinds: `worker` (a Worker of the user's own, through a service binding),
//! `http` (the same protocol to a URL: forward auth), `transform`, `validate` and `mock`.

pub mod call;
pub mod config;
pub mod limits;
pub mod mock;
pub mod pointer;
pub mod protocol;
pub mod schema;
pub mod spec;
pub mod transform;
pub mod validate;

use crate::condition::Condition;

pub use limits::{MAX_BODY_BYTES, MAX_CALL_MS};

/// One policy of a route.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Unique within the route; named in logs and problems.
    pub name: String,
    /// Applies only to requests that meet it; to all when absent.
    pub when: Option<Condition>,
    pub kind: Kind,
}

/// What a policy does.
#[derive(Debug, Clone)]
pub enum Kind {
    Worker(call::Call),
    Http(call::Call),
    Transform(transform::Transform),
    Validate(validate::Validation),
    Mock(mock::Mock),
}

impl Kind {
    /// The kind's key in the route document.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Worker(_) => "worker",
            Self::Http(_) => "http",
            Self::Transform(_) => "transform",
            Self::Validate(_) => "validate",
            Self::Mock(_) => "mock",
        }
    }
}

impl Policy {
    /// The most request body bytes it reads, when it reads the body at all.
    pub fn reads_body(&self) -> Option<u64> {
        match &self.kind {
            Kind::Worker(call) | Kind::Http(call) => call.body_bytes,
            Kind::Transform(t) if t.request.touches_body() => Some(MAX_BODY_BYTES),
            Kind::Validate(v) if v.reads_body() => Some(v.max_body_bytes),
            _ => None,
        }
    }

    /// Whether it does anything on the way out.
    pub fn has_response_phase(&self) -> bool {
        match &self.kind {
            Kind::Worker(call) | Kind::Http(call) => call.response_phase,
            Kind::Transform(t) => !t.response.is_empty(),
            _ => false,
        }
    }

    /// Whether its `when` reads the platform's `cf` object.
    pub fn reads_cf(&self) -> bool {
        self.when.as_ref().is_some_and(Condition::reads_cf)
    }
}
