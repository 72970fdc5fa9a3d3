//! Shared-cache decisions (RFC 9111, RFC 5861) as plain functions: may this response be stored,
//! for how long is it fresh, may a stored one answer this request, and does the client already
//! hold it. Nothing here touches the platform.

use serde::{Deserialize, Serialize};

use super::config::{CachePolicy, Lifetime};
use super::control::{list_members, parse_http_date, Directives};
use crate::http::header;

/// Statuses a shared cache may store when the origin states a lifetime (RFC 9110 §15).
const UNDERSTOOD: [u16; 14] = [
    200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501,
];
/// Statuses cacheable by default, so a lifetime may be estimated (RFC 9110 §15.1).
const HEURISTIC: [u16; 10] = [200, 203, 204, 300, 301, 308, 404, 405, 410, 501];
/// Estimated lifetimes are a tenth of the time since `Last-Modified`, at most a day.
const HEURISTIC_MAX_S: f64 = 86_400.0;

/// What the request contributes to the storage decision.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts {
    /// The request carried credentials (`Authorization`, or any the gateway authenticated).
    pub credentials: bool,
    /// The cache key includes the caller, so the entry is never shared between callers.
    pub keyed_by_principal: bool,
}

/// How long a stored response may be used, and on what terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Freshness {
    /// Seconds the response is fresh for, counted from its generation at the origin.
    pub lifetime_s: f64,
    /// Its age when it arrived (RFC 9111 §4.2.3 corrected initial age).
    pub initial_age_s: f64,
    pub stale_while_revalidate_s: u64,
    pub stale_if_error_s: u64,
    /// Once stale it must be revalidated: never served stale (`must-revalidate`,
    /// `proxy-revalidate`, `s-maxage`).
    pub must_revalidate: bool,
    /// Every use needs a successful revalidation first (`no-cache`).
    pub always_revalidate: bool,
}

/// Why a response was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Status,
    NoStore,
    Private,
    SetCookie,
    VaryAny,
    /// The request carried credentials and the response did not allow sharing it.
    Credentials,
    /// Neither a lifetime nor a validator: it could never be used again.
    Useless,
}

/// Whether a response to a `GET` may be stored, and if so its freshness (RFC 9111 §3, §4.2).
/// `sent_ms`/`received_ms` bracket the origin request; times are platform milliseconds.
pub fn assess(
    policy: &CachePolicy,
    request: &Directives,
    facts: RequestFacts,
    status: u16,
    headers: &[(String, String)],
    sent_ms: f64,
    received_ms: f64,
) -> Result<Freshness, Refusal> {
    let response = response_directives(headers);
    if request.has("no-store") || response.has("no-store") {
        return Err(Refusal::NoStore);
    }
    if response.has("private") {
        return Err(Refusal::Private);
    }
    if header(headers, "set-cookie").is_some() {
        return Err(Refusal::SetCookie);
    }
    if vary(headers).iter().any(|name| name == "*") {
        return Err(Refusal::VaryAny);
    }
    let shareable =
        response.has("public") || response.has("s-maxage") || response.has("must-revalidate");
    if facts.credentials && !facts.keyed_by_principal && !shareable {
        return Err(Refusal::Credentials);
    }
    let initial_age_s = initial_age(headers, sent_ms, received_ms);
    let freshness = match &policy.lifetime {
        Lifetime::Override { ttl_s, statuses } => {
            if !statuses.contains(&status) {
                return Err(Refusal::Status);
            }
            Freshness {
                lifetime_s: *ttl_s as f64,
                // The route's lifetime counts from when the gateway received the response.
                initial_age_s: 0.0,
                stale_while_revalidate_s: policy.stale_while_revalidate_s,
                stale_if_error_s: policy.stale_if_error_s,
                must_revalidate: false,
                always_revalidate: false,
            }
        }
        Lifetime::Origin => {
            let explicit = explicit_lifetime(&response, headers, received_ms);
            let lifetime_s = match explicit {
                Some(_) if !UNDERSTOOD.contains(&status) => return Err(Refusal::Status),
                Some(seconds) => seconds,
                None if HEURISTIC.contains(&status) || response.has("public") => {
                    heuristic_lifetime(headers, received_ms)
                }
                None => return Err(Refusal::Status),
            };
            Freshness {
                lifetime_s,
                initial_age_s,
                stale_while_revalidate_s: response
                    .seconds("stale-while-revalidate")
                    .unwrap_or(policy.stale_while_revalidate_s),
                stale_if_error_s: response
                    .seconds("stale-if-error")
                    .unwrap_or(policy.stale_if_error_s),
                must_revalidate: response.has("must-revalidate")
                    || response.has("proxy-revalidate")
                    || response.has("s-maxage"),
                always_revalidate: response.has("no-cache"),
            }
        }
    };
    let has_validator =
        header(headers, "etag").is_some() || header(headers, "last-modified").is_some();
    if freshness.lifetime_s <= 0.0
        && !has_validator
        && freshness.stale_if_error_s == 0
        && freshness.stale_while_revalidate_s == 0
    {
        return Err(Refusal::Useless);
    }
    Ok(freshness)
}

