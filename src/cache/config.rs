//! A route's `cache` policy: its types, defaults and the `cache` section that sets them.

use serde_json::Value;

use crate::reader::{array, index_path, integer_in, string, strings, Errors, Object};

/// Entries are kept at most this long, whatever their lifetime; purge markers outlive it.
pub const MAX_RETENTION_S: u64 = 7 * 86_400;
/// Bodies larger than this are not stored unless the route says otherwise.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
/// Statuses an `override` lifetime applies to unless the route lists others.
pub const DEFAULT_OVERRIDE_STATUSES: [u16; 8] = [200, 203, 204, 300, 301, 308, 404, 410];

/// A route's `cache` policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicy {
    pub lifetime: Lifetime,
    /// Used when the origin does not send `stale-while-revalidate` (default 0).
    pub stale_while_revalidate_s: u64,
    /// Used when the origin does not send `stale-if-error` (default 0).
    pub stale_if_error_s: u64,
    /// Also keep entries in the global KV tier (default: edge only).
    pub global: bool,
    /// Query parameters left out of the key: exact names, or prefixes ending in `*`.
    pub ignore_query: Vec<String>,
    /// Sort query parameters in the key, so their order does not matter (default: no).
    pub sort_query: bool,
    /// On authenticated routes, share entries between callers (default: one entry per caller).
    pub shared: bool,
    /// Purge tags for every entry of the route.
    pub tags: Vec<String>,
    /// Larger bodies are relayed but not stored (default 1 MiB).
    pub max_body_bytes: u64,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            lifetime: Lifetime::Origin,
            stale_while_revalidate_s: 0,
            stale_if_error_s: 0,
            global: false,
            ignore_query: Vec::new(),
            sort_query: false,
            shared: false,
            tags: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Where a stored response's lifetime comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifetime {
    /// The origin's headers, as a shared cache reads them (RFC 9111).
    Origin,
    /// The route's TTL for these statuses; the origin can still refuse storage (`no-store`,
    /// `private`, `Set-Cookie`, `Vary: *`).
    Override { ttl_s: u64, statuses: Vec<u16> },
}

/// Largest stale window a route may set.
const MAX_STALE_SECONDS: u64 = 86_400;
/// Largest body a route may store: KV's value limit less room for the metadata.
const MAX_BODY_BYTES: u64 = 24 * 1024 * 1024;
const MAX_TAGS: usize = 16;

