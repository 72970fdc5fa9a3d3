//! Reads a route document into [`GatewayConfig`], collecting every problem with its JSON path.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::aggregate::{parse_aggregate, Scope};
use super::auth::{parse_route_auth, parse_settings};
use super::cache::parse_route_cache;
use super::model::{Destination, GatewayConfig, HeaderRules, Rewrite, Route, Service, Upstream};
use super::openapi::parse_openapi;
use super::rate_limits::{parse_plans, parse_policies, parse_route_policies};
use super::reader::{array, boolean, index_path, integer_in, key_path, string, Errors, Object};
use super::resilience::{
    parse_breaker, parse_fallback, parse_retry, parse_sticky, parse_upstream_entry, parse_versions,
};
use super::security::parse_security;
use crate::resilience::retry::RetrySettings;
use crate::routing::methods::{MethodSet, KNOWN_METHODS};
use crate::routing::pattern::{self, Template};
use crate::security::SecurityPolicy;
use crate::upstream::headers::{is_hop_by_hop, is_managed, is_token, is_valid_value};

/// The only document format version this gateway reads.
pub const FORMAT_VERSION: u64 = 1;
/// Service timeout when `timeout_ms` is absent.
pub const DEFAULT_TIMEOUT_MS: u64 = 15_000;
/// Largest accepted `timeout_ms`: five minutes.
pub const MAX_TIMEOUT_MS: u64 = 300_000;
/// Most upstream URLs one service may list.
pub const MAX_UPSTREAMS: usize = 32;
/// Most routes one document may hold.
pub const MAX_ROUTES: usize = 2_000;

/// Reads a parsed document. What is valid is returned even when `errors` is not empty, so that
/// later checks (route conflicts) can still report their problems in the same pass.
pub fn parse(document: &Value, errors: &mut Errors) -> GatewayConfig {
    let Some(mut root) = Object::read(document, "$", errors) else {
        return GatewayConfig {
            services: BTreeMap::new(),
            rate_limits: BTreeMap::new(),
            plans: BTreeMap::new(),
            auth: crate::auth::AuthSettings::default(),
            routes: Vec::new(),
            openapi: Default::default(),
        };
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
    let declared: BTreeSet<String> = match services_value {
        Some((Value::Object(map), _)) => map.keys().cloned().collect(),
        _ => BTreeSet::new(),
    };
    let services = services_value
        .map(|(value, path)| parse_services(value, &path, errors))
        .unwrap_or_default();
    let policies_value = root.optional("rate_limits");
    let declared_policies: BTreeSet<String> = match policies_value {
        Some((Value::Object(map), _)) => map.keys().cloned().collect(),
        _ => BTreeSet::new(),
    };
    let rate_limits = policies_value
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
    let declared_issuers: BTreeSet<String> = root_issuer_names(document).unwrap_or_default();
    // Worst-case calls per request to each service (its retries included), for the budget.
    let calls: BTreeMap<String, usize> = services
        .iter()
        .map(|(name, service)| (name.clone(), 1 + service.retry.attempts as usize))
        .collect();
    let openapi = root
        .optional("openapi")
        .and_then(|(value, path)| parse_openapi(value, &path, errors))
        .unwrap_or_default();
    let security = root
        .optional("security")
        .and_then(|(value, path)| parse_security(value, &path, &SecurityPolicy::default(), errors))
        .unwrap_or_default();
    let declared = Declared {
        security: &security,
        services: &declared,
        calls: &calls,
        policies: &declared_policies,
        issuers: &declared_issuers,
    };
    let routes = root
        .required("routes", errors)
        .map(|(value, path)| parse_routes(value, &path, &declared, errors))
        .unwrap_or_default();
    root.finish(errors);
    GatewayConfig {
        services,
        rate_limits,
        plans,
        auth,
        routes,
        openapi,
    }
}

/// Names under `auth.issuers`, valid or not, for routes to refer to.
fn root_issuer_names(document: &Value) -> Option<BTreeSet<String>> {
    let issuers = document.get("auth")?.get("issuers")?.as_object()?;
    Some(issuers.keys().cloned().collect())
}

/// Names a route may refer to, declared elsewhere in the document.
struct Declared<'a> {
    /// The document's `security`, which routes inherit.
    security: &'a SecurityPolicy,
    services: &'a BTreeSet<String>,
    /// Service name → subrequests one call may make (1 + retries).
    calls: &'a BTreeMap<String, usize>,
    policies: &'a BTreeSet<String>,
    issuers: &'a BTreeSet<String>,
}

