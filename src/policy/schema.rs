//! JSON Schema for `validate` policies: the keywords of draft 2020-12 and OpenAPI 3.0/3.1 that
//! requests are checked against, compiled once per configuration into an arena (so `$ref`
//! cycles are plain indices), then run against each request, reporting every violation with
//! its JSON Pointer. `pattern` uses a regex engine without backtracking.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::pointer::{child, Pointer};
pub use crate::reader::Violation;
use crate::reader::{index_path, key_path, Errors};

/// Most violations one request is told about.
pub const MAX_VIOLATIONS: usize = 100;
/// Deepest schema nesting followed while validating (recursive schemas).
const MAX_DEPTH: usize = 64;

/// Keywords that only describe: accepted and ignored.
const ANNOTATIONS: [&str; 20] = [
    "title",
    "description",
    "default",
    "example",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$id",
    "$schema",
    "$comment",
    "$defs",
    "definitions",
    "discriminator",
    "xml",
    "externalDocs",
    "contentMediaType",
    "contentEncoding",
    "$anchor",
    "style",
];

/// A compiled schema and every schema it refers to.
#[derive(Debug, Clone)]
pub struct Schema {
    nodes: Vec<Node>,
    /// The schema as written, its references inlined (to a depth), for the OpenAPI output.
    pub shown: Value,
}

/// Deepest reference followed when a schema is shown; a cycle ends in `{}` there.
const SHOWN_DEPTH: usize = 8;

/// `value` with every `{"$ref": "#/..."}` replaced by its target in `document`.
fn inlined(document: &Value, value: &Value, depth: usize) -> Value {
    match value {
        Value::Object(map) => {
            let target = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
                .and_then(|r| Pointer::parse(r).ok())
                .and_then(|p| p.get(document));
            if let Some(target) = target {
                if depth >= SHOWN_DEPTH {
                    return Value::Object(Map::new());
                }
                return inlined(document, target, depth + 1);
            }
            let shown = map
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "$defs" | "definitions" | "$schema" | "$id"))
                .map(|(k, v)| (k.clone(), inlined(document, v, depth)))
                .collect();
            Value::Object(shown)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| inlined(document, v, depth)).collect())
        }
        other => other.clone(),
    }
}

#[derive(Debug, Clone)]
enum Node {
    Any,
    Never,
    Rules(Box<Rules>),
}

#[derive(Debug, Clone, Default)]
struct Rules {
    types: Vec<&'static str>,
    nullable: bool,
    options: Option<Vec<Value>>,
    constant: Option<Value>,
    properties: Vec<(String, usize)>,
    required: Vec<String>,
    /// `None`: any other member is fine.
    additional: Option<usize>,
    min_properties: Option<u64>,
    max_properties: Option<u64>,
    prefix_items: Vec<usize>,
    items: Option<usize>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    unique_items: bool,
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<(String, regex_lite::Regex)>,
    minimum: Option<(f64, bool)>,
    maximum: Option<(f64, bool)>,
    multiple_of: Option<f64>,
    format: Option<&'static str>,
    all_of: Vec<usize>,
    any_of: Vec<usize>,
    one_of: Vec<usize>,
    not: Option<usize>,
    reference: Option<usize>,
}

const TYPES: [&str; 7] = [
    "null", "boolean", "object", "array", "number", "integer", "string",
];
const FORMATS: [&str; 10] = [
    "email",
    "uuid",
    "date-time",
    "date",
    "time",
    "uri",
    "ipv4",
    "ipv6",
    "int32",
    "int64",
];

impl Schema {
    /// Compiles the schema at `at` in `document` (`$ref`s resolve within `document`);
    /// problems are reported under `path`, the schema's JSON path in the route document.
    pub fn compile(document: &Value, at: &str, path: &str, errors: &mut Errors) -> Option<Self> {
        let mut compiler = Compiler {
            document,
            nodes: Vec::new(),
            seen: BTreeMap::new(),
            failed: false,
        };
        let value = Pointer::parse(at).ok().and_then(|p| p.get(document));
        let Some(value) = value else {
            errors.push(path, format!("'{at}' points at nothing in the document"));
            return None;
        };
        compiler.seen.insert(at.to_string(), 0);
        compiler.nodes.push(Node::Any);
        compiler.node(value, 0, path, errors);
        (!compiler.failed).then(|| Self {
            nodes: compiler.nodes,
            shown: inlined(document, value, 0),
        })
    }

