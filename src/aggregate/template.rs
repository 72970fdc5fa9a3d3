//! Backend paths: `/orders/{id}?expand={query.expand}&user={order.user_id}`. A placeholder names a
//! route parameter (`{id}`), a query parameter of the client's request (`{query.expand}`), or a
//! field of another backend's JSON response (`{order.user_id}`, dotted for nested fields), which
//! makes this backend depend on that one.

/// One piece of a backend path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Literal(String),
    /// A route parameter, inserted as captured (already percent-encoded).
    Param(String),
    /// A query parameter of the client's request; absent is empty.
    Query(String),
    /// A field of `backend`'s response at `path`.
    Field {
        backend: String,
        path: Vec<String>,
    },
}

/// A parsed backend path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    pub pieces: Vec<Piece>,
}

impl PathTemplate {
    /// Parses `text`; `params` are the route's parameter names, `backends` the route's backend
    /// names. Every problem is returned, one message each.
    pub fn parse(text: &str, params: &[&str], backends: &[&str]) -> Result<Self, Vec<String>> {
        let mut pieces = Vec::new();
        let mut problems = Vec::new();
        if !text.starts_with('/') {
            problems.push(format!("'{text}' must start with '/'"));
        }
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Literal(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find('}') else {
                problems.push(format!("'{text}' has an unclosed '{{'"));
                return Err(problems);
            };
            let name = &rest[open + 1..open + close];
            match classify(name, params, backends) {
                Ok(piece) => pieces.push(piece),
                Err(problem) => problems.push(problem),
            }
            rest = &rest[open + close + 1..];
        }
        if rest.contains('}') {
            problems.push(format!("'{text}' has a '}}' without '{{'"));
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest.to_string()));
        }
        if problems.is_empty() {
            Ok(Self { pieces })
        } else {
            Err(problems)
        }
    }

    /// The backends whose responses this path needs.
    pub fn dependencies(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Field { backend, .. } => Some(backend.as_str()),
            _ => None,
        })
    }

    /// The client's query parameters this path reads.
    pub fn query_names(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Query(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// The path with every placeholder filled; `Err` names a field that is missing or not a
    /// string, number or boolean. Query and field values are percent-encoded.
    pub fn render<'v>(
        &self,
        param: impl Fn(&str) -> Option<&'v str>,
        query: impl Fn(&str) -> Option<String>,
        field: impl Fn(&str, &[String]) -> Option<&'v serde_json::Value>,
    ) -> Result<String, String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Param(name) => out.push_str(param(name).unwrap_or_default()),
                Piece::Query(name) => out.push_str(&encode(&query(name).unwrap_or_default())),
                Piece::Field { backend, path } => {
                    let text = match field(backend, path) {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(
                            value @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)),
                        ) => value.to_string(),
                        _ => {
                            return Err(format!(
                                "{backend}.{} is missing or not a string, number or boolean",
                                path.join(".")
                            ))
                        }
                    };
                    out.push_str(&encode(&text));
                }
            }
        }
        Ok(out)
    }
}

fn classify(name: &str, params: &[&str], backends: &[&str]) -> Result<Piece, String> {
    if let Some(query) = name.strip_prefix("query.") {
        return if query.is_empty() {
            Err("'{query.}' names no query parameter".to_string())
        } else {
            Ok(Piece::Query(query.to_string()))
        };
    }
    match name.split_once('.') {
        Some((backend, path)) => {
            if !backends.contains(&backend) {
                return Err(format!(
                    "'{{{name}}}' refers to backend '{backend}', which this route does not define"
                ));
            }
            let path: Vec<String> = path.split('.').map(str::to_string).collect();
            if path.iter().any(String::is_empty) {
                return Err(format!("'{{{name}}}' has an empty field name"));
            }
            Ok(Piece::Field {
                backend: backend.to_string(),
                path,
            })
        }
        None if params.contains(&name) => Ok(Piece::Param(name.to_string())),
        None => Err(format!(
            "'{{{name}}}' is neither a parameter of the route path, '{{query.NAME}}', nor '{{BACKEND.FIELD}}'"
        )),
    }
}

/// Percent-encodes everything but unreserved characters, so a value stays one path segment or
/// one query value.
fn encode(text: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_are_classified_and_checked() {
        let t = PathTemplate::parse(
            "/users/{order.customer.id}?x={query.x}&o={id}",
            &["id"],
            &["order"],
        )
        .expect("valid");
        assert_eq!(t.dependencies().collect::<Vec<_>>(), vec!["order"]);
        let problems = PathTemplate::parse("users/{nope}/{other.id}/{query.}", &["id"], &["order"])
            .unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(PathTemplate::parse("/a/{id", &["id"], &[]).is_err());
        assert!(PathTemplate::parse("/a/id}", &["id"], &[]).is_err());
        assert!(PathTemplate::parse("/a/{order..x}", &[], &["order"]).is_err());
    }

    #[test]
    fn rendering_fills_and_encodes_values() {
        let t = PathTemplate::parse("/u/{order.user}/{id}?q={query.q}", &["id"], &["order"])
            .expect("valid");
        let order = json!({"user": "a b/c", "n": 5});
        let out = t.render(
            |name| (name == "id").then_some("7%20x"),
            |name| (name == "q").then(|| "x&y".to_string()),
            |backend, path| (backend == "order").then(|| &order[path[0].as_str()]),
        );
        assert_eq!(out.as_deref(), Ok("/u/a%20b%2Fc/7%20x?q=x%26y"));
        let missing = PathTemplate::parse("/u/{order.nope}", &[], &["order"]).expect("valid");
        let out = missing.render(|_| None, |_| None, |_, path| order.get(path[0].as_str()));
        assert!(out.unwrap_err().contains("order.nope is missing"));
        let number = PathTemplate::parse("/n/{order.n}", &[], &["order"]).expect("valid");
        assert_eq!(
            number
                .render(|_| None, |_| None, |_, p| order.get(p[0].as_str()))
                .as_deref(),
            Ok("/n/5")
        );
    }
}
