//! Property tests of every parser and decision that sees client or document input: none may
//! panic, whatever it is given; formats with two directions round-trip; where a reference
//! implementation exists (`http`, `httpdate`, `url`, `std::net`, percent-decoding) the
//! gateway agrees with it; and adversarial sizes stay cheap (see `adversarial_sizes_*`).
//!
//! `cargo test` runs each with a bounded number of cases (`PROPTEST_CASES`, default 64 here);
//! `npm run fuzz` runs them for as long as it is asked. Inputs that once found a bug are kept
//! as regression cases in `tests/properties.proptest-regressions`.

// A property test that cannot set up should stop loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::IpAddr;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use edge_gateway::aggregate::compose::{self, Compose, FieldRules};
use edge_gateway::aggregate::template::PathTemplate;
use edge_gateway::auth::authenticate::token_from;
use edge_gateway::auth::{claims, jwks, keys};
use edge_gateway::cache::config::CachePolicy;
use edge_gateway::cache::control::{list_members, parse_http_date, Directives};
use edge_gateway::cache::entry::{Entry, Kind, Meta};
use edge_gateway::cache::freshness::{self, Freshness, RequestFacts};
use edge_gateway::cache::key;
use edge_gateway::cache::range::{self, Ranges};
use edge_gateway::changes::operators;
use edge_gateway::changes::revocation::{Credential, Kind as RevokedKind, Known, Revocation};
use edge_gateway::config;
use edge_gateway::http;
use edge_gateway::observe::request_id;
use edge_gateway::observe::trace::TraceContext;
use edge_gateway::rate_limit::algorithm::{consume, Algorithm, State, Window};
use edge_gateway::routing::pattern::{self, Template};
use edge_gateway::security::cidr::Cidr;
use edge_gateway::security::cors::{preflight_method, CorsPolicy};
use edge_gateway::security::limits;
use edge_gateway::upstream::config::parse_upstream_url;
use edge_gateway::upstream::headers::{for_client, for_upstream, Forwarding, HeaderRules};

