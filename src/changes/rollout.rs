//! Staged rollout: a candidate version serves a share of clients (the same clients every
//! time), and is judged against the current version from the metrics store's counts per
//! version since it started. Plain functions: which clients see it, and what the figures say.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::config::Rollout;
use crate::metrics::{quantile, Batch, Stats, VERSION_ENTRY};

/// A p95 rise smaller than this is never a regression, whatever the ratio (a 2 ms route that
/// takes 4 ms is not worth a rollback).
pub const LATENCY_SLACK_MS: f64 = 50.0;
/// Decisions kept with the candidate (the latest ones), for the admin API.
pub const DECISIONS_KEPT: usize = 20;

/// A candidate, as the control object keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub version: String,
    pub percent: u64,
    pub since_ms: f64,
    pub rollout: Rollout,
    pub operator: String,
    /// The version it is compared with (current when it started).
    pub against: String,
    #[serde(default)]
    pub routes: usize,
    /// The latest checks, oldest first.
    #[serde(default)]
    pub decisions: Vec<Value>,
}

/// What isolates are told about a candidate (in the current document's KV metadata).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announced {
    pub version: String,
    pub percent: u64,
}

impl Candidate {
    pub fn announced(&self) -> Announced {
        Announced {
            version: self.version.clone(),
            percent: self.percent,
        }
    }
}

/// The client's bucket, 0-99, stable for the same client key: FNV-1a over its bytes.
pub fn bucket(client: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in client.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash % 100
}

/// Whether a client in `bucket` is served the candidate.
pub fn serves(announced: &Announced, bucket: u64) -> bool {
    bucket < announced.percent
}

/// The metrics entry that counts a version's requests.
pub fn entry(version: &str) -> String {
    format!("{VERSION_ENTRY}{version}")
}

/// The counts of the current version and of the candidate, over every minute of `batch`.
pub fn tally(batch: &Batch, current: &str, candidate: &str) -> (Stats, Stats) {
    let (current, candidate) = (entry(current), entry(candidate));
    let mut totals = (Stats::default(), Stats::default());
    for entries in batch.values() {
        if let Some(stats) = entries.get(&current) {
            totals.0.merge(stats);
        }
        if let Some(stats) = entries.get(&candidate) {
            totals.1.merge(stats);
        }
    }
    totals
}

/// What a check decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Wait { reason: String },
    Promote,
    RollBack { reason: String },
}

impl Decision {
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Wait { .. } => "wait",
            Decision::Promote => "promote",
            Decision::RollBack { .. } => "roll_back",
        }
    }

    pub fn reason(&self) -> String {
        match self {
            Decision::Wait { reason } | Decision::RollBack { reason } => reason.clone(),
            Decision::Promote => "healthy for the whole period".into(),
        }
    }
}

fn error_rate(stats: &Stats) -> f64 {
    match stats.requests {
        0 => 0.0,
        n => stats.status[4] as f64 / n as f64,
    }
}

/// Compares the candidate's figures with the current version's.
pub fn decide(candidate: &Candidate, current: &Stats, trial: &Stats, now_ms: f64) -> Decision {
    let rules = &candidate.rollout;
    if trial.requests < rules.min_requests {
        return Decision::Wait {
            reason: format!(
                "{} of the {} requests needed before judging",
                trial.requests, rules.min_requests
            ),
        };
    }
    let (theirs, ours) = (error_rate(trial), error_rate(current));
    let allowed = rules.max_error_rate_increase_percent as f64 / 100.0;
    // The tolerance keeps a rise of exactly the allowed points within it.
    if theirs - ours > allowed + 1e-9 {
        return Decision::RollBack {
            reason: format!(
                "5xx rate {:.1}% against {:.1}% for the current version (at most {} points more)",
                theirs * 100.0,
                ours * 100.0,
                rules.max_error_rate_increase_percent
            ),
        };
    }
    if let (Some(theirs), Some(ours)) = (
        quantile(&trial.latency, 0.95),
        quantile(&current.latency, 0.95),
    ) {
        let limit = ours * (1.0 + rules.max_latency_increase_percent as f64 / 100.0);
        if theirs > limit && theirs - ours >= LATENCY_SLACK_MS {
            return Decision::RollBack {
                reason: format!(
                    "p95 latency {theirs} ms against {ours} ms for the current version (at most {}% more)",
                    rules.max_latency_increase_percent
                ),
            };
        }
    }
    let healthy_for = (now_ms - candidate.since_ms) / 1000.0;
    if healthy_for >= rules.healthy_seconds as f64 {
        return Decision::Promote;
    }
    Decision::Wait {
        reason: format!(
            "healthy so far; {:.0} of {} s",
            healthy_for, rules.healthy_seconds
        ),
    }
}