/// Targeted cache-control fields this cache obeys (RFC 9213), most specific first; with one
/// present, `Cache-Control` is ignored for this cache.
pub const TARGETED: [&str; 2] = ["cloudflare-cdn-cache-control", "cdn-cache-control"];

/// The directives this cache follows: those of the most specific targeted field the response
/// carries with any directive in it, else its `Cache-Control`, all fields of it.
pub fn response_directives(headers: &[(String, String)]) -> Directives {
    let field = |name: &str| {
        Directives::parse(
            headers
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, value)| value.as_str()),
        )
    };
    TARGETED
        .iter()
        .map(|name| field(name))
        .find(|directives| *directives != Directives::default())
        .unwrap_or_else(|| field("cache-control"))
}

/// The lower-case field names a response varies on. `Accept-Encoding` is left out: the gateway
/// stores decoded bodies and the runtime negotiates compression with each client itself.
pub fn vary(headers: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .filter(|(name, _)| name == "vary")
        .flat_map(|(_, value)| list_members(value))
        .map(str::to_ascii_lowercase)
        .filter(|name| name != "accept-encoding")
        .collect();
    names.sort();
    names.dedup();
    names
}

/// `s-maxage`, then `max-age`, then `Expires` − `Date` (RFC 9111 §4.2.1).
fn explicit_lifetime(
    response: &Directives,
    headers: &[(String, String)],
    received_ms: f64,
) -> Option<f64> {
    if let Some(seconds) = response.seconds("s-maxage").or(response.seconds("max-age")) {
        return Some(seconds as f64);
    }
    let expires = header(headers, "expires")?;
    let date = header(headers, "date")
        .and_then(parse_http_date)
        .unwrap_or(received_ms);
    // An unreadable Expires means "already expired".
    let expires = parse_http_date(expires).unwrap_or(0.0);
    Some(((expires - date) / 1000.0).max(0.0))
}

fn heuristic_lifetime(headers: &[(String, String)], received_ms: f64) -> f64 {
    let Some(modified) = header(headers, "last-modified").and_then(parse_http_date) else {
        return 0.0;
    };
    let date = header(headers, "date")
        .and_then(parse_http_date)
        .unwrap_or(received_ms);
    ((date - modified) / 1000.0 / 10.0).clamp(0.0, HEURISTIC_MAX_S)
}

/// RFC 9111 §4.2.3: the larger of the apparent age and `Age` plus the time in transit.
fn initial_age(headers: &[(String, String)], sent_ms: f64, received_ms: f64) -> f64 {
    // The first member of the first `Age` counts; an invalid one is ignored (RFC 9111 §5.1).
    let age_value = header(headers, "age")
        .and_then(|v| list_members(v).next())
        .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0) as f64;
    let apparent = header(headers, "date")
        .and_then(parse_http_date)
        .map_or(0.0, |date| ((received_ms - date) / 1000.0).max(0.0));
    let transit = ((received_ms - sent_ms) / 1000.0).max(0.0);
    apparent.max(age_value + transit)
}

