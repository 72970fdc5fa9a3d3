//! Where a matched request goes: which upstream URL, with which path and query.

use crate::config::model::{Rewrite, Route, Upstream};
use crate::routing::Matched;

/// Picks among the `eligible` upstreams in proportion to their weights, by `point` (random, or
/// a sticky key's hash, so the same key keeps its upstream while the weights stay). Upstreams
/// of weight 0 are never chosen (drained); `None` when no eligible one has weight.
pub fn choose(
    upstreams: &[Upstream],
    eligible: impl Fn(&Upstream) -> bool,
    point: u32,
) -> Option<&Upstream> {
    let candidates: Vec<&Upstream> = upstreams
        .iter()
        .filter(|u| u.weight > 0 && eligible(u))
        .collect();
    let total: u64 = candidates.iter().map(|u| u64::from(u.weight)).sum();
    if total == 0 {
        return None;
    }
    let mut at = u64::from(point) % total;
    for upstream in candidates {
        if at < u64::from(upstream.weight) {
            return Some(upstream);
        }
        at -= u64::from(upstream.weight);
    }
    None
}

/// The path sent upstream for `request_path` (raw, percent-encoded) under the route's rewrite.
pub fn upstream_path(route: &Route, matched: &Matched<'_>, request_path: &str) -> String {
    match &route.rewrite {
        Rewrite::Keep => request_path.to_string(),
        Rewrite::StripPrefix(prefix) => match request_path.strip_prefix(prefix.as_str()) {
            Some("") | None => "/".to_string(),
            Some(rest) => rest.to_string(),
        },
        Rewrite::Template(template) => template.render(|name| matched.param(name)),
    }
}

/// The full upstream URL: origin, base path, rewritten path, and the client's query unchanged.
pub fn upstream_url(upstream: &Upstream, path: &str, query: Option<&str>) -> String {
    let mut url = String::with_capacity(
        upstream.origin.len()
            + upstream.base_path.len()
            + path.len()
            + query.map_or(0, str::len)
            + 1,
    );
    url.push_str(&upstream.origin);
    url.push_str(&upstream.base_path);
    url.push_str(path);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::compile;

    fn gateway() -> crate::config::Gateway {
        compile(
            r#"{"version":1,
                "services":{"s":{"upstreams":["http://127.0.0.1:1/base","http://127.0.0.1:2"]}},
                "routes":[
                  {"name":"keep","path":"/keep/{*rest}","service":"s"},
                  {"name":"strip","path":"/api/orders/{*rest}","service":"s","strip_prefix":"/api"},
                  {"name":"strip-all","path":"/svc","service":"s","strip_prefix":"/svc"},
                  {"name":"tpl","path":"/u/{id}/{*rest}","service":"s","upstream_path":"/users/{id}/x/{rest}"}
                ]}"#,
        )
        .expect("valid")
    }

    fn path_for(request_path: &str) -> String {
        let gateway = gateway();
        let matched = gateway
            .routes
            .resolve("GET", "h", request_path)
            .expect("match");
        upstream_path(matched.route, &matched, request_path)
    }

    fn upstream(origin: &str, weight: u32) -> Upstream {
        Upstream {
            origin: origin.into(),
            base_path: String::new(),
            weight,
        }
    }

    #[test]
    fn choices_follow_weights_skip_drained_and_ineligible_upstreams() {
        let ups = [upstream("a", 90), upstream("b", 10), upstream("c", 0)];
        let mut counts = std::collections::HashMap::new();
        for point in 0..1000u32 {
            let chosen = choose(&ups, |_| true, point).expect("one");
            *counts.entry(chosen.origin.clone()).or_insert(0) += 1;
        }
        assert_eq!(counts.get("a"), Some(&900));
        assert_eq!(counts.get("b"), Some(&100));
        assert_eq!(counts.get("c"), None, "weight 0 drains");
        assert_eq!(
            choose(&ups, |u| u.origin != "a", 5).map(|u| u.origin.as_str()),
            Some("b")
        );
        assert!(choose(&ups, |u| u.origin == "c", 5).is_none());
        assert!(choose(&[], |_| true, 5).is_none());
        assert_eq!(
            choose(&ups, |_| true, 7),
            choose(&ups, |_| true, 7),
            "the same point, the same upstream"
        );
    }

    #[test]
    fn rewrites() {
        assert_eq!(path_for("/keep/a/b"), "/keep/a/b");
        assert_eq!(path_for("/api/orders/7"), "/orders/7");
        assert_eq!(path_for("/svc"), "/");
        assert_eq!(path_for("/u/a%2Fb/c/d"), "/users/a%2Fb/x/c/d");
    }

    #[test]
    fn urls_keep_base_path_and_query() {
        let gateway = gateway();
        let upstreams = &gateway.services["s"].upstreams;
        assert_eq!(
            upstream_url(&upstreams[0], "/x", Some("a=1&b=%20")),
            "http://127.0.0.1:1/base/x?a=1&b=%20"
        );
        assert_eq!(
            upstream_url(&upstreams[1], "/x", None),
            "http://127.0.0.1:2/x"
        );
    }

    #[test]
    fn picks_spread_over_all_upstreams() {
        let gateway = gateway();
        let upstreams = &gateway.services["s"].upstreams;
        assert_eq!(
            choose(upstreams, |_| true, 0).map(|u| u.origin.as_str()),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(
            choose(upstreams, |_| true, 3).map(|u| u.origin.as_str()),
            Some("http://127.0.0.1:2")
        );
        assert!(choose(&[], |_| true, 3).is_none());
    }
}
