//! A bounded map whose entries expire: the per-isolate memories (verified tokens, API-key
//! lookups, rate-limit denials) all have this shape. And [`Poll`]: when an isolate last
//! compared a versioned state (revocations, upstream health) with the object that owns it.

use std::collections::HashMap;

/// Entries valid until a time in ms; at most `capacity` of them.
#[derive(Debug)]
pub struct Expiring<V> {
    entries: HashMap<String, (f64, V)>,
    capacity: usize,
}

impl<V> Expiring<V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity,
        }
    }

    /// The value for `key` if it is still valid at `now_ms`, with its expiry.
    pub fn get(&self, key: &str, now_ms: f64) -> Option<(f64, &V)> {
        self.entries
            .get(key)
            .filter(|(until, _)| *until > now_ms)
            .map(|(until, value)| (*until, value))
    }

    /// Stores `value` until `until_ms`. When full, expired entries go first, and everything if
    /// that is not enough: forgetting only costs a repeated check, never a wrong answer.
    pub fn insert(&mut self, key: String, until_ms: f64, value: V, now_ms: f64) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (until, _)| *until > now_ms);
            if self.entries.len() >= self.capacity {
                self.entries.clear();
            }
        }
        self.entries.insert(key, (until_ms, value));
    }

    pub fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

/// The version of an object's state this isolate holds, and when it last asked for a newer
/// one.
#[derive(Debug, Default)]
pub struct Poll {
    pub version: Option<u64>,
    checked_at_ms: Option<f64>,
}

impl Poll {
    pub fn is_due(&self, now_ms: f64, interval_ms: f64) -> bool {
        self.checked_at_ms
            .is_none_or(|at| now_ms - at >= interval_ms)
    }

    /// When due, marks a check as started (so concurrent requests do not ask too) and gives
    /// the version to compare with: `Some(None)` while none is held.
    pub fn claim(&mut self, now_ms: f64, interval_ms: f64) -> Option<Option<u64>> {
        let due = self.is_due(now_ms, interval_ms);
        if due {
            self.checked_at_ms = Some(now_ms);
        }
        due.then_some(self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_capacity_is_kept() {
        let mut memo = Expiring::new(2);
        memo.insert("a".into(), 100.0, 1, 0.0);
        assert_eq!(memo.get("a", 50.0), Some((100.0, &1)));
        assert_eq!(memo.get("a", 100.0), None);
        memo.insert("b".into(), 300.0, 2, 0.0);
        memo.insert("c".into(), 300.0, 3, 150.0);
        assert_eq!(memo.get("a", 150.0), None, "the expired entry made room");
        assert_eq!(memo.get("b", 150.0), Some((300.0, &2)));
        memo.insert("d".into(), 300.0, 4, 150.0);
        assert!(memo.entries.len() <= 2);
        memo.remove("d");
        assert_eq!(memo.get("d", 150.0), None);
    }
}
