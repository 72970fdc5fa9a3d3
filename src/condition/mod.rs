//! Conditions: whether a request meets a `when` (on a policy, or on a route's choice of
//! service). Plain data in, a yes or no out: the method, headers, cookies, query, the caller's
//! claims and scopes, the client's address, the platform's `cf` fields, and a stable share of
//! callers (feature flags, staged releases, A/B routes).

pub mod config;

use serde_json::{Map, Value};

use crate::digest;
use crate::http::{cookie, header};
use crate::security::cidr::Cidr;

/// A `when`: every part must hold. Absent on a policy or choice, it always holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    /// The request's method is one of these (upper case).
    Method(Vec<String>),
    /// A request header (lower-case name), cookie, query parameter, claim or `cf` field (a
    /// dotted path such as `botManagement.score`).
    Field(Source, String, Matcher),
    /// The caller holds this scope.
    Scope(String),
    /// The client's address (`CF-Connecting-IP`) lies in one of these ranges.
    Ip(Vec<Cidr>),
    /// A stable share of callers, in basis points (0-10000), by a hash of `by` and `salt`:
    /// the same caller is always in or always out.
    Share {
        basis_points: u32,
        by: Subject,
        salt: String,
    },
}

/// Where a named field of the request is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Header,
    Cookie,
    Query,
    Claim,
    Cf,
}

/// What identifies a caller for a share: absent, the caller is never in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The authenticated subject (JWT `sub`, API-key consumer).
    Principal,
    /// The client's address.
    Ip,
    Cookie(String),
    Header(String),
}

/// A test of one value; absent values fail every test but `present: false`.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    Present(bool),
    /// Equal to one of these.
    Equals(Vec<String>),
    Prefix(String),
    Suffix(String),
    Contains(String),
    /// A number compared with a bound.
    Compare(Ordering, f64),
}

/// The comparison of a [`Matcher::Compare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// What a condition may look at, borrowed from the exchange.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    pub method: &'a str,
    /// The client's headers, lower-case names.
    pub headers: &'a [(String, String)],
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// The caller's claims, once authenticated.
    pub claims: Option<&'a Map<String, Value>>,
    pub scopes: &'a [String],
    pub subject: Option<&'a str>,
    /// The platform's `request.cf` object, when a condition reads it.
    pub cf: Option<&'a Value>,
}

impl Condition {
    /// Whether the request meets the condition.
    pub fn holds(&self, facts: &Facts<'_>) -> bool {
        match self {
            Self::All(parts) => parts.iter().all(|c| c.holds(facts)),
            Self::Any(parts) => parts.iter().any(|c| c.holds(facts)),
            Self::Not(inner) => !inner.holds(facts),
            Self::Method(methods) => methods.iter().any(|m| m == facts.method),
            Self::Field(source, name, matcher) => {
                matcher.accepts(field(facts, *source, name).as_deref())
            }
            Self::Scope(scope) => facts.scopes.iter().any(|s| s == scope),
            Self::Ip(ranges) => client_ip(facts)
                .and_then(|ip| ip.parse().ok())
                .is_some_and(|ip| ranges.iter().any(|r| r.contains(ip))),
            Self::Share {
                basis_points,
                by,
                salt,
            } => subject_of(facts, by).is_some_and(|key| bucket(salt, &key) < *basis_points),
        }
    }

    /// Whether evaluating it needs the platform's `cf` object (read only then).
    pub fn reads_cf(&self) -> bool {
        match self {
            Self::All(parts) | Self::Any(parts) => parts.iter().any(Condition::reads_cf),
            Self::Not(inner) => inner.reads_cf(),
            Self::Field(Source::Cf, ..) => true,
            _ => false,
        }
    }
}

impl Matcher {
    fn accepts(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (Self::Present(wanted), value) => value.is_some() == *wanted,
            (_, None) => false,
            (Self::Equals(options), Some(v)) => options.iter().any(|o| o == v),
            (Self::Prefix(p), Some(v)) => v.starts_with(p.as_str()),
            (Self::Suffix(s), Some(v)) => v.ends_with(s.as_str()),
            (Self::Contains(c), Some(v)) => v.contains(c.as_str()),
            (Self::Compare(ordering, bound), Some(v)) => {
                v.trim().parse::<f64>().is_ok_and(|n| match ordering {
                    Ordering::Less => n < *bound,
                    Ordering::LessOrEqual => n <= *bound,
                    Ordering::Greater => n > *bound,
                    Ordering::GreaterOrEqual => n >= *bound,
                })
            }
        }
    }
}

/// The caller's bucket in 0..10000 for a share: the first four bytes of
/// SHA-256(`salt` ":" `key`), so shares with different salts choose independently.
pub fn bucket(salt: &str, key: &str) -> u32 {
    let digest = digest::sha256(format!("{salt}:{key}").as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 10_000
}

fn client_ip<'a>(facts: &Facts<'a>) -> Option<&'a str> {
    header(facts.headers, "cf-connecting-ip").map(str::trim)
}

