//! Approximate limits: credit leased from a key's object in batches and spent by one isolate
//! without asking again.
//!
//! The object consumes a lease when it grants it, so every admitted request was counted
//! there; what the mode gives up is the timing. An isolate holds at most `lease` unspent
//! credit, and it asks for more when it is down to a quarter, while it still has some, so a
//! busy isolate rarely waits for the object. Hence the bound: in any interval, the requests
//! admitted exceed what an exact limit would admit by at most `lease` per isolate holding
//! credit. A request checked exactly while a lease was on its way, and refused, is admitted
//! from the lease if it has come meanwhile, so a burst is not refused for want of credit
//! that is sitting unspent. A quota's credit lapses at the end of its window, so no window
//! admits more than its limit; credit an isolate does not spend lapses unused, so a key can be
//! refused a little before its limit when many isolates share it.

use std::collections::HashMap;

use super::algorithm::{credit_lifetime_ms, Algorithm, Decision};

/// Most keys with credit per isolate; forgetting credit only refuses early, never admits more.
const CAPACITY: usize = 10_000;

/// What a request may do with this isolate's credit for one key.
#[derive(Debug, Clone, PartialEq)]
pub enum Take {
    /// Admitted from credit. `refill` is how much to lease now, on the way, because the
    /// credit is running low.
    Spent {
        decision: Decision,
        refill: Option<u64>,
    },
    /// No credit: lease this much, and admit the request from it.
    Lease(u64),
    /// No credit and a lease already on its way: check this one request exactly.
    Check,
}

/// The object's answer to a lease.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Grant {
    pub granted: u64,
    pub decision: Decision,
}

#[derive(Debug, Clone)]
struct Credit {
    left: u64,
    /// When unspent credit lapses, in ms since the epoch.
    until_ms: f64,
    /// The object's last answer and when it came, for the response headers.
    decision: Decision,
    at_ms: f64,
    refilling: bool,
    /// The key was found exhausted: no refill on the way before this time.
    quiet_until_ms: f64,
}

impl Credit {
    /// Whether some credit is left and has not lapsed at `now_ms`.
    fn usable(&self, now_ms: f64) -> bool {
        self.left > 0 && self.until_ms > now_ms
    }
}

/// One isolate's credit, by object name.
#[derive(Debug, Default)]
pub struct Ledger {
    credits: HashMap<String, Credit>,
}

impl Ledger {
    /// Spends one unit of `name`'s credit if there is any left at `now_ms`. When there is
    /// none, the request that gets [`Take::Lease`] is the one to ask; until its answer comes,
    /// concurrent requests get [`Take::Check`] rather than lease too.
    pub fn take(&mut self, name: &str, lease: u64, now_ms: f64) -> Take {
        let credit = self.entry(name, now_ms);
        if !credit.usable(now_ms) {
            if credit.refilling {
                return Take::Check;
            }
            credit.refilling = true;
            credit.left = 0;
            return Take::Lease(lease);
        }
        credit.left -= 1;
        let due = credit.left <= lease / 4 && !credit.refilling && credit.quiet_until_ms <= now_ms;
        let refill = due.then(|| {
            credit.refilling = true;
            lease - credit.left
        });
        Take::Spent {
            decision: headers_view(credit, now_ms),
            refill,
        }
    }

    /// Spends one unit of credit if there is some, without asking for more: for a request
    /// the object refused while a lease for the same key was on its way.
    pub fn spend(&mut self, name: &str, now_ms: f64) -> Option<Decision> {
        let credit = self.credits.get_mut(name)?;
        if !credit.usable(now_ms) {
            return None;
        }
        credit.left -= 1;
        Some(headers_view(credit, now_ms))
    }

    /// Adds what the object granted. `spend_one` when the request that asked is admitted
    /// from the grant itself. Returns that request's decision.
    pub fn granted(
        &mut self,
        name: &str,
        algorithm: &Algorithm,
        grant: &Grant,
        spend_one: bool,
        now_ms: f64,
    ) -> Decision {
        let lifetime = credit_lifetime_ms(algorithm, grant.granted, &grant.decision);
        let fresh_until = now_ms + lifetime;
        let spent = u64::from(spend_one && grant.granted > 0);
        let credit = self.entry(name, now_ms);
        let still_valid = credit.usable(now_ms);
        credit.left = if still_valid { credit.left } else { 0 } + grant.granted - spent;
        credit.until_ms = match algorithm {
            // Credit from an earlier window must not outlive it.
            Algorithm::Quota { .. } if still_valid => credit.until_ms.min(fresh_until),
            _ => fresh_until,
        };
        credit.decision = grant.decision.clone();
        credit.at_ms = now_ms;
        credit.refilling = false;
        if grant.granted == 0 {
            credit.quiet_until_ms = now_ms + grant.decision.retry_after_ms as f64;
        }
        if spend_one && grant.granted > 0 {
            headers_view(credit, now_ms)
        } else {
            grant.decision.clone()
        }
    }

