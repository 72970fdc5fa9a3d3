//! Configuration versions in the `CONFIG` KV namespace.
//!
//! Every pushed document is kept (until retention lets it go), never changed, under
//! `{key}@{version}`, where the
//! version is the first 16 hex digits of the SHA-256 of its exact text. The document under
//! `{key}` itself is the current one: moving the pointer is one KV write of a document that
//! already validated, and a rollback writes an earlier version back. Its metadata names the
//! version and the one it replaced, so "undo" needs no history scan. A document written to
//! `{key}` directly (`wrangler kv key put`) still works; it is simply not in the history.

use serde::{Deserialize, Serialize};
use worker::Env;

use crate::digest::sha256_hex;
use crate::{bindings, platform};

/// Most version records read for a listing (1,000 per page).
const MAX_PAGES: usize = 10;

/// The version of a document: a content hash, equal for equal texts wherever it is computed
/// (`sha256sum` prints the same first 16 digits).
pub fn version_of(text: &str) -> String {
    let mut hash = sha256_hex(text);
    hash.truncate(16);
    hash
}

/// Whether `text` looks like a version this module writes (and so is safe inside a KV key).
pub fn is_version(text: &str) -> bool {
    text.len() == 16
        && text
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn version_key(key: &str, version: &str) -> String {
    format!("{key}@{version}")
}

/// What is recorded with each stored version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub version: String,
    pub pushed_at_ms: f64,
    pub routes: usize,
    pub bytes: usize,
}

/// What is recorded with the current document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pointer {
    pub version: String,
    pub since_ms: f64,
    /// The version that was current before, if known: the default rollback target.
    pub previous: Option<String>,
    /// `push`, `rollback`, `promote`, `candidate` or `abort`.
    pub action: String,
    /// A candidate version being rolled out beside this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<super::rollout::Announced>,
}

/// The document a version names, validated against nothing: callers compile it.
pub async fn read(env: &Env, key: &str, version: &str) -> Result<Option<String>, String> {
    let kv = env.kv(bindings::CONFIG).map_err(|e| e.to_string())?;
    kv.get(&version_key(key, version))
        .text()
        .await
        .map_err(|e| e.to_string())
}

/// The current document and what its metadata says about it.
pub async fn current(env: &Env, key: &str) -> Result<Option<(String, Option<Pointer>)>, String> {
    let kv = env.kv(bindings::CONFIG).map_err(|e| e.to_string())?;
    let (text, pointer) = kv
        .get(key)
        .text_with_metadata::<Pointer>()
        .await
        .map_err(|e| e.to_string())?;
    Ok(text.map(|text| (text, pointer)))
}

/// Keeps `text` as a version, once: versions are immutable.
pub async fn store(
    env: &Env,
    key: &str,
    text: &str,
    routes: usize,
    now_ms: f64,
) -> Result<(), String> {
    let kv = env.kv(bindings::CONFIG).map_err(|e| e.to_string())?;
    let version = version_of(text);
    let stored_key = version_key(key, &version);
    let known = kv
        .get(&stored_key)
        .text()
        .await
        .map_err(|e| e.to_string())?
        .is_some();
    if known {
        return Ok(());
    }
    let record = VersionRecord {
        version: version.clone(),
        pushed_at_ms: now_ms,
        routes,
        bytes: text.len(),
    };
    kv.put(&stored_key, text)
        .and_then(|put| put.metadata(record))
        .map_err(|e| e.to_string())?
        .execute()
        .await
        .map_err(|e| format!("storing version {version}: {e}"))
}

/// Makes `text` the current document, with `pointer` as its metadata.
pub async fn point(env: &Env, key: &str, text: &str, pointer: &Pointer) -> Result<(), String> {
    let kv = env.kv(bindings::CONFIG).map_err(|e| e.to_string())?;
    kv.put(key, text)
        .and_then(|put| put.metadata(pointer.clone()))
        .map_err(|e| e.to_string())?
        .execute()
        .await
        .map_err(|e| format!("moving the current pointer: {e}"))
}

