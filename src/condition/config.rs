//! The `when` of a policy or a route's service choice, as written in the route document.
//!
//! ```json
//! {"method": ["POST"], "header": {"x-beta": "1"}, "claim": {"tier": ["gold", "silver"]},
//!  "country": ["NZ", "AU"], "cf": {"botManagement.score": {"lt": 30}},
//!  "percent": {"value": 10, "by": "cookie:uid"}, "any": [...], "not": {...}}
//! ```
//! Every key present must hold. A field's test is a string (equal), an array (equal to one),
//! or an object with one of `equals`, `prefix`, `suffix`, `contains`, `present`, `lt`, `lte`,
//! `gt`, `gte`.

use serde_json::Value;

use super::{Condition, Matcher, Ordering, Source, Subject};
use crate::http::is_token;
use crate::reader::{array, index_path, key_path, string, strings, Errors, Object};
use crate::routing::methods::MethodSet;
use crate::security::cidr::Cidr;

/// Deepest nesting of `all`, `any` and `not`.
const MAX_DEPTH: usize = 8;

/// Reads a `when`; `salt` is the share's default salt (the owner's name), so that two flags
/// of the same size choose different callers.
pub fn parse_condition(
    value: &Value,
    path: &str,
    salt: &str,
    errors: &mut Errors,
) -> Option<Condition> {
    parse_depth(value, path, salt, 0, errors)
}

fn parse_depth(
    value: &Value,
    path: &str,
    salt: &str,
    depth: usize,
    errors: &mut Errors,
) -> Option<Condition> {
    if depth > MAX_DEPTH {
        errors.push(
            path,
            format!("nests 'all', 'any' and 'not' deeper than {MAX_DEPTH}"),
        );
        return None;
    }
    let mut object = Object::read(value, path, errors)?;
    let mut parts: Vec<Option<Condition>> = Vec::new();
    if let Some((value, path)) = object.optional("method") {
        parts.push(parse_methods(value, &path, errors));
    }
    for (key, source) in [
        ("header", Source::Header),
        ("cookie", Source::Cookie),
        ("query", Source::Query),
        ("claim", Source::Claim),
        ("cf", Source::Cf),
    ] {
        if let Some((value, path)) = object.optional(key) {
            parts.extend(parse_fields(value, &path, source, errors));
        }
    }
    if let Some((value, path)) = object.optional("scope") {
        parts.push(string(value, &path, errors).map(|s| Condition::Scope(s.to_string())));
    }
    if let Some((value, path)) = object.optional("country") {
        parts.push(strings(value, &path, errors).map(|countries| {
            let upper = countries.iter().map(|c| c.to_ascii_uppercase()).collect();
            Condition::Field(Source::Cf, "country".into(), Matcher::Equals(upper))
        }));
    }
    if let Some((value, path)) = object.optional("ip") {
        parts.push(parse_ranges(value, &path, errors));
    }
    if let Some((value, path)) = object.optional("percent") {
        parts.push(parse_share(value, &path, salt, errors));
    }
    for (key, any) in [("all", false), ("any", true)] {
        if let Some((value, path)) = object.optional(key) {
            let items = array(value, &path, errors).unwrap_or_default();
            if items.is_empty() {
                errors.push(&path, "must list at least one condition");
            }
            let inner: Option<Vec<Condition>> = items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_depth(item, &index_path(&path, i), salt, depth + 1, errors))
                .collect();
            parts.push(inner.map(|c| {
                if any {
                    Condition::Any(c)
                } else {
                    Condition::All(c)
                }
            }));
        }
    }
    if let Some((value, path)) = object.optional("not") {
        parts.push(
            parse_depth(value, &path, salt, depth + 1, errors).map(|c| Condition::Not(Box::new(c))),
        );
    }
    let empty = parts.is_empty();
    let path = object.path().to_string();
    object.finish(errors);
    if empty {
        errors.push(&path, "names nothing to test (method, header, cookie, query, claim, scope, ip, country, cf, percent, all, any, not)");
        return None;
    }
    let mut parts: Vec<Condition> = parts.into_iter().collect::<Option<_>>()?;
    Some(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Condition::All(parts)
    })
}

