//! Route configuration: the file format, its validation, and the compiled form requests use.
//!
//! A document goes `text → JSON → model (validated) → Gateway (compiled)` once per change; every
//! request then reads the same [`Gateway`] until a newer document replaces it.

pub mod aggregate;
pub mod auth;
pub mod cache;
pub mod loader;
pub mod model;
pub mod openapi;
pub mod parse;
pub mod rate_limits;
pub mod reader;
pub mod resilience;
pub mod security;
pub mod versions;

use std::collections::BTreeMap;

pub use reader::ConfigError;

use crate::rate_limit::policy::Policy;
use crate::routing::RouteTable;
use model::Service;
use reader::Errors;

/// A compiled configuration, ready to route requests.
#[derive(Debug)]
pub struct Gateway {
    pub services: BTreeMap<String, Service>,
    pub rate_limits: BTreeMap<String, Policy>,
    pub plans: BTreeMap<String, Vec<String>>,
    pub auth: crate::auth::AuthSettings,
    pub routes: RouteTable,
    pub openapi: openapi::OpenApiSettings,
    /// Content hash of the document this was compiled from, reported in logs.
    pub version: String,
}

impl Gateway {
    /// The policies for a request: the route's own, then its caller's plan's (the plan
    /// `default` for authenticated callers without one). Each policy once.
    pub fn policies_for(
        &self,
        route: &model::Route,
        principal: Option<&crate::auth::authenticate::Principal>,
    ) -> Vec<&Policy> {
        let plan = principal.and_then(|p| {
            let name = p.plan.as_deref().unwrap_or("default");
            self.plans.get(name).or_else(|| self.plans.get("default"))
        });
        let mut names: Vec<&String> = route.rate_limits.iter().collect();
        for name in plan.into_iter().flatten() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
            .iter()
            .filter_map(|n| self.rate_limits.get(*n))
            .collect()
    }
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
    let config = parse::parse(&document, &mut errors);
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
        plans: config.plans,
        auth: config.auth,
        routes,
        openapi: config.openapi,
        version: versions::version_of(text),
    })
}

/// A short, stable, cheap hash (FNV-1a, 64 bits) of a text; not a document version (see
/// [`versions::version_of`]).
pub fn fingerprint(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests;
