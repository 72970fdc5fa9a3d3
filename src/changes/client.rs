//! The Worker's calls to the `ConfigControl` object.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use worker::Env;

use super::object::{Commit, Committed};
use super::revocation::Revocation;
use super::{AuditEntry, CONTROL_NAME};
use crate::{bindings, platform};

const TIMEOUT_MS: u64 = 30_000;

async fn call<T: DeserializeOwned>(
    env: &Env,
    method: &str,
    path: &str,
    body: Option<&impl Serialize>,
) -> Result<T, String> {
    let body = body
        .map(|b| serde_json::to_string(b).map_err(|e| e.to_string()))
        .transpose()?;
    let text = platform::object::call(
        env,
        bindings::CONFIG_CONTROL,
        CONTROL_NAME,
        method,
        path,
        body,
        Some(TIMEOUT_MS),
    )
    .await
    .map_err(|cause| format!("the configuration control object: {cause}"))?;
    let text = if text.is_empty() { "null" } else { &text };
    serde_json::from_str(text).map_err(|e| format!("the configuration control object: {e}"))
}

/// Makes a document current (or a candidate), if the expected version still is.
pub async fn commit(env: &Env, commit: &Commit) -> Result<Committed, String> {
    call(env, "POST", "/commit", Some(commit)).await
}

/// Records a write that is not a configuration change.
pub async fn audit(env: &Env, entry: &AuditEntry) -> Result<(), String> {
    call::<Value>(env, "POST", "/audit", Some(entry))
        .await
        .map(|_| ())
}

/// The newest `limit` audit entries, newest first.
pub async fn audit_entries(env: &Env, limit: u64) -> Result<Value, String> {
    call(env, "GET", &format!("/audit?limit={limit}"), None::<&()>).await
}

pub async fn revoke(
    env: &Env,
    revocation: &Revocation,
    entry: &AuditEntry,
) -> Result<Value, String> {
    call(env, "POST", "/revocations", Some(&(revocation, entry))).await
}

pub async fn restore(
    env: &Env,
    revocation: &Revocation,
    entry: &AuditEntry,
) -> Result<Value, String> {
    call(env, "DELETE", "/revocations", Some(&(revocation, entry))).await
}

/// The revocations in force and the list's version.
pub async fn revocations(env: &Env) -> Result<Value, String> {
    call(env, "GET", "/revocations", None::<&()>).await
}

/// The candidate under way, if any, with its checks, and the last rollout's outcome.
pub async fn candidate(env: &Env) -> Result<Value, String> {
    call(env, "GET", "/candidate", None::<&()>).await
}
