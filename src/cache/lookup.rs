//! The lookup: edge, then KV for global routes, following a `Vary` marker to the variant, and
//! what the stored entry allows: serve it, revalidate it, or ask the origin.

use worker::{Context, Env};

use super::entry::{Entry, Kind};
use super::fill::{self, Fill};
use super::freshness::{self, Verdict};
use super::key;
use super::plan::{Plan, Status};
use super::purge::{self, Markers};
use super::store::{self, Tier};
use crate::observe::tracing::Scope;
use crate::platform;

/// A stored response and the key it lives under.
#[derive(Debug, Clone)]
pub struct Stored {
    pub entry: Entry,
    pub key: String,
    /// The tier it was read from (none for an entry the gateway made itself).
    pub tier: Option<Tier>,
}

/// The outcome of a lookup.
#[derive(Debug)]
pub enum Found {
    /// Answer from the cache. `refresh` asks for a background revalidation.
    Serve {
        stored: Stored,
        status: Status,
        refresh: bool,
    },
    /// Ask the origin. `stored` (if any) may stand in if it fails, and is revalidated with
    /// `validators` when there are any.
    Forward {
        stored: Option<Stored>,
        validators: Vec<(String, String)>,
    },
    /// The client sent `only-if-cached` and nothing usable is stored.
    Unsatisfiable,
}

/// Looks the request up: edge, then KV for global routes (copying a KV hit back to the edge),
/// following a `Vary` marker to the variant. Purged entries count as absent.
pub async fn lookup(
    env: &Env,
    ctx: &Context,
    plan: &Plan,
    (now_ms, refresh_ms): (f64, u64),
    scope: Scope<'_>,
) -> Found {
    let markers = purge::current(env, now_ms, refresh_ms).await;
    let stored = find(env, ctx, plan, &markers, scope).await;
    let Some(stored) = stored else {
        return forward_or_refuse(plan, None, Vec::new());
    };
    let f = &stored.entry.meta.freshness;
    let verdict = freshness::judge(
        f,
        stored.entry.meta.received_ms,
        now_ms,
        &plan.directives,
        stored.entry.has_validator(),
    );
    match verdict {
        Verdict::Fresh => Found::Serve {
            stored,
            status: Status::Hit,
            refresh: false,
        },
        Verdict::StaleAccepted => Found::Serve {
            stored,
            status: Status::Stale,
            refresh: false,
        },
        Verdict::StaleWhileRevalidate => Found::Serve {
            stored,
            status: Status::Stale,
            refresh: true,
        },
        Verdict::Revalidate => {
            let validators = validators(&stored.entry);
            forward_or_refuse(plan, Some(stored), validators)
        }
        Verdict::Refetch => forward_or_refuse(plan, Some(stored), Vec::new()),
    }
}

/// [`lookup`], with misses collapsed: when the origin is to be asked and another request of this
/// isolate is already asking it for the same key, waits for that one (until `deadline_ms`) and
/// looks again. The [`Fill`] is this request's when it is the one to ask the origin. Keys
/// recently found not storable are not collapsed ([`fill::passes`]).
pub async fn lookup_collapsed(
    env: &Env,
    ctx: &Context,
    plan: &Plan,
    refresh_ms: u64,
    deadline_ms: f64,
    scope: Scope<'_>,
) -> (Found, Option<Fill>) {
    let found = lookup(env, ctx, plan, (platform::now_ms(), refresh_ms), scope).await;
    if !matches!(found, Found::Forward { .. }) || fill::passes(&plan.base_key) {
        return (found, None);
    }
    if let Some(fill) = fill::claim(&plan.base_key, deadline_ms) {
        return (found, Some(fill));
    }
    fill::wait(&plan.base_key, deadline_ms).await;
    let found = lookup(env, ctx, plan, (platform::now_ms(), refresh_ms), scope).await;
    let fill = match found {
        Found::Forward { .. } => fill::claim(&plan.base_key, deadline_ms),
        _ => None,
    };
    (found, fill)
}

fn forward_or_refuse(
    plan: &Plan,
    stored: Option<Stored>,
    validators: Vec<(String, String)>,
) -> Found {
    if plan.directives.has("only-if-cached") {
        Found::Unsatisfiable
    } else {
        Found::Forward { stored, validators }
    }
}

async fn find(
    env: &Env,
    ctx: &Context,
    plan: &Plan,
    markers: &Markers,
    scope: Scope<'_>,
) -> Option<Stored> {
    let global = plan.policy.global;
    let mut key = plan.base_key.clone();
    let (mut found, mut problems) = store::read(&plan.host, &key, env, global, scope).await;
    if let Some((entry, _)) = &found {
        if entry.meta.kind == Kind::Vary {
            key = key::variant_key(&plan.base_key, &entry.meta.vary, &plan.request_headers);
            let (variant, more) = store::read(&plan.host, &key, env, global, scope).await;
            found = variant;
            problems.extend(more);
        }
    }
    for problem in problems {
        platform::log_error(&problem);
    }
    let (entry, tier) = found?;
    if entry.meta.kind != Kind::Response || markers.hides(&entry.meta) {
        return None;
    }
    if tier == Tier::Global {
        let (host, key, copy) = (plan.host.clone(), key.clone(), entry.clone());
        ctx.wait_until(async move {
            if let Err(e) = store::write_edge(&host, &key, &copy).await {
                platform::log_error(&e);
            }
        });
    }
    Some(Stored {
        entry,
        key,
        tier: Some(tier),
    })
}

/// The validators of a stored entry, for a conditional request to the origin.
pub fn validators(entry: &Entry) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(etag) = entry.etag() {
        out.push(("if-none-match".to_string(), etag.to_string()));
    }
    if let Some(modified) = entry.last_modified() {
        out.push(("if-modified-since".to_string(), modified.to_string()));
    }
    out
}

/// The origin request's headers on a cached route: the client's own validators are removed
/// (the gateway answers them itself, from what it stores) and the stored entry's added.
pub fn origin_headers(
    headers: &[(String, String)],
    validators: &[(String, String)],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| name != "if-none-match" && name != "if-modified-since")
        .cloned()
        .collect();
    out.extend(validators.iter().cloned());
    out
}
