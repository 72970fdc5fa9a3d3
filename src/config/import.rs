//! `gateway-config import-openapi`: an OpenAPI 3.0/3.1 document turned into a route document
//! the user edits and pushes. Each operation becomes a route (path, method), checked against
//! the operation by a `validate` policy; its security becomes the route's `auth`; with
//! `mock`, its examples answer through a `mock` policy until the service exists.

use serde_json::{json, Map, Value};

use crate::policy::spec::operations;

/// What the import is told besides the document.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Name of the one service every route goes to (default `api`).
    pub service: Option<String>,
    /// Its upstream (default: the document's first server, else a placeholder).
    pub upstream: Option<String>,
    /// Answer from the operations' examples.
    pub mock: bool,
}

/// Placeholder upstream when neither the options nor the document name one.
pub const PLACEHOLDER_UPSTREAM: &str = "https://service.example.com";

/// The route document, and notes on what the user must still fill in.
pub fn import(spec: &Value, options: &ImportOptions) -> Result<(Value, Vec<String>), String> {
    let version = spec.get("openapi").and_then(Value::as_str).unwrap_or("");
    if !version.starts_with("3.") {
        return Err("not an OpenAPI 3.0 or 3.1 document (no 'openapi: 3.x')".into());
    }
    let mut spec = spec.clone();
    let mut notes = Vec::new();
    let service = options.service.clone().unwrap_or_else(|| "api".into());
    let server = spec
        .pointer("/servers/0/url")
        .and_then(Value::as_str)
        .filter(|url| url.starts_with("http://") || url.starts_with("https://"));
    let upstream = match (&options.upstream, server) {
        (Some(url), _) => url.clone(),
        (None, Some(url)) => url.to_string(),
        (None, None) => {
            notes.push(format!(
                "services.{service}.upstreams: the document names no absolute server; replace {PLACEHOLDER_UPSTREAM}"
            ));
            PLACEHOLDER_UPSTREAM.to_string()
        }
    };
    let schemes = spec
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let global_security = spec.get("security").cloned();
    let mut names: Vec<String> = Vec::new();
    let mut routes = Vec::new();
    let mut wants_issuer = false;
    let mut api_key_header: Option<String> = None;
    let listed: Vec<Listed> = operations(&spec)
        .into_iter()
        .map(|(template, method, op)| Listed {
            id: op
                .value
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_string),
            security: op
                .value
                .get("security")
                .cloned()
                .or_else(|| global_security.clone()),
            has_example: op.example(None, None).is_ok(),
            template,
            method,
            pointer: op.pointer,
        })
        .collect();
    for listed in listed {
        let Listed {
            template,
            method,
            pointer,
            security,
            has_example,
            ..
        } = listed;
        let id = match listed.id {
            Some(id) => id,
            None => {
                let id = format!(
                    "{}{}",
                    method.to_ascii_lowercase(),
                    template.replace(['/', '{', '}'], "_")
                );
                if let Some(op) = spec.pointer_mut(&pointer).and_then(Value::as_object_mut) {
                    op.insert("operationId".into(), Value::String(id.clone()));
                }
                id
            }
        };
        let name = unique(route_name(&id), &mut names);
        let mut policies =
            vec![json!({"name": "openapi", "validate": {"spec": "api", "operation": id}})];
        if options.mock && has_example {
            policies.push(json!({"name": "example", "mock": {"spec": "api", "operation": id}}));
        }
        let mut route = json!({
            "name": name,
            "methods": [method],
            "path": template,
            "service": service,
            "policies": policies,
        });
        if let Some(requirements) = security {
            if let Some(auth) = route_auth(
                &requirements,
                &schemes,
                &mut wants_issuer,
                &mut api_key_header,
            ) {
                route["auth"] = auth;
            }
        }
        routes.push(route);
    }
    if routes.is_empty() {
        notes.push("the document has no operations: no routes were made".into());
    }
    let mut auth = Map::new();
    if wants_issuer {
        notes.push(
            "auth.issuers.main: the document's bearer, OAuth2 or OpenID Connect schemes need your token issuer: replace issuer, audiences and jwks_url".into(),
        );
        auth.insert(
            "issuers".into(),
            json!({"main": {
                "issuer": "https://issuer.example.com/",
                "audiences": ["api"],
                "algorithms": ["RS256"],
                "jwks_url": "https://issuer.example.com/.well-known/jwks.json"
            }}),
        );
    }
    if let Some(header) = api_key_header {
        auth.insert("api_keys".into(), json!({ "header": header }));
    }
    let mut document = json!({
        "$schema": "./gateway.schema.json",
        "version": 1,
        "services": { service: {"upstreams": [upstream]} },
        "specs": {"api": spec},
        "routes": routes,
    });
    if !auth.is_empty() {
        document["auth"] = Value::Object(auth);
    }
    Ok((document, notes))
}

