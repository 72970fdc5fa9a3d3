//! The first look at a request: refuse what no stage should have to handle.

use crate::error::GatewayError;

/// Longest accepted path, in bytes.
pub const MAX_PATH_LEN: usize = 4096;
/// Longest accepted query string, in bytes.
pub const MAX_QUERY_LEN: usize = 8192;
/// Largest accepted total of header names and values, in bytes.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

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
    let header_bytes: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(GatewayError::RequestTooLarge {
            what: "request headers",
            limit: MAX_HEADER_BYTES,
        });
    }
    check_path(path)
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
        assert!(check("/", None, &headers).is_err());
    }
}