    /// A schema that accepts everything.
    pub fn any() -> Self {
        Self {
            nodes: vec![Node::Any],
            shown: Value::Object(Map::new()),
        }
    }

    /// Whether the schema expects a value of `kind` (for text from a path, query or header).
    pub fn expects(&self, kind: &str) -> bool {
        match &self.nodes[0] {
            Node::Rules(rules) => rules.types.contains(&kind),
            _ => false,
        }
    }

    /// The schema for the items of an array (for repeated query parameters).
    pub fn item_expects(&self, kind: &str) -> bool {
        match &self.nodes[0] {
            Node::Rules(rules) => rules
                .items
                .and_then(|i| match &self.nodes[i] {
                    Node::Rules(items) => Some(items.types.contains(&kind)),
                    _ => None,
                })
                .unwrap_or(false),
            _ => false,
        }
    }

    /// Every violation of `value`, under `pointer` in `location`, appended to `out`.
    pub fn check(
        &self,
        value: &Value,
        location: &'static str,
        pointer: &str,
        out: &mut Vec<Violation>,
    ) {
        let mut run = Run {
            schema: self,
            location,
            out,
        };
        run.node(0, value, pointer, 0);
    }
}

struct Compiler<'d> {
    document: &'d Value,
    nodes: Vec<Node>,
    /// `$ref` target → node, so a cycle ends at a node already made.
    seen: BTreeMap<String, usize>,
    failed: bool,
}