// `run`, by name, is for the replay of kept inputs.
#[allow(dead_code)]
#[path = "../fuzz/targets.rs"]
mod targets;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, nested a few levels, with keys drawn mostly from the document's own words
/// so that generated documents reach deep into the parsers.
fn any_json() -> impl Strategy<Value = Value> {
    let words = prop::sample::select(vec![
        "version",
        "services",
        "routes",
        "name",
        "path",
        "service",
        "upstreams",
        "methods",
        "auth",
        "cache",
        "mode",
        "rate_limits",
        "security",
        "cors",
        "ip",
        "aggregate",
        "backends",
        "keys",
        "issuers",
        "timeout_ms",
        "retry",
        "fallback",
        "versions",
        "headers",
        "set",
        "remove",
        "plans",
        "openapi",
        "quota",
        "rate",
        "limit",
        "window",
        "allow",
        "deny",
        "url",
        "ignore_query",
        "changes",
        "retention",
        "rollout",
        "keep_versions",
        "percent",
        "tags",
        "statuses",
        "ttl_seconds",
        "allow_origins",
        "allow_headers",
        "schemes",
        "forward_claims",
        "jwks_url",
        "algorithms",
        "audiences",
        "issuer",
        "key",
        "on_error",
        "compose",
        "fields",
        "rename",
        "weight",
        "sticky",
        "header",
        "cookie",
    ]);
    let key = prop_oneof![3 => words.prop_map(str::to_string), 1 => ".{0,12}"];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,24}".prop_map(Value::String),
        prop::sample::select(vec![
            "/a/{id}",
            "/{*rest}",
            "http://127.0.0.1:1",
            "GET",
            "origin",
            "override",
            "minute",
            "10.0.0.0/8",
            "https://*.example.com",
            "{x.y}",
            "required",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A valid document with one route, to which generated values are grafted.
fn base_document() -> Value {
    json!({
        "version": 1,
        "services": {"s": {"upstreams": ["http://127.0.0.1:1"]}},
        "routes": [{"name": "r", "path": "/r/{id}", "service": "s"}]
    })
}

/// A document that uses every section, so that each text setting below has a place.
fn full_document() -> Value {
    json!({
        "version": 1,
        "services": {
            "s": {"upstreams": ["http://127.0.0.1:1"], "sticky": {"cookie": "sid"}},
            "t": {"upstreams": [{"url": "http://127.0.0.1:2", "weight": 2}], "sticky": {"header": "x-s"}}
        },
        "security": {"cors": {"allow_origins": ["https://a.example"], "allow_methods": ["GET"],
                              "allow_headers": ["x-a"], "expose_headers": ["x-b"]},
                     "ip": {"allow": ["10.0.0.0/8"], "deny": ["10.6.0.0/16"]}},
        "openapi": {"path": "/openapi.json", "title": "T", "version": "1", "servers": ["https://x"]},
        "rate_limits": {"p": {"quota": {"limit": 5, "window": "minute"}, "key": ["ip", "header:x-k"]}},
        "plans": {"default": {"rate_limits": ["p"]}},
        "auth": {"issuers": {"idp": {"issuer": "https://idp/", "audiences": ["api"], "algorithms": ["HS256"],
                                     "keys": [{"kty": "oct", "k": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}],
                                     "roles_claim": "realm.roles", "plan_claim": "plan"}},
                 "api_keys": {"header": "x-key"}},
        "routes": [
            {"name": "a", "path": "/a/{id}", "service": "s", "host": "api.example.com",
             "methods": ["GET"], "upstream_path": "/v/{id}", "rate_limits": ["p"],
             "request_headers": {"set": {"x-v": "1"}, "remove": ["cookie"]},
             "response_headers": {"remove": ["server"]},
             "auth": {"mode": "optional", "schemes": ["jwt", "api_key"], "issuers": ["idp"],
                      "scopes": {"any_of": ["a"]}, "forward_claims": {"sub": "x-user"}, "cookie": "session"},
             "cache": {"mode": "origin", "ignore_query": ["utm_*"], "tags": ["t"]},
             "fallback": {"status": 503, "headers": {"retry-after": "5"}, "body": {}},
             "versions": {"header": "x-api-version", "services": {"2": "t"}}},
            {"name": "b", "path": "/b/{id}", "strip_prefix": "/b",
             "aggregate": {"compose": "merge", "backends": [
                {"name": "x", "service": "s", "path": "/x/{id}", "fields": {"allow": ["a"], "deny": ["b"], "rename": {"c": "d"}}}]}}
        ]
    })
}

/// JSON Pointers of every setting that holds text (or a list of texts) in `full_document`.
const TEXT_SLOTS: &[&str] = &[
    "/services/s/upstreams/0",
    "/services/s/sticky/cookie",
    "/services/t/upstreams/0/url",
    "/services/t/sticky/header",
    "/security/cors/allow_origins",
    "/security/cors/allow_methods",
    "/security/cors/allow_headers",
    "/security/cors/expose_headers",
    "/security/ip/allow",
    "/security/ip/deny",
    "/openapi/path",
    "/openapi/title",
    "/openapi/servers",
    "/rate_limits/p/quota/window",
    "/rate_limits/p/key",
    "/plans/default/rate_limits",
    "/auth/issuers/idp/issuer",
    "/auth/issuers/idp/audiences",
    "/auth/issuers/idp/algorithms",
    "/auth/issuers/idp/roles_claim",
    "/auth/issuers/idp/plan_claim",
    "/auth/api_keys/header",
    "/routes/0/name",
    "/routes/0/path",
    "/routes/0/service",
    "/routes/0/host",
    "/routes/0/methods",
    "/routes/0/upstream_path",
    "/routes/0/rate_limits",
    "/routes/0/request_headers/set/x-v",
    "/routes/0/request_headers/remove",
    "/routes/0/response_headers/remove",
    "/routes/0/auth/mode",
    "/routes/0/auth/schemes",
    "/routes/0/auth/issuers",
    "/routes/0/auth/scopes/any_of",
    "/routes/0/auth/forward_claims/sub",
    "/routes/0/auth/cookie",
    "/routes/0/cache/mode",
    "/routes/0/cache/ignore_query",
    "/routes/0/cache/tags",
    "/routes/0/fallback/headers/retry-after",
    "/routes/0/versions/header",
    "/routes/0/versions/services/2",
    "/routes/1/strip_prefix",
    "/routes/1/aggregate/compose",
    "/routes/1/aggregate/backends/0/name",
    "/routes/1/aggregate/backends/0/service",
    "/routes/1/aggregate/backends/0/path",
    "/routes/1/aggregate/backends/0/fields/allow",
    "/routes/1/aggregate/backends/0/fields/deny",
    "/routes/1/aggregate/backends/0/fields/rename/c",
];

fn header_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "cookie",
            "connection",
            "authorization",
            "cache-control",
            "if-none-match",
            "if-modified-since",
            "origin",
            "x-forwarded-for",
            "host",
            "vary",
            "age",
            "expires",
            "content-length",
            "transfer-encoding",
            "x-request-id",
            "traceparent",
        ])
        .prop_map(str::to_string),
        "[a-z-]{1,12}",
    ];
    prop::collection::vec((name, ".{0,40}"), 0..12)
}

