//! The `firewall` key, at the top level (every route's default) and per route (replacing the
//! default as a whole; `false` turns it off for the route):
//!
//! ```json
//! "firewall": {
//!   "mode": "block", "paranoia": 1, "threshold": 5, "body_bytes": 65536,
//!   "exclude": [{"rules": [941170, "sqli"], "targets": ["body:/post/html"]}],
//!   "rules": [{"id": "bad-bots", "target": "cf:botManagement.score", "operator": "lt",
//!              "value": 30, "score": 5}]
//! }
//! ```

use serde_json::Value;

use super::custom::{CustomRule, Effect, Operator, Target};
use super::rules::{self, Class};
use super::settings::{
    Exclusion, Firewall, Mode, Selector, DEFAULT_BODY_BYTES, DEFAULT_THRESHOLD, MAX_BODY_BYTES,
};
use crate::reader::{index_path, items, string, strings, Errors, Object};
use crate::security::cidr::Cidr;

/// Reads a `firewall` value: an object, or `false` for none.
pub fn parse_firewall(value: &Value, path: &str, errors: &mut Errors) -> Option<Option<Firewall>> {
    if value == &Value::Bool(false) {
        return Some(None);
    }
    let mut object = Object::read(value, path, errors)?;
    let mode = object.or("mode", Mode::Block, errors, |v, p, errors| {
        match string(v, p, errors)? {
            "block" => Some(Mode::Block),
            "log" => Some(Mode::Log),
            other => {
                errors.push(p, format!("mode '{other}' is neither 'block' nor 'log'"));
                None
            }
        }
    });
    let paranoia = object.integer_or("paranoia", (1, 4), 1, errors);
    let threshold = object.integer_or("threshold", (1, 1000), u64::from(DEFAULT_THRESHOLD), errors);
    let body_bytes = object.integer_or(
        "body_bytes",
        (0, MAX_BODY_BYTES),
        DEFAULT_BODY_BYTES,
        errors,
    );
    let exclusions = object.or("exclude", Vec::new(), errors, |v, p, errors| {
        items(v, p, errors, parse_exclusion)
    });
    let custom = object.or("rules", Vec::new(), errors, |v, p, errors| {
        let parsed = items(v, p, errors, parse_rule)?;
        let mut seen = std::collections::BTreeSet::new();
        for (i, rule) in parsed.iter().enumerate() {
            if !seen.insert(rule.id.clone()) {
                errors.push(
                    &index_path(p, i),
                    format!("rule id '{}' is used twice", rule.id),
                );
            }
        }
        Some(parsed)
    });
    object.finish(errors);
    Some(Some(Firewall {
        mode: mode?,
        paranoia: u8::try_from(paranoia?).ok()?,
        threshold: u32::try_from(threshold?).ok()?,
        body_bytes: body_bytes?,
        exclusions: exclusions?,
        rules: custom?,
    }))
}

fn parse_exclusion(value: &Value, path: &str, errors: &mut Errors) -> Option<Exclusion> {
    let mut object = Object::read(value, path, errors)?;
    let selected = object.or("rules", Vec::new(), errors, |v, p, errors| {
        items(v, p, errors, parse_selector)
    });
    let targets = object.or("targets", Vec::new(), errors, |v, p, errors| {
        items(v, p, errors, |item, p, errors| {
            let text = string(item, p, errors)?;
            match target_name_problem(text) {
                None => Some(target_case(text)),
                Some(problem) => {
                    errors.push(p, problem);
                    None
                }
            }
        })
    });
    if selected.as_ref().is_some_and(Vec::is_empty) && targets.as_ref().is_some_and(Vec::is_empty) {
        errors.push(
            path,
            "name 'rules', 'targets' or both: an empty exclusion would turn the firewall off",
        );
    }
    object.finish(errors);
    Some(Exclusion {
        rules: selected?,
        targets: targets?,
    })
}

