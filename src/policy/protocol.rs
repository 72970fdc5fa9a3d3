//! The protocol of `worker` and `http` policies: the JSON description of a request (and, in
//! the response phase, of the origin's answer) the gateway sends, and the verdict it reads
//! back. Documented in the README ("Policies"); plain functions over values.

use serde_json::{json, Map, Value};

use crate::auth::authenticate::Principal;
use crate::http::{is_hop_by_hop, is_managed, is_token, is_valid_value};
use crate::upstream::headers::HeaderRules;

/// The protocol's version, sent as `version` and bumped on an incompatible change.
pub const VERSION: u64 = 1;
/// Largest verdict read from a policy.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// What a policy is told about a request.
pub struct Description<'a> {
    pub policy: &'a str,
    pub request_id: &'a str,
    pub route: &'a str,
    /// Path parameters, decoded.
    pub params: &'a [(String, String)],
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a [(String, String)],
    pub client_ip: Option<&'a str>,
    pub cf: Option<&'a Value>,
    pub principal: Option<&'a Principal>,
    /// The request body, when the policy asks for it.
    pub body: Option<&'a [u8]>,
    /// In the response phase: the origin's (or the gateway's) status and headers.
    pub response: Option<(u16, &'a [(String, String)])>,
}

/// What a policy decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on, with these header changes toward the origin and toward the client.
    Continue {
        request_headers: HeaderRules,
        response_headers: HeaderRules,
    },
    /// Answer the client with this instead.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
}

/// The description as JSON text.
pub fn describe(d: &Description<'_>) -> String {
    let mut query: Map<String, Value> = Map::new();
    for (name, value) in url::form_urlencoded::parse(d.query.unwrap_or("").as_bytes()) {
        let values = query
            .entry(name.into_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = values {
            items.push(Value::String(value.into_owned()));
        }
    }
    let mut request = json!({
        "method": d.method,
        "path": d.path,
        "query_string": d.query.unwrap_or(""),
        "query": query,
        "headers": header_object(d.headers),
        "client_ip": d.client_ip,
        "cf": d.cf,
    });
    if let Some(body) = d.body {
        request["body"] = match std::str::from_utf8(body) {
            Ok(text) => Value::String(text.to_string()),
            Err(_) => Value::Null,
        };
        if std::str::from_utf8(body).is_err() {
            use base64::Engine;
            request["body_base64"] =
                Value::String(base64::engine::general_purpose::STANDARD.encode(body));
        }
    }
    let params: Map<String, Value> = d
        .params
        .iter()
        .map(|(n, v)| (n.clone(), Value::String(v.clone())))
        .collect();
    let principal = d.principal.map(|p| {
        json!({
            "scheme": p.scheme,
            "issuer": p.issuer,
            "subject": p.subject,
            "scopes": p.scopes,
            "roles": p.roles,
            "plan": p.plan,
            "claims": p.claims,
        })
    });
    let mut description = json!({
        "version": VERSION,
        "phase": if d.response.is_some() { "response" } else { "request" },
        "policy": d.policy,
        "request_id": d.request_id,
        "route": {"name": d.route, "params": params},
        "request": request,
        "principal": principal,
    });
    if let Some((status, headers)) = d.response {
        description["response"] = json!({"status": status, "headers": header_object(headers)});
    }
    description.to_string()
}

/// The description as a cache key: the same request from another client id or trace is the
/// same question.
pub fn cache_key(d: &Description<'_>) -> String {
    let headers: Vec<(String, String)> = d
        .headers
        .iter()
        .filter(|(n, _)| !matches!(n.as_str(), "x-request-id" | "traceparent" | "tracestate"))
        .cloned()
        .collect();
    describe(&Description {
        request_id: "",
        headers: &headers,
        ..*d
    })
}

/// The log line of a failure that `on_error: allow` let through.
pub fn allowed_failure(request_id: &str, route: &str, policy: &str, cause: &str) -> String {
    json!({"type": "policy", "request_id": request_id, "route": route, "policy": policy,
           "error": cause, "on_error": "allow"})
    .to_string()
}

fn header_object(headers: &[(String, String)]) -> Map<String, Value> {
    let mut out: Map<String, Value> = Map::new();
    for (name, value) in headers {
        match out.get_mut(name) {
            Some(Value::String(joined)) => {
                joined.push_str(", ");
                joined.push_str(value);
            }
            _ => {
                out.insert(name.clone(), Value::String(value.clone()));
            }
        }
    }
    out
}

/// Reads a policy's answer; `Err` says what is malformed.
pub fn parse_answer(text: &str) -> Result<Verdict, String> {
    if text.len() > MAX_ANSWER_BYTES {
        return Err(format!("the answer is over {MAX_ANSWER_BYTES} bytes"));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let object = value.as_object().ok_or("the answer is not a JSON object")?;
    match object.get("action").and_then(Value::as_str) {
        Some("continue") => Ok(Verdict::Continue {
            request_headers: changes(object.get("request_headers"), "request_headers")?,
            response_headers: changes(object.get("response_headers"), "response_headers")?,
        }),
        Some("respond") => {
            let status = object
                .get("status")
                .and_then(Value::as_u64)
                .filter(|s| (200..=599).contains(s))
                .ok_or("'status' must be a number from 200 to 599")?
                as u16;
            let mut headers = fields(object.get("headers"), "headers")?;
            let body = match object.get("body") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(text)) => text.clone().into_bytes(),
                Some(other) => {
                    if !headers.iter().any(|(n, _)| n == "content-type") {
                        headers.push(("content-type".into(), "application/json".into()));
                    }
                    other.to_string().into_bytes()
                }
            };
            Ok(Verdict::Respond {
                status,
                headers,
                body,
            })
        }
        Some(other) => Err(format!("unknown action '{other}' (continue or respond)")),
        None => Err("the answer has no 'action'".into()),
    }
}

