//! The `auth` section of a route document, and routes' `auth` policies.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::api_key::Consumer;
use super::certificate::Certificates;
use super::claims::{ClaimRules, Requirement};
use super::discovery::Discovery;
use super::introspection::Introspection;
use super::jwks::JwksSettings;
use super::keys::{self, Alg};
use super::settings::SessionSettings;
use super::settings::{AuthSettings, Issuer, Mode, OAuth2Flows, RouteAuth, DEFAULT_API_KEY_HEADER};
use super::signature::{Signatures, DEFAULT_COMPONENTS};
use crate::http::{is_hop_by_hop, is_managed, is_token};
use crate::reader::{array, index_path, key_path, named, string, strings, Errors, Object};
use crate::upstream::config::parse_upstream_url;

/// Reads the top-level `auth` section.
pub fn parse_settings(value: &Value, path: &str, errors: &mut Errors) -> AuthSettings {
    let mut settings = AuthSettings {
        issuers: BTreeMap::new(),
        api_key_header: DEFAULT_API_KEY_HEADER.into(),
        certificates: Certificates::default(),
        signatures: None,
        sessions: BTreeMap::new(),
    };
    let Some(mut object) = Object::read(value, path, errors) else {
        return settings;
    };
    if let Some((value, issuers_path)) = object.optional("issuers") {
        settings.issuers = named(
            value,
            &issuers_path,
            "issuer names to issuers",
            errors,
            parse_issuer,
        );
    }
    if let Some((value, api_path)) = object.optional("api_keys") {
        if let Some(mut api) = Object::read(value, &api_path, errors) {
            if let Some((value, header_path)) = api.optional("header") {
                match string(value, &header_path, errors) {
                    Some(name) if is_token(name) && !is_managed(&name.to_ascii_lowercase()) => {
                        settings.api_key_header = name.to_ascii_lowercase();
                    }
                    Some(name) => {
                        errors.push(&header_path, format!("'{name}' cannot carry API keys"))
                    }
                    None => {}
                }
            }
            api.finish(errors);
        }
    }
    if let Some((value, sessions_path)) = object.optional("sessions") {
        let issuers = &settings.issuers;
        settings.sessions = named(
            value,
            &sessions_path,
            "session names to logins",
            errors,
            |name, v, p, errors| parse_session(name, v, p, issuers, errors),
        );
    }
    if let Some((value, signatures_path)) = object.optional("signatures") {
        settings.signatures = parse_signatures(value, &signatures_path, errors);
    }
    if let Some((value, certs_path)) = object.optional("client_certificates") {
        settings.certificates = parse_certificates(value, &certs_path, errors);
    }
    object.finish(errors);
    settings
}

