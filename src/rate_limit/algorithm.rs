//! Rate-limit arithmetic: GCRA for rates with bursts, fixed windows for quotas.
//!
//! Pure functions of (policy, stored state, now); the Durable Object that owns a key calls them
//! one request at a time, which is what makes the limits exact.

use serde::{Deserialize, Serialize};

/// How a policy counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AlgorithmRecord", into = "AlgorithmRecord")]
pub enum Algorithm {
    /// `limit` requests per `period_ms`, with up to `burst` at once (GCRA, a token bucket
    /// without a timer).
    Rate {
        limit: u64,
        period_ms: u64,
        burst: u64,
    },
    /// At most `limit` requests per fixed window aligned to UTC.
    Quota { limit: u64, window: Window },
}

/// A fixed window: a number of seconds aligned to the Unix epoch, or a calendar month in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Seconds { seconds: u64 },
    Month,
}

/// How an [`Algorithm`] is sent to the Durable Object and kept in its storage:
/// `{"kind": "rate", "limit", "period_ms", "burst"}` or
/// `{"kind": "quota", "limit", "window": {"unit": "seconds", "seconds"} | {"unit": "month"}}`.
/// A flat record read field by field, because serde's internally tagged enums buffer the whole
/// object before choosing a variant, which cost 20 KB of Wasm for these two types.
#[derive(Serialize, Deserialize)]
struct AlgorithmRecord {
    kind: Kind,
    limit: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    period_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    burst: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<WindowRecord>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Rate,
    Quota,
}

#[derive(Serialize, Deserialize)]
struct WindowRecord {
    unit: Unit,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seconds: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Unit {
    Seconds,
    Month,
}

impl From<Algorithm> for AlgorithmRecord {
    fn from(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Rate {
                limit,
                period_ms,
                burst,
            } => Self {
                kind: Kind::Rate,
                limit,
                period_ms: Some(period_ms),
                burst: Some(burst),
                window: None,
            },
            Algorithm::Quota { limit, window } => Self {
                kind: Kind::Quota,
                limit,
                period_ms: None,
                burst: None,
                window: Some(match window {
                    Window::Seconds { seconds } => WindowRecord {
                        unit: Unit::Seconds,
                        seconds: Some(seconds),
                    },
                    Window::Month => WindowRecord {
                        unit: Unit::Month,
                        seconds: None,
                    },
                }),
            },
        }
    }
}

impl TryFrom<AlgorithmRecord> for Algorithm {
    type Error = &'static str;

    fn try_from(record: AlgorithmRecord) -> Result<Self, Self::Error> {
        match (record.kind, record.window) {
            (Kind::Rate, _) => match (record.period_ms, record.burst) {
                (Some(period_ms), Some(burst)) => Ok(Self::Rate {
                    limit: record.limit,
                    period_ms,
                    burst,
                }),
                _ => Err("a rate needs period_ms and burst"),
            },
            (Kind::Quota, Some(window)) => {
                let window = match (window.unit, window.seconds) {
                    (Unit::Seconds, Some(seconds)) => Window::Seconds { seconds },
                    (Unit::Seconds, None) => return Err("a window in seconds needs seconds"),
                    (Unit::Month, _) => Window::Month,
                };
                Ok(Self::Quota {
                    limit: record.limit,
                    window,
                })
            }
            (Kind::Quota, None) => Err("a quota needs a window"),
        }
    }
}

/// What a key has used. Only the fields of its algorithm are set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// GCRA's theoretical arrival time, in ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tat_ms: Option<f64>,
    /// Start of the quota window `used` counts, in ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start_ms: Option<f64>,
    #[serde(default)]
    pub used: u64,
}

/// The answer for one request, with what the response headers need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u64,
    /// Requests that would still be admitted now.
    pub remaining: u64,
    /// Milliseconds until the key is back to its full allowance.
    pub reset_ms: u64,
    /// Milliseconds until a denied request would be admitted; 0 when allowed.
    pub retry_after_ms: u64,
    /// The policy's window in seconds, for `RateLimit-Policy`.
    pub window_s: u64,
}

