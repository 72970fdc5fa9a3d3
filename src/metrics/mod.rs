//! Request metrics per route and minute: requests by status class, gateway and upstream
//! latency, cache hit ratio, rate-limit denials and authentication failures.
//!
//! Every request is written to Workers Analytics Engine when the dataset binding `METRICS` is
//! present (for long-term queries), and counted into per-minute buckets that each isolate
//! batches and sends to the `MetricsStore` Durable Object about once a second. The store keeps
//! the last three hours and answers the admin API's `metrics` endpoint and dashboard, so the
//! numbers are real under `npm run dev` as well as deployed.

pub mod prometheus;
pub mod recorder;
pub mod store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Upper bounds (ms) of the latency histogram's buckets; one more bucket holds the rest.
pub const LATENCY_BOUNDS_MS: [f64; 12] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
];
const BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;
/// How many minutes the store keeps.
pub const RETAIN_MINUTES: u64 = 180;
/// Route name recorded for requests no route matched.
pub const UNROUTED: &str = "(unrouted)";

/// Counts for one route in one minute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub requests: u64,
    /// Responses by status class: 1xx, 2xx, 3xx, 4xx, 5xx.
    pub status: [u64; 5],
    pub latency_ms_sum: f64,
    /// Gateway latency histogram over [`LATENCY_BOUNDS_MS`].
    pub latency: [u64; BUCKETS],
    pub upstream_ms_sum: f64,
    pub upstream_count: u64,
    pub upstream: [u64; BUCKETS],
    /// Answers from the cache (fresh, stale or revalidated) and lookups that could have been.
    pub cache_hits: u64,
    pub cache_lookups: u64,
    pub rate_limited: u64,
    pub auth_failures: u64,
    /// Requests that failed at the origin: unreachable, too slow, open circuit, full bulkhead,
    /// a failed backend.
    #[serde(default)]
    pub upstream_errors: u64,
    /// Requests the firewall refused, and requests it found something in (refused or not).
    #[serde(default)]
    pub firewall_blocked: u64,
    #[serde(default)]
    pub firewall_detected: u64,
}

/// One finished request, as the metrics see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub route: String,
    pub status: u16,
    pub latency_ms: f64,
    pub upstream_ms: Option<f64>,
    pub cache: Option<&'static str>,
    pub error_code: Option<&'static str>,
    /// The configuration version that served it, counted on its own as well (`@version`) so
    /// that a rollout can compare versions.
    pub version: Option<String>,
    pub at_ms: f64,
    /// The firewall rules that matched (each counted on its own as `#id`), and whether the
    /// request was refused.
    pub firewall: Option<(bool, Vec<String>)>,
}

impl Sample {
    pub fn minute(&self) -> u64 {
        (self.at_ms / 60_000.0) as u64
    }

    pub fn status_class(&self) -> usize {
        usize::from((self.status / 100).clamp(1, 5) - 1)
    }
}

fn bucket(ms: f64) -> usize {
    LATENCY_BOUNDS_MS
        .iter()
        .position(|bound| ms <= *bound)
        .unwrap_or(LATENCY_BOUNDS_MS.len())
}

impl Stats {
    pub fn add(&mut self, sample: &Sample) {
        self.requests += 1;
        self.status[sample.status_class()] += 1;
        self.latency_ms_sum += sample.latency_ms;
        self.latency[bucket(sample.latency_ms)] += 1;
        if let Some(ms) = sample.upstream_ms {
            self.upstream_ms_sum += ms;
            self.upstream_count += 1;
            self.upstream[bucket(ms)] += 1;
        }
        match sample.cache {
            Some("HIT" | "STALE" | "REVALIDATED") => {
                self.cache_hits += 1;
                self.cache_lookups += 1;
            }
            Some("MISS") => self.cache_lookups += 1,
            _ => {}
        }
        match sample.error_code {
            Some("rate-limited") => self.rate_limited += 1,
            Some("unauthenticated" | "insufficient-scope" | "credential-revoked") => {
                self.auth_failures += 1
            }
            Some(
                "upstream-unreachable"
                | "upstream-timeout"
                | "circuit-open"
                | "service-saturated"
                | "backend-failed"
                | "backend-timeout",
            ) => self.upstream_errors += 1,
            _ => {}
        }
        if let Some((refused, _)) = &sample.firewall {
            self.firewall_detected += 1;
            self.firewall_blocked += u64::from(*refused);
        }
    }

