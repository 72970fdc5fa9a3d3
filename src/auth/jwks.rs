//! JSON Web Key Sets: fetched from the issuer, kept per isolate and in the Cache API.
//!
//! A set is trusted for its `Cache-Control: max-age`, clamped to the issuer's floor and ceiling.
//! A token with an unknown `kid` may trigger one early refetch per issuer per refetch interval
//! (`jwks_refetch_seconds`, default 10), so forged `kid`s cannot make the gateway hammer the
//! IdP; concurrent misses share one fetch. When the IdP fails, the last keys fetched keep
//! serving, and the IdP is asked again only after the refetch interval.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use serde_json::Value;
use worker::{Cache, Headers, Response};

use super::keys::{self, VerifyKey};
use crate::observe::otlp::{self, Kind};
use crate::observe::tracing::Scope;
use crate::platform::{self, fetch};

/// Where an issuer publishes its keys, and how long to trust a fetched set.
#[derive(Debug, Clone, PartialEq)]
pub struct JwksSettings {
    pub url: String,
    /// The set is kept at least this long, whatever its `Cache-Control` says (default 60 s).
    pub min_ttl_s: u64,
    /// ... and at most this long (default 86,400 s).
    pub max_ttl_s: u64,
    /// Shortest time between two refetches forced by unknown `kid`s (default 10 s).
    pub refetch_ms: f64,
}

/// Deadline for the IdP's whole answer, headers and body.
const FETCH_TIMEOUT_MS: u64 = 5_000;

#[derive(Clone)]
struct Entry {
    keys: Rc<Vec<VerifyKey>>,
    expires_at_ms: f64,
    fetched_at_ms: f64,
}

thread_local! {
    static SETS: RefCell<HashMap<String, Entry>> = RefCell::new(HashMap::new());
    /// URLs being fetched right now, and the last failure of each.
    static IN_FLIGHT: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
    static LAST_ERROR: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

/// How often a request waiting for another request's fetch looks again.
const WAIT_STEP_MS: u64 = 5;

/// The keys of a set. `refresh` asks for a fresh copy because a token named an unknown `kid`;
/// it is honoured at most once per refetch interval.
pub async fn keys(
    settings: &JwksSettings,
    now_ms: f64,
    refresh: bool,
    scope: Scope<'_>,
) -> Result<Rc<Vec<VerifyKey>>, String> {
    let cached = SETS.with(|sets| sets.borrow().get(&settings.url).cloned());
    if let Some(entry) = &cached {
        let fresh = entry.expires_at_ms > now_ms;
        let may_refetch = now_ms - entry.fetched_at_ms >= settings.refetch_ms;
        if (fresh && !refresh) || (refresh && !may_refetch) {
            return Ok(entry.keys.clone());
        }
    }
    // Another isolate in this location may have fetched it already (not for forced refreshes,
    // which must see the IdP's current set).
    if !refresh && cached.is_none() {
        let started = platform::now_ms();
        let found = from_edge_cache(&settings.url).await;
        if scope.is_on() {
            scope.record(
                "jwks edge cache",
                Kind::Internal,
                started,
                vec![
                    ("url.full", otlp::Value::Text(settings.url.clone())),
                    ("gateway.cache.hit", otlp::Value::Bool(found.is_some())),
                ],
                None,
            );
        }
        if let Some((keys, ttl_s)) = found {
            store(&settings.url, keys.clone(), now_ms, ttl_s, settings);
            return Ok(keys);
        }
    }
    let started = platform::now_ms();
    let fetched = fetch_once(settings, now_ms).await;
    if scope.is_on() {
        scope.record(
            "jwks fetch",
            Kind::Client,
            started,
            vec![
                ("http.request.method", otlp::Value::Text("GET".into())),
                ("url.full", otlp::Value::Text(settings.url.clone())),
                ("gateway.jwks.refresh", otlp::Value::Bool(refresh)),
            ],
            fetched.as_ref().err().cloned(),
        );
    }
    match fetched {
        Ok(keys) => Ok(keys),
        Err(cause) => match cached {
            // The IdP is down: the last known keys are still the best evidence there is.
            Some(entry) => {
                SETS.with(|sets| {
                    if let Some(e) = sets.borrow_mut().get_mut(&settings.url) {
                        // Ask the IdP again only after the refetch interval, not on every request.
                        e.fetched_at_ms = now_ms;
                        e.expires_at_ms = e.expires_at_ms.max(now_ms + settings.refetch_ms);
                    }
                });
                platform::log_error(
                    &serde_json::json!({"type": "auth", "event": "jwks_unavailable",
                    "url": settings.url, "cause": cause, "action": "using cached keys"})
                    .to_string(),
                );
                Ok(entry.keys)
            }
            None => Err(cause),
        },
    }
}

fn store(url: &str, keys: Rc<Vec<VerifyKey>>, now_ms: f64, ttl_s: u64, settings: &JwksSettings) {
    let ttl = ttl_s.clamp(settings.min_ttl_s, settings.max_ttl_s) as f64 * 1000.0;
    SETS.with(|sets| {
        sets.borrow_mut().insert(
            url.to_string(),
            Entry {
                keys,
                expires_at_ms: now_ms + ttl,
                fetched_at_ms: now_ms,
            },
        )
    });
}

/// Removes the in-flight mark however the fetching request ends, even if it is cancelled.
struct InFlight(String);

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.with(|f| f.borrow_mut().remove(&self.0));
    }
}