/// Header names compare in lower case; everything else as written.
fn target_case(text: &str) -> String {
    match text.split_once(':') {
        Some(("header", name)) => format!("header:{}", name.to_ascii_lowercase()),
        _ => text.to_string(),
    }
}

/// Why an exclusion's target name cannot name anything, if it cannot.
fn target_name_problem(text: &str) -> Option<String> {
    const KINDS: &str = "'path', 'request', 'body', or 'query:', 'header:', 'cookie:', 'form:', 'file:' with a name, or 'body:' with a JSON Pointer ('*' matches any run of characters)";
    match text.split_once(':') {
        None if matches!(text, "path" | "request" | "body" | "*") => None,
        Some(("query" | "header" | "cookie" | "form" | "file", name)) if !name.is_empty() => None,
        Some(("body", pointer)) if pointer.starts_with('/') || pointer == "*" => None,
        _ => Some(format!("target '{text}' names nothing: use {KINDS}")),
    }
}

fn parse_selector(value: &Value, path: &str, errors: &mut Errors) -> Option<Selector> {
    match value {
        Value::Number(n) => {
            let id = n.as_u64().and_then(|n| u32::try_from(n).ok());
            match id.filter(|id| rules::find(*id).is_some()) {
                Some(id) => Some(Selector::Id(id)),
                None => {
                    errors.push(path, format!("{n} is not a built-in rule's id"));
                    None
                }
            }
        }
        Value::String(s) => {
            if let Some(class) = Class::parse(s) {
                return Some(Selector::Class(class));
            }
            if let Some(id) = s
                .parse::<u32>()
                .ok()
                .filter(|id| rules::find(*id).is_some())
            {
                return Some(Selector::Id(id));
            }
            Some(Selector::Custom(s.clone()))
        }
        _ => {
            errors.push(
                path,
                "a rule is a built-in rule's id, a class name or a custom rule's id",
            );
            None
        }
    }
}

fn parse_rule(value: &Value, path: &str, errors: &mut Errors) -> Option<CustomRule> {
    let mut object = Object::read(value, path, errors)?;
    let id = object.required("id", errors).and_then(|(v, p)| {
        let id = string(v, &p, errors)?;
        if id.is_empty() || id.parse::<u32>().is_ok() || Class::parse(id).is_some() {
            errors.push(
                &p,
                "a custom rule's id is a name that is neither a number nor a class name",
            );
            return None;
        }
        Some(id.to_string())
    });
    let target = object
        .required("target", errors)
        .and_then(|(v, p)| parse_target(string(v, &p, errors)?, &p, errors));
    let operator_name = object
        .required("operator", errors)
        .and_then(|(v, p)| string(v, &p, errors).map(|s| (s.to_string(), p)));
    let value_given = object.optional("value");
    let operator =
        operator_name.and_then(|(name, p)| parse_operator(&name, &p, value_given, path, errors));
    let negate = object.boolean_or("negate", false, errors);
    let score = object.maybe_integer("score", (1, 1000), errors);
    let action = object.maybe_string("action", errors);
    let effect = match (score, action) {
        (Some(Some(score)), Some(None)) => u32::try_from(score).ok().map(Effect::Score),
        (Some(None), Some(Some(action))) => match action.as_str() {
            "block" => Some(Effect::Block),
            "allow" => Some(Effect::Allow),
            other => {
                errors.push(
                    &crate::reader::key_path(path, "action"),
                    format!("action '{other}' is neither 'block' nor 'allow'"),
                );
                None
            }
        },
        (Some(Some(_)), Some(Some(_))) => {
            errors.push(path, "give 'score' or 'action', not both");
            None
        }
        (Some(None), Some(None)) => {
            errors.push(
                path,
                "give 'score' (added to the anomaly score) or 'action' ('block' or 'allow')",
            );
            None
        }
        _ => None,
    };
    object.finish(errors);
    Some(CustomRule {
        id: id?,
        target: target?,
        operator: operator?,
        negate: negate?,
        effect: effect?,
    })
}