    pub fn merge(&mut self, other: &Stats) {
        self.requests += other.requests;
        for (a, b) in self.status.iter_mut().zip(other.status) {
            *a += b;
        }
        self.latency_ms_sum += other.latency_ms_sum;
        for (a, b) in self.latency.iter_mut().zip(other.latency) {
            *a += b;
        }
        self.upstream_ms_sum += other.upstream_ms_sum;
        self.upstream_count += other.upstream_count;
        for (a, b) in self.upstream.iter_mut().zip(other.upstream) {
            *a += b;
        }
        self.cache_hits += other.cache_hits;
        self.cache_lookups += other.cache_lookups;
        self.rate_limited += other.rate_limited;
        self.auth_failures += other.auth_failures;
        self.upstream_errors += other.upstream_errors;
        self.firewall_blocked += other.firewall_blocked;
        self.firewall_detected += other.firewall_detected;
    }
}

/// The upper bound of the bucket holding the `q` quantile (0-1), or the last bound for the
/// overflow bucket. `None` without samples.
pub fn quantile(histogram: &[u64; BUCKETS], q: f64) -> Option<f64> {
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return Some(LATENCY_BOUNDS_MS[i.min(LATENCY_BOUNDS_MS.len() - 1)]);
        }
    }
    None
}

/// Minute → route → counts.
pub type Batch = BTreeMap<u64, BTreeMap<String, Stats>>;

pub fn add(batch: &mut Batch, sample: &Sample) {
    let minute = batch.entry(sample.minute()).or_default();
    minute.entry(sample.route.clone()).or_default().add(sample);
    if let Some(version) = &sample.version {
        minute
            .entry(format!("{VERSION_ENTRY}{version}"))
            .or_default()
            .add(sample);
    }
    if let Some((refused, rules)) = &sample.firewall {
        for rule in rules {
            let stats = minute.entry(format!("{FIREWALL_ENTRY}{rule}")).or_default();
            stats.requests += 1;
            stats.firewall_detected += 1;
            stats.firewall_blocked += u64::from(*refused);
        }
    }
}

/// Entries of a batch that count a configuration version rather than a route start with this
/// (route names cannot).
pub const VERSION_ENTRY: char = '@';
/// Entries that count a circuit breaker's openings (in `requests`) start with this.
pub const BREAKER_ENTRY: char = '!';
/// Entries that count the requests a firewall rule matched (and refused) start with this.
pub const FIREWALL_ENTRY: char = '#';

/// Whether a batch entry counts a route (not a version, a breaker or a firewall rule).
pub fn is_route_entry(name: &str) -> bool {
    !name.starts_with([VERSION_ENTRY, BREAKER_ENTRY, FIREWALL_ENTRY])
}

/// Counts one opening of the circuit of `upstream` in `minute`.
pub fn add_breaker_open(batch: &mut Batch, minute: u64, upstream: &str) {
    batch
        .entry(minute)
        .or_default()
        .entry(format!("{BREAKER_ENTRY}{upstream}"))
        .or_default()
        .requests += 1;
}

pub fn merge(into: &mut Batch, other: &Batch) {
    for (minute, routes) in other {
        let bucket = into.entry(*minute).or_default();
        for (route, stats) in routes {
            bucket.entry(route.clone()).or_default().merge(stats);
        }
    }
}

/// What the admin API answers for the window `[from_minute, to_minute]`: one entry per minute
/// (all routes together, zeros where nothing happened) and totals per route.
pub fn summarize(batch: &Batch, from_minute: u64, to_minute: u64) -> Value {
    let mut per_route: BTreeMap<&str, Stats> = BTreeMap::new();
    let mut per_version: BTreeMap<&str, Stats> = BTreeMap::new();
    let mut per_rule: BTreeMap<&str, Stats> = BTreeMap::new();
    let mut minutes = Vec::new();
    for minute in from_minute..=to_minute {
        let mut all = Stats::default();
        if let Some(routes) = batch.get(&minute) {
            for (route, stats) in routes {
                if route.starts_with(BREAKER_ENTRY) {
                    continue;
                }
                if let Some(rule) = route.strip_prefix(FIREWALL_ENTRY) {
                    per_rule.entry(rule).or_default().merge(stats);
                    continue;
                }
                match route.strip_prefix(VERSION_ENTRY) {
                    Some(version) => per_version.entry(version).or_default().merge(stats),
                    None => {
                        all.merge(stats);
                        per_route.entry(route).or_default().merge(stats);
                    }
                }
            }
        }
        let mut entry = view(&all);
        entry["minute"] = json!(minute * 60_000);
        minutes.push(entry);
    }
    let routes: serde_json::Map<String, Value> = per_route
        .iter()
        .map(|(route, stats)| (route.to_string(), view(stats)))
        .collect();
    json!({
        "from_ms": from_minute * 60_000,
        "to_ms": (to_minute + 1) * 60_000,
        "minutes": minutes,
        "routes": routes,
        "versions": per_version
            .iter()
            .map(|(version, stats)| (version.to_string(), view(stats)))
            .collect::<serde_json::Map<String, Value>>(),
        "firewall_rules": per_rule
            .iter()
            .map(|(rule, stats)| {
                let counts = json!({"matched": stats.firewall_detected, "blocked": stats.firewall_blocked});
                (rule.to_string(), counts)
            })
            .collect::<serde_json::Map<String, Value>>(),
    })
}

