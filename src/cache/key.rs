//! Cache keys. A key names one route, one normalised URL and, when responses depend on who asks,
//! one caller; a variant key adds the values of the request fields the response `Vary`s on.
//! Keys are SHA-256 digests, so they fit both tiers' limits whatever the URL's length.

use sha2::{Digest, Sha256};

use crate::http::header;

/// Bumped when the stored format changes, so old entries are simply never found.
const FORMAT: &str = "v1";

/// The parts of a request a key is made of.
#[derive(Debug, Clone)]
pub struct KeyParts<'a> {
    pub route: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    /// The query after [`normalise_query`].
    pub query: &'a str,
    /// A digest of the caller, for routes whose responses depend on who asks.
    pub principal: Option<&'a str>,
    /// The backend whose answer this is, for the parts of a composed answer.
    pub part: Option<&'a str>,
}

/// The key of a URL's entry (or of its `Vary` marker).
pub fn base_key(parts: &KeyParts<'_>) -> String {
    let mut fields = vec![
        FORMAT,
        parts.route,
        parts.host,
        parts.path,
        parts.query,
        parts.principal.unwrap_or("-"),
    ];
    if let Some(part) = parts.part {
        fields.extend(["part", part]);
    }
    digest(&fields)
}

/// The key of one variant: the base key plus each varied field's value (absent ≠ empty).
pub fn variant_key(base: &str, vary: &[String], request_headers: &[(String, String)]) -> String {
    let mut parts = vec![base.to_string()];
    for name in vary {
        let value = request_headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>();
        parts.push(if value.is_empty() {
            format!("{name}\u{0}")
        } else {
            format!("{name}={}", value.join(","))
        });
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    digest(&refs)
}

/// Identifies a URL (host and path, any query) for purges and invalidation.
pub fn url_id(host: &str, path: &str) -> String {
    digest(&[FORMAT, host, path])[..32].to_string()
}

/// Path prefixes deeper than this many segments cannot be purged as prefixes (their URLs can).
pub const MAX_PREFIX_DEPTH: usize = 16;

/// A path prefix as purges name it: without trailing slashes (`/` for the root), or `None` when
/// it has more than [`MAX_PREFIX_DEPTH`] segments.
pub fn normalise_prefix(path: &str) -> Option<String> {
    let trimmed = path.trim_end_matches('/');
    let prefix = match trimmed.is_empty() {
        true => "/".to_string(),
        false => trimmed.to_string(),
    };
    (prefix.matches('/').count() <= MAX_PREFIX_DEPTH || prefix == "/").then_some(prefix)
}

/// Identifies a path prefix on a host for purges: it covers the path itself and everything
/// below it (`/products` covers `/products` and `/products/1`, not `/productsale`).
pub fn prefix_id(host: &str, prefix: &str) -> String {
    digest(&[FORMAT, "prefix", host, prefix])[..32].to_string()
}

/// The [`prefix_id`]s of every prefix that covers `path`, from `/` down to the path itself (at
/// most [`MAX_PREFIX_DEPTH`] segments deep).
pub fn prefix_ids(host: &str, path: &str) -> Vec<String> {
    let trimmed = path.trim_end_matches('/');
    let mut ids = vec![prefix_id(host, "/")];
    let ends = trimmed
        .match_indices('/')
        .map(|(i, _)| i)
        .skip(1)
        .chain((!trimmed.is_empty()).then_some(trimmed.len()));
    for end in ends.take(MAX_PREFIX_DEPTH) {
        ids.push(prefix_id(host, &trimmed[..end]));
    }
    ids
}

/// Identifies a caller across requests: scheme, issuer and subject. `None` when the caller has
/// no subject, so that such requests are never cached (they could not be told apart).
pub fn principal_id(scheme: &str, issuer: Option<&str>, subject: Option<&str>) -> Option<String> {
    let subject = subject.filter(|s| !s.is_empty())?;
    Some(digest(&[scheme, issuer.unwrap_or("-"), subject])[..32].to_string())
}

/// The query with ignored parameters removed and, optionally, the rest sorted. Each name in
/// `ignore` matches exactly, or as a prefix when it ends in `*` (`utm_*`).
pub fn normalise_query(query: Option<&str>, ignore: &[String], sort: bool) -> String {
    let Some(query) = query else {
        return String::new();
    };
    let ignored = |pair: &str| {
        let name = pair.split('=').next().unwrap_or_default();
        ignores(
            ignore,
            &percent_encoding::percent_decode_str(name).decode_utf8_lossy(),
        )
    };
    let mut pairs: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !ignored(pair))
        .collect();
    if sort {
        pairs.sort_unstable();
    }
    pairs.join("&")
}

