//! Settling the origin's answer against what was stored: plain functions of statuses, headers
//! and times, tested on the host.

use super::entry::{Entry, Meta};
use super::freshness::{self, Freshness};
use super::lookup::Stored;
use super::plan::{Plan, Status};
use crate::http::header;

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
        stored: Stored,
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
                stored,
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
        stored: Stored {
            entry,
            key: stored.key,
        },
        status: Status::Revalidated,
        keep,
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
        let (status, headers, body) = answer(&plan("GET", &[]), &entry, 12_500.0);
        assert_eq!((status, body.as_deref()), (200, Some(&b"stored"[..])));
        assert_eq!(header(&headers, "age"), Some("12"));
        let conditional = pairs(&[("if-none-match", "\"v1\"")]);
        let (status, headers, body) = answer(&plan("GET", &conditional), &entry, 1_000.0);
        assert_eq!((status, body), (304, None));
        assert_eq!(header(&headers, "content-type"), None);
        let (_, _, body) = answer(&plan("HEAD", &[]), &entry, 1_000.0);
        assert_eq!(body, None);
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
}
