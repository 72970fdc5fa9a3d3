//! Spans in the OTLP protobuf encoding (`opentelemetry/proto/trace/v1/trace.proto` and the
//! collector's `ExportTraceServiceRequest`), written by hand: the few messages a trace export
//! needs do not earn a protobuf crate's bytes in the Worker.

/// A span's kind, as OTLP numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Internal = 1,
    Server = 2,
    Client = 3,
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
}

/// One finished span.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub name: String,
    pub kind: Kind,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub attributes: Vec<(&'static str, Value)>,
    /// An error status with this message.
    pub error: Option<String>,
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    key(out, field, 2);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn message(out: &mut Vec<u8>, field: u32, build: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    build(&mut inner);
    bytes(out, field, &inner);
}

fn fixed64(out: &mut Vec<u8>, field: u32, value: u64) {
    key(out, field, 1);
    out.extend_from_slice(&value.to_le_bytes());
}

fn attribute(out: &mut Vec<u8>, field: u32, name: &str, value: &Value) {
    message(out, field, |kv| {
        bytes(kv, 1, name.as_bytes());
        message(kv, 2, |any| match value {
            Value::Text(text) => bytes(any, 1, text.as_bytes()),
            Value::Bool(b) => {
                key(any, 2, 0);
                varint(any, u64::from(*b));
            }
            Value::Int(n) => {
                key(any, 3, 0);
                varint(any, *n as u64);
            }
        });
    });
}

/// One `Span` message (without its field key), appended to `out`.
pub fn span(out: &mut Vec<u8>, span: &Span) {
    bytes(out, 1, &span.trace_id);
    bytes(out, 2, &span.span_id);
    if let Some(parent) = &span.parent_span_id {
        bytes(out, 4, parent);
    }
    bytes(out, 5, span.name.as_bytes());
    key(out, 6, 0);
    varint(out, span.kind as u64);
    fixed64(out, 7, span.start_unix_nano);
    fixed64(out, 8, span.end_unix_nano.max(span.start_unix_nano));
    for (name, value) in &span.attributes {
        attribute(out, 9, name, value);
    }
    message(out, 15, |status| {
        if let Some(text) = &span.error {
            bytes(status, 2, text.as_bytes());
            key(status, 3, 0);
            varint(status, 2);
        }
    });
}

/// An `ExportTraceServiceRequest` for `spans` (each already encoded by [`span`]), from one
/// resource (`service.name` and the other `resource` attributes) and one scope.
pub fn export_request(
    resource: &[(&'static str, Value)],
    scope: (&str, &str),
    spans: &[Vec<u8>],
) -> Vec<u8> {
    let mut out = Vec::new();
    message(&mut out, 1, |resource_spans| {
        message(resource_spans, 1, |r| {
            for (name, value) in resource {
                attribute(r, 1, name, value);
            }
        });
        message(resource_spans, 2, |scope_spans| {
            message(scope_spans, 1, |s| {
                bytes(s, 1, scope.0.as_bytes());
                bytes(s, 2, scope.1.as_bytes());
            });
            for encoded in spans {
                bytes(scope_spans, 2, encoded);
            }
        });
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_keys_follow_the_wire_format() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        let mut out = Vec::new();
        bytes(&mut out, 5, b"hi");
        assert_eq!(out, [0x2a, 2, b'h', b'i']);
        let mut out = Vec::new();
        fixed64(&mut out, 7, 1);
        assert_eq!(out, [0x39, 1, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn a_span_carries_its_ids_times_and_error() {
        let mut out = Vec::new();
        span(
            &mut out,
            &Span {
                trace_id: [1; 16],
                span_id: [2; 8],
                parent_span_id: None,
                name: "GET".into(),
                kind: Kind::Server,
                start_unix_nano: 10,
                end_unix_nano: 5,
                attributes: vec![("http.response.status_code", Value::Int(502))],
                error: Some("upstream-unreachable".into()),
            },
        );
        assert_eq!(&out[..2], [0x0a, 16]);
        assert_eq!(&out[18..20], [0x12, 8]);
        // The end is never before the start.
        let end_at = out.windows(1).position(|w| w[0] == 0x41).expect("end time");
        assert_eq!(out[end_at + 1], 10);
        assert!(out.ends_with(b"upstream-unreachable\x18\x02"));
    }
}
