//! The fuzz targets: each feeds arbitrary bytes to one family of the gateway's parsers and
//! decisions and checks what must always hold. Shared by the coverage-guided fuzzer
//! (`fuzz/fuzz_targets/*.rs`, `npm run fuzz`), the property tests (`tests/properties.rs`) and
//! the replay of every input that once found a bug (`tests/fuzz_regressions.rs`).

use edge_gateway::aggregate::compose;
use edge_gateway::aggregate::template::PathTemplate;
use edge_gateway::auth::authenticate::token_from;
use edge_gateway::auth::{claims, jwks, keys};
use edge_gateway::cache::config::CachePolicy;
use edge_gateway::cache::control::{list_members, parse_http_date, Directives};
use edge_gateway::cache::entry::Entry;
use edge_gateway::cache::freshness::{self, RequestFacts};
use edge_gateway::cache::key;
use edge_gateway::cache::range::{self, Ranges};
use edge_gateway::config;
use edge_gateway::http;
use edge_gateway::observe::request_id;
use edge_gateway::observe::trace::TraceContext;
use edge_gateway::rate_limit::algorithm::{consume, Algorithm, State, Window};
use edge_gateway::routing::pattern::{self, Template};
use edge_gateway::security::cidr::Cidr;
use edge_gateway::security::cors::CorsPolicy;
use edge_gateway::security::limits;
use edge_gateway::upstream::headers::{for_client, for_upstream, Forwarding, HeaderRules};
use edge_gateway::upstream::websocket;

/// A target: bytes in, a panic when something that must hold does not.
pub type Target = fn(&[u8]);

/// Every target, by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("document", document),
    ("routing", routing),
    ("templates", templates),
    ("tokens", tokens),
    ("keys", keys_and_sets),
    ("cache_headers", cache_headers),
    ("entries", entries),
    ("edge_security", edge_security),
    ("headers", headers),
    ("rate_limits", rate_limits),
];