/// The age of a stored response at `now_ms` (it was received at `received_ms`).
pub fn current_age(freshness: &Freshness, received_ms: f64, now_ms: f64) -> f64 {
    freshness.initial_age_s + ((now_ms - received_ms) / 1000.0).max(0.0)
}

/// What a stored response may do for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it as it is.
    Fresh,
    /// Serve it stale because the client said it accepts that (`max-stale`).
    StaleAccepted,
    /// Serve it stale and refresh it in the background (`stale-while-revalidate`).
    StaleWhileRevalidate,
    /// Ask the origin whether it is still good (a conditional request).
    Revalidate,
    /// Fetch anew: it cannot be used or validated.
    Refetch,
}

/// Judges a stored response against the request's directives (RFC 9111 §4, RFC 5861 §3).
pub fn judge(
    freshness: &Freshness,
    received_ms: f64,
    now_ms: f64,
    request: &Directives,
    has_validator: bool,
) -> Verdict {
    let age = current_age(freshness, received_ms, now_ms);
    let remaining = freshness.lifetime_s - age;
    let check = if has_validator {
        Verdict::Revalidate
    } else {
        Verdict::Refetch
    };
    let client_demands_check = request.has("no-cache")
        || request
            .seconds("max-age")
            .is_some_and(|max| age > max as f64);
    if freshness.always_revalidate || client_demands_check {
        return check;
    }
    let min_fresh = request.seconds("min-fresh").unwrap_or(0) as f64;
    if remaining > min_fresh {
        return Verdict::Fresh;
    }
    if freshness.must_revalidate {
        return check;
    }
    let staleness = -remaining;
    if request
        .max_stale()
        .is_some_and(|max| staleness <= max as f64)
    {
        return Verdict::StaleAccepted;
    }
    if remaining <= 0.0 && staleness <= freshness.stale_while_revalidate_s as f64 {
        return Verdict::StaleWhileRevalidate;
    }
    check
}

/// Whether a stored response may stand in for a failed origin (`stale-if-error`).
pub fn may_serve_on_error(freshness: &Freshness, received_ms: f64, now_ms: f64) -> bool {
    let staleness = current_age(freshness, received_ms, now_ms) - freshness.lifetime_s;
    !freshness.must_revalidate && staleness <= freshness.stale_if_error_s as f64
}