/// Whether the `ignore` rules drop the (decoded) query parameter `name` from keys.
pub fn ignores(ignore: &[String], name: &str) -> bool {
    ignore.iter().any(|rule| match rule.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == rule.as_str(),
    })
}

/// Whether the request carried credentials of its own (a shared cache must not hand the answer
/// to anyone else unless the origin allows it).
pub fn has_credentials(request_headers: &[(String, String)]) -> bool {
    header(request_headers, "authorization").is_some()
}

fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(query: &'a str, principal: Option<&'a str>) -> KeyParts<'a> {
        KeyParts {
            route: "products",
            host: "api.example.com",
            path: "/products/1",
            query,
            principal,
            part: None,
        }
    }

    #[test]
    fn queries_drop_ignored_parameters_and_sort_on_request() {
        let ignore = vec!["utm_*".to_string(), "fbclid".to_string()];
        let q = Some("b=2&utm_source=x&a=1&fbclid=9&&utm%5Fmedium=y");
        assert_eq!(normalise_query(q, &ignore, false), "b=2&a=1");
        assert_eq!(normalise_query(q, &ignore, true), "a=1&b=2");
        assert_eq!(normalise_query(None, &ignore, true), "");
    }

    #[test]
    fn keys_separate_callers_and_queries() {
        let anonymous = base_key(&parts("a=1", None));
        assert_eq!(anonymous, base_key(&parts("a=1", None)));
        assert_ne!(anonymous, base_key(&parts("a=2", None)));
        let alice = principal_id("jwt", Some("idp"), Some("alice"));
        let bob = principal_id("jwt", Some("idp"), Some("bob"));
        assert_ne!(alice, bob);
        assert_ne!(base_key(&parts("a=1", alice.as_deref())), anonymous);
        assert_ne!(
            base_key(&parts("a=1", alice.as_deref())),
            base_key(&parts("a=1", bob.as_deref()))
        );
        assert_eq!(principal_id("jwt", Some("idp"), None), None);
        assert_eq!(principal_id("jwt", Some("idp"), Some("")), None);
    }

    #[test]
    fn a_backends_part_has_a_key_of_its_own() {
        let whole = base_key(&parts("", None));
        let part = |name| {
            base_key(&KeyParts {
                part: Some(name),
                ..parts("", None)
            })
        };
        assert_ne!(part("users"), whole);
        assert_ne!(part("users"), part("orders"));
    }

    #[test]
    fn prefixes_cover_their_own_path_and_whatever_is_below_it() {
        let ids = prefix_ids("h", "/products/shoes/42");
        let id = |p: &str| prefix_id("h", &normalise_prefix(p).expect("shallow"));
        for covering in [
            "/",
            "",
            "/products",
            "/products/",
            "/products/shoes",
            "/products/shoes/42",
        ] {
            assert!(ids.contains(&id(covering)), "{covering}");
        }
        for other in ["/product", "/products/shoe", "/products/shoes/4", "/orders"] {
            assert!(!ids.contains(&id(other)), "{other}");
        }
        assert!(!prefix_ids("other", "/products").contains(&id("/products")));
        assert_eq!(
            prefix_ids("h", "/a/").len(),
            2,
            "a trailing slash names the same path"
        );
        let deep = "/s".repeat(MAX_PREFIX_DEPTH + 4);
        assert_eq!(prefix_ids("h", &deep).len(), MAX_PREFIX_DEPTH + 1);
        assert!(normalise_prefix(&"/s".repeat(MAX_PREFIX_DEPTH)).is_some());
        assert!(normalise_prefix(&"/s".repeat(MAX_PREFIX_DEPTH + 1)).is_none());
    }

    #[test]
    fn ambiguous_concatenations_do_not_collide() {
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
    }

    #[test]
    fn variants_differ_by_varied_values_and_absence() {
        let vary = vec!["accept-language".to_string()];
        let en = vec![("accept-language".to_string(), "en".to_string())];
        let de = vec![("accept-language".to_string(), "de".to_string())];
        let empty = vec![("accept-language".to_string(), String::new())];
        let base = "k";
        let keys = [
            variant_key(base, &vary, &en),
            variant_key(base, &vary, &de),
            variant_key(base, &vary, &empty),
            variant_key(base, &vary, &[]),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        let spaced = vec![("accept-language".to_string(), "en,  de".to_string())];
        let tight = vec![("accept-language".to_string(), "en, de".to_string())];
        assert_eq!(
            variant_key(base, &vary, &spaced),
            variant_key(base, &vary, &tight)
        );
    }
}
