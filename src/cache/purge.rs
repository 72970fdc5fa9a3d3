//! Purges that reach every location. The Cache API can be neither listed nor purged across
//! locations, so nothing is deleted: a purge writes a marker (route, tag, URL, or everything) with
//! its time into the `CACHE` KV namespace, every isolate re-reads the markers at the
//! configuration refresh interval, and an entry fetched from the origin before a marker that
//! covers it is treated as absent. Entries fetched after the purge are unaffected. The isolate
//! that takes a purge applies it at once; others within the refresh interval plus KV's
//! propagation delay (up to about 60 s in production).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde::Deserialize;
use worker::Env;

use super::config::MAX_RETENTION_S;
use super::entry::Meta;
use crate::{bindings, platform};

const PREFIX: &str = "cache-purge:";
/// Markers outlive every entry they could hide.
const MARKER_TTL_S: u64 = MAX_RETENTION_S + 86_400;
/// At most this many pages of markers are read (1,000 per page); more are logged.
const MAX_PAGES: usize = 20;

/// What a purge covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Everything,
    Route(String),
    Tag(String),
    /// A URL's [`super::key::url_id`]: its host and path, with every query and variant.
    Url(String),
    /// A path prefix's [`super::key::prefix_id`]: every URL at or below it on its host.
    Prefix(String),
}

impl Target {
    fn kv_key(&self) -> String {
        match self {
            Self::Everything => format!("{PREFIX}all"),
            Self::Route(name) => format!("{PREFIX}route:{name}"),
            Self::Tag(tag) => format!("{PREFIX}tag:{tag}"),
            Self::Url(id) => format!("{PREFIX}url:{id}"),
            Self::Prefix(id) => format!("{PREFIX}prefix:{id}"),
        }
    }

    fn from_kv_key(key: &str) -> Option<Self> {
        let rest = key.strip_prefix(PREFIX)?;
        if rest == "all" {
            return Some(Self::Everything);
        }
        let (kind, name) = rest.split_once(':')?;
        match kind {
            "route" => Some(Self::Route(name.to_string())),
            "tag" => Some(Self::Tag(name.to_string())),
            "url" => Some(Self::Url(name.to_string())),
            "prefix" => Some(Self::Prefix(name.to_string())),
            _ => None,
        }
    }
}

/// The latest purge time for everything, each route, tag and URL.
#[derive(Debug, Clone, Default)]
pub struct Markers {
    everything: f64,
    routes: HashMap<String, f64>,
    tags: HashMap<String, f64>,
    urls: HashMap<String, f64>,
    prefixes: HashMap<String, f64>,
}

impl Markers {
    /// Records a purge at `at_ms`; an older marker for the same target never wins.
    pub fn record(&mut self, target: &Target, at_ms: f64) {
        let slot = match target {
            Target::Everything => &mut self.everything,
            Target::Route(name) => self.routes.entry(name.clone()).or_default(),
            Target::Tag(tag) => self.tags.entry(tag.clone()).or_default(),
            Target::Url(id) => self.urls.entry(id.clone()).or_default(),
            Target::Prefix(id) => self.prefixes.entry(id.clone()).or_default(),
        };
        *slot = slot.max(at_ms);
    }

    /// Whether a purge made after the entry was fetched covers it.
    pub fn hides(&self, meta: &Meta) -> bool {
        let latest = [
            self.everything,
            self.routes.get(&meta.route).copied().unwrap_or(0.0),
            self.urls.get(&meta.url).copied().unwrap_or(0.0),
        ]
        .into_iter()
        .chain(meta.tags.iter().filter_map(|t| self.tags.get(t).copied()))
        .chain(
            meta.prefixes
                .iter()
                .filter_map(|p| self.prefixes.get(p).copied()),
        )
        .fold(0.0, f64::max);
        meta.sent_ms <= latest
    }

    fn merge(&mut self, other: &Markers) {
        self.everything = self.everything.max(other.everything);
        for (map, theirs) in [
            (&mut self.routes, &other.routes),
            (&mut self.tags, &other.tags),
            (&mut self.urls, &other.urls),
            (&mut self.prefixes, &other.prefixes),
        ] {
            for (name, at) in theirs {
                let slot = map.entry(name.clone()).or_default();
                *slot = slot.max(*at);
            }
        }
    }
}

#[derive(Deserialize)]
struct MarkerMetadata {
    at: f64,
}

struct Loaded {
    checked_ms: f64,
    markers: Rc<Markers>,
}

thread_local! {
    static LOADED: RefCell<Option<Loaded>> = const { RefCell::new(None) };
}

