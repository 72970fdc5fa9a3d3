//! JSON Pointers (RFC 6901): parsed once when the configuration is, then used to read and
//! change request and response bodies.

use serde_json::{Map, Value};

/// A parsed pointer: its reference tokens, unescaped. The empty pointer is the whole document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer(Vec<String>);

impl Pointer {
    /// Parses `text` (`""` or `/a/b~1c`); `Err` says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Self(Vec::new()));
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "'{text}' is not a JSON Pointer: it must be empty or start with '/'"
            ));
        };
        rest.split('/')
            .map(|token| {
                let mut out = String::with_capacity(token.len());
                let mut chars = token.chars();
                while let Some(c) = chars.next() {
                    match (c, c == '~') {
                        (_, false) => out.push(c),
                        (_, true) => match chars.next() {
                            Some('0') => out.push('~'),
                            Some('1') => out.push('/'),
                            _ => return Err(format!("'{text}' has '~' not followed by 0 or 1")),
                        },
                    }
                }
                Ok(out)
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last token (a member name or index), unless this is the root.
    pub fn last(&self) -> Option<&str> {
        self.0.last().map(String::as_str)
    }

    /// The pointer to the member `name` beside the one this points at (none for the root).
    pub fn sibling(&self, name: &str) -> Option<Self> {
        let mut tokens = self.0.clone();
        *tokens.last_mut()? = name.to_string();
        Some(Self(tokens))
    }

    /// The value this points at in `document`.
    pub fn get<'v>(&self, document: &'v Value) -> Option<&'v Value> {
        self.0
            .iter()
            .try_fold(document, |value, token| match value {
                Value::Object(map) => map.get(token),
                Value::Array(items) => index(token, items.len()).and_then(|i| items.get(i)),
                _ => None,
            })
    }

    /// Takes the value out of `document`; `None` when there is none (the root is taken whole).
    pub fn take(&self, document: &mut Value) -> Option<Value> {
        let Some((last, parents)) = self.0.split_last() else {
            return Some(std::mem::take(document));
        };
        match walk(parents, document)? {
            Value::Object(map) => map.remove(last),
            Value::Array(items) => {
                let i = index(last, items.len())?;
                Some(items.remove(i))
            }
            _ => None,
        }
    }

    /// Puts `value` where this points, creating missing objects on the way; `-` appends to an
    /// array. `Err` when a scalar or an array index is in the way.
    pub fn put(&self, document: &mut Value, value: Value) -> Result<(), String> {
        let Some((last, parents)) = self.0.split_last() else {
            *document = value;
            return Ok(());
        };
        let mut at = document;
        for token in parents {
            if at.is_null() {
                *at = Value::Object(Map::new());
            }
            at = match at {
                Value::Object(map) => map
                    .entry(token.clone())
                    .or_insert_with(|| Value::Object(Map::new())),
                Value::Array(items) => {
                    let len = items.len();
                    index(token, len)
                        .and_then(|i| items.get_mut(i))
                        .ok_or_else(|| format!("no element '{token}' in an array of {len}"))?
                }
                _ => return Err(format!("'{token}' is below a value that is not an object")),
            };
        }
        if at.is_null() {
            *at = Value::Object(Map::new());
        }
        match at {
            Value::Object(map) => {
                map.insert(last.clone(), value);
                Ok(())
            }
            Value::Array(items) if last == "-" => {
                items.push(value);
                Ok(())
            }
            Value::Array(items) => match index(last, items.len() + 1) {
                Some(i) if i < items.len() => {
                    items[i] = value;
                    Ok(())
                }
                Some(i) => {
                    items.insert(i, value);
                    Ok(())
                }
                None => Err(format!("'{last}' is not an index of the array")),
            },
            _ => Err(format!("'{last}' is below a value that is not an object")),
        }
    }
}

impl std::fmt::Display for Pointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for token in &self.0 {
            write!(f, "/{}", token.replace('~', "~0").replace('/', "~1"))?;
        }
        Ok(())
    }
}

/// `token` as an index below `len` (no leading zeros, RFC 6901 §4).
fn index(token: &str, len: usize) -> Option<usize> {
    if token.len() > 1 && token.starts_with('0') {
        return None;
    }
    token.parse().ok().filter(|i| *i < len)
}

fn walk<'v>(tokens: &[String], document: &'v mut Value) -> Option<&'v mut Value> {
    tokens
        .iter()
        .try_fold(document, |value, token| match value {
            Value::Object(map) => map.get_mut(token),
            Value::Array(items) => {
                let len = items.len();
                index(token, len).and_then(|i| items.get_mut(i))
            }
            _ => None,
        })
}

/// `parent` extended by one token, escaped, for violation pointers.
pub fn child(parent: &str, token: &str) -> String {
    format!("{parent}/{}", token.replace('~', "~0").replace('/', "~1"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_parse_unescape_and_print_back() {
        let pointer = Pointer::parse("/a~1b/m~0n/0").unwrap();
        assert_eq!(pointer.0, vec!["a/b", "m~n", "0"]);
        assert_eq!(pointer.to_string(), "/a~1b/m~0n/0");
        assert!(Pointer::parse("a/b").is_err());
        assert!(Pointer::parse("/a~2").is_err());
        assert!(Pointer::parse("").unwrap().is_root());
    }

    #[test]
    fn get_take_and_put() {
        let mut doc = json!({"user": {"id": 7, "tags": ["a", "b"]}});
        let p = |s: &str| Pointer::parse(s).unwrap();
        assert_eq!(p("/user/tags/1").get(&doc), Some(&json!("b")));
        assert_eq!(p("/user/tags/01").get(&doc), None);
        p("/meta/source").put(&mut doc, json!("gw")).unwrap();
        p("/user/tags/-").put(&mut doc, json!("c")).unwrap();
        assert_eq!(p("/user/id").take(&mut doc), Some(json!(7)));
        assert_eq!(
            doc,
            json!({"user": {"tags": ["a", "b", "c"]}, "meta": {"source": "gw"}})
        );
        assert!(p("/user/tags/x").put(&mut doc, json!(1)).is_err());
        assert!(p("/meta/source/deeper").put(&mut doc, json!(1)).is_err());
    }
}
