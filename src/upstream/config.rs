//! The upstream side of the document: base URLs (`services.*.upstreams`), a route's
//! `upstream_path` or `strip_prefix`, and its `request_headers` and `response_headers` rules.

use serde_json::Value;

use super::headers::HeaderRules;
use super::target::{Rewrite, Upstream};
use crate::http::{is_hop_by_hop, is_managed, is_token, is_valid_value};
use crate::reader::{array, index_path, key_path, string, Errors, Object};
use crate::routing::pattern::{self, Template};

/// Most upstream URLs one service may list.
pub const MAX_UPSTREAMS: usize = 32;

/// Checks one upstream base URL: absolute http(s), an ASCII host, no credentials, query or
/// fragment. Internationalised host names are accepted only in their Punycode form: the build
/// leaves out the Unicode tables that converting them would need (see BENCHMARKS.md).
pub fn parse_upstream_url(text: &str) -> Result<Upstream, String> {
    if !text.is_ascii() {
        return Err(format!(
            "'{text}' must be ASCII; write an internationalised host name in its Punycode \
             form (xn--...) and percent-encode the path"
        ));
    }
    // Host names are compared in lower case, and the URL reader's ASCII-only host back end
    // (see Cargo.toml) expects them so; a percent-encoded host has no use here.
    let (scheme, rest) = text.split_once("://").unwrap_or(("", text));
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(cut);
    if authority.contains('%') {
        return Err(format!("'{text}' has a percent-encoded host"));
    }
    let lowered = format!("{scheme}://{}{tail}", authority.to_ascii_lowercase());
    let url = url::Url::parse(&lowered).map_err(|e| format!("'{text}' is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("'{text}' must use http or https"));
    }
    let Some(host) = url.host_str() else {
        return Err(format!("'{text}' has no host"));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "'{text}' must not carry credentials; set a header instead"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("'{text}' must not have a query or fragment"));
    }
    let origin = match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    };
    Ok(Upstream {
        origin,
        base_path: url.path().trim_end_matches('/').to_string(),
        weight: 1,
    })
}

/// Reads a service's `upstreams`: 1 to [`MAX_UPSTREAMS`] entries, at least one with weight.
pub fn parse_upstreams(value: &Value, path: &str, errors: &mut Errors) -> Option<Vec<Upstream>> {
    let items = array(value, path, errors)?;
    if items.is_empty() || items.len() > MAX_UPSTREAMS {
        errors.push(
            path,
            format!("must list between 1 and {MAX_UPSTREAMS} URLs"),
        );
        return None;
    }
    let parsed: Vec<Option<Upstream>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_upstream_entry(item, &index_path(path, i), errors))
        .collect();
    let upstreams: Vec<Upstream> = parsed.into_iter().collect::<Option<_>>()?;
    if upstreams.iter().all(|u| u.weight == 0) {
        errors.push(path, "at least one upstream needs a weight above 0");
        return None;
    }
    Some(upstreams)
}

/// Reads one entry of `upstreams`: a URL, or `{"url": ..., "weight": N}`.
fn parse_upstream_entry(value: &Value, path: &str, errors: &mut Errors) -> Option<Upstream> {
    let (url, url_path, weight) = match value {
        Value::String(url) => (url.as_str(), path.to_string(), Some(1)),
        Value::Object(_) => {
            let mut object = Object::read(value, path, errors)?;
            let url = object
                .required("url", errors)
                .and_then(|(v, p)| string(v, &p, errors).map(|u| (u, p)));
            let weight = object
                .integer_or("weight", (0, 1000), 1, errors)
                .map(|w| w as u32);
            object.finish(errors);
            let (url, url_path) = url?;
            (url, url_path, weight)
        }
        _ => {
            errors.push(path, "expected a URL or an object with 'url' and 'weight'");
            return None;
        }
    };
    match parse_upstream_url(url) {
        Ok(upstream) => Some(Upstream {
            weight: weight?,
            ..upstream
        }),
        Err(message) => {
            errors.push(&url_path, message);
            None
        }
    }
}

