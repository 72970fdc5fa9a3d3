//! A route's `policies`, as written in the route document.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::call::{Call, OnError, Target};
use super::limits::{MAX_BODY_BYTES, MAX_CALL_MS};
use super::mock::Mock;
use super::pointer::Pointer;
use super::schema::Schema;
use super::transform::{Changes, Field, Input, Op, Template, Transform};
use super::validate::{BodyRule, Param, Validation};
use super::{spec, Kind, Policy};
use crate::condition::config::parse_condition;
use crate::http::{is_hop_by_hop, is_managed, is_token, is_valid_value};
use crate::reader::{array, index_path, key_path, string, unique_name, Errors, Object};

/// Most policies on one route.
pub const MAX_POLICIES: usize = 32;
const KINDS: [&str; 5] = ["worker", "http", "transform", "validate", "mock"];

/// Reads a route's `policies`; `specs` are the document's OpenAPI documents.
pub fn parse_policies(
    value: &Value,
    path: &str,
    route: &str,
    specs: &BTreeMap<String, Value>,
    errors: &mut Errors,
) -> Option<Vec<Policy>> {
    let items = array(value, path, errors)?;
    if items.len() > MAX_POLICIES {
        errors.push(path, format!("must hold at most {MAX_POLICIES} policies"));
    }
    let mut names = BTreeSet::new();
    let mut policies = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let at = index_path(path, i);
        unique_name(item, &at, &mut names, "policy", errors);
        match parse_policy(item, &at, route, specs, errors) {
            Some(policy) => policies.push(policy),
            None => ok = false,
        }
    }
    ok.then_some(policies)
}

fn parse_policy(
    value: &Value,
    path: &str,
    route: &str,
    specs: &BTreeMap<String, Value>,
    errors: &mut Errors,
) -> Option<Policy> {
    let mut object = Object::read(value, path, errors)?;
    let name = object
        .required("name", errors)
        .and_then(|(v, p)| crate::reader::name(v, &p, errors));
    let salt = format!("{route}/{}", name.as_deref().unwrap_or(""));
    let when = object.maybe("when", errors, |v, p, errors| {
        parse_condition(v, p, &salt, errors)
    });
    let present: Vec<&str> = KINDS
        .into_iter()
        .filter(|k| value.get(*k).is_some())
        .collect();
    let mut kind = None;
    for key in KINDS {
        if let Some((v, p)) = object.optional(key) {
            kind = match key {
                "worker" => parse_call(v, &p, true, errors).map(Kind::Worker),
                "http" => parse_call(v, &p, false, errors).map(Kind::Http),
                "transform" => parse_transform(v, &p, errors).map(Kind::Transform),
                "validate" => parse_validation(v, &p, specs, errors).map(Kind::Validate),
                _ => parse_mock(v, &p, specs, errors).map(Kind::Mock),
            };
        }
    }
    if present.len() != 1 {
        errors.push(
            path,
            format!(
                "must have exactly one of {} (has {})",
                KINDS.join(", "),
                present.len()
            ),
        );
    }
    object.finish(errors);
    (present.len() == 1).then_some(())?;
    Some(Policy {
        name: name?,
        when: when?,
        kind: kind?,
    })
}

fn parse_call(value: &Value, path: &str, bound: bool, errors: &mut Errors) -> Option<Call> {
    let mut object = Object::read(value, path, errors)?;
    let target = if bound {
        object.required("binding", errors).and_then(|(v, p)| {
            let name = string(v, &p, errors)?;
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if valid {
                Some(Target::Binding(name.to_string()))
            } else {
                errors.push(&p, "must be the name of a service binding in wrangler.toml (letters, digits and '_')");
                None
            }
        })
    } else {
        object.required("url", errors).and_then(|(v, p)| {
            let text = string(v, &p, errors)?;
            match url::Url::parse(text) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                    Some(Target::Url(text.to_string()))
                }
                _ => {
                    errors.push(&p, "must be an absolute http or https URL");
                    None
                }
            }
        })
    };
    let timeout_ms = object.integer_or("timeout_ms", (1, MAX_CALL_MS), 1_000, errors);
    let on_error = object.or(
        "on_error",
        OnError::Deny,
        errors,
        |v, p, errors| match string(v, p, errors)? {
            "deny" => Some(OnError::Deny),
            "allow" => Some(OnError::Allow),
            _ => {
                errors.push(p, "must be 'deny' or 'allow'");
                None
            }
        },
    );
    let body_bytes = object.maybe_integer("body_bytes", (1, MAX_BODY_BYTES), errors);
    let response_phase = object.boolean_or("response", false, errors);
    let cache_seconds = if bound {
        Some(0)
    } else {
        object.integer_or("cache_seconds", (0, 300), 0, errors)
    };
    object.finish(errors);
    Some(Call {
        target: target?,
        timeout_ms: timeout_ms?,
        on_error: on_error?,
        body_bytes: body_bytes?,
        response_phase: response_phase?,
        cache_seconds: cache_seconds?,
    })
}

