//! `worker` and `http` policies: the description sent to a Worker of the user's own through a
//! service binding, or to a URL (forward auth), within a deadline; the verdict read back.
//! `http` verdicts may be kept for a few seconds per isolate, keyed by what was described.

use std::cell::RefCell;

use super::protocol::{parse_answer, Verdict};
use crate::digest;
use crate::memo::Expiring;
use crate::platform::fetch::{self, TextAnswer};

/// URL the description is posted to through a service binding (its host means nothing).
pub const BOUND_URL: &str = "https://policy.internal/";
/// Verdicts kept per isolate for `http` policies with `cache_seconds`.
const CACHED_VERDICTS: usize = 2_000;

/// Where and how a policy is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub target: Target,
    /// Deadline for the whole answer, body included.
    pub timeout_ms: u64,
    /// What a failed, slow or malformed answer means.
    pub on_error: OnError,
    /// Send the request body, up to this many bytes (larger bodies are refused with 413).
    pub body_bytes: Option<u64>,
    /// Also asked on the way out, with the origin's status and headers.
    pub response_phase: bool,
    /// Keep a verdict this long (`http` only); 0 keeps none.
    pub cache_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A service binding of the gateway's Worker, by name.
    Binding(String),
    /// An HTTP(S) URL.
    Url(String),
}

/// What a policy failure means for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Refused with 502 `policy-failed` (the default: a policy that cannot answer denies).
    Deny,
    /// Let through, and logged.
    Allow,
}

thread_local! {
    static VERDICTS: RefCell<Expiring<Verdict>> = RefCell::new(Expiring::new(CACHED_VERDICTS));
}

impl Call {
    /// Asks the policy about `description` (JSON text); `cache_key` is the description
    /// without what changes on every request, for `cache_seconds`. `Err` is the cause.
    pub async fn ask(
        &self,
        env: &worker::Env,
        description: String,
        cache_key: Option<String>,
        now_ms: f64,
    ) -> Result<Verdict, String> {
        let key = cache_key
            .filter(|_| self.cache_seconds > 0)
            .map(|text| digest::sha256_hex(&format!("{:?}\n{text}", self.target)));
        if let Some(key) = &key {
            let kept = VERDICTS.with(|v| {
                v.borrow()
                    .get(key, now_ms)
                    .map(|(_, verdict)| verdict.clone())
            });
            if let Some(verdict) = kept {
                return Ok(verdict);
            }
        }
        let headers = [("content-type".to_string(), "application/json".to_string())];
        let body = Some(description.into_bytes());
        let answered = match &self.target {
            Target::Binding(name) => {
                fetch::bound_text_within(
                    (env, name),
                    BOUND_URL,
                    "POST",
                    &headers,
                    body,
                    self.timeout_ms,
                )
                .await
            }
            Target::Url(url) => {
                fetch::text_within(url, "POST", &headers, body, self.timeout_ms).await
            }
        };
        let verdict = read(answered, self.timeout_ms)?;
        if let Some(key) = key {
            let until = now_ms + self.cache_seconds as f64 * 1000.0;
            VERDICTS.with(|v| v.borrow_mut().insert(key, until, verdict.clone(), now_ms));
        }
        Ok(verdict)
    }
}

fn read(answered: Option<Result<TextAnswer, String>>, timeout_ms: u64) -> Result<Verdict, String> {
    match answered {
        None => Err(format!("no answer within {timeout_ms} ms")),
        Some(Err(cause)) => Err(format!("the call failed: {cause}")),
        Some(Ok(answer)) if !(200..=299).contains(&answer.status) => {
            Err(format!("answered HTTP {}", answer.status))
        }
        Some(Ok(answer)) => parse_answer(&answer.text),
    }
}
