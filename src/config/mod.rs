//! Route configuration: the document composed from every domain's part, compiled once per
//! change into the [`Gateway`] that requests read, and kept current from KV.
//!
//! A document goes `text → JSON → Document (validated) → Gateway (compiled)` once per change;
//! every request then reads the same [`Gateway`] until a newer document replaces it. Each
//! domain parses its own part (`auth/config.rs`, `cache/config.rs`, …); this module only
//! composes them: the top level ([`document`]), routes ([`route`]) and loading ([`loader`]);
//! stored versions are `changes::versions`.

pub mod document;
pub mod import;
pub mod loader;
pub mod openapi;
pub mod route;

use std::collections::BTreeMap;

use crate::auth::AuthSettings;
use crate::changes::config::ChangeSettings;
use crate::changes::versions::version_of;
use crate::observe::config::AccessLogPolicy;
use crate::rate_limit::config::RateLimits;
use crate::reader::{ConfigError, Errors};
use crate::resilience::service::Service;
use crate::routing::RouteTable;
use openapi::OpenApiSettings;
use route::Route;

/// A compiled configuration, ready to route requests.
#[derive(Debug)]
pub struct Gateway {
    pub services: BTreeMap<String, Service>,
    pub rate_limits: RateLimits,
    pub auth: AuthSettings,
    pub routes: RouteTable<Route>,
    pub openapi: OpenApiSettings,
    /// How requests are written to the access log (the `access_log` section).
    pub access_log: std::rc::Rc<AccessLogPolicy>,
    /// How versions are kept and candidates judged (the `changes` section).
    pub changes: ChangeSettings,
    /// Content hash of the document this was compiled from, reported in logs.
    pub version: String,
}

/// Validates and compiles a route document. On failure, returns every problem found.
pub fn compile(text: &str) -> Result<Gateway, Vec<ConfigError>> {
    let document: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        vec![ConfigError {
            path: "$".into(),
            message: format!("not valid JSON: {e}"),
        }]
    })?;
    let mut errors = Errors::default();
    let config = document::parse(&document, &mut errors);
    let routes = RouteTable::build(config.routes, &mut errors);
    // The public OpenAPI path is answered before routing: a route there would never be reached.
    if let Some(path) = &config.openapi.path {
        if let Ok(matched) = routes.resolve("GET", "", path) {
            errors.push(
                "$.openapi.path",
                format!(
                    "'{path}' is also matched by route '{}', which would never be reached",
                    matched.route.name
                ),
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors.into_vec());
    }
    Ok(Gateway {
        services: config.services,
        rate_limits: config.rate_limits,
        auth: config.auth,
        routes,
        openapi: config.openapi,
        changes: config.changes,
        access_log: std::rc::Rc::new(config.access_log),
        version: version_of(text),
    })
}

#[cfg(test)]
mod tests;