/// Deletes a stored version.
pub async fn delete(env: &Env, key: &str, version: &str) -> Result<(), String> {
    let kv = env.kv(bindings::CONFIG).map_err(|e| e.to_string())?;
    kv.delete(&version_key(key, version))
        .await
        .map_err(|e| format!("deleting version {version}: {e}"))
}

/// Every stored version, newest first.
pub async fn list(env: &Env, key: &str) -> Result<Vec<VersionRecord>, String> {
    let kv = env.kv(bindings::CONFIG).map_err(|e| e.to_string())?;
    let (keys, _) = platform::kv::keys(&kv, &version_key(key, ""), MAX_PAGES).await?;
    let mut records: Vec<VersionRecord> = keys
        .into_iter()
        .filter_map(|k| serde_json::from_value(k.metadata?).ok())
        .collect();
    newest_first(&mut records);
    Ok(records)
}

fn newest_first(records: &mut [VersionRecord]) {
    records.sort_by(|a, b| b.pushed_at_ms.total_cmp(&a.pushed_at_ms));
}

/// Which version a rollback restores: the one asked for, or else the one the current
/// document replaced.
pub fn rollback_target(
    asked: Option<&str>,
    current: Option<&Pointer>,
    current_version: &str,
) -> Result<String, String> {
    match asked {
        Some(version) if !is_version(version) => Err(format!(
            "'{version}' is not a version (16 lower-case hex digits, as listed by config/versions)."
        )),
        Some(version) if version == current_version => {
            Err(format!("Version {version} is already current."))
        }
        Some(version) => Ok(version.to_string()),
        None => current
            .filter(|p| p.version == current_version)
            .and_then(|p| p.previous.clone())
            .ok_or_else(|| {
                "The current document does not record what it replaced; name the version to restore."
                    .to_string()
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointer(version: &str, previous: Option<&str>) -> Pointer {
        Pointer {
            version: version.into(),
            since_ms: 0.0,
            previous: previous.map(Into::into),
            action: "push".into(),
            candidate: None,
        }
    }

    #[test]
    fn versions_are_sha256_prefixes() {
        // printf 'abc' | sha256sum
        assert_eq!(version_of("abc"), "ba7816bf8f01cfea");
        assert!(is_version(&version_of("{}")));
        assert!(!is_version("BA7816BF8F01CFEA"));
        assert!(!is_version("ba7816bf"));
        assert!(!is_version("../routes@000000"));
    }

    #[test]
    fn rollback_defaults_to_what_the_current_document_replaced() {
        let current = pointer("aaaaaaaaaaaaaaaa", Some("bbbbbbbbbbbbbbbb"));
        assert_eq!(
            rollback_target(None, Some(&current), "aaaaaaaaaaaaaaaa"),
            Ok("bbbbbbbbbbbbbbbb".into())
        );
        // A document written around the history has no usable pointer.
        assert!(rollback_target(None, Some(&current), "cccccccccccccccc").is_err());
        assert!(rollback_target(None, None, "aaaaaaaaaaaaaaaa").is_err());
        assert_eq!(
            rollback_target(Some("cccccccccccccccc"), None, "aaaaaaaaaaaaaaaa"),
            Ok("cccccccccccccccc".into())
        );
        assert!(rollback_target(Some("aaaaaaaaaaaaaaaa"), None, "aaaaaaaaaaaaaaaa").is_err());
        assert!(rollback_target(Some("routes"), None, "aaaaaaaaaaaaaaaa").is_err());
    }

    #[test]
    fn listings_are_newest_first() {
        let record = |v: &str, at: f64| VersionRecord {
            version: v.into(),
            pushed_at_ms: at,
            routes: 1,
            bytes: 1,
        };
        let mut records = vec![record("a", 1.0), record("c", 3.0), record("b", 2.0)];
        newest_first(&mut records);
        let order: Vec<&str> = records.iter().map(|r| r.version.as_str()).collect();
        assert_eq!(order, ["c", "b", "a"]);
    }
}
