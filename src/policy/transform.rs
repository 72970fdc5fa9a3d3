//! `transform` policies: changes to JSON bodies by JSON Pointer (set, remove, move, copy,
//! rename, wrap, unwrap), to headers and to the query, with values taken from the request.
//! Plain functions over values; a change that finds nothing to change does nothing.

use serde_json::{Map, Value};

use super::pointer::Pointer;
use crate::http::{cookie, header};

/// What a `transform` changes on the way in and on the way out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transform {
    pub request: Changes,
    pub response: Changes,
}

/// Changes to one message, applied headers, query, then body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Lower-case names to remove, then to set.
    pub remove_headers: Vec<String>,
    pub set_headers: Vec<(String, Template)>,
    /// Query parameters to remove, then to set (request only).
    pub remove_query: Vec<String>,
    pub set_query: Vec<(String, Template)>,
    /// Body operations in order; when empty the body streams through untouched.
    pub body: Vec<Op>,
}

/// One body operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Set(Pointer, Input),
    Remove(Pointer),
    Move {
        from: Pointer,
        to: Pointer,
    },
    Copy {
        from: Pointer,
        to: Pointer,
    },
    /// Renames the member `path` points at, within its object.
    Rename {
        path: Pointer,
        to: String,
    },
    /// The whole body becomes `{…}` with the old body at this pointer.
    Wrap(Pointer),
    /// The whole body becomes what this pointer points at (unchanged when nothing is there).
    Unwrap(Pointer),
}

/// A value written by a `set`: literal, or read from the request.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Literal(Value),
    From(Field),
}

/// A part of the request a value is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Param(String),
    Query(String),
    Header(String),
    Cookie(String),
    Claim(String),
    RequestId,
    Route,
}

/// Text with `{source:name}` placeholders, such as `Bearer {claim:sub}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(pub Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Field(Field),
}

/// What values are read from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs<'a> {
    /// Path parameters, decoded.
    pub params: &'a [(String, String)],
    pub query: Option<&'a str>,
    pub headers: &'a [(String, String)],
    pub claims: Option<&'a Map<String, Value>>,
    pub request_id: &'a str,
    pub route: &'a str,
}

impl Field {
    /// Parses `param:id`, `query:q`, `header:x-y`, `cookie:c`, `claim:sub`, `request_id`, `route`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let field = match text.split_once(':') {
            None if text == "request_id" => Self::RequestId,
            None if text == "route" => Self::Route,
            Some(("param", n)) if !n.is_empty() => Self::Param(n.into()),
            Some(("query", n)) if !n.is_empty() => Self::Query(n.into()),
            Some(("header", n)) if crate::http::is_token(n) => Self::Header(n.to_ascii_lowercase()),
            Some(("cookie", n)) if !n.is_empty() => Self::Cookie(n.into()),
            Some(("claim", n)) if !n.is_empty() => Self::Claim(n.into()),
            _ => {
                return Err(format!(
                    "'{text}' is not a request field (param:NAME, query:NAME, header:NAME, \
                     cookie:NAME, claim:NAME, request_id, route)"
                ))
            }
        };
        Ok(field)
    }

    /// The field's value in this request, if it has one.
    pub fn value(&self, inputs: &Inputs<'_>) -> Option<Value> {
        let text = |s: &str| Some(Value::String(s.to_string()));
        match self {
            Self::Param(name) => inputs
                .params
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| text(v)),
            Self::Query(name) => inputs.query.and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(n, _)| n == name)
                    .and_then(|(_, v)| text(&v))
            }),
            Self::Header(name) => header(inputs.headers, name).and_then(text),
            Self::Cookie(name) => cookie(inputs.headers, name).and_then(|c| text(&c)),
            Self::Claim(name) => inputs.claims.and_then(|c| c.get(name)).cloned(),
            Self::RequestId => text(inputs.request_id),
            Self::Route => text(inputs.route),
        }
    }
}