/// `sessions.<name>`: an edge login through an issuer with discovery.
fn parse_session(
    name: &str,
    value: &Value,
    path: &str,
    issuers: &BTreeMap<String, Issuer>,
    errors: &mut Errors,
) -> Option<SessionSettings> {
    let mut object = Object::read(value, path, errors)?;
    let issuer = object.required("issuer", errors).and_then(|(v, p)| {
        let issuer = string(v, &p, errors)?;
        match issuers.get(issuer) {
            Some(found) if found.discovery.is_some() => Some(issuer.to_string()),
            Some(_) => {
                errors.push(
                    &p,
                    format!("issuer '{issuer}' needs 'discovery': true to log users in"),
                );
                None
            }
            None => {
                errors.push(&p, format!("unknown issuer '{issuer}'"));
                None
            }
        }
    });
    let client_id = object
        .required("client_id", errors)
        .and_then(|(v, p)| string(v, &p, errors).map(str::to_string));
    let client_secret_var = object
        .required("client_secret_var", errors)
        .and_then(|(v, p)| crate::reader::secret_name(v, &p, errors));
    let key_var = object
        .required("key_var", errors)
        .and_then(|(v, p)| crate::reader::secret_name(v, &p, errors));
    let scopes = object.or(
        "scopes",
        vec!["openid".to_string()],
        errors,
        |v, p, errors| {
            let list = strings(v, p, errors)?;
            if !list.iter().any(|s| s == "openid") {
                errors.push(p, "must include 'openid'");
                return None;
            }
            Some(list)
        },
    );
    let path_of =
        |object: &mut Object<'_>, key: &'static str, default: &str, errors: &mut Errors| {
            object.or(key, default.to_string(), errors, |v, p, errors| {
                let text = string(v, p, errors)?;
                if super::session::local_path(text) && !text.contains('?') {
                    Some(text.to_string())
                } else {
                    errors.push(p, "must be a path of the gateway, such as /auth/callback");
                    None
                }
            })
        };
    let callback_path = path_of(&mut object, "callback_path", "/auth/callback", errors);
    let logout_path = path_of(&mut object, "logout_path", "/auth/logout", errors);
    let after_logout = object.or("after_logout", "/".to_string(), errors, |v, p, errors| {
        let text = string(v, p, errors)?;
        let url = url::Url::parse(text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"));
        if super::session::local_path(text) || url.is_some() {
            Some(text.to_string())
        } else {
            errors.push(p, "must be a path of the gateway or an http(s) URL");
            None
        }
    });
    let cookie = object.or(
        "cookie",
        "__Host-session".to_string(),
        errors,
        |v, p, errors| {
            let text = string(v, p, errors)?;
            if is_token(text) && !text.contains('=') {
                Some(text.to_string())
            } else {
                errors.push(p, format!("'{text}' is not a valid cookie name"));
                None
            }
        },
    );
    let refresh_before_s = object.integer_or("refresh_before_seconds", (0, 3_600), 60, errors);
    let max_age_s = object.integer_or("max_age_seconds", (60, 2_592_000), 86_400, errors);
    object.finish(errors);
    Some(SessionSettings {
        name: name.to_string(),
        issuer: issuer?,
        client_id: client_id?,
        client_secret_var: client_secret_var?,
        scopes: scopes?,
        callback_path: callback_path?,
        logout_path: logout_path?,
        after_logout: after_logout?,
        cookie: cookie?,
        key_var: key_var?,
        refresh_before_s: refresh_before_s?,
        max_age_s: max_age_s?,
    })
}

/// `signatures`: `{"keys": {KEYID: {secret_var, consumer?, scopes, plan}}, max_age_seconds, components}`.
fn parse_signatures(value: &Value, path: &str, errors: &mut Errors) -> Option<Signatures> {
    let mut object = Object::read(value, path, errors)?;
    let max_age_s = object.integer_or("max_age_seconds", (1, 3_600), 300, errors);
    let components = object.or(
        "components",
        DEFAULT_COMPONENTS.map(str::to_string).to_vec(),
        errors,
        |v, p, errors| {
            let list = strings(v, p, errors)?;
            let known = [
                "@method",
                "@path",
                "@authority",
                "@query",
                "@scheme",
                "@target-uri",
                "@request-target",
            ];
            match list
                .iter()
                .find(|c| c.starts_with('@') && !known.contains(&c.as_str()))
            {
                Some(bad) => {
                    errors.push(
                        p,
                        format!(
                            "'{bad}' is not a component the gateway derives ({})",
                            known.join(", ")
                        ),
                    );
                    None
                }
                None => Some(list.iter().map(|c| c.to_ascii_lowercase()).collect()),
            }
        },
    );
    let keys = object.required("keys", errors).map(|(v, p)| {
        named(v, &p, "key ids to keys", errors, |keyid, v, p, errors| {
            let mut entry = Object::read(v, p, errors)?;
            let secret_var = entry
                .required("secret_var", errors)
                .and_then(|(v, p)| crate::reader::secret_name(v, &p, errors));
            let consumer = entry.maybe_string("consumer", errors);
            let scopes = entry.strings_or_empty("scopes", errors);
            let plan = entry.maybe_string("plan", errors);
            entry.finish(errors);
            let name = consumer?.unwrap_or_else(|| keyid.to_string());
            Some((
                secret_var?,
                Consumer {
                    name,
                    scopes: scopes?,
                    plan: plan?,
                    disabled: false,
                },
            ))
        })
    });
    object.finish(errors);
    Some(Signatures {
        max_age_s: max_age_s?,
        keys: keys?,
        components: components?,
    })
}

/// `client_certificates`: `{"consumers": {NAME: {fingerprints, subjects, scopes, plan}}}`.
fn parse_certificates(value: &Value, path: &str, errors: &mut Errors) -> Certificates {
    let mut certificates = Certificates::default();
    let Some(mut object) = Object::read(value, path, errors) else {
        return certificates;
    };
    if let Some((value, consumers_path)) = object.required("consumers", errors) {
        let consumers = named(
            value,
            &consumers_path,
            "consumer names to certificates",
            errors,
            |name, v, p, errors| {
                let mut entry = Object::read(v, p, errors)?;
                let fingerprints = entry.strings_or_empty("fingerprints", errors);
                let subjects = entry.strings_or_empty("subjects", errors);
                let scopes = entry.strings_or_empty("scopes", errors);
                let plan = entry.maybe_string("plan", errors);
                entry.finish(errors);
                let fingerprints: Vec<String> = fingerprints?
                    .iter()
                    .map(|f| f.replace(':', "").to_ascii_lowercase())
                    .collect();
                if fingerprints
                    .iter()
                    .any(|f| f.len() != 64 || !f.bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    errors.push(
                        &key_path(p, "fingerprints"),
                        "fingerprints are SHA-256 in hex (64 digits, ':' allowed)",
                    );
                    return None;
                }
                let subjects = subjects?;
                if fingerprints.is_empty() && subjects.is_empty() {
                    errors.push(p, "needs 'fingerprints' or 'subjects'");
                    return None;
                }
                let consumer = Consumer {
                    name: name.to_string(),
                    scopes: scopes?,
                    plan: plan?,
                    disabled: false,
                };
                Some((fingerprints, subjects, consumer))
            },
        );
        certificates.consumers = consumers.into_values().collect();
    }
    object.finish(errors);
    certificates
}

fn parse_issuer(name: &str, value: &Value, path: &str, errors: &mut Errors) -> Option<Issuer> {
    let mut object = Object::read(value, path, errors)?;
    let issuer = object
        .required("issuer", errors)
        .and_then(|(v, p)| string(v, &p, errors).map(str::to_string));
    let audiences = object
        .required("audiences", errors)
        .and_then(|(v, p)| non_empty_strings(v, &p, errors));
    let by_key = ["keys", "jwks_url"].iter().any(|k| value.get(*k).is_some())
        || value.get("discovery") == Some(&Value::Bool(true));
    let algorithms_field = if by_key || value.get("introspection").is_none() {
        object.required("algorithms", errors)
    } else {
        object.optional("algorithms")
    };
    let no_algorithms = algorithms_field.is_none();
    let algorithms = algorithms_field.and_then(|(v, p)| {
        let items = array(v, &p, errors)?;
        if items.is_empty() {
            errors.push(&p, "must list at least one algorithm");
            return None;
        }
        let mut algs = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = index_path(&p, i);
            match string(item, &item_path, errors) {
                Some(name) if name.eq_ignore_ascii_case("none") => {
                    errors.push(
                        &item_path,
                        "'none' is never accepted: unsigned tokens prove nothing",
                    );
                }
                Some(name) => match Alg::from_name(name) {
                    Some(alg) if !algs.contains(&alg) => algs.push(alg),
                    Some(_) => errors.push(&item_path, format!("'{name}' is listed twice")),
                    None => errors.push(
                        &item_path,
                        format!(
                            "unsupported algorithm '{name}' (use {})",
                            Alg::ALL.map(Alg::name).join(", ")
                        ),
                    ),
                },
                None => {}
            }
        }
        (algs.len() == items.len()).then_some(algs)
    });
    // Introspection-only issuers check no signatures.
    let algorithms = if no_algorithms && !by_key {
        Some(Vec::new())
    } else {
        algorithms
    };
    let keys = object.or("keys", Vec::new(), errors, parse_keys);
    let discovery = object.boolean_or("discovery", false, errors);
    let introspection = object.maybe("introspection", errors, parse_introspection);
    let oauth2 = object.maybe("oauth2", errors, parse_oauth2);
    let jwks_url = object.optional("jwks_url").and_then(|(v, p)| {
        let url = string(v, &p, errors)?;
        match parse_upstream_url(url) {
            Ok(_) => Some(url.to_string()),
            Err(message) => {
                errors.push(&p, message);
                None
            }
        }
    });
    // Invalid bounds are reported; the defaults stand in so the rest can still be checked.
    let (min_ttl_s, max_ttl_s) = object
        .or("jwks_cache_seconds", (60, 86_400), errors, parse_ttl_bounds)
        .unwrap_or((60, 86_400));
    let refetch_s = object.integer_or("jwks_refetch_seconds", (1, 3_600), 10, errors);
    let leeway_s = object.integer_or("leeway_seconds", (0, 3_600), 60, errors);
    let required = object.strings_or_empty("required_claims", errors);
    let roles_claim = object
        .optional("roles_claim")
        .and_then(|(v, p)| string(v, &p, errors).map(str::to_string));
    let plan_claim = object
        .optional("plan_claim")
        .and_then(|(v, p)| string(v, &p, errors).map(str::to_string));
    object.finish(errors);

    let (keys, algorithms, discovery, introspection) =
        (keys?, algorithms?, discovery?, introspection?);
    let issuer = issuer?;
    if discovery
        && url::Url::parse(&issuer).map_or(true, |u| !matches!(u.scheme(), "http" | "https"))
    {
        errors.push(
            &key_path(path, "discovery"),
            "needs an 'issuer' that is an http or https URL",
        );
        return None;
    }
    if keys.is_empty() && jwks_url.is_none() && !discovery && introspection.is_none() {
        errors.push(
            path,
            "needs 'keys', 'jwks_url', 'discovery' or 'introspection'",
        );
        return None;
    }
    if introspection.as_ref().is_some_and(|i| i.endpoint.is_none()) && !discovery {
        errors.push(
            &key_path(path, "introspection"),
            "needs an 'endpoint', or 'discovery': true to find it",
        );
        return None;
    }
    for (i, key) in keys.iter().enumerate() {
        if !algorithms.iter().any(|alg| key.fits(*alg)) {
            errors.push(
                &index_path(&key_path(path, "keys"), i),
                "fits none of the issuer's 'algorithms'",
            );
        }
    }
    Some(Issuer {
        name: name.to_string(),
        discovery: discovery.then(|| Discovery::for_issuer(&issuer, (min_ttl_s, max_ttl_s))),
        introspection,
        oauth2: oauth2?,
        rules: ClaimRules {
            issuer,
            audiences: audiences?,
            leeway_s: leeway_s?,
            required: required?,
            roles_claim,
            plan_claim,
        },
        algorithms,
        keys,
        refetch_ms: refetch_s.unwrap_or(10) as f64 * 1000.0,
        jwks: match (jwks_url, refetch_s) {
            (Some(url), Some(refetch_s)) => Some(JwksSettings {
                url,
                min_ttl_s,
                max_ttl_s,
                refetch_ms: refetch_s as f64 * 1000.0,
            }),
            _ => None,
        },
    })
}

