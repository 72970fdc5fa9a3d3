//! The route document's top level: each section read by the domain it belongs to, with every
//! problem collected under its JSON path.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::openapi::{parse_openapi, OpenApiSettings};
use super::route::{parse_routes, Declared, Route};
use crate::auth::config::parse_settings;
use crate::auth::AuthSettings;
use crate::changes::config::{parse_changes, ChangeSettings};
use crate::firewall::config::parse_firewall;
use crate::observe::config::{parse_access_log, AccessLogPolicy};
use crate::policy::spec::parse_specs;
use crate::rate_limit::config::{parse_plans, parse_policies, RateLimits};
use crate::reader::{Errors, Object};
use crate::resilience::config::parse_services;
use crate::resilience::service::Service;
use crate::security::config::parse_security;
use crate::security::SecurityPolicy;

/// The only document format version this gateway reads.
pub const FORMAT_VERSION: u64 = 1;

/// A whole route document after validation.
#[derive(Debug, Default)]
pub struct Document {
    pub services: BTreeMap<String, Service>,
    /// Rate-limit policies and plans; routes refer to them by name.
    pub rate_limits: RateLimits,
    /// Token issuers and API-key settings.
    pub auth: AuthSettings,
    pub routes: Vec<Route>,
    /// How the generated OpenAPI document describes the gateway.
    pub openapi: OpenApiSettings,
    /// Retention of versions and rollout thresholds.
    pub changes: ChangeSettings,
    /// Fields, headers and sampling of the access log.
    pub access_log: AccessLogPolicy,
}

/// Reads a parsed document. What is valid is returned even when `errors` is not empty, so that
/// later checks (route conflicts) can still report their problems in the same pass.
pub fn parse(document: &Value, errors: &mut Errors) -> Document {
    let Some(mut root) = Object::read(document, "$", errors) else {
        return Document::default();
    };
    // `$schema` only helps editors; accepting it keeps the documents self-describing.
    root.optional("$schema");
    if let Some((value, path)) = root.required("version", errors) {
        if value.as_u64() != Some(FORMAT_VERSION) {
            errors.push(&path, format!("must be {FORMAT_VERSION}"));
        }
    }
    let services_value = root.required("services", errors);
    // Routes may name any declared service, even one with errors of its own: those errors are
    // reported where the service is, not again at every route that uses it.
    let declared_services = keys_of(services_value.as_ref().map(|(value, _)| *value));
    let services = services_value
        .map(|(value, path)| parse_services(value, &path, errors))
        .unwrap_or_default();
    let policies_value = root.optional("rate_limits");
    let declared_policies = keys_of(policies_value.as_ref().map(|(value, _)| *value));
    let policies = policies_value
        .map(|(value, path)| parse_policies(value, &path, errors))
        .unwrap_or_default();
    let plans = root
        .optional("plans")
        .map(|(value, path)| parse_plans(value, &path, &declared_policies, errors))
        .unwrap_or_default();
    let auth = root
        .optional("auth")
        .map(|(value, path)| parse_settings(value, &path, errors))
        .unwrap_or_default();
    let declared_issuers = keys_of(document.get("auth").and_then(|a| a.get("issuers")));
    // Worst-case calls per request to each service (its retries included), for the budget.
    let calls: BTreeMap<String, usize> = services
        .iter()
        .map(|(name, service)| (name.clone(), 1 + service.retry.attempts as usize))
        .collect();
    let openapi = root
        .optional("openapi")
        .and_then(|(value, path)| parse_openapi(value, &path, errors))
        .unwrap_or_default();
    let access_log = root
        .optional("access_log")
        .map(|(value, path)| parse_access_log(value, &path, errors))
        .unwrap_or_default();
    let changes = root
        .optional("changes")
        .map(|(value, path)| parse_changes(value, &path, errors))
        .unwrap_or_default();
    let security = root
        .optional("security")
        .and_then(|(value, path)| parse_security(value, &path, &SecurityPolicy::default(), errors))
        .unwrap_or_default();
    let firewall = root
        .optional("firewall")
        .and_then(|(value, path)| parse_firewall(value, &path, errors))
        .flatten()
        .map(std::rc::Rc::new);
    let specs = root
        .optional("specs")
        .map(|(value, path)| parse_specs(value, &path, errors))
        .unwrap_or_default();
    let declared_sessions = keys_of(document.get("auth").and_then(|a| a.get("sessions")));
    let declared = Declared {
        security: &security,
        firewall: &firewall,
        services: &declared_services,
        calls: &calls,
        policies: &declared_policies,
        issuers: &declared_issuers,
        signatures: document
            .get("auth")
            .and_then(|a| a.get("signatures"))
            .is_some(),
        sessions: &declared_sessions,
        specs: &specs,
    };
    let routes = root
        .required("routes", errors)
        .map(|(value, path)| parse_routes(value, &path, &declared, errors))
        .unwrap_or_default();
    root.finish(errors);
    Document {
        services,
        rate_limits: RateLimits { policies, plans },
        auth,
        routes,
        openapi,
        changes,
        access_log,
    }
}

/// The names an object declares, valid or not, for other sections to refer to.
fn keys_of(value: Option<&Value>) -> BTreeSet<String> {
    match value {
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        _ => BTreeSet::new(),
    }
}
