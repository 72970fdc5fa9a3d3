//! Documents the gateway fetches for many requests (an issuer's discovery metadata, a
//! client-credentials token): kept per isolate until they expire, fetched by one request at a
//! time per key while the others wait for it, and, when a refetch fails, the last copy kept
//! for a short while rather than failing every request.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::thread::LocalKey;

use crate::platform;

/// How often a request waiting for another request's fetch looks again.
const WAIT_STEP_MS: u64 = 5;
/// How long a stale copy stands in after a failed refetch, before the next attempt.
const RETRY_MS: f64 = 10_000.0;

/// The copies of one kind of document, by key.
pub struct Fetched<V> {
    entries: HashMap<String, (f64, V)>,
    in_flight: HashSet<String>,
    errors: HashMap<String, String>,
}

impl<V> Default for Fetched<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            in_flight: HashSet::new(),
            errors: HashMap::new(),
        }
    }
}

/// Removes the in-flight mark however the fetching request ends, even if it is cancelled.
struct InFlight<V: 'static>(&'static LocalKey<RefCell<Fetched<V>>>, String);

impl<V> Drop for InFlight<V> {
    fn drop(&mut self) {
        self.0.with(|f| f.borrow_mut().in_flight.remove(&self.1));
    }
}

/// The copy for `key`, fetched by `fetch` (the value and how many ms it may be kept) when
/// there is none still valid; waits up to `timeout_ms` for another request's fetch.
pub async fn get<V: Clone + 'static, F: Future<Output = Result<(V, f64), String>>>(
    cell: &'static LocalKey<RefCell<Fetched<V>>>,
    key: &str,
    now_ms: f64,
    timeout_ms: u64,
    fetch: impl FnOnce() -> F,
) -> Result<V, String> {
    let kept = cell.with(|c| c.borrow().entries.get(key).cloned());
    if let Some((until, value)) = &kept {
        if *until > now_ms {
            return Ok(value.clone());
        }
    }
    let leader = cell.with(|c| c.borrow_mut().in_flight.insert(key.to_string()));
    if !leader {
        let mut waited = 0;
        while cell.with(|c| c.borrow().in_flight.contains(key)) {
            if waited > timeout_ms {
                return Err("timed out waiting for a concurrent fetch".into());
            }
            worker::Delay::from(std::time::Duration::from_millis(WAIT_STEP_MS)).await;
            waited += WAIT_STEP_MS;
        }
        return cell.with(|c| {
            let c = c.borrow();
            match c.entries.get(key) {
                Some((until, value)) if *until > now_ms => Ok(value.clone()),
                _ => Err(c
                    .errors
                    .get(key)
                    .cloned()
                    .unwrap_or_else(|| "fetch failed".into())),
            }
        });
    }
    let _mark = InFlight(cell, key.to_string());
    match fetch().await {
        Ok((value, keep_ms)) => {
            let until = platform::now_ms().max(now_ms) + keep_ms;
            cell.with(|c| {
                c.borrow_mut()
                    .entries
                    .insert(key.to_string(), (until, value.clone()))
            });
            Ok(value)
        }
        Err(cause) => {
            cell.with(|c| c.borrow_mut().errors.insert(key.to_string(), cause.clone()));
            match kept {
                // The last copy is still the best evidence there is; ask again only later.
                Some((_, value)) => {
                    let until = now_ms + RETRY_MS;
                    cell.with(|c| {
                        c.borrow_mut()
                            .entries
                            .insert(key.to_string(), (until, value.clone()))
                    });
                    Ok(value)
                }
                None => Err(cause),
            }
        }
    }
}

/// Forgets the copy for `key` (a token the upstream refused).
pub fn forget<V>(cell: &'static LocalKey<RefCell<Fetched<V>>>, key: &str) {
    cell.with(|c| c.borrow_mut().entries.remove(key));
}
