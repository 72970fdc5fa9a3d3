//! Bulkheads: at most `max_concurrent` calls to a service are under way in one isolate at a
//! time, so a slow service cannot hold every request the isolate is serving. A call beyond
//! that is refused at once (503 `service-saturated`, `Retry-After: 1`) rather than queued.
//! A call counts from its first attempt until its response headers arrive or it fails
//! (retries included); a body still streaming to the client no longer counts.

use std::cell::RefCell;
use std::collections::BTreeMap;

thread_local! {
    /// Service → calls under way in this isolate.
    static IN_FLIGHT: RefCell<BTreeMap<String, u32>> = const { RefCell::new(BTreeMap::new()) };
}

/// A call's place in its service's bulkhead, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    service: String,
}

/// Takes a place for a call to `service`, unless `max` calls are already under way.
pub fn enter(service: &str, max: u32) -> Option<Slot> {
    IN_FLIGHT.with(|in_flight| {
        let mut in_flight = in_flight.borrow_mut();
        let count = in_flight.entry(service.to_string()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Slot {
            service: service.to_string(),
        })
    })
}

/// Calls to `service` under way in this isolate.
pub fn in_flight(service: &str) -> u32 {
    IN_FLIGHT.with(|in_flight| in_flight.borrow().get(service).copied().unwrap_or(0))
}

impl Drop for Slot {
    fn drop(&mut self) {
        IN_FLIGHT.with(|in_flight| {
            if let Some(count) = in_flight.borrow_mut().get_mut(&self.service) {
                *count = count.saturating_sub(1);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_limited_per_service_and_given_back() {
        let a = enter("slow", 2).expect("first");
        let b = enter("slow", 2).expect("second");
        assert!(enter("slow", 2).is_none(), "full");
        assert!(
            enter("fast", 2).is_some(),
            "another service is not affected"
        );
        assert_eq!(in_flight("slow"), 2);
        drop(a);
        let c = enter("slow", 2).expect("a place was given back");
        drop((b, c));
        assert_eq!(in_flight("slow"), 0);
    }
}