/// Consumes `cost` requests (0 only reads) and returns the decision and the state to store.
pub fn consume(algorithm: &Algorithm, state: &State, now_ms: f64, cost: u64) -> (Decision, State) {
    match *algorithm {
        Algorithm::Rate {
            limit,
            period_ms,
            burst,
        } => gcra(limit, period_ms, burst, state, now_ms, cost),
        Algorithm::Quota { limit, window } => quota(limit, window, state, now_ms, cost),
    }
}

/// Consumes as much of `want` as the key has left now, at most all of it: what an isolate
/// leases to spend on its own. Returns the amount granted (0 when the key is exhausted, with
/// the decision a single request would get) and the state to store.
pub fn lease(
    algorithm: &Algorithm,
    state: &State,
    now_ms: f64,
    want: u64,
) -> (u64, Decision, State) {
    let (peek, _) = consume(algorithm, state, now_ms, 0);
    let asked = want.min(peek.remaining).max(1);
    let (decision, next) = consume(algorithm, state, now_ms, asked);
    let granted = if decision.allowed { asked } else { 0 };
    (granted, decision, next)
}

/// Shortest time a rate's leased credit stays spendable (or the period, if shorter).
const MIN_CREDIT_LIFETIME_MS: f64 = 1_000.0;

/// How long leased credit stays spendable: a quota's credit lapses at the end of its window,
/// so a window never admits more than its limit; a rate's after the time the key takes to
/// regain what was granted, and not before a second (or the period, if shorter), so a
/// generous rate is not leased again every millisecond. Unspent credit lapsing is what keeps
/// an idle isolate from holding a key's allowance back from the others.
pub fn credit_lifetime_ms(algorithm: &Algorithm, granted: u64, decision: &Decision) -> f64 {
    match *algorithm {
        Algorithm::Rate {
            limit, period_ms, ..
        } => {
            let regained = period_ms as f64 / limit.max(1) as f64 * granted.max(1) as f64;
            regained.max(MIN_CREDIT_LIFETIME_MS.min(period_ms as f64))
        }
        Algorithm::Quota { .. } => decision.reset_ms as f64,
    }
}

/// Rates whose period is at most this long keep their state in memory only.
pub const MEMORY_ONLY_PERIOD_MS: u64 = 60_000;

/// Whether a key's state must be written to storage. A short rate's state only matters for
/// a minute at most: if its object is evicted after idling, the key at worst regains its burst
/// a little early, which is not worth a storage write per request. Quotas and long rates are
/// stored so that they hold across eviction and restarts.
pub fn is_durable(algorithm: &Algorithm) -> bool {
    match algorithm {
        Algorithm::Rate { period_ms, .. } => *period_ms > MEMORY_ONLY_PERIOD_MS,
        Algorithm::Quota { .. } => true,
    }
}

/// When the state has returned to "never used" and can be deleted.
pub fn forgettable_at(algorithm: &Algorithm, state: &State) -> f64 {
    match algorithm {
        Algorithm::Rate { .. } => state.tat_ms.unwrap_or(0.0),
        Algorithm::Quota { window, .. } => state
            .window_start_ms
            .map_or(0.0, |start| window_end(*window, start)),
    }
}

fn gcra(
    limit: u64,
    period_ms: u64,
    burst: u64,
    state: &State,
    now: f64,
    cost: u64,
) -> (Decision, State) {
    let interval = period_ms as f64 / limit.max(1) as f64;
    let capacity = burst.max(1) as f64 * interval;
    let base = state.tat_ms.unwrap_or(now).max(now);
    let candidate = base + cost as f64 * interval;
    let allowed = candidate - now <= capacity + 1e-6;
    let tat = if allowed { candidate } else { base };
    let remaining = ((capacity - (tat - now)) / interval + 1e-9)
        .floor()
        .max(0.0) as u64;
    let retry_after_ms = if allowed {
        0
    } else {
        ceil_ms(candidate - now - capacity)
    };
    let decision = Decision {
        allowed,
        limit,
        remaining,
        reset_ms: ceil_ms(tat - now),
        retry_after_ms,
        window_s: period_ms.div_ceil(1000),
    };
    let next = State {
        tat_ms: (tat > now).then_some(tat),
        ..State::default()
    };
    (decision, next)
}