fn parse_services(value: &Value, path: &str, errors: &mut Errors) -> BTreeMap<String, Service> {
    let mut services = BTreeMap::new();
    let Value::Object(map) = value else {
        errors.push(path, "expected an object mapping service names to services");
        return services;
    };
    for (name, service) in map {
        let service_path = key_path(path, name);
        if !is_valid_name(name) {
            errors.push(&service_path, name_rule());
        }
        if let Some(service) = parse_service(name, service, &service_path, errors) {
            services.insert(name.clone(), service);
        }
    }
    services
}

fn parse_service(name: &str, value: &Value, path: &str, errors: &mut Errors) -> Option<Service> {
    let mut object = Object::read(value, path, errors)?;
    let upstreams = object
        .required("upstreams", errors)
        .and_then(|(value, path)| parse_upstreams(value, &path, errors));
    let timeout_ms = match object.optional("timeout_ms") {
        Some((value, path)) => integer_in(value, &path, 1, MAX_TIMEOUT_MS, errors),
        None => Some(DEFAULT_TIMEOUT_MS),
    };
    let retry = match object.optional("retry") {
        Some((value, path)) => parse_retry(value, &path, errors),
        None => Some(RetrySettings::default()),
    };
    let breaker = match object.optional("circuit_breaker") {
        Some((value, path)) => parse_breaker(value, &path, errors).map(Some),
        None => Some(None),
    };
    let sticky = match object.optional("sticky") {
        Some((value, path)) => parse_sticky(value, &path, errors).map(Some),
        None => Some(None),
    };
    object.finish(errors);
    Some(Service {
        name: name.to_string(),
        upstreams: upstreams?,
        timeout_ms: timeout_ms?,
        retry: retry?,
        breaker: breaker?,
        sticky: sticky?,
    })
}

fn parse_upstreams(value: &Value, path: &str, errors: &mut Errors) -> Option<Vec<Upstream>> {
    let items = array(value, path, errors)?;
    if items.is_empty() || items.len() > MAX_UPSTREAMS {
        errors.push(
            path,
            format!("must list between 1 and {MAX_UPSTREAMS} URLs"),
        );
        return None;
    }
    let parsed: Vec<Option<Upstream>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_upstream_entry(item, &index_path(path, i), errors))
        .collect();
    let upstreams: Vec<Upstream> = parsed.into_iter().collect::<Option<_>>()?;
    if upstreams.iter().all(|u| u.weight == 0) {
        errors.push(path, "at least one upstream needs a weight above 0");
        return None;
    }
    Some(upstreams)
}

/// Checks one upstream base URL: absolute http(s), an ASCII host, no credentials, query or
/// fragment. Internationalised host names are accepted only in their Punycode form: the build
/// leaves out the Unicode tables that converting them would need (see BENCHMARKS.md).
pub fn parse_upstream_url(text: &str) -> Result<Upstream, String> {
    if !text.is_ascii() {
        return Err(format!(
            "'{text}' must be ASCII; write an internationalised host name in its Punycode \
             form (xn--...) and percent-encode the path"
        ));
    }
    let url = url::Url::parse(text).map_err(|e| format!("'{text}' is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("'{text}' must use http or https"));
    }
    let Some(host) = url.host_str() else {
        return Err(format!("'{text}' has no host"));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "'{text}' must not carry credentials; set a header instead"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("'{text}' must not have a query or fragment"));
    }
    let origin = match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    };
    Ok(Upstream {
        origin,
        base_path: url.path().trim_end_matches('/').to_string(),
        weight: 1,
    })
}

fn parse_routes(
    value: &Value,
    path: &str,
    declared: &Declared<'_>,
    errors: &mut Errors,
) -> Vec<Route> {
    let Some(items) = array(value, path, errors) else {
        return Vec::new();
    };
    if items.len() > MAX_ROUTES {
        errors.push(path, format!("must hold at most {MAX_ROUTES} routes"));
    }
    let mut routes: Vec<Route> = Vec::new();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let route_path = index_path(path, i);
        if let Some(name) = item.get("name").and_then(Value::as_str) {
            if let Some(first) = names.insert(name, i) {
                errors.push(
                    &key_path(&route_path, "name"),
                    format!("duplicate route name '{name}' (first used at {path}[{first}])"),
                );
            }
        }
        if let Some(route) = parse_route(i, item, &route_path, declared, errors) {
            routes.push(route);
        }
    }
    routes
}

