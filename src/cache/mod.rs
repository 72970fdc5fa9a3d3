//! Response caching: the cache lookup and cache store stages.
//!
//! A route with a `cache` policy is looked up before its origin is called and stored after.
//! Decisions (may it be stored, is it fresh, may it be served) are plain functions in
//! [`freshness`]; keys in [`key`]; the stored format in [`entry`]; the tiers in [`store`];
//! purges in [`purge`]. This module strings them together for the pipeline.
//!
//! Every answer on a cached route carries `X-Cache`: `HIT` (fresh from the cache), `MISS` (from
//! the origin, and stored), `STALE` (served stale: `stale-while-revalidate`, `stale-if-error` or
//! the client's `max-stale`), `REVALIDATED` (the origin confirmed the stored response with 304),
//! or `BYPASS` (the request or the origin's answer may not use the cache).

pub mod control;
pub mod entry;
pub mod freshness;
pub mod key;
pub mod purge;
pub mod store;

use futures_util::StreamExt;
use worker::{Context, Env, Response};

use crate::auth::authenticate::Principal;
use crate::config::model::Service;
use crate::error::GatewayError;
use crate::memo::Expiring;
use crate::platform;
use crate::resilience::{self, ServiceRequest};
use crate::upstream::{self, headers::header};
use control::{list_members, Directives};
use entry::{Entry, Kind, Meta};
use freshness::{Freshness, RequestFacts, Verdict};
use purge::Markers;
use store::Tier;

/// KV binding of the global tier and of purge markers.
pub const BINDING: &str = "CACHE";
/// Bodies larger than this are not stored unless the route says otherwise.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
/// Statuses an `override` lifetime applies to unless the route lists others.
pub const DEFAULT_OVERRIDE_STATUSES: [u16; 8] = [200, 203, 204, 300, 301, 308, 404, 410];

/// A route's `cache` policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicy {
    pub lifetime: Lifetime,
    /// Used when the origin does not send `stale-while-revalidate` (default 0).
    pub stale_while_revalidate_s: u64,
    /// Used when the origin does not send `stale-if-error` (default 0).
    pub stale_if_error_s: u64,
    /// Also keep entries in the global KV tier (default: edge only).
    pub global: bool,
    /// Query parameters left out of the key: exact names, or prefixes ending in `*`.
    pub ignore_query: Vec<String>,
    /// Sort query parameters in the key, so their order does not matter (default: no).
    pub sort_query: bool,
    /// On authenticated routes, share entries between callers (default: one entry per caller).
    pub shared: bool,
    /// Purge tags for every entry of the route.
    pub tags: Vec<String>,
    /// Larger bodies are relayed but not stored (default 1 MiB).
    pub max_body_bytes: u64,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            lifetime: Lifetime::Origin,
            stale_while_revalidate_s: 0,
            stale_if_error_s: 0,
            global: false,
            ignore_query: Vec::new(),
            sort_query: false,
            shared: false,
            tags: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Where a stored response's lifetime comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifetime {
    /// The origin's headers, as a shared cache reads them (RFC 9111).
    Origin,
    /// The route's TTL for these statuses; the origin can still refuse storage (`no-store`,
    /// `private`, `Set-Cookie`, `Vary: *`).
    Override { ttl_s: u64, statuses: Vec<u16> },
}

/// The `X-Cache` value of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Hit,
    Miss,
    Stale,
    Revalidated,
    Bypass,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "HIT",
            Self::Miss => "MISS",
            Self::Stale => "STALE",
            Self::Revalidated => "REVALIDATED",
            Self::Bypass => "BYPASS",
        }
    }
}

/// The cache's view of one request, fixed before the lookup.
#[derive(Debug, Clone)]
pub struct Plan {
    pub policy: CachePolicy,
    pub route: String,
    pub host: String,
    pub base_key: String,
    pub url_id: String,
    pub directives: Directives,
    pub facts: RequestFacts,
    pub head: bool,
    /// The client's headers, for `Vary` and conditional requests.
    pub request_headers: Vec<(String, String)>,
}

impl Plan {
    /// The plan for a request on a cached route, or `None` when the request may not use the
    /// cache: methods other than GET and HEAD, `no-store`, or a caller who cannot be told apart
    /// from others on a route whose entries are per caller.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        policy: &CachePolicy,
        route: &str,
        method: &str,
        host: &str,
        path: &str,
        query: Option<&str>,
        request_headers: &[(String, String)],
        principal: Option<&Principal>,
    ) -> Option<Self> {
        if method != "GET" && method != "HEAD" {
            return None;
        }
        let directives = request_directives(request_headers);
        if directives.has("no-store") {
            return None;
        }
        let caller = match principal {
            Some(p) if !policy.shared => Some(key::principal_id(
                p.scheme,
                p.issuer.as_deref(),
                p.subject.as_deref(),
            )?),
            _ => None,
        };
        let query = key::normalise_query(query, &policy.ignore_query, policy.sort_query);
        let base_key = key::base_key(&key::KeyParts {
            route,
            host,
            path,
            query: &query,
            principal: caller.as_deref(),
        });
        Some(Self {
            policy: policy.clone(),
            route: route.to_string(),
            host: host.to_string(),
            base_key,
            url_id: key::url_id(host, path),
            directives,
            facts: RequestFacts {
                credentials: principal.is_some() || key::has_credentials(request_headers),
                keyed_by_principal: caller.is_some(),
            },
            head: method == "HEAD",
            request_headers: request_headers.to_vec(),
        })
    }
}

