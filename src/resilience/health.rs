//! Active health checks: the `HealthChecker` Durable Object probes every upstream of the
//! services with a `health_check` on its own schedule (an alarm), and every isolate skips the
//! upstreams it reports unhealthy, beside the passive circuit breaker. When every upstream of
//! a service is reported unhealthy they are all used anyway (a probe can be wrong; refusing
//! everything would be worse).
//!
//! Isolates tell the object what to probe when they load a configuration version, and ask it
//! for the health state's version at most every [`POLL_MS`] on requests to checked services,
//! fetching the state only when it moved.

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{Context, Env};

use crate::memo::Poll;
use crate::reader::{statuses, Errors, Object};
use crate::{bindings, platform};

/// How often an isolate compares its view with the object's.
pub const POLL_MS: f64 = 2_000.0;
const CALL_TIMEOUT_MS: u64 = 1_000;
/// The one `HealthChecker` object's name.
pub const CHECKER_NAME: &str = "health";

/// A service's `health_check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Path probed on each upstream's origin (`GET`).
    pub path: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    /// Statuses that count as healthy; empty: 200-399.
    pub statuses: Vec<u16>,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

impl HealthCheck {
    pub fn accepts(&self, status: u16) -> bool {
        match self.statuses.is_empty() {
            true => (200..400).contains(&status),
            false => self.statuses.contains(&status),
        }
    }
}

pub fn parse_health_check(value: &Value, path: &str, errors: &mut Errors) -> Option<HealthCheck> {
    let mut object = Object::read(value, path, errors)?;
    let probe_path = object
        .required("path", errors)
        .and_then(|(value, p)| match value.as_str() {
            Some(text)
                if text.starts_with('/')
                    && crate::http::is_valid_value(text)
                    && !text.contains(' ') =>
            {
                Some(text.to_string())
            }
            _ => {
                errors.push(&p, "must be an absolute path such as /health");
                None
            }
        });
    let interval = object.integer_or("interval_seconds", (1, 3600), 10, errors);
    let timeout = object.integer_or("timeout_ms", (1, 60_000), 2000, errors);
    let healthy = object.integer_or("healthy_threshold", (1, 100), 2, errors);
    let unhealthy = object.integer_or("unhealthy_threshold", (1, 100), 3, errors);
    let statuses = object.or("expected_statuses", Vec::new(), errors, |v, p, errors| {
        statuses(v, p, (100, 599), errors)
    });
    object.finish(errors);
    let (interval, timeout) = (interval?, timeout?);
    if timeout >= interval * 1000 {
        errors.push(
            &format!("{path}.timeout_ms"),
            "must be shorter than interval_seconds",
        );
        return None;
    }
    Some(HealthCheck {
        path: probe_path?,
        interval_ms: interval * 1000,
        timeout_ms: timeout,
        statuses: statuses?,
        healthy_threshold: healthy? as u32,
        unhealthy_threshold: unhealthy? as u32,
    })
}

/// One upstream to probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub service: String,
    /// The upstream as isolates key it (`origin` + base path).
    pub upstream: String,
    /// What is probed.
    pub url: String,
    pub check: HealthCheck,
}

/// An upstream's probe history, as the object keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub healthy: bool,
    pub successes: u32,
    pub failures: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub checked_at_ms: f64,
    /// When it last became healthy or unhealthy.
    pub changed_at_ms: Option<f64>,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            healthy: true,
            successes: 0,
            failures: 0,
            last_status: None,
            last_error: None,
            checked_at_ms: 0.0,
            changed_at_ms: None,
        }
    }
}

impl Probe {
    /// Takes one probe's outcome; returns whether the upstream's health flipped.
    pub fn observe(
        &mut self,
        check: &HealthCheck,
        outcome: Result<u16, String>,
        now_ms: f64,
    ) -> bool {
        self.checked_at_ms = now_ms;
        let ok = match &outcome {
            Ok(status) => check.accepts(*status),
            Err(_) => false,
        };
        (self.last_status, self.last_error) = match outcome {
            Ok(status) => (Some(status), None),
            Err(e) => (None, Some(e)),
        };
        if ok {
            self.successes += 1;
            self.failures = 0;
        } else {
            self.failures += 1;
            self.successes = 0;
        }
        let flip = match self.healthy {
            true => self.failures >= check.unhealthy_threshold,
            false => self.successes >= check.healthy_threshold,
        };
        if flip {
            self.healthy = !self.healthy;
            self.changed_at_ms = Some(now_ms);
        }
        flip
    }
}

/// This isolate's view: the upstreams reported unhealthy.
#[derive(Debug, Default)]
struct Known {
    poll: Poll,
    unhealthy: BTreeSet<String>,
    announced: Option<String>,
    /// Whether any targets were announced yet: a configuration without health checks does
    /// not call the checker.
    announced_any: bool,
}

