//! The `auth` section of a route document, and routes' `auth` policies.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::reader::{array, index_path, integer_in, key_path, string, strings, Errors, Object};
use crate::auth::claims::{ClaimRules, Requirement};
use crate::auth::keys::{self, Alg};
use crate::auth::{AuthSettings, Issuer, JwksSettings, Mode, RouteAuth, DEFAULT_API_KEY_HEADER};
use crate::upstream::headers::{is_hop_by_hop, is_managed, is_token};

/// Reads the top-level `auth` section.
pub fn parse_settings(value: &Value, path: &str, errors: &mut Errors) -> AuthSettings {
    let mut settings = AuthSettings {
        issuers: BTreeMap::new(),
        api_key_header: DEFAULT_API_KEY_HEADER.into(),
    };
    let Some(mut object) = Object::read(value, path, errors) else {
        return settings;
    };
    if let Some((value, issuers_path)) = object.optional("issuers") {
        match value {
            Value::Object(map) => {
                for (name, issuer) in map {
                    let issuer_path = key_path(&issuers_path, name);
                    if !super::parse::is_valid_name(name) {
                        errors.push(&issuer_path, super::parse::name_rule());
                    }
                    if let Some(issuer) = parse_issuer(name, issuer, &issuer_path, errors) {
                        settings.issuers.insert(name.clone(), issuer);
                    }
                }
            }
            _ => errors.push(
                &issuers_path,
                "expected an object mapping issuer names to issuers",
            ),
        }
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
    object.finish(errors);
    settings
}

fn parse_issuer(name: &str, value: &Value, path: &str, errors: &mut Errors) -> Option<Issuer> {
    let mut object = Object::read(value, path, errors)?;
    let issuer = object
        .required("issuer", errors)
        .and_then(|(v, p)| string(v, &p, errors).map(str::to_string));
    let audiences = object
        .required("audiences", errors)
        .and_then(|(v, p)| non_empty_strings(v, &p, errors));
    let algorithms = object.required("algorithms", errors).and_then(|(v, p)| {
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
    let keys = match object.optional("keys") {
        Some((v, p)) => parse_keys(v, &p, errors),
        None => Some(Vec::new()),
    };
    let jwks_url = object.optional("jwks_url").and_then(|(v, p)| {
        let url = string(v, &p, errors)?;
        match super::parse::parse_upstream_url(url) {
            Ok(_) => Some(url.to_string()),
            Err(message) => {
                errors.push(&p, message);
                None
            }
        }
    });
    let (min_ttl_s, max_ttl_s) = match object.optional("jwks_cache_seconds") {
        Some((v, p)) => parse_ttl_bounds(v, &p, errors).unwrap_or((60, 86_400)),
        None => (60, 86_400),
    };
    let refetch_s = match object.optional("jwks_refetch_seconds") {
        Some((v, p)) => integer_in(v, &p, 1, 3_600, errors),
        None => Some(10),
    };
    let leeway_s = match object.optional("leeway_seconds") {
        Some((v, p)) => integer_in(v, &p, 0, 3_600, errors),
        None => Some(60),
    };
    let required = match object.optional("required_claims") {
        Some((v, p)) => strings(v, &p, errors),
        None => Some(Vec::new()),
    };
    let roles_claim = object
        .optional("roles_claim")
        .and_then(|(v, p)| string(v, &p, errors).map(str::to_string));
    let plan_claim = object
        .optional("plan_claim")
        .and_then(|(v, p)| string(v, &p, errors).map(str::to_string));
    object.finish(errors);

    let (keys, algorithms) = (keys?, algorithms?);
    if keys.is_empty() && jwks_url.is_none() {
        errors.push(path, "needs 'keys', 'jwks_url' or both");
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
        rules: ClaimRules {
            issuer: issuer?,
            audiences: audiences?,
            leeway_s: leeway_s?,
            required: required?,
            roles_claim,
            plan_claim,
        },
        algorithms,
        keys,
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
    let min = object
        .optional("min")
        .map_or(Some(60), |(v, p)| integer_in(v, &p, 0, 604_800, errors));
    let max = object
        .optional("max")
        .map_or(Some(86_400), |(v, p)| integer_in(v, &p, 1, 604_800, errors));
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
    issuers: &BTreeSet<String>,
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
    let schemes = match object.optional("schemes") {
        Some((v, p)) => strings(v, &p, errors).and_then(|list| {
            let jwt = list.iter().any(|s| s == "jwt");
            let api_key = list.iter().any(|s| s == "api_key");
            let unknown: Vec<&String> = list
                .iter()
                .filter(|s| *s != "jwt" && *s != "api_key")
                .collect();
            if !unknown.is_empty() || list.is_empty() {
                errors.push(&p, "must list 'jwt', 'api_key' or both");
                return None;
            }
            Some((jwt, api_key))
        }),
        None => Some((true, false)),
    };
    let route_issuers = match object.optional("issuers") {
        Some((v, p)) => strings(v, &p, errors).and_then(|list| {
            let unknown: Vec<&String> = list.iter().filter(|n| !issuers.contains(*n)).collect();
            if unknown.is_empty() {
                Some(list)
            } else {
                errors.push(&p, format!("unknown issuer(s): {unknown:?}"));
                None
            }
        }),
        None => Some(Vec::new()),
    };
    let scopes = object
        .optional("scopes")
        .map_or(Some(Requirement::None), |(v, p)| {
            parse_requirement(v, &p, errors)
        });
    let roles = object
        .optional("roles")
        .map_or(Some(Requirement::None), |(v, p)| {
            parse_requirement(v, &p, errors)
        });
    let forward_claims = match object.optional("forward_claims") {
        Some((Value::Object(map), p)) => {
            let mut pairs = Vec::new();
            let mut ok = true;
            for (claim, header) in map {
                let entry_path = key_path(&p, claim);
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
        Some((_, p)) => {
            errors.push(&p, "expected an object mapping claim names to header names");
            None
        }
        None => Some(Vec::new()),
    };
    let forward_credentials = match object.optional("forward_credentials") {
        Some((Value::Bool(b), _)) => Some(*b),
        Some((_, p)) => {
            errors.push(&p, "expected true or false");
            None
        }
        None => Some(false),
    };
    let cookie = object.optional("cookie").and_then(|(v, p)| {
        let name = string(v, &p, errors)?;
        if is_token(name) {
            Some(name.to_string())
        } else {
            errors.push(&p, format!("'{name}' is not a valid cookie name"));
            None
        }
    });
    object.finish(errors);
    let (jwt, api_key) = schemes?;
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
        issuers: route_issuers?,
        scopes: scopes?,
        roles: roles?,
        forward_claims: forward_claims?,
        forward_credentials: forward_credentials?,
        cookie,
    })
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
