//! API keys: consumers stored in KV under the SHA-256 of their key, never the key itself.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use worker::Env;

use crate::bindings;
use crate::digest::sha256_hex;
use crate::memo::Expiring;

/// KV key prefix of consumer records: `consumer:<sha256 hex of the API key>`.
pub const KV_PREFIX: &str = "consumer:";
/// How long a lookup (found or not) is remembered by an isolate.
const CACHE_MS: f64 = 30_000.0;
const CACHE_CAPACITY: usize = 10_000;

/// A consumer record, as `npm run consumer -- create` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Rate-limit plan of this consumer.
    #[serde(default)]
    pub plan: Option<String>,
    /// A disabled consumer's key is refused.
    #[serde(default)]
    pub disabled: bool,
}

thread_local! {
    /// SHA-256 of a key → its consumer (or none), for [`CACHE_MS`].
    static LOOKUPS: RefCell<Expiring<Option<Consumer>>> = RefCell::new(Expiring::new(CACHE_CAPACITY));
}

/// The consumer owning `key`, if any.
pub async fn lookup(env: &Env, key: &str, now_ms: f64) -> Result<Option<Consumer>, String> {
    let hash = sha256_hex(key);
    let cached = LOOKUPS.with(|l| l.borrow().get(&hash, now_ms).map(|(_, c)| c.clone()));
    if let Some(consumer) = cached {
        return Ok(consumer);
    }
    let kv = env.kv(bindings::CONFIG).map_err(|e| e.to_string())?;
    let consumer: Option<Consumer> = kv
        .get(&format!("{KV_PREFIX}{hash}"))
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let consumer = consumer.filter(|c| !c.disabled);
    LOOKUPS.with(|l| {
        l.borrow_mut()
            .insert(hash, now_ms + CACHE_MS, consumer.clone(), now_ms)
    });
    Ok(consumer)
}