/// The figures a reader wants from raw counts.
fn view(stats: &Stats) -> Value {
    let ratio = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
    let mean = |sum: f64, count: u64| (count > 0).then(|| sum / count as f64);
    json!({
        "requests": stats.requests,
        "status": {"1xx": stats.status[0], "2xx": stats.status[1], "3xx": stats.status[2],
                   "4xx": stats.status[3], "5xx": stats.status[4]},
        "latency_ms": {"mean": mean(stats.latency_ms_sum, stats.requests),
                       "p50": quantile(&stats.latency, 0.5), "p95": quantile(&stats.latency, 0.95)},
        "upstream_ms": {"count": stats.upstream_count, "mean": mean(stats.upstream_ms_sum, stats.upstream_count),
                        "p50": quantile(&stats.upstream, 0.5), "p95": quantile(&stats.upstream, 0.95)},
        "cache": {"hits": stats.cache_hits, "lookups": stats.cache_lookups,
                  "hit_ratio": ratio(stats.cache_hits, stats.cache_lookups)},
        "rate_limited": stats.rate_limited,
        "auth_failures": stats.auth_failures,
        "upstream_errors": stats.upstream_errors,
        "firewall": {"blocked": stats.firewall_blocked, "detected": stats.firewall_detected},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(route: &str, status: u16, latency_ms: f64, at_ms: f64) -> Sample {
        Sample {
            route: route.into(),
            status,
            latency_ms,
            upstream_ms: Some(latency_ms / 2.0),
            cache: None,
            error_code: None,
            at_ms,
            version: None,
            firewall: None,
        }
    }

    #[test]
    fn samples_count_by_route_minute_and_class() {
        let mut batch = Batch::new();
        add(&mut batch, &sample("a", 200, 3.0, 60_000.0));
        add(&mut batch, &sample("a", 503, 30.0, 61_000.0));
        add(&mut batch, &sample("b", 404, 1.0, 125_000.0));
        let a = &batch[&1]["a"];
        assert_eq!(a.requests, 2);
        assert_eq!(a.status, [0, 1, 0, 0, 1]);
        assert_eq!(a.upstream_count, 2);
        assert_eq!(batch[&2]["b"].status[3], 1);

        let mut other = Batch::new();
        add(&mut other, &sample("a", 200, 3.0, 60_500.0));
        merge(&mut batch, &other);
        assert_eq!(batch[&1]["a"].requests, 3);
    }

    #[test]
    fn cache_rate_limit_and_auth_outcomes() {
        let mut stats = Stats::default();
        for (cache, code) in [
            (Some("HIT"), None),
            (Some("STALE"), None),
            (Some("MISS"), None),
            (Some("BYPASS"), None),
            (None, Some("rate-limited")),
            (None, Some("unauthenticated")),
            (None, Some("insufficient-scope")),
            (None, Some("upstream-timeout")),
        ] {
            let mut s = sample("a", 200, 1.0, 0.0);
            s.cache = cache;
            s.error_code = code;
            stats.add(&s);
        }
        assert_eq!((stats.cache_hits, stats.cache_lookups), (2, 3));
        assert_eq!(stats.rate_limited, 1);
        assert_eq!(stats.auth_failures, 2);
    }

    #[test]
    fn quantiles_come_from_the_histogram() {
        let mut stats = Stats::default();
        for ms in [0.5, 1.5, 4.0, 4.0, 9.0, 9.0, 9.0, 45.0, 90.0, 9_000.0] {
            stats.add(&sample("a", 200, ms, 0.0));
        }
        assert_eq!(quantile(&stats.latency, 0.5), Some(10.0));
        assert_eq!(quantile(&stats.latency, 0.95), Some(5000.0));
        assert_eq!(quantile(&Stats::default().latency, 0.5), None);
    }

    #[test]
    fn summaries_have_every_minute_of_the_window() {
        let mut batch = Batch::new();
        add(&mut batch, &sample("a", 200, 3.0, 120_000.0));
        let mut hit = sample("a", 200, 1.0, 120_000.0);
        hit.cache = Some("HIT");
        add(&mut batch, &hit);
        let summary = summarize(&batch, 1, 3);
        assert_eq!(summary["minutes"].as_array().map(Vec::len), Some(3));
        assert_eq!(summary["minutes"][0]["requests"], 0);
        assert_eq!(summary["minutes"][1]["requests"], 2);
        assert_eq!(summary["routes"]["a"]["cache"]["hit_ratio"], 1.0);
        assert_eq!(summary["routes"]["a"]["status"]["2xx"], 2);
    }
}
