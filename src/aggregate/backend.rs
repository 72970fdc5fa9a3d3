//! One backend call of a fan-out: where it goes, and its whole answer read before its
//! deadline, or how that failed.

use serde_json::Value;

use crate::error::GatewayError;
use crate::observe::tracing::Tracer;
use crate::platform;
use crate::resilience::service::Service;
use crate::resilience::{self, ServiceRequest};

/// How one backend call ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Done {
        status: u16,
        /// The backend's headers, when the answer may be cached (else empty).
        headers: Vec<(String, String)>,
        body: Value,
    },
    Failed {
        status: Option<u16>,
        cause: String,
        timed_out: Option<u64>,
    },
}

/// Where one backend call goes, and until when it may take.
pub struct Target<'a> {
    pub service: &'a Service,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub deadline_ms: f64,
    /// The backend's span: its attempts are recorded under it.
    pub tracer: &'a Tracer,
    pub span: Option<[u8; 8]>,
    pub env: Option<&'a worker::Env>,
}

/// A backend's answer, read in full.
pub struct Read {
    pub status: u16,
    /// Empty unless asked for.
    pub headers: Vec<(String, String)>,
    pub bytes: Vec<u8>,
}

impl Read {
    /// The answer as a part: its JSON body (`null` when empty), or why it cannot be one.
    pub fn outcome(&self) -> Outcome {
        let body = match self.bytes.is_empty() {
            true => Value::Null,
            false => match serde_json::from_slice::<Value>(&self.bytes) {
                Ok(body) => body,
                Err(_) => {
                    return Outcome::Failed {
                        status: Some(self.status),
                        cause: "the body is not JSON".into(),
                        timed_out: None,
                    }
                }
            },
        };
        Outcome::Done {
            status: self.status,
            headers: self.headers.clone(),
            body,
        }
    }
}

/// Calls the backend and reads its whole answer before the deadline, or says how that failed.
pub async fn fetch(
    target: &Target<'_>,
    headers: &[(String, String)],
    keep_headers: bool,
) -> Result<Read, Outcome> {
    let started = platform::now_ms();
    let failed = |status: Option<u16>, cause: String, timed_out: Option<u64>| Outcome::Failed {
        status,
        cause,
        timed_out,
    };
    let request = ServiceRequest {
        service: target.service,
        method: "GET",
        path: target.path,
        query: target.query,
        headers,
        deadline_ms: target.deadline_ms,
        sticky_key: None,
        tracer: target.tracer,
        parent_span: target.span,
        env: target.env,
    };
    let budget = (target.deadline_ms - started).max(0.0) as u64;
    let response = match resilience::call(&request, None).await {
        Ok(response) => response,
        Err(GatewayError::UpstreamTimeout { .. }) => {
            return Err(failed(
                None,
                format!("no answer within {budget} ms"),
                Some(budget),
            ))
        }
        Err(error) => return Err(failed(None, error.to_string(), None)),
    };
    let status = response.status_code();
    let headers = match keep_headers {
        true => platform::fetch::entries(response.headers()),
        false => Vec::new(),
    };
    let left = (target.deadline_ms - platform::now_ms()).max(0.0) as u64;
    match platform::fetch::read_within(&response, left).await {
        None => Err(failed(
            Some(status),
            "the body did not arrive in time".into(),
            Some(budget),
        )),
        Some(Err(e)) => Err(failed(Some(status), format!("reading the body: {e}"), None)),
        Some(Ok(bytes)) => Ok(Read {
            status,
            headers,
            bytes,
        }),
    }
}