/// Reads a route's `upstream_path` or `strip_prefix` (at most one) from the route `object`,
/// checked against the parts of the route's path pattern (`None` when that is invalid).
pub fn parse_rewrite(
    object: &mut Object<'_>,
    route_parts: Option<&[pattern::Part]>,
    errors: &mut Errors,
) -> Option<Rewrite> {
    let template = object.optional("upstream_path");
    let strip = object.optional("strip_prefix");
    match (template, strip) {
        (Some(_), Some((_, path))) => {
            errors.push(&path, "cannot be combined with 'upstream_path'");
            None
        }
        (Some((value, path)), None) => {
            let text = string(value, &path, errors)?;
            // Without a valid route path there is nothing to check the template against.
            let parts = route_parts?;
            let available: Vec<&str> = pattern::param_names(parts).collect();
            match Template::compile(text, &available) {
                Ok(template) => Some(Rewrite::Template(template)),
                Err(message) => {
                    errors.push(&path, format!("'{text}' {message}"));
                    None
                }
            }
        }
        (None, Some((value, path))) => {
            let prefix = string(value, &path, errors)?;
            let parts = route_parts?;
            let literal = pattern::literal_prefix(parts);
            let ok = prefix.starts_with('/')
                && prefix.len() > 1
                && !prefix.ends_with('/')
                && literal.starts_with(prefix)
                && matches!(literal.as_bytes().get(prefix.len()), None | Some(b'/'));
            if ok {
                Some(Rewrite::StripPrefix(prefix.to_string()))
            } else {
                errors.push(
                    &path,
                    format!(
                        "'{prefix}' must be whole leading segments of the route path, \
                         starting with '/' and not ending with '/'"
                    ),
                );
                None
            }
        }
        (None, None) => Some(Rewrite::Keep),
    }
}

