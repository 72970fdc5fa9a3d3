//! The global bulkhead: a service's `global_concurrency` bounds its calls under way across
//! every isolate and location, through one `ConcurrencyLimiter` Durable Object per service.
//! A call takes a lease before its first attempt (waiting up to `queue_ms` for one) and gives
//! it back when its response headers arrive or it fails. A lease also ends by itself at the
//! call's deadline, so a lost release cannot shrink the limit for long. The leases live in the
//! object's memory: when the object is evicted they are forgotten (the limit opens up rather
//! than stays shut). Each limited call costs two round trips to the object.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use crate::reader::{Errors, Object};
use crate::{bindings, platform};

/// How often a queued acquisition looks again.
const STEP: Duration = Duration::from_millis(5);
/// Longest a call may queue for a lease.
pub const MAX_QUEUE_MS: u64 = 5_000;

/// A service's `global_concurrency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalConcurrency {
    pub limit: u32,
    pub queue_ms: u64,
}

pub fn parse_global_concurrency(
    value: &serde_json::Value,
    path: &str,
    errors: &mut Errors,
) -> Option<GlobalConcurrency> {
    let mut object = Object::read(value, path, errors)?;
    let limit = object
        .required("limit", errors)
        .and_then(|(v, p)| crate::reader::integer_in(v, &p, 1, 100_000, errors));
    let queue_ms = object.integer_or("queue_ms", (0, MAX_QUEUE_MS), 0, errors);
    object.finish(errors);
    Some(GlobalConcurrency {
        limit: limit? as u32,
        queue_ms: queue_ms?,
    })
}

#[durable_object]
pub struct ConcurrencyLimiter {
    /// Lease → when it ends by itself.
    leases: RefCell<BTreeMap<u64, f64>>,
    next: std::cell::Cell<u64>,
}

#[derive(Serialize, Deserialize)]
struct Acquire {
    limit: u32,
    queue_ms: u64,
    /// When the lease ends if it is never given back.
    until_ms: f64,
}

impl DurableObject for ConcurrencyLimiter {
    fn new(_state: State, _env: Env) -> Self {
        Self {
            leases: RefCell::new(BTreeMap::new()),
            next: std::cell::Cell::new(1),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/acquire") => {
                let asked: Acquire = serde_json::from_str(&req.text().await?)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                let deadline = platform::now_ms() + asked.queue_ms as f64;
                loop {
                    let now = platform::now_ms();
                    if let Some(lease) = self.take(asked.limit, asked.until_ms, now) {
                        return Response::from_json(&json!({"lease": lease}));
                    }
                    if now >= deadline {
                        return Response::from_json(
                            &json!({"lease": null, "in_flight": self.leases.borrow().len()}),
                        );
                    }
                    worker::Delay::from(STEP).await;
                }
            }
            (Method::Post, "/release") => {
                let lease: u64 = req.text().await?.trim().parse().unwrap_or(0);
                self.leases.borrow_mut().remove(&lease);
                Response::empty()
            }
            _ => Response::error("not found", 404),
        }
    }
}

impl ConcurrencyLimiter {
    fn take(&self, limit: u32, until_ms: f64, now: f64) -> Option<u64> {
        let mut leases = self.leases.borrow_mut();
        leases.retain(|_, until| *until > now);
        if leases.len() >= limit as usize {
            return None;
        }
        let lease = self.next.get();
        self.next.set(lease + 1);
        leases.insert(lease, until_ms);
        Some(lease)
    }
}

#[derive(Deserialize)]
struct Granted {
    lease: Option<u64>,
}

/// A lease for a call to `service` that ends by `until_ms`, or `None` when the limit stays
/// full for `queue_ms`. An object that cannot be reached lets the call through (logged).
pub async fn acquire(
    env: &Env,
    service: &str,
    global: &GlobalConcurrency,
    until_ms: f64,
) -> Option<Option<u64>> {
    let body = json!({"limit": global.limit, "queue_ms": global.queue_ms, "until_ms": until_ms});
    let answer = platform::object::call(
        env,
        bindings::CONCURRENCY_LIMITER,
        service,
        "POST",
        "/acquire",
        Some(body.to_string()),
        Some(global.queue_ms + 2_000),
    )
    .await
    .and_then(|text| serde_json::from_str::<Granted>(&text).map_err(|e| e.to_string()));
    match answer {
        Ok(Granted { lease: Some(lease) }) => Some(Some(lease)),
        Ok(Granted { lease: None }) => None,
        Err(cause) => {
            platform::log_error(
                &json!({"type": "bulkhead", "event": "limiter_unavailable", "service": service, "cause": cause})
                    .to_string(),
            );
            Some(None)
        }
    }
}

/// Gives a lease back.
pub async fn release(env: &Env, service: &str, lease: u64) {
    let sent = platform::object::call(
        env,
        bindings::CONCURRENCY_LIMITER,
        service,
        "POST",
        "/release",
        Some(lease.to_string()),
        Some(2_000),
    )
    .await;
    if let Err(cause) = sent {
        platform::log_error(
            &json!({"type": "bulkhead", "event": "release_failed", "service": service, "cause": cause})
                .to_string(),
        );
    }
}
