//! Settling the origin's answer against what was stored: plain functions of statuses, headers
//! and times, tested on the host.

use super::config::{CachePolicy, Lifetime};
use super::entry::{Entry, Meta};
use super::freshness::{self, Freshness};
use super::lookup::Stored;
use super::plan::{Plan, Status};
use super::range::{self, Ranges};
use crate::digest::fingerprint;
use crate::error::GatewayError;
use crate::http::{header, Head, Whole};

/// What the origin did, as the cache sees it.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// It answered with this status and these headers.
    Answered {
        status: u16,
        headers: &'a [(String, String)],
    },
    /// It could not be reached, was too slow, or its circuit is open.
    Failed,
}

/// What to answer once the origin has been asked.
#[derive(Debug)]
pub enum Settled {
    /// Answer from the stored response: revalidated by a 304 (`keep`: store the refreshed entry),
    /// or standing in for a failed origin.
    FromStore {
        stored: Box<Stored>,
        status: Status,
        keep: bool,
    },
    /// Relay the origin's response; store a copy when `keep` has a freshness.
    Relay {
        status: Status,
        keep: Option<Freshness>,
    },
    /// The origin failed and nothing may stand in: its failure is the answer.
    Failed,
}

/// Settles the origin's answer (or failure) against what was stored. `sent_ms`/`received_ms`
/// bracket the origin request.
pub fn settle(
    plan: &Plan,
    stored: Option<Stored>,
    origin: Origin<'_>,
    sent_ms: f64,
    received_ms: f64,
) -> Settled {
    // Whether the stored entry may stand in for a failed origin (`stale-if-error`).
    let can_stand_in = stored.as_ref().is_some_and(|s| {
        let meta = &s.entry.meta;
        freshness::may_serve_on_error(&meta.freshness, meta.received_ms, received_ms)
    });
    let origin_failed = match origin {
        Origin::Answered { status, .. } => freshness::is_origin_error(status),
        Origin::Failed => true,
    };
    if origin_failed && can_stand_in {
        if let Some(stored) = stored {
            return Settled::FromStore {
                stored: Box::new(stored),
                status: Status::Stale,
                keep: false,
            };
        }
    }
    let Origin::Answered { status, headers } = origin else {
        return Settled::Failed;
    };
    if status == 304 {
        if let Some(stored) = stored {
            return revalidated(plan, stored, headers, sent_ms, received_ms);
        }
    }
    if plan.head {
        return Settled::Relay {
            status: Status::Miss,
            keep: None,
        };
    }
    match freshness::assess(
        &plan.policy,
        &plan.directives,
        plan.facts,
        status,
        headers,
        sent_ms,
        received_ms,
    ) {
        Ok(f) if !declared_too_large(headers, plan.policy.max_body_bytes) => Settled::Relay {
            status: Status::Miss,
            keep: Some(f),
        },
        Ok(_) => Settled::Relay {
            status: Status::Miss,
            keep: None,
        },
        Err(_) => Settled::Relay {
            status: Status::Bypass,
            keep: None,
        },
    }
}