impl Compiler<'_> {
    fn fail(&mut self, errors: &mut Errors, path: &str, message: impl Into<String>) {
        self.failed = true;
        errors.push(path, message);
    }

    fn new_node(&mut self, value: &Value, path: &str, errors: &mut Errors) -> usize {
        let slot = self.nodes.len();
        self.nodes.push(Node::Any);
        self.node(value, slot, path, errors);
        slot
    }

    fn node(&mut self, value: &Value, slot: usize, path: &str, errors: &mut Errors) {
        let map = match value {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                self.nodes[slot] = Node::Never;
                return;
            }
            Value::Object(map) => map,
            _ => return self.fail(errors, path, "a schema must be an object or a boolean"),
        };
        let mut rules = Rules::default();
        for (key, v) in map {
            let at = key_path(path, key);
            self.keyword(&mut rules, key, v, map, &at, errors);
        }
        self.nodes[slot] = Node::Rules(Box::new(rules));
    }

    fn keyword(
        &mut self,
        rules: &mut Rules,
        key: &str,
        v: &Value,
        map: &Map<String, Value>,
        at: &str,
        errors: &mut Errors,
    ) {
        let count = |v: &Value| v.as_u64();
        match key {
            "type" => {
                let names: Vec<&str> = match v {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                rules.types = names
                    .iter()
                    .filter_map(|n| TYPES.iter().find(|t| *t == n).copied())
                    .collect();
                if rules.types.is_empty() || rules.types.len() != names.len() {
                    self.fail(
                        errors,
                        at,
                        format!("must name types among {}", TYPES.join(", ")),
                    );
                }
            }
            "nullable" => rules.nullable = v.as_bool() == Some(true),
            "enum" => match v.as_array() {
                Some(options) => rules.options = Some(options.clone()),
                None => self.fail(errors, at, "must be an array"),
            },
            "const" => rules.constant = Some(v.clone()),
            "properties" => match v.as_object() {
                Some(properties) => {
                    for (name, schema) in properties {
                        let node = self.new_node(schema, &key_path(at, name), errors);
                        rules.properties.push((name.clone(), node));
                    }
                }
                None => self.fail(errors, at, "must be an object of schemas"),
            },
            "required" => match v
                .as_array()
                .map(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
            {
                Some(Some(names)) => {
                    rules.required = names.into_iter().map(str::to_string).collect()
                }
                _ => self.fail(errors, at, "must be an array of member names"),
            },
            "additionalProperties" => rules.additional = Some(self.new_node(v, at, errors)),
            "items" if v.is_array() => self.fail(
                errors,
                at,
                "an array of schemas is 'prefixItems' (JSON Schema 2020-12)",
            ),
            "items" => rules.items = Some(self.new_node(v, at, errors)),
            "prefixItems" => match v.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let node = self.new_node(item, &index_path(at, i), errors);
                        rules.prefix_items.push(node);
                    }
                }
                None => self.fail(errors, at, "must be an array of schemas"),
            },
            "uniqueItems" => rules.unique_items = v.as_bool() == Some(true),
            "minProperties" | "maxProperties" | "minItems" | "maxItems" | "minLength"
            | "maxLength" => {
                let Some(n) = count(v) else {
                    return self.fail(errors, at, "must be a whole number of at least 0");
                };
                let slot = match key {
                    "minProperties" => &mut rules.min_properties,
                    "maxProperties" => &mut rules.max_properties,
                    "minItems" => &mut rules.min_items,
                    "maxItems" => &mut rules.max_items,
                    "minLength" => &mut rules.min_length,
                    _ => &mut rules.max_length,
                };
                *slot = Some(n);
            }
            "pattern" => match v.as_str().map(|p| (p, regex_lite::Regex::new(p))) {
                Some((text, Ok(regex))) => rules.pattern = Some((text.to_string(), regex)),
                Some((_, Err(e))) => self.fail(errors, at, format!("is not a valid pattern: {e}")),
                None => self.fail(errors, at, "must be a string"),
            },
            "minimum" | "maximum" => {
                let Some(n) = v.as_f64() else {
                    return self.fail(errors, at, "must be a number");
                };
                // OpenAPI 3.0 writes exclusiveness as a boolean beside the bound.
                let exclusive_key = if key == "minimum" {
                    "exclusiveMinimum"
                } else {
                    "exclusiveMaximum"
                };
                let exclusive = map.get(exclusive_key).and_then(Value::as_bool) == Some(true);
                let bound = Some((n, exclusive));
                if key == "minimum" {
                    rules.minimum = tighter(rules.minimum, bound, true);
                } else {
                    rules.maximum = tighter(rules.maximum, bound, false);
                }
            }
            "exclusiveMinimum" | "exclusiveMaximum" => match v {
                Value::Bool(_) => {}
                Value::Number(n) => {
                    let bound = n.as_f64().map(|n| (n, true));
                    if key == "exclusiveMinimum" {
                        rules.minimum = tighter(rules.minimum, bound, true);
                    } else {
                        rules.maximum = tighter(rules.maximum, bound, false);
                    }
                }
                _ => self.fail(
                    errors,
                    at,
                    "must be a number (or, in OpenAPI 3.0, a boolean)",
                ),
            },
            "multipleOf" => match v.as_f64().filter(|n| *n > 0.0) {
                Some(n) => rules.multiple_of = Some(n),
                None => self.fail(errors, at, "must be a number above 0"),
            },
            "format" => {
                rules.format = v
                    .as_str()
                    .and_then(|f| FORMATS.iter().find(|k| **k == f).copied());
            }
            "allOf" | "anyOf" | "oneOf" => {
                let Some(items) = v.as_array().filter(|a| !a.is_empty()) else {
                    return self.fail(errors, at, "must be a non-empty array of schemas");
                };
                let nodes: Vec<usize> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.new_node(item, &index_path(at, i), errors))
                    .collect();
                match key {
                    "allOf" => rules.all_of = nodes,
                    "anyOf" => rules.any_of = nodes,
                    _ => rules.one_of = nodes,
                }
            }
            "not" => rules.not = Some(self.new_node(v, at, errors)),
            "$ref" => rules.reference = self.reference(v, at, errors),
            _ if ANNOTATIONS.contains(&key) || key.starts_with("x-") => {}
            _ => self.fail(
                errors,
                at,
                format!("the schema keyword '{key}' is not supported"),
            ),
        }
    }

    fn reference(&mut self, v: &Value, at: &str, errors: &mut Errors) -> Option<usize> {
        let Some(target) = v.as_str().and_then(|r| r.strip_prefix('#')) else {
            self.fail(
                errors,
                at,
                "only references within the document ('#/...') are supported",
            );
            return None;
        };
        if let Some(node) = self.seen.get(target) {
            return Some(*node);
        }
        let found = Pointer::parse(target)
            .ok()
            .and_then(|p| p.get(self.document));
        let Some(value) = found else {
            self.fail(
                errors,
                at,
                format!("'#{target}' points at nothing in the document"),
            );
            return None;
        };
        let slot = self.nodes.len();
        self.nodes.push(Node::Any);
        self.seen.insert(target.to_string(), slot);
        self.node(value, slot, &format!("{at}(#{target})"), errors);
        Some(slot)
    }
}

