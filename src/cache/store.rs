//! The tiers. The edge tier is the Cache API of the location serving the request; the global
//! tier is the `CACHE` KV namespace, for routes that opt in. Both hold [`Entry::encode`]d bytes
//! under the same key. In front of them each isolate keeps its hottest small entries in memory,
//! so a repeated hit costs no I/O at all. Reads go memory → edge → KV; a KV hit is copied back to
//! the edge, and every hit or store is remembered in memory (for a few seconds at most). Entries from any tier are judged by
//! the same freshness rules and purge markers, so where one came from never changes an answer.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use worker::{Cache, Env, Response};

use super::entry::Entry;
use super::zone;
use crate::observe::otlp::{Kind, Value};
use crate::observe::tracing::Scope;
use crate::{bindings, platform};

/// Where an entry was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Memory,
    Edge,
    Global,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Memory => "memory",
            Tier::Edge => "edge",
            Tier::Global => "kv",
        }
    }
}

/// Bytes of entries an isolate keeps in memory (isolates have 128 MB).
const MEMORY_BUDGET: usize = 8 * 1024 * 1024;
/// Larger entries are only kept in the edge and global tiers.
const MEMORY_ENTRY_MAX: usize = 256 * 1024;
/// An entry is recalled from memory for at most this long before the edge is asked again, so
/// a purge through the zone's API (which empties the edge, not isolates) reaches every isolate
/// within it.
const MEMORY_TRUST_MS: f64 = 5_000.0;

/// An isolate's hottest entries, oldest first out when the budget is reached.
#[derive(Default)]
struct Memory {
    entries: HashMap<String, (f64, Entry)>,
    order: VecDeque<String>,
    bytes: usize,
}

impl Memory {
    fn recall(&self, key: &str, now_ms: f64) -> Option<Entry> {
        self.entries
            .get(key)
            .filter(|(until, _)| *until > now_ms)
            .map(|(_, entry)| entry.clone())
    }

    fn remember(&mut self, key: &str, entry: &Entry, now_ms: f64) {
        let size = footprint(entry);
        self.forget(key);
        if size > MEMORY_ENTRY_MAX {
            return;
        }
        while self.bytes + size > MEMORY_BUDGET {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some((_, gone)) = self.entries.remove(&oldest) {
                self.bytes -= footprint(&gone);
            }
        }
        let until = now_ms + (entry.retention_s() as f64 * 1000.0).min(MEMORY_TRUST_MS);
        self.entries.insert(key.to_string(), (until, entry.clone()));
        self.order.push_back(key.to_string());
        self.bytes += size;
    }

    fn forget(&mut self, key: &str) {
        if let Some((_, gone)) = self.entries.remove(key) {
            self.bytes -= footprint(&gone);
            self.order.retain(|k| k != key);
        }
    }
}

fn footprint(entry: &Entry) -> usize {
    let headers: usize = entry
        .meta
        .headers
        .iter()
        .map(|(n, v)| n.len() + v.len())
        .sum();
    entry.body.len() + headers + 256
}

thread_local! {
    static MEMORY: RefCell<Memory> = RefCell::new(Memory::default());
}

fn remember(key: &str, entry: &Entry) {
    MEMORY.with(|m| m.borrow_mut().remember(key, entry, platform::now_ms()));
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
    scope: Scope<'_>,
) -> (Option<(Entry, Tier)>, Vec<String>) {
    let mut problems = Vec::new();
    if let Some(entry) = MEMORY.with(|m| m.borrow().recall(key, platform::now_ms())) {
        return (Some((entry, Tier::Memory)), problems);
    }
    let started = platform::now_ms();
    let edge = read_edge(host, key).await;
    traced(
        scope,
        Tier::Edge,
        started,
        edge.as_ref()
            .map(Option::is_some)
            .map_err(|e| e.to_string()),
    );
    match edge {
        Ok(Some(entry)) => {
            remember(key, &entry);
            return (Some((entry, Tier::Edge)), problems);
        }
        Ok(None) => {}
        Err(e) => problems.push(format!("edge cache read: {e}")),
    }
    if !global {
        return (None, problems);
    }
    let started = platform::now_ms();
    let kv = read_global(env, key).await;
    traced(
        scope,
        Tier::Global,
        started,
        kv.as_ref().map(Option::is_some).map_err(|e| e.clone()),
    );
    match kv {
        Ok(found) => {
            if let Some(entry) = &found {
                remember(key, entry);
            }
            (found.map(|entry| (entry, Tier::Global)), problems)
        }
        Err(e) => {
            problems.push(format!("global cache read: {e}"));
            (None, problems)
        }
    }
}

/// A read of one tier as a span: whether it held the entry, or why it failed.
fn traced(scope: Scope<'_>, tier: Tier, started: f64, outcome: Result<bool, String>) {
    if !scope.is_on() {
        return;
    }
    let (attributes, error) = match outcome {
        Ok(hit) => (vec![("gateway.cache.hit", Value::Bool(hit))], None),
        Err(e) => (Vec::new(), Some(e)),
    };
    scope.record(
        &format!("cache read {}", tier.as_str()),
        Kind::Internal,
        started,
        attributes,
        error,
    );
}

async fn read_edge(host: &str, key: &str) -> worker::Result<Option<Entry>> {
    let Some(mut response) = Cache::default().get(edge_url(host, key), false).await? else {
        return Ok(None);
    };
    Ok(Entry::decode(&response.bytes().await?))
}

async fn read_global(env: &Env, key: &str) -> Result<Option<Entry>, String> {
    let kv = env.kv(bindings::CACHE).map_err(|e| e.to_string())?;
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
    response
        .headers()
        .set("cache-tag", &zone::header(&entry.meta))
        .map_err(|e| e.to_string())?;
    Cache::default()
        .put(edge_url(host, key), response)
        .await
        .map_err(|e| format!("edge cache write: {e}"))
}

/// Stores `entry` in KV for its retention time.
pub async fn write_global(env: &Env, key: &str, entry: &Entry) -> Result<(), String> {
    let kv = env.kv(bindings::CACHE).map_err(|e| e.to_string())?;
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
    remember(key, entry);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body_len: usize) -> Entry {
        crate::cache::entry::sample(0.0, vec![0; body_len])
    }

    #[test]
    fn memory_keeps_small_entries_within_its_budget_and_their_retention() {
        let mut memory = Memory::default();
        memory.remember("big", &entry(MEMORY_ENTRY_MAX + 1), 0.0);
        assert!(memory.recall("big", 0.0).is_none(), "too large for memory");
        let count = MEMORY_BUDGET / (200 * 1024) + 5;
        for i in 0..count {
            memory.remember(&format!("k{i}"), &entry(200 * 1024), 0.0);
        }
        assert!(memory.bytes <= MEMORY_BUDGET);
        assert!(memory.recall("k0", 0.0).is_none(), "the oldest went first");
        assert!(memory.recall(&format!("k{}", count - 1), 0.0).is_some());
        assert!(
            memory
                .recall(&format!("k{}", count - 1), MEMORY_TRUST_MS + 1.0)
                .is_none(),
            "the edge is asked again after a while"
        );
        memory.remember("k0", &entry(10), 0.0);
        memory.remember("k0", &entry(20), 0.0);
        assert_eq!(
            memory.recall("k0", 0.0).map(|e| e.body.len()),
            Some(20),
            "replaced, not duplicated"
        );
        assert_eq!(memory.order.iter().filter(|k| *k == "k0").count(), 1);
    }
}
