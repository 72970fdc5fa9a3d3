//! Who is asking the admin API, and from where: what the audit trail records of each write.

use serde_json::{json, Value};
use worker::Env;

use crate::changes::operators::Operator;
use crate::changes::{self, AuditEntry};
use crate::platform;

/// Who is asking, and from where, for the audit trail.
pub struct Actor {
    pub operator: Operator,
    pub address: Option<String>,
}

impl Actor {
    /// An audit entry for `action` by this operator, now.
    pub fn entry(&self, action: &str, detail: Value) -> AuditEntry {
        AuditEntry {
            at_ms: platform::now_ms(),
            operator: self.operator.name.clone(),
            address: self.address.clone(),
            action: action.to_string(),
            detail,
        }
    }

    /// Records a write that is not a configuration change (those are recorded with the change).
    /// It has happened already: a failure to record it is logged, not answered.
    pub async fn record(&self, env: &Env, action: &str, detail: Value) {
        if let Err(cause) = changes::client::audit(env, &self.entry(action, detail)).await {
            platform::log_error(
                &json!({"type": "audit", "event": "record_failed", "action": action,
                        "operator": self.operator.name, "cause": cause})
                .to_string(),
            );
        }
    }
}