/// `oauth2`: `{token_url, authorization_url?, scopes?}`, for the OpenAPI document.
fn parse_oauth2(value: &Value, path: &str, errors: &mut Errors) -> Option<OAuth2Flows> {
    let mut object = Object::read(value, path, errors)?;
    let url = |object: &mut Object<'_>, key: &'static str, required: bool, errors: &mut Errors| {
        let found = if required {
            object.required(key, errors)
        } else {
            object.optional(key)
        };
        found.map(|(v, p)| {
            let text = string(v, &p, errors)?;
            match parse_upstream_url(text) {
                Ok(_) => Some(text.to_string()),
                Err(message) => {
                    errors.push(&p, message);
                    None
                }
            }
        })
    };
    let token_url = url(&mut object, "token_url", true, errors).flatten();
    let authorization_url = url(&mut object, "authorization_url", false, errors);
    let scopes = object.or("scopes", Vec::new(), errors, |v, p, errors| {
        let map = v.as_object().or_else(|| {
            errors.push(p, "expected an object mapping scopes to descriptions");
            None
        })?;
        map.iter()
            .map(|(scope, text)| {
                string(text, &key_path(p, scope), errors).map(|t| (scope.clone(), t.to_string()))
            })
            .collect()
    });
    object.finish(errors);
    Some(OAuth2Flows {
        token_url: token_url?,
        authorization_url: match authorization_url {
            Some(None) => return None,
            Some(found) => found,
            None => None,
        },
        scopes: scopes?,
    })
}

