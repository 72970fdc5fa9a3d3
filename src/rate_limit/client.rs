//! The gateway's side of rate limiting: which objects to ask, what to do when they cannot
//! answer, and a per-isolate memory of denials that spares the objects repeated calls.

use std::cell::RefCell;

use futures_util::future::join_all;
use serde_json::json;
use worker::Env;

use super::algorithm::Decision;
use super::object::{CheckRequest, Snapshot};
use super::policy::{response_headers, retry_after_seconds, KeyInputs, OnError, Policy};
use crate::bindings;
use crate::error::GatewayError;
use crate::memo::Expiring;
use crate::platform;

/// Most denials remembered per isolate; older expired entries are dropped first.
const DENY_CACHE_CAPACITY: usize = 10_000;

thread_local! {
    /// Object name → the decision that denied it, until its `Retry-After` passes.
    static DENIED: RefCell<Expiring<Decision>> = RefCell::new(Expiring::new(DENY_CACHE_CAPACITY));
}

/// What the rate-limit stage found for an admitted request.
#[derive(Debug, Default)]
pub struct Admitted {
    /// `RateLimit-Policy` and `RateLimit` for the response.
    pub headers: Vec<(&'static str, String)>,
    /// Durable Object calls made for this request.
    pub calls: u32,
}

enum Answer {
    Decided(Decision),
    Failed(String),
}

/// Checks every policy of a route concurrently. A request denied by one policy still counts
/// against the others that admitted it.
pub async fn check(
    env: &Env,
    policies: &[&Policy],
    inputs: &KeyInputs<'_>,
    now_ms: f64,
) -> Result<Admitted, GatewayError> {
    let names: Vec<String> = policies
        .iter()
        .map(|p| p.object_name(&p.key_for(inputs)))
        .collect();
    let mut calls = 0;
    let pending = policies.iter().zip(&names).map(|(policy, name)| {
        let remembered = remembered_denial(name, now_ms);
        if remembered.is_none() {
            calls += 1;
        }
        async move {
            match remembered {
                Some(decision) => Answer::Decided(decision),
                None => match call(env, policy, name, "check", 1).await {
                    Ok(decision) => Answer::Decided(decision),
                    Err(cause) => Answer::Failed(cause),
                },
            }
        }
    });
    let answers = join_all(pending).await;

    let mut decided: Vec<(&Policy, Decision)> = Vec::new();
    for ((policy, name), answer) in policies.iter().zip(&names).zip(answers) {
        match answer {
            Answer::Decided(decision) => {
                if !decision.allowed {
                    remember_denial(name, now_ms, &decision);
                }
                decided.push((policy, decision));
            }
            Answer::Failed(cause) => match policy.on_error {
                OnError::Allow => platform::log_error(
                    &json!({"type": "rate_limit", "event": "unavailable", "policy": policy.name,
                            "action": "allowed", "cause": cause})
                    .to_string(),
                ),
                OnError::Deny => {
                    return Err(GatewayError::RateLimitUnavailable {
                        policy: policy.name.clone(),
                        cause,
                    })
                }
            },
        }
    }
    let headers = response_headers(&decided);
    let denied = decided
        .iter()
        .filter(|(_, d)| !d.allowed)
        .max_by_key(|(_, d)| d.retry_after_ms);
    match denied {
        Some((policy, decision)) => Err(GatewayError::RateLimited {
            policy: policy.name.clone(),
            retry_after_s: retry_after_seconds(decision.retry_after_ms),
            headers,
            calls,
        }),
        None => Ok(Admitted { headers, calls }),
    }
}

/// The state of one key, as the next request would see it, without consuming anything.
pub async fn peek(env: &Env, policy: &Policy, key: &str) -> Result<Snapshot, String> {
    let name = policy.object_name(key);
    parse(&send(env, policy, &name, "peek", 0).await?)
}

/// Forgets everything about one key, in its object and in this isolate's memory of denials.
pub async fn reset(env: &Env, policy: &Policy, key: &str) -> Result<(), String> {
    let name = policy.object_name(key);
    DENIED.with(|denied| denied.borrow_mut().remove(&name));
    send(env, policy, &name, "reset", 0).await.map(|_| ())
}

async fn call(
    env: &Env,
    policy: &Policy,
    name: &str,
    action: &str,
    cost: u64,
) -> Result<Decision, String> {
    let answer = send(env, policy, name, action, cost).await?;
    parse(&answer)
}

/// The object's answer to `action`, as text.
async fn send(
    env: &Env,
    policy: &Policy,
    name: &str,
    action: &str,
    cost: u64,
) -> Result<String, String> {
    let body = serde_json::to_string(&CheckRequest {
        algorithm: policy.algorithm,
        cost,
    })
    .map_err(|e| e.to_string())?;
    platform::object::call(
        env,
        bindings::RATE_LIMITER,
        name,
        "POST",
        &format!("/{action}"),
        Some(body),
        Some(policy.timeout_ms),
    )
    .await
    .map_err(|cause| format!("the limiter: {cause}"))
}

fn parse<T: serde::de::DeserializeOwned>(answer: &str) -> Result<T, String> {
    serde_json::from_str(answer).map_err(|e| format!("unreadable answer: {e}"))
}

/// A denial this isolate saw that is still in force: deny again without asking the object.
fn remembered_denial(name: &str, now_ms: f64) -> Option<Decision> {
    DENIED.with(|denied| {
        let denied = denied.borrow();
        let (until, decision) = denied.get(name, now_ms)?;
        let left = (until - now_ms).ceil() as u64;
        Some(Decision {
            retry_after_ms: left,
            reset_ms: decision.reset_ms.saturating_sub(decision.retry_after_ms) + left,
            ..decision.clone()
        })
    })
}

fn remember_denial(name: &str, now_ms: f64, decision: &Decision) {
    let until = now_ms + decision.retry_after_ms as f64;
    DENIED.with(|denied| {
        denied
            .borrow_mut()
            .insert(name.to_string(), until, decision.clone(), now_ms)
    });
}