fn parse_methods(value: &Value, path: &str, errors: &mut Errors) -> Option<Condition> {
    let methods = match value {
        Value::String(one) => vec![one.clone()],
        _ => strings(value, path, errors)?,
    };
    let mut upper = Vec::new();
    for method in methods {
        let method = method.to_ascii_uppercase();
        if !MethodSet::all().accepts(&method) {
            errors.push(
                path,
                format!("'{method}' is not a method the gateway knows"),
            );
            return None;
        }
        upper.push(method);
    }
    Some(Condition::Method(upper))
}

fn parse_fields(
    value: &Value,
    path: &str,
    source: Source,
    errors: &mut Errors,
) -> Vec<Option<Condition>> {
    let Value::Object(map) = value else {
        errors.push(path, "expected an object mapping names to tests");
        return vec![None];
    };
    if map.is_empty() {
        errors.push(path, "must name at least one field");
    }
    map.iter()
        .map(|(name, test)| {
            let test_path = key_path(path, name);
            let name = match source {
                Source::Header => {
                    if !is_token(name) {
                        errors.push(&test_path, "is not a valid header name");
                        return None;
                    }
                    name.to_ascii_lowercase()
                }
                _ if name.is_empty() => {
                    errors.push(&test_path, "names must not be empty");
                    return None;
                }
                _ => name.clone(),
            };
            parse_matcher(test, &test_path, errors).map(|m| Condition::Field(source, name, m))
        })
        .collect()
}

/// A field's test.
pub fn parse_matcher(value: &Value, path: &str, errors: &mut Errors) -> Option<Matcher> {
    match value {
        Value::String(one) => return Some(Matcher::Equals(vec![one.clone()])),
        Value::Array(_) => return strings(value, path, errors).map(Matcher::Equals),
        Value::Object(map) if map.len() != 1 => {
            errors.push(path, "must hold exactly one test (equals, prefix, suffix, contains, present, lt, lte, gt, gte)");
            return None;
        }
        _ => {}
    }
    let mut object = Object::read(value, path, errors)?;
    let mut found = None;
    if let Some((v, p)) = object.optional("equals") {
        found = parse_matcher(v, &p, errors).filter(|m| matches!(m, Matcher::Equals(_)));
    }
    for (key, make) in [
        ("prefix", Matcher::Prefix as fn(String) -> Matcher),
        ("suffix", Matcher::Suffix),
        ("contains", Matcher::Contains),
    ] {
        if let Some((v, p)) = object.optional(key) {
            found = string(v, &p, errors).map(|s| make(s.to_string()));
        }
    }
    if let Some((v, p)) = object.optional("present") {
        found = crate::reader::boolean(v, &p, errors).map(Matcher::Present);
    }
    for (key, ordering) in [
        ("lt", Ordering::Less),
        ("lte", Ordering::LessOrEqual),
        ("gt", Ordering::Greater),
        ("gte", Ordering::GreaterOrEqual),
    ] {
        if let Some((v, p)) = object.optional(key) {
            found = match v.as_f64() {
                Some(bound) => Some(Matcher::Compare(ordering, bound)),
                None => {
                    errors.push(&p, "expected a number");
                    None
                }
            };
        }
    }
    object.finish(errors);
    found
}

fn parse_ranges(value: &Value, path: &str, errors: &mut Errors) -> Option<Condition> {
    let texts = strings(value, path, errors)?;
    let mut ranges = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        match Cidr::parse(text) {
            Ok(range) => ranges.push(range),
            Err(why) => errors.push(&index_path(path, i), why),
        }
    }
    (ranges.len() == texts.len() && !ranges.is_empty()).then_some(Condition::Ip(ranges))
}