fn changes(value: Option<&Value>, key: &str) -> Result<HeaderRules, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(HeaderRules::default());
    };
    let object = value
        .as_object()
        .ok_or(format!("'{key}' must be an object"))?;
    let set = fields(object.get("set"), &format!("{key}.set"))?;
    if let Some((name, _)) = set.iter().find(|(n, _)| is_managed(n)) {
        return Err(format!(
            "'{key}.set' names '{name}', which the gateway manages"
        ));
    }
    let remove = match object.get("remove") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item.as_str() {
                Some(name) if is_token(name) => Ok(name.to_ascii_lowercase()),
                _ => Err(format!("'{key}.remove' must list header names")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(format!("'{key}.remove' must be an array")),
    };
    Ok(HeaderRules { set, remove })
}

fn fields(value: Option<&Value>, key: &str) -> Result<Vec<(String, String)>, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let object = value.as_object().ok_or(format!(
        "'{key}' must be an object of header names to values"
    ))?;
    object
        .iter()
        .map(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            match value.as_str() {
                Some(text)
                    if is_token(&lower) && !is_hop_by_hop(&lower) && is_valid_value(text) =>
                {
                    Ok((lower, text.to_string()))
                }
                _ => Err(format!("'{key}' has an invalid header '{name}'")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pairs;

    #[test]
    fn the_description_carries_what_the_documentation_promises() {
        let headers = pairs(&[("accept", "a"), ("accept", "b"), ("x-tenant", "t")]);
        let params = pairs(&[("id", "7")]);
        let text = describe(&Description {
            policy: "entitled",
            request_id: "r1",
            route: "users",
            params: &params,
            method: "POST",
            path: "/users/7",
            query: Some("a=1&a=2&b=x"),
            headers: &headers,
            client_ip: Some("203.0.113.1"),
            cf: None,
            principal: None,
            body: Some(b"{\"x\":1}"),
            response: None,
        });
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(value["phase"], "request");
        assert_eq!(value["route"]["params"]["id"], "7");
        assert_eq!(value["request"]["headers"]["accept"], "a, b");
        assert_eq!(value["request"]["query"]["a"], json!(["1", "2"]));
        assert_eq!(value["request"]["body"], "{\"x\":1}");
        assert_eq!(value["principal"], Value::Null);
    }

    #[test]
    fn answers_are_read_strictly() {
        let verdict = parse_answer(
            r#"{"action":"continue","request_headers":{"set":{"X-User":"u1"},"remove":["x-debug"]}}"#,
        )
        .unwrap();
        assert_eq!(
            verdict,
            Verdict::Continue {
                request_headers: HeaderRules {
                    set: pairs(&[("x-user", "u1")]),
                    remove: vec!["x-debug".into()]
                },
                response_headers: HeaderRules::default()
            }
        );
        let respond =
            parse_answer(r#"{"action":"respond","status":403,"body":{"error":"no"}}"#).unwrap();
        assert_eq!(
            respond,
            Verdict::Respond {
                status: 403,
                headers: pairs(&[("content-type", "application/json")]),
                body: br#"{"error":"no"}"#.to_vec()
            }
        );
        for bad in [
            "nope",
            "[]",
            r#"{"action":"allow"}"#,
            r#"{"action":"respond","status":99}"#,
            r#"{"action":"continue","request_headers":{"set":{"host":"evil"}}}"#,
            r#"{"action":"respond","status":200,"headers":{"x":"a\nb"}}"#,
        ] {
            assert!(parse_answer(bad).is_err(), "{bad}");
        }
    }
}
