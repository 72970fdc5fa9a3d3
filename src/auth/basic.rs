//! HTTP Basic authentication (RFC 7617) for consumers whose passwords are stored as salted
//! PBKDF2-SHA256 hashes in KV (`basic:<user>`), never the password; compared in constant time.
//! A verified user and password are remembered per isolate for a minute, keyed by their hash,
//! so the slow derivation runs once, not on every request.

use std::cell::RefCell;

use base64::Engine;
use serde::{Deserialize, Serialize};
use worker::Env;

use super::api_key::Consumer;
use crate::bindings;
use crate::digest::sha256_hex;
use crate::memo::Expiring;
use crate::platform;

/// KV key prefix of Basic consumers: `basic:<user name>`.
pub const KV_PREFIX: &str = "basic:";
const CACHE_MS: f64 = 60_000.0;
const CACHE_CAPACITY: usize = 10_000;
/// Most PBKDF2 iterations the platform derives.
pub const MAX_ITERATIONS: u32 = 100_000;

/// A Basic consumer record, as `npm run consumer -- create NAME --password` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    #[serde(flatten)]
    pub consumer: Consumer,
    pub password: Hash,
}

/// A salted password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hash {
    /// `pbkdf2-sha256`, the only one.
    pub alg: String,
    pub iterations: u32,
    /// Base64 (standard) of the salt and of the 32-byte derived key.
    pub salt: String,
    pub hash: String,
}

thread_local! {
    /// SHA-256 of "user:password" → the consumer, or none for a wrong pair.
    static VERIFIED: RefCell<Expiring<Option<Consumer>>> = RefCell::new(Expiring::new(CACHE_CAPACITY));
}

/// The user and password of an `Authorization: Basic` header.
pub fn credentials(authorization: &str) -> Option<(String, String)> {
    let (scheme, encoded) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Equal bytes, in time that depends only on their lengths.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The consumer whose password this is; `Ok(None)` for an unknown user, a disabled one or a
/// wrong password.
pub async fn verify(
    env: &Env,
    user: &str,
    password: &str,
    now_ms: f64,
) -> Result<Option<Consumer>, String> {
    let key = sha256_hex(&format!("{user}:{password}"));
    if let Some((_, known)) =
        VERIFIED.with(|v| v.borrow().get(&key, now_ms).map(|(u, c)| (u, c.clone())))
    {
        return Ok(known);
    }
    let kv = env.kv(bindings::CONFIG).map_err(|e| e.to_string())?;
    let record: Option<Record> = kv
        .get(&format!("{KV_PREFIX}{user}"))
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let consumer = match record.filter(|r| !r.consumer.disabled) {
        Some(record) => check(&record, password).await?.then_some(record.consumer),
        None => None,
    };
    VERIFIED.with(|v| {
        v.borrow_mut()
            .insert(key, now_ms + CACHE_MS, consumer.clone(), now_ms)
    });
    Ok(consumer)
}

async fn check(record: &Record, password: &str) -> Result<bool, String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let hash = &record.password;
    if hash.alg != "pbkdf2-sha256" || hash.iterations == 0 || hash.iterations > MAX_ITERATIONS {
        return Err(format!(
            "the record of '{}' has an unusable password hash",
            record.consumer.name
        ));
    }
    let salt = engine.decode(&hash.salt).map_err(|e| e.to_string())?;
    let expected = engine.decode(&hash.hash).map_err(|e| e.to_string())?;
    let derived = platform::pbkdf2_sha256(password, salt, hash.iterations).await?;
    Ok(same(&derived, &expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_read_and_compared_in_full() {
        assert_eq!(
            credentials("Basic YWxpY2U6czNjcjN0OndpdGg6Y29sb25z"),
            Some(("alice".into(), "s3cr3t:with:colons".into()))
        );
        assert_eq!(credentials("Bearer abc"), None);
        assert_eq!(credentials("Basic %%%"), None);
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        let record: Record = serde_json::from_str(
            r#"{"name":"alice","scopes":["a"],"password":{"alg":"pbkdf2-sha256","iterations":1000,"salt":"c2FsdA==","hash":"aGFzaA=="}}"#,
        )
        .unwrap();
        assert_eq!(record.consumer.scopes, vec!["a".to_string()]);
    }
}
