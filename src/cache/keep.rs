//! What the cache does after the response has gone: store a copy of the origin's answer or
//! the refreshed entry, revalidate stale entries in the background, and invalidate a URL.
//! Everything here runs from `waitUntil`, so no client waits for it.

use std::future::Future;

use futures_util::StreamExt;
use worker::{Context, Env, Response};

use super::control::list_members;
use super::entry::{self, Entry, Kind, Meta};
use super::fill::Fill;
use super::freshness::{self, Freshness};
use super::lookup::{validators, Stored};
use super::plan::Plan;
use super::settle::{settle, Origin, Settled};
use super::{key, purge, store};
use crate::error::GatewayError;
use crate::memo::Expiring;
use crate::platform::{self, fetch::entries};

/// What the origin answered, to be stored with the body once it has been read.
#[derive(Debug, Clone)]
pub struct Answered {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub freshness: Freshness,
    /// When the origin was asked and when it answered (platform ms).
    pub sent_ms: f64,
    pub received_ms: f64,
}

/// Stores a copy of `response`, which is being relayed to the client, once its body has
/// streamed: the body is read from a tee after the response has been sent. `fill`, if this
/// request fills the key for others, ends once the entry is stored.
pub fn keep_copy(
    ctx: &Context,
    env: &Env,
    plan: Plan,
    response: &mut Response,
    answered: Answered,
    fill: Option<Fill>,
) -> Result<(), String> {
    let copy = response
        .cloned()
        .map_err(|e| format!("copying the response for the cache: {e}"))?;
    ctx.wait_until(keep_response(env.clone(), plan, copy, answered, fill));
    Ok(())
}

/// Stores a body the gateway composed itself (a fan-out's answer), after the response.
pub fn keep_composed(
    ctx: &Context,
    env: &Env,
    plan: Plan,
    body: Vec<u8>,
    answered: Answered,
    fill: Option<Fill>,
) {
    let env = env.clone();
    ctx.wait_until(async move {
        if body.len() as u64 <= plan.policy.max_body_bytes {
            keep_body(&env, &plan, body, answered).await;
        }
        drop(fill);
    });
}

/// Reads `copy` (a tee of a relayed response) and stores it with what the origin answered.
pub async fn keep_response(
    env: Env,
    plan: Plan,
    mut copy: Response,
    answered: Answered,
    fill: Option<Fill>,
) {
    match read_bounded(&mut copy, plan.policy.max_body_bytes).await {
        Ok(Some(body)) => keep_body(&env, &plan, body, answered).await,
        Ok(None) => {}
        Err(e) => platform::log_error(&format!("cache store: reading the response: {e}")),
    }
    drop(fill);
}

/// Stores `body` with what the origin answered: under the base key, or under its variant with a
/// `Vary` marker at the base key.
async fn keep_body(env: &Env, plan: &Plan, body: Vec<u8>, answered: Answered) {
    let Answered {
        status,
        headers,
        freshness,
        sent_ms,
        received_ms,
    } = answered;
    let mut tags = plan.policy.tags.clone();
    for value in headers
        .iter()
        .filter(|(n, _)| n == "cache-tag")
        .map(|(_, v)| v)
    {
        tags.extend(list_members(value).map(str::to_string));
    }
    tags.sort();
    tags.dedup();
    let vary = freshness::vary(&headers);
    let entry = Entry {
        meta: Meta {
            kind: Kind::Response,
            vary: vary.clone(),
            status,
            headers: entry::storable_headers(&headers),
            sent_ms,
            received_ms,
            freshness,
            route: plan.route.clone(),
            tags,
            url: plan.url_id.clone(),
            prefixes: plan.prefix_ids(),
        },
        body,
    };
    let key = if vary.is_empty() {
        plan.base_key.clone()
    } else {
        let marker = Entry {
            meta: Meta {
                kind: Kind::Vary,
                headers: Vec::new(),
                ..entry.meta.clone()
            },
            body: Vec::new(),
        };
        write(env, plan, &plan.base_key, &marker).await;
        key::variant_key(&plan.base_key, &vary, &plan.request_headers)
    };
    write(env, plan, &key, &entry).await;
}

/// Stores an entry refreshed by a revalidation under its key.
pub async fn keep_entry(env: Env, plan: Plan, stored: Stored, fill: Option<Fill>) {
    write(&env, &plan, &stored.key, &stored.entry).await;
    drop(fill);
}

async fn write(env: &Env, plan: &Plan, key: &str, entry: &Entry) {
    for problem in store::write(&plan.host, key, entry, env, plan.policy.global).await {
        platform::log_error(&problem);
    }
}

/// The body, unless it exceeds `limit` (then `None`: it is not stored).
async fn read_bounded(response: &mut Response, limit: u64) -> worker::Result<Option<Vec<u8>>> {
    let mut stream = response.stream()?;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk?);
        if body.len() as u64 > limit {
            return Ok(None);
        }
    }
    Ok(Some(body))
}