fn quota(limit: u64, window: Window, state: &State, now: f64, cost: u64) -> (Decision, State) {
    let start = window_start(window, now);
    let end = window_end(window, start);
    let used = if state.window_start_ms == Some(start) {
        state.used
    } else {
        0
    };
    let allowed = used + cost <= limit;
    let used = if allowed { used + cost } else { used };
    let until_end = ceil_ms(end - now);
    let decision = Decision {
        allowed,
        limit,
        remaining: limit.saturating_sub(used),
        reset_ms: until_end,
        retry_after_ms: if allowed { 0 } else { until_end },
        window_s: ceil_ms(end - start).div_ceil(1000),
    };
    let next = State {
        window_start_ms: (used > 0).then_some(start),
        used,
        ..State::default()
    };
    (decision, next)
}

fn ceil_ms(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        ms.ceil() as u64
    } else {
        0
    }
}

fn window_start(window: Window, now: f64) -> f64 {
    match window {
        Window::Seconds { seconds } => {
            let size = (seconds.max(1) * 1000) as f64;
            (now / size).floor() * size
        }
        Window::Month => {
            let (year, month, _) = civil_from_days((now / DAY_MS).floor() as i64);
            days_from_civil(year, month, 1) as f64 * DAY_MS
        }
    }
}

fn window_end(window: Window, start: f64) -> f64 {
    match window {
        Window::Seconds { seconds } => start + (seconds.max(1) * 1000) as f64,
        Window::Month => {
            let (year, month, _) = civil_from_days((start / DAY_MS).floor() as i64);
            let (year, month) = if month == 12 {
                (year + 1, 1)
            } else {
                (year, month + 1)
            };
            days_from_civil(year, month, 1) as f64 * DAY_MS
        }
    }
}