proptest! {
    #![proptest_config(config())]

    // ---- the fuzz targets, on bytes ----

    #[test]
    fn fuzz_targets_take_any_bytes(
        target in 0..targets::TARGETS.len(),
        data in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        (targets::TARGETS[target].1)(&data);
    }

    // ---- operators and revocations ----

    #[test]
    fn operator_lists_never_panic_and_never_admit_an_empty_token(
        text in ".{0,200}",
        json in any_json(),
        presented in ".{0,24}",
    ) {
        for candidate in [text, json.to_string()] {
            if let Ok(operators) = operators::parse(None, Some(&candidate)) {
                prop_assert!(operators::identify(&operators, "").is_none());
                let _ = operators::identify(&operators, &presented);
            }
        }
    }

    #[test]
    fn revocation_lists_match_only_what_they_name(
        entries in prop::collection::vec(("[a-c]{1,3}", 0..3usize), 0..8),
        asked in "[a-c]{1,3}",
    ) {
        let kinds = [RevokedKind::Consumer, RevokedKind::Jti, RevokedKind::Subject];
        let revocations: Vec<Revocation> = entries
            .iter()
            .map(|(value, kind)| Revocation {
                kind: kinds[*kind],
                value: value.clone(),
                at_ms: 0.0,
                until_ms: None,
                operator: "p".into(),
                reason: None,
            })
            .collect();
        let mut known = Known::default();
        known.accept(1, Some(revocations));
        let credential = Credential { jti: Some(&asked), ..Credential::default() };
        let listed = entries.iter().any(|(v, k)| *k == 1 && *v == asked);
        prop_assert_eq!(known.revoked(&credential, 0.0).is_some(), listed);
    }

    // ---- the route document ----

    #[test]
    fn route_documents_never_panic(text in ".{0,200}") {
        let _ = config::compile(&text);
    }

    #[test]
    fn arbitrary_json_documents_are_judged_with_paths(value in any_json()) {
        if let Err(errors) = config::compile(&value.to_string()) {
            prop_assert!(!errors.is_empty());
            prop_assert!(errors.iter().all(|e| e.path.starts_with('$')));
        }
    }

    #[test]
    fn grafted_documents_are_judged_with_paths(
        graft in any_json(),
        at in prop::sample::select(vec!["top", "service", "route", "routes"]),
        name in prop::sample::select(vec![
            "auth", "cache", "security", "aggregate", "rate_limits", "fallback", "versions",
            "request_headers", "retry", "circuit_breaker", "sticky", "upstreams", "plans",
            "openapi", "methods", "host", "upstream_path", "strip_prefix", "websocket",
            "changes", "retention", "rollout",
        ]),
    ) {
        let mut document = base_document();
        match at {
            "top" => document[name] = graft,
            "service" => document["services"]["s"][name] = graft,
            "route" => document["routes"][0][name] = graft,
            _ => document["routes"] = json!([graft]),
        }
        if let Err(errors) = config::compile(&document.to_string()) {
            prop_assert!(errors.iter().all(|e| e.path.starts_with('$') && !e.message.is_empty()));
        }
    }

    #[test]
    fn every_text_setting_takes_any_text(
        slot in prop::sample::select(TEXT_SLOTS.to_vec()),
        text in "\\PC{0,12}",
        as_list in any::<bool>(),
    ) {
        let mut document = full_document();
        let value = if as_list { json!([text.clone(), format!("{text}*")]) } else { json!(text) };
        *document.pointer_mut(slot).expect("a slot of the document") = value;
        if let Err(errors) = config::compile(&document.to_string()) {
            prop_assert!(errors.iter().all(|e| e.path.starts_with('$')));
        }
    }

    // ---- patterns, templates, routing ----

    #[test]
    fn patterns_parse_or_say_why_and_route_any_path(pattern in ".{0,40}", path in ".{0,60}") {
        if let Ok(parts) = pattern::parse(&pattern) {
            let names: Vec<&str> = pattern::param_names(&parts).collect();
            let _ = pattern::literal_prefix(&parts);
            let document = json!({
                "version": 1,
                "services": {"s": {"upstreams": ["http://127.0.0.1:1"]}},
                "routes": [{"name": "r", "path": pattern, "service": "s"}]
            });
            if let Ok(gateway) = config::compile(&document.to_string()) {
                if let Ok(found) = gateway.routes.resolve("GET", "h", &path) {
                    prop_assert!(found.params.iter().all(|(n, _)| names.contains(&n.as_str())));
                }
            }
        }
    }

    #[test]
    fn templates_render_only_what_they_were_given(
        template in ".{0,40}",
        value in "[a-z0-9%]{0,10}",
    ) {
        if let Ok(compiled) = Template::compile(&template, &["id", "rest"]) {
            let out = compiled.render(|_| Some(value.as_str()));
            let braces = out.contains('{');
            prop_assert!(!braces || template.contains("{{"), "{}", out);
        }
    }

    #[test]
    fn aggregate_references_parse_or_say_why(text in ".{0,60}", field in "[a-z.]{0,12}") {
        if let Ok(template) = PathTemplate::parse(&text, &["id"], &["order", "user"]) {
            let deps: Vec<&str> = template.dependencies().collect();
            prop_assert!(deps.iter().all(|d| *d == "order" || *d == "user"));
            let body = json!({"user_id": 7, "a": {"b": [1, 2]}});
            let _ = template.render(
                |_| Some("1"),
                |_| Some("q".to_string()),
                |_, path| compose::lookup(&body, path),
            );
        }
        let parts: Vec<&str> = field.split('.').collect();
        let _ = compose::lookup(&json!({"a": {"b": {"c": 1}}}), &parts);
    }

    #[test]
    fn field_rules_and_composition_never_panic(value in any_json(), allow in "[a-z.]{0,8}") {
        let rules = FieldRules {
            allow: if allow.is_empty() { vec![] } else { vec![allow.clone()] },
            deny: vec!["a".into()],
            rename: vec![("b".into(), "c".into())],
        };
        let shaped = rules.apply(value.clone());
        for how in [Compose::Merge, Compose::Nest, Compose::Array] {
            let _ = compose::compose(how, vec![("x".into(), shaped.clone()), ("y".into(), value.clone())]);
        }
    }

    // ---- JWTs, keys, claims ----

    #[test]
    fn tokens_from_any_headers_never_panic(headers in header_pairs(), token in ".{0,200}") {
        let _ = token_from(&headers, Some("session"));
        if let Ok(untrusted) = jwt_compact::UntrustedToken::new(&token) {
            let (alg, _) = keys::header_of(&untrusted);
            if let Some(alg) = keys::Alg::from_name(alg) {
                let key = keys::from_jwk(&json!({"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}));
                if let Ok(key) = key {
                    prop_assert!(keys::verify(&untrusted, alg, &key).is_err());
                }
            }
        }
    }

    #[test]
    fn keys_and_key_sets_are_read_or_refused(jwk in any_json(), text in ".{0,300}") {
        let _ = keys::from_jwk(&jwk);
        let _ = keys::from_pem(&text, None, None);
        let _ = jwks::parse_set(&text);
        let _ = jwks::parse_set(&json!({"keys": [jwk]}).to_string());
        let _ = jwks::max_age(&text);
    }

    #[test]
    fn claims_are_judged_without_panicking(custom in any_json(), path in "[a-z._]{0,16}") {
        let Value::Object(custom) = custom else { return Ok(()) };
        let _ = claims::scopes(&custom);
        let _ = claims::at_path(&custom, &path);
        let verified = jwt_compact::Claims::new(custom);
        let rules = claims::ClaimRules {
            issuer: "i".into(),
            audiences: vec!["a".into()],
            leeway_s: 60,
            required: vec!["sub".into()],
            roles_claim: Some(path.clone()),
            plan_claim: None,
        };
        prop_assert!(claims::check(&verified, &rules, 0.0).is_err(), "no exp claim");
    }

    // ---- HTTP caching ----

    #[test]
    fn cache_headers_never_panic(
        values in prop::collection::vec(".{0,40}", 0..4),
        headers in header_pairs(),
        status in 100u16..600,
        times in (0.0f64..1e13, 0.0f64..1e6, 0.0f64..1e9),
    ) {
        let directives = Directives::parse(values.iter().map(String::as_str));
        let _ = directives.max_stale();
        let _ = directives.seconds("max-age");
        for value in &values {
            let _ = parse_http_date(value);
            let _ = list_members(value).count();
        }
        let (sent, took, later) = times;
        let facts = RequestFacts { credentials: false, keyed_by_principal: false };
        for policy in [CachePolicy::default()] {
            if let Ok(f) = freshness::assess(&policy, &directives, facts, status, &headers, sent, sent + took) {
                prop_assert!(f.lifetime_s.is_finite() && f.initial_age_s.is_finite());
                let age = freshness::current_age(&f, sent + took, sent + took + later);
                prop_assert!(age.is_finite() && age >= 0.0);
                let _ = freshness::judge(&f, sent + took, sent + later, &directives, true);
                let _ = freshness::may_serve_on_error(&f, sent + took, sent + later);
            }
        }
        let _ = freshness::vary(&headers);
        let _ = freshness::not_modified(&headers, Some("\"v\""), Some("Thu, 26 Nov 2026 16:48:37 GMT"));
    }

    #[test]
    fn http_dates_agree_with_httpdate(seconds in 0u64..253_402_300_799) {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
        let text = httpdate::fmt_http_date(time);
        prop_assert_eq!(parse_http_date(&text), Some(seconds as f64 * 1000.0));
    }

    #[test]
    fn ranges_stay_within_the_body_in_order_and_apart(
        spec in "(bytes=)?[0-9 ,-]{0,40}",
        length in 0u64..2000,
    ) {
        match range::parse(Some(&spec), length) {
            Ranges::Whole | Ranges::Unsatisfiable => {}
            Ranges::Parts(parts) => {
                prop_assert!(!parts.is_empty() && parts.len() <= range::MAX_RANGES);
                for (i, &(start, end)) in parts.iter().enumerate() {
                    prop_assert!(start <= end && end < length, "{spec}: {start}-{end}/{length}");
                    if let Some(&(next, _)) = parts.get(i + 1) {
                        prop_assert!(next > end + 1, "{spec}: merged");
                    }
                }
                let body = vec![b'x'; length as usize];
                let sliced: usize = parts.iter().map(|&(s, e)| range::slice(&body, s, e).len()).sum();
                let asked: u64 = parts.iter().map(|&(s, e)| e - s + 1).sum();
                prop_assert_eq!(sliced as u64, asked);
                let _ = range::multipart(&body, &parts, Some("text/plain"), "b");
            }
        }
    }

    #[test]
    fn a_prefix_covers_exactly_the_paths_below_it(
        segments in prop::collection::vec("[a-c]{1,2}", 0..6),
        cut in 0usize..7,
        extra in "[a-c]{0,2}",
    ) {
        let path = format!("/{}", segments.join("/"));
        let ids = key::prefix_ids("h", &path);
        let cut = cut.min(segments.len());
        let prefix = format!("/{}", segments[..cut].join("/"));
        let covering = key::normalise_prefix(&prefix).expect("shallow");
        prop_assert!(ids.contains(&key::prefix_id("h", &covering)), "{prefix} covers {path}");
        // The same prefix with its last segment lengthened is another path: it covers nothing here
        // unless the path really goes through it.
        let longer = format!("{covering}{extra}");
        let through = path == longer || path.starts_with(&format!("{longer}/"));
        if !extra.is_empty() && covering != "/" {
            prop_assert_eq!(ids.contains(&key::prefix_id("h", &longer)), through, "{} in {}", longer, path);
        }
    }

    #[test]
    fn stored_entries_round_trip_and_garbage_is_refused(
        body in prop::collection::vec(any::<u8>(), 0..200),
        headers in header_pairs(),
        garbage in prop::collection::vec(any::<u8>(), 0..200),
        status in 100u16..600,
    ) {
        let entry = Entry {
            meta: Meta {
                kind: Kind::Response,
                vary: vec!["accept".into()],
                status,
                headers,
                sent_ms: 1.0,
                received_ms: 2.0,
                freshness: Freshness {
                    lifetime_s: 60.0,
                    initial_age_s: 0.0,
                    stale_while_revalidate_s: 0,
                    stale_if_error_s: 0,
                    must_revalidate: false,
                    always_revalidate: false,
                },
                route: "r".into(),
                tags: vec![],
                url: "u".into(),
                prefixes: vec!["p".into()],
            },
            body,
        };
        prop_assert_eq!(Entry::decode(&entry.encode()), Some(entry.clone()));
        let _ = Entry::decode(&garbage);
        let mut cut = entry.encode();
        cut.truncate(cut.len() / 2);
        let _ = Entry::decode(&cut);
    }

    #[test]
    fn query_normalisation_is_idempotent(query in "[a-z0-9=&%+.*_-]{0,60}", sort in any::<bool>()) {
        let ignore = vec!["utm_*".to_string(), "b".to_string()];
        let once = key::normalise_query(Some(&query), &ignore, sort);
        let twice = key::normalise_query(Some(&once), &ignore, sort);
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn variant_keys_depend_only_on_the_varied_headers(headers in header_pairs()) {
        let vary = vec!["accept".to_string()];
        let mut with_noise = headers.clone();
        with_noise.push(("x-noise".into(), "1".into()));
        prop_assert_eq!(key::variant_key("b", &vary, &headers), key::variant_key("b", &vary, &with_noise));
    }

    // ---- edge security ----

    #[test]
    fn cidrs_parse_or_say_why(text in ".{0,50}") {
        let _ = Cidr::parse(&text);
    }

    #[test]
    fn cidrs_contain_exactly_their_prefix(a in any::<u32>(), b in any::<u32>(), len in 0u8..=32) {
        let network = std::net::Ipv4Addr::from(a);
        let cidr = Cidr::parse(&format!("{network}/{len}")).expect("valid");
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
        let expected = (a & mask) == (b & mask);
        prop_assert_eq!(cidr.contains(IpAddr::V4(b.into())), expected);
    }

    #[test]
    fn ipv6_cidrs_contain_exactly_their_prefix(a in any::<u128>(), b in any::<u128>(), len in 0u8..=128) {
        let network = std::net::Ipv6Addr::from(a);
        let cidr = Cidr::parse(&format!("{network}/{len}")).expect("valid");
        let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
        prop_assert_eq!(cidr.contains(IpAddr::V6(b.into())), (a & mask) == (b & mask));
    }

    #[test]
    fn cors_decisions_never_panic(
        origin in ".{0,40}",
        rule in prop::sample::select(vec!["*", "https://*.example.com", "https://app.example.com", "http://*."]),
        requested in ".{0,60}",
        headers in header_pairs(),
    ) {
        let policy = CorsPolicy {
            allow_origins: vec![rule.to_string()],
            allow_methods: vec![],
            allow_headers: vec!["x-a".into()],
            expose_headers: vec![],
            allow_credentials: true,
            max_age_s: 1,
        };
        let _ = policy.allows_origin(&origin);
        let _ = policy.preflight(&origin, "GET", Some(&requested), &["GET"]);
        let _ = preflight_method("OPTIONS", &headers);
    }

    #[test]
    fn subdomain_wildcards_match_subdomains_only(label in "[a-z0-9-]{1,12}", other in "[a-z]{1,8}") {
        let policy = CorsPolicy {
            allow_origins: vec!["https://*.example.com".into()],
            allow_methods: vec![],
            allow_headers: vec![],
            expose_headers: vec![],
            allow_credentials: false,
            max_age_s: 1,
        };
        let sub = format!("https://{label}.example.com");
        prop_assert!(policy.allows_origin(&sub));
        prop_assert!(!policy.allows_origin("https://example.com"));
        let elsewhere = format!("https://{label}.{other}.com");
        prop_assert!(other == "example" || !policy.allows_origin(&elsewhere));
        let plain_http = format!("http://{label}.example.com");
        prop_assert!(!policy.allows_origin(&plain_http));
    }

    #[test]
    fn paths_are_refused_exactly_when_percent_decoding_or_dots_say_so(path in "[a-zA-Z0-9/%.]{0,40}") {
        let refused = limits::check_path(&path).is_err();
        // Reference: every `%` must start two hex digits whose byte is not a control character,
        // and no segment may be `.` or `..` once decoded.
        let bytes = path.as_bytes();
        let mut bad_escape = false;
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) if !byte.is_ascii_control() => i += 3,
                    _ => { bad_escape = true; break; }
                }
            } else {
                i += 1;
            }
        }
        let dots = !bad_escape && path.split('/').any(|segment| {
            let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
            decoded == "." || decoded == ".."
        });
        prop_assert_eq!(refused, bad_escape || dots, "{}", path);
    }

    #[test]
    fn bodies_and_headers_are_checked_without_panicking(headers in header_pairs(), limit in 0u64..1000) {
        let _ = limits::check_body(&headers, limit);
        let _ = limits::check_headers(&headers, 100, 5);
        let _ = limits::check("/", None, &headers);
    }

    // ---- headers, cookies, forwarding ----

    #[test]
    fn header_syntax_agrees_with_the_http_crate(name in ".{0,16}", value in ".{0,24}") {
        if http::is_token(&name) {
            prop_assert!(::http::HeaderName::from_bytes(name.as_bytes()).is_ok(), "{name}");
        }
        if http::is_valid_value(&value) {
            prop_assert!(::http::HeaderValue::from_str(&value).is_ok(), "{value:?}");
        }
    }

    #[test]
    fn cookies_are_found_by_name(
        pairs in prop::collection::vec(("[a-z]{1,6}", "[a-zA-Z0-9]{0,8}"), 1..6),
        noise in ".{0,30}",
    ) {
        let header = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
        let headers = vec![("cookie".to_string(), header), ("cookie".to_string(), noise)];
        let (name, value) = &pairs[0];
        prop_assert_eq!(http::cookie(&headers, name), Some(value.clone()));
    }

    #[test]
    fn forwarded_headers_never_carry_hop_by_hop_or_forged_fields(
        incoming in header_pairs(),
        client_ip in prop::option::of("[0-9.]{1,15}"),
    ) {
        let forwarding = Forwarding {
            client_ip: client_ip.as_deref(),
            proto: "https",
            host: "h",
            request_id: "rid",
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            tracestate: None,
        };
        let out = for_upstream(&incoming, &forwarding, &HeaderRules::default());
        let listed = http::connection_listed(&incoming);
        for (name, _) in &out {
            let nominated = listed.contains(name) && !http::is_managed(name);
            prop_assert!(!http::is_hop_by_hop(name) && !nominated, "{name}");
        }
        prop_assert_eq!(out.iter().filter(|(n, _)| n == "x-request-id").count(), 1);
        let back = for_client(&incoming, &HeaderRules::default(), "rid");
        prop_assert_eq!(http::header(&back, "x-request-id"), Some("rid"));
    }

    #[test]
    fn request_ids_are_always_safe(incoming in prop::option::of(".{0,200}"), random in any::<[u8; 16]>()) {
        let id = request_id::accept_or_generate(incoming.as_deref(), random);
        prop_assert!(!id.is_empty() && id.len() <= 128);
        prop_assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b)));
    }

    #[test]
    fn trace_contexts_continue_valid_parents_and_start_otherwise(
        header in prop::option::of(".{0,80}"),
        trace in "[0-9a-f]{32}",
        parent in "[0-9a-f]{16}",
        random in any::<[u8; 24]>(),
    ) {
        let started = TraceContext::continue_or_start(header.as_deref(), Some("k=v"), random);
        let upstream = started.upstream_header();
        let again = TraceContext::continue_or_start(Some(&upstream), None, random);
        prop_assert_eq!(&again.trace_id, &started.trace_id, "our own header is valid");
        let valid = format!("00-{trace}-{parent}-01");
        let continued = TraceContext::continue_or_start(Some(&valid), None, random);
        let all_zero = trace.bytes().all(|b| b == b'0') || parent.bytes().all(|b| b == b'0');
        prop_assert_eq!(continued.trace_id == trace, !all_zero);
    }

    // ---- upstream URLs ----

    #[test]
    fn upstream_urls_agree_with_the_url_crate(text in ".{0,40}", host in "[a-z]{1,10}", port in 1u16..) {
        let _ = parse_upstream_url(&text);
        let candidate = format!("https://{host}.example:{port}/base/");
        let parsed = parse_upstream_url(&candidate).expect("valid");
        let reference = url::Url::parse(&candidate).expect("valid");
        let origin = match reference.port() {
            Some(port) => format!("https://{}:{port}", reference.host_str().unwrap()),
            None => format!("https://{}", reference.host_str().unwrap()),
        };
        prop_assert_eq!(parsed.origin, origin);
        prop_assert_eq!(parsed.base_path, "/base");
    }

    // ---- rate-limit arithmetic ----

    #[test]
    fn rate_limits_never_admit_more_than_their_allowance(
        limit in 1u64..1_000_000_000,
        period_ms in 1u64..(31 * 86_400_000),
        burst in 1u64..1_000,
        start in 0.0f64..4e12,
        gaps in prop::collection::vec(0.0f64..1e6, 1..40),
        cost in 0u64..3,
    ) {
        for algorithm in [
            Algorithm::Rate { limit, period_ms, burst },
            Algorithm::Quota { limit: burst, window: Window::Seconds { seconds: period_ms / 1000 + 1 } },
            Algorithm::Quota { limit: burst, window: Window::Month },
        ] {
            let mut state = State::default();
            let mut now = start;
            let mut admitted = 0u64;
            for gap in &gaps {
                now += gap;
                let (decision, next) = consume(&algorithm, &state, now, cost);
                prop_assert!(decision.remaining <= decision.limit.max(burst));
                prop_assert!(decision.allowed || decision.retry_after_ms > 0);
                if decision.allowed && cost > 0 {
                    admitted += cost;
                }
                state = next;
            }
            // Without time passing, no more than the burst (or the quota) at once.
            if gaps.iter().all(|g| *g == 0.0) {
                prop_assert!(admitted <= burst.max(cost));
            }
        }
    }
}

