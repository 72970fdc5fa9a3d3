//! Retries: which failures may be retried, how long to wait, and a budget so that retries cannot
//! multiply the load on an origin that is already failing.

use std::cell::RefCell;
use std::collections::HashMap;

/// A service's `retry` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySettings {
    /// Further attempts after the first (0-5).
    pub attempts: u32,
    /// Base of the exponential backoff (default 50 ms).
    pub backoff_ms: u64,
    /// Largest backoff (default 1,000 ms).
    pub max_backoff_ms: u64,
    /// Origin statuses that are retried (default 502, 503, 504).
    pub statuses: Vec<u16>,
    /// Retries may add at most this share of a service's requests in an isolate, over 10 s
    /// (default 20%; three retries are always allowed, so a quiet service can retry).
    pub budget_percent: u32,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            attempts: 0,
            backoff_ms: 50,
            max_backoff_ms: 1000,
            statuses: vec![502, 503, 504],
            budget_percent: 20,
        }
    }
}

/// Methods whose repetition cannot change the outcome (RFC 9110 §9.2.2). A request with a body
/// is never retried whatever its method: the body streamed through once and is gone.
pub fn is_idempotent(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE")
}

/// "Full jitter" backoff: uniform in [0, min(max, base · 2^attempt)). `attempt` counts retries
/// made so far; `random` is any u32.
pub fn backoff_ms(settings: &RetrySettings, attempt: u32, random: u32) -> u64 {
    let ceiling = settings
        .backoff_ms
        .saturating_mul(1u64 << attempt.min(20))
        .min(settings.max_backoff_ms);
    if ceiling == 0 {
        return 0;
    }
    u64::from(random) % ceiling
}

const WINDOW_MS: f64 = 10_000.0;
const ALWAYS_ALLOWED: f64 = 3.0;

/// Requests and retries of one service in the current window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budget {
    window_start_ms: f64,
    requests: f64,
    retries: f64,
}

impl Budget {
    fn roll(&mut self, now_ms: f64) {
        if now_ms - self.window_start_ms >= WINDOW_MS {
            *self = Self {
                window_start_ms: now_ms,
                ..Self::default()
            };
        }
    }

    pub fn record_request(&mut self, now_ms: f64) {
        self.roll(now_ms);
        self.requests += 1.0;
    }

    /// Takes one retry from the budget if there is one left.
    pub fn try_retry(&mut self, percent: u32, now_ms: f64) -> bool {
        self.roll(now_ms);
        let allowed = ALWAYS_ALLOWED + self.requests * f64::from(percent) / 100.0;
        if self.retries + 1.0 <= allowed {
            self.retries += 1.0;
            true
        } else {
            false
        }
    }
}

thread_local! {
    static BUDGETS: RefCell<HashMap<String, Budget>> = RefCell::new(HashMap::new());
}

/// Runs `f` on `service`'s budget, creating it on first use (without allocating afterwards).
fn with_budget<T>(service: &str, f: impl FnOnce(&mut Budget) -> T) -> T {
    BUDGETS.with(|b| {
        let mut budgets = b.borrow_mut();
        if !budgets.contains_key(service) {
            budgets.insert(service.to_string(), Budget::default());
        }
        let budget = budgets.get_mut(service);
        let mut fresh = Budget::default();
        f(budget.unwrap_or(&mut fresh))
    })
}

/// Counts a request to `service` (its first attempt).
pub fn record_request(service: &str, now_ms: f64) {
    with_budget(service, |b| b.record_request(now_ms));
}

/// Whether `service`'s budget allows one more retry now (and takes it).
pub fn try_retry(service: &str, percent: u32, now_ms: f64) -> bool {
    with_budget(service, |b| b.try_retry(percent, now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_the_ceiling() {
        let s = RetrySettings {
            backoff_ms: 100,
            max_backoff_ms: 500,
            ..RetrySettings::default()
        };
        assert!(backoff_ms(&s, 0, u32::MAX) < 100);
        assert!(backoff_ms(&s, 1, u32::MAX) < 200);
        assert_eq!(backoff_ms(&s, 1, 150), 150);
        assert!(backoff_ms(&s, 10, u32::MAX) < 500, "capped");
        assert_eq!(
            backoff_ms(&s, 40, 7),
            7,
            "huge attempt counts do not overflow"
        );
        let zero = RetrySettings {
            backoff_ms: 0,
            ..RetrySettings::default()
        };
        assert_eq!(backoff_ms(&zero, 3, 9), 0);
    }

    #[test]
    fn the_budget_bounds_retries_to_a_share_of_requests() {
        let mut b = Budget::default();
        for _ in 0..100 {
            b.record_request(0.0);
        }
        let granted = (0..100).filter(|_| b.try_retry(20, 1.0)).count();
        assert_eq!(granted, 23, "20% of 100 plus the 3 always allowed");
        assert!(b.try_retry(20, 10_001.0), "a new window");
    }

    #[test]
    fn only_idempotent_methods_are_retried() {
        for m in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"] {
            assert!(is_idempotent(m));
        }
        assert!(!is_idempotent("POST") && !is_idempotent("PATCH"));
    }
}
