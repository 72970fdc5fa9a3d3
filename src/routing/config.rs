//! A route's matching settings in the document: `path`, `methods`, `host` and `versions`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::methods::{MethodSet, KNOWN_METHODS};
use super::pattern::{self, Part};
use super::versions::Versions;
use crate::http::is_token;
use crate::reader::{array, index_path, string, string_map, Errors, Object};

/// Reads a route's `path`: the pattern's text and its parts.
pub fn parse_path(value: &Value, path: &str, errors: &mut Errors) -> Option<(String, Vec<Part>)> {
    let text = string(value, path, errors)?;
    match pattern::parse(text) {
        Ok(parts) => Some((text.to_string(), parts)),
        Err(message) => {
            errors.push(path, format!("'{text}' {message}"));
            None
        }
    }
}

/// Reads a route's `methods`; `GET` brings `HEAD` with it.
pub fn parse_methods(value: &Value, path: &str, errors: &mut Errors) -> Option<MethodSet> {
    let items = array(value, path, errors)?;
    if items.is_empty() {
        errors.push(
            path,
            "must name at least one method (omit it to accept all)",
        );
        return None;
    }
    let mut set = MethodSet::empty();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let item_path = index_path(path, i);
        match string(item, &item_path, errors) {
            Some(method) if set.accepts(method) && method != "HEAD" => {
                errors.push(&item_path, format!("'{method}' is listed twice"));
                ok = false;
            }
            Some(method) if !set.insert(method) => {
                errors.push(
                    &item_path,
                    format!(
                        "unknown method '{method}' (use one of {})",
                        KNOWN_METHODS.join(", ")
                    ),
                );
                ok = false;
            }
            Some(_) => {}
            None => ok = false,
        }
    }
    ok.then_some(set)
}

/// Reads a route's `host`: a lower-case host name without scheme, port or path.
pub fn parse_host(value: &Value, path: &str, errors: &mut Errors) -> Option<String> {
    let host = string(value, path, errors)?;
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if host.len() <= 253 && host.split('.').all(valid_label) {
        Some(host.to_string())
    } else {
        errors.push(
            path,
            format!("'{host}' is not a lower-case host name (no scheme, port or path)"),
        );
        None
    }
}

/// Reads a route's `versions`: `{"header": "x-api-version", "services": {"2": "users-v2"}}`;
/// `services` are the names the document declares.
pub fn parse_versions(
    value: &Value,
    path: &str,
    services: &BTreeSet<String>,
    errors: &mut Errors,
) -> Option<Versions> {
    let mut object = Object::read(value, path, errors)?;
    let header = object.required("header", errors).and_then(|(v, p)| {
        let name = string(v, &p, errors)?;
        if is_token(name) {
            Some(name.to_ascii_lowercase())
        } else {
            errors.push(&p, format!("'{name}' is not a valid header name"));
            None
        }
    });
    let map = object.required("services", errors).and_then(|(v, p)| {
        let pairs = string_map(
            v,
            &p,
            "header values to service names",
            |version, service| {
                if services.contains(service) {
                    Ok((version.to_string(), service.to_string()))
                } else {
                    Err(format!(
                        "'{service}' is not a service defined in 'services'"
                    ))
                }
            },
            errors,
        )?;
        if pairs.is_empty() {
            errors.push(&p, "must map at least one header value to a service");
            return None;
        }
        Some(pairs)
    });
    object.finish(errors);
    Some(Versions {
        header: header?,
        services: map?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(errors: Errors) -> Vec<String> {
        errors.into_vec().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn methods_hosts_and_paths_are_checked() {
        let mut errors = Errors::default();
        let methods = parse_methods(&json!(["GET", "PUT"]), "$.m", &mut errors).expect("valid");
        assert!(methods.accepts("HEAD") && methods.accepts("PUT") && !methods.accepts("POST"));
        assert!(parse_methods(&json!(["GET", "GTE"]), "$.m", &mut errors).is_none());
        assert!(parse_methods(&json!(["PUT", "PUT"]), "$.m", &mut errors).is_none());
        assert!(parse_methods(&json!([]), "$.m", &mut errors).is_none());
        assert!(parse_host(&json!("api.example.com"), "$.h", &mut errors).is_some());
        assert!(parse_host(&json!("API.example.com:8080"), "$.h", &mut errors).is_none());
        assert!(parse_path(&json!("/x/{id"), "$.p", &mut errors).is_none());
        let found = messages(errors);
        assert_eq!(found.len(), 5, "{found:?}");
        assert!(found[0].starts_with("$.m[1]: unknown method 'GTE'"));
        assert!(found[1].starts_with("$.m[1]: 'PUT' is listed twice"));
        assert!(found[4].starts_with("$.p: '/x/{id'"));
    }

    #[test]
    fn versions_name_declared_services() {
        let services: BTreeSet<String> = ["s2".to_string()].into();
        let mut errors = Errors::default();
        let versions = parse_versions(
            &json!({"header": "X-API-Version", "services": {"2": "s2"}}),
            "$.v",
            &services,
            &mut errors,
        )
        .expect("valid");
        assert_eq!(versions.header, "x-api-version");
        assert!(parse_versions(
            &json!({"header": "v", "services": {"1": "nope"}}),
            "$.v",
            &services,
            &mut errors
        )
        .is_none());
        assert_eq!(
            messages(errors),
            ["$.v.services.1: 'nope' is not a service defined in 'services'"]
        );
    }
}
