//! A route's `aggregate` section: the backends it fans out to and how their answers compose.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::parse::{is_valid_name, name_rule};
use super::reader::{
    array, boolean, index_path, integer_in, key_path, string, string_map, strings, Errors, Object,
};
use super::resilience::parse_fallback;
use crate::aggregate::compose::{Compose, FieldRules};
use crate::aggregate::template::PathTemplate;
use crate::aggregate::{
    dependency_order, Aggregate, Backend, DEFAULT_TIMEOUT_MS, SUBREQUEST_BUDGET,
};

const MAX_TIMEOUT_MS: u64 = 300_000;

/// What an aggregate route's backends are checked against.
pub struct Scope<'a> {
    /// The route path's parameter names.
    pub params: &'a [&'a str],
    /// The declared services.
    pub services: &'a BTreeSet<String>,
    /// Service name → subrequests one call may make (1 + retries).
    pub calls: &'a BTreeMap<String, usize>,
    /// The route's worst-case subrequests besides the backends.
    pub other_subrequests: usize,
}

/// Reads `aggregate`.
pub fn parse_aggregate(
    value: &Value,
    path: &str,
    scope: &Scope<'_>,
    errors: &mut Errors,
) -> Option<Aggregate> {
    let mut object = Object::read(value, path, errors)?;
    let compose = match object.optional("compose") {
        Some((v, p)) => match string(v, &p, errors)? {
            "merge" => Some(Compose::Merge),
            "nest" => Some(Compose::Nest),
            "array" => Some(Compose::Array),
            other => {
                errors.push(&p, format!("'{other}' must be 'merge', 'nest' or 'array'"));
                None
            }
        },
        None => Some(Compose::Nest),
    };
    let timeout_ms = match object.optional("timeout_ms") {
        Some((v, p)) => integer_in(v, &p, 1, MAX_TIMEOUT_MS, errors),
        None => Some(DEFAULT_TIMEOUT_MS),
    };
    let report = match object.optional("report") {
        Some((v, p)) => boolean(v, &p, errors),
        None => Some(false),
    };
    let backends = object
        .required("backends", errors)
        .and_then(|(v, p)| parse_backends(v, &p, scope, errors));
    object.finish(errors);
    Some(Aggregate {
        compose: compose?,
        backends: backends?,
        timeout_ms: timeout_ms?,
        report: report?,
    })
}

