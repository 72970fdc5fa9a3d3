//! The `security` section, at the top level (defaults for every route) and per route (each of
//! `cors` and `ip` given there replaces the top-level one).

use serde_json::Value;

use super::reader::{boolean, index_path, integer_in, string, strings, Errors, Object};
use crate::intake::{MAX_HEADERS, MAX_HEADER_BYTES};
use crate::routing::methods::KNOWN_METHODS;
use crate::security::cidr::Cidr;
use crate::security::cors::CorsPolicy;
use crate::security::{IpPolicy, Limits, SecurityPolicy};
use crate::upstream::headers::is_token;

/// Reads a `security` object; keys it does not name are taken from `inherited`.
pub fn parse_security(
    value: &Value,
    path: &str,
    inherited: &SecurityPolicy,
    errors: &mut Errors,
) -> Option<SecurityPolicy> {
    let mut object = Object::read(value, path, errors)?;
    let cors = match object.optional("cors") {
        Some((v, p)) => parse_cors(v, &p, errors).map(Some),
        None => Some(inherited.cors.clone()),
    };
    let ip = match object.optional("ip") {
        Some((v, p)) => parse_ip(v, &p, errors).map(Some),
        None => Some(inherited.ip.clone()),
    };
    let limits = match object.optional("limits") {
        Some((v, p)) => parse_limits(v, &p, errors).map(Some),
        None => Some(inherited.limits),
    };
    object.finish(errors);
    Some(SecurityPolicy {
        cors: cors?,
        ip: ip?,
        limits: limits?,
    })
}

fn parse_cors(value: &Value, path: &str, errors: &mut Errors) -> Option<CorsPolicy> {
    let mut object = Object::read(value, path, errors)?;
    let allow_origins = object.required("allow_origins", errors).and_then(|(v, p)| {
        let origins = strings(v, &p, errors)?;
        let bad: Vec<&String> = origins.iter().filter(|o| !valid_origin(o)).collect();
        if origins.is_empty() || !bad.is_empty() {
            errors.push(
                &p,
                "list origins as scheme://host[:port], 'https://*.example.com' for subdomains, or '*'",
            );
            return None;
        }
        Some(origins)
    });
    let allow_methods = match object.optional("allow_methods") {
        Some((v, p)) => strings(v, &p, errors).and_then(|methods| {
            if methods.iter().all(|m| KNOWN_METHODS.contains(&m.as_str())) {
                Some(methods)
            } else {
                errors.push(
                    &p,
                    format!("methods must be among {}", KNOWN_METHODS.join(", ")),
                );
                None
            }
        }),
        None => Some(Vec::new()),
    };
    let header_list =
        |object: &mut Object<'_>, key: &'static str, default: &[&str], errors: &mut Errors| {
            match object.optional(key) {
                Some((v, p)) => strings(v, &p, errors).and_then(|names| {
                    if names.iter().all(|n| is_token(n)) {
                        Some(names.iter().map(|n| n.to_ascii_lowercase()).collect())
                    } else {
                        errors.push(&p, "header names must be valid tokens");
                        None
                    }
                }),
                None => Some(default.iter().map(|s| s.to_string()).collect()),
            }
        };
    let allow_headers = header_list(&mut object, "allow_headers", &[], errors);
    let expose_headers = header_list(&mut object, "expose_headers", &["x-request-id"], errors);
    let allow_credentials = match object.optional("allow_credentials") {
        Some((v, p)) => boolean(v, &p, errors),
        None => Some(false),
    };
    let max_age_s = match object.optional("max_age_seconds") {
        Some((v, p)) => integer_in(v, &p, 0, 86_400, errors),
        None => Some(600),
    };
    object.finish(errors);
    Some(CorsPolicy {
        allow_origins: allow_origins?,
        allow_methods: allow_methods?,
        allow_headers: allow_headers?,
        expose_headers: expose_headers?,
        allow_credentials: allow_credentials?,
        max_age_s: max_age_s?,
    })
}

fn valid_origin(origin: &str) -> bool {
    if origin == "*" {
        return true;
    }
    let Some((scheme, host)) = origin.split_once("://") else {
        return false;
    };
    let host = host.strip_prefix("*.").unwrap_or(host);
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

fn parse_ip(value: &Value, path: &str, errors: &mut Errors) -> Option<IpPolicy> {
    let mut object = Object::read(value, path, errors)?;
    let mut ranges = |object: &mut Object<'_>, key: &'static str| match object.optional(key) {
        Some((v, p)) => {
            let items = super::reader::array(v, &p, errors)?;
            let parsed: Vec<Option<Cidr>> = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let item_path = index_path(&p, i);
                    let text = string(item, &item_path, errors)?;
                    Cidr::parse(text)
                        .map_err(|m| errors.push(&item_path, m))
                        .ok()
                })
                .collect();
            parsed.into_iter().collect()
        }
        None => Some(Vec::new()),
    };
    let allow = ranges(&mut object, "allow");
    let deny = ranges(&mut object, "deny");
    object.finish(errors);
    Some(IpPolicy {
        allow: allow?,
        deny: deny?,
    })
}

fn parse_limits(value: &Value, path: &str, errors: &mut Errors) -> Option<Limits> {
    let mut object = Object::read(value, path, errors)?;
    let mut limit = |key: &'static str, max: u64| match object.optional(key) {
        Some((v, p)) => integer_in(v, &p, 1, max, errors).map(Some),
        None => Some(None),
    };
    let body = limit("max_body_bytes", 100 * 1024 * 1024);
    let header_bytes = limit("max_header_bytes", MAX_HEADER_BYTES as u64);
    let headers = limit("max_headers", MAX_HEADERS as u64);
    object.finish(errors);
    Some(Limits {
        max_body_bytes: body?,
        max_header_bytes: header_bytes?.map(|n| n as usize),
        max_headers: headers?.map(|n| n as usize),
    })
}