/// The figures a check compares, as shown in the admin API and the log.
pub fn view(stats: &Stats) -> Value {
    json!({
        "requests": stats.requests,
        "errors_5xx": stats.status[4],
        "error_rate": (stats.requests > 0).then(|| error_rate(stats)),
        "p95_ms": quantile(&stats.latency, 0.95),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Sample;

    fn stats(requests: u64, errors: u64, ms: f64) -> Stats {
        let mut s = Stats::default();
        for i in 0..requests {
            s.add(&Sample {
                route: "r".into(),
                status: if i < errors { 502 } else { 200 },
                latency_ms: ms,
                upstream_ms: None,
                cache: None,
                error_code: None,
                at_ms: 0.0,
                version: None,
                firewall: None,
            });
        }
        s
    }

    fn candidate() -> Candidate {
        Candidate {
            version: "c".into(),
            percent: 10,
            since_ms: 0.0,
            rollout: Rollout {
                min_requests: 20,
                healthy_seconds: 60,
                ..Rollout::default()
            },
            operator: "admin".into(),
            against: "a".into(),
            routes: 1,
            decisions: Vec::new(),
        }
    }

    #[test]
    fn the_same_client_always_lands_in_the_same_bucket() {
        assert_eq!(bucket("203.0.113.5"), bucket("203.0.113.5"));
        let buckets: std::collections::BTreeSet<u64> = (0..1000)
            .map(|i| bucket(&format!("10.0.{}.{}", i / 256, i % 256)))
            .collect();
        assert!(
            buckets.len() > 90,
            "spread over the buckets: {}",
            buckets.len()
        );
        let share = (0..10_000)
            .filter(|i| {
                serves(
                    &Announced {
                        version: "c".into(),
                        percent: 10,
                    },
                    bucket(&format!("client-{i}")),
                )
            })
            .count();
        assert!((800..1200).contains(&share), "about 10%: {share}");
    }

    #[test]
    fn errors_or_slowness_roll_back_health_promotes() {
        let c = candidate();
        let current = stats(200, 1, 10.0);
        assert!(
            matches!(
                decide(&c, &current, &stats(5, 5, 10.0), 1e6),
                Decision::Wait { .. }
            ),
            "too few to judge"
        );
        assert!(matches!(
            decide(&c, &current, &stats(40, 10, 10.0), 1e3),
            Decision::RollBack { .. }
        ));
        assert!(matches!(
            decide(&c, &current, &stats(40, 0, 800.0), 1e3),
            Decision::RollBack { .. }
        ));
        // Slower by more than 50%, but by less than the slack: not a regression.
        assert!(matches!(
            decide(&c, &stats(200, 0, 1.0), &stats(40, 0, 5.0), 1e3),
            Decision::Wait { .. }
        ));
        assert!(matches!(
            decide(&c, &current, &stats(40, 0, 10.0), 1e3),
            Decision::Wait { .. }
        ));
        assert_eq!(
            decide(&c, &current, &stats(40, 0, 10.0), 61e3),
            Decision::Promote
        );
        // One error in 40 (2.5%) against 0.5%: exactly the two points allowed.
        assert!(matches!(
            decide(&c, &current, &stats(40, 1, 10.0), 61e3),
            Decision::Promote
        ));
    }

    #[test]
    fn tallies_read_the_version_entries() {
        let mut batch = Batch::new();
        batch
            .entry(1)
            .or_default()
            .insert(entry("a"), stats(3, 0, 1.0));
        batch
            .entry(2)
            .or_default()
            .insert(entry("a"), stats(2, 1, 1.0));
        batch
            .entry(2)
            .or_default()
            .insert(entry("c"), stats(4, 4, 1.0));
        batch
            .entry(2)
            .or_default()
            .insert("route".into(), stats(9, 0, 1.0));
        let (current, trial) = tally(&batch, "a", "c");
        assert_eq!((current.requests, current.status[4]), (5, 1));
        assert_eq!((trial.requests, trial.status[4]), (4, 4));
    }
}
