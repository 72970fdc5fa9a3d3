//! Static answers that stand in for a failed service or backend.

/// Response header naming what was answered from a configured fallback.
pub const FALLBACK_HEADER: &str = "x-gateway-fallback";

/// A static answer used when a route's service or a backend fails.
#[derive(Debug, Clone, PartialEq)]
pub struct Fallback {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

impl Fallback {
    /// The answer: status, JSON content type unless the fallback sets its own, the fallback's
    /// headers, `X-Gateway-Fallback: <name>`, and the body.
    pub fn answer(&self, name: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        headers.retain(|(n, _)| !self.headers.iter().any(|(f, _)| f == n));
        headers.extend(self.headers.iter().cloned());
        headers.push((FALLBACK_HEADER.to_string(), name.to_string()));
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        (self.status, headers, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_marked_and_keeps_the_fallbacks_content_type() {
        let fallback = Fallback {
            status: 503,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: serde_json::json!({"items": []}),
        };
        let (status, headers, body) = fallback.answer("orders");
        assert_eq!(status, 503);
        assert_eq!(
            headers,
            [
                ("content-type".to_string(), "text/plain".to_string()),
                ("x-gateway-fallback".to_string(), "orders".to_string())
            ]
        );
        assert_eq!(body, br#"{"items":[]}"#);
    }
}
