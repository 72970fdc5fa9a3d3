//! Request ids, W3C trace context, and the access log.

pub mod access_log;
pub mod config;
pub mod export;
pub mod otlp;
pub mod request_id;
pub mod trace;
pub mod tracing;
