//! The gateway's side of rate limiting: which objects to ask, what to do when they cannot
//! answer, a per-isolate memory of denials that spares the objects repeated calls, and the
//! credit approximate policies spend without calling.

use std::cell::RefCell;

use futures_util::future::join_all;
use serde_json::json;
use worker::{Context, Env};

use super::algorithm::Decision;
use super::lease::{Grant, Ledger, Take};
use super::object::{CheckRequest, Snapshot};
use super::policy::{response_headers, retry_after_seconds, KeyInputs, Mode, OnError, Policy};
use crate::bindings;
use crate::error::GatewayError;
use crate::memo::Expiring;
use crate::platform;

/// Most denials remembered per isolate; older expired entries are dropped first.
const DENY_CACHE_CAPACITY: usize = 10_000;

thread_local! {
    /// Object name → the decision that denied it, until its `Retry-After` passes.
    static DENIED: RefCell<Expiring<Decision>> = RefCell::new(Expiring::new(DENY_CACHE_CAPACITY));
    /// Credit leased for approximate policies, by object name.
    static CREDIT: RefCell<Ledger> = RefCell::new(Ledger::default());
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

/// What one policy needs for this request, decided before any call is made.
enum Step {
    /// Known without asking: a remembered denial, or credit this isolate holds.
    Known(Decision),
    /// Admitted from credit, and the credit is low: lease `want` more after the response.
    Refill(Decision, u64),
    /// No credit: lease `want` and admit this request from it.
    Lease(u64),
    /// Ask the object about this request alone.
    Check,
}

/// Checks every policy of a route concurrently. A request denied by one policy still counts
/// against the others that admitted it. Refills of approximate policies' credit run after the
/// response, under `worker`.
pub async fn check(
    env: &Env,
    worker: &Context,
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
        let step = plan(policy, name, now_ms);
        calls += u32::from(!matches!(step, Step::Known(_)));
        async move {
            match step {
                Step::Known(decision) => Answer::Decided(decision),
                Step::Refill(decision, want) => {
                    worker.wait_until(refill(env.clone(), (*policy).clone(), name.clone(), want));
                    Answer::Decided(decision)
                }
                Step::Lease(want) => match lease(env, policy, name, want).await {
                    Ok(grant) => Answer::Decided(CREDIT.with(|credit| {
                        credit.borrow_mut().granted(
                            name,
                            &policy.algorithm,
                            &grant,
                            true,
                            platform::now_ms(),
                        )
                    })),
                    Err(cause) => {
                        CREDIT.with(|credit| credit.borrow_mut().failed(name));
                        Answer::Failed(cause)
                    }
                },
                Step::Check => match call(env, policy, name, "check", 1).await {
                    Ok(decision) if !decision.allowed && policy.mode != Mode::Exact => {
                        let now = platform::now_ms();
                        let spent = CREDIT.with(|credit| credit.borrow_mut().spend(name, now));
                        Answer::Decided(spent.unwrap_or(decision))
                    }
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

/// What `policy` needs for `name` now. An exact policy is a check, unless a denial is
/// remembered; an approximate one spends credit first, so a denial remembered earlier does
/// not hold back credit leased since.
fn plan(policy: &Policy, name: &str, now_ms: f64) -> Step {
    let take = match policy.mode {
        Mode::Approximate { lease } => {
            CREDIT.with(|credit| credit.borrow_mut().take(name, lease, now_ms))
        }
        Mode::Exact => Take::Check,
    };
    match take {
        Take::Spent {
            decision,
            refill: None,
        } => Step::Known(decision),
        Take::Spent {
            decision,
            refill: Some(want),
        } => Step::Refill(decision, want),
        Take::Lease(want) => match remembered_denial(name, now_ms) {
            Some(decision) => {
                CREDIT.with(|credit| credit.borrow_mut().failed(name));
                Step::Known(decision)
            }
            None => Step::Lease(want),
        },
        Take::Check => remembered_denial(name, now_ms).map_or(Step::Check, Step::Known),
    }
}

/// Leases more credit for `name` after the response that found it low.
async fn refill(env: Env, policy: Policy, name: String, want: u64) {
    let leased = lease(&env, &policy, &name, want).await;
    CREDIT.with(|credit| {
        let mut credit = credit.borrow_mut();
        match &leased {
            Ok(grant) => {
                credit.granted(&name, &policy.algorithm, grant, false, platform::now_ms());
            }
            Err(_) => credit.failed(&name),
        }
    });
    if let Err(cause) = leased {
        platform::log_error(
            &json!({"type": "rate_limit", "event": "unavailable", "policy": policy.name,
                    "action": "refill", "cause": cause})
            .to_string(),
        );
    }
}

async fn lease(env: &Env, policy: &Policy, name: &str, want: u64) -> Result<Grant, String> {
    parse(&send(env, policy, name, "lease", want).await?)
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
    CREDIT.with(|credit| credit.borrow_mut().forget(&name));
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
