//! Cross-origin resource sharing (the Fetch standard's CORS protocol), decided at the edge.

use crate::http::header;

/// The method a CORS preflight asks about: an `OPTIONS` request with `Origin` and
/// `Access-Control-Request-Method`; `None` for any other request.
pub fn preflight_method<'h>(method: &str, headers: &'h [(String, String)]) -> Option<&'h str> {
    match (method, header(headers, "origin")) {
        ("OPTIONS", Some(_)) => header(headers, "access-control-request-method"),
        _ => None,
    }
}

/// A route's `cors` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    /// Exact origins (`https://app.example.com`), `*.example.com` wildcards for any subdomain
    /// (with the scheme: `https://*.example.com`), or `*` for any origin.
    pub allow_origins: Vec<String>,
    /// Methods allowed cross-origin (default: the route's).
    pub allow_methods: Vec<String>,
    /// Request headers allowed cross-origin, lower case (default: none beyond the safelisted).
    pub allow_headers: Vec<String>,
    /// Response headers scripts may read (default: `x-request-id`).
    pub expose_headers: Vec<String>,
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight answer (default 600 s).
    pub max_age_s: u64,
}

impl CorsPolicy {
    /// Whether `origin` may call this route.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allow_origins
            .iter()
            .any(|rule| matches_origin(rule, origin))
    }

    /// The headers that answer a preflight for `method` and `requested` headers (comma
    /// separated), or why it is refused.
    pub fn preflight(
        &self,
        origin: &str,
        method: &str,
        requested: Option<&str>,
        route_methods: &[&str],
    ) -> Result<Vec<(String, String)>, String> {
        if !self.allows_origin(origin) {
            return Err(format!("origin '{origin}' is not allowed"));
        }
        let methods: Vec<&str> = if self.allow_methods.is_empty() {
            route_methods.to_vec()
        } else {
            self.allow_methods.iter().map(String::as_str).collect()
        };
        if !methods.contains(&method) {
            return Err(format!("method {method} is not allowed"));
        }
        let requested: Vec<String> = requested
            .unwrap_or_default()
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if let Some(refused) = requested.iter().find(|h| !self.allow_headers.contains(h)) {
            return Err(format!("request header '{refused}' is not allowed"));
        }
        let mut headers = self.origin_headers(origin);
        headers.push(("access-control-allow-methods".into(), methods.join(", ")));
        if !requested.is_empty() {
            headers.push(("access-control-allow-headers".into(), requested.join(", ")));
        }
        headers.push(("access-control-max-age".into(), self.max_age_s.to_string()));
        Ok(headers)
    }

    /// The headers added to an actual cross-origin response.
    pub fn response_headers(&self, origin: &str) -> Vec<(String, String)> {
        let mut headers = self.origin_headers(origin);
        if !self.expose_headers.is_empty() {
            headers.push((
                "access-control-expose-headers".into(),
                self.expose_headers.join(", "),
            ));
        }
        headers
    }

    fn origin_headers(&self, origin: &str) -> Vec<(String, String)> {
        // With credentials the origin must be echoed, never `*`; echoing always is simplest,
        // and `Vary: Origin` keeps caches from mixing answers for different origins.
        let any = self.allow_origins.iter().any(|o| o == "*");
        let value = if any && !self.allow_credentials {
            "*"
        } else {
            origin
        };
        let mut headers = vec![("access-control-allow-origin".to_string(), value.to_string())];
        if self.allow_credentials {
            headers.push(("access-control-allow-credentials".into(), "true".into()));
        }
        headers.push(("vary".into(), "Origin".into()));
        headers
    }
}

fn matches_origin(rule: &str, origin: &str) -> bool {
    if rule == "*" || rule.eq_ignore_ascii_case(origin) {
        return true;
    }
    // `https://*.example.com` matches `https://a.example.com` and `https://a.b.example.com`.
    match rule.split_once("*.") {
        Some((scheme, domain)) => origin
            .strip_prefix(scheme)
            .and_then(|host| host.strip_suffix(domain))
            .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1 && !sub.contains('/')),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pairs;

    #[test]
    fn preflights_are_options_with_an_origin_and_a_method() {
        let asking = pairs(&[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "PUT"),
        ]);
        assert_eq!(preflight_method("OPTIONS", &asking), Some("PUT"));
        assert_eq!(preflight_method("GET", &asking), None);
        let no_origin = pairs(&[("access-control-request-method", "PUT")]);
        assert_eq!(preflight_method("OPTIONS", &no_origin), None);
    }

    fn policy() -> CorsPolicy {
        CorsPolicy {
            allow_origins: vec![
                "https://app.example.com".into(),
                "https://*.example.org".into(),
            ],
            allow_methods: vec![],
            allow_headers: vec!["content-type".into(), "authorization".into()],
            expose_headers: vec!["x-request-id".into()],
            allow_credentials: true,
            max_age_s: 600,
        }
    }

    #[test]
    fn origins_match_exactly_or_by_subdomain_wildcard() {
        let p = policy();
        assert!(p.allows_origin("https://app.example.com"));
        assert!(p.allows_origin("https://a.example.org"));
        assert!(p.allows_origin("https://a.b.example.org"));
        assert!(
            !p.allows_origin("https://example.org"),
            "the wildcard needs a subdomain"
        );
        assert!(!p.allows_origin("http://a.example.org"), "scheme matters");
        assert!(!p.allows_origin("https://evil-example.org"));
        assert!(!p.allows_origin("https://a.example.org.evil.com"));
        assert!(!p.allows_origin("https://app.example.com.evil.com"));
    }

    #[test]
    fn preflights_check_method_and_headers() {
        let p = policy();
        let ok = p
            .preflight(
                "https://app.example.com",
                "PUT",
                Some("Content-Type, Authorization"),
                &["GET", "PUT"],
            )
            .expect("allowed");
        assert!(ok.contains(&(
            "access-control-allow-origin".into(),
            "https://app.example.com".into()
        )));
        assert!(ok.contains(&("access-control-allow-credentials".into(), "true".into())));
        assert!(ok.contains(&(
            "access-control-allow-headers".into(),
            "content-type, authorization".into()
        )));
        assert!(ok.contains(&("access-control-max-age".into(), "600".into())));
        assert!(p
            .preflight("https://app.example.com", "DELETE", None, &["GET"])
            .is_err());
        assert!(p
            .preflight("https://app.example.com", "GET", Some("x-secret"), &["GET"])
            .is_err());
        assert!(p
            .preflight("https://other.com", "GET", None, &["GET"])
            .is_err());
    }

    #[test]
    fn any_origin_is_star_without_credentials_and_echoed_with_them() {
        let mut p = CorsPolicy {
            allow_origins: vec!["*".into()],
            allow_credentials: false,
            ..policy()
        };
        assert_eq!(p.response_headers("https://x.test")[0].1, "*");
        p.allow_credentials = true;
        assert_eq!(p.response_headers("https://x.test")[0].1, "https://x.test");
    }
}