thread_local! {
    /// Background revalidations in flight in this isolate, so a burst of stale hits refreshes once.
    static REFRESHING: std::cell::RefCell<Expiring<()>> = std::cell::RefCell::new(Expiring::new(1024));
}

/// Revalidates a stale entry after its stale copy was served (`stale-while-revalidate`). At most
/// one refresh per entry runs at a time in an isolate, until `deadline_ms`: `fetch` is called
/// only when this one may run, with the stored entry's validators, and asks the origin (through
/// the same choice, retries and circuit breakers as any call to the service).
pub fn refresh_in_background<F>(
    ctx: &Context,
    env: &Env,
    plan: Plan,
    stored: Stored,
    deadline_ms: f64,
    fetch: impl FnOnce(&[(String, String)]) -> F,
) where
    F: Future<Output = Result<Response, GatewayError>> + 'static,
{
    let key = stored.key.clone();
    fetch_in_background(
        ctx,
        env,
        (plan, Some(stored), None),
        &key,
        deadline_ms,
        fetch,
    );
}

/// Fetches the whole response after a range of it was relayed from the origin (a 206 is not
/// stored), so that the next ranges are answered from the cache. `fill` is held until then, so
/// concurrent misses for the key wait for the whole response rather than ask for their range.
pub fn fill_in_background<F>(
    ctx: &Context,
    env: &Env,
    plan: Plan,
    fill: Option<Fill>,
    deadline_ms: f64,
    fetch: impl FnOnce(&[(String, String)]) -> F,
) where
    F: Future<Output = Result<Response, GatewayError>> + 'static,
{
    let key = plan.base_key.clone();
    fetch_in_background(ctx, env, (plan, None, fill), &key, deadline_ms, fetch);
}

/// Asks the origin for `key` after the response (at most once at a time per key in an
/// isolate), conditionally with the stored entry's validators when there is one, and keeps
/// what it answers when that may be stored.
fn fetch_in_background<F>(
    ctx: &Context,
    env: &Env,
    (plan, stored, fill): (Plan, Option<Stored>, Option<Fill>),
    key: &str,
    deadline_ms: f64,
    fetch: impl FnOnce(&[(String, String)]) -> F,
) where
    F: Future<Output = Result<Response, GatewayError>> + 'static,
{
    let now = platform::now_ms();
    let claimed = REFRESHING.with(|r| {
        let mut r = r.borrow_mut();
        if r.get(key, now).is_some() {
            return false;
        }
        r.insert(key.to_string(), deadline_ms, (), now);
        true
    });
    if !claimed {
        return;
    }
    let call = fetch(
        &stored
            .as_ref()
            .map(|s| validators(&s.entry))
            .unwrap_or_default(),
    );
    let env = env.clone();
    let key = key.to_string();
    ctx.wait_until(async move {
        let sent = platform::now_ms();
        let result = call.await;
        let received = platform::now_ms();
        let answered = result
            .as_ref()
            .ok()
            .map(|r| (r.status_code(), entries(r.headers())));
        let origin = match &answered {
            Some((status, headers)) => Origin::Answered {
                status: *status,
                headers,
            },
            None => Origin::Failed,
        };
        match (settle(&plan, stored, origin, sent, received), result) {
            (
                Settled::FromStore {
                    stored, keep: true, ..
                },
                _,
            ) => keep_entry(env, plan, *stored, fill).await,
            (
                Settled::Relay {
                    keep: Some(freshness),
                    ..
                },
                Ok(response),
            ) => {
                let (status, headers) = answered.unwrap_or_default();
                let answered = Answered {
                    status,
                    headers,
                    freshness,
                    sent_ms: sent,
                    received_ms: received,
                };
                keep_response(env, plan, response, answered, fill).await
            }
            (Settled::Failed, Err(error)) => {
                platform::log_error(&format!("cache refresh failed: {error}"));
            }
            _ => drop(fill),
        }
        REFRESHING.with(|r| r.borrow_mut().remove(&key));
    });
}

/// After a successful unsafe request (POST, PUT, PATCH, DELETE) on a URL, what is cached for it
/// is invalidated everywhere (RFC 9111 §4.4): at once in this isolate, via KV elsewhere.
pub fn invalidate(ctx: &Context, env: &Env, host: &str, path: &str) {
    let target = purge::Target::Url(key::url_id(host, path));
    let at = platform::now_ms();
    purge::record_locally(std::slice::from_ref(&target), at);
    let env = env.clone();
    ctx.wait_until(async move {
        if let Err(e) = purge::publish(&env, &[target], at).await {
            platform::log_error(&format!("cache invalidation: {e}"));
        }
    });
}
