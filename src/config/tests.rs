use serde_json::json;

use super::*;
use crate::config::model::Rewrite;
use crate::error::GatewayError;

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
    assert_eq!(
        gateway.services["orders"].timeout_ms,
        parse::DEFAULT_TIMEOUT_MS
    );
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
fn upstream_urls_must_be_ascii_and_punycode_hosts_are_accepted() {
    let with_upstream = |url: &str| {
        json!({"version": 1, "services": {"s": {"upstreams": [url]}},
               "routes": [{"name": "r", "path": "/r", "service": "s"}]})
    };
    let errors = errors_of(with_upstream("https://bücher.example/api"));
    assert_eq!(paths(&errors), ["$.services.s.upstreams[0]"]);
    assert!(
        errors[0].message.contains("Punycode"),
        "{}",
        errors[0].message
    );
    let gateway = compile_value(&with_upstream("https://xn--bcher-kva.example/api")).unwrap();
    assert_eq!(
        gateway.services["s"].upstreams[0].origin,
        "https://xn--bcher-kva.example"
    );
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

#[test]
fn fingerprints_change_with_content() {
    assert_eq!(fingerprint("a"), fingerprint("a"));
    assert_ne!(fingerprint("a"), fingerprint("b"));
    assert_eq!(fingerprint("").len(), 16);
}

#[test]
fn rate_limit_policies_compile_with_defaults() {
    let mut doc = valid();
    doc["rate_limits"] = json!({
        "burst": { "rate": { "limit": 10, "period_seconds": 1 } },
        "monthly": { "quota": { "limit": 1000, "window": "month" }, "key": ["header:X-Api-Key", "route"], "on_error": "deny", "timeout_ms": 250 }
    });
    doc["routes"][0]["rate_limits"] = json!(["burst", "monthly"]);
    let gateway = compile_value(&doc).expect("valid");
    use crate::rate_limit::algorithm::{Algorithm, Window};
    use crate::rate_limit::policy::{KeyPart, OnError};
    let burst = &gateway.rate_limits["burst"];
    assert_eq!(
        burst.algorithm,
        Algorithm::Rate {
            limit: 10,
            period_ms: 1000,
            burst: 10
        }
    );
    assert_eq!(burst.key, [KeyPart::Ip]);
    assert_eq!(burst.on_error, OnError::Allow);
    let monthly = &gateway.rate_limits["monthly"];
    assert_eq!(
        monthly.algorithm,
        Algorithm::Quota {
            limit: 1000,
            window: Window::Month
        }
    );
    assert_eq!(
        monthly.key,
        [KeyPart::Header("x-api-key".into()), KeyPart::Route]
    );
    assert_eq!((monthly.on_error, monthly.timeout_ms), (OnError::Deny, 250));
    assert_eq!(gateway.routes.routes()[0].rate_limits, ["burst", "monthly"]);
}

#[test]
fn rate_limit_mistakes_are_reported_with_paths() {
    let mut doc = valid();
    doc["rate_limits"] = json!({
        "both": { "rate": { "limit": 1, "period_seconds": 1 }, "quota": { "limit": 1, "window": "day" } },
        "neither": { "key": ["ip"] },
        "bad": { "rate": { "limit": 0, "period_seconds": 1, "brust": 2 }, "key": ["ip", "ip", "cookie"], "on_error": "maybe" },
        "window": { "quota": { "limit": 5, "window": "fortnight" } }
    });
    doc["routes"][0]["rate_limits"] = json!(["burst", "both", "both"]);
    let errors = errors_of(doc);
    let got = paths(&errors);
    for expected in [
        "$.rate_limits.both.quota",
        "$.rate_limits.neither",
        "$.rate_limits.bad.rate.limit",
        "$.rate_limits.bad.rate.brust",
        "$.rate_limits.bad.key[1]",
        "$.rate_limits.bad.key[2]",
        "$.rate_limits.bad.on_error",
        "$.rate_limits.window.quota.window",
        "$.routes[0].rate_limits[0]",
        "$.routes[0].rate_limits[2]",
    ] {
        assert!(got.contains(&expected), "missing {expected} in {got:?}");
    }
}

const ED25519_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

#[test]
fn auth_settings_compile() {
    let mut doc = valid();
    doc["auth"] = json!({
        "issuers": {
            "idp": { "issuer": "https://idp.test/", "audiences": ["api"], "algorithms": ["EdDSA", "RS256"],
                     "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": ED25519_X, "kid": "k1" }],
                     "jwks_url": "https://idp.test/jwks", "leeway_seconds": 5, "roles_claim": "realm.roles" }
        },
        "api_keys": { "header": "X-Key" }
    });
    doc["routes"][0]["auth"] = json!({ "mode": "required", "schemes": ["jwt", "api_key"],
        "scopes": { "any_of": ["a", "b"] }, "forward_claims": { "sub": "X-User-Id" } });
    let gateway = compile_value(&doc).expect("valid");
    let issuer = &gateway.auth.issuers["idp"];
    assert_eq!(issuer.keys.len(), 1);
    assert_eq!(issuer.rules.leeway_s, 5);
    assert_eq!(issuer.jwks.as_ref().map(|j| j.refetch_ms), Some(10_000.0));
    assert_eq!(gateway.auth.api_key_header, "x-key");
    let auth = gateway.routes.routes()[0].auth.as_ref().expect("auth");
    assert!(auth.jwt && auth.api_key);
    assert_eq!(
        auth.forward_claims,
        [("sub".to_string(), "x-user-id".to_string())]
    );
}