/// Runs the target `name` on `data`; `false` when there is no such target.
pub fn run(name: &str, data: &[u8]) -> bool {
    match TARGETS.iter().find(|(n, _)| *n == name) {
        Some((_, target)) => {
            target(data);
            true
        }
        None => false,
    }
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// `data` as header pairs: one `name: value` per line.
fn header_lines(data: &[u8]) -> Vec<(String, String)> {
    text(data)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect()
}

/// The part of `data` before the first NUL, and the rest.
fn halves(data: &[u8]) -> (String, String) {
    let cut = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    (
        text(&data[..cut]),
        text(data.get(cut + 1..).unwrap_or_default()),
    )
}

/// A route document: compiled, or refused with every problem located by a JSON path.
pub fn document(data: &[u8]) {
    if let Err(errors) = config::compile(&text(data)) {
        assert!(!errors.is_empty());
        assert!(errors.iter().all(|e| e.path.starts_with('$')));
    }
}

/// A route pattern and a request path: compiled into a one-route table and resolved.
pub fn routing(data: &[u8]) {
    let (pattern_text, path) = halves(data);
    let Ok(parts) = pattern::parse(&pattern_text) else {
        return;
    };
    let names: Vec<&str> = pattern::param_names(&parts).collect();
    let document = serde_json::json!({
        "version": 1,
        "services": {"s": {"upstreams": ["http://127.0.0.1:1"]}},
        "routes": [{"name": "r", "path": pattern_text, "service": "s"}]
    });
    let _ = limits::check_path(&path);
    if let Ok(gateway) = config::compile(&document.to_string()) {
        if let Ok(found) = gateway.routes.resolve("GET", "h", &path) {
            assert!(found
                .params
                .iter()
                .all(|(n, _)| names.contains(&n.as_str())));
        }
    }
}

/// Upstream path templates and aggregate backend paths: parsed and rendered.
pub fn templates(data: &[u8]) {
    let (template, value) = halves(data);
    if let Ok(compiled) = Template::compile(&template, &["id", "rest"]) {
        let _ = compiled.render(|_| Some(value.as_str()));
    }
    if let Ok(path) = PathTemplate::parse(&template, &["id"], &["order", "user"]) {
        let body = serde_json::json!({"user_id": 7, "a": {"b": [1, 2]}});
        let _ = path.render(
            |_| Some(value.as_str()),
            |_| Some(value.clone()),
            |_, field| compose::lookup(&body, field),
        );
    }
}

/// Bearer tokens and cookies: read, their header parsed, refused by a key that did not sign
/// them, their claims judged.
pub fn tokens(data: &[u8]) {
    let (token, cookie) = halves(data);
    let headers = vec![
        ("authorization".to_string(), format!("Bearer {token}")),
        ("cookie".to_string(), cookie),
    ];
    let _ = token_from(&headers, Some("session"));
    let Ok(untrusted) = jwt_compact::UntrustedToken::new(&token) else {
        return;
    };
    let (alg, _) = keys::header_of(&untrusted);
    let hmac =
        serde_json::json!({"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"});
    if let (Some(alg), Ok(key)) = (keys::Alg::from_name(alg), keys::from_jwk(&hmac)) {
        assert!(
            keys::verify(&untrusted, alg, &key).is_err(),
            "a token nobody signed with the key"
        );
    }
    if let Ok(parsed) =
        untrusted.deserialize_claims_unchecked::<serde_json::Map<String, serde_json::Value>>()
    {
        let _ = claims::scopes(&parsed.custom);
        let _ = claims::at_path(&parsed.custom, "realm.roles");
        let rules = claims::ClaimRules {
            issuer: "i".into(),
            audiences: vec!["a".into()],
            leeway_s: 60,
            required: vec![],
            roles_claim: None,
            plan_claim: None,
        };
        let _ = claims::check(&parsed, &rules, 1.0e12);
    }
}

/// JWKs, key sets and PEM keys.
pub fn keys_and_sets(data: &[u8]) {
    let text = text(data);
    let _ = keys::from_pem(&text, None, None);
    let _ = jwks::parse_set(&text);
    let _ = jwks::max_age(&text);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = keys::from_jwk(&value);
    }
}

/// Response and request caching headers: `Cache-Control`, dates, `Age`, `Vary`, validators,
/// and the storage and freshness decisions over them.
pub fn cache_headers(data: &[u8]) {
    let headers = header_lines(data);
    let values: Vec<&str> = headers.iter().map(|(_, v)| v.as_str()).collect();
    let directives = Directives::parse(values.iter().copied());
    let _ = directives.max_stale();
    for value in &values {
        let _ = parse_http_date(value);
        let _ = list_members(value).count();
        let length = data.len() as u64;
        if let Ranges::Parts(parts) = range::parse(Some(value), length) {
            let _ = range::multipart(data, &parts, Some(value), "b");
        }
        let _ = range::if_range_holds(Some(value), Some(value), Some(value));
    }
    let status = data.first().map_or(200, |b| 200 + u16::from(*b) % 400);
    let facts = RequestFacts {
        credentials: data.len().is_multiple_of(2),
        keyed_by_principal: false,
    };
    let policy = CachePolicy::default();
    if let Ok(f) = freshness::assess(&policy, &directives, facts, status, &headers, 0.0, 5.0) {
        assert!(f.lifetime_s.is_finite() && f.initial_age_s.is_finite());
        let age = freshness::current_age(&f, 5.0, 9.0e12);
        assert!(age.is_finite() && age >= 0.0);
        let _ = freshness::judge(&f, 5.0, 6.0e6, &directives, true);
    }
    let _ = freshness::vary(&headers);
    let _ = freshness::not_modified(&headers, Some("\"v\""), values.first().copied());
    let _ = key::normalise_query(values.first().copied(), &["utm_*".into()], true);
    let _ = key::variant_key("b", &["accept".into()], &headers);
}

