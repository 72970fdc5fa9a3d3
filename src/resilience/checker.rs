//! The `HealthChecker` Durable Object: one instance (named `health`) holds the upstreams to
//! probe (as the newest configuration announced them), probes each on its service's interval
//! from an alarm, keeps every upstream's history, and answers isolates with the unhealthy
//! ones. The state's version moves whenever an upstream's health flips.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::join_all;
use serde::Deserialize;
use serde_json::json;
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use super::health::{Probe, Target};
use crate::platform;

const STORED_KEY: &str = "state";

/// What the object keeps in storage.
#[derive(serde::Serialize, Deserialize)]
struct Stored {
    targets: Vec<Target>,
    probes: BTreeMap<String, Probe>,
    from: Option<String>,
    version: u64,
}

#[durable_object]
pub struct HealthChecker {
    state: State,
    /// Loaded from storage on first use.
    loaded: Cell<bool>,
    targets: RefCell<Vec<Target>>,
    /// The configuration version the targets came from.
    from: RefCell<Option<String>>,
    probes: RefCell<BTreeMap<String, Probe>>,
    version: Cell<u64>,
}

#[derive(Deserialize)]
struct Announced {
    version: String,
    targets: Vec<Target>,
}

impl DurableObject for HealthChecker {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            loaded: Cell::new(false),
            targets: RefCell::new(Vec::new()),
            from: RefCell::new(None),
            probes: RefCell::new(BTreeMap::new()),
            version: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.load().await?;
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/targets") => {
                let announced: Announced = serde_json::from_str(&req.text().await?)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                let changed = self.from.borrow().as_deref() != Some(announced.version.as_str());
                if changed {
                    let keep: Vec<String> = announced
                        .targets
                        .iter()
                        .map(|t| t.upstream.clone())
                        .collect();
                    self.probes.borrow_mut().retain(|u, _| keep.contains(u));
                    *self.targets.borrow_mut() = announced.targets;
                    *self.from.borrow_mut() = Some(announced.version);
                    self.save().await?;
                }
                if !self.targets.borrow().is_empty()
                    && self.state.storage().get_alarm().await?.is_none()
                {
                    self.state
                        .storage()
                        .set_alarm(Duration::from_millis(10))
                        .await?;
                }
                Response::empty()
            }
            (Method::Get, "/unhealthy") => {
                let url = req.url()?;
                let since = url
                    .query_pairs()
                    .find(|(n, _)| n == "since")
                    .and_then(|(_, v)| v.parse::<u64>().ok());
                let version = self.version.get();
                if since == Some(version) {
                    return Response::from_json(&json!({"version": version}));
                }
                let unhealthy: Vec<String> = self
                    .probes
                    .borrow()
                    .iter()
                    .filter(|(_, p)| !p.healthy)
                    .map(|(u, _)| u.clone())
                    .collect();
                Response::from_json(&json!({"version": version, "unhealthy": unhealthy}))
            }
            (Method::Get, "/state") => {
                let probes = self.probes.borrow();
                let upstreams: Vec<_> = self
                    .targets
                    .borrow()
                    .iter()
                    .map(|t| {
                        json!({"service": t.service, "upstream": t.upstream, "probe": t.url,
                               "interval_ms": t.check.interval_ms, "state": probes.get(&t.upstream)})
                    })
                    .collect();
                Response::from_json(&json!({
                    "version": self.version.get(),
                    "configuration": *self.from.borrow(),
                    "upstreams": upstreams,
                }))
            }
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.load().await?;
        let now = platform::now_ms();
        let due: Vec<Target> = {
            let probes = self.probes.borrow();
            self.targets
                .borrow()
                .iter()
                .filter(|t| {
                    probes
                        .get(&t.upstream)
                        .is_none_or(|p| now - p.checked_at_ms >= t.check.interval_ms as f64 - 50.0)
                })
                .cloned()
                .collect()
        };
        let outcomes = join_all(due.iter().map(probe)).await;
        let finished = platform::now_ms();
        let mut flipped = false;
        {
            let mut probes = self.probes.borrow_mut();
            for (target, outcome) in due.iter().zip(outcomes) {
                let probe = probes.entry(target.upstream.clone()).or_default();
                if probe.observe(&target.check, outcome, finished) {
                    flipped = true;
                    platform::log(
                        &json!({"type": "health", "event": if probe.healthy { "upstream_healthy" } else { "upstream_unhealthy" },
                                "service": target.service, "upstream": target.upstream,
                                "status": probe.last_status, "cause": probe.last_error})
                        .to_string(),
                    );
                }
            }
        }
        if flipped {
            self.version.set(self.version.get() + 1);
        }
        self.save().await?;
        // Next when the soonest target is due again.
        let next = {
            let probes = self.probes.borrow();
            self.targets
                .borrow()
                .iter()
                .map(|t| {
                    let at = probes
                        .get(&t.upstream)
                        .map_or(finished, |p| p.checked_at_ms);
                    at + t.check.interval_ms as f64
                })
                .fold(f64::INFINITY, f64::min)
        };
        if next.is_finite() {
            let wait = (next - platform::now_ms()).max(10.0) as u64;
            self.state
                .storage()
                .set_alarm(Duration::from_millis(wait))
                .await?;
        }
        Response::empty()
    }
}

/// One probe: the status, or why there was none, within the check's timeout.
async fn probe(target: &Target) -> std::result::Result<u16, String> {
    match platform::fetch::text_within(&target.url, "GET", &[], None, target.check.timeout_ms).await
    {
        None => Err(format!("no answer within {} ms", target.check.timeout_ms)),
        Some(Err(e)) => Err(e),
        Some(Ok(answer)) => Ok(answer.status),
    }
}

impl HealthChecker {
    async fn load(&self) -> Result<()> {
        if self.loaded.get() {
            return Ok(());
        }
        // One JSON text, read with serde_json (already linked) rather than a JS value per type.
        if let Ok(Some(text)) = self.state.storage().get::<String>(STORED_KEY).await {
            if let Ok(stored) = serde_json::from_str::<Stored>(&text) {
                *self.targets.borrow_mut() = stored.targets;
                *self.probes.borrow_mut() = stored.probes;
                *self.from.borrow_mut() = stored.from;
                self.version.set(stored.version);
            }
        }
        self.loaded.set(true);
        Ok(())
    }

    async fn save(&self) -> Result<()> {
        let stored = Stored {
            targets: self.targets.borrow().clone(),
            probes: self.probes.borrow().clone(),
            from: self.from.borrow().clone(),
            version: self.version.get(),
        };
        let text =
            serde_json::to_string(&stored).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.state.storage().put(STORED_KEY, text).await
    }
}