fn subject_of(facts: &Facts<'_>, by: &Subject) -> Option<String> {
    match by {
        Subject::Principal => facts.subject.map(str::to_string),
        Subject::Ip => client_ip(facts).map(str::to_string),
        Subject::Cookie(name) => cookie(facts.headers, name),
        Subject::Header(name) => header(facts.headers, name).map(str::to_string),
    }
    .filter(|key| !key.is_empty())
}

/// The text of a named field: JSON values other than strings as JSON.
fn field(facts: &Facts<'_>, source: Source, name: &str) -> Option<String> {
    match source {
        Source::Header => header(facts.headers, name).map(str::to_string),
        Source::Cookie => cookie(facts.headers, name),
        Source::Query => facts.query.and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.into_owned())
        }),
        Source::Claim => facts.claims.and_then(|c| c.get(name)).and_then(text),
        Source::Cf => {
            let mut value = facts.cf?;
            for part in name.split('.') {
                value = value.get(part)?;
            }
            text(value)
        }
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pairs;

    fn facts<'a>(headers: &'a [(String, String)], query: Option<&'a str>) -> Facts<'a> {
        Facts {
            method: "GET",
            headers,
            query,
            ..Facts::default()
        }
    }

    #[test]
    fn fields_match_by_source_and_absent_values_fail_but_absence() {
        let headers = pairs(&[("x-beta", "1"), ("cookie", "plan=pro; theme=dark")]);
        let facts = facts(&headers, Some("debug=yes&tag=a%20b"));
        let when = |source, name: &str, matcher| Condition::Field(source, name.into(), matcher);
        let equals = |v: &str| Matcher::Equals(vec![v.into()]);
        assert!(when(Source::Header, "x-beta", equals("1")).holds(&facts));
        assert!(when(Source::Cookie, "plan", equals("pro")).holds(&facts));
        assert!(when(Source::Query, "tag", equals("a b")).holds(&facts));
        assert!(!when(Source::Query, "missing", equals("")).holds(&facts));
        assert!(when(Source::Query, "missing", Matcher::Present(false)).holds(&facts));
        assert!(!when(Source::Header, "x-beta", Matcher::Present(false)).holds(&facts));
        assert!(when(Source::Cookie, "theme", Matcher::Prefix("da".into())).holds(&facts));
    }

    #[test]
    fn cf_fields_are_read_by_dotted_path_and_compared_as_numbers() {
        let cf = serde_json::json!({"country": "NZ", "botManagement": {"score": 12}, "asn": 13335});
        let facts = Facts {
            cf: Some(&cf),
            ..Facts::default()
        };
        let score = |ordering, bound| {
            Condition::Field(
                Source::Cf,
                "botManagement.score".into(),
                Matcher::Compare(ordering, bound),
            )
        };
        assert!(score(Ordering::Less, 30.0).holds(&facts));
        assert!(!score(Ordering::GreaterOrEqual, 30.0).holds(&facts));
        let asn = Condition::Field(
            Source::Cf,
            "asn".into(),
            Matcher::Equals(vec!["13335".into()]),
        );
        assert!(asn.holds(&facts) && asn.reads_cf());
        assert!(!Condition::Scope("admin".into()).reads_cf());
    }

    #[test]
    fn shares_are_stable_per_caller_and_close_to_their_size() {
        let share = Condition::Share {
            basis_points: 2_500,
            by: Subject::Header("x-user".into()),
            salt: "flag".into(),
        };
        let inside = (0..4_000)
            .filter(|i| {
                let headers = pairs(&[("x-user", &format!("user-{i}"))]);
                let once = share.holds(&facts(&headers, None));
                assert_eq!(once, share.holds(&facts(&headers, None)));
                once
            })
            .count();
        assert!(
            (900..=1_100).contains(&inside),
            "{inside} of 4000 in a 25% share"
        );
        assert!(
            !share.holds(&facts(&[], None)),
            "no key, never in the share"
        );
    }

    #[test]
    fn addresses_and_combinators() {
        let headers = pairs(&[("cf-connecting-ip", "10.1.2.3")]);
        let facts = facts(&headers, None);
        let inside = Condition::Ip(vec![Cidr::parse("10.0.0.0/8").unwrap()]);
        let outside = Condition::Ip(vec![Cidr::parse("192.168.0.0/16").unwrap()]);
        assert!(inside.holds(&facts) && !outside.holds(&facts));
        assert!(Condition::Any(vec![outside.clone(), inside.clone()]).holds(&facts));
        assert!(!Condition::All(vec![outside.clone(), inside]).holds(&facts));
        assert!(Condition::Not(Box::new(outside)).holds(&facts));
        assert!(!Condition::Method(vec!["POST".into()]).holds(&facts));
    }
}
