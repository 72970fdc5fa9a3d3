//! The `security` section, at the top level (defaults for every route) and per route (each of
//! `cors` and `ip` given there replaces the top-level one).

use serde_json::Value;

use super::cidr::Cidr;
use super::cors::CorsPolicy;
use super::limits::{MAX_HEADERS, MAX_HEADER_BYTES};
use super::{IpPolicy, Limits, SecurityPolicy};
use crate::http::is_token;
use crate::reader::{array, index_path, string, strings, Errors, Object};
use crate::routing::methods::KNOWN_METHODS;

/// Reads a `security` object; keys it does not name are taken from `inherited`.
pub fn parse_security(
    value: &Value,
    path: &str,
    inherited: &SecurityPolicy,
    errors: &mut Errors,
) -> Option<SecurityPolicy> {
    let mut object = Object::read(value, path, errors)?;
    // Each key given here replaces the inherited one as a whole.
    let cors = object.or("cors", inherited.cors.clone(), errors, |v, p, errors| {
        parse_cors(v, p, errors).map(Some)
    });
    let ip = object.or("ip", inherited.ip.clone(), errors, |v, p, errors| {
        parse_ip(v, p, errors).map(Some)
    });
    let limits = object.or("limits", inherited.limits, errors, |v, p, errors| {
        parse_limits(v, p, errors).map(Some)
    });
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
    let allow_methods = object.or("allow_methods", Vec::new(), errors, |v, p, errors| {
        let methods = strings(v, p, errors)?;
        if methods.iter().all(|m| KNOWN_METHODS.contains(&m.as_str())) {
            Some(methods)
        } else {
            errors.push(
                p,
                format!("methods must be among {}", KNOWN_METHODS.join(", ")),
            );
            None
        }
    });
    let header_list =
        |object: &mut Object<'_>, key: &'static str, default: &[&str], errors: &mut Errors| {
            let default = default.iter().map(|s| s.to_string()).collect();
            object.or(key, default, errors, |v, p, errors| {
                let names = strings(v, p, errors)?;
                if names.iter().all(|n| is_token(n)) {
                    Some(names.iter().map(|n| n.to_ascii_lowercase()).collect())
                } else {
                    errors.push(p, "header names must be valid tokens");
                    None
                }
            })
        };
    let allow_headers = header_list(&mut object, "allow_headers", &[], errors);
    let expose_headers = header_list(&mut object, "expose_headers", &["x-request-id"], errors);
    let allow_credentials = object.boolean_or("allow_credentials", false, errors);
    let max_age_s = object.integer_or("max_age_seconds", (0, 86_400), 600, errors);
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
    let ranges = |v: &Value, p: &str, errors: &mut Errors| {
        let items = array(v, p, errors)?;
        let parsed: Vec<Option<Cidr>> = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let item_path = index_path(p, i);
                let text = string(item, &item_path, errors)?;
                Cidr::parse(text)
                    .map_err(|m| errors.push(&item_path, m))
                    .ok()
            })
            .collect();
        parsed.into_iter().collect()
    };
    let allow = object.or("allow", Vec::new(), errors, ranges);
    let deny = object.or("deny", Vec::new(), errors, ranges);
    object.finish(errors);
    Some(IpPolicy {
        allow: allow?,
        deny: deny?,
    })
}

fn parse_limits(value: &Value, path: &str, errors: &mut Errors) -> Option<Limits> {
    let mut object = Object::read(value, path, errors)?;
    let body = object.maybe_integer("max_body_bytes", (1, 100 * 1024 * 1024), errors);
    let header_bytes =
        object.maybe_integer("max_header_bytes", (1, MAX_HEADER_BYTES as u64), errors);
    let headers = object.maybe_integer("max_headers", (1, MAX_HEADERS as u64), errors);
    object.finish(errors);
    Some(Limits {
        max_body_bytes: body?,
        max_header_bytes: header_bytes?.map(|n| n as usize),
        max_headers: headers?.map(|n| n as usize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routes_inherit_the_documents_policies_and_may_replace_them() {
        let mut errors = Errors::default();
        let document = parse_security(
            &json!({"cors": {"allow_origins": ["https://app.example.com"]}, "ip": {"deny": ["192.0.2.0/24"]}}),
            "$.security",
            &SecurityPolicy::default(),
            &mut errors,
        )
        .expect("valid");
        let route = parse_security(
            &json!({"ip": {"allow": ["10.0.0.0/8", "2001:db8::/32"]}}),
            "$.routes[1].security",
            &document,
            &mut errors,
        )
        .expect("valid");
        assert!(errors.is_empty());
        assert!(route.cors.is_some(), "cors inherited");
        let (document_ip, route_ip) = (document.ip.expect("ip"), route.ip.expect("ip"));
        assert!(!document_ip.admits(Some("192.0.2.9")));
        assert!(
            route_ip.deny.is_empty()
                && route_ip.admits(Some("10.1.1.1"))
                && !route_ip.admits(Some("192.0.2.9")),
            "the route's own list replaced the document's"
        );
        assert_eq!(document.cors.as_ref().map(|c| c.max_age_s), Some(600));
        assert_eq!(
            document.cors.map(|c| c.expose_headers),
            Some(vec!["x-request-id".to_string()])
        );
    }

    #[test]
    fn bad_policies_are_reported_with_their_paths() {
        let mut errors = Errors::default();
        parse_security(
            &json!({"cors": {"allow_origins": ["app.example.com"], "allow_methods": ["FETCH"], "allow_headers": ["bad header"]}}),
            "$.security",
            &SecurityPolicy::default(),
            &mut errors,
        );
        parse_security(
            &json!({"ip": {"allow": ["10.0.0.0/33"], "dney": []}, "limits": {"max_headers": 101}}),
            "$.routes[0].security",
            &SecurityPolicy::default(),
            &mut errors,
        );
        let found: Vec<String> = errors.into_vec().iter().map(ToString::to_string).collect();
        let found = found.join("\n");
        for expected in [
            "$.security.cors.allow_origins: list origins as scheme://host",
            "$.security.cors.allow_methods: methods must be among",
            "$.security.cors.allow_headers: header names must be valid tokens",
            "$.routes[0].security.ip.allow[0]: '10.0.0.0/33' has a prefix length outside 0-32",
            "$.routes[0].security.ip.dney: unknown key 'dney' (did you mean 'deny'?)",
            "$.routes[0].security.limits.max_headers: 101 is out of range",
        ] {
            assert!(found.contains(expected), "{expected} in\n{found}");
        }
    }
}
