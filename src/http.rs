//! HTTP header primitives: name and value syntax, the headers the gateway owns, and lookups in
//! the `(lower-case name, value)` pairs every other module works on. Imports nothing above it.

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Header pairs: lower-case names, in order.
pub type Fields = Vec<(String, String)>;
/// A response the gateway makes whole: status, headers and body (none for HEAD or a 304).
pub type Whole = (u16, Fields, Option<Vec<u8>>);
/// The status and headers of an answer, without its body.
pub type Head = (u16, Fields);

/// Headers the gateway writes itself; route rules may not set them.
pub const MANAGED: [&str; 8] = [
    "host",
    "content-length",
    "x-request-id",
    "traceparent",
    "tracestate",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
];

pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.contains(&name)
}

pub fn is_managed(name: &str) -> bool {
    MANAGED.contains(&name)
}

/// An RFC 9110 token, the syntax of header names.
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value the platform will accept: visible ASCII, spaces and tabs.
pub fn is_valid_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// Names listed in a `Connection` header, which are hop-by-hop for this message.
pub fn connection_listed(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(name, _)| name == "connection")
        .flat_map(|(_, value)| value.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect()
}

/// The first value of a header, by lower-case name.
pub fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The value of the cookie `name` from the request's `Cookie` fields.
pub fn cookie(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().to_string())
}

/// Owned header pairs from literals, for tests.
#[cfg(test)]
pub(crate) fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_values() {
        assert!(is_token("x-api-key"));
        assert!(!is_token("bad header"));
        assert!(!is_token(""));
        assert!(is_valid_value("a b\tc"));
        assert!(!is_valid_value("a\r\nb"));
    }

    #[test]
    fn lookups_take_the_first_header_and_the_named_cookie() {
        let headers = pairs(&[
            ("cookie", "a=1; session=tok"),
            ("x-a", "first"),
            ("x-a", "second"),
            ("connection", "keep-alive, X-Hop"),
        ]);
        assert_eq!(header(&headers, "x-a"), Some("first"));
        assert_eq!(cookie(&headers, "session").as_deref(), Some("tok"));
        assert_eq!(cookie(&headers, "b"), None);
        assert_eq!(connection_listed(&headers), ["keep-alive", "x-hop"]);
    }
}
