//! WebSocket pass-through: the handshake goes to the service like any request (after
//! authentication and rate limiting), and when the service switches protocols the client is
//! handed the upstream socket, so frames flow between them without passing through the
//! gateway's code.

use worker::Response;

use crate::error::GatewayError;
use crate::http::header;
use crate::platform::fetch::{entries, to_headers};

/// Whether the request asks to become a WebSocket (RFC 6455 §4.1: a GET with
/// `Upgrade: websocket`).
pub fn is_upgrade(method: &str, headers: &[(String, String)]) -> bool {
    method == "GET"
        && headers.iter().any(|(name, value)| {
            name == "upgrade"
                && value
                    .split(',')
                    .any(|token| token.trim().eq_ignore_ascii_case("websocket"))
        })
}

/// Refuses a client handshake RFC 6455 §4.2.1 does not accept: `Sec-WebSocket-Key` must be the
/// base64 of 16 bytes, and `Sec-WebSocket-Version` 13 (anything else is answered 426 with the
/// version that is).
pub fn check_handshake(headers: &[(String, String)]) -> Result<(), GatewayError> {
    use base64::Engine;
    let key = header(headers, "sec-websocket-key").map(str::trim);
    let decoded = key.map(|k| base64::engine::general_purpose::STANDARD.decode(k));
    match decoded {
        None => {
            return Err(GatewayError::InvalidHandshake {
                reason: "Sec-WebSocket-Key is missing",
            })
        }
        Some(Ok(bytes)) if bytes.len() == 16 => {}
        Some(_) => {
            return Err(GatewayError::InvalidHandshake {
                reason: "Sec-WebSocket-Key is not the base64 of 16 bytes",
            })
        }
    }
    match header(headers, "sec-websocket-version").map(str::trim) {
        Some("13") => Ok(()),
        _ => Err(GatewayError::WebSocketVersion),
    }
}

/// The upstream handshake: the forwarded headers plus the upgrade itself, which ordinary
/// forwarding drops as hop-by-hop. The runtime supplies the key and version of its own hop.
pub fn handshake_headers(forwarded: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = forwarded
        .iter()
        .filter(|(name, _)| !is_per_hop(name))
        .cloned()
        .collect();
    out.push(("upgrade".to_string(), "websocket".to_string()));
    out
}

/// Handshake fields that belong to one hop: the runtime negotiates each side itself.
fn is_per_hop(name: &str) -> bool {
    matches!(
        name,
        "sec-websocket-key"
            | "sec-websocket-accept"
            | "sec-websocket-version"
            | "sec-websocket-extensions"
    )
}

/// Whether the service accepted the upgrade.
pub fn switched(upstream: &Response) -> bool {
    upstream.status_code() == 101
}

/// The client's 101 carrying the upstream socket, under `client_headers` (computed from
/// [`upstream_headers`]).
pub fn accept(
    upstream: Response,
    client_headers: &[(String, String)],
) -> Result<Response, GatewayError> {
    let internal = |cause: String| GatewayError::Internal {
        cause: format!("WebSocket pass-through: {cause}"),
    };
    let socket = upstream
        .websocket()
        .ok_or_else(|| internal("the service switched protocols without a socket".into()))?;
    let headers = to_headers(client_headers).map_err(|e| internal(e.to_string()))?;
    Response::from_websocket(socket)
        .map(|r| r.with_headers(headers))
        .map_err(|e| internal(e.to_string()))
}

/// The service's handshake fields a client may see (the chosen subprotocol, its own headers).
pub fn upstream_headers(upstream: &Response) -> Vec<(String, String)> {
    let mut out = entries(upstream.headers());
    out.retain(|(name, _)| !is_per_hop(name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pairs;

    #[test]
    fn upgrades_are_gets_naming_websocket() {
        assert!(is_upgrade("GET", &pairs(&[("upgrade", "websocket")])));
        assert!(is_upgrade("GET", &pairs(&[("upgrade", "foo, WebSocket")])));
        assert!(!is_upgrade("POST", &pairs(&[("upgrade", "websocket")])));
        assert!(!is_upgrade("GET", &pairs(&[("upgrade", "h2c")])));
        assert!(!is_upgrade("GET", &[]));
    }

    #[test]
    fn handshakes_need_a_16_byte_key_and_version_13() {
        let good = pairs(&[
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-version", "13"),
        ]);
        assert_eq!(check_handshake(&good), Ok(()));
        for (key, version, code) in [
            (None, Some("13"), "invalid-handshake"),
            (Some("short"), Some("13"), "invalid-handshake"),
            (
                Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                Some("13"),
                "invalid-handshake",
            ),
            (
                Some("dGhlIHNhbXBsZSBub25jZQ=="),
                Some("8"),
                "websocket-version",
            ),
            (Some("dGhlIHNhbXBsZSBub25jZQ=="), None, "websocket-version"),
        ] {
            let mut headers = Vec::new();
            if let Some(key) = key {
                headers.push(("sec-websocket-key".to_string(), key.to_string()));
            }
            if let Some(version) = version {
                headers.push(("sec-websocket-version".to_string(), version.to_string()));
            }
            let error = check_handshake(&headers).expect_err("refused");
            assert_eq!(error.code(), code, "{key:?} {version:?}");
        }
    }

    #[test]
    fn the_handshake_keeps_subprotocols_and_drops_per_hop_fields() {
        let out = handshake_headers(&pairs(&[
            ("sec-websocket-key", "abc"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-protocol", "chat"),
            ("x-request-id", "r1"),
        ]));
        assert_eq!(
            out,
            pairs(&[
                ("sec-websocket-protocol", "chat"),
                ("x-request-id", "r1"),
                ("upgrade", "websocket"),
            ])
        );
    }
}
