//! The cache's view of one request, fixed before the lookup: whether it may use the cache at
//! all, its key, and the request facts the freshness rules need.

use super::config::CachePolicy;
use super::control::Directives;
use super::freshness::RequestFacts;
use super::key;
use crate::http::header;

/// The `X-Cache` value of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Hit,
    Miss,
    Stale,
    Revalidated,
    Bypass,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "HIT",
            Self::Miss => "MISS",
            Self::Stale => "STALE",
            Self::Revalidated => "REVALIDATED",
            Self::Bypass => "BYPASS",
        }
    }
}

/// What the cache needs to know of a request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub route: &'a str,
    pub method: &'a str,
    /// Lower case, without port.
    pub host: &'a str,
    /// Raw, still percent-encoded.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The client's headers, lower-case names.
    pub headers: &'a [(String, String)],
}

/// An authenticated caller, by what tells callers apart.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// `jwt` or `api_key`.
    pub scheme: &'a str,
    pub issuer: Option<&'a str>,
    pub subject: Option<&'a str>,
}

/// The cache's view of one request, fixed before the lookup.
#[derive(Debug, Clone)]
pub struct Plan {
    pub policy: CachePolicy,
    pub route: String,
    pub host: String,
    pub base_key: String,
    pub url_id: String,
    /// The request's path, for prefix purges; `None` for a part, which no prefix covers.
    pub path: Option<String>,
    pub directives: Directives,
    pub facts: RequestFacts,
    pub head: bool,
    /// The client's headers, for `Vary` and conditional requests.
    pub request_headers: Vec<(String, String)>,
}

impl Plan {
    /// The plan for a request on a cached route, or `None` when the request may not use the
    /// cache: methods other than GET and HEAD, `no-store`, or a caller who cannot be told apart
    /// from others on a route whose entries are per caller.
    pub fn new(
        policy: &CachePolicy,
        request: &Request<'_>,
        caller: Option<Caller<'_>>,
    ) -> Option<Self> {
        Self::keyed(policy, request, caller, None)
    }

    /// The plan for one backend's answer inside a composed one: `request` is the backend
    /// request (its path and query, the headers sent to it), keyed apart from the route's own
    /// entries under the backend's name. It counts as the route's for purges by route and tag.
    pub fn for_part(
        policy: &CachePolicy,
        request: &Request<'_>,
        caller: Option<Caller<'_>>,
        backend: &str,
    ) -> Option<Self> {
        Self::keyed(policy, request, caller, Some(backend))
    }

    fn keyed(
        policy: &CachePolicy,
        request: &Request<'_>,
        caller: Option<Caller<'_>>,
        part: Option<&str>,
    ) -> Option<Self> {
        if request.method != "GET" && request.method != "HEAD" {
            return None;
        }
        let directives = request_directives(request.headers);
        if directives.has("no-store") {
            return None;
        }
        let keyed = match caller {
            Some(c) if !policy.shared => Some(key::principal_id(c.scheme, c.issuer, c.subject)?),
            _ => None,
        };
        let query = key::normalise_query(request.query, &policy.ignore_query, policy.sort_query);
        let base_key = key::base_key(&key::KeyParts {
            route: request.route,
            host: request.host,
            path: request.path,
            query: &query,
            principal: keyed.as_deref(),
            part,
        });
        Some(Self {
            policy: policy.clone(),
            route: request.route.to_string(),
            host: request.host.to_string(),
            base_key,
            // A part is no URL of the gateway's: purges by URL never reach it by accident.
            url_id: match part {
                Some(part) => key::url_id(request.host, &format!("{part} {}", request.path)),
                None => key::url_id(request.host, request.path),
            },
            path: part.is_none().then(|| request.path.to_string()),
            directives,
            facts: RequestFacts {
                credentials: caller.is_some() || key::has_credentials(request.headers),
                keyed_by_principal: keyed.is_some(),
            },
            head: request.method == "HEAD",
            request_headers: request.headers.to_vec(),
        })
    }
}

impl Plan {
    /// What the stored entry records for purges by prefix.
    pub fn prefix_ids(&self) -> Vec<String> {
        self.path
            .as_deref()
            .map(|path| key::prefix_ids(&self.host, path))
            .unwrap_or_default()
    }
}

/// The request's `Cache-Control`; `Pragma: no-cache` counts when there is none (RFC 9111 §5.4).
fn request_directives(headers: &[(String, String)]) -> Directives {
    let values: Vec<&str> = headers
        .iter()
        .filter(|(name, _)| name == "cache-control")
        .map(|(_, value)| value.as_str())
        .collect();
    if values.is_empty() && header(headers, "pragma").is_some_and(|p| p.contains("no-cache")) {
        return Directives::parse(["no-cache"]);
    }
    Directives::parse(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pairs;

    fn request<'a>(method: &'a str, headers: &'a [(String, String)]) -> Request<'a> {
        Request {
            route: "r",
            method,
            host: "h",
            path: "/p",
            query: Some("b=2&a=1"),
            headers,
        }
    }

    #[test]
    fn only_reads_without_no_store_use_the_cache() {
        let policy = CachePolicy::default();
        assert!(Plan::new(&policy, &request("GET", &[]), None).is_some());
        assert!(Plan::new(&policy, &request("HEAD", &[]), None).is_some_and(|p| p.head));
        assert!(Plan::new(&policy, &request("POST", &[]), None).is_none());
        let no_store = pairs(&[("cache-control", "no-store")]);
        assert!(Plan::new(&policy, &request("GET", &no_store), None).is_none());
        let pragma = pairs(&[("pragma", "no-cache")]);
        let plan = Plan::new(&policy, &request("GET", &pragma), None).expect("plan");
        assert!(plan.directives.has("no-cache"));
    }

    #[test]
    fn callers_get_their_own_entries_unless_the_route_shares_them() {
        let policy = CachePolicy::default();
        let caller = |subject| Caller {
            scheme: "jwt",
            issuer: Some("idp"),
            subject,
        };
        let anonymous = Plan::new(&policy, &request("GET", &[]), None).expect("plan");
        let alice =
            Plan::new(&policy, &request("GET", &[]), Some(caller(Some("alice")))).expect("plan");
        let bob =
            Plan::new(&policy, &request("GET", &[]), Some(caller(Some("bob")))).expect("plan");
        assert_ne!(alice.base_key, bob.base_key);
        assert_ne!(alice.base_key, anonymous.base_key);
        assert!(alice.facts.credentials && alice.facts.keyed_by_principal);
        assert!(
            Plan::new(&policy, &request("GET", &[]), Some(caller(None))).is_none(),
            "a caller without a subject cannot be told apart"
        );
        let shared = CachePolicy {
            shared: true,
            ..CachePolicy::default()
        };
        let shared_alice =
            Plan::new(&shared, &request("GET", &[]), Some(caller(Some("alice")))).expect("plan");
        assert_eq!(shared_alice.base_key, anonymous.base_key);
        assert!(shared_alice.facts.credentials && !shared_alice.facts.keyed_by_principal);
    }
}
