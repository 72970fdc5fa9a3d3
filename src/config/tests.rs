//! Whole documents: what only the composition can check (names across sections, route
//! conflicts, the top level), and that every section reaches the compiled [`Gateway`]. Each
//! domain's own rules are tested beside its parser.

use serde_json::json;

use super::*;
use crate::error::GatewayError;
use crate::resilience::service::{Sticky, DEFAULT_TIMEOUT_MS};
use crate::upstream::target::Rewrite;

/// Every error of compiling `text`, one per line (empty when it is valid).
fn error_lines(text: &str) -> String {
    match compile(text) {
        Ok(_) => String::new(),
        Err(errors) => errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn valid() -> serde_json::Value {
    json!({
        "version": 1,
        "services": {
            "users": { "upstreams": ["http://127.0.0.1:9101/base/"], "timeout_ms": 2000 },
            "orders": { "upstreams": ["https://orders.internal", "https://orders-2.internal:8443"] }
        },
        "routes": [
            { "name": "user", "methods": ["GET"], "path": "/api/users/{id}", "service": "users",
              "upstream_path": "/v2/users/{id}" },
            { "name": "user-update", "methods": ["PUT", "PATCH"], "path": "/api/users/{id}", "service": "users" },
            { "name": "me", "methods": ["GET"], "path": "/api/users/me", "service": "users" },
            { "name": "orders", "path": "/api/orders/{*rest}", "service": "orders", "strip_prefix": "/api" },
            { "name": "orders-admin", "host": "admin.example.com", "path": "/api/orders/{*rest}", "service": "orders" }
        ]
    })
}

fn compile_value(value: &serde_json::Value) -> Result<Gateway, Vec<ConfigError>> {
    compile(&value.to_string())
}

fn errors_of(value: serde_json::Value) -> Vec<ConfigError> {
    match compile_value(&value) {
        Ok(_) => panic!("expected errors"),
        Err(errors) => errors,
    }
}

fn paths(errors: &[ConfigError]) -> Vec<&str> {
    errors.iter().map(|e| e.path.as_str()).collect()
}

#[test]
fn a_valid_document_compiles_with_defaults() {
    let gateway = compile_value(&valid()).expect("valid");
    assert_eq!(gateway.services["users"].timeout_ms, 2000);
    assert_eq!(gateway.services["orders"].timeout_ms, DEFAULT_TIMEOUT_MS);
    assert_eq!(
        gateway.services["users"].upstreams[0].origin,
        "http://127.0.0.1:9101"
    );
    assert_eq!(gateway.services["users"].upstreams[0].base_path, "/base");
    assert_eq!(
        gateway.services["orders"].upstreams[1].origin,
        "https://orders-2.internal:8443"
    );
    let orders = &gateway.routes.routes()[3];
    assert_eq!(orders.rewrite, Rewrite::StripPrefix("/api".into()));
}

#[test]
fn every_error_is_reported_with_its_path() {
    let errors = errors_of(json!({
        "version": 2,
        "services": {
            "users": { "upstreams": ["ftp://x", "not a url"], "timeout_ms": 0, "retries": 3 },
            "Bad Name": { "upstreams": [] }
        },
        "routes": [
            { "name": "a", "path": "users", "service": "users" },
            { "name": "a", "path": "/x/{id", "service": "nope", "methods": ["GET", "GTE"] },
            { "name": "c", "path": "/c/{id}", "service": "users", "upstream_path": "/c/{name}" },
            { "name": "d", "path": "/d", "service": "users", "strip_prefix": "/e" },
            { "name": "e", "path": "/e", "service": "users", "request_headers": { "set": { "connection": "close" } } }
        ],
        "extra": true
    }));
    let got = paths(&errors);
    for expected in [
        "$.version",
        "$.services.users.upstreams[0]",
        "$.services.users.upstreams[1]",
        "$.services.users.timeout_ms",
        "$.services.users.retries",
        "$.services[\"Bad Name\"]",
        "$.services[\"Bad Name\"].upstreams",
        "$.routes[0].path",
        "$.routes[1].name",
        "$.routes[1].path",
        "$.routes[1].service",
        "$.routes[1].methods[1]",
        "$.routes[2].upstream_path",
        "$.routes[3].strip_prefix",
        "$.routes[4].request_headers.set.connection",
        "$.extra",
    ] {
        assert!(got.contains(&expected), "missing {expected} in {got:?}");
    }
}

#[test]
fn syntax_errors_say_where() {
    let errors = compile("{\"version\": 1,,}").expect_err("invalid");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path, "$");
    assert!(errors[0].message.contains("line 1"));
}

#[test]
fn conflicting_paths_are_errors() {
    let mut doc = valid();
    doc["routes"]
        .as_array_mut()
        .expect("array")
        .push(json!({ "name": "clash", "path": "/api/users/{name}", "service": "users" }));
    let errors = errors_of(doc);
    assert_eq!(paths(&errors), ["$.routes[5].path"]);
    assert!(
        errors[0].message.contains("conflicts"),
        "{}",
        errors[0].message
    );
}

#[test]
fn same_path_with_overlapping_methods_is_an_error() {
    let mut doc = valid();
    doc["routes"]
        .as_array_mut()
        .expect("array")
        .push(json!({ "name": "dup", "methods": ["HEAD"], "path": "/api/users/{id}", "service": "users" }));
    let errors = errors_of(doc);
    assert_eq!(paths(&errors), ["$.routes[5].methods"]);
    assert!(errors[0].message.contains("'user'"));
}

#[test]
fn resolves_by_method_static_segments_and_host() {
    let gateway = compile_value(&valid()).expect("valid");
    let routes = &gateway.routes;
    let found = routes
        .resolve("GET", "example.com", "/api/users/42")
        .expect("match");
    assert_eq!(found.route.name, "user");
    assert_eq!(found.param("id"), Some("42"));
    assert_eq!(
        routes
            .resolve("HEAD", "example.com", "/api/users/42")
            .expect("match")
            .route
            .name,
        "user"
    );
    assert_eq!(
        routes
            .resolve("PATCH", "example.com", "/api/users/42")
            .expect("match")
            .route
            .name,
        "user-update"
    );
    assert_eq!(
        routes
            .resolve("GET", "example.com", "/api/users/me")
            .expect("match")
            .route
            .name,
        "me"
    );
    assert_eq!(
        routes
            .resolve("GET", "example.com", "/api/orders/1/items")
            .expect("match")
            .route
            .name,
        "orders"
    );
    let admin = routes
        .resolve("GET", "admin.example.com", "/api/orders/1")
        .expect("match");
    assert_eq!(admin.route.name, "orders-admin");
    assert_eq!(admin.param("rest"), Some("1"));
}

#[test]
fn wrong_method_lists_what_is_allowed() {
    let gateway = compile_value(&valid()).expect("valid");
    match gateway
        .routes
        .resolve("DELETE", "example.com", "/api/users/42")
    {
        Err(GatewayError::MethodNotAllowed { allow }) => {
            assert_eq!(allow, ["GET", "HEAD", "PUT", "PATCH"]);
        }
        other => panic!("expected 405, got {other:?}"),
    }
    assert!(matches!(
        gateway.routes.resolve("GET", "example.com", "/nothing"),
        Err(GatewayError::RouteNotFound)
    ));
}

mod aggregate {
    use super::super::compile;
    use crate::config::route::Destination;
    use serde_json::{json, Value};

    fn document(route: Value) -> String {
        json!({
            "version": 1,
            "services": {"orders": {"upstreams": ["http://127.0.0.1:9"]}, "users": {"upstreams": ["http://127.0.0.1:8"]}},
            "rate_limits": {"per-ip": {"quota": {"limit": 5, "window": "minute"}}},
            "auth": {"issuers": {"idp": {"issuer": "https://idp/", "audiences": ["api"],
                     "algorithms": ["HS256"], "keys": [{"kty": "oct", "k": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}}},
            "routes": [route]
        })
        .to_string()
    }

    fn errors(route: Value) -> String {
        super::error_lines(&document(route))
    }

    #[test]
    fn a_fan_out_route_reads_by_default() {
        let gateway = compile(&document(json!({
            "name": "view", "path": "/view/{id}",
            "aggregate": {"compose": "merge", "backends": [
                {"name": "customer", "service": "users", "path": "/users/{order.user_id}", "required": false},
                {"name": "order", "service": "orders", "path": "/orders/{id}"}
            ]}
        })))
        .expect("valid");
        let route = &gateway.routes.routes()[0];
        let Destination::Aggregate(aggregate) = &route.destination else {
            panic!("an aggregate route");
        };
        assert_eq!(aggregate.backends[0].depends_on, vec![1]);
        assert!(route.methods.accepts("GET") && route.methods.accepts("HEAD"));
        assert!(
            !route.methods.accepts("POST"),
            "aggregate routes default to reads"
        );
    }

    #[test]
    fn a_route_names_a_service_or_a_fan_out_that_only_reads() {
        let both = errors(
            json!({"name": "v", "path": "/v", "service": "users", "aggregate": {"backends": [
            {"name": "a", "service": "users", "path": "/a"}]}}),
        );
        assert!(
            both.contains("has both 'service' and 'aggregate'"),
            "{both}"
        );
        let neither = errors(json!({"name": "v", "path": "/v"}));
        assert!(
            neither.contains("$.routes[0].service: is required (or 'aggregate'"),
            "{neither}"
        );
        let writes = errors(
            json!({"name": "v", "path": "/v", "methods": ["POST"], "strip_prefix": "/v",
            "aggregate": {"backends": [{"name": "a", "service": "users", "path": "/a"}]}}),
        );
        assert!(
            writes.contains("accepts only GET and HEAD")
                && writes.contains("strip_prefix: does not apply"),
            "{writes}"
        );
        let unknown_param = errors(
            json!({"name": "v", "path": "/v/{id}", "aggregate": {"backends": [
            {"name": "a", "service": "users", "path": "/a/{idd}"}]}}),
        );
        assert!(
            unknown_param.contains("'{idd}' is neither a parameter"),
            "{unknown_param}"
        );
    }

    #[test]
    fn a_cached_fan_out_keys_on_every_query_parameter_a_backend_reads() {
        let route = |ignore: Value| {
            json!({"name": "v", "path": "/v/{id}",
                "cache": {"mode": "origin", "ignore_query": ignore},
                "aggregate": {"backends": [
                    {"name": "a", "service": "users", "path": "/a/{id}?lang={query.lang}"}]}})
        };
        assert_eq!(errors(route(json!(["utm_*"]))), "");
        let ignored = errors(route(json!(["la*"])));
        assert!(
            ignored.contains(
                "$.routes[0].cache.ignore_query: ignores 'lang', which backend 'a' reads"
            ),
            "{ignored}"
        );
    }

    #[test]
    fn the_routes_own_subrequests_count_against_the_budget() {
        let backends: Vec<Value> = (0..49)
            .map(|i| json!({"name": format!("b{i}"), "service": "users", "path": "/x"}))
            .collect();
        let plain = errors(json!({"name": "v", "path": "/v", "aggregate": {"backends": backends}}));
        assert_eq!(plain, "");
        let limited = errors(json!({"name": "v", "path": "/v", "rate_limits": ["per-ip"],
            "auth": {"mode": "optional"}, "aggregate": {"backends": backends}}));
        assert!(
            limited.contains("49 backend calls (retries included) plus 2 other subrequests"),
            "{limited}"
        );
    }
}

mod resilience {
    use super::super::compile;
    use super::Sticky;
    use serde_json::{json, Value};

    fn document(service: Value, route_extra: Value) -> String {
        let mut route = json!({"name": "r", "path": "/r", "service": "s"});
        if let (Value::Object(route), Value::Object(extra)) = (&mut route, route_extra) {
            route.extend(extra);
        }
        json!({"version": 1, "services": {"s": service, "s2": {"upstreams": ["http://127.0.0.1:7"]}}, "routes": [route]})
            .to_string()
    }

    fn errors(service: Value, route_extra: Value) -> String {
        super::error_lines(&document(service, route_extra))
    }

    #[test]
    fn services_and_the_routes_resilience_settings_compile() {
        let gateway = compile(&document(
            json!({"upstreams": ["http://127.0.0.1:1"], "sticky": {"cookie": "sid"}}),
            json!({"timeout_ms": 900, "fallback": {"status": 503, "body": {"items": []}},
                   "versions": {"header": "X-API-Version", "services": {"2": "s2"}}}),
        ))
        .expect("valid");
        assert_eq!(
            gateway.services["s"].sticky,
            Some(Sticky::Cookie("sid".into()))
        );
        let route = &gateway.routes.routes()[0];
        assert_eq!(route.timeout_ms, Some(900));
        assert_eq!(route.fallback.as_ref().map(|f| f.status), Some(503));
        let versions = route.versions.clone().expect("versions");
        assert_eq!(
            (versions.header.as_str(), versions.services),
            ("x-api-version", vec![("2".into(), "s2".into())])
        );
    }

    #[test]
    fn route_mistakes_are_reported_with_their_paths() {
        let found = errors(
            json!({"upstreams": ["http://127.0.0.1:1"], "retry": {"attempts": 9}}),
            json!({"fallback": {"status": 99}, "versions": {"header": "v", "services": {"1": "nope"}}, "timeout_ms": 0}),
        );
        for expected in [
            "$.services.s.retry.attempts: 9 is out of range",
            "$.routes[0].fallback.status: 99 is out of range",
            "$.routes[0].versions.services.1: 'nope' is not a service defined",
            "$.routes[0].timeout_ms: 0 is out of range",
        ] {
            assert!(found.contains(expected), "{expected} in\n{found}");
        }
    }
}

mod security {
    use serde_json::json;

    #[test]
    fn routes_inherit_the_documents_policies_and_may_replace_them() {
        let text = json!({
            "version": 1,
            "services": {"s": {"upstreams": ["http://127.0.0.1:9"]}},
            "security": {"cors": {"allow_origins": ["https://app.example.com"]}, "ip": {"deny": ["192.0.2.0/24"]}},
            "routes": [
                {"name": "a", "path": "/a", "service": "s"},
                {"name": "b", "path": "/b", "service": "s", "security": {"ip": {"allow": ["10.0.0.0/8", "2001:db8::/32"]}}}
            ]
        })
        .to_string();
        let gateway = super::super::compile(&text).expect("valid");
        let [a, b] = gateway.routes.routes() else {
            panic!("two routes");
        };
        assert!(
            a.security.cors.is_some() && b.security.cors.is_some(),
            "cors inherited"
        );
        let (a_ip, b_ip) = (
            a.security.ip.clone().expect("ip"),
            b.security.ip.clone().expect("ip"),
        );
        assert!(!a_ip.admits(Some("192.0.2.9")));
        assert!(
            b_ip.deny.is_empty()
                && b_ip.admits(Some("10.1.1.1"))
                && !b_ip.admits(Some("192.0.2.9")),
            "b's own list replaced the document's"
        );
        assert_eq!(a.security.cors.as_ref().map(|c| c.max_age_s), Some(600));
    }
}

#[test]
fn websocket_routes_take_get_and_a_service() {
    let mut doc = valid();
    doc["routes"][0]["websocket"] = json!(true);
    let gateway = compile_value(&doc).expect("valid");
    assert!(gateway.routes.routes().iter().any(|r| r.websocket));

    let mut doc = valid();
    doc["routes"][1]["websocket"] = json!(true);
    doc["routes"][0]["websocket"] = json!("yes");
    let errors = errors_of(doc);
    assert_eq!(
        paths(&errors),
        ["$.routes[0].websocket", "$.routes[1].websocket"]
    );
    assert!(errors[1].message.contains("must accept GET"));
}

#[test]
fn the_public_openapi_path_may_not_shadow_a_route() {
    let mut doc = valid();
    doc["openapi"] = json!({"path": "/api/users/me", "title": "T"});
    let errors = errors_of(doc);
    assert_eq!(paths(&errors), ["$.openapi.path"]);
    assert!(errors[0].message.contains("route 'me'"));

    let mut doc = valid();
    doc["openapi"] = json!({"path": "/openapi.json", "servers": ["ftp://x"]});
    assert_eq!(paths(&errors_of(doc)), ["$.openapi.servers"]);

    let mut doc = valid();
    doc["openapi"] = json!({"path": "/openapi.json"});
    let gateway = compile_value(&doc).expect("valid");
    assert_eq!(gateway.openapi.path.as_deref(), Some("/openapi.json"));
}

#[test]
fn every_section_reaches_the_compiled_configuration() {
    let mut doc = valid();
    doc["rate_limits"] = json!({"burst": {"rate": {"limit": 10, "period_seconds": 1}},
                                "daily": {"quota": {"limit": 100, "window": "day"}}});
    doc["plans"] = json!({"default": {"rate_limits": ["daily"]}});
    doc["auth"] = json!({"issuers": {"idp": {"issuer": "https://idp/", "audiences": ["api"],
        "algorithms": ["HS256"], "keys": [{"kty": "oct", "k": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}},
        "api_keys": {"header": "X-Key"}});
    doc["routes"][0]["rate_limits"] = json!(["burst"]);
    doc["routes"][0]["auth"] = json!({"mode": "required"});
    doc["routes"][0]["cache"] = json!({"mode": "override", "ttl_seconds": 30});
    doc["routes"][0]["response_headers"] = json!({"remove": ["server"]});
    let gateway = compile_value(&doc).expect("valid");
    let route = &gateway.routes.routes()[0];
    assert_eq!(route.rate_limits, ["burst"]);
    assert!(route.auth.is_some() && route.cache.is_some());
    assert_eq!(route.response_headers.remove, ["server"]);
    assert_eq!(gateway.auth.api_key_header, "x-key");
    let names: Vec<&str> = gateway
        .rate_limits
        .for_request(&route.rate_limits, Some("default"))
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["burst", "daily"]);

    let mut doc = valid();
    doc["plans"] = json!({"default": {"rate_limits": ["ghost"]}});
    doc["routes"][0]["auth"] = json!({"mode": "required"});
    let errors = errors_of(doc);
    assert_eq!(
        paths(&errors),
        ["$.plans.default.rate_limits[0]", "$.routes[0].auth"]
    );
}
