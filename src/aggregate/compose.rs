//! Shaping backend responses and composing them into one body: plain functions of JSON values.

use serde_json::{Map, Value};

/// Which fields of a backend's response reach the client. Paths are dotted (`customer.name`);
/// for an array body the rules apply to each object in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldRules {
    /// Keep only these fields (all when empty).
    pub allow: Vec<String>,
    /// Then remove these.
    pub deny: Vec<String>,
    /// Then rename top-level fields: (from, to).
    pub rename: Vec<(String, String)>,
}

impl FieldRules {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty() && self.rename.is_empty()
    }

    pub fn apply(&self, value: Value) -> Value {
        match value {
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.apply(v)).collect()),
            Value::Object(object) => Value::Object(self.apply_object(object)),
            other => other,
        }
    }

    fn apply_object(&self, object: Map<String, Value>) -> Map<String, Value> {
        let mut out = if self.allow.is_empty() {
            object
        } else {
            let source = Value::Object(object);
            let mut kept = Map::new();
            for path in &self.allow {
                let segments: Vec<&str> = path.split('.').collect();
                if let Some(found) = lookup(&source, &segments) {
                    insert(&mut kept, &segments, found.clone());
                }
            }
            kept
        };
        for path in &self.deny {
            let segments: Vec<&str> = path.split('.').collect();
            remove(&mut out, &segments);
        }
        for (from, to) in &self.rename {
            if let Some(value) = out.remove(from) {
                out.insert(to.clone(), value);
            }
        }
        out
    }
}

/// The value at a dotted path.
pub fn lookup<'v, S: AsRef<str>>(value: &'v Value, path: &[S]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| v.get(key.as_ref()))
}

fn insert(object: &mut Map<String, Value>, path: &[&str], value: Value) {
    match path {
        [] => {}
        [last] => {
            object.insert((*last).to_string(), value);
        }
        [first, rest @ ..] => {
            let child = object
                .entry((*first).to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(child) = child {
                insert(child, rest, value);
            }
        }
    }
}

fn remove(object: &mut Map<String, Value>, path: &[&str]) {
    match path {
        [] => {}
        [last] => {
            object.remove(*last);
        }
        [first, rest @ ..] => {
            if let Some(Value::Object(child)) = object.get_mut(*first) {
                remove(child, rest);
            }
        }
    }
}

/// How the backends' bodies become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compose {
    /// Top-level fields of every object body in one object; later backends win on clashes.
    Merge,
    /// Each body under its backend's name.
    Nest,
    /// The bodies in backend order.
    Array,
}

/// Composes the bodies of the backends that succeeded, in backend order.
pub fn compose(how: Compose, parts: Vec<(String, Value)>) -> Value {
    match how {
        Compose::Merge => {
            let mut out = Map::new();
            for (name, value) in parts {
                match value {
                    Value::Object(object) => out.extend(object),
                    // A body that is not an object cannot be merged: keep it under its name.
                    other => {
                        out.insert(name, other);
                    }
                }
            }
            Value::Object(out)
        }
        Compose::Nest => Value::Object(parts.into_iter().collect()),
        Compose::Array => Value::Array(parts.into_iter().map(|(_, v)| v).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_rules_allow_then_deny_then_rename() {
        let rules = FieldRules {
            allow: vec![
                "id".into(),
                "customer.name".into(),
                "customer.email".into(),
                "missing.x".into(),
            ],
            deny: vec!["customer.email".into()],
            rename: vec![("id".into(), "order_id".into())],
        };
        let body =
            json!({"id": 1, "secret": "s", "customer": {"name": "Ada", "email": "a@x", "tier": 3}});
        assert_eq!(
            rules.apply(body),
            json!({"order_id": 1, "customer": {"name": "Ada"}})
        );
        let list = json!([{"id": 1, "x": 1}, {"id": 2}, 5]);
        assert_eq!(
            rules.apply(list),
            json!([{"order_id": 1}, {"order_id": 2}, 5])
        );
        assert_eq!(
            FieldRules::default().apply(json!({"a": 1})),
            json!({"a": 1})
        );
    }

    #[test]
    fn bodies_compose_by_merging_nesting_or_collecting() {
        let parts = || {
            vec![
                ("a".to_string(), json!({"x": 1, "y": 1})),
                ("b".to_string(), json!({"y": 2})),
                ("c".to_string(), json!([1])),
            ]
        };
        assert_eq!(
            compose(Compose::Merge, parts()),
            json!({"x": 1, "y": 2, "c": [1]})
        );
        assert_eq!(
            compose(Compose::Nest, parts()),
            json!({"a": {"x": 1, "y": 1}, "b": {"y": 2}, "c": [1]})
        );
        assert_eq!(
            compose(Compose::Array, parts()),
            json!([{"x": 1, "y": 1}, {"y": 2}, [1]])
        );
    }

    #[test]
    fn lookups_follow_dotted_paths() {
        let v = json!({"a": {"b": {"c": 3}}});
        assert_eq!(lookup(&v, &["a", "b", "c"]), Some(&json!(3)));
        assert_eq!(lookup(&v, &["a", "x"]), None);
    }
}
