//! The Durable Object that owns one (policy, key): it holds the key's state and answers checks
//! one at a time, so a check-and-consume is atomic however many isolates ask at once.
//!
//! Quotas and rates with periods over a minute are written to storage on every change, so they
//! survive eviction and restarts; an alarm deletes them once they are back to "never used", so
//! storage does not grow without bound. Short rates live in memory only (see
//! [`algorithm::is_durable`]).

use std::cell::{Cell, RefCell};

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use super::algorithm::{self, Algorithm, Decision};
use super::lease::Grant;

const STATE_KEY: &str = "state";

/// What the gateway sends to `/check` (consume `cost`), `/lease` (consume up to `cost`, as
/// much as is left) and `/peek` (read only).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckRequest {
    pub algorithm: Algorithm,
    pub cost: u64,
}

/// What `/peek` answers: the decision a request would get, and the raw state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub decision: Decision,
    pub state: algorithm::State,
}

/// What is kept in storage: the state, and the algorithm that judges when it expires (the
/// alarm may run in a fresh instance that has not seen a check yet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stored {
    algorithm: Algorithm,
    state: algorithm::State,
}

#[durable_object]
pub struct RateLimiter {
    state: State,
    /// The stored record, read once per object lifetime; `Some(None)` means "nothing stored".
    cached: RefCell<Option<Option<Stored>>>,
    alarm_set: Cell<bool>,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            cached: RefCell::new(None),
            alarm_set: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match req.path().as_str() {
            "/check" => {
                let check: CheckRequest = read(&mut req).await?;
                let (decision, _) = self.apply(&check.algorithm, check.cost).await?;
                Response::from_json(&decision)
            }
            "/lease" => {
                let check: CheckRequest = read(&mut req).await?;
                let grant = self.lease(&check.algorithm, check.cost).await?;
                Response::from_json(&grant)
            }
            "/peek" => {
                let check: CheckRequest = read(&mut req).await?;
                let (decision, state) = self.apply(&check.algorithm, 0).await?;
                Response::from_json(&Snapshot { decision, state })
            }
            "/reset" => {
                self.state.storage().delete_all().await?;
                self.cached.replace(Some(None));
                Response::empty()
            }
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.alarm_set.set(false);
        let Some(stored) = self.load().await? else {
            return Response::empty();
        };
        let now = worker::Date::now().as_millis() as f64;
        let forget_at = algorithm::forgettable_at(&stored.algorithm, &stored.state);
        if forget_at <= now {
            self.state.storage().delete_all().await?;
            self.cached.replace(Some(None));
        } else {
            self.schedule_cleanup(forget_at).await?;
        }
        Response::empty()
    }
}

/// The check a request carries. Read as text and parsed here: the runtime's `json()` hands
/// back an object that is then read into Rust one property at a time.
async fn read(req: &mut Request) -> Result<CheckRequest> {
    serde_json::from_str(&req.text().await?).map_err(|e| worker::Error::RustError(e.to_string()))
}

impl RateLimiter {
    async fn load(&self) -> Result<Option<Stored>> {
        if let Some(stored) = self.cached.borrow().clone() {
            return Ok(stored);
        }
        let stored: Option<Stored> = self.state.storage().get(STATE_KEY).await?;
        self.cached.replace(Some(stored.clone()));
        Ok(stored)
    }

    /// Consumes `cost` under `algorithm`. Storage operations hold the object's input gate, so no
    /// other check runs between reading and writing the state.
    async fn apply(
        &self,
        algorithm: &Algorithm,
        cost: u64,
    ) -> Result<(Decision, algorithm::State)> {
        let current = self.load().await?.map(|s| s.state).unwrap_or_default();
        let now = worker::Date::now().as_millis() as f64;
        let (decision, next) = algorithm::consume(algorithm, &current, now, cost);
        if cost > 0 {
            self.keep(algorithm, &current, next.clone(), now).await?;
        }
        Ok((decision, next))
    }

    /// Keeps the state after a change: in memory, and in storage for durable algorithms, with
    /// an alarm to delete it once it is back to "never used".
    async fn keep(
        &self,
        algorithm: &Algorithm,
        current: &algorithm::State,
        next: algorithm::State,
        now: f64,
    ) -> Result<()> {
        if next == *current {
            return Ok(());
        }
        let forget_at = algorithm::forgettable_at(algorithm, &next);
        let stored = Stored {
            algorithm: *algorithm,
            state: next,
        };
        if algorithm::is_durable(algorithm) {
            self.state.storage().put(STATE_KEY, &stored).await?;
            if !self.alarm_set.get() && forget_at > now {
                self.schedule_cleanup(forget_at).await?;
            }
        }
        self.cached.replace(Some(Some(stored)));
        Ok(())
    }

    /// Grants up to `want` of what the key has left, consumed as one change.
    async fn lease(&self, algorithm: &Algorithm, want: u64) -> Result<Grant> {
        let current = self.load().await?.map(|s| s.state).unwrap_or_default();
        let now = worker::Date::now().as_millis() as f64;
        let (granted, decision, next) = algorithm::lease(algorithm, &current, now, want);
        self.keep(algorithm, &current, next, now).await?;
        Ok(Grant { granted, decision })
    }

    async fn schedule_cleanup(&self, at_ms: f64) -> Result<()> {
        let date =
            worker::js_sys::Date::new(&worker::wasm_bindgen::JsValue::from_f64(at_ms + 1_000.0));
        self.state
            .storage()
            .set_alarm(worker::ScheduledTime::new(date))
            .await?;
        self.alarm_set.set(true);
        Ok(())
    }
}
