//! OpenTelemetry spans of one request: the gateway's server span, and a child span for each
//! piece of I/O a stage does (authentication, rate-limit calls, the cache lookup, every
//! upstream attempt, every aggregation backend). A [`Tracer`] is a cheap handle that stages
//! clone; off, it records nothing and costs a branch.

use std::cell::RefCell;
use std::rc::Rc;

use super::otlp::{Kind, Span, Value};
use super::trace::TraceContext;
use crate::platform;

/// Records the spans of one request.
#[derive(Debug, Clone, Default)]
pub struct Tracer {
    recording: Option<Rc<RefCell<Recording>>>,
}

#[derive(Debug)]
struct Recording {
    trace_id: [u8; 16],
    server_span: [u8; 8],
    spans: Vec<Span>,
}

/// Where a piece of work records its spans: a tracer and the span they go under (the
/// request's server span when `None`).
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub tracer: &'a Tracer,
    pub parent: Option<[u8; 8]>,
}

impl Scope<'_> {
    pub fn is_on(&self) -> bool {
        self.tracer.is_on()
    }

    /// Records a finished span under this scope's parent.
    pub fn record(
        &self,
        name: &str,
        kind: Kind,
        start_ms: f64,
        attributes: Vec<(&'static str, Value)>,
        error: Option<String>,
    ) {
        self.tracer
            .record(name, kind, start_ms, self.parent, None, attributes, error);
    }
}

/// Milliseconds since the epoch as OTLP's nanoseconds.
pub fn unix_nano(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        (ms * 1_000_000.0) as u64
    } else {
        0
    }
}

fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    if text.len() != N * 2 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Tracer {
    /// A tracer recording the request of `trace` (its server span is `trace.span_id`).
    pub fn recording(trace: &TraceContext) -> Self {
        let ids = from_hex::<16>(&trace.trace_id).zip(from_hex::<8>(&trace.span_id));
        Self {
            recording: ids.map(|(trace_id, server_span)| {
                Rc::new(RefCell::new(Recording {
                    trace_id,
                    server_span,
                    spans: Vec::new(),
                }))
            }),
        }
    }

    pub fn is_on(&self) -> bool {
        self.recording.is_some()
    }

    /// A new span id, for a span whose children are recorded before it ends.
    pub fn new_id(&self) -> [u8; 8] {
        let mut id: [u8; 8] = platform::random_bytes();
        if id == [0; 8] {
            id[0] = 1;
        }
        id
    }

    /// Records a finished span that started at `start_ms` and ends now, under `parent` (the
    /// server span when `None`). `id` is its own id when children already name it.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        name: &str,
        kind: Kind,
        start_ms: f64,
        parent: Option<[u8; 8]>,
        id: Option<[u8; 8]>,
        attributes: Vec<(&'static str, Value)>,
        error: Option<String>,
    ) {
        let Some(recording) = &self.recording else {
            return;
        };
        let end_ms = platform::now_ms();
        let span_id = id.unwrap_or_else(|| self.new_id());
        let mut recording = recording.borrow_mut();
        let span = Span {
            trace_id: recording.trace_id,
            span_id,
            parent_span_id: Some(parent.unwrap_or(recording.server_span)),
            name: name.to_string(),
            kind,
            start_unix_nano: unix_nano(start_ms),
            end_unix_nano: unix_nano(end_ms),
            attributes,
            error,
        };
        recording.spans.push(span);
    }

    /// The server span (ending now) and every child recorded, emptying the recording.
    pub fn finish(
        &self,
        trace: &TraceContext,
        name: String,
        start_ms: f64,
        end_ms: f64,
        attributes: Vec<(&'static str, Value)>,
        error: Option<String>,
    ) -> Vec<Span> {
        let Some(recording) = &self.recording else {
            return Vec::new();
        };
        let mut recording = recording.borrow_mut();
        let mut spans = std::mem::take(&mut recording.spans);
        spans.push(Span {
            trace_id: recording.trace_id,
            span_id: recording.server_span,
            parent_span_id: trace.parent_id.as_deref().and_then(from_hex::<8>),
            name,
            kind: Kind::Server,
            start_unix_nano: unix_nano(start_ms),
            end_unix_nano: unix_nano(end_ms),
            attributes,
            error,
        });
        spans
    }
}

/// Head sampling by the trace id, so every service that samples at the same ratio keeps the
/// same traces: the trace is kept when its last 8 bytes, read as a number, fall below the
/// ratio's share of the range.
pub fn sampled(trace_id: &str, ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    let Some(id) = from_hex::<16>(trace_id) else {
        return false;
    };
    let mut low = [0u8; 8];
    low.copy_from_slice(&id[8..]);
    (u64::from_be_bytes(low) as f64) < ratio * u64::MAX as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_from_the_trace_context() {
        let trace = TraceContext::continue_or_start(
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            None,
            [7; 24],
        );
        let tracer = Tracer::recording(&trace);
        assert!(tracer.is_on());
        let spans = tracer.finish(&trace, "GET".into(), 1.0, 2.0, Vec::new(), None);
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].trace_id[0], 0x0a);
        assert_eq!(spans[0].parent_span_id, from_hex::<8>("b7ad6b7169203331"));
        assert!(!Tracer::default().is_on());
    }

    #[test]
    fn sampling_keeps_about_the_ratio_and_is_stable_per_trace() {
        let ids: Vec<String> = (0..2000u64)
            .map(|i| format!("{:016x}{:016x}", i, i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
            .collect();
        let kept = ids.iter().filter(|id| sampled(id, 0.25)).count();
        assert!((400..600).contains(&kept), "{kept}");
        assert!(ids.iter().all(|id| sampled(id, 0.25) == sampled(id, 0.25)));
        assert!(ids.iter().all(|id| sampled(id, 1.0)));
        assert!(!ids.iter().any(|id| sampled(id, 0.0)));
    }
}
