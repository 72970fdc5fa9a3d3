//! The document reader: a walker over the parsed route document that knows the JSON path of
//! every value, and the error type of what it finds wrong. Every domain parses its own part of
//! the document with it; it imports nothing above it.
//!
//! Validation must report every problem with its JSON path, and serde stops at the first one, so
//! the document is read as a `serde_json::Value` and each object is visited through [`Object`],
//! which remembers which keys were consumed and reports the rest as unknown.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// One problem in a route document, located by its JSON path (for example `$.routes[2].path`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// One problem with a request a route checks (a `validate` policy), located by JSON Pointer
/// within the part of the request it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// `body`, `path`, `query` or `header`.
    #[serde(rename = "in")]
    pub location: &'static str,
    pub pointer: String,
    pub message: String,
}

/// Every problem found so far, in document order.
#[derive(Debug, Default)]
pub struct Errors(Vec<ConfigError>);

impl Errors {
    pub fn push(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.to_string(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<ConfigError> {
        self.0
    }
}

/// The JSON path of `key` inside the object at `parent`.
pub fn key_path(parent: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if simple {
        format!("{parent}.{key}")
    } else {
        format!("{parent}[{}]", Value::String(key.to_string()))
    }
}

/// The JSON path of element `index` of the array at `parent`.
pub fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// A JSON object being read; keys not asked for are reported by [`Object::finish`].
pub struct Object<'a> {
    path: String,
    map: &'a Map<String, Value>,
    known: Vec<&'static str>,
}

impl<'a> Object<'a> {
    /// Starts reading `value` as an object, or records that it is not one.
    pub fn read(value: &'a Value, path: &str, errors: &mut Errors) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Self {
                path: path.to_string(),
                map,
                known: Vec::new(),
            }),
            other => {
                errors.push(path, format!("expected an object, found {}", kind(other)));
                None
            }
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// An optional member; `null` counts as absent.
    pub fn optional(&mut self, key: &'static str) -> Option<(&'a Value, String)> {
        self.known.push(key);
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some((value, key_path(&self.path, key))),
        }
    }

    /// A required member; its absence is recorded as an error.
    pub fn required(
        &mut self,
        key: &'static str,
        errors: &mut Errors,
    ) -> Option<(&'a Value, String)> {
        let found = self.optional(key);
        if found.is_none() {
            errors.push(&key_path(&self.path, key), "is required");
        }
        found
    }

    /// An optional member read by `read`, or `default` when absent. `None` when it is present
    /// but invalid (`read` has reported why).
    pub fn or<T>(
        &mut self,
        key: &'static str,
        default: T,
        errors: &mut Errors,
        read: impl FnOnce(&'a Value, &str, &mut Errors) -> Option<T>,
    ) -> Option<T> {
        match self.optional(key) {
            Some((value, path)) => read(value, &path, errors),
            None => Some(default),
        }
    }

    /// An optional member read by `read`: `Some(None)` when absent, `None` when present but
    /// invalid (`read` has reported why).
    pub fn maybe<T>(
        &mut self,
        key: &'static str,
        errors: &mut Errors,
        read: impl FnOnce(&'a Value, &str, &mut Errors) -> Option<T>,
    ) -> Option<Option<T>> {
        self.or(key, None, errors, |value, path, errors| {
            read(value, path, errors).map(Some)
        })
    }

    /// An optional whole number within `min..=max`, or `default` when absent.
    pub fn integer_or(
        &mut self,
        key: &'static str,
        (min, max): (u64, u64),
        default: u64,
        errors: &mut Errors,
    ) -> Option<u64> {
        self.or(key, default, errors, |value, path, errors| {
            integer_in(value, path, min, max, errors)
        })
    }

    /// An optional whole number within `min..=max`; `Some(None)` when absent.
    pub fn maybe_integer(
        &mut self,
        key: &'static str,
        (min, max): (u64, u64),
        errors: &mut Errors,
    ) -> Option<Option<u64>> {
        self.maybe(key, errors, |value, path, errors| {
            integer_in(value, path, min, max, errors)
        })
    }

    /// An optional boolean, or `default` when absent.
    pub fn boolean_or(
        &mut self,
        key: &'static str,
        default: bool,
        errors: &mut Errors,
    ) -> Option<bool> {
        self.or(key, default, errors, boolean)
    }

    /// An optional string; `Some(None)` when absent.
    pub fn maybe_string(
        &mut self,
        key: &'static str,
        errors: &mut Errors,
    ) -> Option<Option<String>> {
        self.maybe(key, errors, |value, path, errors| {
            string(value, path, errors).map(str::to_string)
        })
    }

    /// An optional array of strings, empty when absent.
    pub fn strings_or_empty(
        &mut self,
        key: &'static str,
        errors: &mut Errors,
    ) -> Option<Vec<String>> {
        self.or(key, Vec::new(), errors, strings)
    }

    /// Reports every member that was never asked for: a typo in a setting must not pass silently.
    pub fn finish(self, errors: &mut Errors) {
        for key in self.map.keys() {
            if !self.known.contains(&key.as_str()) {
                let hint = closest(key, &self.known)
                    .map(|k| format!(" (did you mean '{k}'?)"))
                    .unwrap_or_default();
                errors.push(
                    &key_path(&self.path, key),
                    format!("unknown key '{key}'{hint}"),
                );
            }
        }
    }
}

/// Reads a string, or records that the value is not one.
pub fn string<'a>(value: &'a Value, path: &str, errors: &mut Errors) -> Option<&'a str> {
    match value {
        Value::String(s) => Some(s),
        other => {
            errors.push(path, format!("expected a string, found {}", kind(other)));
            None
        }
    }
}

