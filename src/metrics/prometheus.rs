//! The store's running totals in the Prometheus text exposition format (version 0.0.4, which
//! OpenMetrics parsers read too): counters since the store began, and latency histograms in
//! seconds over [`LATENCY_BOUNDS_MS`].

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{
    is_route_entry, Stats, BREAKER_ENTRY, FIREWALL_ENTRY, LATENCY_BOUNDS_MS, VERSION_ENTRY,
};

/// The exposition format's media type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A counter family: name, help, and how to read it from the totals.
type Counter = (&'static str, &'static str, fn(&Stats) -> u64);

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A histogram's buckets (cumulative), sum and count.
fn histogram(out: &mut String, name: &str, label: &str, counts: &[u64], sum_ms: f64, count: u64) {
    let mut seen = 0;
    for (bound, n) in LATENCY_BOUNDS_MS.iter().zip(counts) {
        seen += n;
        let _ = writeln!(
            out,
            "{name}_bucket{{{label},le=\"{}\"}} {seen}",
            bound / 1000.0
        );
    }
    let _ = writeln!(out, "{name}_bucket{{{label},le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "{name}_sum{{{label}}} {}", sum_ms / 1000.0);
    let _ = writeln!(out, "{name}_count{{{label}}} {count}");
}

/// Renders totals per route (and per configuration version, from the `@` entries).
pub fn render(totals: &BTreeMap<String, Stats>) -> String {
    let routes: Vec<(String, &Stats)> = totals
        .iter()
        .filter(|(name, _)| is_route_entry(name))
        .map(|(name, stats)| (format!("route=\"{}\"", escape(name)), stats))
        .collect();
    let mut out = String::new();
    family(
        &mut out,
        "gateway_requests_total",
        "counter",
        "Requests answered, by route and status class.",
    );
    for (label, stats) in &routes {
        for (class, n) in CLASSES.iter().zip(stats.status) {
            let _ = writeln!(
                out,
                "gateway_requests_total{{{label},status=\"{class}\"}} {n}"
            );
        }
    }
    family(
        &mut out,
        "gateway_request_duration_seconds",
        "histogram",
        "Time from arrival to the response headers, in the gateway.",
    );
    for (label, stats) in &routes {
        histogram(
            &mut out,
            "gateway_request_duration_seconds",
            label,
            &stats.latency,
            stats.latency_ms_sum,
            stats.requests,
        );
    }
    family(
        &mut out,
        "gateway_upstream_duration_seconds",
        "histogram",
        "Time from sending the upstream request to its response headers.",
    );
    for (label, stats) in &routes {
        histogram(
            &mut out,
            "gateway_upstream_duration_seconds",
            label,
            &stats.upstream,
            stats.upstream_ms_sum,
            stats.upstream_count,
        );
    }
    let counters: [Counter; 5] = [
        ("gateway_cache_hits_total", "Answers from the cache (fresh, stale or revalidated).", |s| s.cache_hits),
        ("gateway_cache_lookups_total", "Requests on cached routes that looked the cache up.", |s| s.cache_lookups),
        ("gateway_rate_limited_total", "Requests refused by a rate limit.", |s| s.rate_limited),
        ("gateway_auth_failures_total", "Requests refused for their credentials (missing, invalid, revoked, lacking a scope).", |s| s.auth_failures),
        ("gateway_upstream_errors_total", "Requests that failed at the origin: unreachable, too slow, open circuit, full bulkhead, failed backend.", |s| s.upstream_errors),
    ];
    for (name, help, value) in counters {
        family(&mut out, name, "counter", help);
        for (label, stats) in &routes {
            let _ = writeln!(out, "{name}{{{label}}} {}", value(stats));
        }
    }
    family(
        &mut out,
        "gateway_circuit_breaker_opens_total",
        "counter",
        "Times an upstream's circuit opened, summed over isolates (each keeps its own circuits).",
    );
    for (name, stats) in totals {
        if let Some(upstream) = name.strip_prefix(BREAKER_ENTRY) {
            let _ = writeln!(
                out,
                "gateway_circuit_breaker_opens_total{{upstream=\"{}\"}} {}",
                escape(upstream),
                stats.requests
            );
        }
    }
    family(
        &mut out,
        "gateway_firewall_matches_total",
        "counter",
        "Requests a firewall rule matched, and whether they were refused.",
    );
    for (name, stats) in totals {
        if let Some(rule) = name.strip_prefix(FIREWALL_ENTRY) {
            let passed = stats
                .firewall_detected
                .saturating_sub(stats.firewall_blocked);
            for (outcome, n) in [("blocked", stats.firewall_blocked), ("passed", passed)] {
                let _ = writeln!(
                    out,
                    "gateway_firewall_matches_total{{rule=\"{}\",outcome=\"{outcome}\"}} {n}",
                    escape(rule)
                );
            }
        }
    }
    family(
        &mut out,
        "gateway_config_requests_total",
        "counter",
        "Requests by the configuration version that served them, and status class.",
    );
    for (name, stats) in totals {
        if let Some(version) = name.strip_prefix(VERSION_ENTRY) {
            for (class, n) in CLASSES.iter().zip(stats.status) {
                let _ = writeln!(
                    out,
                    "gateway_config_requests_total{{version=\"{}\",status=\"{class}\"}} {n}",
                    escape(version)
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Sample;

    #[test]
    fn counters_and_cumulative_buckets_per_route() {
        let mut stats = Stats::default();
        for (status, ms) in [(200, 3.0), (200, 30.0), (502, 3000.0)] {
            stats.add(&Sample {
                route: "a".into(),
                status,
                latency_ms: ms,
                upstream_ms: None,
                cache: None,
                error_code: (status == 502).then_some("upstream-unreachable"),
                at_ms: 0.0,
                version: None,
                firewall: None,
            });
        }
        let mut totals = BTreeMap::new();
        totals.insert("we\"ird".to_string(), stats.clone());
        totals.insert("@abc".to_string(), stats);
        let opened = Stats {
            requests: 2,
            ..Stats::default()
        };
        totals.insert("!http://127.0.0.1:9".to_string(), opened);
        let text = render(&totals);
        assert!(
            text.contains("gateway_requests_total{route=\"we\\\"ird\",status=\"2xx\"} 2"),
            "{text}"
        );
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("le=\"0.05\"} 2"));
        assert!(text.contains("le=\"+Inf\"} 3"));
        assert!(text.contains("gateway_request_duration_seconds_sum{route=\"we\\\"ird\"} 3.033"));
        assert!(text.contains("gateway_upstream_errors_total{route=\"we\\\"ird\"} 1"));
        assert!(text.contains("gateway_config_requests_total{version=\"abc\",status=\"5xx\"} 1"));
        assert!(!text.contains("route=\"@abc\""));
        assert!(
            text.contains("gateway_circuit_breaker_opens_total{upstream=\"http://127.0.0.1:9\"} 2")
        );
        assert!(!text.contains("route=\"!http"));
    }
}
