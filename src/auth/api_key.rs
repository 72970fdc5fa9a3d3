//! API keys: consumers stored in KV under the SHA-256 of their key, never the key itself.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use worker::Env;

use crate::config::loader::BINDING;
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

/// Lower-case hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    crate::observe::trace::hex(&Sha256::digest(text.as_bytes()))
}

/// The consumer owning `key`, if any.
pub async fn lookup(env: &Env, key: &str, now_ms: f64) -> Result<Option<Consumer>, String> {
    let hash = sha256_hex(key);
    let cached = LOOKUPS.with(|l| l.borrow().get(&hash, now_ms).map(|(_, c)| c.clone()));
    if let Some(consumer) = cached {
        return Ok(consumer);
    }
    let kv = env.kv(BINDING).map_err(|e| e.to_string())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