/// Sizes an attacker chooses: every parser here must stay roughly linear, so each input below
/// takes milliseconds (a quadratic step would take minutes at these sizes and hang the test).
#[test]
fn adversarial_sizes_stay_cheap() {
    let many = 200_000;
    // A document with one enormous misspelt key: no edit distance over its length.
    let key = "x".repeat(5_000_000);
    let document = format!(r#"{{"version":1,"services":{{}},"routes":[],"{key}":1}}"#);
    assert!(config::compile(&document).is_err());
    // Deep nesting stops at the JSON reader's depth limit.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(config::compile(&deep).is_err());
    // Long lists of directives, members, cookies, query parameters and header names.
    let directives = vec!["max-age=1, no-cache, "; many].concat();
    assert!(Directives::parse([directives.as_str()]).has("no-cache"));
    assert!(list_members(&directives).count() >= many);
    let query = (0..many)
        .map(|i| format!("p{}={i}", many - i))
        .collect::<Vec<_>>()
        .join("&");
    assert!(!key::normalise_query(Some(&query), &["utm_*".into()], true).is_empty());
    let cookie = (0..many)
        .map(|i| format!("c{i}=v"))
        .collect::<Vec<_>>()
        .join("; ");
    let headers = vec![
        ("cookie".to_string(), cookie),
        ("connection".to_string(), vec!["x-a, "; many].concat()),
    ];
    assert_eq!(http::cookie(&headers, "missing"), None);
    let forwarding = Forwarding {
        client_ip: None,
        proto: "https",
        host: "h",
        request_id: "r",
        traceparent: "t",
        tracestate: None,
    };
    assert!(!for_upstream(&headers, &forwarding, &HeaderRules::default()).is_empty());
    let policy = CorsPolicy {
        allow_origins: vec!["*".into()],
        allow_methods: vec![],
        allow_headers: vec!["x-a".into()],
        expose_headers: vec![],
        allow_credentials: false,
        max_age_s: 1,
    };
    let requested = vec!["x-a, "; many].concat();
    assert!(policy
        .preflight("https://a", "GET", Some(&requested), &["GET"])
        .is_ok());
    let path = "/a".repeat(many);
    assert!(limits::check_path(&path).is_ok());
    assert!(pattern::parse(&"/{a}".repeat(many)).is_err());
    let template = format!("/{}", "{id}".repeat(many));
    assert!(PathTemplate::parse(&template, &["id"], &[]).is_ok());
    let claims: Map<String, Value> = [("scope".to_string(), json!(vec!["a "; many].concat()))]
        .into_iter()
        .collect();
    assert_eq!(claims::scopes(&claims).len(), many);
}