/// The request's `Cache-Control`; `Pragma: no-cache` counts when there is none (RFC 9111 §5.4).
fn request_directives(headers: &[(String, String)]) -> Directives {
    let values: Vec<&str> = headers
        .iter()
        .filter(|(name, _)| name == "cache-control")
        .map(|(_, value)| value.as_str())
        .collect();
    if values.is_empty() && header(headers, "pragma").is_some_and(|p| p.contains("no-cache")) {
        return Directives::parse(["no-cache"]);
    }
    Directives::parse(values)
}

/// A stored response and the key it lives under.
#[derive(Debug, Clone)]
pub struct Stored {
    pub entry: Entry,
    pub key: String,
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
pub async fn lookup(env: &Env, ctx: &Context, plan: &Plan, now_ms: f64, refresh_ms: u64) -> Found {
    let markers = purge::current(env, now_ms, refresh_ms).await;
    let stored = find(env, ctx, plan, &markers).await;
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

async fn find(env: &Env, ctx: &Context, plan: &Plan, markers: &Markers) -> Option<Stored> {
    let global = plan.policy.global;
    let mut key = plan.base_key.clone();
    let (mut found, mut problems) = store::read(&plan.host, &key, env, global).await;
    if let Some((entry, _)) = &found {
        if entry.meta.kind == Kind::Vary {
            key = key::variant_key(&plan.base_key, &entry.meta.vary, &plan.request_headers);
            let (variant, more) = store::read(&plan.host, &key, env, global).await;
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
    Some(Stored { entry, key })
}

fn validators(entry: &Entry) -> Vec<(String, String)> {
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

/// What to answer once the origin has been asked.
pub enum Settled {
    /// Answer from the stored response: revalidated by a 304 (`keep`: store the refreshed entry),
    /// or standing in for a failed origin.
    FromStore {
        stored: Stored,
        status: Status,
        keep: bool,
    },
    /// Relay the origin's response; store a copy when `keep` has a freshness.
    Relay {
        response: Response,
        status: Status,
        keep: Option<Freshness>,
    },
    /// The origin failed and nothing may stand in.
    Failed(GatewayError),
}

/// Settles the origin's answer (or failure) against what was stored.
pub fn settle(
    plan: &Plan,
    stored: Option<Stored>,
    result: Result<Response, GatewayError>,
    sent_ms: f64,
    received_ms: f64,
) -> Settled {
    // Whether the stored entry may stand in for a failed origin (`stale-if-error`).
    let can_stand_in = stored.as_ref().is_some_and(|s| {
        let meta = &s.entry.meta;
        freshness::may_serve_on_error(&meta.freshness, meta.received_ms, received_ms)
    });
    let origin_failed = match &result {
        Ok(response) => freshness::is_origin_error(response.status_code()),
        Err(_) => true,
    };
    if origin_failed && can_stand_in {
        if let Some(stored) = stored {
            return Settled::FromStore {
                stored,
                status: Status::Stale,
                keep: false,
            };
        }
    }
    let response = match result {
        Ok(response) => response,
        Err(error) => return Settled::Failed(error),
    };
    let status = response.status_code();
    let headers = upstream::entries(response.headers());
    if status == 304 {
        if let Some(stored) = stored {
            let merged = stored.entry.refreshed(
                &headers,
                stored.entry.meta.freshness.clone(),
                sent_ms,
                received_ms,
            );
            let assessed = freshness::assess(
                &plan.policy,
                &plan.directives,
                plan.facts,
                merged.meta.status,
                &merged.meta.headers,
                sent_ms,
                received_ms,
            );
            let keep = assessed.is_ok();
            let entry = match assessed {
                Ok(f) => Entry {
                    meta: Meta {
                        freshness: f,
                        ..merged.meta
                    },
                    body: merged.body,
                },
                Err(_) => merged,
            };
            return Settled::FromStore {
                stored: Stored {
                    entry,
                    key: stored.key,
                },
                status: Status::Revalidated,
                keep,
            };
        }
    }
    if plan.head {
        return Settled::Relay {
            response,
            status: Status::Miss,
            keep: None,
        };
    }
    match freshness::assess(
        &plan.policy,
        &plan.directives,
        plan.facts,
        status,
        &headers,
        sent_ms,
        received_ms,
    ) {
        Ok(f) if !declared_too_large(&headers, plan.policy.max_body_bytes) => Settled::Relay {
            response,
            status: Status::Miss,
            keep: Some(f),
        },
        Ok(_) => Settled::Relay {
            response,
            status: Status::Miss,
            keep: None,
        },
        Err(_) => Settled::Relay {
            response,
            status: Status::Bypass,
            keep: None,
        },
    }
}

fn declared_too_large(headers: &[(String, String)], limit: u64) -> bool {
    header(headers, "content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|length| length > limit)
}

/// What to send the client from a stored response: status, origin headers with `Age`, and body
/// (none for HEAD or when the client's validators match, which makes it a 304).
pub fn answer(
    plan: &Plan,
    stored: &Entry,
    now_ms: f64,
) -> (u16, Vec<(String, String)>, Option<Vec<u8>>) {
    let meta = &stored.meta;
    let age = freshness::current_age(&meta.freshness, meta.received_ms, now_ms);
    let mut headers = meta.headers.clone();
    headers.push(("age".to_string(), format!("{}", age.floor() as u64)));
    let fresh_status = (200..300).contains(&meta.status);
    if fresh_status
        && freshness::not_modified(&plan.request_headers, stored.etag(), stored.last_modified())
    {
        headers.retain(|(name, _)| !name.starts_with("content-"));
        return (304, headers, None);
    }
    let body = (!plan.head).then(|| stored.body.clone());
    (meta.status, headers, body)
}

/// Whether a relayed origin response already satisfies the client's own validators (they were
/// not sent upstream), so the client gets 304 instead of the body.
pub fn satisfies_client(plan: &Plan, status: u16, headers: &[(String, String)]) -> bool {
    (200..300).contains(&status)
        && freshness::not_modified(
            &plan.request_headers,
            header(headers, "etag"),
            header(headers, "last-modified"),
        )
}

/// Reads `copy` (a tee of the relayed response) and stores it. Runs after the response is sent.
pub async fn keep_response(
    env: Env,
    plan: Plan,
    mut copy: Response,
    freshness: Freshness,
    sent_ms: f64,
    received_ms: f64,
) {
    let status = copy.status_code();
    let headers = upstream::entries(copy.headers());
    let body = match read_bounded(&mut copy, plan.policy.max_body_bytes).await {
        Ok(Some(body)) => body,
        Ok(None) => return,
        Err(e) => {
            platform::log_error(&format!("cache store: reading the response: {e}"));
            return;
        }
    };
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
        write(&env, &plan, &plan.base_key, &marker).await;
        key::variant_key(&plan.base_key, &vary, &plan.request_headers)
    };
    write(&env, &plan, &key, &entry).await;
}

/// Stores an entry refreshed by a revalidation under its key.
pub async fn keep_entry(env: Env, plan: Plan, stored: Stored) {
    write(&env, &plan, &stored.key, &stored.entry).await;
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

/// What a background refresh sends to the origin; owned, since it outlives the request.
#[derive(Debug, Clone)]
pub struct Refresh {
    pub service: Service,
    pub path: String,
    pub query: Option<String>,
    /// The request's upstream headers, without the client's validators.
    pub headers: Vec<(String, String)>,
}

/// Revalidates a stale entry after its stale copy was served (`stale-while-revalidate`),
/// through the same weighted choice, retries and circuit breakers as any call to the service.
/// At most one refresh per entry runs at a time in an isolate.
pub fn refresh_in_background(
    ctx: &Context,
    env: &Env,
    plan: Plan,
    stored: Stored,
    refresh: Refresh,
) {
    let now = platform::now_ms();
    let deadline = now + refresh.service.timeout_ms as f64;
    let claimed = REFRESHING.with(|r| {
        let mut r = r.borrow_mut();
        if r.get(&stored.key, now).is_some() {
            return false;
        }
        r.insert(stored.key.clone(), deadline, (), now);
        true
    });
    if !claimed {
        return;
    }
    let env = env.clone();
    ctx.wait_until(async move {
        let headers = origin_headers(&refresh.headers, &validators(&stored.entry));
        let request = ServiceRequest {
            service: &refresh.service,
            method: "GET",
            path: &refresh.path,
            query: refresh.query.as_deref(),
            headers: &headers,
            deadline_ms: deadline,
            sticky_key: None,
        };
        let key = stored.key.clone();
        let sent = platform::now_ms();
        let result = resilience::call(&request, None).await;
        let received = platform::now_ms();
        match settle(&plan, Some(stored), result, sent, received) {
            Settled::FromStore {
                stored, keep: true, ..
            } => keep_entry(env, plan, stored).await,
            Settled::Relay {
                response,
                keep: Some(f),
                ..
            } => keep_response(env, plan, response, f, sent, received).await,
            Settled::Failed(error) => {
                platform::log_error(&format!("cache refresh failed: {error}"));
            }
            _ => {}
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
