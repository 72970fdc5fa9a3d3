//! A route's firewall as the configuration compiles it.

use super::custom::CustomRule;
use super::rules::Class;

/// `block` refuses requests that reach the threshold; `log` lets them pass and records what
/// matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Block,
    Log,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Block => "block",
            Mode::Log => "log",
        }
    }
}

/// The firewall of a route. Defaults: block at an anomaly score of 5 at paranoia level 1,
/// bodies inspected up to 64 KiB.
#[derive(Debug, Clone)]
pub struct Firewall {
    pub mode: Mode,
    pub paranoia: u8,
    pub threshold: u32,
    pub body_bytes: u64,
    pub exclusions: Vec<Exclusion>,
    pub rules: Vec<CustomRule>,
}

pub const DEFAULT_THRESHOLD: u32 = 5;
pub const DEFAULT_BODY_BYTES: u64 = 64 * 1024;
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;

impl Firewall {
    /// Whether a custom rule reads `request.cf`.
    pub fn reads_cf(&self) -> bool {
        self.rules.iter().any(CustomRule::reads_cf)
    }

    /// Whether `rule` is left out for `target` by an exclusion.
    pub fn excludes(&self, rule: &RuleRef<'_>, target: &str) -> bool {
        self.exclusions.iter().any(|e| {
            (e.rules.is_empty() || e.rules.iter().any(|s| s.selects(rule)))
                && (e.targets.is_empty() || e.targets.iter().any(|t| glob(t, target)))
        })
    }
}

/// A rule as exclusions see it: built in (with its class) or custom (by its id).
#[derive(Debug, Clone, Copy)]
pub enum RuleRef<'a> {
    Builtin(u32, Class),
    Custom(&'a str),
}

/// Rules left out for some targets (all when `targets` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// Empty: every rule.
    pub rules: Vec<Selector>,
    /// Target names with `*` matching any run of characters.
    pub targets: Vec<String>,
}

/// Which rules an exclusion names: a built-in id, a whole class, or a custom rule's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Id(u32),
    Class(Class),
    Custom(String),
}

impl Selector {
    fn selects(&self, rule: &RuleRef<'_>) -> bool {
        match (self, rule) {
            (Selector::Id(a), RuleRef::Builtin(b, _)) => a == b,
            (Selector::Class(a), RuleRef::Builtin(_, b)) => a == b,
            (Selector::Custom(a), RuleRef::Custom(b)) => a == b,
            _ => false,
        }
    }
}

/// `*` matches any run of characters (none included); everything else matches itself.
/// Greedy with one remembered star: linear for the patterns configurations hold.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == t[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|b| *b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("body:/posts/*/html", "body:/posts/3/html"));
        assert!(glob("query:*", "query:q"));
        assert!(glob("header:x-*", "header:x-note"));
        assert!(!glob("header:x-*", "header:referer"));
        assert!(glob("path", "path"));
        assert!(!glob("path", "paths"));
        assert!(glob("*", ""));
    }
}
