//! A route's own rules: a target, an operator and a value, adding to the anomaly score or
//! deciding on their own (`block`, or `allow` to skip the firewall for trusted callers).

use serde_json::Value;

use crate::security::cidr::Cidr;

/// One custom rule.
#[derive(Debug, Clone)]
pub struct CustomRule {
    pub id: String,
    pub target: Target,
    pub operator: Operator,
    /// True: the rule matches when the operator does not.
    pub negate: bool,
    pub effect: Effect,
}

/// What a custom rule reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Path,
    Method,
    /// `CF-Connecting-IP`.
    Ip,
    /// A query parameter's decoded value; `*` for any.
    Query(String),
    Header(String),
    Cookie(String),
    /// A field of `request.cf` by dotted path (`botManagement.score`).
    Cf(Vec<String>),
    /// The body as text (within the inspection limit).
    Body,
}

#[derive(Debug, Clone)]
pub enum Operator {
    Equals(String),
    Contains(String),
    Prefix(String),
    Suffix(String),
    /// Any of these, exactly.
    In(Vec<String>),
    /// No backtracking: linear in the input.
    Regex(regex_lite::Regex),
    Cidr(Vec<Cidr>),
    Less(f64),
    Greater(f64),
    Exists,
}

/// What a match does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Score(u32),
    Block,
    Allow,
}

/// What custom rules read from the request.
pub struct Facts<'a> {
    pub method: &'a str,
    /// Decoded.
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub cookies: &'a [(String, String)],
    pub ip: Option<&'a str>,
    pub cf: Option<&'a Value>,
    pub body: Option<&'a str>,
}

impl CustomRule {
    pub fn reads_cf(&self) -> bool {
        matches!(self.target, Target::Cf(_))
    }

    /// Whether the rule matches the request.
    pub fn matches(&self, facts: &Facts<'_>) -> bool {
        let values = self.values(facts);
        let found = match &self.operator {
            Operator::Exists => !values.is_empty(),
            operator => values.iter().any(|v| operator.holds(v)),
        };
        found != self.negate
    }

    fn values(&self, facts: &Facts<'_>) -> Vec<String> {
        let pick = |pairs: &[(String, String)], name: &str| -> Vec<String> {
            pairs
                .iter()
                .filter(|(n, _)| name == "*" || n == name)
                .map(|(_, v)| v.clone())
                .collect()
        };
        match &self.target {
            Target::Path => vec![facts.path.to_string()],
            Target::Method => vec![facts.method.to_string()],
            Target::Ip => facts.ip.map(str::to_string).into_iter().collect(),
            Target::Query(name) => pick(facts.query, name),
            Target::Header(name) => pick(facts.headers, name),
            Target::Cookie(name) => pick(facts.cookies, name),
            Target::Body => facts.body.map(str::to_string).into_iter().collect(),
            Target::Cf(path) => {
                let mut at = facts.cf;
                for key in path {
                    at = at.and_then(|v| v.get(key));
                }
                match at {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::String(s)) => vec![s.clone()],
                    Some(other) => vec![other.to_string()],
                }
            }
        }
    }
}

impl Operator {
    fn holds(&self, value: &str) -> bool {
        match self {
            Operator::Equals(v) => value.eq_ignore_ascii_case(v),
            Operator::Contains(v) => value.to_ascii_lowercase().contains(v.as_str()),
            Operator::Prefix(v) => value.to_ascii_lowercase().starts_with(v.as_str()),
            Operator::Suffix(v) => value.to_ascii_lowercase().ends_with(v.as_str()),
            Operator::In(list) => list.iter().any(|v| value.eq_ignore_ascii_case(v)),
            Operator::Regex(re) => re.is_match(value),
            Operator::Cidr(ranges) => value
                .trim()
                .parse()
                .is_ok_and(|ip| ranges.iter().any(|c| c.contains(ip))),
            Operator::Less(n) => value.trim().parse::<f64>().is_ok_and(|v| v < *n),
            Operator::Greater(n) => value.trim().parse::<f64>().is_ok_and(|v| v > *n),
            Operator::Exists => true,
        }
    }
}
