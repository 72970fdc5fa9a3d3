//! Who may use the admin API, and for what. `ADMIN_TOKEN` is the operator `admin` with every
//! scope; the secret `ADMIN_TOKENS` names more operators, each with its own token and scopes:
//!
//! ```json
//! {"ci": {"token": "…", "scopes": ["read", "config"]}, "oncall": {"token": "…", "scopes": ["read", "cache"]}}
//! ```
//!
//! A token is compared with every operator's in constant time, so timing tells nothing about
//! which one was close.

use serde::Deserialize;

/// What an admin request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Health, configuration and versions, metrics, OpenAPI, rate-limit state, audit, rollout.
    Read,
    /// Pushes, rollbacks, candidates: promote and abort.
    Config,
    /// Cache purges.
    Cache,
    /// Rate-limit resets.
    RateLimits,
    /// Revoking and restoring credentials.
    Revoke,
}

pub const ALL_SCOPES: [Scope; 5] = [
    Scope::Read,
    Scope::Config,
    Scope::Cache,
    Scope::RateLimits,
    Scope::Revoke,
];

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Config => "config",
            Scope::Cache => "cache",
            Scope::RateLimits => "rate-limits",
            Scope::Revoke => "revoke",
        }
    }

    fn parse(name: &str) -> Option<Vec<Scope>> {
        match name {
            "write" => Some(ALL_SCOPES[1..].to_vec()),
            "all" => Some(ALL_SCOPES.to_vec()),
            _ => ALL_SCOPES
                .iter()
                .find(|s| s.as_str() == name)
                .map(|s| vec![*s]),
        }
    }
}

/// One operator of the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    pub scopes: Vec<Scope>,
    token: String,
}

impl Operator {
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Declared {
    token: String,
    scopes: Vec<String>,
}

/// The operators from `ADMIN_TOKEN` and `ADMIN_TOKENS`. A malformed `ADMIN_TOKENS` is an
/// error (reported once per isolate), never a reason to let anyone in.
pub fn parse(admin_token: Option<&str>, tokens: Option<&str>) -> Result<Vec<Operator>, String> {
    let mut operators = Vec::new();
    if let Some(token) = admin_token.filter(|t| !t.is_empty()) {
        operators.push(Operator {
            name: "admin".into(),
            scopes: ALL_SCOPES.to_vec(),
            token: token.to_string(),
        });
    }
    let Some(text) = tokens.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(operators);
    };
    let declared: std::collections::BTreeMap<String, Declared> = serde_json::from_str(text)
        .map_err(|e| format!("ADMIN_TOKENS is not a JSON object of operators: {e}"))?;
    for (name, operator) in declared {
        if !crate::reader::is_valid_name(&name) || name == "admin" {
            return Err(format!(
                "ADMIN_TOKENS: '{name}' is not a usable operator name"
            ));
        }
        if operator.token.len() < 16 {
            return Err(format!(
                "ADMIN_TOKENS: the token of '{name}' is shorter than 16 characters"
            ));
        }
        let mut scopes = Vec::new();
        for scope in &operator.scopes {
            scopes.extend(Scope::parse(scope).ok_or_else(|| {
                format!("ADMIN_TOKENS: '{name}' has an unknown scope '{scope}' (read, config, cache, rate-limits, revoke, write, all)")
            })?);
        }
        scopes.sort();
        scopes.dedup();
        if operators
            .iter()
            .any(|o: &Operator| o.token == operator.token)
        {
            return Err(format!(
                "ADMIN_TOKENS: the token of '{name}' is also another operator's"
            ));
        }
        operators.push(Operator {
            name,
            scopes,
            token: operator.token,
        });
    }
    Ok(operators)
}

/// Compares without returning early, so timing does not reveal how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The operator whose token was presented, comparing against every one.
pub fn identify<'o>(operators: &'o [Operator], presented: &str) -> Option<&'o Operator> {
    let mut found = None;
    for operator in operators {
        if constant_time_eq(presented.as_bytes(), operator.token.as_bytes()) {
            found = Some(operator);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_have_the_scopes_they_are_given() {
        let ops = parse(
            Some("root-token"),
            Some(
                r#"{"ci": {"token": "ci-token-0123456789", "scopes": ["read", "config"]},
                    "viewer": {"token": "viewer-token-0123456789", "scopes": ["read"]},
                    "writer": {"token": "writer-token-0123456789", "scopes": ["write"]}}"#,
            ),
        )
        .expect("valid");
        let admin = identify(&ops, "root-token").expect("admin");
        assert_eq!(admin.name, "admin");
        assert!(ALL_SCOPES.iter().all(|s| admin.may(*s)));
        let viewer = identify(&ops, "viewer-token-0123456789").expect("viewer");
        assert!(viewer.may(Scope::Read) && !viewer.may(Scope::Config));
        let ci = identify(&ops, "ci-token-0123456789").expect("ci");
        assert!(ci.may(Scope::Config) && !ci.may(Scope::Cache));
        let writer = identify(&ops, "writer-token-0123456789").expect("writer");
        assert!(writer.may(Scope::Cache) && !writer.may(Scope::Read));
        assert!(identify(&ops, "viewer-token-012345678").is_none());
        assert!(identify(&ops, "").is_none());
    }

    #[test]
    fn a_malformed_list_is_an_error_not_an_open_door() {
        for bad in [
            "not json",
            r#"{"ci": {"token": "short", "scopes": ["read"]}}"#,
            r#"{"ci": {"token": "long-enough-token-1", "scopes": ["sudo"]}}"#,
            r#"{"admin": {"token": "long-enough-token-1", "scopes": ["read"]}}"#,
            r#"{"a": {"token": "long-enough-token-1", "scopes": []}, "b": {"token": "long-enough-token-1", "scopes": []}}"#,
            r#"{"ci": {"token": "long-enough-token-1", "scopes": [], "extra": 1}}"#,
        ] {
            assert!(parse(None, Some(bad)).is_err(), "{bad}");
        }
        assert!(parse(None, None).expect("none").is_empty());
    }
}