fn parse_transform(value: &Value, path: &str, errors: &mut Errors) -> Option<Transform> {
    let mut object = Object::read(value, path, errors)?;
    let request = object.or("request", Changes::default(), errors, |v, p, e| {
        parse_changes(v, p, true, e)
    });
    let response = object.or("response", Changes::default(), errors, |v, p, e| {
        parse_changes(v, p, false, e)
    });
    object.finish(errors);
    let transform = Transform {
        request: request?,
        response: response?,
    };
    if transform.request.is_empty() && transform.response.is_empty() {
        errors.push(
            path,
            "changes nothing: give 'request' or 'response' changes",
        );
        return None;
    }
    Some(transform)
}

fn parse_changes(value: &Value, path: &str, request: bool, errors: &mut Errors) -> Option<Changes> {
    let mut object = Object::read(value, path, errors)?;
    let mut changes = Changes::default();
    let mut ok = true;
    if let Some((v, p)) = object.optional("headers") {
        match parse_edits(v, &p, true, errors) {
            Some((remove, set)) => (changes.remove_headers, changes.set_headers) = (remove, set),
            None => ok = false,
        }
    }
    if request {
        if let Some((v, p)) = object.optional("query") {
            match parse_edits(v, &p, false, errors) {
                Some((remove, set)) => (changes.remove_query, changes.set_query) = (remove, set),
                None => ok = false,
            }
        }
    }
    if let Some((v, p)) = object.optional("body") {
        let items = array(v, &p, errors).unwrap_or_default();
        for (i, item) in items.iter().enumerate() {
            match parse_op(item, &index_path(&p, i), errors) {
                Some(op) => changes.body.push(op),
                None => ok = false,
            }
        }
    }
    object.finish(errors);
    ok.then_some(changes)
}

/// Names to remove, and names with the templates of their new values.
type Edits = (Vec<String>, Vec<(String, Template)>);

/// `{"set": {name: template}, "remove": [name]}` for headers (`headers`) or the query.
fn parse_edits(value: &Value, path: &str, headers: bool, errors: &mut Errors) -> Option<Edits> {
    let mut object = Object::read(value, path, errors)?;
    let mut ok = true;
    let mut set = Vec::new();
    let remove = object
        .strings_or_empty("remove", errors)
        .unwrap_or_else(|| {
            ok = false;
            Vec::new()
        });
    let remove: Vec<String> = remove
        .into_iter()
        .map(|n| if headers { n.to_ascii_lowercase() } else { n })
        .collect();
    if let Some((v, p)) = object.optional("set") {
        let Some(map) = v.as_object() else {
            errors.push(&p, "expected an object mapping names to values");
            return None;
        };
        for (name, template) in map {
            let at = key_path(&p, name);
            let lower = name.to_ascii_lowercase();
            if headers && (!is_token(&lower) || is_hop_by_hop(&lower) || is_managed(&lower)) {
                errors.push(&at, format!("'{name}' is not a header a policy may set"));
                ok = false;
                continue;
            }
            match string(template, &at, errors).map(Template::parse) {
                Some(Ok(t)) if !headers || t.0.iter().all(|piece| !matches!(piece, super::transform::Piece::Text(s) if !is_valid_value(s))) => {
                    set.push((if headers { lower } else { name.clone() }, t))
                }
                Some(Ok(_)) => {
                    errors.push(&at, "header values must be printable text without line breaks");
                    ok = false;
                }
                Some(Err(why)) => {
                    errors.push(&at, why);
                    ok = false;
                }
                None => ok = false,
            }
        }
    }
    if headers {
        for (i, name) in remove.iter().enumerate() {
            if !is_token(name) || is_managed(name) {
                errors.push(
                    &index_path(&key_path(path, "remove"), i),
                    format!("'{name}' is not a header a policy may remove"),
                );
                ok = false;
            }
        }
    }
    object.finish(errors);
    ok.then_some((remove, set))
}

