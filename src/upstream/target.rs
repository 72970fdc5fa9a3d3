//! Where a matched request goes: which upstream URL, with which path and query.

use crate::config::model::{Rewrite, Route, Upstream};
use crate::routing::Matched;

/// Picks one of a service's upstreams from a random number: uniform, stateless, so every isolate
/// spreads load the same way without coordination.
pub fn pick(upstreams: &[Upstream], random: u32) -> Option<&Upstream> {
    if upstreams.is_empty() {
        return None;
    }
    upstreams.get(random as usize % upstreams.len())
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
            pick(upstreams, 0).map(|u| u.origin.as_str()),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(
            pick(upstreams, 3).map(|u| u.origin.as_str()),
            Some("http://127.0.0.1:2")
        );
        assert!(pick(&[], 3).is_none());
    }
}
