//! The parts of a cached composition. On an aggregate route with `cache`, each backend's answer
//! is kept under a key of its own (the route, the backend's name, the path and query it was
//! asked with, the caller on per-caller routes) and judged by its own caching headers, so a
//! part that many composed answers share (a catalogue, a profile) is fetched once for all of
//! them. A stale part is revalidated with its validators, may stand in for a failed backend
//! within its `stale-if-error`, and concurrent misses for it in an isolate make one call.

use worker::{Context, Env};

use super::backend::{fetch, Outcome, Target};
use crate::cache::config::CachePolicy;
use crate::cache::entry::Entry;
use crate::cache::freshness;
use crate::cache::keep::{self, Answered};
use crate::cache::lookup::{lookup_collapsed, origin_headers, Found};
use crate::cache::plan::{Caller, Plan, Request};
use crate::cache::settle::{self, Origin, Settled};
use crate::observe::tracing::Scope;
use crate::platform;

/// Where the parts of a cached composition are kept, and for whom.
#[derive(Clone, Copy)]
pub struct PartCache<'a> {
    pub env: &'a Env,
    pub ctx: &'a Context,
    pub policy: &'a CachePolicy,
    pub route: &'a str,
    pub host: &'a str,
    pub caller: Option<Caller<'a>>,
    /// How often purge markers are re-read.
    pub refresh_ms: u64,
}

/// One backend's part, from the cache when it holds a usable answer, else from the backend
/// (conditionally when a stale answer with validators is kept); what the backend answers is
/// kept when its headers allow.
pub(super) async fn call(
    cache: &PartCache<'_>,
    backend: &str,
    target: &Target<'_>,
    headers: &[(String, String)],
) -> Outcome {
    let request = Request {
        route: cache.route,
        method: "GET",
        host: cache.host,
        path: target.path,
        query: target.query,
        headers,
    };
    let Some(plan) = Plan::for_part(cache.policy, &request, cache.caller, backend) else {
        return match fetch(target, headers, true).await {
            Ok(read) => read.outcome(),
            Err(failed) => failed,
        };
    };
    let (found, fill) = lookup_collapsed(
        cache.env,
        cache.ctx,
        &plan,
        cache.refresh_ms,
        target.deadline_ms,
        Scope {
            tracer: target.tracer,
            parent: target.span,
        },
    )
    .await;
    let (stored, validators) = match found {
        Found::Serve { stored, .. } => return from_store(&stored.entry),
        Found::Unsatisfiable => {
            return Outcome::Failed {
                status: Some(504),
                cause: "not cached, and the request accepts only cached answers".into(),
                timed_out: None,
            }
        }
        Found::Forward { stored, validators } => (stored, validators),
    };
    let sent_ms = platform::now_ms();
    let fetched = fetch(target, &origin_headers(headers, &validators), true).await;
    let received_ms = platform::now_ms();
    let origin = match &fetched {
        Ok(read) => Origin::Answered {
            status: read.status,
            headers: &read.headers,
        },
        Err(_) => Origin::Failed,
    };
    match (
        settle::settle(&plan, stored, origin, sent_ms, received_ms),
        fetched,
    ) {
        (Settled::FromStore { stored, keep, .. }, _) => {
            let outcome = from_store(&stored.entry);
            if keep {
                let env = cache.env.clone();
                cache
                    .ctx
                    .wait_until(keep::keep_entry(env, plan, *stored, fill));
            }
            outcome
        }
        (Settled::Relay { keep, .. }, Ok(read)) => {
            let outcome = read.outcome();
            if let (Some(freshness), Outcome::Done { .. }) = (keep, &outcome) {
                let answered = Answered {
                    status: read.status,
                    headers: read.headers,
                    freshness,
                    sent_ms,
                    received_ms,
                };
                keep::keep_composed(cache.ctx, cache.env, plan, read.bytes, answered, fill);
            } else {
                if let Some(fill) = fill {
                    fill.pass();
                }
            }
            outcome
        }
        (_, Ok(read)) => read.outcome(),
        (_, Err(failed)) => failed,
    }
}

/// A stored part as the composition sees it: the stored status and headers, with its `Age` (so
/// the composed answer's lifetime counts what the part has already lived), and its JSON body.
fn from_store(entry: &Entry) -> Outcome {
    let meta = &entry.meta;
    let age = freshness::current_age(&meta.freshness, meta.received_ms, platform::now_ms());
    let mut headers = settle::for_client(&meta.headers);
    headers.push(("age".to_string(), format!("{}", age.floor() as u64)));
    let body = match entry.body.is_empty() {
        true => Ok(serde_json::Value::Null),
        false => serde_json::from_slice(&entry.body),
    };
    match body {
        Ok(body) => Outcome::Done {
            status: meta.status,
            headers,
            body,
        },
        Err(_) => Outcome::Failed {
            status: Some(meta.status),
            cause: "the stored part is not JSON".into(),
            timed_out: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::entry::sample;
    use crate::http::header;

    #[test]
    fn a_stored_part_carries_its_age_and_json_body() {
        let thirty_seconds_ago = platform::now_ms() - 30_000.0;
        let Outcome::Done { headers, body, .. } =
            from_store(&sample(thirty_seconds_ago, br#"{"id":1}"#.to_vec()))
        else {
            panic!("a part");
        };
        let age: u64 = header(&headers, "age")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        assert!((29..=31).contains(&age), "age {age}");
        assert_eq!(body, serde_json::json!({"id": 1}));
        assert!(matches!(
            from_store(&sample(thirty_seconds_ago, b"<html>".to_vec())),
            Outcome::Failed { .. }
        ));
    }
}