impl Template {
    /// Parses `text`; `{{` and `}}` stand for braces.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(['{', '}']) {
            literal.push_str(&rest[..i]);
            let tail = &rest[i..];
            if tail.starts_with("{{") || tail.starts_with("}}") {
                literal.push_str(&tail[..1]);
                rest = &tail[2..];
                continue;
            }
            if tail.starts_with('}') {
                return Err(format!(
                    "'{text}' has a '}}' without its '{{' (write '}}}}')"
                ));
            }
            let Some(end) = tail.find('}') else {
                return Err(format!("'{text}' has a '{{' without its '}}'"));
            };
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Field(Field::parse(&tail[1..end])?));
            rest = &tail[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Self(pieces))
    }

    /// The text for this request; an absent field is empty.
    pub fn render(&self, inputs: &Inputs<'_>) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Field(field) => match field.value(inputs) {
                    Some(Value::String(s)) => out.push_str(&s),
                    Some(Value::Null) | None => {}
                    Some(other) => out.push_str(&other.to_string()),
                },
            }
        }
        out
    }
}

impl Changes {
    pub fn touches_body(&self) -> bool {
        !self.body.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.remove_headers.is_empty()
            && self.set_headers.is_empty()
            && self.remove_query.is_empty()
            && self.set_query.is_empty()
            && self.body.is_empty()
    }

    /// `headers` with the changes made; values that are not valid header text are dropped.
    pub fn headers(&self, headers: &mut Vec<(String, String)>, inputs: &Inputs<'_>) {
        let rendered: Vec<(String, String)> = self
            .set_headers
            .iter()
            .map(|(name, template)| (name.clone(), template.render(inputs)))
            .filter(|(_, value)| crate::http::is_valid_value(value))
            .collect();
        headers.retain(|(name, _)| {
            !self.remove_headers.contains(name) && !rendered.iter().any(|(set, _)| set == name)
        });
        headers.extend(rendered);
    }

    /// The query with the changes made (`None` when nothing is left).
    pub fn query(&self, query: Option<&str>, inputs: &Inputs<'_>) -> Option<String> {
        if self.remove_query.is_empty() && self.set_query.is_empty() {
            return query.map(str::to_string);
        }
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let changed = self.remove_query.iter().any(|n| *n == name)
                || self.set_query.iter().any(|(n, _)| *n == name);
            if !changed {
                out.append_pair(&name, &value);
            }
        }
        for (name, template) in &self.set_query {
            out.append_pair(name, &template.render(inputs));
        }
        Some(out.finish()).filter(|q| !q.is_empty())
    }

    /// A request body changed by the operations; `Ok(None)` when there is nothing to change
    /// (no operations, or no body), `Err` when it is not JSON.
    pub fn request_body(
        &self,
        bytes: &[u8],
        inputs: &Inputs<'_>,
    ) -> Result<Option<Vec<u8>>, String> {
        if !self.touches_body() || bytes.is_empty() {
            return Ok(None);
        }
        let value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        Ok(Some(self.body(value, inputs).to_string().into_bytes()))
    }

    /// Whether an answer with these headers has its body changed: JSON, and no larger than a
    /// policy reads.
    pub fn reads_answer(&self, headers: &[(String, String)]) -> bool {
        let json = header(headers, "content-type").is_some_and(|t| t.contains("json"));
        let length = header(headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
        self.touches_body() && json && length.is_none_or(|n| n <= super::limits::MAX_BODY_BYTES)
    }

    /// An answer's body changed by the operations, and its headers without the validators of
    /// the old one; `bytes` unchanged when they are not JSON after all.
    pub fn answer_body(
        &self,
        headers: &mut Vec<(String, String)>,
        bytes: Vec<u8>,
        inputs: &Inputs<'_>,
    ) -> Vec<u8> {
        match serde_json::from_slice(&bytes) {
            Ok(value) => {
                headers.retain(|(n, _)| n != "content-length" && n != "etag");
                self.body(value, inputs).to_string().into_bytes()
            }
            Err(_) => bytes,
        }
    }

    /// `body` with the operations applied in order.
    pub fn body(&self, mut body: Value, inputs: &Inputs<'_>) -> Value {
        for op in &self.body {
            apply(op, &mut body, inputs);
        }
        body
    }
}