thread_local! {
    static KNOWN: RefCell<Known> = RefCell::new(Known::default());
}

/// Whether this isolate may send to `upstream` (`origin` + base path) as far as health goes.
pub fn admits(upstream: &str) -> bool {
    KNOWN.with(|known| !known.borrow().unhealthy.contains(upstream))
}

#[derive(Deserialize)]
struct StateAnswer {
    version: u64,
    unhealthy: Option<Vec<String>>,
}

/// Brings this isolate's view up to date when [`POLL_MS`] has passed.
pub async fn refresh(env: &Env, now_ms: f64) {
    let Some(since) = KNOWN.with(|known| known.borrow_mut().poll.claim(now_ms, POLL_MS)) else {
        return;
    };
    let object = (bindings::HEALTH_CHECKER, CHECKER_NAME);
    let answer: Result<StateAnswer, String> =
        platform::object::poll(env, object, "/unhealthy", since, CALL_TIMEOUT_MS).await;
    match answer {
        Ok(answer) => KNOWN.with(|known| {
            let mut known = known.borrow_mut();
            known.poll.version = Some(answer.version);
            if let Some(list) = answer.unhealthy {
                known.unhealthy = list.into_iter().collect();
            }
        }),
        Err(cause) => platform::log_error(
            &json!({"type": "health", "event": "state_unavailable", "cause": cause}).to_string(),
        ),
    }
}

/// Tells the checker what configuration `version` wants probed (`targets`, asked for only
/// then), once per version per isolate, after the response.
pub fn announce(
    env: &Env,
    worker_ctx: &Context,
    version: &str,
    targets: impl FnOnce() -> Vec<Target>,
) {
    let first = KNOWN.with(|known| {
        let mut known = known.borrow_mut();
        let first = known.announced.as_deref() != Some(version);
        known.announced = Some(version.to_string());
        first
    });
    if !first {
        return;
    }
    let targets = targets();
    let nothing_to_say = targets.is_empty() && !KNOWN.with(|known| known.borrow().announced_any);
    if nothing_to_say {
        return;
    }
    KNOWN.with(|known| known.borrow_mut().announced_any = true);
    let body = json!({"version": version, "targets": targets}).to_string();
    let env = env.clone();
    worker_ctx.wait_until(async move {
        let sent = platform::object::call(
            &env,
            bindings::HEALTH_CHECKER,
            CHECKER_NAME,
            "POST",
            "/targets",
            Some(body),
            Some(5_000),
        )
        .await;
        if let Err(cause) = sent {
            platform::log_error(
                &json!({"type": "health", "event": "announce_failed", "cause": cause}).to_string(),
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> HealthCheck {
        HealthCheck {
            path: "/health".into(),
            interval_ms: 1000,
            timeout_ms: 500,
            statuses: Vec::new(),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        }
    }

    #[test]
    fn thresholds_decide_when_health_flips() {
        let c = check();
        let mut p = Probe::default();
        assert!(!p.observe(&c, Ok(500), 1.0));
        assert!(!p.observe(&c, Err("refused".into()), 2.0));
        assert!(p.healthy, "two failures are below the threshold");
        assert!(p.observe(&c, Ok(503), 3.0));
        assert!(!p.healthy);
        assert!(!p.observe(&c, Ok(200), 4.0));
        assert!(
            !p.observe(&c, Ok(500), 5.0),
            "a failure resets the successes"
        );
        assert!(!p.observe(&c, Ok(204), 6.0));
        assert!(p.observe(&c, Ok(301), 7.0));
        assert!(p.healthy && p.changed_at_ms == Some(7.0));
        let strict = HealthCheck {
            statuses: vec![204],
            ..check()
        };
        assert!(strict.accepts(204) && !strict.accepts(200));
    }

    #[test]
    fn the_section_is_checked() {
        let mut errors = Errors::default();
        let parsed = parse_health_check(
            &json!({"path": "/health", "interval_seconds": 5, "expected_statuses": [200, 204]}),
            "$.h",
            &mut errors,
        )
        .expect("valid");
        assert!(errors.is_empty());
        assert_eq!(
            (
                parsed.interval_ms,
                parsed.timeout_ms,
                parsed.unhealthy_threshold
            ),
            (5000, 2000, 3)
        );
        let mut errors = Errors::default();
        assert!(parse_health_check(
            &json!({"path": "health", "interval_seconds": 1, "timeout_ms": 1000}),
            "$.h",
            &mut errors
        )
        .is_none());
        assert_eq!(errors.into_vec().len(), 2);
    }
}
