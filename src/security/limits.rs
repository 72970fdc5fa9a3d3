//! Request size and shape limits: the gateway's own, checked before anything else, and a
//! route's tighter ones.

use crate::error::GatewayError;

/// Longest accepted path, in bytes.
pub const MAX_PATH_LEN: usize = 4096;
/// Longest accepted query string, in bytes.
pub const MAX_QUERY_LEN: usize = 8192;
/// Largest accepted total of header names and values, in bytes.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Most header fields accepted.
pub const MAX_HEADERS: usize = 100;

/// Checks sizes and the path's encoding. The path is the raw, percent-encoded one.
pub fn check(
    path: &str,
    query: Option<&str>,
    headers: &[(String, String)],
) -> Result<(), GatewayError> {
    if path.len() > MAX_PATH_LEN {
        return Err(GatewayError::RequestTooLarge {
            what: "path",
            limit: MAX_PATH_LEN,
        });
    }
    if query.map_or(0, str::len) > MAX_QUERY_LEN {
        return Err(GatewayError::RequestTooLarge {
            what: "query string",
            limit: MAX_QUERY_LEN,
        });
    }
    check_headers(headers, MAX_HEADER_BYTES, MAX_HEADERS)?;
    check_values(headers)?;
    check_path(path)
}

/// Refuses header fields over `max_bytes` in all (names and values) or more than `max_count`.
pub fn check_headers(
    headers: &[(String, String)],
    max_bytes: usize,
    max_count: usize,
) -> Result<(), GatewayError> {
    if headers.len() > max_count {
        return Err(GatewayError::HeadersTooLarge {
            what: "fields",
            limit: max_count,
        });
    }
    let bytes: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    if bytes > max_bytes {
        return Err(GatewayError::HeadersTooLarge {
            what: "bytes",
            limit: max_bytes,
        });
    }
    Ok(())
}

/// Refuses a header value with a control character other than tab: the runtime passes them
/// on, and an origin may read them as the end of a field.
pub fn check_values(headers: &[(String, String)]) -> Result<(), GatewayError> {
    let control = |b: u8| (b < b' ' && b != b'\t') || b == 0x7f;
    match headers.iter().find(|(_, value)| value.bytes().any(control)) {
        Some((name, _)) => Err(GatewayError::InvalidHeader { name: name.clone() }),
        None => Ok(()),
    }
}

/// Refuses a body over `limit` bytes by its `Content-Length`; with a limit, a body without one
/// (chunked) is refused too, since it could not be checked before streaming through.
pub fn check_body(headers: &[(String, String)], limit: u64) -> Result<(), GatewayError> {
    let length = crate::http::header(headers, "content-length");
    match length.map(|v| v.trim().parse::<u64>()) {
        Some(Ok(n)) if n > limit => Err(GatewayError::BodyTooLarge { limit }),
        Some(Ok(_)) => Ok(()),
        Some(Err(_)) => Err(GatewayError::LengthRequired),
        None if crate::http::header(headers, "transfer-encoding").is_some() => {
            Err(GatewayError::LengthRequired)
        }
        None => Ok(()),
    }
}

/// Refuses malformed percent-encoding, encoded control characters, and dot segments (which
/// would let a catch-all parameter climb out of the upstream path it is placed under).
pub fn check_path(path: &str) -> Result<(), GatewayError> {
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let decoded = bytes
                .get(i + 1..i + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .and_then(|pair| u8::from_str_radix(pair, 16).ok());
            match decoded {
                None => {
                    return Err(GatewayError::InvalidPath {
                        reason: "malformed percent-encoding",
                    })
                }
                Some(byte) if byte.is_ascii_control() => {
                    return Err(GatewayError::InvalidPath {
                        reason: "encoded control characters are not allowed",
                    })
                }
                Some(_) => i += 3,
            }
        } else {
            i += 1;
        }
    }
    let dot_segment = path.split('/').any(|segment| {
        let lower = segment.to_ascii_lowercase();
        matches!(
            lower.as_str(),
            "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e."
        )
    });
    if dot_segment {
        return Err(GatewayError::InvalidPath {
            reason: "dot segments are not allowed",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        assert!(check_path("/users/42").is_ok());
        assert!(check_path("/files/a%20b/%2Fc").is_ok());
        assert!(check_path("/a.b/..c/").is_ok());
    }

    #[test]
    fn refuses_bad_encoding_controls_and_dot_segments() {
        for bad in [
            "/a%zz",
            "/a%2",
            "/a%",
            "/a%00b",
            "/a/%2e%2e/b",
            "/a/%2E/b",
            "/a/../b",
            "/a/.%2e",
        ] {
            assert!(
                matches!(check_path(bad), Err(GatewayError::InvalidPath { .. })),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn refuses_oversized_parts() {
        let long = format!("/{}", "a".repeat(MAX_PATH_LEN));
        assert!(matches!(
            check(&long, None, &[]),
            Err(GatewayError::RequestTooLarge { what: "path", .. })
        ));
        let query = "q".repeat(MAX_QUERY_LEN + 1);
        assert!(check("/", Some(&query), &[]).is_err());
        let headers = vec![("x-big".to_string(), "v".repeat(MAX_HEADER_BYTES))];
        assert!(matches!(
            check("/", None, &headers),
            Err(GatewayError::HeadersTooLarge { what: "bytes", .. })
        ));
        let many: Vec<(String, String)> = (0..=MAX_HEADERS)
            .map(|i| (format!("x-{i}"), "v".to_string()))
            .collect();
        assert!(matches!(
            check("/", None, &many),
            Err(GatewayError::HeadersTooLarge { what: "fields", .. })
        ));
    }

    #[test]
    fn control_characters_in_values_are_refused() {
        let h = |value: &str| vec![("x-a".to_string(), value.to_string())];
        assert!(check_values(&h("a\tb c~")).is_ok());
        for bad in ["a\u{1}b", "a\rb", "a\nb", "a\u{7f}", "\u{0}"] {
            assert_eq!(
                check_values(&h(bad)),
                Err(GatewayError::InvalidHeader { name: "x-a".into() }),
                "{bad:?}"
            );
        }
        assert!(check("/", None, &h("a\u{1}")).is_err());
    }

    #[test]
    fn bodies_are_checked_by_their_declared_length() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        assert!(check_body(&h(&[("content-length", "10")]), 10).is_ok());
        assert_eq!(
            check_body(&h(&[("content-length", "11")]), 10),
            Err(GatewayError::BodyTooLarge { limit: 10 })
        );
        assert_eq!(
            check_body(&h(&[("transfer-encoding", "chunked")]), 10),
            Err(GatewayError::LengthRequired)
        );
        assert_eq!(
            check_body(&h(&[("content-length", "ten")]), 10),
            Err(GatewayError::LengthRequired)
        );
        assert!(check_body(&[], 10).is_ok(), "no body");
    }
}