fn apply(op: &Op, body: &mut Value, inputs: &Inputs<'_>) {
    match op {
        Op::Set(path, input) => {
            let value = match input {
                Input::Literal(value) => Some(value.clone()),
                Input::From(field) => field.value(inputs),
            };
            if let Some(value) = value {
                let _ = path.put(body, value);
            }
        }
        Op::Remove(path) => {
            if !path.is_root() {
                path.take(body);
            }
        }
        Op::Move { from, to } => {
            let mut copy = body.clone();
            if let Some(value) = from.take(&mut copy) {
                if to.put(&mut copy, value).is_ok() {
                    *body = copy;
                }
            }
        }
        Op::Copy { from, to } => {
            if let Some(value) = from.get(body).cloned() {
                let _ = to.put(body, value);
            }
        }
        Op::Rename { path, to } => {
            if let (Some(target), Some(value)) = (path.sibling(to), path.get(body).cloned()) {
                path.take(body);
                let _ = target.put(body, value);
            }
        }
        Op::Wrap(at) => {
            let mut wrapped = Value::Object(Map::new());
            if at.put(&mut wrapped, std::mem::take(body)).is_ok() {
                *body = wrapped;
            }
        }
        Op::Unwrap(at) => {
            if let Some(inner) = at.take(body) {
                *body = inner;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pairs;
    use serde_json::json;

    fn p(text: &str) -> Pointer {
        Pointer::parse(text).unwrap()
    }

    #[test]
    fn body_operations_apply_in_order_and_missing_fields_change_nothing() {
        let claims = json!({"sub": "u-1", "tier": 3});
        let params = pairs(&[("id", "42")]);
        let inputs = Inputs {
            params: &params,
            claims: claims.as_object(),
            ..Inputs::default()
        };
        let changes = Changes {
            body: vec![
                Op::Set(p("/owner"), Input::From(Field::Claim("sub".into()))),
                Op::Set(p("/id"), Input::From(Field::Param("id".into()))),
                Op::Set(p("/nothing"), Input::From(Field::Claim("absent".into()))),
                Op::Remove(p("/internal")),
                Op::Remove(p("/not-there")),
                Op::Rename {
                    path: p("/user_name"),
                    to: "userName".into(),
                },
                Op::Move {
                    from: p("/address/city"),
                    to: p("/city"),
                },
                Op::Copy {
                    from: p("/city"),
                    to: p("/meta/city"),
                },
                Op::Wrap(p("/data")),
            ],
            ..Changes::default()
        };
        let body = json!({"internal": true, "user_name": "ada", "address": {"city": "Oslo"}});
        assert_eq!(
            changes.body(body, &inputs),
            json!({"data": {
                "owner": "u-1", "id": "42", "userName": "ada", "address": {},
                "city": "Oslo", "meta": {"city": "Oslo"}
            }})
        );
        let unwrap = Changes {
            body: vec![Op::Unwrap(p("/data")), Op::Unwrap(p("/missing"))],
            ..Changes::default()
        };
        assert_eq!(unwrap.body(json!({"data": [1]}), &inputs), json!([1]));
    }

    #[test]
    fn templates_render_fields_and_escape_braces() {
        let headers = pairs(&[("x-tenant", "acme"), ("cookie", "sid=s1")]);
        let inputs = Inputs {
            headers: &headers,
            request_id: "r-9",
            query: Some("q=a+b"),
            ..Inputs::default()
        };
        let template =
            Template::parse("t={header:x-tenant};{cookie:sid};{{{request_id}}};{query:q}").unwrap();
        assert_eq!(template.render(&inputs), "t=acme;s1;{r-9};a b");
        assert!(Template::parse("{claim:sub").is_err());
        assert!(Template::parse("a}b").is_err());
        assert!(Template::parse("{nope:x}")
            .unwrap_err()
            .contains("not a request field"));
    }

    #[test]
    fn headers_and_query_are_removed_then_set() {
        let changes = Changes {
            remove_headers: vec!["x-debug".into()],
            set_headers: vec![("x-user".into(), Template::parse("{request_id}").unwrap())],
            remove_query: vec!["debug".into()],
            set_query: vec![("source".into(), Template::parse("edge").unwrap())],
            ..Changes::default()
        };
        let inputs = Inputs {
            request_id: "r1",
            ..Inputs::default()
        };
        let mut headers = pairs(&[("x-debug", "1"), ("x-user", "forged"), ("accept", "*/*")]);
        changes.headers(&mut headers, &inputs);
        assert_eq!(headers, pairs(&[("accept", "*/*"), ("x-user", "r1")]));
        assert_eq!(
            changes
                .query(Some("a=1&debug=true&source=x"), &inputs)
                .as_deref(),
            Some("a=1&source=edge")
        );
    }
}
