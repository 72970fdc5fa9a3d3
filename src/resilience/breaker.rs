//! Circuit breaking per upstream: closed → open after consecutive failures → half-open after a
//! pause, where one probe decides between closed and open again.
//!
//! State is per isolate: each isolate learns on its own that an upstream is failing (within
//! `failure_threshold` requests of its own), and a recovering upstream sees at most one probe
//! per isolate at a time. Nothing is shared between isolates or locations, so no request waits
//! on coordination.

use std::cell::RefCell;
use std::collections::HashMap;

/// A service's `circuit_breaker` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long it stays open before one probe is let through.
    pub open_ms: u64,
}

/// One upstream's circuit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Circuit {
    Closed {
        failures: u32,
    },
    Open {
        until_ms: f64,
    },
    /// One probe is in flight since `since_ms`; everything else fails fast until it answers
    /// (or, if it never reports, for another pause).
    HalfOpen {
        since_ms: f64,
    },
}

impl Default for Circuit {
    fn default() -> Self {
        Self::Closed { failures: 0 }
    }
}

impl Circuit {
    /// Whether a request may go now; an open circuit whose pause is over lets this one through
    /// as the probe.
    pub fn admit(&mut self, settings: BreakerSettings, now_ms: f64) -> bool {
        if !self.would_admit(settings, now_ms) {
            return false;
        }
        if !matches!(self, Self::Closed { .. }) {
            *self = Self::HalfOpen { since_ms: now_ms };
        }
        true
    }

    /// Whether a request could go now, without claiming the probe.
    pub fn would_admit(&self, settings: BreakerSettings, now_ms: f64) -> bool {
        match *self {
            Self::Closed { .. } => true,
            Self::Open { until_ms } => now_ms >= until_ms,
            // A probe that never reported (its request was abandoned) does not block forever.
            Self::HalfOpen { since_ms } => now_ms >= since_ms + settings.open_ms as f64,
        }
    }

    pub fn record(&mut self, success: bool, settings: BreakerSettings, now_ms: f64) {
        *self = match (*self, success) {
            (_, true) => Self::Closed { failures: 0 },
            (Self::Closed { failures }, false) if failures + 1 < settings.failure_threshold => {
                Self::Closed {
                    failures: failures + 1,
                }
            }
            (_, false) => Self::Open {
                until_ms: now_ms + settings.open_ms as f64,
            },
        };
    }
}

thread_local! {
    static CIRCUITS: RefCell<HashMap<String, Circuit>> = RefCell::new(HashMap::new());
}

/// Whether `upstream` (its base URL) could take a request now.
pub fn available(upstream: &str, settings: BreakerSettings, now_ms: f64) -> bool {
    CIRCUITS.with(|c| {
        c.borrow()
            .get(upstream)
            .is_none_or(|c| c.would_admit(settings, now_ms))
    })
}

/// Claims the right to send to `upstream` now (the probe, when half-opening).
pub fn admit(upstream: &str, settings: BreakerSettings, now_ms: f64) -> bool {
    CIRCUITS.with(|c| {
        c.borrow_mut()
            .entry(upstream.to_string())
            .or_default()
            .admit(settings, now_ms)
    })
}

/// Records how a request to `upstream` ended; a circuit that opens is counted in the metrics.
pub fn record(upstream: &str, success: bool, settings: BreakerSettings, now_ms: f64) {
    let opened = CIRCUITS.with(|c| {
        let mut circuits = c.borrow_mut();
        let circuit = circuits.entry(upstream.to_string()).or_default();
        let was_open = matches!(circuit, Circuit::Open { .. });
        circuit.record(success, settings, now_ms);
        !was_open && matches!(circuit, Circuit::Open { .. })
    });
    if opened {
        crate::metrics::recorder::count_breaker_open(upstream);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: BreakerSettings = BreakerSettings {
        failure_threshold: 3,
        open_ms: 1000,
    };

    #[test]
    fn opens_after_consecutive_failures_then_probes_once() {
        let mut c = Circuit::default();
        c.record(false, SETTINGS, 0.0);
        c.record(false, SETTINGS, 0.0);
        c.record(true, SETTINGS, 0.0);
        assert_eq!(
            c,
            Circuit::Closed { failures: 0 },
            "a success resets the count"
        );
        for _ in 0..3 {
            assert!(c.admit(SETTINGS, 10.0));
            c.record(false, SETTINGS, 10.0);
        }
        assert_eq!(c, Circuit::Open { until_ms: 1010.0 });
        assert!(!c.admit(SETTINGS, 500.0), "open: fail fast");
        assert!(c.would_admit(SETTINGS, 1010.0));
        assert!(c.admit(SETTINGS, 1010.0), "the pause is over: one probe");
        assert!(!c.admit(SETTINGS, 1011.0), "only one probe at a time");
        c.record(false, SETTINGS, 1020.0);
        assert_eq!(
            c,
            Circuit::Open { until_ms: 2020.0 },
            "a failed probe opens it again"
        );
        assert!(c.admit(SETTINGS, 2020.0));
        c.record(true, SETTINGS, 2030.0);
        assert_eq!(c, Circuit::Closed { failures: 0 }, "a good probe closes it");
        let mut lost = Circuit::Open { until_ms: 0.0 };
        assert!(lost.admit(SETTINGS, 0.0));
        assert!(!lost.admit(SETTINGS, 999.0));
        assert!(
            lost.admit(SETTINGS, 1000.0),
            "a probe that never reported is replaced"
        );
    }
}