fn parse_route(
    position: usize,
    value: &Value,
    path: &str,
    declared: &Declared<'_>,
    errors: &mut Errors,
) -> Option<Route> {
    let mut object = Object::read(value, path, errors)?;
    let name = object.required("name", errors).and_then(|(value, path)| {
        let name = string(value, &path, errors)?;
        if is_valid_name(name) {
            Some(name.to_string())
        } else {
            errors.push(&path, name_rule());
            None
        }
    });
    let pattern = object.required("path", errors).and_then(|(value, path)| {
        let text = string(value, &path, errors)?;
        match pattern::parse(text) {
            Ok(parts) => Some((text.to_string(), parts)),
            Err(message) => {
                errors.push(&path, format!("'{text}' {message}"));
                None
            }
        }
    });
    let mut methods = match object.optional("methods") {
        Some((value, path)) => parse_methods(value, &path, errors),
        None => Some(MethodSet::all()),
    };
    let host = match object.optional("host") {
        Some((value, path)) => parse_host(value, &path, errors).map(Some),
        None => Some(None),
    };
    let service_field = object.optional("service");
    let has_service = service_field.is_some();
    let service = service_field.and_then(|(value, path)| {
        let name = string(value, &path, errors)?;
        if declared.services.contains(name) {
            Some(name.to_string())
        } else {
            let known: Vec<&str> = declared.services.iter().map(String::as_str).collect();
            errors.push(
                &path,
                format!("unknown service '{name}' (defined: {})", known.join(", ")),
            );
            None
        }
    });
    let rewrite = parse_rewrite(
        &mut object,
        pattern.as_ref().map(|(_, parts)| parts.as_slice()),
        errors,
    );
    let request_headers = object
        .optional("request_headers")
        .map(|(value, path)| parse_header_rules(value, &path, errors))
        .unwrap_or(Some(HeaderRules::default()));
    let response_headers = object
        .optional("response_headers")
        .map(|(value, path)| parse_header_rules(value, &path, errors))
        .unwrap_or(Some(HeaderRules::default()));
    let rate_limits = match object.optional("rate_limits") {
        Some((value, path)) => parse_route_policies(value, &path, declared.policies, errors),
        None => Some(Vec::new()),
    };
    let auth = match object.optional("auth") {
        Some((value, path)) => parse_route_auth(value, &path, declared.issuers, errors).map(Some),
        None => Some(None),
    };
    let cache = match object.optional("cache") {
        Some((value, path)) => parse_route_cache(value, &path, errors),
        None => Some(None),
    };
    let params: Vec<&str> = pattern
        .as_ref()
        .map(|(_, parts)| pattern::param_names(parts).collect())
        .unwrap_or_default();
    // Worst case besides the backends: one limiter call per policy, one key-set fetch.
    let other_subrequests =
        object_len(value, "rate_limits") + usize::from(value.get("auth").is_some());
    let aggregate = object.optional("aggregate").map(|(value, path)| {
        let scope = Scope {
            params: &params,
            services: declared.services,
            calls: declared.calls,
            other_subrequests,
        };
        parse_aggregate(value, &path, &scope, errors)
    });
    let destination = match (has_service, aggregate) {
        (true, None) => service.map(Destination::Service),
        (false, Some(aggregate)) => {
            check_aggregate_route(value, path, methods.as_ref(), errors);
            if value.get("methods").is_none() {
                let mut reads = MethodSet::empty();
                reads.insert("GET");
                methods = Some(reads);
            }
            aggregate.map(Destination::Aggregate)
        }
        (true, Some(_)) => {
            errors.push(path, "has both 'service' and 'aggregate': name one");
            None
        }
        (false, None) => {
            errors.push(
                &key_path(path, "service"),
                "is required (or 'aggregate' for a fan-out)",
            );
            None
        }
    };
    let timeout_ms = match object.optional("timeout_ms") {
        Some((value, path)) => integer_in(value, &path, 1, MAX_TIMEOUT_MS, errors).map(Some),
        None => Some(None),
    };
    let security = match object.optional("security") {
        Some((value, path)) => parse_security(value, &path, declared.security, errors),
        None => Some(declared.security.clone()),
    };
    let fallback = match object.optional("fallback") {
        Some((value, path)) => parse_fallback(value, &path, errors).map(Some),
        None => Some(None),
    };
    let versions = match object.optional("versions") {
        Some((value, path)) => parse_versions(value, &path, declared.services, errors).map(Some),
        None => Some(None),
    };
    let websocket = match object.optional("websocket") {
        Some((value, field)) => {
            let allowed = boolean(value, &field, errors);
            if allowed == Some(true) && !methods.as_ref().is_some_and(|m| m.accepts("GET")) {
                errors.push(
                    &field,
                    "a WebSocket handshake is a GET: the route must accept GET",
                );
            }
            allowed
        }
        None => Some(false),
    };
    object.finish(errors);
    let (path, _) = pattern?;
    Some(Route {
        position,
        name: name?,
        methods: methods?,
        path,
        host: host?,
        destination: destination?,
        rewrite: rewrite?,
        request_headers: request_headers?,
        response_headers: response_headers?,
        rate_limits: rate_limits?,
        auth: auth?,
        cache: cache?,
        timeout_ms: timeout_ms?,
        fallback: fallback?,
        versions: versions?,
        security: security?,
        websocket: websocket?,
    })
}