/// This isolate's markers, re-read from KV when older than `refresh_ms`. If KV cannot be read the
/// markers already known keep applying (and the failure is logged).
pub async fn current(env: &Env, now_ms: f64, refresh_ms: u64) -> Rc<Markers> {
    let known = LOADED.with(|l| {
        l.borrow()
            .as_ref()
            .map(|l| (l.checked_ms, Rc::clone(&l.markers)))
    });
    if let Some((checked, markers)) = &known {
        if now_ms - checked < refresh_ms as f64 {
            return Rc::clone(markers);
        }
    }
    // Claim the refresh so concurrent requests keep using what is known meanwhile.
    LOADED.with(|l| {
        if let Some(loaded) = l.borrow_mut().as_mut() {
            loaded.checked_ms = now_ms;
        }
    });
    let mut markers = match read_all(env).await {
        Ok(markers) => markers,
        Err(cause) => {
            platform::log_error(&format!("cache purge markers unreadable: {cause}"));
            known.map(|(_, m)| (*m).clone()).unwrap_or_default()
        }
    };
    // Keep what this isolate recorded itself while reading (KV may not show it yet).
    LOADED.with(|l| {
        if let Some(loaded) = l.borrow().as_ref() {
            markers.merge(&loaded.markers);
        }
    });
    let markers = Rc::new(markers);
    LOADED.with(|l| {
        *l.borrow_mut() = Some(Loaded {
            checked_ms: now_ms,
            markers: Rc::clone(&markers),
        });
    });
    markers
}

async fn read_all(env: &Env) -> Result<Markers, String> {
    let kv = env.kv(bindings::CACHE).map_err(|e| e.to_string())?;
    let mut markers = Markers::default();
    let (keys, complete) = platform::kv::keys(&kv, PREFIX, MAX_PAGES).await?;
    for key in keys {
        let target = Target::from_kv_key(&key.name);
        let at = key
            .metadata
            .and_then(|m| serde_json::from_value::<MarkerMetadata>(m).ok());
        if let (Some(target), Some(at)) = (target, at) {
            markers.record(&target, at.at);
        }
    }
    if !complete {
        platform::log_error(&format!(
            "more than {MAX_PAGES} pages of cache purge markers; the rest are ignored"
        ));
    }
    Ok(markers)
}

/// Applies purges in this isolate at once.
pub fn record_locally(targets: &[Target], at_ms: f64) {
    LOADED.with(|l| {
        let mut loaded = l.borrow_mut();
        let loaded = loaded.get_or_insert_with(|| Loaded {
            // Never read from KV yet: the next lookup still reads the other markers.
            checked_ms: f64::NEG_INFINITY,
            markers: Rc::new(Markers::default()),
        });
        let mut markers = (*loaded.markers).clone();
        for target in targets {
            markers.record(target, at_ms);
        }
        loaded.markers = Rc::new(markers);
    });
}

/// Writes purge markers to KV so every location applies them, and applies them here.
pub async fn publish(env: &Env, targets: &[Target], at_ms: f64) -> Result<(), String> {
    record_locally(targets, at_ms);
    let kv = env.kv(bindings::CACHE).map_err(|e| e.to_string())?;
    for target in targets {
        kv.put(&target.kv_key(), at_ms.to_string())
            .map_err(|e| e.to_string())?
            .metadata(serde_json::json!({ "at": at_ms }))
            .map_err(|e| e.to_string())?
            .expiration_ttl(MARKER_TTL_S)
            .execute()
            .await
            .map_err(|e| format!("writing {}: {e}", target.kv_key()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(sent_ms: f64) -> Meta {
        crate::cache::entry::sample(sent_ms, Vec::new()).meta
    }

    #[test]
    fn markers_hide_entries_fetched_before_them_only() {
        let mut markers = Markers::default();
        assert!(!markers.hides(&meta(100.0)));
        markers.record(&Target::Tag("catalog".into()), 150.0);
        assert!(markers.hides(&meta(100.0)));
        assert!(!markers.hides(&meta(200.0)), "fetched after the purge");
        markers.record(&Target::Tag("catalog".into()), 120.0);
        assert!(
            markers.hides(&meta(140.0)),
            "an older marker does not undo a newer one"
        );
        for target in [
            Target::Route("products".into()),
            Target::Url("u1".into()),
            Target::Prefix("p1".into()),
            Target::Everything,
        ] {
            let mut m = Markers::default();
            m.record(&target, 300.0);
            assert!(m.hides(&meta(250.0)), "{target:?}");
        }
        let mut other = Markers::default();
        other.record(&Target::Route("users".into()), 300.0);
        other.record(&Target::Tag("people".into()), 300.0);
        other.record(&Target::Url("u2".into()), 300.0);
        other.record(&Target::Prefix("p2".into()), 300.0);
        assert!(!other.hides(&meta(250.0)));
    }

    #[test]
    fn kv_keys_round_trip() {
        for target in [
            Target::Everything,
            Target::Route("r".into()),
            Target::Tag("a:b".into()),
            Target::Url("abc".into()),
            Target::Prefix("def".into()),
        ] {
            assert_eq!(Target::from_kv_key(&target.kv_key()), Some(target));
        }
        assert_eq!(Target::from_kv_key("routes"), None);
        assert_eq!(Target::from_kv_key("cache-purge:x:y"), None);
    }
}