/// One fetch per URL at a time. The runtime does not let one request await another's I/O, so
/// a request that finds a fetch under way waits on its own timer for the result to be stored.
async fn fetch_once(settings: &JwksSettings, now_ms: f64) -> Result<Rc<Vec<VerifyKey>>, String> {
    let url = settings.url.clone();
    let leader = IN_FLIGHT.with(|f| f.borrow_mut().insert(url.clone()));
    if leader {
        let _mark = InFlight(url.clone());
        let result = fetch(settings).await;
        return match result {
            Ok((keys, ttl_s)) => {
                // Stamped with the time the fetch finished, so requests that began waiting
                // during it recognise it as new.
                store(
                    &url,
                    keys.clone(),
                    platform::now_ms().max(now_ms),
                    ttl_s,
                    settings,
                );
                Ok(keys)
            }
            Err(cause) => {
                LAST_ERROR.with(|e| e.borrow_mut().insert(url.clone(), cause.clone()));
                Err(cause)
            }
        };
    }
    let mut waited = 0;
    while IN_FLIGHT.with(|f| f.borrow().contains(&url)) {
        if waited > FETCH_TIMEOUT_MS {
            return Err("timed out waiting for a concurrent key-set fetch".into());
        }
        worker::Delay::from(std::time::Duration::from_millis(WAIT_STEP_MS)).await;
        waited += WAIT_STEP_MS;
    }
    let stored = SETS.with(|sets| {
        sets.borrow()
            .get(&url)
            .filter(|e| e.fetched_at_ms >= now_ms)
            .map(|e| e.keys.clone())
    });
    stored.ok_or_else(|| {
        LAST_ERROR
            .with(|e| e.borrow().get(&url).cloned())
            .unwrap_or_else(|| "key-set fetch failed".into())
    })
}

async fn fetch(settings: &JwksSettings) -> Result<(Rc<Vec<VerifyKey>>, u64), String> {
    // The deadline covers the body too: an IdP that sends its headers and then stalls must not
    // hold the fetch (and every request waiting on it) open.
    let answer = fetch::get_text_within(&settings.url, FETCH_TIMEOUT_MS)
        .await
        .ok_or_else(|| format!("no answer within {FETCH_TIMEOUT_MS} ms"))??;
    if answer.status != 200 {
        return Err(format!("the key set answered {}", answer.status));
    }
    let max_age = max_age(&answer.cache_control).unwrap_or(0);
    let text = answer.text;
    let keys = parse_set(&text)?;
    let ttl = max_age.clamp(settings.min_ttl_s, settings.max_ttl_s);
    to_edge_cache(&settings.url, &text, ttl).await;
    Ok((Rc::new(keys), max_age))
}

/// The usable signature keys of a JWKS document; keys of other types or uses are skipped.
pub fn parse_set(text: &str) -> Result<Vec<VerifyKey>, String> {
    let document: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let keys = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no 'keys' array")?;
    Ok(keys.iter().filter_map(|k| keys::from_jwk(k).ok()).collect())
}

/// `max-age` (or `s-maxage`) of a `Cache-Control` value; `no-store`/`no-cache` count as 0.
pub fn max_age(cache_control: &str) -> Option<u64> {
    let mut age = None;
    for directive in cache_control.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(0);
        }
        if let Some(value) = lower
            .strip_prefix("s-maxage=")
            .or_else(|| lower.strip_prefix("max-age="))
        {
            if let Ok(seconds) = value.trim_matches('"').parse::<u64>() {
                age = Some(age.map_or(seconds, |a: u64| a.min(seconds)));
            }
        }
    }
    age
}

/// A response's `Cache-Control` max-age in seconds; 0 when absent.
fn response_max_age(response: &Response) -> u64 {
    let cache_control = response.headers().get("cache-control").ok().flatten();
    cache_control.and_then(|cc| max_age(&cc)).unwrap_or(0)
}

async fn from_edge_cache(url: &str) -> Option<(Rc<Vec<VerifyKey>>, u64)> {
    let mut response = Cache::default().get(url, true).await.ok()??;
    let ttl = response_max_age(&response);
    let text = response.text().await.ok()?;
    parse_set(&text).ok().map(|keys| (Rc::new(keys), ttl))
}

async fn to_edge_cache(url: &str, text: &str, ttl_s: u64) {
    if ttl_s == 0 {
        return;
    }
    let headers = Headers::new();
    let stored = headers
        .set("content-type", "application/json")
        .and_then(|_| headers.set("cache-control", &format!("max-age={ttl_s}")))
        .and_then(|_| Response::ok(text))
        .map(|r| r.with_headers(headers));
    if let Ok(response) = stored {
        // Best effort: a failed put only means the next isolate fetches from the IdP.
        let _ = Cache::default().put(url, response).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_and_no_store_means_zero() {
        assert_eq!(max_age("public, max-age=300"), Some(300));
        assert_eq!(max_age("max-age=300, s-maxage=60"), Some(60));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("public"), None);
    }

    #[test]
    fn unusable_keys_in_a_set_are_skipped() {
        let set = r#"{"keys":[{"kty":"oct","k":"c2hvcnQ"},{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"ed"}]}"#;
        let keys = parse_set(set).expect("set");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("ed"));
        assert!(parse_set("{}").is_err());
    }
}
