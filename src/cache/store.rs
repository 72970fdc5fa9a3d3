//! The two tiers. The edge tier is the Cache API of the location serving the request; the global
//! tier is the `CACHE` KV namespace, for routes that opt in. Reads go edge → KV; a KV hit is
//! copied back to the edge. Both hold [`Entry::encode`]d bytes under the same key.

use worker::{Cache, Env, Response};

use super::entry::Entry;
use super::BINDING;

/// Where an entry was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Edge,
    Global,
}

/// The URL under which the Cache API keeps a key: on the request's own host, so the entry lives
/// in that zone's cache.
fn edge_url(host: &str, key: &str) -> String {
    format!("https://{host}/__gateway-cache/{key}")
}

fn kv_key(key: &str) -> String {
    format!("cache:{key}")
}

/// Reads `key` from the edge, then (if `global`) from KV. Failures of either tier count as a miss
/// and are returned for logging alongside whatever was found.
pub async fn read(
    host: &str,
    key: &str,
    env: &Env,
    global: bool,
) -> (Option<(Entry, Tier)>, Vec<String>) {
    let mut problems = Vec::new();
    match read_edge(host, key).await {
        Ok(Some(entry)) => return (Some((entry, Tier::Edge)), problems),
        Ok(None) => {}
        Err(e) => problems.push(format!("edge cache read: {e}")),
    }
    if !global {
        return (None, problems);
    }
    match read_global(env, key).await {
        Ok(found) => (found.map(|entry| (entry, Tier::Global)), problems),
        Err(e) => {
            problems.push(format!("global cache read: {e}"));
            (None, problems)
        }
    }
}

async fn read_edge(host: &str, key: &str) -> worker::Result<Option<Entry>> {
    let Some(mut response) = Cache::default().get(edge_url(host, key), false).await? else {
        return Ok(None);
    };
    Ok(Entry::decode(&response.bytes().await?))
}

async fn read_global(env: &Env, key: &str) -> Result<Option<Entry>, String> {
    let kv = env.kv(BINDING).map_err(|e| e.to_string())?;
    let bytes = kv
        .get(&kv_key(key))
        .bytes()
        .await
        .map_err(|e| e.to_string())?;
    Ok(bytes.as_deref().and_then(Entry::decode))
}

/// Stores `entry` at the edge for its retention time.
pub async fn write_edge(host: &str, key: &str, entry: &Entry) -> Result<(), String> {
    let response = Response::from_bytes(entry.encode()).map_err(|e| e.to_string())?;
    response
        .headers()
        .set(
            "cache-control",
            &format!("public, max-age={}", entry.retention_s()),
        )
        .map_err(|e| e.to_string())?;
    Cache::default()
        .put(edge_url(host, key), response)
        .await
        .map_err(|e| format!("edge cache write: {e}"))
}

/// Stores `entry` in KV for its retention time.
pub async fn write_global(env: &Env, key: &str, entry: &Entry) -> Result<(), String> {
    let kv = env.kv(BINDING).map_err(|e| e.to_string())?;
    kv.put_bytes(&kv_key(key), &entry.encode())
        .map_err(|e| e.to_string())?
        .expiration_ttl(entry.retention_s().max(60))
        .execute()
        .await
        .map_err(|e| format!("global cache write: {e}"))
}

/// Stores `entry` in the edge tier and, if `global`, in KV.
pub async fn write(host: &str, key: &str, entry: &Entry, env: &Env, global: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = write_edge(host, key, entry).await {
        problems.push(e);
    }
    if global {
        if let Err(e) = write_global(env, key, entry).await {
            problems.push(e);
        }
    }
    problems
}