/// Statuses that count as an origin failure for `stale-if-error` (RFC 5861 §4).
pub fn is_origin_error(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

/// Whether the client's conditional request is satisfied by a response with these validators,
/// so 304 Not Modified is the answer (RFC 9110 §13.1.2, §13.1.3).
pub fn not_modified(
    request_headers: &[(String, String)],
    etag: Option<&str>,
    last_modified: Option<&str>,
) -> bool {
    if let Some(candidates) = header(request_headers, "if-none-match") {
        let Some(etag) = etag else {
            return false;
        };
        return list_members(candidates)
            .any(|candidate| candidate == "*" || weak_match(candidate, etag));
    }
    let since = header(request_headers, "if-modified-since").and_then(parse_http_date);
    let modified = last_modified.and_then(parse_http_date);
    matches!((since, modified), (Some(since), Some(modified)) if modified <= since)
}

fn weak_match(a: &str, b: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    opaque(a) == opaque(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CachePolicy {
        CachePolicy::default()
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    const ANONYMOUS: RequestFacts = RequestFacts {
        credentials: false,
        keyed_by_principal: false,
    };

    fn store(policy: &CachePolicy, status: u16, h: &[(&str, &str)]) -> Result<Freshness, Refusal> {
        assess(
            policy,
            &Directives::default(),
            ANONYMOUS,
            status,
            &headers(h),
            0.0,
            0.0,
        )
    }

    #[test]
    fn lifetimes_come_from_s_maxage_then_max_age_then_expires() {
        let f = store(
            &policy(),
            200,
            &[("cache-control", "max-age=60, s-maxage=30")],
        )
        .expect("stored");
        assert_eq!(f.lifetime_s, 30.0);
        assert!(f.must_revalidate, "s-maxage implies proxy-revalidate");
        let f = store(&policy(), 200, &[("cache-control", "max-age=60")]).expect("stored");
        assert_eq!((f.lifetime_s, f.must_revalidate), (60.0, false));
        let f = store(
            &policy(),
            200,
            &[
                ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                ("expires", "Sun, 06 Nov 1994 08:50:37 GMT"),
            ],
        )
        .expect("stored");
        assert_eq!(f.lifetime_s, 60.0);
        let expired = store(&policy(), 200, &[("expires", "0"), ("etag", "\"a\"")])
            .expect("kept for validation");
        assert_eq!(expired.lifetime_s, 0.0);
    }

    #[test]
    fn what_is_never_stored() {
        assert_eq!(
            store(&policy(), 200, &[("cache-control", "no-store, max-age=60")]),
            Err(Refusal::NoStore)
        );
        assert_eq!(
            store(&policy(), 200, &[("cache-control", "private, max-age=60")]),
            Err(Refusal::Private)
        );
        assert_eq!(
            store(
                &policy(),
                200,
                &[("cache-control", "max-age=60"), ("set-cookie", "a=b")]
            ),
            Err(Refusal::SetCookie)
        );
        assert_eq!(
            store(
                &policy(),
                200,
                &[("cache-control", "max-age=60"), ("vary", "Origin, *")]
            ),
            Err(Refusal::VaryAny)
        );
        assert_eq!(
            store(&policy(), 500, &[("cache-control", "max-age=60")]),
            Err(Refusal::Status)
        );
        assert_eq!(
            store(&policy(), 201, &[]),
            Err(Refusal::Status),
            "no lifetime, not heuristic"
        );
        assert_eq!(store(&policy(), 200, &[]), Err(Refusal::Useless));
        let no_store_request = Directives::parse(["no-store"]);
        let h = headers(&[("cache-control", "max-age=60")]);
        assert_eq!(
            assess(&policy(), &no_store_request, ANONYMOUS, 200, &h, 0.0, 0.0),
            Err(Refusal::NoStore)
        );
    }

    #[test]
    fn credentials_need_the_origins_permission_unless_keyed_by_caller() {
        let credentials = RequestFacts {
            credentials: true,
            keyed_by_principal: false,
        };
        let d = Directives::default();
        let plain = headers(&[("cache-control", "max-age=60")]);
        assert_eq!(
            assess(&policy(), &d, credentials, 200, &plain, 0.0, 0.0),
            Err(Refusal::Credentials)
        );
        for allowed in [
            "public, max-age=60",
            "s-maxage=60",
            "max-age=60, must-revalidate",
        ] {
            let h = headers(&[("cache-control", allowed)]);
            assert!(
                assess(&policy(), &d, credentials, 200, &h, 0.0, 0.0).is_ok(),
                "{allowed}"
            );
        }
        let per_caller = RequestFacts {
            credentials: true,
            keyed_by_principal: true,
        };
        assert!(assess(&policy(), &d, per_caller, 200, &plain, 0.0, 0.0).is_ok());
    }

    #[test]
    fn override_sets_the_lifetime_but_the_origin_can_still_refuse() {
        let policy = CachePolicy {
            lifetime: Lifetime::Override {
                ttl_s: 300,
                statuses: vec![200, 404],
            },
            ..CachePolicy::default()
        };
        let f = store(&policy, 200, &[("cache-control", "no-cache, max-age=0")]).expect("stored");
        assert_eq!((f.lifetime_s, f.always_revalidate), (300.0, false));
        assert_eq!(store(&policy, 503, &[]), Err(Refusal::Status));
        assert_eq!(
            store(&policy, 200, &[("cache-control", "no-store")]),
            Err(Refusal::NoStore)
        );
    }

    #[test]
    fn heuristic_lifetime_is_a_tenth_of_the_time_since_modification() {
        let f = store(
            &policy(),
            200,
            &[
                ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                ("last-modified", "Sun, 06 Nov 1994 08:32:57 GMT"),
            ],
        )
        .expect("stored");
        assert_eq!(f.lifetime_s, 100.0);
    }

    #[test]
    fn age_includes_the_age_header_and_transit() {
        let h = headers(&[("cache-control", "max-age=60"), ("age", "10")]);
        let f = assess(
            &policy(),
            &Directives::default(),
            ANONYMOUS,
            200,
            &h,
            0.0,
            2000.0,
        )
        .expect("stored");
        assert_eq!(f.initial_age_s, 12.0);
        assert_eq!(current_age(&f, 2000.0, 5000.0), 15.0);
    }

    #[test]
    fn targeted_fields_take_precedence_over_cache_control() {
        // A fresh targeted max-age stores what Cache-Control alone would not.
        let f = store(
            &policy(),
            200,
            &[
                ("cache-control", "no-store"),
                ("cdn-cache-control", "max-age=60"),
            ],
        )
        .expect("stored");
        assert_eq!(f.lifetime_s, 60.0);
        // The most specific one wins; its refusals count as much as its lifetimes.
        let h = [
            ("cache-control", "max-age=600"),
            ("cdn-cache-control", "max-age=60"),
            ("cloudflare-cdn-cache-control", "max-age=5, must-revalidate"),
        ];
        let f = store(&policy(), 200, &h).expect("stored");
        assert_eq!((f.lifetime_s, f.must_revalidate), (5.0, true));
        for refusal in ["no-store", "private"] {
            let h = [
                ("cache-control", "max-age=600"),
                ("cdn-cache-control", refusal),
            ];
            assert!(store(&policy(), 200, &h).is_err(), "{refusal}");
        }
        let h = [
            ("cache-control", "max-age=600"),
            ("cdn-cache-control", "no-cache, max-age=60"),
        ];
        assert!(store(&policy(), 200, &h).expect("stored").always_revalidate);
        // An empty targeted field is no field: Cache-Control applies.
        let h = [
            ("cache-control", "max-age=600"),
            ("cdn-cache-control", " , "),
        ];
        assert_eq!(store(&policy(), 200, &h).expect("stored").lifetime_s, 600.0);
        let h = [
            ("cache-control", "max-age=600"),
            ("cdn-cache-control", "s-maxage=30"),
        ];
        assert_eq!(store(&policy(), 200, &h).expect("stored").lifetime_s, 30.0);
    }

    #[test]
    fn the_first_age_counts_and_an_invalid_one_is_ignored() {
        let age = |values: &[&str]| {
            let mut h = headers(&[("cache-control", "max-age=600")]);
            h.extend(values.iter().map(|v| ("age".to_string(), v.to_string())));
            assess(
                &policy(),
                &Directives::default(),
                ANONYMOUS,
                200,
                &h,
                0.0,
                0.0,
            )
            .expect("stored")
            .initial_age_s
        };
        assert_eq!(age(&["5, 0"]), 5.0);
        assert_eq!(age(&["7", "0"]), 7.0);
        assert_eq!(age(&["old, 0"]), 0.0);
        assert_eq!(age(&["-3"]), 0.0);
        assert_eq!(age(&["1e3"]), 0.0);
    }

    #[test]
    fn an_expires_with_a_one_digit_hour_is_already_past() {
        let f = store(
            &policy(),
            200,
            &[
                ("date", "Thu, 01 Dec 1994 16:00:00 GMT"),
                ("expires", "Thu, 01 Dec 1994 6:00:00 GMT"),
                ("etag", "\"v\""),
            ],
        )
        .expect("stored, for its validator");
        assert_eq!(f.lifetime_s, 0.0);
    }

    fn fresh_for(lifetime_s: f64) -> Freshness {
        Freshness {
            lifetime_s,
            initial_age_s: 0.0,
            stale_while_revalidate_s: 30,
            stale_if_error_s: 60,
            must_revalidate: false,
            always_revalidate: false,
        }
    }

    #[test]
    fn verdicts_follow_age_and_request_directives() {
        let f = fresh_for(10.0);
        let none = Directives::default();
        assert_eq!(judge(&f, 0.0, 5_000.0, &none, true), Verdict::Fresh);
        assert_eq!(
            judge(&f, 0.0, 15_000.0, &none, true),
            Verdict::StaleWhileRevalidate
        );
        assert_eq!(judge(&f, 0.0, 45_000.0, &none, true), Verdict::Revalidate);
        assert_eq!(judge(&f, 0.0, 45_000.0, &none, false), Verdict::Refetch);
        let no_cache = Directives::parse(["no-cache"]);
        assert_eq!(
            judge(&f, 0.0, 1_000.0, &no_cache, true),
            Verdict::Revalidate
        );
        let max_age = Directives::parse(["max-age=2"]);
        assert_eq!(judge(&f, 0.0, 3_000.0, &max_age, false), Verdict::Refetch);
        let min_fresh = Directives::parse(["min-fresh=8"]);
        assert_eq!(
            judge(&f, 0.0, 3_000.0, &min_fresh, true),
            Verdict::Revalidate
        );
        let max_stale = Directives::parse(["max-stale=100"]);
        assert_eq!(
            judge(&f, 0.0, 45_000.0, &max_stale, true),
            Verdict::StaleAccepted
        );
        let strict = Freshness {
            must_revalidate: true,
            ..fresh_for(10.0)
        };
        assert_eq!(
            judge(&strict, 0.0, 15_000.0, &max_stale, true),
            Verdict::Revalidate
        );
        let always = Freshness {
            always_revalidate: true,
            ..fresh_for(10.0)
        };
        assert_eq!(
            judge(&always, 0.0, 1_000.0, &none, true),
            Verdict::Revalidate
        );
    }

    #[test]
    fn stale_if_error_has_a_window_and_yields_to_must_revalidate() {
        let f = fresh_for(10.0);
        assert!(may_serve_on_error(&f, 0.0, 69_000.0));
        assert!(!may_serve_on_error(&f, 0.0, 71_000.0));
        let strict = Freshness {
            must_revalidate: true,
            ..fresh_for(10.0)
        };
        assert!(!may_serve_on_error(&strict, 0.0, 11_000.0));
    }

    #[test]
    fn conditional_requests_match_etags_weakly_and_dates() {
        let inm = headers(&[("if-none-match", "\"x\", W/\"abc\"")]);
        assert!(not_modified(&inm, Some("\"abc\""), None));
        assert!(!not_modified(&inm, Some("\"abd\""), None));
        assert!(!not_modified(
            &inm,
            None,
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        ));
        assert!(not_modified(
            &headers(&[("if-none-match", "*")]),
            Some("\"q\""),
            None
        ));
        let ims = headers(&[("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        assert!(not_modified(
            &ims,
            None,
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        ));
        assert!(!not_modified(
            &ims,
            None,
            Some("Sun, 06 Nov 1994 08:49:38 GMT")
        ));
        assert!(!not_modified(&[], Some("\"abc\""), None));
    }

    #[test]
    fn vary_names_are_normalised_and_accept_encoding_ignored() {
        let h = headers(&[
            ("vary", "Accept-Language, accept-encoding"),
            ("vary", "X-Tenant, accept-language"),
        ]);
        assert_eq!(vary(&h), vec!["accept-language", "x-tenant"]);
    }
}