fn parse_methods(value: &Value, path: &str, errors: &mut Errors) -> Option<MethodSet> {
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

fn parse_host(value: &Value, path: &str, errors: &mut Errors) -> Option<String> {
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

fn parse_rewrite(
    object: &mut Object<'_>,
    route_parts: Option<&[pattern::Part]>,
    errors: &mut Errors,
) -> Option<Rewrite> {
    let template = object.optional("upstream_path");
    let strip = object.optional("strip_prefix");
    match (template, strip) {
        (Some(_), Some((_, path))) => {
            errors.push(&path, "cannot be combined with 'upstream_path'");
            None
        }
        (Some((value, path)), None) => {
            let text = string(value, &path, errors)?;
            // Without a valid route path there is nothing to check the template against.
            let parts = route_parts?;
            let available: Vec<&str> = pattern::param_names(parts).collect();
            match Template::compile(text, &available) {
                Ok(template) => Some(Rewrite::Template(template)),
                Err(message) => {
                    errors.push(&path, format!("'{text}' {message}"));
                    None
                }
            }
        }
        (None, Some((value, path))) => {
            let prefix = string(value, &path, errors)?;
            let parts = route_parts?;
            let literal = pattern::literal_prefix(parts);
            let ok = prefix.starts_with('/')
                && prefix.len() > 1
                && !prefix.ends_with('/')
                && literal.starts_with(prefix)
                && matches!(literal.as_bytes().get(prefix.len()), None | Some(b'/'));
            if ok {
                Some(Rewrite::StripPrefix(prefix.to_string()))
            } else {
                errors.push(
                    &path,
                    format!(
                        "'{prefix}' must be whole leading segments of the route path, \
                         starting with '/' and not ending with '/'"
                    ),
                );
                None
            }
        }
        (None, None) => Some(Rewrite::Keep),
    }
}

fn parse_header_rules(value: &Value, path: &str, errors: &mut Errors) -> Option<HeaderRules> {
    let mut object = Object::read(value, path, errors)?;
    let mut rules = HeaderRules::default();
    let mut ok = true;
    if let Some((value, set_path)) = object.optional("set") {
        match value {
            Value::Object(map) => {
                for (name, value) in map {
                    let entry_path = key_path(&set_path, name);
                    let lower = name.to_ascii_lowercase();
                    let Some(value) = string(value, &entry_path, errors) else {
                        ok = false;
                        continue;
                    };
                    if !is_token(&lower) {
                        errors.push(&entry_path, format!("'{name}' is not a valid header name"));
                        ok = false;
                    } else if is_hop_by_hop(&lower) || is_managed(&lower) {
                        errors.push(
                            &entry_path,
                            format!("'{name}' is managed by the gateway and cannot be set"),
                        );
                        ok = false;
                    } else if !is_valid_value(value) {
                        errors.push(
                            &entry_path,
                            "header values must be printable text without line breaks",
                        );
                        ok = false;
                    } else {
                        rules.set.push((lower, value.to_string()));
                    }
                }
            }
            _ => {
                errors.push(
                    &set_path,
                    "expected an object mapping header names to values",
                );
                ok = false;
            }
        }
    }
    if let Some((value, remove_path)) = object.optional("remove") {
        match array(value, &remove_path, errors) {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_path = index_path(&remove_path, i);
                    match string(item, &item_path, errors) {
                        Some(name) if is_token(name) => {
                            rules.remove.push(name.to_ascii_lowercase());
                        }
                        Some(name) => {
                            errors.push(&item_path, format!("'{name}' is not a valid header name"));
                            ok = false;
                        }
                        None => ok = false,
                    }
                }
            }
            None => ok = false,
        }
    }
    object.finish(errors);
    ok.then_some(rules)
}

/// Route and service names: short, lower case, safe in logs, metrics and URLs.
pub(super) fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

pub(super) fn name_rule() -> &'static str {
    "names must be 1-64 characters of lower-case letters, digits, '-' and '_', starting with a letter or digit"
}

fn object_len(route: &Value, key: &str) -> usize {
    route.get(key).and_then(Value::as_array).map_or(0, Vec::len)
}

/// An aggregate route reads (GET/HEAD only), builds each backend's path itself, and is not
/// cached (yet).
fn check_aggregate_route(
    route: &Value,
    path: &str,
    methods: Option<&MethodSet>,
    errors: &mut Errors,
) {
    for key in [
        "upstream_path",
        "strip_prefix",
        "cache",
        "versions",
        "timeout_ms",
        "websocket",
    ] {
        if route.get(key).is_some() {
            errors.push(&key_path(path, key), "does not apply to an aggregate route");
        }
    }
    if let Some(methods) = methods {
        if route.get("methods").is_some() && !methods.only_reads() {
            errors.push(
                &key_path(path, "methods"),
                "an aggregate route accepts only GET and HEAD",
            );
        }
    }
}
