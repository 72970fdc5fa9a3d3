//! The set of HTTP methods a route accepts.

/// Methods a route may name. Others (CONNECT, TRACE, extensions) are never proxied.
pub const KNOWN_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A set of methods; by default a route accepts all of [`KNOWN_METHODS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodSet(u8);

impl Default for MethodSet {
    fn default() -> Self {
        Self::all()
    }
}

impl MethodSet {
    pub fn all() -> Self {
        Self((1 << KNOWN_METHODS.len()) - 1)
    }

    pub fn empty() -> Self {
        Self(0)
    }

    fn bit(method: &str) -> Option<u8> {
        KNOWN_METHODS
            .iter()
            .position(|m| *m == method)
            .map(|i| 1 << i)
    }

    /// Adds `method`; returns false when it is not one of [`KNOWN_METHODS`].
    pub fn insert(&mut self, method: &str) -> bool {
        match Self::bit(method) {
            Some(bit) => {
                self.0 |= bit;
                true
            }
            None => false,
        }
    }

    /// Whether a request with `method` is accepted. A route that accepts GET also accepts HEAD.
    pub fn accepts(self, method: &str) -> bool {
        let direct = Self::bit(method).is_some_and(|bit| self.0 & bit != 0);
        direct || (method == "HEAD" && self.accepts("GET"))
    }

    pub fn overlaps(self, other: Self) -> bool {
        self.effective() & other.effective() != 0
    }

    /// The set with HEAD added wherever GET is present, as requests see it.
    fn effective(self) -> u8 {
        let get = Self::bit("GET").unwrap_or(0);
        let head = Self::bit("HEAD").unwrap_or(0);
        if self.0 & get != 0 {
            self.0 | head
        } else {
            self.0
        }
    }

    /// The accepted methods in canonical order, for an `Allow` header.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        let effective = self.effective();
        KNOWN_METHODS
            .iter()
            .enumerate()
            .filter(move |(i, _)| effective & (1 << i) != 0)
            .map(|(_, m)| *m)
    }

    /// Whether only GET and HEAD are accepted.
    pub fn only_reads(self) -> bool {
        self.names().all(|m| m == "GET" || m == "HEAD")
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_implies_head() {
        let mut set = MethodSet::empty();
        assert!(set.insert("GET"));
        assert!(set.accepts("HEAD"));
        assert!(!set.accepts("POST"));
        assert_eq!(set.names().collect::<Vec<_>>(), ["GET", "HEAD"]);
    }

    #[test]
    fn overlap_counts_the_implied_head() {
        let mut get = MethodSet::empty();
        get.insert("GET");
        let mut head = MethodSet::empty();
        head.insert("HEAD");
        let mut post = MethodSet::empty();
        post.insert("POST");
        assert!(get.overlaps(head));
        assert!(!get.overlaps(post));
        assert!(MethodSet::all().overlaps(post));
    }

    #[test]
    fn unknown_methods_are_refused() {
        let mut set = MethodSet::empty();
        assert!(!set.insert("GTE"));
        assert!(!set.insert("get"));
        assert!(!set.accepts("CONNECT"));
    }
}