fn tighter(old: Option<(f64, bool)>, new: Option<(f64, bool)>, lower: bool) -> Option<(f64, bool)> {
    match (old, new) {
        (Some(a), Some(b)) => Some(
            if (lower && b.0 > a.0) || (!lower && b.0 < a.0) || (a.0 == b.0 && b.1) {
                b
            } else {
                a
            },
        ),
        (a, b) => b.or(a),
    }
}

struct Run<'s, 'o> {
    schema: &'s Schema,
    location: &'static str,
    out: &'o mut Vec<Violation>,
}

impl Run<'_, '_> {
    fn report(&mut self, pointer: &str, message: String) {
        if self.out.len() < MAX_VIOLATIONS {
            self.out.push(Violation {
                location: self.location,
                pointer: pointer.to_string(),
                message,
            });
        }
    }

    /// Whether `value` passes node `i`, without reporting.
    fn passes(&mut self, i: usize, value: &Value, pointer: &str, depth: usize) -> bool {
        let mut scratch = Vec::new();
        let mut run = Run {
            schema: self.schema,
            location: self.location,
            out: &mut scratch,
        };
        run.node(i, value, pointer, depth);
        scratch.is_empty()
    }

    fn node(&mut self, i: usize, value: &Value, pointer: &str, depth: usize) {
        if depth > MAX_DEPTH {
            return self.report(
                pointer,
                "nests deeper than the schema allows checking".into(),
            );
        }
        let rules = match &self.schema.nodes[i] {
            Node::Any => return,
            Node::Never => return self.report(pointer, "is not allowed".into()),
            Node::Rules(rules) => rules,
        };
        if rules.nullable && value.is_null() {
            return;
        }
        if let Some(target) = rules.reference {
            self.node(target, value, pointer, depth + 1);
        }
        if !rules.types.is_empty() && !rules.types.iter().any(|t| is_type(value, t)) {
            let message = format!(
                "must be {}, not {}",
                rules.types.join(" or "),
                type_of(value)
            );
            return self.report(pointer, message);
        }
        if let Some(options) = &rules.options {
            if !options.contains(value) {
                let listed: Vec<String> = options.iter().map(Value::to_string).collect();
                self.report(pointer, format!("must be one of {}", listed.join(", ")));
            }
        }
        if let Some(constant) = &rules.constant {
            if constant != value {
                self.report(pointer, format!("must be {constant}"));
            }
        }
        match value {
            Value::Object(map) => self.object(rules, map, pointer, depth),
            Value::Array(items) => self.array(rules, items, pointer, depth),
            Value::String(text) => self.string(rules, text, pointer),
            Value::Number(n) => self.number(rules, n.as_f64().unwrap_or(0.0), pointer),
            _ => {}
        }
        for &sub in &rules.all_of {
            self.node(sub, value, pointer, depth + 1);
        }
        if !rules.any_of.is_empty()
            && !rules
                .any_of
                .iter()
                .any(|&s| self.passes(s, value, pointer, depth + 1))
        {
            self.report(pointer, "matches none of the schemas in 'anyOf'".into());
        }
        if !rules.one_of.is_empty() {
            let matching = rules
                .one_of
                .iter()
                .filter(|&&s| self.passes(s, value, pointer, depth + 1))
                .count();
            if matching != 1 {
                self.report(
                    pointer,
                    format!("must match exactly one schema in 'oneOf', matches {matching}"),
                );
            }
        }
        if let Some(not) = rules.not {
            if self.passes(not, value, pointer, depth + 1) {
                self.report(pointer, "matches the schema in 'not'".into());
            }
        }
    }

    fn object(&mut self, rules: &Rules, map: &Map<String, Value>, pointer: &str, depth: usize) {
        for name in &rules.required {
            if !map.contains_key(name) {
                self.report(&child(pointer, name), "is required".into());
            }
        }
        for (name, value) in map {
            let at = child(pointer, name);
            match rules.properties.iter().find(|(n, _)| n == name) {
                Some((_, node)) => self.node(*node, value, &at, depth + 1),
                None => {
                    if let Some(node) = rules.additional {
                        if matches!(self.schema.nodes[node], Node::Never) {
                            self.report(
                                &at,
                                format!("is not a member this object may have ('{name}')"),
                            );
                        } else {
                            self.node(node, value, &at, depth + 1);
                        }
                    }
                }
            }
        }
        let n = map.len() as u64;
        if let Some(min) = rules.min_properties.filter(|m| n < *m) {
            self.report(pointer, format!("must have at least {min} members"));
        }
        if let Some(max) = rules.max_properties.filter(|m| n > *m) {
            self.report(pointer, format!("must have at most {max} members"));
        }
    }