fn parse_target(text: &str, path: &str, errors: &mut Errors) -> Option<Target> {
    let target = match text.split_once(':') {
        None => match text {
            "path" => Some(Target::Path),
            "method" => Some(Target::Method),
            "ip" => Some(Target::Ip),
            "body" => Some(Target::Body),
            _ => None,
        },
        Some(("query", name)) if !name.is_empty() => Some(Target::Query(name.to_string())),
        Some(("header", name)) if !name.is_empty() => {
            Some(Target::Header(name.to_ascii_lowercase()))
        }
        Some(("cookie", name)) if !name.is_empty() => Some(Target::Cookie(name.to_string())),
        Some(("cf", dotted)) if !dotted.is_empty() && dotted.split('.').all(|k| !k.is_empty()) => {
            Some(Target::Cf(dotted.split('.').map(str::to_string).collect()))
        }
        _ => None,
    };
    if target.is_none() {
        errors.push(
            path,
            format!("target '{text}' is not one of 'path', 'method', 'ip', 'body', 'query:NAME', 'header:NAME', 'cookie:NAME' ('*' for any) or 'cf:dotted.path'"),
        );
    }
    target
}

fn parse_operator(
    name: &str,
    path: &str,
    value: Option<(&Value, String)>,
    rule_path: &str,
    errors: &mut Errors,
) -> Option<Operator> {
    let missing = |errors: &mut Errors| {
        errors.push(
            &crate::reader::key_path(rule_path, "value"),
            format!("operator '{name}' needs a 'value'"),
        );
    };
    let text = |errors: &mut Errors| -> Option<String> {
        match &value {
            Some((v, p)) => string(v, p, errors).map(str::to_ascii_lowercase),
            None => {
                missing(errors);
                None
            }
        }
    };
    let list = |errors: &mut Errors| -> Option<Vec<String>> {
        match &value {
            Some((Value::String(s), _)) => Some(vec![s.clone()]),
            Some((v, p)) => strings(v, p, errors),
            None => {
                missing(errors);
                None
            }
        }
    };
    match name {
        "equals" => text(errors).map(Operator::Equals),
        "contains" => text(errors).map(Operator::Contains),
        "prefix" => text(errors).map(Operator::Prefix),
        "suffix" => text(errors).map(Operator::Suffix),
        "in" => list(errors).map(Operator::In),
        "regex" => {
            let (v, p) = value.or_else(|| {
                missing(errors);
                None
            })?;
            let pattern = string(v, &p, errors)?;
            match regex_lite::Regex::new(pattern) {
                Ok(re) => Some(Operator::Regex(re)),
                Err(e) => {
                    errors.push(&p, format!("not a regular expression: {e}"));
                    None
                }
            }
        }
        "cidr" => {
            let ranges = list(errors)?;
            let (_, p) = value?;
            let parsed: Result<Vec<Cidr>, String> = ranges.iter().map(|r| Cidr::parse(r)).collect();
            parsed
                .map(Operator::Cidr)
                .map_err(|m| errors.push(&p, m))
                .ok()
        }
        "lt" | "gt" => {
            let (v, p) = value.or_else(|| {
                missing(errors);
                None
            })?;
            match v.as_f64() {
                Some(n) if name == "lt" => Some(Operator::Less(n)),
                Some(n) => Some(Operator::Greater(n)),
                None => {
                    errors.push(&p, format!("operator '{name}' compares with a number"));
                    None
                }
            }
        }
        "exists" => {
            if let Some((_, p)) = value {
                errors.push(&p, "operator 'exists' takes no 'value'");
                return None;
            }
            Some(Operator::Exists)
        }
        other => {
            errors.push(
                path,
                format!("operator '{other}' is not one of equals, contains, prefix, suffix, in, regex, cidr, lt, gt, exists"),
            );
            None
        }
    }
}