const DAY_MS: f64 = 86_400_000.0;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Algorithm = Algorithm::Rate {
        limit: 10,
        period_ms: 1_000,
        burst: 5,
    };

    fn run(algorithm: &Algorithm, state: &mut State, now: f64) -> Decision {
        let (decision, next) = consume(algorithm, state, now, 1);
        *state = next;
        decision
    }

    #[test]
    fn algorithms_keep_their_stored_form() {
        // Durable Objects keep these records for months: the form must not drift.
        let quota = |window| Algorithm::Quota { limit: 3, window };
        let forms = [
            (
                RATE,
                r#"{"kind":"rate","limit":10,"period_ms":1000,"burst":5}"#,
            ),
            (
                quota(Window::Seconds { seconds: 60 }),
                r#"{"kind":"quota","limit":3,"window":{"unit":"seconds","seconds":60}}"#,
            ),
            (
                quota(Window::Month),
                r#"{"kind":"quota","limit":3,"window":{"unit":"month"}}"#,
            ),
        ];
        for (algorithm, form) in forms {
            assert_eq!(serde_json::to_string(&algorithm).unwrap(), form);
            assert_eq!(serde_json::from_str::<Algorithm>(form).unwrap(), algorithm);
        }
        for broken in [
            r#"{"kind":"rate","limit":1,"burst":1}"#,
            r#"{"kind":"quota","limit":1}"#,
            r#"{"kind":"quota","limit":1,"window":{"unit":"seconds"}}"#,
            r#"{"kind":"leaky","limit":1}"#,
        ] {
            assert!(
                serde_json::from_str::<Algorithm>(broken).is_err(),
                "{broken}"
            );
        }
    }

    #[test]
    fn only_short_rates_stay_in_memory() {
        assert!(!is_durable(&RATE));
        assert!(is_durable(&Algorithm::Rate {
            limit: 1,
            period_ms: 3_600_000,
            burst: 1
        }));
        assert!(is_durable(&Algorithm::Quota {
            limit: 1,
            window: Window::Month
        }));
    }

    #[test]
    fn gcra_admits_the_burst_then_one_per_interval() {
        let mut state = State::default();
        let admitted = (0..20)
            .filter(|_| run(&RATE, &mut state, 0.0).allowed)
            .count();
        assert_eq!(admitted, 5, "burst of 5 at once");
        let denied = run(&RATE, &mut state, 0.0);
        assert_eq!(denied.retry_after_ms, 100, "one request every 100 ms");
        assert_eq!(denied.remaining, 0);
        assert!(!run(&RATE, &mut state, 99.0).allowed);
        assert!(run(&RATE, &mut state, 100.0).allowed);
        assert!(!run(&RATE, &mut state, 100.0).allowed);
    }

    #[test]
    fn gcra_refills_to_the_burst_and_reports_remaining() {
        let mut state = State::default();
        let first = run(&RATE, &mut state, 0.0);
        assert_eq!((first.remaining, first.reset_ms), (4, 100));
        let later = run(&RATE, &mut state, 10_000.0);
        assert_eq!(later.remaining, 4, "never more than the burst");
        let (peek, unchanged) = consume(&RATE, &state, 10_000.0, 0);
        assert!(peek.allowed);
        assert_eq!(unchanged, state);
    }

    #[test]
    fn exactly_limit_requests_per_period_over_time() {
        let rate = Algorithm::Rate {
            limit: 50,
            period_ms: 60_000,
            burst: 50,
        };
        let mut state = State::default();
        let mut admitted = 0;
        for i in 0..=6_000 {
            if run(&rate, &mut state, f64::from(i) * 10.0).allowed {
                admitted += 1;
            }
        }
        // 0 to 60 s inclusive: the burst of 50 plus 50 regenerated (one every 1.2 s).
        assert_eq!(admitted, 100);
    }

    #[test]
    fn quota_counts_per_window_and_resets_at_the_boundary() {
        let quota = Algorithm::Quota {
            limit: 3,
            window: Window::Seconds { seconds: 10 },
        };
        let mut state = State::default();
        let results: Vec<bool> = (0..5)
            .map(|_| run(&quota, &mut state, 12_000.0).allowed)
            .collect();
        assert_eq!(results, [true, true, true, false, false]);
        let denied = run(&quota, &mut state, 15_000.0);
        assert_eq!(denied.retry_after_ms, 5_000);
        assert_eq!(denied.window_s, 10);
        assert!(run(&quota, &mut state, 20_000.0).allowed, "a new window");
        assert_eq!(forgettable_at(&quota, &state), 30_000.0);
    }

    #[test]
    fn leases_grant_what_is_left_and_no_more() {
        let quota = Algorithm::Quota {
            limit: 10,
            window: Window::Seconds { seconds: 60 },
        };
        let (granted, decision, state) = lease(&quota, &State::default(), 1_000.0, 4);
        assert_eq!(
            (granted, decision.allowed, decision.remaining),
            (4, true, 6)
        );
        let (granted, _, state) = lease(&quota, &state, 2_000.0, 8);
        assert_eq!(granted, 6, "a partial grant empties the key");
        let (granted, denied, after) = lease(&quota, &state, 3_000.0, 8);
        assert_eq!((granted, denied.allowed), (0, false));
        assert_eq!(denied.retry_after_ms, 57_000);
        assert_eq!(after.used, 10);
        assert_eq!(credit_lifetime_ms(&quota, 4, &decision), 59_000.0);

        let (granted, decision, state) = lease(&RATE, &State::default(), 0.0, 3);
        assert_eq!((granted, decision.remaining), (3, 2));
        assert_eq!(credit_lifetime_ms(&RATE, granted, &decision), 1_000.0);
        let hourly = Algorithm::Rate {
            limit: 10,
            period_ms: 3_600_000,
            burst: 10,
        };
        assert_eq!(credit_lifetime_ms(&hourly, 2, &decision), 720_000.0);
        let (granted, _, state) = lease(&RATE, &state, 0.0, 3);
        assert_eq!(granted, 2, "the burst of 5 is spent");
        assert_eq!(lease(&RATE, &state, 0.0, 3).0, 0);
        assert_eq!(lease(&RATE, &state, 100.0, 3).0, 1, "one more every 100 ms");
    }

    #[test]
    fn monthly_windows_follow_the_calendar() {
        // 2026-02-14T00:00:00Z
        let now = days_from_civil(2026, 2, 14) as f64 * DAY_MS;
        let start = window_start(Window::Month, now);
        assert_eq!(start, days_from_civil(2026, 2, 1) as f64 * DAY_MS);
        assert_eq!(
            window_end(Window::Month, start),
            days_from_civil(2026, 3, 1) as f64 * DAY_MS
        );
        let december = days_from_civil(2026, 12, 31) as f64 * DAY_MS;
        assert_eq!(
            window_end(Window::Month, window_start(Window::Month, december)),
            days_from_civil(2027, 1, 1) as f64 * DAY_MS
        );
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }
}