/// `introspection`: `{client_id, client_secret_var, endpoint?, cache_seconds?, negative_cache_seconds?}`.
fn parse_introspection(value: &Value, path: &str, errors: &mut Errors) -> Option<Introspection> {
    let mut object = Object::read(value, path, errors)?;
    let client_id = object
        .required("client_id", errors)
        .and_then(|(v, p)| string(v, &p, errors).map(str::to_string));
    let client_secret_var = object
        .required("client_secret_var", errors)
        .and_then(|(v, p)| crate::reader::secret_name(v, &p, errors));
    let endpoint = object.optional("endpoint").and_then(|(v, p)| {
        let url = string(v, &p, errors)?;
        match parse_upstream_url(url) {
            Ok(_) => Some(url.to_string()),
            Err(message) => {
                errors.push(&p, message);
                None
            }
        }
    });
    let cache_s = object.integer_or("cache_seconds", (1, 3_600), 300, errors);
    let negative_s = object.integer_or("negative_cache_seconds", (0, 300), 10, errors);
    object.finish(errors);
    Some(Introspection {
        endpoint,
        client_id: client_id?,
        client_secret_var: client_secret_var?,
        cache_s: cache_s?,
        negative_s: negative_s?,
    })
}

fn parse_keys(value: &Value, path: &str, errors: &mut Errors) -> Option<Vec<keys::VerifyKey>> {
    let items = array(value, path, errors)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let item_path = index_path(path, i);
        let parsed = match item.get("pem") {
            Some(pem) => {
                let mut object = Object::read(item, &item_path, errors)?;
                object.optional("pem");
                let kid = object
                    .optional("kid")
                    .and_then(|(v, p)| string(v, &p, errors).map(str::to_string));
                let alg = object.optional("alg").and_then(|(v, p)| {
                    let name = string(v, &p, errors)?;
                    let alg = Alg::from_name(name);
                    if alg.is_none() {
                        errors.push(&p, format!("unsupported algorithm '{name}'"));
                    }
                    alg
                });
                object.finish(errors);
                match pem.as_str() {
                    Some(pem) => keys::from_pem(pem, kid, alg),
                    None => Err("'pem' must be a string".into()),
                }
            }
            None => keys::from_jwk(item),
        };
        match parsed {
            Ok(key) => out.push(key),
            Err(message) => {
                errors.push(&item_path, message);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn parse_ttl_bounds(value: &Value, path: &str, errors: &mut Errors) -> Option<(u64, u64)> {
    let mut object = Object::read(value, path, errors)?;
    let min = object.integer_or("min", (0, 604_800), 60, errors);
    let max = object.integer_or("max", (1, 604_800), 86_400, errors);
    object.finish(errors);
    let (min, max) = (min?, max?);
    if min > max {
        errors.push(path, "'min' must not exceed 'max'");
        return None;
    }
    Some((min, max))
}

fn non_empty_strings(value: &Value, path: &str, errors: &mut Errors) -> Option<Vec<String>> {
    let list = strings(value, path, errors)?;
    if list.is_empty() {
        errors.push(path, "must list at least one value");
        return None;
    }
    Some(list)
}

/// Reads a route's `auth` policy; `issuers` are the names the document defines.
pub fn parse_route_auth(
    value: &Value,
    path: &str,
    (issuers, signatures, sessions): (&BTreeSet<String>, bool, &BTreeSet<String>),
    errors: &mut Errors,
) -> Option<RouteAuth> {
    let mut object = Object::read(value, path, errors)?;
    let mode = object
        .required("mode", errors)
        .and_then(|(v, p)| match string(v, &p, errors)? {
            "required" => Some(Mode::Required),
            "optional" => Some(Mode::Optional),
            other => {
                errors.push(
                    &p,
                    format!("'{other}' must be 'required' or 'optional' (omit 'auth' for none)"),
                );
                None
            }
        });
    let schemes = object.or(
        "schemes",
        [true, false, false, false, false],
        errors,
        |v, p, errors| {
            let list = strings(v, p, errors)?;
            let known = ["jwt", "api_key", "basic", "mtls", "signature"];
            let unknown = list.iter().any(|s| !known.contains(&s.as_str()));
            if unknown || list.is_empty() {
                errors.push(
                    p,
                    "must list one or more of 'jwt', 'api_key', 'basic', 'mtls', 'signature'",
                );
                return None;
            }
            Some(known.map(|k| list.iter().any(|s| s == k)))
        },
    );
    let route_issuers = object.or("issuers", Vec::new(), errors, |v, p, errors| {
        let list = strings(v, p, errors)?;
        let unknown: Vec<&String> = list.iter().filter(|n| !issuers.contains(*n)).collect();
        if unknown.is_empty() {
            Some(list)
        } else {
            errors.push(p, format!("unknown issuer(s): {unknown:?}"));
            None
        }
    });
    let scopes = object.or("scopes", Requirement::None, errors, parse_requirement);
    let roles = object.or("roles", Requirement::None, errors, parse_requirement);
    let forward_claims = object.or("forward_claims", Vec::new(), errors, parse_forward_claims);
    let forward_credentials = object.or("forward_credentials", false, errors, |v, p, errors| {
        let forward = v.as_bool();
        if forward.is_none() {
            errors.push(p, "expected true or false");
        }
        forward
    });
    let cookie = object.optional("cookie").and_then(|(v, p)| {
        let name = string(v, &p, errors)?;
        if is_token(name) {
            Some(name.to_string())
        } else {
            errors.push(&p, format!("'{name}' is not a valid cookie name"));
            None
        }
    });
    let session = object
        .maybe_string("session", errors)
        .and_then(|name| match name {
            Some(name) if !sessions.contains(&name) => {
                errors.push(
                    &key_path(path, "session"),
                    format!("unknown session '{name}' (see auth.sessions)"),
                );
                None
            }
            other => Some(other),
        });
    object.finish(errors);
    let [jwt, api_key, basic, mtls, signature] = schemes?;
    if signature && !signatures {
        errors.push(
            path,
            "accepts signatures but the document defines no 'auth.signatures'",
        );
        return None;
    }
    if jwt && issuers.is_empty() {
        errors.push(
            path,
            "accepts JWTs but the document defines no 'auth.issuers'",
        );
        return None;
    }
    Some(RouteAuth {
        mode: mode?,
        jwt,
        api_key,
        basic,
        mtls,
        signature,
        session: session?,
        issuers: route_issuers?,
        scopes: scopes?,
        roles: roles?,
        forward_claims: forward_claims?,
        forward_credentials: forward_credentials?,
        cookie,
    })
}

/// `forward_claims`: claim name → the upstream header that carries it.
fn parse_forward_claims(
    value: &Value,
    path: &str,
    errors: &mut Errors,
) -> Option<Vec<(String, String)>> {
    let Value::Object(map) = value else {
        errors.push(
            path,
            "expected an object mapping claim names to header names",
        );
        return None;
    };
    let mut pairs = Vec::new();
    let mut ok = true;
    for (claim, header) in map {
        let entry_path = key_path(path, claim);
        match string(header, &entry_path, errors) {
            Some(name) => {
                let lower = name.to_ascii_lowercase();
                if !is_token(&lower)
                    || is_hop_by_hop(&lower)
                    || is_managed(&lower)
                    || lower == "authorization"
                {
                    errors.push(&entry_path, format!("'{name}' cannot carry a claim"));
                    ok = false;
                } else {
                    pairs.push((claim.clone(), lower));
                }
            }
            None => ok = false,
        }
    }
    ok.then_some(pairs)
}

fn parse_requirement(value: &Value, path: &str, errors: &mut Errors) -> Option<Requirement> {
    let mut object = Object::read(value, path, errors)?;
    let all = object.optional("all_of");
    let any = object.optional("any_of");
    let requirement = match (all, any) {
        (Some((v, p)), None) => non_empty_strings(v, &p, errors).map(Requirement::AllOf),
        (None, Some((v, p))) => non_empty_strings(v, &p, errors).map(Requirement::AnyOf),
        _ => {
            errors.push(path, "needs exactly one of 'all_of' or 'any_of'");
            None
        }
    };
    object.finish(errors);
    requirement
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ED25519_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn issuers(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn paths(errors: Errors) -> Vec<String> {
        errors.into_vec().into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn settings_and_route_policies_compile() {
        let mut errors = Errors::default();
        let settings = parse_settings(
            &json!({
                "issuers": {
                    "idp": { "issuer": "https://idp.test/", "audiences": ["api"], "algorithms": ["EdDSA", "RS256"],
                             "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": ED25519_X, "kid": "k1" }],
                             "jwks_url": "https://idp.test/jwks", "leeway_seconds": 5, "roles_claim": "realm.roles" }
                },
                "api_keys": { "header": "X-Key" }
            }),
            "$.auth",
            &mut errors,
        );
        let issuer = &settings.issuers["idp"];
        assert_eq!(issuer.keys.len(), 1);
        assert_eq!(issuer.rules.leeway_s, 5);
        assert_eq!(issuer.jwks.as_ref().map(|j| j.refetch_ms), Some(10_000.0));
        assert_eq!(
            issuer.jwks.as_ref().map(|j| (j.min_ttl_s, j.max_ttl_s)),
            Some((60, 86_400))
        );
        assert_eq!(settings.api_key_header, "x-key");
        let auth = parse_route_auth(
            &json!({ "mode": "required", "schemes": ["jwt", "api_key"],
                     "scopes": { "any_of": ["a", "b"] }, "forward_claims": { "sub": "X-User-Id" } }),
            "$.routes[0].auth",
            (&issuers(&["idp"]), false, &BTreeSet::new()),
            &mut errors,
        )
        .expect("valid");
        assert!(errors.is_empty(), "{:?}", paths(errors));
        assert!(auth.jwt && auth.api_key && !auth.forward_credentials);
        assert_eq!(
            auth.scopes,
            Requirement::AnyOf(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            auth.forward_claims,
            [("sub".to_string(), "x-user-id".to_string())]
        );
    }

    #[test]
    fn discovery_and_introspection_issuers() {
        let mut errors = Errors::default();
        let settings = parse_settings(
            &json!({"issuers": {
                "oidc": {"issuer": "https://idp.test/", "audiences": ["api"], "algorithms": ["RS256"], "discovery": true,
                         "introspection": {"client_id": "gw", "client_secret_var": "IDP_SECRET"}},
                "opaque": {"issuer": "https://as.test", "audiences": ["api"],
                           "introspection": {"client_id": "gw", "client_secret_var": "AS_SECRET", "endpoint": "https://as.test/introspect", "cache_seconds": 30}}
            }}),
            "$.auth",
            &mut errors,
        );
        assert!(errors.is_empty(), "{:?}", paths(errors));
        let oidc = &settings.issuers["oidc"];
        assert_eq!(
            oidc.discovery.as_ref().map(|d| d.url.as_str()),
            Some("https://idp.test/.well-known/openid-configuration")
        );
        assert!(oidc.jwks.is_none());
        let opaque = &settings.issuers["opaque"];
        assert!(
            opaque.algorithms.is_empty(),
            "introspection checks no signatures"
        );
        assert_eq!(
            opaque
                .introspection
                .as_ref()
                .map(|i| (i.cache_s, i.negative_s)),
            Some((30, 10))
        );

        let mut errors = Errors::default();
        parse_settings(
            &json!({"issuers": {
                "a": {"issuer": "not a url", "audiences": ["api"], "algorithms": ["RS256"], "discovery": true},
                "b": {"issuer": "https://b.test", "audiences": ["api"], "introspection": {"client_id": "gw", "client_secret_var": "S"}},
                "c": {"issuer": "https://c.test", "audiences": ["api"], "introspection": {"client_id": "gw", "client_secret_var": "no-dash", "endpoint": "https://c.test/i"}},
                "d": {"issuer": "https://d.test", "audiences": ["api"], "discovery": true}
            }}),
            "$.auth",
            &mut errors,
        );
        let found = paths(errors);
        for want in [
            "$.auth.issuers.a.discovery",
            "$.auth.issuers.b.introspection",
            "$.auth.issuers.c.introspection.client_secret_var",
            "$.auth.issuers.d.algorithms",
        ] {
            assert!(found.iter().any(|p| p == want), "{want} in {found:?}");
        }
    }

    #[test]
    fn routes_name_declared_sessions_and_sessions_need_a_discovered_issuer() {
        let mut errors = Errors::default();
        let sessions: BTreeSet<String> = ["web".to_string()].into();
        let auth = parse_route_auth(
            &json!({"mode": "required", "session": "web"}),
            "$.r",
            (&issuers(&["idp"]), false, &sessions),
            &mut errors,
        );
        assert_eq!(auth.and_then(|a| a.session).as_deref(), Some("web"));
        parse_route_auth(
            &json!({"mode": "required", "session": "mobile"}),
            "$.r",
            (&issuers(&["idp"]), false, &sessions),
            &mut errors,
        );
        parse_settings(
            &json!({"issuers": {"plain": {"issuer": "https://p.test", "audiences": ["a"], "algorithms": ["RS256"], "jwks_url": "https://p.test/jwks"}},
                    "sessions": {"web": {"issuer": "plain", "client_id": "c", "client_secret_var": "S", "key_var": "K"}}}),
            "$.auth",
            &mut errors,
        );
        assert_eq!(
            paths(errors),
            vec!["$.r.session", "$.auth.sessions.web.issuer"]
        );
    }

    #[test]
    fn mistakes_are_reported_with_paths() {
        let mut errors = Errors::default();
        parse_settings(
            &json!({
                "issuers": {
                    "none-alg": { "issuer": "i", "audiences": ["a"], "algorithms": ["none", "ES512"], "keys": [] },
                    "keyless": { "issuer": "i", "audiences": [], "algorithms": ["RS256"] },
                    "weak": { "issuer": "i", "audiences": ["a"], "algorithms": ["HS256"], "keys": [{ "kty": "oct", "k": "c2hvcnQ" }] },
                    "mismatch": { "issuer": "i", "audiences": ["a"], "algorithms": ["RS256"],
                                  "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": ED25519_X }] },
                    "private": { "issuer": "i", "audiences": ["a"], "algorithms": ["EdDSA"],
                                 "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": ED25519_X, "d": ED25519_X }] }
                }
            }),
            "$.auth",
            &mut errors,
        );
        parse_route_auth(
            &json!({ "mode": "sometimes", "issuers": ["ghost"],
                     "forward_claims": { "sub": "x-request-id" }, "scopes": { "all_of": ["a"], "any_of": ["b"] },
                     "forward_credentials": "yes" }),
            "$.routes[0].auth",
            (&issuers(&["idp"]), false, &BTreeSet::new()),
            &mut errors,
        );
        let got = paths(errors);
        for expected in [
            "$.auth.issuers.none-alg.algorithms[0]",
            "$.auth.issuers.none-alg.algorithms[1]",
            "$.auth.issuers.keyless.audiences",
            "$.auth.issuers.weak.keys[0]",
            "$.auth.issuers.mismatch.keys[0]",
            "$.auth.issuers.private.keys[0]",
            "$.routes[0].auth.mode",
            "$.routes[0].auth.issuers",
            "$.routes[0].auth.forward_claims.sub",
            "$.routes[0].auth.scopes",
            "$.routes[0].auth.forward_credentials",
        ] {
            assert!(
                got.iter().any(|p| p == expected),
                "missing {expected} in {got:?}"
            );
        }
    }

    #[test]
    fn routes_that_accept_tokens_need_issuers() {
        let mut errors = Errors::default();
        assert!(parse_route_auth(
            &json!({"mode": "optional"}),
            "$.r",
            (&BTreeSet::new(), false, &BTreeSet::new()),
            &mut errors
        )
        .is_none());
        let api_keys_only = parse_route_auth(
            &json!({"mode": "optional", "schemes": ["api_key"]}),
            "$.r",
            (&BTreeSet::new(), false, &BTreeSet::new()),
            &mut errors,
        )
        .expect("valid");
        assert!(!api_keys_only.jwt && api_keys_only.api_key);
        assert_eq!(paths(errors), ["$.r"]);
    }
}
