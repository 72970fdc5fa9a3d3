//! Where a matched request goes: which upstream URL, with which path and query.

use crate::routing::pattern::Template;

/// One base URL of a service, split so that paths can be appended without re-parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// The base URL's path without a trailing slash; empty for the root.
    pub base_path: String,
    /// Share of the service's traffic, relative to the other upstreams (default 1; 0 drains).
    pub weight: u32,
}

impl Upstream {
    /// The base URL, which names the upstream for circuit breaking.
    pub fn origin_url(&self) -> String {
        format!("{}{}", self.origin, self.base_path)
    }
}

/// How the path sent upstream is derived from the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// Send the request path unchanged (the default).
    Keep,
    /// Remove this literal prefix; an empty remainder becomes `/`.
    StripPrefix(String),
    /// Build the path from a template using the route's parameters.
    Template(Template),
}

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

/// The path sent upstream for `request_path` (raw, percent-encoded) under a route's rewrite,
/// with the parameters its pattern captured.
pub fn upstream_path(rewrite: &Rewrite, params: &[(String, String)], request_path: &str) -> String {
    match rewrite {
        Rewrite::Keep => request_path.to_string(),
        Rewrite::StripPrefix(prefix) => match request_path.strip_prefix(prefix.as_str()) {
            Some("") | None => "/".to_string(),
            Some(rest) => rest.to_string(),
        },
        Rewrite::Template(template) => template.render(|name| crate::routing::param(params, name)),
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

    fn upstream(origin: &str, weight: u32) -> Upstream {
        Upstream {
            origin: origin.into(),
            base_path: String::new(),
            weight,
        }
    }

    fn params(items: &[(&str, &str)]) -> Vec<(String, String)> {
        crate::http::pairs(items)
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
        assert_eq!(upstream_path(&Rewrite::Keep, &[], "/keep/a/b"), "/keep/a/b");
        let strip = Rewrite::StripPrefix("/api".into());
        assert_eq!(upstream_path(&strip, &[], "/api/orders/7"), "/orders/7");
        let strip_all = Rewrite::StripPrefix("/svc".into());
        assert_eq!(upstream_path(&strip_all, &[], "/svc"), "/");
        let template =
            Template::compile("/users/{id}/x/{rest}", &["id", "rest"]).expect("template");
        assert_eq!(
            upstream_path(
                &Rewrite::Template(template),
                &params(&[("id", "a%2Fb"), ("rest", "c/d")]),
                "/u/a%2Fb/c/d"
            ),
            "/users/a%2Fb/x/c/d"
        );
    }

    #[test]
    fn urls_keep_base_path_and_query() {
        let based = Upstream {
            origin: "http://127.0.0.1:1".into(),
            base_path: "/base".into(),
            weight: 1,
        };
        assert_eq!(
            upstream_url(&based, "/x", Some("a=1&b=%20")),
            "http://127.0.0.1:1/base/x?a=1&b=%20"
        );
        assert_eq!(
            upstream_url(&upstream("http://127.0.0.1:2", 1), "/x", None),
            "http://127.0.0.1:2/x"
        );
        assert_eq!(based.origin_url(), "http://127.0.0.1:1/base");
    }
}