/// Stored cache entries: garbage is refused, anything decoded encodes back to itself.
pub fn entries(data: &[u8]) {
    if let Some(entry) = Entry::decode(data) {
        assert_eq!(Entry::decode(&entry.encode()), Some(entry));
    }
}

/// IP ranges, CORS origins and preflights, and WebSocket handshakes.
pub fn edge_security(data: &[u8]) {
    let (first, second) = halves(data);
    let _ = Cidr::parse(&first);
    let policy = CorsPolicy {
        allow_origins: vec![first.clone(), "https://*.example.com".into()],
        allow_methods: vec![],
        allow_headers: vec!["x-a".into()],
        expose_headers: vec![],
        allow_credentials: true,
        max_age_s: 1,
    };
    let _ = policy.allows_origin(&second);
    let _ = policy.preflight(&second, "GET", Some(&first), &["GET"]);
    let headers = header_lines(data);
    let _ = websocket::check_handshake(&headers);
    let _ = websocket::is_upgrade("GET", &headers);
}

/// Request headers as the gateway reads, checks and forwards them.
pub fn headers(data: &[u8]) {
    let incoming = header_lines(data);
    let _ = limits::check("/", None, &incoming);
    let _ = limits::check_body(&incoming, 1024);
    let _ = http::cookie(&incoming, "session");
    let _ = request_id::accept_or_generate(http::header(&incoming, "x-request-id"), [7; 16]);
    let trace = TraceContext::continue_or_start(
        http::header(&incoming, "traceparent"),
        http::header(&incoming, "tracestate"),
        [9; 24],
    );
    let traceparent = trace.upstream_header();
    let forwarding = Forwarding {
        client_ip: http::header(&incoming, "cf-connecting-ip"),
        proto: "https",
        host: "h",
        request_id: "r",
        traceparent: &traceparent,
        tracestate: trace.tracestate.as_deref(),
    };
    let out = for_upstream(&incoming, &forwarding, &HeaderRules::default());
    let listed = http::connection_listed(&incoming);
    // What the client nominated as hop-by-hop never passes; the headers the gateway writes
    // itself (its own `traceparent`, say) are not the client's.
    assert!(out
        .iter()
        .all(|(n, _)| !http::is_hop_by_hop(n) && (!listed.contains(n) || http::is_managed(n))));
    let _ = for_client(&incoming, &HeaderRules::default(), "r");
}

fn cost_is_zero(gap: u8) -> bool {
    gap.is_multiple_of(3)
}

/// Rate-limit arithmetic over arbitrary limits, periods and arrival times.
pub fn rate_limits(data: &[u8]) {
    let number = |i: usize| {
        let mut bytes = [0u8; 8];
        for (j, byte) in bytes.iter_mut().enumerate() {
            *byte = data.get(i * 8 + j).copied().unwrap_or(0);
        }
        u64::from_le_bytes(bytes)
    };
    let limit = number(0) % 1_000_000_000 + 1;
    let period_ms = number(1) % (31 * 86_400_000) + 1;
    let burst = number(2) % 1_000 + 1;
    for algorithm in [
        Algorithm::Rate {
            limit,
            period_ms,
            burst,
        },
        Algorithm::Quota {
            limit: burst,
            window: Window::Seconds {
                seconds: period_ms / 1000 + 1,
            },
        },
        Algorithm::Quota {
            limit: burst,
            window: Window::Month,
        },
    ] {
        let mut state = State::default();
        let mut now = (number(3) % 4_000_000_000_000) as f64;
        for gap in data.iter().skip(32) {
            now += f64::from(*gap) * 97.0;
            let (decision, next) = consume(&algorithm, &state, now, u64::from(gap % 3));
            // A rate's allowance at once is its burst (which may exceed its limit); a quota's
            // is its limit.
            assert!(decision.remaining <= decision.limit.max(burst));
            assert!(decision.allowed || decision.retry_after_ms > 0 || cost_is_zero(*gap));
            state = next;
        }
    }
}
