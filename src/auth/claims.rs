//! Judging a verified token's claims, and what a principal may do. Plain functions of values.

use serde_json::{Map, Value};

use super::keys::VerifiedClaims;

/// What an issuer demands of its tokens' claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRules {
    /// Exact `iss`.
    pub issuer: String,
    /// `aud` must contain at least one of these.
    pub audiences: Vec<String>,
    /// Tolerance for clock skew on `exp`, `nbf` and `iat` (default 60 s).
    pub leeway_s: u64,
    /// Claims that must be present besides `exp`, which always must.
    pub required: Vec<String>,
    /// Dot-separated path of the roles claim, e.g. `realm_access.roles`.
    pub roles_claim: Option<String>,
    /// Claim naming the caller's rate-limit plan.
    pub plan_claim: Option<String>,
}

/// Why a token's claims were refused (for the log; clients are not told which).
pub type Refusal = &'static str;

/// Checks time, issuer, audience and required claims at `now_ms`.
pub fn check(claims: &VerifiedClaims, rules: &ClaimRules, now_ms: f64) -> Result<(), Refusal> {
    let now_s = now_ms / 1000.0;
    let leeway = rules.leeway_s as f64;
    let seconds = |t: &chrono::DateTime<chrono::Utc>| t.timestamp() as f64;
    let exp = claims.expiration.as_ref().ok_or("no exp claim")?;
    if seconds(exp) + leeway <= now_s {
        return Err("expired");
    }
    if let Some(nbf) = &claims.not_before {
        if seconds(nbf) - leeway > now_s {
            return Err("not yet valid (nbf)");
        }
    }
    if let Some(iat) = &claims.issued_at {
        if seconds(iat) - leeway > now_s {
            return Err("issued in the future (iat)");
        }
    }
    let custom = &claims.custom;
    if custom.get("iss").and_then(Value::as_str) != Some(rules.issuer.as_str()) {
        return Err("wrong issuer");
    }
    let audience_ok = match custom.get("aud") {
        Some(Value::String(aud)) => rules.audiences.iter().any(|a| a == aud),
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| rules.audiences.iter().any(|a| a == aud)),
        _ => false,
    };
    if !audience_ok {
        return Err("wrong audience");
    }
    if rules.required.iter().any(|name| !custom.contains_key(name)) {
        return Err("a required claim is missing");
    }
    Ok(())
}

/// Scopes from `scope` (space separated) or `scp` (array or string).
pub fn scopes(custom: &Map<String, Value>) -> Vec<String> {
    match (custom.get("scope"), custom.get("scp")) {
        (Some(Value::String(scope)), _) => scope.split_whitespace().map(str::to_string).collect(),
        (_, Some(value)) => strings(value),
        _ => Vec::new(),
    }
}

/// The strings at a dot-separated claim path: an array of strings, or one string.
pub fn at_path(custom: &Map<String, Value>, path: &str) -> Vec<String> {
    let mut parts = path.split('.');
    let Some(first) = parts.next() else {
        return Vec::new();
    };
    let mut value = custom.get(first);
    for part in parts {
        value = value.and_then(|v| v.get(part));
    }
    value.map(strings).unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// A set of names a route demands: all of them, or any one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Requirement {
    /// Nothing demanded (the default).
    #[default]
    None,
    AllOf(Vec<String>),
    AnyOf(Vec<String>),
}

impl Requirement {
    /// Whether `held` satisfies the requirement.
    pub fn met_by(&self, held: &[String]) -> bool {
        match self {
            Requirement::None => true,
            Requirement::AllOf(needed) => needed.iter().all(|n| held.contains(n)),
            Requirement::AnyOf(needed) => needed.iter().any(|n| held.contains(n)),
        }
    }

    /// The names, space separated, for `WWW-Authenticate: ... scope="..."`.
    pub fn names(&self) -> String {
        self.names_list().join(" ")
    }

    /// The scopes or roles named, in order.
    pub fn names_list(&self) -> Vec<String> {
        match self {
            Requirement::None => Vec::new(),
            Requirement::AllOf(n) | Requirement::AnyOf(n) => n.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> VerifiedClaims {
        serde_json::from_value(value).expect("claims")
    }

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: "https://idp.test/".into(),
            audiences: vec!["orders".into()],
            leeway_s: 60,
            required: vec!["sub".into()],
            roles_claim: Some("realm_access.roles".into()),
            plan_claim: None,
        }
    }

    const NOW_MS: f64 = 1_800_000_000_000.0;
    const NOW_S: i64 = 1_800_000_000;

    fn good() -> Value {
        json!({"iss": "https://idp.test/", "aud": ["other", "orders"], "sub": "u1", "exp": NOW_S + 300, "iat": NOW_S})
    }

    #[test]
    fn a_good_token_passes() {
        assert_eq!(check(&claims(good()), &rules(), NOW_MS), Ok(()));
    }

    #[test]
    fn time_claims_honour_the_leeway() {
        let mut token = good();
        token["exp"] = json!(NOW_S - 30);
        assert_eq!(
            check(&claims(token.clone()), &rules(), NOW_MS),
            Ok(()),
            "within leeway"
        );
        token["exp"] = json!(NOW_S - 61);
        assert_eq!(check(&claims(token), &rules(), NOW_MS), Err("expired"));
        let mut early = good();
        early["nbf"] = json!(NOW_S + 120);
        assert_eq!(
            check(&claims(early), &rules(), NOW_MS),
            Err("not yet valid (nbf)")
        );
        let mut future = good();
        future["iat"] = json!(NOW_S + 120);
        assert_eq!(
            check(&claims(future), &rules(), NOW_MS),
            Err("issued in the future (iat)")
        );
        let mut no_exp = good();
        no_exp.as_object_mut().expect("object").remove("exp");
        assert_eq!(
            check(&claims(no_exp), &rules(), NOW_MS),
            Err("no exp claim")
        );
    }

    #[test]
    fn issuer_audience_and_required_claims() {
        let mut token = good();
        token["iss"] = json!("https://evil.test/");
        assert_eq!(check(&claims(token), &rules(), NOW_MS), Err("wrong issuer"));
        let mut token = good();
        token["aud"] = json!("billing");
        assert_eq!(
            check(&claims(token), &rules(), NOW_MS),
            Err("wrong audience")
        );
        let mut token = good();
        token.as_object_mut().expect("object").remove("sub");
        assert_eq!(
            check(&claims(token), &rules(), NOW_MS),
            Err("a required claim is missing")
        );
    }

    #[test]
    fn scopes_and_roles() {
        let c = json!({"scope": "orders:read  orders:write", "realm_access": {"roles": ["admin"]}});
        let map = c.as_object().expect("object");
        assert_eq!(scopes(map), ["orders:read", "orders:write"]);
        assert_eq!(
            scopes(json!({"scp": ["a", "b"]}).as_object().expect("object")),
            ["a", "b"]
        );
        assert_eq!(at_path(map, "realm_access.roles"), ["admin"]);
        assert!(at_path(map, "missing.path").is_empty());
        let held = vec!["a".to_string(), "b".to_string()];
        assert!(Requirement::AllOf(vec!["a".into(), "b".into()]).met_by(&held));
        assert!(!Requirement::AllOf(vec!["a".into(), "c".into()]).met_by(&held));
        assert!(Requirement::AnyOf(vec!["c".into(), "b".into()]).met_by(&held));
        assert!(Requirement::None.met_by(&[]));
    }
}