fn parse_op(value: &Value, path: &str, errors: &mut Errors) -> Option<Op> {
    let mut object = Object::read(value, path, errors)?;
    let pointer = |object: &mut Object<'_>, key: &'static str, errors: &mut Errors| {
        object.required(key, errors).and_then(|(v, p)| {
            let text = string(v, &p, errors)?;
            Pointer::parse(text)
                .map_err(|why| errors.push(&p, why))
                .ok()
        })
    };
    let op_name = object
        .required("op", errors)
        .and_then(|(v, p)| string(v, &p, errors).map(|s| (s, p)));
    let op = match op_name {
        Some(("set", _)) => {
            let at = pointer(&mut object, "path", errors);
            let literal = object
                .optional("value")
                .map(|(v, _)| Input::Literal(v.clone()));
            let from = object.optional("value_from").and_then(|(v, p)| {
                let text = string(v, &p, errors)?;
                Field::parse(text)
                    .map(Input::From)
                    .map_err(|why| errors.push(&p, why))
                    .ok()
            });
            match (literal, from, value.get("value_from").is_some()) {
                (Some(input), None, false) | (None, Some(input), true) => {
                    at.map(|at| Op::Set(at, input))
                }
                (None, None, false) => {
                    errors.push(path, "a 'set' needs 'value' or 'value_from'");
                    None
                }
                _ => {
                    if value.get("value").is_some() && value.get("value_from").is_some() {
                        errors.push(path, "give 'value' or 'value_from', not both");
                    }
                    None
                }
            }
        }
        Some(("remove", _)) => pointer(&mut object, "path", errors).map(Op::Remove),
        Some(("move" | "copy", _)) => {
            let from = pointer(&mut object, "from", errors);
            let to = pointer(&mut object, "path", errors);
            let copy = value.get("op").and_then(Value::as_str) == Some("copy");
            match (from, to) {
                (Some(from), Some(to)) if copy => Some(Op::Copy { from, to }),
                (Some(from), Some(to)) => Some(Op::Move { from, to }),
                _ => None,
            }
        }
        Some(("rename", _)) => {
            let at = pointer(&mut object, "path", errors);
            let to = object
                .required("to", errors)
                .and_then(|(v, p)| string(v, &p, errors).map(str::to_string));
            match (at, to) {
                (Some(at), _) if at.is_root() => {
                    errors.push(
                        &key_path(path, "path"),
                        "the whole body has no name to change",
                    );
                    None
                }
                (Some(path), Some(to)) => Some(Op::Rename { path, to }),
                _ => None,
            }
        }
        Some(("wrap", _)) => pointer(&mut object, "path", errors).and_then(|at| {
            if at.is_root() {
                errors.push(
                    &key_path(path, "path"),
                    "wrapping needs a member to put the body in, such as '/data'",
                );
                None
            } else {
                Some(Op::Wrap(at))
            }
        }),
        Some(("unwrap", _)) => pointer(&mut object, "path", errors).map(Op::Unwrap),
        Some((other, p)) => {
            errors.push(
                &p,
                format!(
                    "unknown operation '{other}' (set, remove, move, copy, rename, wrap, unwrap)"
                ),
            );
            None
        }
        None => None,
    };
    object.finish(errors);
    op
}

fn parse_validation(
    value: &Value,
    path: &str,
    specs: &BTreeMap<String, Value>,
    errors: &mut Errors,
) -> Option<Validation> {
    let mut object = Object::read(value, path, errors)?;
    let max_body_bytes =
        object.integer_or("max_body_bytes", (1, MAX_BODY_BYTES), 1024 * 1024, errors)?;
    let operation = parse_operation(&mut object, specs, errors);
    let inline = ["params", "query", "headers", "body"]
        .iter()
        .any(|k| value.get(*k).is_some());
    let mut validation = Validation {
        max_body_bytes,
        ..Validation::default()
    };
    let mut ok = true;
    for (key, location) in [("params", 0), ("query", 1), ("headers", 2)] {
        if let Some((v, p)) = object.optional(key) {
            match parse_params(v, &p, location == 2, errors) {
                Some(params) => match location {
                    0 => validation.params = params,
                    1 => validation.query = params,
                    _ => validation.headers = params,
                },
                None => ok = false,
            }
        }
    }
    let body_required = object.boolean_or("body_required", true, errors);
    if let Some((v, p)) = object.optional("body") {
        match Schema::compile(v, "", &p, errors) {
            Some(schema) => {
                validation.body = Some(BodyRule {
                    schema,
                    required: body_required.unwrap_or(true),
                })
            }
            None => ok = false,
        }
    }
    object.finish(errors);
    match operation {
        Some(Some((spec, id, at))) => {
            if inline {
                errors.push(
                    path,
                    "takes its schemas from 'spec' and 'operation', or inline, not both",
                );
                return None;
            }
            let op = spec::find(spec, &id)?;
            op.validation(&at, max_body_bytes, errors)
        }
        Some(None) if !inline => {
            errors.push(path, "checks nothing: give 'params', 'query', 'headers', 'body', or 'spec' and 'operation'");
            None
        }
        Some(None) => ok.then_some(validation),
        None => None,
    }
}