    fn array(&mut self, rules: &Rules, items: &[Value], pointer: &str, depth: usize) {
        for (i, item) in items.iter().enumerate() {
            let at = child(pointer, &i.to_string());
            if let Some(node) = rules.prefix_items.get(i).or(rules.items.as_ref()) {
                self.node(*node, item, &at, depth + 1);
            }
        }
        let n = items.len() as u64;
        if let Some(min) = rules.min_items.filter(|m| n < *m) {
            self.report(pointer, format!("must have at least {min} items"));
        }
        if let Some(max) = rules.max_items.filter(|m| n > *m) {
            self.report(pointer, format!("must have at most {max} items"));
        }
        if rules.unique_items {
            if let Some(i) = (1..items.len()).find(|&i| items[..i].contains(&items[i])) {
                self.report(
                    &child(pointer, &i.to_string()),
                    "repeats an earlier item".into(),
                );
            }
        }
    }

    fn string(&mut self, rules: &Rules, text: &str, pointer: &str) {
        let length = text.chars().count() as u64;
        if let Some(min) = rules.min_length.filter(|m| length < *m) {
            self.report(pointer, format!("must be at least {min} characters long"));
        }
        if let Some(max) = rules.max_length.filter(|m| length > *m) {
            self.report(pointer, format!("must be at most {max} characters long"));
        }
        if let Some((source, regex)) = &rules.pattern {
            if !regex.is_match(text) {
                self.report(pointer, format!("must match the pattern {source}"));
            }
        }
        if let Some(format) = rules.format {
            if !format_holds(format, text) {
                self.report(pointer, format!("must be a valid {format}"));
            }
        }
    }

    fn number(&mut self, rules: &Rules, n: f64, pointer: &str) {
        if let Some((min, exclusive)) = rules.minimum {
            if n < min || (exclusive && n == min) {
                let word = if exclusive { "above" } else { "at least" };
                self.report(pointer, format!("must be {word} {min}"));
            }
        }
        if let Some((max, exclusive)) = rules.maximum {
            if n > max || (exclusive && n == max) {
                let word = if exclusive { "below" } else { "at most" };
                self.report(pointer, format!("must be {word} {max}"));
            }
        }
        if let Some(step) = rules.multiple_of {
            let ratio = n / step;
            if (ratio - ratio.round()).abs() > 1e-9 {
                self.report(pointer, format!("must be a multiple of {step}"));
            }
        }
        if let Some(format @ ("int32" | "int64")) = rules.format {
            let (lo, hi) = if format == "int32" {
                (f64::from(i32::MIN), f64::from(i32::MAX))
            } else {
                (-9.223_372_036_854_776e18, 9.223_372_036_854_776e18)
            };
            if n.fract() != 0.0 || n < lo || n > hi {
                self.report(pointer, format!("must be a valid {format}"));
            }
        }
    }
}

fn is_type(value: &Value, kind: &str) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
        _ => value.is_string(),
    }
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::Number(_) => "number",
        Value::String(_) => "string",
    }
}

