//! A route's `aggregate` section: the backends it fans out to and how their answers compose.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::compose::{Compose, FieldRules};
use super::template::PathTemplate;
use super::{dependency_order, Aggregate, Backend, DEFAULT_TIMEOUT_MS, SUBREQUEST_BUDGET};
use crate::reader::{
    array, index_path, key_path, string, string_map, strings, unique_name, Errors, Object,
};
use crate::resilience::config::parse_fallback;
use crate::resilience::service::MAX_TIMEOUT_MS;

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
    let compose = object.or(
        "compose",
        Compose::Nest,
        errors,
        |v, p, errors| match string(v, p, errors)? {
            "merge" => Some(Compose::Merge),
            "nest" => Some(Compose::Nest),
            "array" => Some(Compose::Array),
            other => {
                errors.push(p, format!("'{other}' must be 'merge', 'nest' or 'array'"));
                None
            }
        },
    );
    let timeout_ms = object.integer_or(
        "timeout_ms",
        (1, MAX_TIMEOUT_MS),
        DEFAULT_TIMEOUT_MS,
        errors,
    );
    let report = object.boolean_or("report", false, errors);
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
        if !unique_name(item, &item_path, &mut seen, "backend", errors) {
            ok = false;
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
    let name = object
        .required("name", errors)
        .and_then(|(v, p)| crate::reader::name(v, &p, errors));
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
    let required = object.boolean_or("required", true, errors);
    let timeout_ms = object.maybe_integer("timeout_ms", (1, MAX_TIMEOUT_MS), errors);
    let fields = object.or("fields", FieldRules::default(), errors, parse_fields);
    let fallback = object.maybe("fallback", errors, |v, p, errors| {
        parse_fallback(v, p, errors).map(|f| f.body)
    });
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
    let field_paths = |v: &Value, p: &str, errors: &mut Errors| {
        let items = strings(v, p, errors)?;
        if items
            .iter()
            .any(|f| f.is_empty() || f.split('.').any(str::is_empty))
        {
            errors.push(p, "field paths are dotted names without empty parts");
            return None;
        }
        Some(items)
    };
    let allow = object.or("allow", Vec::new(), errors, field_paths);
    let deny = object.or("deny", Vec::new(), errors, field_paths);
    let rename = object.or("rename", Vec::new(), errors, |v, p, errors| {
        string_map(
            v,
            p,
            "field names to new names",
            |from, to| {
                if from.is_empty() || to.is_empty() {
                    Err("must map a field name to a non-empty new name".into())
                } else {
                    Ok((from.to_string(), to.to_string()))
                }
            },
            errors,
        )
    });
    object.finish(errors);
    Some(FieldRules {
        allow: allow?,
        deny: deny?,
        rename: rename?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(aggregate: Value, params: &[&str], retries: usize) -> (Option<Aggregate>, String) {
        let services: BTreeSet<String> = ["orders".to_string(), "users".to_string()].into();
        let calls: BTreeMap<String, usize> = services
            .iter()
            .map(|name| (name.clone(), 1 + retries))
            .collect();
        let scope = Scope {
            params,
            services: &services,
            calls: &calls,
            other_subrequests: 0,
        };
        let mut errors = Errors::default();
        let parsed = parse_aggregate(&aggregate, "$.routes[0].aggregate", &scope, &mut errors);
        let messages: Vec<String> = errors.into_vec().iter().map(ToString::to_string).collect();
        (parsed, messages.join("\n"))
    }

    #[test]
    fn a_valid_fan_out_compiles_with_its_dependencies() {
        let (aggregate, errors) = parse(
            json!({"compose": "merge", "backends": [
                {"name": "customer", "service": "users", "path": "/users/{order.user_id}", "required": false},
                {"name": "order", "service": "orders", "path": "/orders/{id}?x={query.x}",
                 "fields": {"allow": ["id", "user_id"], "deny": [], "rename": {"id": "order_id"}}}
            ]}),
            &["id"],
            0,
        );
        assert_eq!(errors, "");
        let aggregate = aggregate.expect("valid");
        assert_eq!(aggregate.compose, Compose::Merge);
        assert_eq!(aggregate.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(aggregate.backends[0].depends_on, vec![1]);
        assert!(!aggregate.backends[0].required && aggregate.backends[1].required);
        assert!(aggregate.backends[1].depends_on.is_empty());
        assert_eq!(
            aggregate.backends[1].fields.rename,
            [("id".to_string(), "order_id".to_string())]
        );
    }

    #[test]
    fn cycles_unknown_references_and_duplicates_are_errors() {
        let (_, cyclic) = parse(
            json!({"backends": [
                {"name": "a", "service": "users", "path": "/a/{b.id}"},
                {"name": "b", "service": "users", "path": "/b/{a.id}"}
            ]}),
            &[],
            0,
        );
        assert!(
            cyclic.contains(
                "$.routes[0].aggregate.backends: backends depend on each other in a cycle: a, b"
            ),
            "{cyclic}"
        );
        let (_, unknown) = parse(
            json!({"backends": [
                {"name": "a", "service": "nope", "path": "/a/{zzz.id}/{idd}"},
                {"name": "a", "service": "users", "path": "/a/{a.id}"}
            ]}),
            &["id"],
            0,
        );
        for expected in [
            "backends[0].service: unknown service 'nope'",
            "refers to backend 'zzz'",
            "'{idd}' is neither a parameter",
            "backends[1].name: duplicate backend name 'a'",
        ] {
            assert!(unknown.contains(expected), "{expected} in {unknown}");
        }
        let (_, bad) = parse(json!({"compose": "zip", "backends": []}), &[], 0);
        assert!(
            bad.contains("'zip' must be 'merge', 'nest' or 'array'"),
            "{bad}"
        );
        assert!(bad.contains("must list at least one backend"), "{bad}");
    }

    #[test]
    fn fan_outs_that_cannot_fit_the_subrequest_budget_are_refused() {
        let backends = |n: usize| -> Vec<Value> {
            (0..n)
                .map(|i| json!({"name": format!("b{i}"), "service": "users", "path": "/x"}))
                .collect()
        };
        let (_, found) = parse(json!({"backends": backends(51)}), &[], 0);
        assert!(
            found.contains(
                "51 backend calls (retries included) plus 0 other subrequests exceed the 50"
            ),
            "{found}"
        );
        let (_, found) = parse(json!({"backends": backends(11)}), &[], 4);
        assert!(
            found.contains("55 backend calls (retries included)"),
            "{found}"
        );
        let (fits, found) = parse(json!({"backends": backends(50)}), &[], 0);
        assert!(fits.is_some(), "{found}");
    }
}
