//! Route path patterns (`/users/{id}`, `/static/{*rest}`) and upstream path templates that reuse
//! their parameters (`/v2/users/{id}`).
//!
//! The pattern syntax is matchit's; it is parsed here too so that templates can be checked against
//! the parameters a route really captures before any request arrives.

/// One piece of a pattern or template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    /// A parameter; `catch_all` is true for `{*name}`, which spans the rest of the path.
    Param {
        name: String,
        catch_all: bool,
    },
}

/// Longest route pattern or template accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 1024;

/// Splits a pattern or template into literal text and parameters.
///
/// `{{` and `}}` stand for literal braces. A catch-all must end the pattern.
pub fn parse(pattern: &str) -> Result<Vec<Part>, String> {
    if !pattern.starts_with('/') {
        return Err("must start with '/'".into());
    }
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!("is longer than {MAX_PATTERN_LEN} bytes"));
    }
    if let Some(bad) = pattern
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
    {
        return Err(format!(
            "contains the character {bad:?}, which cannot appear in a path"
        ));
    }
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '}' => {
                return Err(
                    "has a '}' without a matching '{' (write '}}' for a literal brace)".into(),
                )
            }
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                if !closed {
                    return Err("has a '{' without a matching '}'".into());
                }
                // The router reads `}}` right after a name as a brace inside it (found by the
                // fuzzer: `/{id}}}` captured a parameter called `id}`).
                if chars.peek() == Some(&'}') {
                    return Err(
                        "has '}' right after a parameter, which the router reads as part of its name".into(),
                    );
                }
                let (name, catch_all) = match name.strip_prefix('*') {
                    Some(rest) => (rest.to_string(), true),
                    None => (name, false),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!(
                        "has an invalid parameter name '{name}' (use letters, digits and '_')"
                    ));
                }
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(Part::Param { name, catch_all });
            }
            other => literal.push(other),
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    if let Some(position) = parts.iter().position(|p| {
        matches!(
            p,
            Part::Param {
                catch_all: true,
                ..
            }
        )
    }) {
        if position + 1 != parts.len() {
            return Err("has a catch-all parameter that is not at the end".into());
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for part in &parts {
        if let Part::Param { name, .. } = part {
            if names.contains(&name.as_str()) {
                return Err(format!("uses the parameter '{name}' twice"));
            }
            names.push(name);
        }
    }
    Ok(parts)
}

/// The parameter names a parsed pattern captures.
pub fn param_names(parts: &[Part]) -> impl Iterator<Item = &str> {
    parts.iter().filter_map(|p| match p {
        Part::Param { name, .. } => Some(name.as_str()),
        Part::Literal(_) => None,
    })
}

/// The literal text before the first parameter.
pub fn literal_prefix(parts: &[Part]) -> &str {
    match parts.first() {
        Some(Part::Literal(text)) => text,
        _ => "",
    }
}

/// A compiled upstream path template such as `/v2/users/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Compiles `template`, which may only use parameters from `available`.
    pub fn compile(template: &str, available: &[&str]) -> Result<Self, String> {
        let parts = parse(template)?;
        for name in param_names(&parts) {
            if !available.contains(&name) {
                return Err(format!(
                    "uses '{{{name}}}', which the route path does not capture"
                ));
            }
        }
        Ok(Self { parts })
    }

    /// Fills the template from the matched parameters, which are still percent-encoded as the
    /// client sent them, so encoded slashes stay encoded.
    pub fn render<'p>(&self, params: impl Fn(&str) -> Option<&'p str>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Param { name, .. } => out.push_str(params(name).unwrap_or_default()),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_brace_right_after_a_parameter_is_refused() {
        assert!(parse("/{id}}}").is_err());
        assert!(parse("/{id}x}}").is_ok());
        assert!(parse("/{{x}}/{id}").is_ok());
    }

    #[test]
    fn parses_params_catch_alls_and_escaped_braces() {
        let parts = parse("/a/{id}/{{x}}/{*rest}").expect("valid");
        assert_eq!(
            parts,
            vec![
                Part::Literal("/a/".into()),
                Part::Param {
                    name: "id".into(),
                    catch_all: false
                },
                Part::Literal("/{x}/".into()),
                Part::Param {
                    name: "rest".into(),
                    catch_all: true
                },
            ]
        );
    }

    #[test]
    fn rejects_malformed_patterns() {
        for bad in [
            "users",
            "/users/{id",
            "/users/id}",
            "/users/{}",
            "/users/{a-b}",
            "/files/{*rest}/tail",
            "/a/{x}/{x}",
            "/a b",
            "/a?b=1",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn templates_only_use_captured_params() {
        assert!(Template::compile("/v2/{id}", &["id"]).is_ok());
        let err = Template::compile("/v2/{name}", &["id"]).expect_err("unknown param");
        assert!(err.contains("{name}"));
    }

    #[test]
    fn templates_render_raw_values() {
        let template = Template::compile("/v2/users/{id}/{*rest}", &["id", "rest"]).expect("valid");
        let rendered = template.render(|name| match name {
            "id" => Some("a%2Fb"),
            "rest" => Some("x/y"),
            _ => None,
        });
        assert_eq!(rendered, "/v2/users/a%2Fb/x/y");
    }

    #[test]
    fn literal_prefix_stops_at_the_first_param() {
        let parts = parse("/api/users/{id}").expect("valid");
        assert_eq!(literal_prefix(&parts), "/api/users/");
    }
}