fn parse_backends(
    value: &Value,
    path: &str,
    scope: &Scope<'_>,
    errors: &mut Errors,
) -> Option<Vec<Backend>> {
    let other_subrequests = scope.other_subrequests;
    let items = array(value, path, errors)?;
    if items.is_empty() {
        errors.push(path, "must list at least one backend");
        return None;
    }
    // Worst case: every backend makes all of its service's attempts.
    let backend_calls: usize = items
        .iter()
        .filter_map(|item| item.get("service").and_then(Value::as_str))
        .map(|service| scope.calls.get(service).copied().unwrap_or(1))
        .sum();
    if backend_calls + other_subrequests > SUBREQUEST_BUDGET {
        errors.push(
            path,
            format!(
                "{backend_calls} backend calls (retries included) plus {other_subrequests} other subrequests exceed the {SUBREQUEST_BUDGET} subrequests a request may make"
            ),
        );
    }
    let names: Vec<&str> = items
        .iter()
        .filter_map(|item| item.get("name").and_then(Value::as_str))
        .collect();
    let mut seen = BTreeSet::new();
    let mut backends = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let item_path = index_path(path, i);
        if let Some(name) = item.get("name").and_then(Value::as_str) {
            if !seen.insert(name) {
                errors.push(
                    &key_path(&item_path, "name"),
                    format!("duplicate backend name '{name}'"),
                );
                ok = false;
            }
        }
        match parse_backend(
            item,
            &item_path,
            scope.params,
            &names,
            scope.services,
            errors,
        ) {
            Some(backend) => backends.push(backend),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    // Dependencies by index, then reject cycles and self-references.
    let index_of = |name: &str| backends.iter().position(|b: &Backend| b.name == name);
    let deps: Vec<Vec<usize>> = backends
        .iter()
        .map(|b| b.path.dependencies().filter_map(index_of).collect())
        .collect();
    if let Err(cycle) = dependency_order(&deps) {
        let names: Vec<&str> = cycle.iter().map(|&i| backends[i].name.as_str()).collect();
        errors.push(
            path,
            format!(
                "backends depend on each other in a cycle: {}",
                names.join(", ")
            ),
        );
        return None;
    }
    for (backend, deps) in backends.iter_mut().zip(deps) {
        backend.depends_on = deps;
    }
    Some(backends)
}

fn parse_backend(
    value: &Value,
    path: &str,
    params: &[&str],
    backends: &[&str],
    services: &BTreeSet<String>,
    errors: &mut Errors,
) -> Option<Backend> {
    let mut object = Object::read(value, path, errors)?;
    let name = object.required("name", errors).and_then(|(v, p)| {
        let name = string(v, &p, errors)?;
        if is_valid_name(name) {
            Some(name.to_string())
        } else {
            errors.push(&p, name_rule());
            None
        }
    });
    let service = object.required("service", errors).and_then(|(v, p)| {
        let service = string(v, &p, errors)?;
        if services.contains(service) {
            Some(service.to_string())
        } else {
            errors.push(&p, format!("unknown service '{service}'"));
            None
        }
    });
    let template = object.required("path", errors).and_then(|(v, p)| {
        let text = string(v, &p, errors)?;
        match PathTemplate::parse(text, params, backends) {
            Ok(template) => Some(template),
            Err(problems) => {
                for problem in problems {
                    errors.push(&p, problem);
                }
                None
            }
        }
    });
    let required = match object.optional("required") {
        Some((v, p)) => boolean(v, &p, errors),
        None => Some(true),
    };
    let timeout_ms = match object.optional("timeout_ms") {
        Some((v, p)) => integer_in(v, &p, 1, MAX_TIMEOUT_MS, errors).map(Some),
        None => Some(None),
    };
    let fields = match object.optional("fields") {
        Some((v, p)) => parse_fields(v, &p, errors),
        None => Some(FieldRules::default()),
    };
    let fallback = match object.optional("fallback") {
        Some((v, p)) => parse_fallback(v, &p, errors).map(|f| Some(f.body)),
        None => Some(None),
    };
    object.finish(errors);
    let name = name?;
    let template = template?;
    if template.dependencies().any(|d| d == name) {
        errors.push(
            &key_path(path, "path"),
            "a backend cannot use its own response",
        );
        return None;
    }
    Some(Backend {
        name,
        service: service?,
        path: template,
        required: required?,
        timeout_ms: timeout_ms?,
        fields: fields?,
        fallback: fallback?,
        depends_on: Vec::new(),
    })
}

fn parse_fields(value: &Value, path: &str, errors: &mut Errors) -> Option<FieldRules> {
    let mut object = Object::read(value, path, errors)?;
    let list = |object: &mut Object<'_>, key: &'static str, errors: &mut Errors| match object
        .optional(key)
    {
        Some((v, p)) => strings(v, &p, errors).and_then(|items| {
            if items
                .iter()
                .any(|f| f.is_empty() || f.split('.').any(str::is_empty))
            {
                errors.push(&p, "field paths are dotted names without empty parts");
                return None;
            }
            Some(items)
        }),
        None => Some(Vec::new()),
    };
    let allow = list(&mut object, "allow", errors);
    let deny = list(&mut object, "deny", errors);
    let rename = match object.optional("rename") {
        Some((v, p)) => string_map(
            v,
            &p,
            "field names to new names",
            |from, to| {
                if from.is_empty() || to.is_empty() {
                    Err("must map a field name to a non-empty new name".into())
                } else {
                    Ok((from.to_string(), to.to_string()))
                }
            },
            errors,
        ),
        None => Some(Vec::new()),
    };
    object.finish(errors);
    Some(FieldRules {
        allow: allow?,
        deny: deny?,
        rename: rename?,
    })
}