/// Reads an array, or records that the value is not one.
pub fn array<'a>(value: &'a Value, path: &str, errors: &mut Errors) -> Option<&'a [Value]> {
    match value {
        Value::Array(items) => Some(items),
        other => {
            errors.push(path, format!("expected an array, found {}", kind(other)));
            None
        }
    }
}

/// Reads an array whose every item `read` reads (at its own index path); `None` when the value
/// is not an array or any item is invalid (each one reported).
pub fn items<T>(
    value: &Value,
    path: &str,
    errors: &mut Errors,
    mut read: impl FnMut(&Value, &str, &mut Errors) -> Option<T>,
) -> Option<Vec<T>> {
    let items = array(value, path, errors)?;
    let parsed: Vec<Option<T>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| read(item, &index_path(path, i), errors))
        .collect();
    parsed.into_iter().collect()
}

/// Reads an array of strings, or records what is wrong with it.
pub fn strings(value: &Value, path: &str, errors: &mut Errors) -> Option<Vec<String>> {
    items(value, path, errors, |item, p, errors| {
        string(item, p, errors).map(str::to_string)
    })
}

/// Reads an object of string values, each checked by `accept(key, value)` (which returns the
/// pair to keep, or why it is refused). `expected` describes the object in errors.
pub fn string_map(
    value: &Value,
    path: &str,
    expected: &str,
    accept: impl Fn(&str, &str) -> Result<(String, String), String>,
    errors: &mut Errors,
) -> Option<Vec<(String, String)>> {
    let Value::Object(map) = value else {
        errors.push(path, format!("expected an object mapping {expected}"));
        return None;
    };
    let mut pairs = Vec::new();
    let mut ok = true;
    for (key, item) in map {
        let checked = match item {
            Value::String(text) => accept(key, text),
            other => Err(format!("expected a string, found {}", kind(other))),
        };
        match checked {
            Ok(pair) => pairs.push(pair),
            Err(message) => {
                errors.push(&key_path(path, key), message);
                ok = false;
            }
        }
    }
    ok.then_some(pairs)
}

/// Reads an object of named entries (`services`, `rate_limits`, `auth.issuers`): every name
/// must pass [`is_valid_name`], every entry is read by `read(name, value, path, errors)`, and
/// the valid ones are returned by name. `mapping` describes the object in its error, as in
/// "service names to services".
pub fn named<T>(
    value: &Value,
    path: &str,
    mapping: &str,
    errors: &mut Errors,
    mut read: impl FnMut(&str, &Value, &str, &mut Errors) -> Option<T>,
) -> BTreeMap<String, T> {
    let mut entries = BTreeMap::new();
    let Value::Object(map) = value else {
        errors.push(path, format!("expected an object mapping {mapping}"));
        return entries;
    };
    for (name, entry) in map {
        let entry_path = key_path(path, name);
        if !is_valid_name(name) {
            errors.push(&entry_path, NAME_RULE);
        }
        if let Some(parsed) = read(name, entry, &entry_path, errors) {
            entries.insert(name.clone(), parsed);
        }
    }
    entries
}

/// Reads the name of a secret (`wrangler secret put NAME`): letters, digits and `_`.
pub fn secret_name(value: &Value, path: &str, errors: &mut Errors) -> Option<String> {
    let name = string(value, path, errors)?;
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        errors.push(
            path,
            "must name a secret (letters, digits and '_'), set with `wrangler secret put`",
        );
    }
    valid.then(|| name.to_string())
}

/// Reads a name (of a route, backend, policy, …), or records why it is not one.
pub fn name(value: &Value, path: &str, errors: &mut Errors) -> Option<String> {
    let name = string(value, path, errors)?;
    if is_valid_name(name) {
        Some(name.to_string())
    } else {
        errors.push(path, NAME_RULE);
        None
    }
}

/// Records `item`'s `name` among `seen`; a name seen before is reported as a duplicate
/// `what` (`false`).
pub fn unique_name<'v>(
    item: &'v Value,
    path: &str,
    seen: &mut std::collections::BTreeSet<&'v str>,
    what: &str,
    errors: &mut Errors,
) -> bool {
    match item.get("name").and_then(Value::as_str) {
        Some(name) if !seen.insert(name) => {
            errors.push(
                &key_path(path, "name"),
                format!("duplicate {what} name '{name}'"),
            );
            false
        }
        _ => true,
    }
}