/// `spec` and `operation`, both or neither; `None` when wrong (reported).
fn parse_operation<'s>(
    object: &mut Object<'_>,
    specs: &'s BTreeMap<String, Value>,
    errors: &mut Errors,
) -> Option<Option<(&'s Value, String, String)>> {
    let spec = object.optional("spec");
    let operation = object.optional("operation");
    match (spec, operation) {
        (None, None) => Some(None),
        (Some((s, sp)), Some((o, op))) => {
            let name = string(s, &sp, errors)?;
            let id = string(o, &op, errors)?;
            let Some(spec) = specs.get(name) else {
                let known: Vec<&str> = specs.keys().map(String::as_str).collect();
                errors.push(
                    &sp,
                    format!(
                        "unknown spec '{name}' (defined in 'specs': {})",
                        known.join(", ")
                    ),
                );
                return None;
            };
            if spec::find(spec, id).is_none() {
                errors.push(
                    &op,
                    format!("spec '{name}' has no operation with operationId '{id}'"),
                );
                return None;
            }
            Some(Some((spec, id.to_string(), op)))
        }
        (Some((_, p)), None) | (None, Some((_, p))) => {
            errors.push(&p, "'spec' and 'operation' go together");
            None
        }
    }
}

/// `{"properties": {name: schema}, "required": [name]}`: path parameters are always required.
fn parse_params(
    value: &Value,
    path: &str,
    headers: bool,
    errors: &mut Errors,
) -> Option<Vec<Param>> {
    let mut object = Object::read(value, path, errors)?;
    let required = object.strings_or_empty("required", errors)?;
    let properties = object.required("properties", errors);
    object.finish(errors);
    let (properties, at) = properties?;
    let Some(map) = properties.as_object() else {
        errors.push(&at, "expected an object mapping names to schemas");
        return None;
    };
    for name in &required {
        if !map.contains_key(name) {
            errors.push(
                &key_path(path, "required"),
                format!("names '{name}', which 'properties' does not"),
            );
        }
    }
    let is_path = path.ends_with(".params");
    let mut params = Vec::new();
    let mut ok = true;
    for (name, schema) in map {
        match Schema::compile(schema, "", &key_path(&at, name), errors) {
            Some(schema) => params.push(Param {
                name: if headers {
                    name.to_ascii_lowercase()
                } else {
                    name.clone()
                },
                required: is_path || required.contains(name),
                schema,
            }),
            None => ok = false,
        }
    }
    ok.then_some(params)
}