    /// A lease that failed: the next request that finds no credit asks again.
    pub fn failed(&mut self, name: &str) {
        if let Some(credit) = self.credits.get_mut(name) {
            credit.refilling = false;
        }
    }

    /// Drops `name`'s credit (an admin reset).
    pub fn forget(&mut self, name: &str) {
        self.credits.remove(name);
    }

    /// `name`'s credit, empty when this isolate holds none.
    fn entry(&mut self, name: &str, now_ms: f64) -> &mut Credit {
        if !self.credits.contains_key(name) {
            self.make_room(now_ms);
        }
        self.credits
            .entry(name.to_string())
            .or_insert_with(|| Credit {
                left: 0,
                until_ms: now_ms,
                decision: Decision::default(),
                at_ms: now_ms,
                refilling: false,
                quiet_until_ms: 0.0,
            })
    }

    fn make_room(&mut self, now_ms: f64) {
        if self.credits.len() < CAPACITY {
            return;
        }
        self.credits.retain(|_, c| c.refilling || c.usable(now_ms));
        if self.credits.len() >= CAPACITY {
            self.credits.clear();
        }
    }
}

/// The decision a request admitted from credit reports: the object's remaining count as of
/// its last answer plus the credit still here, and its reset moved on by the time since.
fn headers_view(credit: &Credit, now_ms: f64) -> Decision {
    let elapsed = (now_ms - credit.at_ms).max(0.0) as u64;
    Decision {
        allowed: true,
        remaining: credit.decision.remaining + credit.left,
        reset_ms: credit.decision.reset_ms.saturating_sub(elapsed),
        retry_after_ms: 0,
        ..credit.decision.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::algorithm::{self, State, Window};
    use proptest::prelude::*;

    /// A key's object, answering leases and exact checks one at a time.
    struct Object {
        algorithm: Algorithm,
        state: State,
        calls: u32,
    }

    impl Object {
        fn lease(&mut self, want: u64, now: f64) -> Grant {
            self.calls += 1;
            let (granted, decision, next) =
                algorithm::lease(&self.algorithm, &self.state, now, want);
            self.state = next;
            Grant { granted, decision }
        }

        fn check(&mut self, now: f64) -> bool {
            self.calls += 1;
            let (decision, next) = algorithm::consume(&self.algorithm, &self.state, now, 1);
            self.state = next;
            decision.allowed
        }
    }

    /// One request through an isolate's ledger, with the object answering at once.
    fn request(ledger: &mut Ledger, object: &mut Object, lease: u64, now: f64) -> bool {
        match ledger.take("k", lease, now) {
            Take::Spent { refill, .. } => {
                if let Some(want) = refill {
                    let grant = object.lease(want, now);
                    ledger.granted("k", &object.algorithm, &grant, false, now);
                }
                true
            }
            Take::Lease(want) => {
                let grant = object.lease(want, now);
                ledger
                    .granted("k", &object.algorithm, &grant, true, now)
                    .allowed
            }
            Take::Check => object.check(now) || ledger.spend("k", now).is_some(),
        }
    }

    fn quota(limit: u64, seconds: u64) -> Algorithm {
        Algorithm::Quota {
            limit,
            window: Window::Seconds { seconds },
        }
    }

    #[test]
    fn one_isolate_admits_exactly_the_limit_with_few_object_calls() {
        let mut object = Object {
            algorithm: quota(100, 60),
            state: State::default(),
            calls: 0,
        };
        let mut ledger = Ledger::default();
        let admitted = (0..100)
            .filter(|i| request(&mut ledger, &mut object, 20, f64::from(*i)))
            .count();
        assert_eq!(admitted, 100);
        // A lease of 20, refills of 15 whenever 5 are left (the sixth gets the last 5), and
        // one that finds the key exhausted, after which this isolate stops asking.
        assert_eq!(object.calls, 8);
        assert!(!request(&mut ledger, &mut object, 20, 100.0));
    }

    #[test]
    fn concurrent_requests_without_credit_check_exactly_while_a_lease_is_out() {
        let mut ledger = Ledger::default();
        assert_eq!(ledger.take("k", 10, 0.0), Take::Lease(10));
        assert_eq!(ledger.take("k", 10, 1.0), Take::Check);
        assert_eq!(ledger.spend("k", 1.0), None, "nothing to spend yet");
        ledger.failed("k");
        assert_eq!(ledger.take("k", 10, 2.0), Take::Lease(10));
    }

    #[test]
    fn quota_credit_lapses_with_its_window() {
        let algorithm = quota(100, 10);
        let mut object = Object {
            algorithm,
            state: State::default(),
            calls: 0,
        };
        let mut ledger = Ledger::default();
        assert!(request(&mut ledger, &mut object, 10, 9_990.0));
        // The window ends at 10 s: the 9 units left are not spent in the next one.
        assert_eq!(ledger.take("k", 10, 10_000.0), Take::Lease(10));
    }

    #[test]
    fn admitted_requests_report_the_credit_in_their_headers() {
        let mut object = Object {
            algorithm: quota(50, 60),
            state: State::default(),
            calls: 0,
        };
        let mut ledger = Ledger::default();
        let Take::Lease(want) = ledger.take("k", 10, 0.0) else {
            panic!("no credit yet")
        };
        let grant = object.lease(want, 0.0);
        let first = ledger.granted("k", &object.algorithm, &grant, true, 0.0);
        assert_eq!(first.remaining, 49, "40 at the object and 9 here");
        let Take::Spent { decision, refill } = ledger.take("k", 10, 1_000.0) else {
            panic!("credit is left")
        };
        assert_eq!((decision.remaining, refill), (48, None));
        assert_eq!(decision.reset_ms, first.reset_ms - 1_000);
    }

    proptest! {
        /// Several isolates with their own credit in front of one object: in every interval
        /// between two admitted requests, at most `lease` per isolate more than the exact
        /// allowance for that interval (the burst plus what regenerates in it).
        #[test]
        fn overshoot_stays_within_a_lease_per_isolate(
            limit in 1u64..60,
            burst in 1u64..30,
            lease in 1u64..12,
            isolates in 1usize..5,
            arrivals in proptest::collection::vec((0usize..5, 0u32..40), 1..250),
        ) {
            let lease = lease.min(burst);
            let algorithm = Algorithm::Rate { limit, period_ms: 1_000, burst };
            let mut object = Object { algorithm, state: State::default(), calls: 0 };
            let mut ledgers: Vec<Ledger> = (0..isolates).map(|_| Ledger::default()).collect();
            let mut now = 0.0;
            let mut admitted = Vec::new();
            for (isolate, gap) in arrivals {
                now += f64::from(gap);
                if request(&mut ledgers[isolate % isolates], &mut object, lease, now) {
                    admitted.push(now);
                }
            }
            let interval = 1_000.0 / limit as f64;
            for (i, start) in admitted.iter().enumerate() {
                for (j, end) in admitted.iter().enumerate().skip(i) {
                    let exact = burst as f64 + ((end - start) / interval).floor();
                    let bound = exact + (lease * isolates as u64) as f64;
                    prop_assert!((j - i + 1) as f64 <= bound,
                        "{} admitted in {start}..{end}, bound {bound}", j - i + 1);
                }
            }
        }

        /// A quota's window never admits more than its limit, however many isolates lease.
        #[test]
        fn quota_windows_never_exceed_the_limit(
            limit in 1u64..40,
            lease in 1u64..12,
            isolates in 1usize..5,
            arrivals in proptest::collection::vec((0usize..5, 0u32..300), 1..300),
        ) {
            let lease = lease.min(limit);
            let mut object = Object { algorithm: quota(limit, 1), state: State::default(), calls: 0 };
            let mut ledgers: Vec<Ledger> = (0..isolates).map(|_| Ledger::default()).collect();
            let mut now = 0.0;
            let mut per_window: HashMap<u64, u64> = HashMap::new();
            for (isolate, gap) in arrivals {
                now += f64::from(gap);
                if request(&mut ledgers[isolate % isolates], &mut object, lease, now) {
                    *per_window.entry((now / 1_000.0) as u64).or_default() += 1;
                }
            }
            prop_assert!(per_window.values().all(|n| *n <= limit), "{per_window:?}");
        }
    }
}
