//! Host-side cost of the gateway's pure stages, per request, in nanoseconds (native code; the
//! Wasm build runs the same code somewhat slower). `cargo bench --bench stages`.
//!
//! What it shows: the decisions the gateway makes per request take microseconds in all, so the
//! gap to a pass-through Worker is in what crosses into the runtime (headers copied across the
//! JS/Wasm boundary, Request/Response objects, subrequests), not in the stages' own logic.

// A benchmark that cannot set up should stop loudly.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use edge_gateway::cache::entry::Entry;
use edge_gateway::cache::freshness;
use edge_gateway::cache::plan::{Plan, Request};
use edge_gateway::config;
use edge_gateway::context::RequestContext;
use edge_gateway::metrics;
use edge_gateway::observe::{access_log, request_id, trace::TraceContext};
use edge_gateway::upstream::headers::{self, HeaderRules};

fn measure(name: &str, iterations: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iterations / 10 {
        f();
    }
    let started = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let ns = started.elapsed().as_nanos() as f64 / f64::from(iterations);
    println!("{name:<44} {ns:>10.0} ns");
    ns
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn main() {
    let document =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/routes/gateway.json"))
            .expect("routes/gateway.json");
    let request = pairs(&[
        ("host", "api.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
        ),
        ("accept", "application/json"),
        ("accept-encoding", "gzip, br"),
        ("accept-language", "en-GB,en;q=0.9"),
        ("cf-connecting-ip", "203.0.113.5"),
        ("x-forwarded-for", "198.51.100.7"),
        ("x-forwarded-proto", "https"),
        ("cookie", "session=abc; theme=dark"),
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("x-request-id", "req-123"),
        ("connection", "keep-alive"),
    ]);
    let response = pairs(&[
        ("content-type", "application/json"),
        ("content-length", "60"),
        ("date", "Thu, 26 Nov 2026 16:48:37 GMT"),
        ("cache-control", "public, max-age=60"),
        ("etag", "\"v1\""),
        ("x-powered-by", "demo"),
        ("connection", "keep-alive"),
        ("vary", "Accept-Language"),
    ]);
    let iterations = 100_000;
    println!("per request, {iterations} iterations each");
    let mut total = 0.0;

    let gateway = config::compile(&document).expect("valid document");
    measure(
        "config compile (once per change, not per request)",
        2_000,
        || {
            black_box(config::compile(black_box(&document)).is_ok());
        },
    );
    total += measure("route match", iterations, || {
        black_box(
            gateway
                .routes
                .resolve("GET", "api.example.com", "/api/users/42")
                .is_ok(),
        );
    });
    total += measure("request id + trace context", iterations, || {
        black_box(request_id::accept_or_generate(None, [7; 16]));
        black_box(TraceContext::continue_or_start(
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            None,
            [9; 24],
        ));
    });
    let trace = TraceContext::continue_or_start(None, None, [9; 24]);
    let traceparent = trace.upstream_header();
    let rules = HeaderRules {
        set: vec![("x-api-version".into(), "2".into())],
        remove: vec!["cookie".into()],
    };
    total += measure("upstream headers (12 in)", iterations, || {
        let forwarding = headers::Forwarding {
            client_ip: Some("203.0.113.5"),
            proto: "https",
            host: "api.example.com",
            request_id: "req-123",
            traceparent: &traceparent,
            tracestate: None,
        };
        black_box(headers::for_upstream(
            black_box(&request),
            &forwarding,
            &rules,
        ));
    });
    total += measure("client headers (8 in)", iterations, || {
        black_box(headers::for_client(black_box(&response), &rules, "req-123"));
    });
    let mut ctx = RequestContext::new("req-123".into(), trace.clone(), 0.0);
    ctx.method = "GET".into();
    ctx.host = "api.example.com".into();
    ctx.path = "/api/users/42".into();
    ctx.route = Some("get-user".into());
    ctx.status = 200;
    total += measure("access log line", iterations, || {
        black_box(access_log::line(&black_box(&ctx).access_log(12.0)));
    });
    let mut batch = metrics::Batch::new();
    total += measure(
        "metrics: sample into the isolate's batch",
        iterations,
        || {
            let sample = black_box(&ctx).sample(12.0);
            metrics::add(&mut batch, black_box(&sample));
        },
    );
    println!(
        "{:<44} {:>10.0} ns",
        "sum for a plain proxied request", total
    );

    let policy = gateway
        .routes
        .routes()
        .iter()
        .find_map(|r| r.cache.clone())
        .expect("a cached route in routes/gateway.json");
    let product = Request {
        route: "product",
        method: "GET",
        host: "api.example.com",
        path: "/api/products/kb-01",
        query: Some("utm_source=x&a=1"),
        headers: &request,
    };
    measure("cache: plan and key", iterations, || {
        black_box(Plan::new(&policy, black_box(&product), None));
    });
    let plan = Plan::new(
        &policy,
        &Request {
            path: "/p",
            query: None,
            ..product
        },
        None,
    )
    .expect("cacheable");
    measure("cache: may it be stored (RFC 9111)", iterations, || {
        black_box(
            freshness::assess(
                &policy,
                &plan.directives,
                plan.facts,
                200,
                black_box(&response),
                0.0,
                5.0,
            )
            .is_ok(),
        );
    });
    let freshness = freshness::assess(
        &policy,
        &plan.directives,
        plan.facts,
        200,
        &response,
        0.0,
        5.0,
    )
    .expect("storable");
    let entry = Entry {
        meta: edge_gateway::cache::entry::Meta {
            kind: edge_gateway::cache::entry::Kind::Response,
            vary: vec!["accept-language".into()],
            status: 200,
            headers: edge_gateway::cache::entry::storable_headers(&response),
            sent_ms: 0.0,
            received_ms: 5.0,
            freshness,
            route: "product".into(),
            tags: vec!["catalog".into()],
            url: "u".into(),
            prefixes: plan.prefix_ids(),
        },
        body: vec![b'x'; 1024],
    };
    let encoded = entry.encode();
    measure("cache: decode a stored 1 KB entry", iterations, || {
        black_box(Entry::decode(black_box(&encoded)).is_some());
    });

    // The firewall at its defaults: a browser's GET with a query, a cookie and a referer, and
    // a JSON body of ordinary records just under 64 KiB.
    let firewall = edge_gateway::firewall::settings::Firewall {
        mode: edge_gateway::firewall::settings::Mode::Block,
        paranoia: 1,
        threshold: 5,
        body_bytes: 131_072,
        exclusions: Vec::new(),
        rules: Vec::new(),
    };
    let browsing = pairs(&[
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"),
        ("cookie", "session=3b1f0c9e2a; theme=dark; consent=analytics%3Dno"),
        ("referer", "https://shop.example/catalogue?page=1"),
        ("content-type", "application/json"),
    ]);
    let get = edge_gateway::firewall::inspect::Request {
        method: "GET",
        path: "/guarded/1",
        query: Some("q=blue+suede+shoes&page=2&sort=-price"),
        headers: &browsing,
        body: None,
        body_too_large: false,
        ip: None,
        cf: None,
    };
    measure(
        "firewall: GET with query, cookie, referer",
        iterations,
        || {
            black_box(edge_gateway::firewall::inspect::inspect(&firewall, black_box(&get)).refuse);
        },
    );
    let mut records = Vec::new();
    let record = |i: usize| serde_json::json!({"id": i, "name": format!("Customer {i} O'Neil"), "email": format!("c{i}@example.com"), "city": "Dublin", "note": "Please deliver after 5 pm; ring twice & wait.", "tags": ["retail", "eu"]});
    while serde_json::json!({ "records": records }).to_string().len() < 65_536 - 200 {
        records.push(record(records.len()));
    }
    let body = serde_json::json!({ "records": records }).to_string();
    let post = edge_gateway::firewall::inspect::Request {
        method: "POST",
        query: None,
        body: Some(body.as_bytes()),
        ..get
    };
    measure("firewall: POST 64 KiB JSON", iterations / 50, || {
        black_box(edge_gateway::firewall::inspect::inspect(&firewall, black_box(&post)).refuse);
    });
}