fn parse_mock(
    value: &Value,
    path: &str,
    specs: &BTreeMap<String, Value>,
    errors: &mut Errors,
) -> Option<Mock> {
    let mut object = Object::read(value, path, errors)?;
    let operation = parse_operation(&mut object, specs, errors);
    let status = object.maybe_integer("status", (200, 599), errors);
    let example = object.maybe_string("example", errors);
    let headers = object.optional("headers");
    let body = object.optional("body").map(|(v, _)| v.clone());
    object.finish(errors);
    let (status, example) = (status?.map(|s| s as u16), example?);
    let mut headers_out = Vec::new();
    if let Some((v, p)) = headers {
        headers_out = crate::upstream::config::parse_header_rules(
            &serde_json::json!({ "set": v }),
            &p,
            errors,
        )?
        .set;
    }
    let mut mock = match operation? {
        Some((spec, id, at)) => {
            if body.is_some() {
                errors.push(
                    path,
                    "answers from 'spec' and 'operation' or from 'body', not both",
                );
                return None;
            }
            let op = spec::find(spec, &id)?;
            match op.example(status, example.as_deref()) {
                Ok(mock) => mock,
                Err(why) => {
                    errors.push(&at, format!("operation '{id}' {why}"));
                    return None;
                }
            }
        }
        None => {
            let (content_type, bytes) = match body {
                None | Some(Value::Null) => (None, Vec::new()),
                Some(Value::String(text)) => (Some("text/plain; charset=utf-8"), text.into_bytes()),
                Some(other) => (Some("application/json"), other.to_string().into_bytes()),
            };
            Mock {
                status: status.unwrap_or(200),
                headers: content_type
                    .map(|t| vec![("content-type".to_string(), t.to_string())])
                    .unwrap_or_default(),
                body: bytes,
            }
        }
    };
    for (name, value) in headers_out {
        mock.headers.retain(|(n, _)| *n != name);
        mock.headers.push((name, value));
    }
    Some(mock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<Vec<Policy>, Vec<String>> {
        let specs = BTreeMap::new();
        let mut errors = Errors::default();
        let parsed = parse_policies(&value, "$.routes[0].policies", "r", &specs, &mut errors);
        let errors: Vec<String> = errors.into_vec().iter().map(ToString::to_string).collect();
        match parsed {
            Some(p) if errors.is_empty() => Ok(p),
            _ => Err(errors),
        }
    }

    #[test]
    fn each_kind_parses_with_its_defaults() {
        let policies = parse(json!([
            {"name": "ext", "worker": {"binding": "POLICY"}, "when": {"method": "POST"}},
            {"name": "auth", "http": {"url": "http://127.0.0.1:9/check", "cache_seconds": 5}},
            {"name": "shape", "transform": {"request": {"body": [{"op": "set", "path": "/owner", "value_from": "claim:sub"}]}}},
            {"name": "check", "validate": {"body": {"type": "object"}}},
            {"name": "demo", "mock": {"status": 201, "body": {"ok": true}}}
        ]))
        .unwrap();
        let Kind::Worker(call) = &policies[0].kind else {
            panic!()
        };
        assert_eq!(
            (call.timeout_ms, call.on_error, call.body_bytes),
            (1000, OnError::Deny, None)
        );
        assert!(policies[0].when.is_some());
        assert_eq!(policies[2].reads_body(), Some(MAX_BODY_BYTES));
        let Kind::Mock(mock) = &policies[4].kind else {
            panic!()
        };
        assert_eq!(
            mock.headers,
            vec![("content-type".to_string(), "application/json".to_string())]
        );
    }

    #[test]
    fn mistakes_are_reported_with_json_paths() {
        let errors = parse(json!([
            {"name": "a", "worker": {"binding": "bad-name", "timeout_ms": 0, "on_error": "maybe"}},
            {"name": "a", "transform": {"request": {"body": [{"op": "set", "path": "no-slash", "value": 1}, {"op": "jump", "path": "/x"}]}}},
            {"name": "c", "mock": {}, "validate": {}},
            {"name": "d", "transform": {"request": {"headers": {"set": {"host": "x"}}}}},
            {"name": "e", "validate": {"spec": "none", "operation": "x"}},
            {"name": "f", "http": {"url": "ftp://x"}, "typo": 1}
        ]))
        .unwrap_err();
        for want in [
            "$.routes[0].policies[0].worker.binding: must be the name of a service binding",
            "$.routes[0].policies[0].worker.timeout_ms:",
            "$.routes[0].policies[0].worker.on_error: must be 'deny' or 'allow'",
            "$.routes[0].policies[1].name: duplicate policy name 'a'",
            "$.routes[0].policies[1].transform.request.body[0].path: 'no-slash' is not a JSON Pointer",
            "$.routes[0].policies[1].transform.request.body[1].op: unknown operation 'jump'",
            "$.routes[0].policies[2]: must have exactly one of",
            "$.routes[0].policies[3].transform.request.headers.set.host: 'host' is not a header a policy may set",
            "$.routes[0].policies[4].validate.spec: unknown spec 'none'",
            "$.routes[0].policies[5].http.url: must be an absolute http or https URL",
            "$.routes[0].policies[5].typo: unknown key 'typo'",
        ] {
            assert!(errors.iter().any(|e| e.starts_with(want)), "{want} in {errors:#?}");
        }
    }
}
