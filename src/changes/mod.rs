//! Safe configuration changes: every change goes through one Durable Object
//! ([`object::ConfigControl`]) that compares and serialises them, keeps the audit trail and
//! the revocation list, and judges staged rollouts.
//!
//! - [`versions`]: pushed documents kept in KV, and the pointer to the current one.
//! - [`retention`]: which versions a push lets go.
//! - [`rollout`]: candidates, which clients they serve, and how they are judged.
//! - [`revocation`]: revoked credentials, known to every isolate within seconds.
//! - [`operators`]: admin tokens and their scopes.
//! - [`client`]: the Worker's calls to the object.

pub mod client;
pub mod config;
pub mod object;
pub mod operators;
pub mod retention;
pub mod revocation;
pub mod rollout;
pub mod versions;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The one `ConfigControl` object's name.
pub const CONTROL_NAME: &str = "config";

/// One write through the admin API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at_ms: f64,
    /// The operator's name (`admin` for `ADMIN_TOKEN`, `rollout` for automatic decisions).
    pub operator: String,
    /// The client address of the request.
    pub address: Option<String>,
    /// `config.push`, `config.rollback`, `cache.purge`, `rate_limits.reset`, `revoke`, …
    pub action: String,
    pub detail: Value,
}
