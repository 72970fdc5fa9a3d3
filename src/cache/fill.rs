//! Collapsed misses: while one request of an isolate fetches a key from the origin, the others
//! that miss the same key wait for it to be stored instead of asking the origin too.
//!
//! The runtime does not let a request resume on another request's I/O, so a waiter does not
//! await the filling request: it looks again every few milliseconds on its own timer until the
//! fill is done (stored, or found not storable) or its deadline passes, and then looks the key
//! up again. A fill is done when its [`Fill`] is dropped: after the entry is in the memory tier,
//! or at once when the answer may not be stored, or when its request goes away.
//!
//! A key whose answer could not be stored is passed for a while: its misses go to the origin
//! at once, side by side, instead of queueing behind one another for an answer none of them
//! could share.

use std::cell::RefCell;

use crate::memo::Expiring;
use crate::platform;

/// Keys being filled in this isolate, until their fill's deadline.
const CAPACITY: usize = 4096;
/// How often a waiting request looks again.
const STEP_MS: u64 = 5;
/// How long a key whose answer could not be stored is not collapsed.
const PASS_MS: f64 = 30_000.0;

thread_local! {
    /// Key → the number of the fill under way.
    static FILLING: RefCell<Expiring<u64>> = RefCell::new(Expiring::new(CAPACITY));
    static NEXT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Keys whose last answer could not be stored, until they are collapsed again.
    static PASSING: RefCell<Expiring<()>> = RefCell::new(Expiring::new(CAPACITY));
}

impl Fill {
    /// Ends the fill with an answer that could not be stored: the key is passed for a while
    /// (see [`passes`]).
    pub fn pass(self) {
        let now = platform::now_ms();
        PASSING.with(|p| {
            p.borrow_mut()
                .insert(self.key.clone(), now + PASS_MS, (), now)
        });
    }
}

/// Whether misses for `key` go to the origin without waiting for one another.
pub fn passes(key: &str) -> bool {
    PASSING.with(|p| p.borrow().get(key, platform::now_ms()).is_some())
}

/// The right to fill one key; the fill is over when it is dropped.
#[derive(Debug)]
pub struct Fill {
    key: String,
    number: u64,
}

impl Drop for Fill {
    fn drop(&mut self) {
        // A fill that outlived its deadline must not end the one that took its place.
        FILLING.with(|filling| {
            let mut filling = filling.borrow_mut();
            if filling.get(&self.key, f64::MIN).map(|(_, n)| *n) == Some(self.number) {
                filling.remove(&self.key);
            }
        });
    }
}

/// Claims `key` until `deadline_ms` (a fill that never ends frees it then), unless another
/// request is filling it.
pub fn claim(key: &str, deadline_ms: f64) -> Option<Fill> {
    let now = platform::now_ms();
    FILLING.with(|filling| {
        let mut filling = filling.borrow_mut();
        if filling.get(key, now).is_some() {
            return None;
        }
        let number = NEXT.with(|next| next.replace(next.get() + 1));
        filling.insert(key.to_string(), deadline_ms, number, now);
        Some(Fill {
            key: key.to_string(),
            number,
        })
    })
}

/// Whether another request is filling `key` now.
pub fn is_filling(key: &str) -> bool {
    FILLING.with(|filling| filling.borrow().get(key, platform::now_ms()).is_some())
}

/// Waits until nobody fills `key` or `deadline_ms` passes.
pub async fn wait(key: &str, deadline_ms: f64) {
    while is_filling(key) && platform::now_ms() < deadline_ms {
        worker::Delay::from(std::time::Duration::from_millis(STEP_MS)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_fill_per_key_at_a_time_until_dropped_or_expired() {
        let far = platform::now_ms() + 60_000.0;
        let fill = claim("k", far).expect("free");
        assert!(is_filling("k"));
        assert!(claim("k", far).is_none(), "taken");
        assert!(claim("other", far).is_some(), "another key is free");
        drop(fill);
        assert!(!is_filling("k"));
        let expired = claim("k", platform::now_ms() - 1.0).expect("free again");
        assert!(!is_filling("k"), "a fill past its deadline frees the key");
        let current = claim("k", far).expect("free");
        drop(expired);
        assert!(
            is_filling("k"),
            "the late fill does not end the current one"
        );
        drop(current);
        assert!(!is_filling("k"));
    }

    #[test]
    fn a_key_that_could_not_be_stored_is_passed() {
        let far = platform::now_ms() + 60_000.0;
        assert!(!passes("p"));
        claim("p", far).expect("free").pass();
        assert!(passes("p") && !is_filling("p"), "released, and passed");
        assert!(!passes("q"));
    }
}