/// The stored entry refreshed by the origin's 304: its headers merged in, its freshness
/// assessed again; kept when the merged response may still be stored.
fn revalidated(
    plan: &Plan,
    stored: Stored,
    headers: &[(String, String)],
    sent_ms: f64,
    received_ms: f64,
) -> Settled {
    let merged = stored.entry.refreshed(
        headers,
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
    Settled::FromStore {
        stored: Box::new(Stored {
            entry,
            key: stored.key,
            tier: stored.tier,
        }),
        status: Status::Revalidated,
        keep,
    }
}

fn declared_too_large(headers: &[(String, String)], limit: u64) -> bool {
    header(headers, "content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|length| length > limit)
}

/// What to send the client from a stored response: status, origin headers with `Age` and
/// `Content-Length`, and body (none for HEAD, or when the client's validators match, which makes
/// it a 304). A `Range` on a stored 200 is answered 206 (one part, or multipart/byteranges),
/// unless `If-Range` names another version; an unsatisfiable one is 416.
pub fn answer(plan: &Plan, stored: &Entry, now_ms: f64) -> Result<Whole, GatewayError> {
    let meta = &stored.meta;
    let age = freshness::current_age(&meta.freshness, meta.received_ms, now_ms);
    let mut headers = for_client(&meta.headers);
    headers.push(("age".to_string(), format!("{}", age.floor() as u64)));
    let fresh_status = (200..300).contains(&meta.status);
    if fresh_status
        && freshness::not_modified(&plan.request_headers, stored.etag(), stored.last_modified())
    {
        headers.retain(|(name, _)| !name.starts_with("content-"));
        return Ok((304, headers, None));
    }
    let body = &stored.body;
    let length = body.len() as u64;
    let requested = &plan.request_headers;
    let ranges = match meta.status == 200 && !plan.head {
        true if range::if_range_holds(
            header(requested, "if-range"),
            stored.etag(),
            stored.last_modified(),
        ) =>
        {
            range::parse(header(requested, "range"), length)
        }
        _ => Ranges::Whole,
    };
    let with_length = |mut headers: Vec<(String, String)>, length: usize| {
        headers.push(("content-length".to_string(), length.to_string()));
        headers
    };
    match ranges {
        Ranges::Whole => {
            if meta.status == 200 {
                headers.push(("accept-ranges".to_string(), "bytes".to_string()));
            }
            let headers = with_length(headers, body.len());
            Ok((meta.status, headers, (!plan.head).then(|| body.clone())))
        }
        Ranges::Unsatisfiable => Err(GatewayError::RangeNotSatisfiable { length }),
        Ranges::Parts(parts) => {
            let part = match parts.as_slice() {
                [(start, end)] => {
                    headers.push((
                        "content-range".to_string(),
                        format!("bytes {start}-{end}/{length}"),
                    ));
                    range::slice(body, *start, *end).to_vec()
                }
                _ => {
                    let boundary = format!("gateway-{}", fingerprint(&stored.meta.url));
                    let content_type = header(&headers, "content-type").map(str::to_string);
                    headers.retain(|(name, _)| name != "content-type");
                    headers.push((
                        "content-type".to_string(),
                        format!("multipart/byteranges; boundary={boundary}"),
                    ));
                    range::multipart(body, &parts, content_type.as_deref(), &boundary)
                }
            };
            let headers = with_length(headers, part.len());
            Ok((206, headers, Some(part)))
        }
    }
}

/// The headers of an answer composed from `parts` (each backend's status and headers), with
/// the caching fields that say how long it may be kept: as long as its shortest-lived part
/// (`max-age` of the least freshness left, the smallest stale windows, `must-revalidate` if any
/// part demands it, the parts' `Vary` together), and not at all (`no-store`) when a part may
/// not be stored or the answer is missing one (`complete` false). The route's `override`
/// lifetime still applies on top, as for any response.
pub fn composed(
    plan: &Plan,
    mut headers: Vec<(String, String)>,
    parts: &[Head],
    complete: bool,
    sent_ms: f64,
    received_ms: f64,
) -> Vec<(String, String)> {
    let origin = CachePolicy {
        lifetime: Lifetime::Origin,
        ..plan.policy.clone()
    };
    let assessed: Option<Vec<Freshness>> = parts
        .iter()
        .map(|(status, part)| {
            freshness::assess(
                &origin,
                &plan.directives,
                plan.facts,
                *status,
                part,
                sent_ms,
                received_ms,
            )
            .ok()
        })
        .collect();
    headers.retain(|(name, _)| name != "cache-control" && name != "vary");
    let Some(parts_freshness) = assessed.filter(|f| complete && !f.is_empty()) else {
        headers.push(("cache-control".to_string(), "no-store".to_string()));
        return headers;
    };
    let left = parts_freshness
        .iter()
        .map(|f| (f.lifetime_s - f.initial_age_s).max(0.0))
        .fold(f64::INFINITY, f64::min);
    let smallest =
        |window: fn(&Freshness) -> u64| parts_freshness.iter().map(window).min().unwrap_or(0);
    let mut control = format!("public, max-age={}", left.floor() as u64);
    for (name, seconds) in [
        (
            "stale-while-revalidate",
            smallest(|f| f.stale_while_revalidate_s),
        ),
        ("stale-if-error", smallest(|f| f.stale_if_error_s)),
    ] {
        if seconds > 0 {
            control.push_str(&format!(", {name}={seconds}"));
        }
    }
    if parts_freshness.iter().any(|f| f.must_revalidate) {
        control.push_str(", must-revalidate");
    }
    headers.push(("cache-control".to_string(), control));
    let mut vary: Vec<String> = parts.iter().flat_map(|(_, h)| freshness::vary(h)).collect();
    vary.sort();
    vary.dedup();
    if !vary.is_empty() {
        headers.push(("vary".to_string(), vary.join(", ")));
    }
    headers
}

/// What of the origin's headers a client of a cached route sees: a targeted field addressed
/// to this cache (`Cloudflare-CDN-Cache-Control`) is consumed here; `CDN-Cache-Control`, which
/// any CDN downstream may obey too, passes on (RFC 9213 §2.1).
pub fn for_client(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| name != freshness::TARGETED[0])
        .cloned()
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::config::CachePolicy;
    use crate::cache::entry::sample;
    use crate::cache::plan::Request;
    use crate::http::pairs;

    fn plan(method: &str, client: &[(String, String)]) -> Plan {
        let request = Request {
            route: "products",
            method,
            host: "h",
            path: "/p",
            query: None,
            headers: client,
        };
        Plan::new(&CachePolicy::default(), &request, None).expect("cacheable")
    }

    fn stored(stale_if_error_s: u64) -> Stored {
        let mut entry = sample(0.0, b"stored".to_vec());
        entry.meta.freshness.stale_if_error_s = stale_if_error_s;
        entry.meta.headers = pairs(&[("etag", "\"v1\""), ("content-type", "text/plain")]);
        Stored {
            entry,
            key: "k".into(),
            tier: None,
        }
    }

    const FRESH: [(&str, &str); 2] = [("cache-control", "public, max-age=60"), ("etag", "\"v2\"")];

    #[test]
    fn a_storable_answer_is_relayed_and_kept() {
        let headers = pairs(&FRESH);
        let origin = Origin::Answered {
            status: 200,
            headers: &headers,
        };
        match settle(&plan("GET", &[]), None, origin, 0.0, 5.0) {
            Settled::Relay {
                status: Status::Miss,
                keep: Some(f),
            } => assert_eq!(f.lifetime_s, 60.0),
            other => panic!("{other:?}"),
        }
        let head = settle(&plan("HEAD", &[]), None, origin, 0.0, 5.0);
        assert!(matches!(
            head,
            Settled::Relay {
                status: Status::Miss,
                keep: None
            }
        ));
        let private = pairs(&[("cache-control", "private, max-age=60")]);
        let origin = Origin::Answered {
            status: 200,
            headers: &private,
        };
        let bypass = settle(&plan("GET", &[]), None, origin, 0.0, 5.0);
        assert!(matches!(
            bypass,
            Settled::Relay {
                status: Status::Bypass,
                keep: None
            }
        ));
        let mut large = pairs(&FRESH);
        large.push(("content-length".into(), (2 * 1024 * 1024).to_string()));
        let origin = Origin::Answered {
            status: 200,
            headers: &large,
        };
        let too_large = settle(&plan("GET", &[]), None, origin, 0.0, 5.0);
        assert!(matches!(
            too_large,
            Settled::Relay {
                status: Status::Miss,
                keep: None
            }
        ));
    }

    #[test]
    fn a_304_refreshes_the_stored_entry() {
        let headers = pairs(&[("cache-control", "max-age=120")]);
        let origin = Origin::Answered {
            status: 304,
            headers: &headers,
        };
        match settle(&plan("GET", &[]), Some(stored(0)), origin, 100.0, 110.0) {
            Settled::FromStore {
                stored,
                status: Status::Revalidated,
                keep: true,
            } => {
                assert_eq!(stored.entry.meta.freshness.lifetime_s, 120.0);
                assert_eq!(stored.entry.meta.received_ms, 110.0);
                assert_eq!(stored.entry.body, b"stored");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failed_origin_is_stood_in_for_only_within_stale_if_error() {
        let failing = pairs(&[("content-type", "text/plain")]);
        let now = 90_000.0; // 30 s past the entry's 60 s of freshness
        let origin = Origin::Answered {
            status: 503,
            headers: &failing,
        };
        let stood_in = settle(&plan("GET", &[]), Some(stored(60)), origin, now, now);
        assert!(matches!(
            stood_in,
            Settled::FromStore {
                status: Status::Stale,
                keep: false,
                ..
            }
        ));
        let stood_in = settle(
            &plan("GET", &[]),
            Some(stored(60)),
            Origin::Failed,
            now,
            now,
        );
        assert!(matches!(
            stood_in,
            Settled::FromStore {
                status: Status::Stale,
                ..
            }
        ));
        let too_old = settle(
            &plan("GET", &[]),
            Some(stored(10)),
            Origin::Failed,
            now,
            now,
        );
        assert!(matches!(too_old, Settled::Failed));
        let relayed = settle(&plan("GET", &[]), Some(stored(10)), origin, now, now);
        assert!(matches!(
            relayed,
            Settled::Relay {
                status: Status::Bypass,
                ..
            }
        ));
        assert!(matches!(
            settle(&plan("GET", &[]), None, Origin::Failed, now, now),
            Settled::Failed
        ));
    }

    #[test]
    fn stored_answers_carry_age_and_meet_the_clients_validators() {
        let entry = stored(0).entry;
        let (status, headers, body) = answer(&plan("GET", &[]), &entry, 12_500.0).expect("full");
        assert_eq!((status, body.as_deref()), (200, Some(&b"stored"[..])));
        assert_eq!(header(&headers, "age"), Some("12"));
        assert_eq!(header(&headers, "content-length"), Some("6"));
        assert_eq!(header(&headers, "accept-ranges"), Some("bytes"));
        let conditional = pairs(&[("if-none-match", "\"v1\"")]);
        let (status, headers, body) =
            answer(&plan("GET", &conditional), &entry, 1_000.0).expect("304");
        assert_eq!((status, body), (304, None));
        assert_eq!(header(&headers, "content-type"), None);
        assert_eq!(header(&headers, "content-length"), None);
        let (_, headers, body) = answer(&plan("HEAD", &[]), &entry, 1_000.0).expect("head");
        assert_eq!(body, None);
        assert_eq!(
            header(&headers, "content-length"),
            Some("6"),
            "the length it would have"
        );
        assert!(satisfies_client(
            &plan("GET", &conditional),
            200,
            &entry.meta.headers
        ));
        assert!(!satisfies_client(
            &plan("GET", &conditional),
            404,
            &entry.meta.headers
        ));
        assert!(!satisfies_client(
            &plan("GET", &[]),
            200,
            &entry.meta.headers
        ));
    }

    fn ranged(range: &str, if_range: Option<&str>) -> Result<Whole, GatewayError> {
        let mut client = pairs(&[("range", range)]);
        if let Some(condition) = if_range {
            client.push(("if-range".into(), condition.into()));
        }
        let mut entry = stored(0).entry;
        entry.body = b"0123456789".to_vec();
        answer(&plan("GET", &client), &entry, 1_000.0)
    }

    #[test]
    fn ranges_are_answered_from_the_stored_body() {
        let (status, headers, body) = ranged("bytes=2-4", None).expect("206");
        assert_eq!((status, body.as_deref()), (206, Some(&b"234"[..])));
        assert_eq!(header(&headers, "content-range"), Some("bytes 2-4/10"));
        assert_eq!(header(&headers, "content-length"), Some("3"));
        let (status, headers, body) = ranged("bytes=0-1, -2", None).expect("206");
        assert_eq!(status, 206);
        let content_type = header(&headers, "content-type").expect("multipart");
        assert!(content_type.starts_with("multipart/byteranges; boundary=gateway-"));
        let text = String::from_utf8(body.expect("parts")).expect("ascii");
        assert!(text.contains("content-type: text/plain\r\ncontent-range: bytes 0-1/10\r\n\r\n01"));
        assert!(text.contains("content-range: bytes 8-9/10\r\n\r\n89"));
        assert_eq!(
            header(&headers, "content-length"),
            Some(text.len().to_string().as_str())
        );
        assert_eq!(
            ranged("bytes=10-", None).expect_err("416"),
            GatewayError::RangeNotSatisfiable { length: 10 }
        );
        // If-Range names another version: the whole body.
        let (status, _, body) = ranged("bytes=2-4", Some("\"v0\"")).expect("200");
        assert_eq!((status, body.map(|b| b.len())), (200, Some(10)));
        let (status, _, _) = ranged("bytes=2-4", Some("\"v1\"")).expect("206");
        assert_eq!(status, 206);
        let (status, _, _) = ranged("items=2-4", None).expect("200");
        assert_eq!(status, 200, "another unit is ignored");
    }

    #[test]
    fn clients_do_not_see_the_field_addressed_to_this_cache() {
        let headers = pairs(&[
            ("cloudflare-cdn-cache-control", "max-age=60"),
            ("cdn-cache-control", "max-age=30"),
            ("cache-control", "no-store"),
        ]);
        let names: Vec<String> = for_client(&headers).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["cdn-cache-control", "cache-control"]);
    }

    #[test]
    fn compositions_live_as_long_as_their_shortest_lived_part() {
        let plan = plan("GET", &[]);
        let part = |control: &str, vary: Option<&str>| {
            let mut headers = pairs(&[("cache-control", control)]);
            if let Some(vary) = vary {
                headers.push(("vary".into(), vary.into()));
            }
            (200, headers)
        };
        let json = pairs(&[("content-type", "application/json")]);
        let parts = [
            part(
                "public, max-age=60, stale-if-error=30",
                Some("Accept-Language"),
            ),
            part("public, max-age=20, stale-if-error=90", None),
        ];
        let out = composed(&plan, json.clone(), &parts, true, 0.0, 0.0);
        assert_eq!(
            header(&out, "cache-control"),
            Some("public, max-age=20, stale-if-error=30")
        );
        assert_eq!(header(&out, "vary"), Some("accept-language"));
        assert_eq!(header(&out, "content-type"), Some("application/json"));
        for (parts, complete) in [
            (vec![parts[0].clone(), part("no-store", None)], true),
            (vec![parts[0].clone()], false),
            (vec![], true),
        ] {
            let out = composed(&plan, json.clone(), &parts, complete, 0.0, 0.0);
            assert_eq!(header(&out, "cache-control"), Some("no-store"));
        }
        let revalidating = [part("max-age=5, must-revalidate", None)];
        let out = composed(&plan, json, &revalidating, true, 0.0, 0.0);
        assert_eq!(
            header(&out, "cache-control"),
            Some("public, max-age=5, must-revalidate")
        );
    }
}
