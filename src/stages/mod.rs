//! The stages of the request path, one file each; their order is in `pipeline.rs`.
//!
//! Every stage has the same shape, like a pingora phase: an optional request phase that reads
//! and writes the [`Exchange`] and then lets the request go on or answers it, and an optional
//! response phase that runs on the way back, in reverse order, for every stage whose request
//! phase ran (the one that answered included). A stage adapts the exchange to its domain's
//! plain functions and nothing else; no stage calls another.

pub mod admin;
pub mod aggregate;
pub mod authenticate;
pub mod cache_lookup;
pub mod cache_store;
pub mod configuration;
pub mod edge_security;
pub mod fallback;
pub mod firewall;
pub mod forwarding;
pub mod intake;
pub mod invalidate;
pub mod login;
pub mod openapi;
pub mod policies;
pub mod rate_limit;
pub mod revocation;
pub mod route;
pub mod service;
pub mod upstream;
pub mod websocket;

use crate::error::GatewayError;
use crate::exchange::{Answer, Exchange};

/// What a request phase decided.
pub enum Flow {
    /// On to the next stage.
    Continue,
    /// This is the answer: no later stage runs, and it goes back through the earlier ones.
    Respond(Answer),
}

/// The answer, or the error that ended the request, on its way back.
pub type Outcome = Result<Answer, GatewayError>;

/// One stage of the request path. Both phases default to doing nothing.
// Workers run one thread: the phases' futures need no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Stage {
    /// On the way in: go on (the default) or answer. An error ends the request like an
    /// answer would, and goes back through the earlier stages' response phases.
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let _ = ex;
        Ok(Flow::Continue)
    }

    /// On the way out: may add to the answer, store it, or stand in for a failure. By default
    /// the outcome passes on unchanged.
    async fn response(&self, ex: &mut Exchange<'_>, outcome: Outcome) -> Outcome {
        let _ = ex;
        outcome
    }
}