fn parse_share(value: &Value, path: &str, salt: &str, errors: &mut Errors) -> Option<Condition> {
    let mut object = Object::read(value, path, errors)?;
    let share = object.required("value", errors).and_then(|(v, p)| {
        match v.as_f64().filter(|n| (0.0..=100.0).contains(n)) {
            // Basis points: percentages with up to two decimals.
            Some(percent) => Some((percent * 100.0).round() as u32),
            None => {
                errors.push(&p, "must be a number from 0 to 100");
                None
            }
        }
    });
    let by = object.or("by", Subject::Principal, errors, |v, p, errors| {
        let text = string(v, p, errors)?;
        match text.split_once(':') {
            None if text == "principal" => Some(Subject::Principal),
            None if text == "ip" => Some(Subject::Ip),
            Some(("cookie", name)) if !name.is_empty() => Some(Subject::Cookie(name.to_string())),
            Some(("header", name)) if is_token(name) => {
                Some(Subject::Header(name.to_ascii_lowercase()))
            }
            _ => {
                errors.push(
                    p,
                    "must be 'principal', 'ip', 'cookie:NAME' or 'header:NAME'",
                );
                None
            }
        }
    });
    let salt = object.or("salt", salt.to_string(), errors, |v, p, errors| {
        string(v, p, errors).map(str::to_string)
    });
    object.finish(errors);
    Some(Condition::Share {
        basis_points: share?,
        by: by?,
        salt: salt?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<Condition, Vec<String>> {
        let mut errors = Errors::default();
        let parsed = parse_condition(&value, "$.when", "route-a", &mut errors);
        let errors: Vec<String> = errors.into_vec().iter().map(ToString::to_string).collect();
        match parsed {
            Some(c) if errors.is_empty() => Ok(c),
            _ => Err(errors),
        }
    }

    #[test]
    fn keys_combine_with_and_and_shares_default_their_salt() {
        let parsed = parse(json!({"method": "post", "percent": {"value": 12.5}})).unwrap();
        assert_eq!(
            parsed,
            Condition::All(vec![
                Condition::Method(vec!["POST".into()]),
                Condition::Share {
                    basis_points: 1250,
                    by: Subject::Principal,
                    salt: "route-a".into()
                },
            ])
        );
        let country = parse(json!({"country": ["nz"]})).unwrap();
        assert_eq!(
            country,
            Condition::Field(
                Source::Cf,
                "country".into(),
                Matcher::Equals(vec!["NZ".into()])
            )
        );
    }

    #[test]
    fn every_mistake_is_reported_with_its_path() {
        let errors = parse(json!({
            "header": {"bad header": "1", "x-ok": {"lt": "ten"}},
            "ip": ["10.0.0.0/33"],
            "percent": {"value": 120, "by": "session"},
            "any": [],
            "nope": 1,
            "cookie": {"a": {"prefix": "x", "suffix": "y"}}
        }))
        .unwrap_err();
        let expected = [
            "$.when.header[\"bad header\"]: is not a valid header name",
            "$.when.header.x-ok.lt: expected a number",
            "$.when.ip[0]:",
            "$.when.percent.value: must be a number from 0 to 100",
            "$.when.percent.by: must be 'principal'",
            "$.when.any: must list at least one condition",
            "$.when.nope: unknown key 'nope'",
            "$.when.cookie.a: must hold exactly one test",
        ];
        for want in expected {
            assert!(
                errors.iter().any(|e| e.starts_with(want)),
                "{want} in {errors:?}"
            );
        }
        assert!(parse(json!({})).unwrap_err()[0].contains("names nothing to test"));
        let mut deep = json!({"scope": "a"});
        for _ in 0..10 {
            deep = json!({ "not": deep });
        }
        assert!(parse(deep).unwrap_err()[0].contains("deeper than"));
    }
}