/// Reads a boolean, or records that the value is not one.
pub fn boolean(value: &Value, path: &str, errors: &mut Errors) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        other => {
            errors.push(path, format!("expected a boolean, found {}", kind(other)));
            None
        }
    }
}

/// Reads an array of HTTP statuses within `min..=max`.
pub fn statuses(
    value: &Value,
    path: &str,
    (min, max): (u64, u64),
    errors: &mut Errors,
) -> Option<Vec<u16>> {
    array(value, path, errors).and_then(|items| {
        items
            .iter()
            .enumerate()
            .map(|(i, s)| integer_in(s, &index_path(path, i), min, max, errors).map(|n| n as u16))
            .collect()
    })
}

/// Reads a whole number within `min..=max`, or records why it is not acceptable.
pub fn integer_in(
    value: &Value,
    path: &str,
    min: u64,
    max: u64,
    errors: &mut Errors,
) -> Option<u64> {
    match value.as_u64() {
        Some(n) if (min..=max).contains(&n) => Some(n),
        Some(n) => {
            errors.push(
                path,
                format!("{n} is out of range: must be between {min} and {max}"),
            );
            None
        }
        None => {
            let found = match value {
                Value::Number(_) => "a negative or fractional number".to_string(),
                other => kind(other).to_string(),
            };
            errors.push(
                path,
                format!("expected a whole number between {min} and {max}, found {found}"),
            );
            None
        }
    }
}

/// Whether `name` may name a route, service, issuer, policy or backend: short, lower case, safe
/// in logs, metrics and URLs.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// What [`is_valid_name`] accepts, for error messages.
pub const NAME_RULE: &str = "names must be 1-64 characters of lower-case letters, digits, '-' and '_', starting with a letter or digit";

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The known key nearest to a misspelt one, if it is close enough to be a likely typo. Keys
/// whose lengths differ by more than that are never compared, so a huge key costs a count of
/// its characters, not an edit distance.
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let length = key.chars().count();
    let near = |k: &str| 2.max(k.len() / 4);
    known
        .iter()
        .filter(|k| length.abs_diff(k.len()) <= near(k))
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= near(k))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_are_reported_with_a_suggestion() {
        let doc = json!({"timeout_ms": 5, "timeuot_ms": 6});
        let mut errors = Errors::default();
        let mut object = Object::read(&doc, "$.services.users", &mut errors).expect("object");
        object.optional("timeout_ms");
        object.finish(&mut errors);
        let errors = errors.into_vec();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "$.services.users.timeuot_ms");
        assert!(errors[0].message.contains("did you mean 'timeout_ms'"));
    }

    #[test]
    fn paths_quote_keys_that_are_not_identifiers() {
        assert_eq!(key_path("$", "routes"), "$.routes");
        assert_eq!(key_path("$.services", "a b"), "$.services[\"a b\"]");
        assert_eq!(index_path("$.routes", 3), "$.routes[3]");
    }

    #[test]
    fn optional_members_take_their_defaults_and_report_bad_values() {
        let doc = json!({"n": 7, "big": 99, "flag": "yes", "name": "x", "list": ["a", 1]});
        let mut errors = Errors::default();
        let mut object = Object::read(&doc, "$", &mut errors).expect("object");
        assert_eq!(object.integer_or("n", (1, 10), 5, &mut errors), Some(7));
        assert_eq!(
            object.integer_or("absent", (1, 10), 5, &mut errors),
            Some(5)
        );
        assert_eq!(object.maybe_integer("big", (1, 10), &mut errors), None);
        assert_eq!(
            object.maybe_integer("gone", (1, 10), &mut errors),
            Some(None)
        );
        assert_eq!(object.boolean_or("flag", false, &mut errors), None);
        assert_eq!(
            object.maybe_string("name", &mut errors),
            Some(Some("x".into()))
        );
        assert_eq!(object.strings_or_empty("list", &mut errors), None);
        assert_eq!(object.strings_or_empty("none", &mut errors), Some(vec![]));
        object.finish(&mut errors);
        let paths: Vec<String> = errors.into_vec().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["$.big", "$.flag", "$.list[1]"]);
    }

    #[test]
    fn names_are_short_lower_case_identifiers() {
        assert!(is_valid_name("users-v2_b"));
        assert!(!is_valid_name("Users"));
        assert!(!is_valid_name("-x"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name(&"a".repeat(65)));
    }

    #[test]
    fn integers_out_of_range_are_errors() {
        let mut errors = Errors::default();
        assert_eq!(integer_in(&json!(0), "$.t", 1, 10, &mut errors), None);
        assert_eq!(integer_in(&json!(2.5), "$.t", 1, 10, &mut errors), None);
        assert_eq!(integer_in(&json!("5"), "$.t", 1, 10, &mut errors), None);
        assert_eq!(integer_in(&json!(5), "$.t", 1, 10, &mut errors), Some(5));
        assert_eq!(errors.into_vec().len(), 3);
    }
}
