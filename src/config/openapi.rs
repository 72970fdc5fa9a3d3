//! The `openapi` section: how the generated OpenAPI document describes the gateway, and the
//! public path it is served at (only `{ADMIN_PREFIX}/openapi.json` without one).

use serde_json::Value;

use crate::reader::{strings, Errors, Object};

/// What the document says about its OpenAPI description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenApiSettings {
    /// Public path serving the document to anyone (for example `/openapi.json`).
    pub path: Option<String>,
    /// `info.title` (default `API`).
    pub title: Option<String>,
    /// `info.version` (default: the configuration version).
    pub version: Option<String>,
    pub description: Option<String>,
    /// Base URLs clients call, for `servers`.
    pub servers: Vec<String>,
}

/// Reads `openapi`.
pub fn parse_openapi(value: &Value, path: &str, errors: &mut Errors) -> Option<OpenApiSettings> {
    let mut object = Object::read(value, path, errors)?;
    let served_at = object.maybe_string("path", errors);
    let title = object.maybe_string("title", errors);
    let version = object.maybe_string("version", errors);
    let description = object.maybe_string("description", errors);
    let served_at = served_at.and_then(|p| match p {
        Some(p) if !p.starts_with('/') || p.contains(['{', '}', '?', '#']) => {
            errors.push(
                &format!("{path}.path"),
                "must be a literal path starting with '/' (no parameters, query or fragment)",
            );
            None
        }
        p => Some(p),
    });
    let servers = object.or("servers", Vec::new(), errors, |v, p, errors| {
        let servers = strings(v, p, errors)?;
        if servers
            .iter()
            .all(|s| s.starts_with("https://") || s.starts_with("http://") || s.starts_with('/'))
        {
            Some(servers)
        } else {
            errors.push(p, "list base URLs (https://api.example.com) or paths (/v1)");
            None
        }
    });
    object.finish(errors);
    Some(OpenApiSettings {
        path: served_at?,
        title: title?,
        version: version?,
        description: description?,
        servers: servers?,
    })
}
