//! How far approximate rate limits stray from exact ones: several isolates, each with its own
//! credit ledger, in front of one key's object, under three loads (random arrivals at half
//! and at three times the limit for ten simulated seconds, and credit hoarded by every
//! isolate, then spent in one burst). Prints, for each setting, the most any window admitted
//! beyond what an exact limit allows in it (against the bound of one lease per isolate), the
//! admissions against an exact limit's on the same arrivals (credit left unspent lapses), and
//! the object calls per request.
//!
//!   cargo run --release --bin lease-overshoot
//!
//! The object answers at once here; in the Worker a lease takes a round trip, during which
//! the isolate spends the credit it still has, which the bound already covers (an isolate
//! never holds more than one lease).

use edge_gateway::rate_limit::algorithm::{self, Algorithm, State};
use edge_gateway::rate_limit::lease::{Grant, Ledger, Take};

const LIMIT: u64 = 1_000;
const BURST: u64 = 100;
const SECONDS: f64 = 10.0;

/// A small deterministic generator, so every run prints the same figures.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Run {
    admitted: Vec<f64>,
    requests: u64,
    calls: u64,
}

/// Request arrival times and the isolate each one reaches.
fn arrivals(pattern: Pattern, isolates: usize, lease: u64, seed: u64) -> Vec<(f64, usize)> {
    let mut random = XorShift(seed);
    let mut out = Vec::new();
    match pattern {
        Pattern::Steady(times_limit) => {
            let mean_gap_ms = 1_000.0 / (times_limit * LIMIT as f64);
            let mut now = 0.0;
            while now < SECONDS * 1_000.0 {
                now += -mean_gap_ms * (1.0 - random.unit()).ln();
                out.push((now, random.next() as usize % isolates));
            }
        }
        // Each isolate in turn takes one request, as soon as the key has regained a lease, so
        // each leases and holds the rest of it; once the key has regained its whole burst,
        // all of them are hit at the same moment.
        Pattern::Hoarded => {
            let regain_ms = 1_000.0 * lease as f64 / LIMIT as f64;
            for isolate in 0..isolates {
                out.push((isolate as f64 * regain_ms, isolate));
            }
            let refilled = isolates as f64 * regain_ms + 1_000.0 * BURST as f64 / LIMIT as f64;
            for i in 0..(3 * (BURST as usize + lease as usize * isolates)) {
                out.push((refilled + 0.5, i % isolates));
            }
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Pattern {
    /// Random arrivals at this multiple of the limit.
    Steady(f64),
    Hoarded,
}

fn simulate(isolates: usize, lease: u64, pattern: Pattern, seed: u64) -> Run {
    let algorithm = Algorithm::Rate {
        limit: LIMIT,
        period_ms: 1_000,
        burst: BURST,
    };
    let mut state = State::default();
    let mut ledgers: Vec<Ledger> = (0..isolates).map(|_| Ledger::default()).collect();
    // Each isolate's memory of the last denial, as the Worker keeps it: a request without
    // credit is refused without a call until the denial's Retry-After has passed.
    let mut denied_until = vec![0.0; isolates];
    let (mut admitted, mut requests, mut calls) = (Vec::new(), 0, 0);
    let lease_at = |state: &mut State, want: u64, now: f64, calls: &mut u64| {
        *calls += 1;
        let (granted, decision, next) = algorithm::lease(&algorithm, state, now, want);
        *state = next;
        Grant { granted, decision }
    };
    for (now, isolate) in arrivals(pattern, isolates, lease, seed) {
        requests += 1;
        let ledger = &mut ledgers[isolate];
        let allowed = match ledger.take("k", lease, now) {
            Take::Spent { refill, .. } => {
                if let Some(want) = refill {
                    let grant = lease_at(&mut state, want, now, &mut calls);
                    ledger.granted("k", &algorithm, &grant, false, now);
                }
                true
            }
            Take::Lease(_) if now < denied_until[isolate] => {
                ledger.failed("k");
                false
            }
            Take::Check if now < denied_until[isolate] => false,
            Take::Lease(want) => {
                let grant = lease_at(&mut state, want, now, &mut calls);
                let decision = ledger.granted("k", &algorithm, &grant, true, now);
                if !decision.allowed {
                    denied_until[isolate] = now + decision.retry_after_ms as f64;
                }
                decision.allowed
            }
            Take::Check => {
                calls += 1;
                let (decision, next) = algorithm::consume(&algorithm, &state, now, 1);
                state = next;
                if !decision.allowed {
                    denied_until[isolate] = now + decision.retry_after_ms as f64;
                }
                decision.allowed
            }
        };
        if allowed {
            admitted.push(now);
        }
    }
    Run {
        admitted,
        requests,
        calls,
    }
}

/// The most any window of `window_ms` admitted beyond an exact limit's allowance for it.
fn excess(admitted: &[f64], window_ms: f64) -> i64 {
    let allowance = BURST as f64 + (window_ms * LIMIT as f64 / 1_000.0).floor();
    let mut worst = i64::MIN;
    let mut end = 0;
    for (start, t) in admitted.iter().enumerate() {
        while end < admitted.len() && admitted[end] <= t + window_ms {
            end += 1;
        }
        worst = worst.max((end - start) as i64 - allowance as i64);
    }
    worst
}

fn main() {
    println!("rate {LIMIT}/s, burst {BURST}; worst of 5 seeds; excess = most admitted in a window beyond an exact limit's allowance");
    println!("load                 isolates  lease  excess in 10 ms / 1 s  bound  admitted / exact run  object calls per request");
    for (name, pattern) in [
        ("half the limit", Pattern::Steady(0.5)),
        ("3x the limit", Pattern::Steady(3.0)),
        ("hoarded, then burst", Pattern::Hoarded),
    ] {
        for isolates in [1, 4, 8] {
            for lease in [10, 100] {
                let runs: Vec<Run> = (1..=5)
                    .map(|seed| simulate(isolates, lease, pattern, seed * 7919))
                    .collect();
                let exact: Vec<usize> = (1..=5)
                    .map(|seed| simulate(1, 1, pattern, seed * 7919).admitted.len())
                    .collect();
                let worst = |window| {
                    runs.iter()
                        .map(|r| excess(&r.admitted, window))
                        .max()
                        .unwrap_or(0)
                };
                let share = runs
                    .iter()
                    .zip(&exact)
                    .map(|(r, e)| r.admitted.len() as f64 / *e as f64)
                    .fold(f64::INFINITY, f64::min);
                let calls = runs
                    .iter()
                    .map(|r| r.calls as f64 / r.requests as f64)
                    .fold(0.0, f64::max);
                println!(
                    "{name:<20} {isolates:>8}  {lease:>5}  {:>14} / {:>4}  {:>5}  {share:>20.3}  {calls:>24.3}",
                    worst(10.0),
                    worst(1_000.0),
                    lease * isolates as u64,
                );
            }
        }
    }
}
