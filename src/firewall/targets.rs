//! The parts of a request the firewall reads, each with the name exclusions use: `path`,
//! `query:NAME`, `header:NAME`, `cookie:NAME`, `form:NAME` (form and multipart fields),
//! `file:NAME` (an upload's file name), `body:/json/pointer`, and `body` (a text body).

use serde_json::Value;

use crate::policy::pointer::child;

/// How a value arrived, which decides how it is decoded and which detectors read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Path,
    /// Query and form values, cookie values: percent-encoded, `+` a space.
    Encoded,
    /// Names of parameters, cookies, fields and JSON members.
    Name,
    Header,
    /// JSON strings and multipart values: already literal text.
    Literal,
    /// A whole text or XML body.
    Text,
}

/// Headers the firewall does not read: the platform's own, or ones whose grammar leaves no
/// room for a payload a client's stack would pass on.
const UNREAD_HEADERS: &[&str] = &[
    "host",
    "authorization",
    "cookie",
    "accept",
    "accept-encoding",
    "accept-language",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "cache-control",
    "pragma",
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
    "if-range",
    "range",
    "origin",
    "x-real-ip",
    "true-client-ip",
    "cdn-loop",
    "traceparent",
    "tracestate",
    "baggage",
    "upgrade-insecure-requests",
    "te",
    "x-request-id",
    "priority",
    "dnt",
    "content-encoding",
    "keep-alive",
    "upgrade",
    "via",
    "access-control-request-method",
    "access-control-request-headers",
    "signature",
    "signature-input",
    "content-digest",
];

/// Whether the firewall reads this (lower-case) request header.
pub fn reads_header(name: &str) -> bool {
    !UNREAD_HEADERS.contains(&name)
        && !name.starts_with("cf-")
        && !name.starts_with("x-forwarded-")
        && !name.starts_with("sec-")
        && !name.starts_with("mf-")
}

/// `name=value` pairs of a query string or form body, still encoded.
pub fn pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// A `Cookie` header's pairs.
pub fn cookies(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// How a body is read, by its `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Form,
    Multipart(String),
    Text,
    /// Binary: not read.
    Opaque,
}

pub fn body_kind(content_type: Option<&str>) -> BodyKind {
    let Some(content_type) = content_type else {
        return BodyKind::Text;
    };
    let lowered = content_type.to_ascii_lowercase();
    let essence = lowered.split(';').next().unwrap_or("").trim();
    if essence == "application/json" || essence.ends_with("+json") || essence.ends_with("/json") {
        BodyKind::Json
    } else if essence == "application/x-www-form-urlencoded" {
        BodyKind::Form
    } else if essence == "multipart/form-data" {
        match boundary(content_type) {
            Some(b) => BodyKind::Multipart(b),
            None => BodyKind::Multipart(String::new()),
        }
    } else if essence.starts_with("text/") || essence.ends_with("xml") || essence.is_empty() {
        BodyKind::Text
    } else {
        BodyKind::Opaque
    }
}

fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty() && b.len() <= 70)
    })
}

/// One field of a multipart body: its name, the file name when it is an upload, and its
/// value when it is not.
pub struct Part<'a> {
    pub name: String,
    pub filename: Option<String>,
    pub value: Option<&'a str>,
}

/// The fields of a multipart body, or `None` when it does not parse (no boundary, no closing
/// delimiter, a part without a name): a body the firewall cannot read is not let through
/// unread.
pub fn multipart<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<Part<'a>>> {
    if boundary.is_empty() {
        return None;
    }
    let delimiter = format!("--{boundary}");
    let bytes = body;
    let mut parts = Vec::new();
    let mut at = find(bytes, delimiter.as_bytes(), 0)?;
    loop {
        let after = at + delimiter.len();
        if bytes[after..].starts_with(b"--") {
            return Some(parts);
        }
        let head_start = after + line_end(&bytes[after..])?;
        let head_len = find(&bytes[head_start..], b"\r\n\r\n", 0)?;
        let head = std::str::from_utf8(&bytes[head_start..head_start + head_len]).ok()?;
        let content_start = head_start + head_len + 4;
        let next = find(bytes, delimiter.as_bytes(), content_start)?;
        let content_end = next.checked_sub(2).filter(|e| *e >= content_start)?;
        let disposition = head
            .split("\r\n")
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        let name = parameter(disposition, "name")?;
        let filename = parameter(disposition, "filename");
        let value = match filename {
            None => std::str::from_utf8(&bytes[content_start..content_end]).ok(),
            Some(_) => None,
        };
        parts.push(Part {
            name,
            filename,
            value,
        });
        at = next;
    }
}

fn line_end(bytes: &[u8]) -> Option<usize> {
    find(bytes, b"\r\n", 0).map(|n| n + 2)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn parameter(disposition: &str, key: &str) -> Option<String> {
    disposition.split(';').skip(1).find_map(|param| {
        let (name, value) = param.trim().split_once('=')?;
        (name.trim() == key).then(|| value.trim().trim_matches('"').to_string())
    })
}

/// Calls `visit(pointer segments, member name or string value, is_name)` for every member
/// name and string of a JSON document.
pub fn walk_json<'v>(
    value: &'v Value,
    path: &mut Vec<String>,
    visit: &mut dyn FnMut(&[String], &'v str, bool),
) {
    match value {
        Value::String(s) => visit(path, s, false),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                walk_json(item, path, visit);
                path.pop();
            }
        }
        Value::Object(members) => {
            for (key, item) in members {
                path.push(key.clone());
                visit(path, key, true);
                walk_json(item, path, visit);
                path.pop();
            }
        }
        _ => {}
    }
}

/// A JSON Pointer (RFC 6901) from its segments.
pub fn pointer(segments: &[String]) -> String {
    segments
        .iter()
        .fold(String::new(), |parent, s| child(&parent, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_fields() {
        let body = b"--xx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--xx\r\nContent-Disposition: form-data; name=\"f\"; filename=\"../x.php\"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\r\n--xx--\r\n";
        let parts = multipart(body, "xx").expect("parses");
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].value),
            ("a", Some("hello"))
        );
        assert_eq!(parts[1].filename.as_deref(), Some("../x.php"));
        assert!(multipart(
            b"--xx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
            "xx"
        )
        .is_none());
        assert_eq!(
            body_kind(Some("multipart/form-data; boundary=\"xx\"")),
            BodyKind::Multipart("xx".into())
        );
    }

    #[test]
    fn json_pointers() {
        let value: Value = serde_json::from_str(r#"{"a/b":[{"c":"x"}],"n":1}"#).expect("json");
        let mut seen = Vec::new();
        walk_json(&value, &mut Vec::new(), &mut |path, text, name| {
            seen.push((pointer(path), text.to_string(), name))
        });
        assert!(seen.contains(&("/a~1b/0/c".to_string(), "x".to_string(), false)));
        assert!(seen.contains(&("/a~1b".to_string(), "a/b".to_string(), true)));
    }
}
