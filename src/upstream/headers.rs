//! Which headers cross the gateway, in each direction. Plain functions over name/value pairs.

use crate::http::{connection_listed, header, is_hop_by_hop, MANAGED};

/// Header changes applied in order: remove first, then set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderRules {
    /// Lower-case names to set, replacing any value already present.
    pub set: Vec<(String, String)>,
    /// Lower-case names to remove.
    pub remove: Vec<String>,
}

/// What the gateway knows about the client connection, written into forwarding headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarding<'a> {
    /// From `CF-Connecting-IP`, which the platform sets and clients cannot forge.
    pub client_ip: Option<&'a str>,
    /// `http` or `https`, as the client connected.
    pub proto: &'a str,
    /// The `Host` the client asked for, port included.
    pub host: &'a str,
    pub request_id: &'a str,
    /// The `traceparent` for the upstream hop.
    pub traceparent: &'a str,
    /// The client's `tracestate`, passed on only with a valid incoming `traceparent`.
    pub tracestate: Option<&'a str>,
}

/// Drops hop-by-hop headers and, after them, whatever `rules` removes; then applies `rules.set`.
fn apply(
    headers: &[(String, String)],
    rules: &HeaderRules,
    also_drop: &[&str],
) -> Vec<(String, String)> {
    let listed = connection_listed(headers);
    let mut out: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| {
            !is_hop_by_hop(name)
                && !listed.contains(name)
                && !also_drop.contains(&name.as_str())
                && !rules.remove.contains(name)
                && !rules.set.iter().any(|(set, _)| set == name)
        })
        .cloned()
        .collect();
    out.extend(rules.set.iter().cloned());
    out
}

/// Applies `rules` to `headers` in place: the removed names and the set ones go, then the set
/// values are added.
pub fn change(headers: &mut Vec<(String, String)>, rules: &HeaderRules) {
    headers.retain(|(name, _)| {
        !rules.remove.contains(name) && !rules.set.iter().any(|(set, _)| set == name)
    });
    headers.extend(rules.set.iter().cloned());
}

/// The headers sent upstream. `incoming` has lower-case names, as the platform gives them.
pub fn for_upstream(
    incoming: &[(String, String)],
    forwarding: &Forwarding<'_>,
    rules: &HeaderRules,
) -> Vec<(String, String)> {
    // The fetch sets Host from the upstream URL; the rest is ours to rewrite below.
    let mut out = apply(incoming, rules, &MANAGED);
    let forwarded_for = header(incoming, "x-forwarded-for");
    if let Some(value) = forwarded_for_chain(forwarded_for, forwarding.client_ip) {
        out.push(("x-forwarded-for".into(), value));
    }
    out.push(("x-forwarded-proto".into(), forwarding.proto.to_string()));
    out.push(("x-forwarded-host".into(), forwarding.host.to_string()));
    out.push(("x-request-id".into(), forwarding.request_id.to_string()));
    out.push(("traceparent".into(), forwarding.traceparent.to_string()));
    if let Some(state) = forwarding.tracestate {
        out.push(("tracestate".into(), state.to_string()));
    }
    out
}

/// `X-Forwarded-For` for the upstream: the incoming chain with the client appended, unless the
/// platform already put the client last (Cloudflare does when it sets the header itself).
pub fn forwarded_for_chain(incoming: Option<&str>, client_ip: Option<&str>) -> Option<String> {
    match (incoming.map(str::trim).filter(|v| !v.is_empty()), client_ip) {
        (None, None) => None,
        (Some(chain), None) => Some(chain.to_string()),
        (None, Some(ip)) => Some(ip.to_string()),
        (Some(chain), Some(ip)) => {
            let last = chain.rsplit(',').next().map(str::trim);
            if last == Some(ip) {
                Some(chain.to_string())
            } else {
                Some(format!("{chain}, {ip}"))
            }
        }
    }
}

/// The headers returned to the client from an upstream response.
pub fn for_client(
    upstream: &[(String, String)],
    rules: &HeaderRules,
    request_id: &str,
) -> Vec<(String, String)> {
    let mut out = apply(upstream, rules, &["x-request-id"]);
    out.push(("x-request-id".into(), request_id.to_string()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pairs;

    fn forwarding() -> Forwarding<'static> {
        Forwarding {
            client_ip: Some("203.0.113.9"),
            proto: "https",
            host: "api.example.com",
            request_id: "rid-1",
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            tracestate: None,
        }
    }

    #[test]
    fn hop_by_hop_and_connection_listed_headers_are_dropped() {
        let incoming = pairs(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("accept", "application/json"),
        ]);
        let out = for_upstream(&incoming, &forwarding(), &HeaderRules::default());
        let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"accept"));
        for dropped in [
            "connection",
            "keep-alive",
            "x-secret-hop",
            "transfer-encoding",
        ] {
            assert!(!names.contains(&dropped), "{dropped} should be dropped");
        }
    }

    #[test]
    fn clients_cannot_forge_managed_headers() {
        let incoming = pairs(&[
            ("x-request-id", "forged"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "http"),
            ("host", "api.example.com"),
        ]);
        let out = for_upstream(&incoming, &forwarding(), &HeaderRules::default());
        assert_eq!(header(&out, "x-request-id"), Some("rid-1"));
        assert_eq!(header(&out, "x-forwarded-host"), Some("api.example.com"));
        assert_eq!(header(&out, "x-forwarded-proto"), Some("https"));
        assert_eq!(out.iter().filter(|(n, _)| n == "x-request-id").count(), 1);
        assert_eq!(header(&out, "host"), None);
    }

    #[test]
    fn route_rules_remove_then_set() {
        let rules = HeaderRules {
            set: vec![("x-api-version".into(), "2".into())],
            remove: vec!["cookie".into()],
        };
        let incoming = pairs(&[("cookie", "a=b"), ("x-api-version", "1")]);
        let out = for_upstream(&incoming, &forwarding(), &rules);
        assert_eq!(header(&out, "cookie"), None);
        assert_eq!(header(&out, "x-api-version"), Some("2"));
        assert_eq!(out.iter().filter(|(n, _)| n == "x-api-version").count(), 1);
    }

    #[test]
    fn forwarded_for_appends_the_client_once() {
        assert_eq!(
            forwarded_for_chain(None, Some("1.1.1.1")).as_deref(),
            Some("1.1.1.1")
        );
        assert_eq!(
            forwarded_for_chain(Some("10.0.0.1"), Some("1.1.1.1")).as_deref(),
            Some("10.0.0.1, 1.1.1.1")
        );
        assert_eq!(
            forwarded_for_chain(Some("10.0.0.1, 1.1.1.1"), Some("1.1.1.1")).as_deref(),
            Some("10.0.0.1, 1.1.1.1")
        );
        assert_eq!(forwarded_for_chain(None, None), None);
    }

    #[test]
    fn client_sees_our_request_id_and_no_hop_headers() {
        let upstream = pairs(&[
            ("x-request-id", "upstream-made"),
            ("connection", "close"),
            ("content-type", "application/json"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ]);
        let out = for_client(&upstream, &HeaderRules::default(), "rid-1");
        assert_eq!(header(&out, "x-request-id"), Some("rid-1"));
        assert_eq!(header(&out, "connection"), None);
        assert_eq!(out.iter().filter(|(n, _)| n == "set-cookie").count(), 2);
    }
}