#[test]
fn auth_mistakes_are_reported_with_paths() {
    let mut doc = valid();
    doc["auth"] = json!({
        "issuers": {
            "none-alg": { "issuer": "i", "audiences": ["a"], "algorithms": ["none", "ES512"], "keys": [] },
            "keyless": { "issuer": "i", "audiences": [], "algorithms": ["RS256"] },
            "weak": { "issuer": "i", "audiences": ["a"], "algorithms": ["HS256"], "keys": [{ "kty": "oct", "k": "c2hvcnQ" }] },
            "mismatch": { "issuer": "i", "audiences": ["a"], "algorithms": ["RS256"],
                          "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": ED25519_X }] },
            "private": { "issuer": "i", "audiences": ["a"], "algorithms": ["EdDSA"],
                         "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": ED25519_X, "d": ED25519_X }] }
        }
    });
    doc["routes"][0]["auth"] = json!({ "mode": "sometimes", "issuers": ["ghost"],
        "forward_claims": { "sub": "x-request-id" }, "scopes": { "all_of": ["a"], "any_of": ["b"] } });
    let errors = errors_of(doc);
    let got = paths(&errors);
    for expected in [
        "$.auth.issuers.none-alg.algorithms[0]",
        "$.auth.issuers.none-alg.algorithms[1]",
        "$.auth.issuers.keyless.audiences",
        "$.auth.issuers.weak.keys[0]",
        "$.auth.issuers.mismatch.keys[0]",
        "$.auth.issuers.private.keys[0]",
        "$.routes[0].auth.mode",
        "$.routes[0].auth.issuers",
        "$.routes[0].auth.forward_claims.sub",
        "$.routes[0].auth.scopes",
    ] {
        assert!(got.contains(&expected), "missing {expected} in {got:?}");
    }
}

mod cache {
    use super::super::compile;
    use crate::cache::Lifetime;
    use serde_json::json;

    fn document(cache: serde_json::Value) -> String {
        json!({
            "version": 1,
            "services": {"s": {"upstreams": ["http://127.0.0.1:9"]}},
            "routes": [{"name": "r", "path": "/r", "service": "s", "cache": cache}]
        })
        .to_string()
    }