fn format_holds(format: &str, text: &str) -> bool {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let date = |s: &str| {
        let parts: Vec<&str> = s.split('-').collect();
        parts.len() == 3
            && digits(parts[0], 4)
            && digits(parts[1], 2)
            && digits(parts[2], 2)
            && (1..=12).contains(&parts[1].parse::<u8>().unwrap_or(0))
            && (1..=31).contains(&parts[2].parse::<u8>().unwrap_or(0))
    };
    let time = |s: &str| {
        let clock = s.trim_end_matches(['Z', 'z']);
        let clock = clock.split(['+', '-']).next().unwrap_or("");
        let clock = clock.split('.').next().unwrap_or("");
        let parts: Vec<&str> = clock.split(':').collect();
        parts.len() == 3 && parts.iter().all(|p| digits(p, 2))
    };
    match format {
        "email" => text.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !text.contains(char::is_whitespace)
        }),
        "uuid" => {
            let groups: Vec<&str> = text.split('-').collect();
            groups.len() == 5
                && groups
                    .iter()
                    .zip([8, 4, 4, 4, 12])
                    .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
        }
        "date" => date(text),
        "time" => time(text),
        "date-time" => text
            .split_once(['T', 't'])
            .is_some_and(|(d, t)| date(d) && time(t)),
        "uri" => url::Url::parse(text).is_ok(),
        "ipv4" => text.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<std::net::Ipv6Addr>().is_ok(),
        // Numbers only: a string is not checked against them.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(schema: Value) -> Schema {
        let mut errors = Errors::default();
        let compiled = Schema::compile(&schema, "", "$.s", &mut errors);
        assert!(errors.is_empty(), "{:?}", errors.into_vec());
        compiled.unwrap()
    }

    fn violations(schema: &Schema, value: Value) -> Vec<String> {
        let mut out = Vec::new();
        schema.check(&value, "body", "", &mut out);
        out.into_iter()
            .map(|v| format!("{} {}", v.pointer, v.message))
            .collect()
    }

    #[test]
    fn every_violation_is_listed_with_its_pointer() {
        let schema = compile(json!({
            "type": "object",
            "required": ["name", "age"],
            "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "minLength": 2, "pattern": "^[A-Z]"},
                "age": {"type": "integer", "minimum": 0, "maximum": 150},
                "email": {"type": "string", "format": "email"},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2, "uniqueItems": true}
            }
        }));
        assert_eq!(
            violations(
                &schema,
                json!({"name": "x", "email": "nope", "tags": ["a", "a", "c"], "extra": 1})
            ),
            vec![
                "/age is required",
                "/email must be a valid email",
                "/extra is not a member this object may have ('extra')",
                "/name must be at least 2 characters long",
                "/name must match the pattern ^[A-Z]",
                "/tags/2 must be one of \"a\", \"b\"",
                "/tags must have at most 2 items",
                "/tags/1 repeats an earlier item",
            ]
        );
        assert!(violations(&schema, json!({"name": "Ada", "age": 36})).is_empty());
        assert_eq!(
            violations(&schema, json!({"name": "Ada", "age": 1.5})),
            vec!["/age must be integer, not number"]
        );
    }

    #[test]
    fn references_resolve_in_the_document_and_may_recurse() {
        let document = json!({
            "components": {"schemas": {
                "Node": {"type": "object", "properties": {
                    "value": {"type": "number", "exclusiveMinimum": 0},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
                }}
            }}
        });
        let mut errors = Errors::default();
        let schema = Schema::compile(
            &document,
            "/components/schemas/Node",
            "$.specs.t",
            &mut errors,
        )
        .unwrap();
        let shown = &schema.shown["properties"]["children"]["items"];
        assert_eq!(
            shown["properties"]["value"]["exclusiveMinimum"], 0,
            "references are shown inlined"
        );
        let tree = json!({"value": 1, "children": [{"value": 2, "children": [{"value": 0}]}]});
        assert_eq!(
            violations(&schema, tree),
            vec!["/children/0/children/0/value must be above 0"]
        );
    }

    #[test]
    fn combinators_nullable_and_openapi_30_bounds() {
        let schema = compile(json!({
            "oneOf": [{"type": "string"}, {"type": "integer", "minimum": 10, "exclusiveMinimum": true}],
            "nullable": true
        }));
        assert!(violations(&schema, json!(null)).is_empty());
        assert!(violations(&schema, json!("s")).is_empty());
        assert_eq!(
            violations(&schema, json!(10)),
            vec![" must match exactly one schema in 'oneOf', matches 0"]
        );
        let not = compile(
            json!({"not": {"const": "admin"}, "anyOf": [{"maxLength": 3}, {"format": "uuid"}]}),
        );
        assert_eq!(
            violations(&not, json!("admin")),
            vec![
                " matches none of the schemas in 'anyOf'",
                " matches the schema in 'not'"
            ]
        );
    }

    #[test]
    fn bad_schemas_are_configuration_errors_with_paths() {
        let mut errors = Errors::default();
        let schema = json!({
            "type": "strng",
            "properties": {"a": {"pattern": "("}, "b": {"$ref": "#/nowhere"}, "c": {"if": {}}},
            "minLength": -1
        });
        assert!(Schema::compile(&schema, "", "$.s", &mut errors).is_none());
        let errors: Vec<String> = errors.into_vec().iter().map(ToString::to_string).collect();
        for want in [
            "$.s.type: must name types",
            "$.s.properties.a.pattern: is not a valid pattern",
            "$.s.properties.b[\"$ref\"]: '#/nowhere' points at nothing",
            "$.s.properties.c.if: the schema keyword 'if' is not supported",
            "$.s.minLength: must be a whole number",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(want)),
                "{want} in {errors:?}"
            );
        }
    }
}
