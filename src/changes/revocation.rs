//! Revoked credentials, in seconds rather than KV's minute: the list lives in the
//! `ConfigControl` object, and each isolate asks it for the list's version at most every
//! [`CHECK_MS`] on a request that carries credentials, fetching the entries only when the
//! version moved. A revocation therefore reaches every location within [`CHECK_MS`] plus one
//! round trip to the object; until the first check an isolate knows of none.
//!
//! When the object cannot be reached the isolate keeps the list it has and says so in the
//! log; requests are not refused for it.

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::Env;

use crate::memo::Poll;
use crate::{bindings, platform};

/// How often an isolate compares its list with the object's.
pub const CHECK_MS: f64 = 2_000.0;
const CALL_TIMEOUT_MS: u64 = 1_000;

/// What a revocation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An API-key consumer, by name: every key of it.
    Consumer,
    /// One token, by its `jti`.
    Jti,
    /// Every token of a subject (`sub`), from any issuer.
    Subject,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Consumer => "consumer",
            Kind::Jti => "jti",
            Kind::Subject => "subject",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        [Kind::Consumer, Kind::Jti, Kind::Subject]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// One revoked credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revocation {
    pub kind: Kind,
    pub value: String,
    pub at_ms: f64,
    /// In force until then (for a token: its expiry is enough); forever when absent.
    pub until_ms: Option<f64>,
    pub operator: String,
    pub reason: Option<String>,
}

impl Revocation {
    pub fn in_force(&self, now_ms: f64) -> bool {
        self.until_ms.is_none_or(|until| now_ms < until)
    }
}

/// The credential of a request, as revocations match it.
#[derive(Debug, Default, Clone, Copy)]
pub struct Credential<'a> {
    pub consumer: Option<&'a str>,
    pub jti: Option<&'a str>,
    pub subject: Option<&'a str>,
}

/// This isolate's copy of the list.
#[derive(Debug, Default)]
pub struct Known {
    poll: Poll,
    entries: BTreeSet<(Kind, String)>,
    until: Vec<(Kind, String, f64)>,
}

impl Known {
    pub fn due(&self, now_ms: f64) -> bool {
        self.poll.is_due(now_ms, CHECK_MS)
    }

    /// Takes the object's answer: a version, and the entries when it moved.
    pub fn accept(&mut self, version: u64, entries: Option<Vec<Revocation>>) {
        if let Some(entries) = entries {
            self.until = entries
                .iter()
                .filter_map(|r| Some((r.kind, r.value.clone(), r.until_ms?)))
                .collect();
            self.entries = entries.into_iter().map(|r| (r.kind, r.value)).collect();
        }
        self.poll.version = Some(version);
    }

    /// Which part of `credential` is revoked at `now_ms`, if any.
    pub fn revoked(&self, credential: &Credential, now_ms: f64) -> Option<Kind> {
        let asks = [
            (Kind::Consumer, credential.consumer),
            (Kind::Jti, credential.jti),
            (Kind::Subject, credential.subject),
        ];
        asks.into_iter().find_map(|(kind, value)| {
            let value = value?;
            let key = (kind, value.to_string());
            let expired = self
                .until
                .iter()
                .any(|(k, v, until)| *k == kind && v == value && now_ms >= *until);
            (self.entries.contains(&key) && !expired).then_some(kind)
        })
    }
}

thread_local! {
    static KNOWN: RefCell<Known> = RefCell::new(Known::default());
}

#[derive(Deserialize)]
struct Answer {
    version: u64,
    entries: Option<Vec<Revocation>>,
}

/// Brings this isolate's list up to date when the interval has passed.
pub async fn refresh(env: &Env, now_ms: f64) {
    let Some(since) = KNOWN.with(|known| known.borrow_mut().poll.claim(now_ms, CHECK_MS)) else {
        return;
    };
    let object = (bindings::CONFIG_CONTROL, super::CONTROL_NAME);
    let answer: Result<Answer, String> =
        platform::object::poll(env, object, "/revocations", since, CALL_TIMEOUT_MS).await;
    match answer {
        Ok(answer) => KNOWN.with(|known| known.borrow_mut().accept(answer.version, answer.entries)),
        Err(cause) => platform::log_error(
            &json!({"type": "revocation", "event": "check_failed", "cause": cause}).to_string(),
        ),
    }
}

/// Which part of `credential` this isolate knows to be revoked.
pub fn revoked(credential: &Credential, now_ms: f64) -> Option<Kind> {
    KNOWN.with(|known| known.borrow().revoked(credential, now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revocation(kind: Kind, value: &str, until_ms: Option<f64>) -> Revocation {
        Revocation {
            kind,
            value: value.into(),
            at_ms: 0.0,
            until_ms,
            operator: "admin".into(),
            reason: None,
        }
    }

    #[test]
    fn matches_by_kind_and_value_until_expiry() {
        let mut known = Known::default();
        assert!(known.due(0.0));
        known.accept(
            3,
            Some(vec![
                revocation(Kind::Jti, "t-1", Some(10_000.0)),
                revocation(Kind::Consumer, "acme", None),
            ]),
        );
        let token = Credential {
            jti: Some("t-1"),
            subject: Some("acme"),
            ..Credential::default()
        };
        assert_eq!(known.revoked(&token, 5_000.0), Some(Kind::Jti));
        assert_eq!(known.revoked(&token, 10_000.0), None, "expired");
        let key = Credential {
            consumer: Some("acme"),
            subject: Some("acme"),
            ..Credential::default()
        };
        assert_eq!(known.revoked(&key, 0.0), Some(Kind::Consumer));
        // A subject named like a consumer is not that consumer.
        assert_eq!(known.revoked(&token, 20_000.0), None);
        // An unchanged version keeps the entries.
        known.accept(3, None);
        assert_eq!(known.revoked(&key, 0.0), Some(Kind::Consumer));
        known.accept(4, Some(Vec::new()));
        assert_eq!(known.revoked(&key, 0.0), None);
    }
}