/// Reads `request_headers` or `response_headers`: `{"set": {NAME: VALUE}, "remove": [NAME]}`.
pub fn parse_header_rules(value: &Value, path: &str, errors: &mut Errors) -> Option<HeaderRules> {
    let mut object = Object::read(value, path, errors)?;
    let mut rules = HeaderRules::default();
    let mut ok = true;
    if let Some((value, set_path)) = object.optional("set") {
        match value {
            Value::Object(map) => {
                for (name, value) in map {
                    let entry_path = key_path(&set_path, name);
                    let lower = name.to_ascii_lowercase();
                    let Some(value) = string(value, &entry_path, errors) else {
                        ok = false;
                        continue;
                    };
                    if !is_token(&lower) {
                        errors.push(&entry_path, format!("'{name}' is not a valid header name"));
                        ok = false;
                    } else if is_hop_by_hop(&lower) || is_managed(&lower) {
                        errors.push(
                            &entry_path,
                            format!("'{name}' is managed by the gateway and cannot be set"),
                        );
                        ok = false;
                    } else if !is_valid_value(value) {
                        errors.push(
                            &entry_path,
                            "header values must be printable text without line breaks",
                        );
                        ok = false;
                    } else {
                        rules.set.push((lower, value.to_string()));
                    }
                }
            }
            _ => {
                errors.push(
                    &set_path,
                    "expected an object mapping header names to values",
                );
                ok = false;
            }
        }
    }
    if let Some((value, remove_path)) = object.optional("remove") {
        match array(value, &remove_path, errors) {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_path = index_path(&remove_path, i);
                    match string(item, &item_path, errors) {
                        Some(name) if is_token(name) => {
                            rules.remove.push(name.to_ascii_lowercase());
                        }
                        Some(name) => {
                            errors.push(&item_path, format!("'{name}' is not a valid header name"));
                            ok = false;
                        }
                        None => ok = false,
                    }
                }
            }
            None => ok = false,
        }
    }
    object.finish(errors);
    ok.then_some(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(errors: Errors) -> Vec<String> {
        errors.into_vec().into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn upstream_urls_must_be_ascii_and_punycode_hosts_are_accepted() {
        let error = parse_upstream_url("https://bücher.example/api").expect_err("not ASCII");
        assert!(error.contains("Punycode"), "{error}");
        let upstream = parse_upstream_url("https://xn--bcher-kva.example/api/").expect("valid");
        assert_eq!(upstream.origin, "https://xn--bcher-kva.example");
        assert_eq!(upstream.base_path, "/api");
        let upper = parse_upstream_url("https://API.Example.com/Base").expect("valid");
        assert_eq!(
            (upper.origin.as_str(), upper.base_path.as_str()),
            ("https://api.example.com", "/Base")
        );
        for bad in [
            "ftp://x",
            "not a url",
            "https://u:p@h",
            "https://h/?q",
            "https://h/#f",
            // Found by the fuzzer: the host back end assumed lower case after decoding.
            "http://%DD%DD/x",
        ] {
            assert!(parse_upstream_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn upstream_lists_take_urls_and_weights() {
        let mut errors = Errors::default();
        let list = parse_upstreams(
            &json!(["http://127.0.0.1:1", {"url": "http://127.0.0.1:2/v2", "weight": 9}]),
            "$.u",
            &mut errors,
        )
        .expect("valid");
        assert_eq!(list.iter().map(|u| u.weight).collect::<Vec<_>>(), [1, 9]);
        assert_eq!(list[1].origin_url(), "http://127.0.0.1:2/v2");
        assert!(parse_upstreams(&json!([]), "$.a", &mut errors).is_none());
        assert!(parse_upstreams(
            &json!([{"url": "http://127.0.0.1:1", "weight": 0}]),
            "$.b",
            &mut errors
        )
        .is_none());
        assert!(parse_upstreams(&json!(["ftp://x", 7]), "$.c", &mut errors).is_none());
        assert_eq!(paths(errors), ["$.a", "$.b", "$.c[0]", "$.c[1]"]);
    }

    #[test]
    fn header_rules_refuse_managed_and_invalid_headers() {
        let mut errors = Errors::default();
        let rules = parse_header_rules(
            &json!({"set": {"X-Api-Version": "2"}, "remove": ["Cookie"]}),
            "$.h",
            &mut errors,
        )
        .expect("valid");
        assert_eq!(rules.set, [("x-api-version".to_string(), "2".to_string())]);
        assert_eq!(rules.remove, ["cookie"]);
        let bad = json!({"set": {"connection": "close", "x-ok": "a\nb"}, "remove": ["bad header"]});
        assert!(parse_header_rules(&bad, "$.h", &mut errors).is_none());
        assert_eq!(
            paths(errors),
            ["$.h.set.connection", "$.h.set.x-ok", "$.h.remove[0]"]
        );
    }

    #[test]
    fn rewrites_are_checked_against_the_route_path() {
        let parts = pattern::parse("/api/users/{id}").expect("pattern");
        let route = json!({"upstream_path": "/v2/users/{id}"});
        let mut errors = Errors::default();
        let mut object = Object::read(&route, "$.r", &mut errors).expect("object");
        assert!(matches!(
            parse_rewrite(&mut object, Some(&parts), &mut errors),
            Some(Rewrite::Template(_))
        ));
        for (route, expected) in [
            (json!({"upstream_path": "/c/{name}"}), "$.r.upstream_path"),
            (json!({"strip_prefix": "/e"}), "$.r.strip_prefix"),
            (json!({"strip_prefix": "/api/"}), "$.r.strip_prefix"),
            (
                json!({"strip_prefix": "/api", "upstream_path": "/x"}),
                "$.r.strip_prefix",
            ),
        ] {
            let mut errors = Errors::default();
            let mut object = Object::read(&route, "$.r", &mut errors).expect("object");
            assert!(parse_rewrite(&mut object, Some(&parts), &mut errors).is_none());
            assert_eq!(paths(errors), [expected]);
        }
        let route = json!({"strip_prefix": "/api"});
        let mut object = Object::read(&route, "$.r", &mut errors).expect("object");
        assert_eq!(
            parse_rewrite(&mut object, Some(&parts), &mut errors),
            Some(Rewrite::StripPrefix("/api".into()))
        );
    }
}