/// Reads a route's `cache` policy; `Ok(None)` for `"mode": "off"`.
pub fn parse_route_cache(
    value: &Value,
    path: &str,
    errors: &mut Errors,
) -> Option<Option<CachePolicy>> {
    let mut object = Object::read(value, path, errors)?;
    let mode = object.required("mode", errors).and_then(|(v, p)| {
        let mode = string(v, &p, errors)?;
        if matches!(mode, "off" | "origin" | "override") {
            Some(mode.to_string())
        } else {
            errors.push(
                &p,
                format!("'{mode}' must be 'off', 'origin' or 'override'"),
            );
            None
        }
    });
    let ttl = object
        .optional("ttl_seconds")
        .map(|(v, p)| (integer_in(v, &p, 1, MAX_RETENTION_S, errors), p));
    // Outer `None`: absent; inner `None`: present but invalid (already reported).
    let statuses: Option<Option<Vec<u16>>> = object.optional("statuses").map(|(v, p)| {
        let list = array(v, &p, errors)?;
        if list.is_empty() {
            errors.push(
                &p,
                "must list at least one status (omit it for the default)",
            );
            return None;
        }
        list.iter()
            .enumerate()
            .map(|(i, s)| integer_in(s, &index_path(&p, i), 200, 599, errors).map(|n| n as u16))
            .collect()
    });
    let stale = (0, MAX_STALE_SECONDS);
    let stale_while_revalidate_s =
        object.integer_or("stale_while_revalidate_seconds", stale, 0, errors);
    let stale_if_error_s = object.integer_or("stale_if_error_seconds", stale, 0, errors);
    let global = object.boolean_or("global", false, errors);
    let sort_query = object.boolean_or("sort_query", false, errors);
    let shared = object.boolean_or("shared", false, errors);
    let ignore_query = object.or("ignore_query", Vec::new(), errors, |v, p, errors| {
        let names = strings(v, p, errors)?;
        // At most one `*`, last: what precedes a final `*` may hold none.
        let bad = names
            .iter()
            .any(|n| n.is_empty() || n == "*" || n.strip_suffix('*').unwrap_or(n).contains('*'));
        if bad {
            errors.push(
                p,
                "names must be non-empty; '*' is allowed only at the end, after a prefix",
            );
            return None;
        }
        Some(names)
    });
    let tags = object.or("tags", Vec::new(), errors, |v, p, errors| {
        let tags = strings(v, p, errors)?;
        let valid = |t: &String| {
            !t.is_empty() && t.len() <= 128 && t.bytes().all(|b| b.is_ascii_graphic() && b != b',')
        };
        if tags.len() > MAX_TAGS || !tags.iter().all(valid) {
            errors.push(
                p,
                format!("at most {MAX_TAGS} tags of 1-128 visible characters without commas"),
            );
            return None;
        }
        Some(tags)
    });
    let max_body_bytes = object.integer_or(
        "max_body_bytes",
        (1, MAX_BODY_BYTES),
        DEFAULT_MAX_BODY_BYTES,
        errors,
    );
    object.finish(errors);

    let lifetime = match mode?.as_str() {
        "off" => return Some(None),
        "override" => {
            let Some((ttl, _)) = ttl else {
                errors.push(
                    &format!("{path}.ttl_seconds"),
                    "is required when mode is 'override'",
                );
                return None;
            };
            let statuses = match statuses {
                Some(list) => list?,
                None => DEFAULT_OVERRIDE_STATUSES.to_vec(),
            };
            Lifetime::Override {
                ttl_s: ttl?,
                statuses,
            }
        }
        _ => {
            if let Some((_, p)) = ttl {
                errors.push(&p, "only applies when mode is 'override' (mode 'origin' follows the origin's headers)");
                return None;
            }
            if statuses.is_some() {
                errors.push(
                    &format!("{path}.statuses"),
                    "only applies when mode is 'override'",
                );
                return None;
            }
            Lifetime::Origin
        }
    };
    Some(Some(CachePolicy {
        lifetime,
        stale_while_revalidate_s: stale_while_revalidate_s?,
        stale_if_error_s: stale_if_error_s?,
        global: global?,
        ignore_query: ignore_query?,
        sort_query: sort_query?,
        shared: shared?,
        tags: tags?,
        max_body_bytes: max_body_bytes?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(cache: Value) -> (Option<Option<CachePolicy>>, Vec<String>) {
        let mut errors = Errors::default();
        let policy = parse_route_cache(&cache, "$.routes[0].cache", &mut errors);
        let messages = errors.into_vec().iter().map(ToString::to_string).collect();
        (policy, messages)
    }

    fn errors(cache: Value) -> Vec<String> {
        parse(cache).1
    }

    #[test]
    fn policies_compile_with_their_defaults() {
        let (policy, found) = parse(json!({"mode": "override", "ttl_seconds": 30}));
        assert!(found.is_empty(), "{found:?}");
        let policy = policy.flatten().expect("cached");
        assert_eq!(
            policy.lifetime,
            Lifetime::Override {
                ttl_s: 30,
                statuses: DEFAULT_OVERRIDE_STATUSES.to_vec()
            }
        );
        assert_eq!(policy.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(
            policy,
            CachePolicy {
                lifetime: policy.lifetime.clone(),
                ..CachePolicy::default()
            }
        );
        assert_eq!(parse(json!({"mode": "off"})).0, Some(None));
    }

    #[test]
    fn every_mistake_is_reported_with_its_path() {
        let found = errors(json!({"mode": "override"}));
        assert_eq!(
            found,
            vec!["$.routes[0].cache.ttl_seconds: is required when mode is 'override'"]
        );
        let found = errors(json!({"mode": "origin", "ttl_seconds": 5}));
        assert!(
            found[0].starts_with("$.routes[0].cache.ttl_seconds: only applies"),
            "{found:?}"
        );
        let found = errors(json!({
            "mode": "origin", "global": "yes", "tags": ["a,b"], "ignore_query": ["*"],
            "stale_if_eror_seconds": 5
        }));
        let text = found.join("\n");
        for expected in [
            "$.routes[0].cache.global: expected a boolean",
            "$.routes[0].cache.tags: at most 16 tags",
            "$.routes[0].cache.ignore_query: names must be non-empty",
            "did you mean 'stale_if_error_seconds'",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        // A name ending in a character of several bytes (found by the fuzzer).
        assert!(
            errors(json!({"mode": "origin", "ignore_query": ["utm\u{fffd}", "a*é*"]}))[0]
                .contains("names must be non-empty")
        );
        assert!(errors(json!({"mode": "origin", "ignore_query": ["é", "ü*"]})).is_empty());
        assert!(errors(json!({"mode": "sometimes"}))[0]
            .contains("must be 'off', 'origin' or 'override'"));
        assert!(
            errors(json!({"mode": "override", "ttl_seconds": 5, "statuses": []}))[0]
                .contains("at least one status")
        );
    }
}
