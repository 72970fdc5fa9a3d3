//! The document's `changes` section: how long pushed versions are kept, and how a candidate
//! version is judged during a staged rollout.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::reader::{Errors, Object};

/// What the retention keeps: the newest `keep_versions` and every version younger than
/// `keep_days` (the current, previous and candidate versions always).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub keep_versions: u64,
    pub keep_days: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep_versions: 20,
            keep_days: 30,
        }
    }
}

/// How a candidate is rolled out and judged against the current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// Share of clients served the candidate unless the push names another.
    pub percent: u64,
    /// How often the figures are compared.
    pub check_seconds: u64,
    /// A candidate that stays healthy this long (with enough requests) is promoted.
    pub healthy_seconds: u64,
    /// Requests the candidate must have served before it is judged at all.
    pub min_requests: u64,
    /// Rolled back when its 5xx share exceeds the current's by more than this many points.
    pub max_error_rate_increase_percent: u64,
    /// Rolled back when its p95 latency exceeds the current's by more than this many percent
    /// (and by at least [`LATENCY_SLACK_MS`](super::rollout::LATENCY_SLACK_MS)).
    pub max_latency_increase_percent: u64,
}

impl Default for Rollout {
    fn default() -> Self {
        Self {
            percent: 10,
            check_seconds: 30,
            healthy_seconds: 600,
            min_requests: 100,
            max_error_rate_increase_percent: 2,
            max_latency_increase_percent: 50,
        }
    }
}

/// The `changes` section, defaults where absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSettings {
    pub retention: Retention,
    pub rollout: Rollout,
}

pub fn parse_changes(value: &Value, path: &str, errors: &mut Errors) -> ChangeSettings {
    let mut settings = ChangeSettings::default();
    let Some(mut section) = Object::read(value, path, errors) else {
        return settings;
    };
    if let Some((value, path)) = section.optional("retention") {
        if let Some(mut o) = Object::read(value, &path, errors) {
            let d = Retention::default();
            settings.retention = Retention {
                keep_versions: o
                    .integer_or("keep_versions", (1, 1000), d.keep_versions, errors)
                    .unwrap_or(d.keep_versions),
                keep_days: o
                    .integer_or("keep_days", (0, 3650), d.keep_days, errors)
                    .unwrap_or(d.keep_days),
            };
            o.finish(errors);
        }
    }
    if let Some((value, path)) = section.optional("rollout") {
        if let Some(mut o) = Object::read(value, &path, errors) {
            let d = Rollout::default();
            let mut int = |key: &'static str, range: (u64, u64), default: u64| {
                o.integer_or(key, range, default, errors).unwrap_or(default)
            };
            settings.rollout = Rollout {
                percent: int("percent", (1, 99), d.percent),
                check_seconds: int("check_seconds", (1, 3600), d.check_seconds),
                healthy_seconds: int("healthy_seconds", (1, 86_400), d.healthy_seconds),
                min_requests: int("min_requests", (1, 1_000_000), d.min_requests),
                max_error_rate_increase_percent: int(
                    "max_error_rate_increase_percent",
                    (0, 100),
                    d.max_error_rate_increase_percent,
                ),
                max_latency_increase_percent: int(
                    "max_latency_increase_percent",
                    (0, 10_000),
                    d.max_latency_increase_percent,
                ),
            };
            o.finish(errors);
        }
    }
    section.finish(errors);
    settings
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_what_is_absent_and_bounds_are_checked() {
        let mut errors = Errors::default();
        let s = parse_changes(
            &json!({"retention": {"keep_versions": 5}, "rollout": {"percent": 25}}),
            "$.changes",
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(s.retention.keep_versions, 5);
        assert_eq!(s.retention.keep_days, 30);
        assert_eq!(s.rollout.percent, 25);
        assert_eq!(s.rollout.healthy_seconds, 600);

        let mut errors = Errors::default();
        parse_changes(
            &json!({"rollout": {"percent": 100, "typo": 1}, "retention": {"keep_versions": 0}}),
            "$.changes",
            &mut errors,
        );
        let text = format!("{:?}", errors.into_vec());
        assert!(text.contains("$.changes.rollout.percent"), "{text}");
        assert!(text.contains("typo"), "{text}");
        assert!(text.contains("$.changes.retention.keep_versions"), "{text}");
    }
}
