//! A route's `cache` section.

use serde_json::Value;

use super::reader::{boolean, index_path, integer_in, string, strings, Errors, Object};
use crate::cache::entry::MAX_RETENTION_S;
use crate::cache::{CachePolicy, Lifetime, DEFAULT_MAX_BODY_BYTES, DEFAULT_OVERRIDE_STATUSES};

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
        let list = super::reader::array(v, &p, errors)?;
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
    let seconds = |object: &mut Object<'_>, key: &'static str, errors: &mut Errors| match object
        .optional(key)
    {
        Some((v, p)) => integer_in(v, &p, 0, MAX_STALE_SECONDS, errors),
        None => Some(0),
    };
    let stale_while_revalidate_s = seconds(&mut object, "stale_while_revalidate_seconds", errors);
    let stale_if_error_s = seconds(&mut object, "stale_if_error_seconds", errors);
    let flag = |object: &mut Object<'_>, key: &'static str, errors: &mut Errors| match object
        .optional(key)
    {
        Some((v, p)) => boolean(v, &p, errors),
        None => Some(false),
    };
    let global = flag(&mut object, "global", errors);
    let sort_query = flag(&mut object, "sort_query", errors);
    let shared = flag(&mut object, "shared", errors);
    let ignore_query = match object.optional("ignore_query") {
        Some((v, p)) => strings(v, &p, errors).and_then(|names| {
            let bad = names
                .iter()
                .any(|n| n.is_empty() || n == "*" || n[..n.len() - 1].contains('*'));
            if bad {
                errors.push(
                    &p,
                    "names must be non-empty; '*' is allowed only at the end, after a prefix",
                );
                return None;
            }
            Some(names)
        }),
        None => Some(Vec::new()),
    };
    let tags = match object.optional("tags") {
        Some((v, p)) => strings(v, &p, errors).and_then(|tags| {
            let valid = |t: &String| {
                !t.is_empty()
                    && t.len() <= 128
                    && t.bytes().all(|b| b.is_ascii_graphic() && b != b',')
            };
            if tags.len() > MAX_TAGS || !tags.iter().all(valid) {
                errors.push(
                    &p,
                    format!("at most {MAX_TAGS} tags of 1-128 visible characters without commas"),
                );
                return None;
            }
            Some(tags)
        }),
        None => Some(Vec::new()),
    };
    let max_body_bytes = match object.optional("max_body_bytes") {
        Some((v, p)) => integer_in(v, &p, 1, MAX_BODY_BYTES, errors),
        None => Some(DEFAULT_MAX_BODY_BYTES),
    };
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