/// One operation of the document, as the import reads it.
struct Listed {
    id: Option<String>,
    security: Option<Value>,
    has_example: bool,
    template: String,
    method: String,
    pointer: String,
}

/// The route's `auth` for the operation's security requirements (alternatives).
fn route_auth(
    requirements: &Value,
    schemes: &Map<String, Value>,
    wants_issuer: &mut bool,
    api_key_header: &mut Option<String>,
) -> Option<Value> {
    let alternatives = requirements.as_array()?;
    if alternatives.is_empty() {
        return None;
    }
    let mut kinds: Vec<&str> = Vec::new();
    let mut optional = false;
    let mut scopes: Vec<String> = Vec::new();
    for alternative in alternatives {
        let Some(map) = alternative.as_object() else {
            continue;
        };
        if map.is_empty() {
            optional = true;
        }
        for (scheme, wanted) in map {
            let definition = schemes.get(scheme);
            let kind = definition
                .and_then(|d| d.get("type"))
                .and_then(Value::as_str);
            let bearer = definition
                .and_then(|d| d.get("scheme"))
                .and_then(Value::as_str);
            match (kind, bearer) {
                (Some("http"), Some(s)) if s.eq_ignore_ascii_case("bearer") => kinds.push("jwt"),
                (Some("oauth2" | "openIdConnect"), _) => kinds.push("jwt"),
                (Some("apiKey"), _)
                    if definition.and_then(|d| d.get("in")) == Some(&json!("header")) =>
                {
                    let name = definition
                        .and_then(|d| d.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or("x-api-key");
                    api_key_header.get_or_insert_with(|| name.to_ascii_lowercase());
                    kinds.push("api_key");
                }
                _ => continue,
            }
            scopes.extend(
                wanted
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string),
            );
        }
    }
    kinds.sort_unstable();
    kinds.dedup();
    if kinds.is_empty() {
        return None;
    }
    *wants_issuer |= kinds.contains(&"jwt");
    let mut auth = json!({
        "mode": if optional { "optional" } else { "required" },
        "schemes": kinds,
    });
    scopes.sort();
    scopes.dedup();
    if !scopes.is_empty() {
        auth["scopes"] = json!({ "all_of": scopes });
    }
    Some(auth)
}

/// A route name from an operation id: lower case, `-` for anything else, at most 64.
fn route_name(id: &str) -> String {
    let mut name = String::new();
    for c in id.chars() {
        if c.is_ascii_uppercase() && !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
        let c = c.to_ascii_lowercase();
        name.push(if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '-'
        });
    }
    let name: String = name.trim_matches(['-', '_']).chars().take(64).collect();
    if name.is_empty() {
        "operation".into()
    } else {
        name
    }
}

fn unique(name: String, taken: &mut Vec<String>) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        let suffix = format!("-{n}");
        candidate = format!("{}{suffix}", &name[..name.len().min(64 - suffix.len())]);
        n += 1;
    }
    taken.push(candidate.clone());
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_become_routes_with_validation_auth_and_mocks_that_validate() {
        let spec = json!({
            "openapi": "3.0.3",
            "servers": [{"url": "https://pets.internal/v1"}],
            "security": [{"bearer": ["pets:read"]}],
            "components": {"securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
            }},
            "paths": {
                "/pets": {
                    "get": {"operationId": "listPets", "security": [], "responses": {"200": {"description": "ok",
                        "content": {"application/json": {"example": [{"id": 1}]}}}}},
                    "post": {"security": [{"key": []}, {}], "responses": {"201": {"description": "made"}},
                        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}
                },
                "/pets/{petId}": {"get": {"operationId": "getPet", "responses": {"200": {"description": "ok"}}}}
            }
        });
        let options = ImportOptions {
            mock: true,
            ..ImportOptions::default()
        };
        let (document, notes) = import(&spec, &options).unwrap();
        let routes = document["routes"].as_array().unwrap();
        let names: Vec<&str> = routes.iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["list-pets", "post_pets", "get-pet"]);
        assert_eq!(routes[0]["policies"][1]["mock"]["operation"], "listPets");
        assert!(
            routes[0].get("auth").is_none(),
            "security: [] opens the operation"
        );
        assert_eq!(
            routes[1]["auth"],
            json!({"mode": "optional", "schemes": ["api_key"]})
        );
        assert_eq!(
            routes[2]["auth"]["scopes"],
            json!({"all_of": ["pets:read"]})
        );
        assert_eq!(document["auth"]["api_keys"]["header"], "x-api-key");
        assert_eq!(
            document["services"]["api"]["upstreams"][0],
            "https://pets.internal/v1"
        );
        assert_eq!(notes.len(), 1, "{notes:?}");
        let compiled = crate::config::compile(&document.to_string());
        assert!(compiled.is_ok(), "{:?}", compiled.err());
        assert!(import(&json!({"swagger": "2.0"}), &options).is_err());
    }
}
