//! One route: what it takes and how its requests reach their service, composed of every
//! domain's part of a `routes[]` entry.

use std::collections::{BTreeMap, BTreeSet};

use std::rc::Rc;

use serde_json::Value;

use crate::aggregate::config::{parse_aggregate, Scope};
use crate::aggregate::Aggregate;
use crate::auth::config::parse_route_auth;
use crate::auth::RouteAuth;
use crate::cache::config::{parse_route_cache, CachePolicy};
use crate::condition::config::parse_condition;
use crate::condition::Condition;
use crate::firewall::config::parse_firewall;
use crate::firewall::settings::Firewall;
use crate::policy::config::parse_policies;
use crate::policy::Policy;
use crate::rate_limit::config::parse_route_policies;
use crate::reader::{index_path, key_path, string, Errors, Object};
use crate::resilience::config::parse_fallback;
use crate::resilience::fallback::Fallback;
use crate::resilience::service::MAX_TIMEOUT_MS;
use crate::routing::config::{parse_host, parse_methods, parse_path, parse_versions};
use crate::routing::methods::MethodSet;
use crate::routing::pattern;
use crate::routing::versions::Versions;
use crate::routing::Routable;
use crate::security::config::parse_security;
use crate::security::SecurityPolicy;
use crate::upstream::config::{parse_header_rules, parse_rewrite};
use crate::upstream::headers::HeaderRules;
use crate::upstream::target::Rewrite;

/// Most routes one document may hold.
pub const MAX_ROUTES: usize = 2_000;

/// One route: which requests it takes and how they reach their service.
#[derive(Debug, Clone)]
pub struct Route {
    /// Index in the document's `routes` array, for error paths.
    pub position: usize,
    pub name: String,
    /// Accepted methods; all known methods when the document names none.
    pub methods: MethodSet,
    /// The matchit pattern, for example `/users/{id}`.
    pub path: String,
    /// Only requests for this host (lower case, without port) match; any host when absent.
    pub host: Option<String>,
    /// Where requests go: one service, or a fan-out to several backends.
    pub destination: Destination,
    pub rewrite: Rewrite,
    pub request_headers: HeaderRules,
    pub response_headers: HeaderRules,
    /// Names of the rate-limit policies applied to this route, in document order.
    pub rate_limits: Vec<String>,
    /// Who may call this route; anyone when absent.
    pub auth: Option<RouteAuth>,
    /// How responses are cached; not at all when absent.
    pub cache: Option<CachePolicy>,
    /// Deadline for the whole request to the service, retries included (default: the
    /// service's `timeout_ms`).
    pub timeout_ms: Option<u64>,
    /// Answer used when the service fails or its circuit is open.
    pub fallback: Option<Fallback>,
    /// Version routing by request header.
    pub versions: Option<Versions>,
    /// CORS and IP rules: the route's own, or the document's.
    pub security: SecurityPolicy,
    /// WebSocket upgrades are passed through to the service (after authentication and rate
    /// limiting of the handshake).
    pub websocket: bool,
    /// The web application firewall: the route's own `firewall`, or the document's (none
    /// when neither names one, or the route says `false`).
    pub firewall: Option<Rc<Firewall>>,
    /// The route's policies, in order (none by default).
    pub policies: Vec<Policy>,
    /// Services chosen by condition before `service`: the first whose `when` holds.
    pub choices: Vec<(Condition, String)>,
}

/// Where a route's requests go.
#[derive(Debug, Clone)]
pub enum Destination {
    /// Proxied to one upstream of this service.
    Service(String),
    /// Fanned out to several backends whose answers are composed.
    Aggregate(Aggregate),
}

impl Routable for Route {
    fn name(&self) -> &str {
        &self.name
    }
    fn position(&self) -> usize {
        self.position
    }
    fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
    fn pattern(&self) -> &str {
        &self.path
    }
    fn methods(&self) -> MethodSet {
        self.methods
    }
}

/// Names a route may refer to, declared elsewhere in the document.
pub struct Declared<'a> {
    /// The document's `security`, which routes inherit.
    pub security: &'a SecurityPolicy,
    /// The document's `firewall`, which routes inherit unless they name their own.
    pub firewall: &'a Option<Rc<Firewall>>,
    pub services: &'a BTreeSet<String>,
    /// Service name → subrequests one call may make (1 + retries).
    pub calls: &'a BTreeMap<String, usize>,
    pub policies: &'a BTreeSet<String>,
    pub issuers: &'a BTreeSet<String>,
    /// Whether `auth.signatures` is there (routes may accept signed requests).
    pub signatures: bool,
    /// The names of `auth.sessions`.
    pub sessions: &'a BTreeSet<String>,
    /// The document's OpenAPI documents (`specs`), by name.
    pub specs: &'a BTreeMap<String, Value>,
}

