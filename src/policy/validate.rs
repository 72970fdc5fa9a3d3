//! `validate` policies: a request's path parameters, query, headers and JSON body checked
//! against JSON Schemas (inline, or an OpenAPI operation's), every violation listed.

use serde_json::Value;

use super::schema::{Schema, Violation, MAX_VIOLATIONS};
use crate::http::header;

/// What a request must satisfy.
#[derive(Debug, Clone, Default)]
pub struct Validation {
    pub params: Vec<Param>,
    pub query: Vec<Param>,
    pub headers: Vec<Param>,
    pub body: Option<BodyRule>,
    /// Largest body read for checking; larger ones are refused with 413.
    pub max_body_bytes: u64,
}

/// One path parameter, query parameter or header (lower-case name).
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub required: bool,
    pub schema: Schema,
}

/// The JSON body's schema, and whether a body must be sent.
#[derive(Debug, Clone)]
pub struct BodyRule {
    pub schema: Schema,
    pub required: bool,
}

/// The parts of a request that are checked; `body` is its bytes when one was sent.
pub struct Parts<'a> {
    /// GET and HEAD carry no body: a body rule does not apply to them.
    pub method: &'a str,
    /// Path parameters, decoded.
    pub params: &'a [(String, String)],
    pub query: Option<&'a str>,
    pub headers: &'a [(String, String)],
    pub body: Option<&'a [u8]>,
}

impl Validation {
    /// Every violation in `parts` (at most [`MAX_VIOLATIONS`]).
    pub fn check(&self, parts: &Parts<'_>) -> Vec<Violation> {
        let mut out = Vec::new();
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(parts.query.unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        for param in &self.params {
            let value = parts
                .params
                .iter()
                .find(|(n, _)| *n == param.name)
                .map(|(_, v)| vec![v.as_str()]);
            check_text(param, value, "path", ',', &mut out);
        }
        for param in &self.query {
            let values: Vec<&str> = query
                .iter()
                .filter(|(n, _)| *n == param.name)
                .map(|(_, v)| v.as_str())
                .collect();
            check_text(
                param,
                (!values.is_empty()).then_some(values),
                "query",
                ',',
                &mut out,
            );
        }
        for param in &self.headers {
            let value = header(parts.headers, &param.name).map(|v| vec![v]);
            check_text(param, value, "header", ',', &mut out);
        }
        if let Some(rule) = self
            .body
            .as_ref()
            .filter(|_| !matches!(parts.method, "GET" | "HEAD"))
        {
            check_body(rule, parts, &mut out);
        }
        out.truncate(MAX_VIOLATIONS);
        out
    }

    pub fn reads_body(&self) -> bool {
        self.body.is_some()
    }
}

fn check_text(
    param: &Param,
    values: Option<Vec<&str>>,
    location: &'static str,
    separator: char,
    out: &mut Vec<Violation>,
) {
    let pointer = super::pointer::child("", &param.name);
    let Some(values) = values else {
        if param.required {
            out.push(Violation {
                location,
                pointer,
                message: "is required".into(),
            });
        }
        return;
    };
    let value = if param.schema.expects("array") {
        let items: Vec<&str> = if values.len() == 1 && location != "query" {
            values[0].split(separator).map(str::trim).collect()
        } else {
            values
        };
        let kind = ["integer", "number", "boolean"]
            .into_iter()
            .find(|k| param.schema.item_expects(k));
        Value::Array(items.into_iter().map(|text| typed(text, kind)).collect())
    } else {
        let kind = ["integer", "number", "boolean"]
            .into_iter()
            .find(|k| param.schema.expects(k));
        typed(values[0], kind)
    };
    param.schema.check(&value, location, &pointer, out);
}

/// Text from a URL or header as the JSON value the schema expects, when it reads as one.
fn typed(text: &str, kind: Option<&str>) -> Value {
    match kind {
        Some("integer" | "number") => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .ok()
            .or_else(|| {
                text.trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
            })
            .unwrap_or_else(|| Value::String(text.to_string())),
        Some("boolean") => match text.trim() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text.to_string()),
        },
        _ => Value::String(text.to_string()),
    }
}

fn check_body(rule: &BodyRule, parts: &Parts<'_>, out: &mut Vec<Violation>) {
    let violation = |message: &str| Violation {
        location: "body",
        pointer: String::new(),
        message: message.to_string(),
    };
    let body = parts.body.filter(|b| !b.is_empty());
    let Some(body) = body else {
        if rule.required {
            out.push(violation("is required"));
        }
        return;
    };
    let media = header(parts.headers, "content-type").unwrap_or("");
    let essence = media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" && !essence.ends_with("+json") {
        out.push(violation("must be JSON (Content-Type: application/json)"));
        return;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => rule.schema.check(&value, "body", "", out),
        Err(error) => out.push(violation(&format!("is not valid JSON: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pairs;
    use crate::reader::Errors;
    use serde_json::json;

    fn schema(value: Value) -> Schema {
        Schema::compile(&value, "", "$", &mut Errors::default()).unwrap()
    }

    fn param(name: &str, required: bool, s: Value) -> Param {
        Param {
            name: name.into(),
            required,
            schema: schema(s),
        }
    }

    #[test]
    fn text_is_typed_by_the_schema_and_every_part_is_checked() {
        let validation = Validation {
            params: vec![param("id", true, json!({"type": "integer", "minimum": 1}))],
            query: vec![
                param("limit", true, json!({"type": "integer", "maximum": 100})),
                param(
                    "tag",
                    false,
                    json!({"type": "array", "items": {"type": "string", "maxLength": 3}}),
                ),
                param("debug", false, json!({"type": "boolean"})),
            ],
            headers: vec![param("x-tenant", true, json!({"type": "string"}))],
            body: Some(BodyRule {
                schema: schema(json!({"type": "object", "required": ["name"]})),
                required: true,
            }),
            max_body_bytes: 1024,
        };
        let params = pairs(&[("id", "0")]);
        let headers = pairs(&[("content-type", "application/json")]);
        let parts = Parts {
            method: "POST",
            params: &params,
            query: Some("tag=ok&tag=toolong&debug=yes"),
            headers: &headers,
            body: Some(br#"{"nam": 1}"#),
        };
        let found: Vec<String> = validation
            .check(&parts)
            .iter()
            .map(|v| format!("{} {} {}", v.location, v.pointer, v.message))
            .collect();
        assert_eq!(
            found,
            vec![
                "path /id must be at least 1",
                "query /limit is required",
                "query /tag/1 must be at most 3 characters long",
                "query /debug must be boolean, not string",
                "header /x-tenant is required",
                "body /name is required",
            ]
        );
        let ok = Parts {
            method: "POST",
            params: &pairs(&[("id", "7")]),
            query: Some("limit=5&debug=true"),
            headers: &pairs(&[
                ("content-type", "application/merge-patch+json"),
                ("x-tenant", "a"),
            ]),
            body: Some(br#"{"name": "x"}"#),
        };
        assert!(validation.check(&ok).is_empty());
        let text = Parts {
            body: Some(b"name=x"),
            headers: &pairs(&[("content-type", "text/plain"), ("x-tenant", "a")]),
            ..ok
        };
        assert_eq!(
            validation.check(&text)[0].message,
            "must be JSON (Content-Type: application/json)"
        );
    }
}