    fn errors(cache: serde_json::Value) -> Vec<String> {
        match compile(&document(cache)) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn policies_compile_with_their_defaults() {
        let gateway =
            compile(&document(json!({"mode": "override", "ttl_seconds": 30}))).expect("valid");
        let policy = gateway.routes.routes()[0].cache.clone().expect("cached");
        assert_eq!(
            policy.lifetime,
            Lifetime::Override {
                ttl_s: 30,
                statuses: crate::cache::DEFAULT_OVERRIDE_STATUSES.to_vec()
            }
        );
        assert_eq!(policy.max_body_bytes, crate::cache::DEFAULT_MAX_BODY_BYTES);
        let off = compile(&document(json!({"mode": "off"}))).expect("valid");
        assert!(off.routes.routes()[0].cache.is_none());
    }

    #[test]
    fn every_mistake_is_reported_with_its_path() {
        let found = errors(json!({"mode": "override"}));
        assert_eq!(
            found,
            vec!["$.routes[0].cache.ttl_seconds: is required when mode is 'override'"]
        );
        let found = errors(json!({"mode": "origin", "ttl_seconds": 5}));
        assert!(
            found[0].starts_with("$.routes[0].cache.ttl_seconds: only applies"),
            "{found:?}"
        );
        let found = errors(json!({
            "mode": "origin", "global": "yes", "tags": ["a,b"], "ignore_query": ["*"],
            "stale_if_eror_seconds": 5
        }));
        let text = found.join("\n");
        for expected in [
            "$.routes[0].cache.global: expected a boolean",
            "$.routes[0].cache.tags: at most 16 tags",
            "$.routes[0].cache.ignore_query: names must be non-empty",
            "did you mean 'stale_if_error_seconds'",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        assert!(errors(json!({"mode": "sometimes"}))[0]
            .contains("must be 'off', 'origin' or 'override'"));
        assert!(
            errors(json!({"mode": "override", "ttl_seconds": 5, "statuses": []}))[0]
                .contains("at least one status")
        );
    }
}

mod aggregate {
    use super::super::compile;
    use crate::config::model::Destination;
    use serde_json::{json, Value};

    fn document(route: Value) -> String {
        json!({
            "version": 1,
            "services": {"orders": {"upstreams": ["http://127.0.0.1:9"]}, "users": {"upstreams": ["http://127.0.0.1:8"]}},
            "routes": [route]
        })
        .to_string()
    }

    fn errors(route: Value) -> String {
        super::error_lines(&document(route))
    }

    #[test]
    fn a_valid_fan_out_compiles_with_its_dependencies() {
        let gateway = compile(&document(json!({
            "name": "view", "path": "/view/{id}",
            "aggregate": {"compose": "merge", "backends": [
                {"name": "customer", "service": "users", "path": "/users/{order.user_id}", "required": false},
                {"name": "order", "service": "orders", "path": "/orders/{id}?x={query.x}",
                 "fields": {"allow": ["id", "user_id"], "deny": [], "rename": {"id": "order_id"}}}
            ]}
        })))
        .expect("valid");
        let route = &gateway.routes.routes()[0];
        let Destination::Aggregate(aggregate) = &route.destination else {
            panic!("an aggregate route");
        };
        assert_eq!(aggregate.backends[0].depends_on, vec![1]);
        assert!(aggregate.backends[1].depends_on.is_empty());
        assert!(route.methods.accepts("GET") && route.methods.accepts("HEAD"));
        assert!(
            !route.methods.accepts("POST"),
            "aggregate routes default to reads"
        );
    }

    #[test]
    fn cycles_unknown_references_and_conflicts_are_errors() {
        let cyclic = errors(
            json!({"name": "v", "path": "/v", "aggregate": {"backends": [
                {"name": "a", "service": "users", "path": "/a/{b.id}"},
                {"name": "b", "service": "users", "path": "/b/{a.id}"}
            ]}}),
        );
        assert!(
            cyclic.contains(
                "$.routes[0].aggregate.backends: backends depend on each other in a cycle: a, b"
            ),
            "{cyclic}"
        );
        let unknown = errors(
            json!({"name": "v", "path": "/v/{id}", "aggregate": {"backends": [
                {"name": "a", "service": "nope", "path": "/a/{zzz.id}/{idd}"},
                {"name": "a", "service": "users", "path": "/a/{a.id}"}
            ]}}),
        );
        for expected in [
            "backends[0].service: unknown service 'nope'",
            "refers to backend 'zzz'",
            "'{idd}' is neither a parameter",
            "backends[1].name: duplicate backend name 'a'",
        ] {
            assert!(unknown.contains(expected), "{expected} in {unknown}");
        }
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
    }

    #[test]
    fn routes_that_cannot_fit_the_subrequest_budget_are_refused() {
        let backends: Vec<Value> = (0..51)
            .map(|i| json!({"name": format!("b{i}"), "service": "users", "path": "/x"}))
            .collect();
        let found = errors(json!({"name": "v", "path": "/v", "aggregate": {"backends": backends}}));
        assert!(
            found.contains(
                "51 backend calls (retries included) plus 0 other subrequests exceed the 50"
            ),
            "{found}"
        );
        let backends: Vec<Value> = (0..11)
            .map(|i| json!({"name": format!("b{i}"), "service": "users", "path": "/x"}))
            .collect();
        let retrying = json!({
            "version": 1,
            "services": {"users": {"upstreams": ["http://127.0.0.1:8"], "retry": {"attempts": 4}}},
            "routes": [{"name": "v", "path": "/v", "aggregate": {"backends": backends}}]
        });
        let found = super::error_lines(&retrying.to_string());
        assert!(
            found.contains("55 backend calls (retries included)"),
            "{found}"
        );
    }
}

mod resilience {
    use super::super::compile;
    use crate::config::model::Sticky;
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
    fn weights_retries_breakers_stickiness_fallbacks_and_versions_compile() {
        let gateway = compile(&document(
            json!({
                "upstreams": ["http://127.0.0.1:1", {"url": "http://127.0.0.1:2/v2", "weight": 9}],
                "retry": {"attempts": 2, "backoff_ms": 10, "statuses": [503]},
                "circuit_breaker": {"failure_threshold": 3, "open_seconds": 5},
                "sticky": {"cookie": "sid"}
            }),
            json!({"timeout_ms": 900, "fallback": {"status": 503, "headers": {"Retry-After": "5"}, "body": {"items": []}},
                   "versions": {"header": "X-API-Version", "services": {"2": "s2"}}}),
        ))
        .expect("valid");
        let service = &gateway.services["s"];
        assert_eq!(
            service
                .upstreams
                .iter()
                .map(|u| u.weight)
                .collect::<Vec<_>>(),
            vec![1, 9]
        );
        assert_eq!(service.upstreams[1].origin_url(), "http://127.0.0.1:2/v2");
        assert_eq!(
            (service.retry.attempts, service.retry.statuses.clone()),
            (2, vec![503])
        );
        assert_eq!(
            service.breaker.map(|b| (b.failure_threshold, b.open_ms)),
            Some((3, 5000))
        );
        assert_eq!(service.sticky, Some(Sticky::Cookie("sid".into())));
        let route = &gateway.routes.routes()[0];
        assert_eq!(route.timeout_ms, Some(900));
        let fallback = route.fallback.clone().expect("fallback");
        assert_eq!(
            (fallback.status, fallback.headers),
            (503, vec![("retry-after".into(), "5".into())])
        );
        let versions = route.versions.clone().expect("versions");
        assert_eq!(
            (versions.header.as_str(), versions.services),
            ("x-api-version", vec![("2".into(), "s2".into())])
        );
    }

    #[test]
    fn mistakes_are_reported_with_their_paths() {
        let found = errors(
            json!({"upstreams": [{"url": "http://127.0.0.1:1", "weight": 0}], "retry": {"attempts": 9, "statuses": [404]},
                   "circuit_breaker": {"failure_threshold": 0}, "sticky": {"header": "a", "cookie": "b"}}),
            json!({"fallback": {"status": 99, "bodyy": 1}, "versions": {"header": "v", "services": {"1": "nope"}}}),
        );
        for expected in [
            "$.services.s.upstreams: at least one upstream needs a weight above 0",
            "$.services.s.retry.attempts: 9 is out of range",
            "$.services.s.retry.statuses[0]: 404 is out of range",
            "$.services.s.circuit_breaker.failure_threshold: 0 is out of range",
            "$.services.s.sticky: name exactly one of 'header' and 'cookie'",
            "$.routes[0].fallback.status: 99 is out of range",
            "$.routes[0].fallback.bodyy: unknown key",
            "$.routes[0].versions.services.1: 'nope' is not a service defined",
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

    #[test]
    fn bad_policies_are_reported_with_their_paths() {
        let text = json!({
            "version": 1,
            "services": {"s": {"upstreams": ["http://127.0.0.1:9"]}},
            "security": {"cors": {"allow_origins": ["app.example.com"], "allow_methods": ["FETCH"], "allow_headers": ["bad header"]}},
            "routes": [{"name": "a", "path": "/a", "service": "s", "security": {"ip": {"allow": ["10.0.0.0/33"], "dney": []}}}]
        })
        .to_string();
        let found = super::error_lines(&text);
        for expected in [
            "$.security.cors.allow_origins: list origins as scheme://host",
            "$.security.cors.allow_methods: methods must be among",
            "$.security.cors.allow_headers: header names must be valid tokens",
            "$.routes[0].security.ip.allow[0]: '10.0.0.0/33' has a prefix length outside 0-32",
            "$.routes[0].security.ip.dney: unknown key 'dney' (did you mean 'deny'?)",
        ] {
            assert!(found.contains(expected), "{expected} in\n{found}");
        }
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