/// Reads `routes`; duplicate names are errors.
pub fn parse_routes(
    value: &Value,
    path: &str,
    declared: &Declared<'_>,
    errors: &mut Errors,
) -> Vec<Route> {
    let Some(items) = crate::reader::array(value, path, errors) else {
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
    let name = object
        .required("name", errors)
        .and_then(|(v, p)| crate::reader::name(v, &p, errors));
    let pattern = object
        .required("path", errors)
        .and_then(|(value, path)| parse_path(value, &path, errors));
    let mut methods = object.or("methods", MethodSet::all(), errors, parse_methods);
    let host = object.maybe("host", errors, parse_host);
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
    let request_headers = object.or(
        "request_headers",
        HeaderRules::default(),
        errors,
        parse_header_rules,
    );
    let response_headers = object.or(
        "response_headers",
        HeaderRules::default(),
        errors,
        parse_header_rules,
    );
    let rate_limits = object.or("rate_limits", Vec::new(), errors, |v, p, errors| {
        parse_route_policies(v, p, declared.policies, errors)
    });
    let auth = object.maybe("auth", errors, |v, p, errors| {
        parse_route_auth(
            v,
            p,
            (declared.issuers, declared.signatures, declared.sessions),
            errors,
        )
    });
    let cache = object.or("cache", None, errors, parse_route_cache);
    let params: Vec<&str> = pattern
        .as_ref()
        .map(|(_, parts)| pattern::param_names(parts).collect())
        .unwrap_or_default();
    // Worst case besides the backends: one limiter call per policy, one key-set fetch.
    let other_subrequests =
        array_len(value, "rate_limits") + usize::from(value.get("auth").is_some());
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
            if let Some(fan_out) = &aggregate {
                let cache = cache.as_ref().and_then(Option::as_ref);
                check_aggregate_route(value, path, (methods.as_ref(), cache, fan_out), errors);
            }
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
    let timeout_ms = object.maybe_integer("timeout_ms", (1, MAX_TIMEOUT_MS), errors);
    let security = object.or(
        "security",
        declared.security.clone(),
        errors,
        |v, p, errors| parse_security(v, p, declared.security, errors),
    );
    let firewall = object.or(
        "firewall",
        declared.firewall.clone(),
        errors,
        |v, p, errors| parse_firewall(v, p, errors).map(|f| f.map(Rc::new)),
    );
    let fallback = object.maybe("fallback", errors, parse_fallback);
    let versions = object.maybe("versions", errors, |v, p, errors| {
        parse_versions(v, p, declared.services, errors)
    });
    let websocket = object.or("websocket", false, errors, |v, p, errors| {
        let allowed = crate::reader::boolean(v, p, errors);
        if allowed == Some(true) && !methods.as_ref().is_some_and(|m| m.accepts("GET")) {
            errors.push(
                p,
                "a WebSocket handshake is a GET: the route must accept GET",
            );
        }
        allowed
    });
    let route_name = name.as_deref().unwrap_or("");
    let policies = object.or("policies", Vec::new(), errors, |v, p, errors| {
        parse_policies(v, p, route_name, declared.specs, errors)
    });
    let choices = object.or("choose", Vec::new(), errors, |v, p, errors| {
        parse_choices(v, p, route_name, declared.services, errors)
    });
    if value.get("choose").is_some() && !has_service {
        errors.push(
            &key_path(path, "choose"),
            "chooses between services: the route needs a 'service' too",
        );
    }
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
        firewall: firewall?,
        websocket: websocket?,
        policies: policies?,
        choices: choices?,
    })
}

/// `choose`: `[{"when": {...}, "service": "name"}]`, tried in order.
fn parse_choices(
    value: &Value,
    path: &str,
    route: &str,
    services: &BTreeSet<String>,
    errors: &mut Errors,
) -> Option<Vec<(Condition, String)>> {
    let items = crate::reader::array(value, path, errors)?;
    let mut choices = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let at = index_path(path, i);
        let Some(mut object) = Object::read(item, &at, errors) else {
            ok = false;
            continue;
        };
        let salt = format!("{route}/choose/{i}");
        let when = object
            .required("when", errors)
            .and_then(|(v, p)| parse_condition(v, &p, &salt, errors));
        let service = object.required("service", errors).and_then(|(v, p)| {
            let name = string(v, &p, errors)?;
            if services.contains(name) {
                Some(name.to_string())
            } else {
                errors.push(&p, format!("unknown service '{name}'"));
                None
            }
        });
        object.finish(errors);
        match (when, service) {
            (Some(when), Some(service)) => choices.push((when, service)),
            _ => ok = false,
        }
    }
    ok.then_some(choices)
}

fn array_len(route: &Value, key: &str) -> usize {
    route.get(key).and_then(Value::as_array).map_or(0, Vec::len)
}

/// An aggregate route reads (GET/HEAD only) and builds each backend's path itself. When it is
/// cached, its key must cover every backend's inputs: a query parameter a backend path reads
/// cannot be one the key ignores.
fn check_aggregate_route(
    route: &Value,
    path: &str,
    (methods, cache, aggregate): (Option<&MethodSet>, Option<&CachePolicy>, &Aggregate),
    errors: &mut Errors,
) {
    for key in [
        "upstream_path",
        "strip_prefix",
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
    let Some(cache) = cache else { return };
    for backend in &aggregate.backends {
        for name in backend.path.query_names() {
            if crate::cache::key::ignores(&cache.ignore_query, name) {
                errors.push(
                    &key_path(&key_path(path, "cache"), "ignore_query"),
                    format!(
                        "ignores '{name}', which backend '{}' reads: answers for different \
                         values would share one entry",
                        backend.name
                    ),
                );
            }
        }
    }
}
