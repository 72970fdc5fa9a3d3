//! W3C Trace Context: continue the client's trace, or start one.

use crate::digest::hex;

/// The trace this request belongs to and the span id the gateway uses for its upstream call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: String,
    /// The client's span, when it sent one.
    pub parent_id: Option<String>,
    /// The gateway's own span, sent upstream as the parent.
    pub span_id: String,
    pub flags: String,
    /// The client's `tracestate`, kept only when its `traceparent` was valid.
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// Continues a valid incoming `traceparent`; otherwise starts a new, sampled trace.
    pub fn continue_or_start(
        traceparent: Option<&str>,
        tracestate: Option<&str>,
        random: [u8; 24],
    ) -> Self {
        let (trace_random, span_random) = random.split_at(16);
        let span_id = non_zero_hex(span_random);
        match traceparent.and_then(parse) {
            Some((trace_id, parent_id, flags)) => Self {
                trace_id,
                parent_id: Some(parent_id),
                span_id,
                flags,
                tracestate: tracestate.map(str::to_string),
            },
            None => Self {
                trace_id: non_zero_hex(trace_random),
                parent_id: None,
                span_id,
                flags: "01".into(),
                tracestate: None,
            },
        }
    }

    /// The `traceparent` header for the upstream request.
    pub fn upstream_header(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.span_id, self.flags)
    }
}

/// Splits a `traceparent` into trace id, parent id and flags, or `None` when it is invalid.
/// Versions above 00 are read by their 00 prefix, as the spec asks; version ff is invalid.
fn parse(header: &str) -> Option<(String, String, String)> {
    let header = header.trim();
    let mut fields = header.splitn(5, '-');
    let version = fields.next()?;
    let trace_id = fields.next()?;
    let parent_id = fields.next()?;
    let flags = fields.next()?;
    let rest = fields.next();
    let lower_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = lower_hex(version, 2)
        && version != "ff"
        && (version != "00" || rest.is_none())
        && lower_hex(trace_id, 32)
        && trace_id.bytes().any(|b| b != b'0')
        && lower_hex(parent_id, 16)
        && parent_id.bytes().any(|b| b != b'0')
        && lower_hex(flags, 2);
    valid.then(|| {
        (
            trace_id.to_string(),
            parent_id.to_string(),
            flags.to_string(),
        )
    })
}

/// Hex of `bytes`, never all zeros (an all-zero id is invalid in Trace Context).
fn non_zero_hex(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| *b == 0) {
        let mut fixed = bytes.to_vec();
        if let Some(last) = fixed.last_mut() {
            *last = 1;
        }
        return hex(&fixed);
    }
    hex(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn continues_a_valid_trace_with_a_new_span() {
        let trace = TraceContext::continue_or_start(Some(PARENT), Some("vendor=1"), [7; 24]);
        assert_eq!(trace.trace_id, "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(trace.parent_id.as_deref(), Some("b7ad6b7169203331"));
        assert_eq!(trace.span_id, "0707070707070707");
        assert_eq!(trace.tracestate.as_deref(), Some("vendor=1"));
        assert_eq!(
            trace.upstream_header(),
            "00-0af7651916cd43dd8448eb211c80319c-0707070707070707-01"
        );
    }

    #[test]
    fn starts_a_trace_when_the_header_is_invalid() {
        for bad in [
            "garbage",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        ] {
            let trace = TraceContext::continue_or_start(Some(bad), Some("vendor=1"), [9; 24]);
            assert_eq!(trace.parent_id, None, "{bad}");
            assert_eq!(trace.trace_id, "09".repeat(16));
            assert_eq!(trace.tracestate, None);
        }
    }

    #[test]
    fn future_versions_are_read_by_their_prefix() {
        let header = "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-comes";
        let trace = TraceContext::continue_or_start(Some(header), None, [1; 24]);
        assert_eq!(trace.parent_id.as_deref(), Some("b7ad6b7169203331"));
    }

    #[test]
    fn ids_are_never_all_zero() {
        let trace = TraceContext::continue_or_start(None, None, [0; 24]);
        assert!(trace.trace_id.bytes().any(|b| b != b'0'));
        assert!(trace.span_id.bytes().any(|b| b != b'0'));
    }
}
