//! Keeps the compiled configuration of this isolate current.
//!
//! The document is read from KV on the first request, then re-read at most once per refresh
//! interval (`CONFIG_REFRESH_SECONDS`, default 10, 1-300; see [`crate::deployment`]). A document that is unchanged is not
//! compiled again; a changed valid one replaces the current configuration in one step; an invalid
//! or missing one is logged and the last good configuration keeps serving. Only an isolate that
//! has never loaded a valid document answers 503.
//!
//! When the document's metadata announces a candidate (a staged rollout, see
//! `changes::rollout`), the candidate's stored version is compiled too, and the clients whose
//! bucket falls in its share are served with it.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::json;
use worker::Env;

use super::{compile, Gateway};
use crate::changes::rollout::{self, Announced};
use crate::changes::versions::{self, version_of};
use crate::error::GatewayError;
use crate::platform;

/// What this isolate knows about the configuration. Plain state, driven by [`Loader::due`] and
/// [`Loader::accept`], so the swap rules are tested without KV.
#[derive(Debug, Default)]
pub struct Loader {
    current: Option<Rc<Gateway>>,
    /// Fingerprint of the last document seen in KV, valid or not, so a broken document is
    /// compiled and logged once rather than on every check.
    seen: Option<String>,
    checked_at_ms: Option<f64>,
    /// Why there is no current configuration, for the log of the 503.
    problem: Option<String>,
    /// The candidate being rolled out, compiled.
    candidate: Option<(Announced, Rc<Gateway>)>,
}

impl Loader {
    /// Whether KV should be read now. Without a configuration every request tries.
    pub fn due(&self, now_ms: f64, refresh_ms: u64) -> bool {
        match (&self.current, self.checked_at_ms) {
            (Some(_), Some(at)) => now_ms - at >= refresh_ms as f64,
            _ => true,
        }
    }

    /// Marks a check as started, so concurrent requests keep using the current configuration.
    pub fn begin_check(&mut self, now_ms: f64) {
        self.checked_at_ms = Some(now_ms);
    }

    /// Takes what KV returned; returns a log line when something changed.
    pub fn accept(&mut self, read: Result<Option<String>, String>, key: &str) -> Option<String> {
        match read {
            Err(cause) => {
                let cause = format!("reading KV key '{key}' failed: {cause}");
                self.problem = Some(cause.clone());
                Some(
                    json!({"type": "config", "event": "read_failed", "key": key, "cause": cause})
                        .to_string(),
                )
            }
            Ok(None) => {
                let first_time = self.seen.is_some() || self.problem.is_none();
                self.seen = None;
                self.problem = Some(format!("KV key '{key}' is missing"));
                first_time.then(|| json!({"type": "config", "event": "missing", "key": key, "serving": self.version()}).to_string())
            }
            Ok(Some(text)) => {
                let version = version_of(&text);
                if self.seen.as_deref() == Some(version.as_str()) {
                    return None;
                }
                self.seen = Some(version.clone());
                match compile(&text) {
                    Ok(gateway) => Some(self.adopt(gateway, key)),
                    Err(errors) => {
                        self.problem = Some(format!(
                            "document {version} is invalid ({} errors)",
                            errors.len()
                        ));
                        Some(json!({"type": "config", "event": "rejected", "key": key, "version": version,
                                    "serving": self.version(), "errors": errors}).to_string())
                    }
                }
            }
        }
    }

    /// Serves `gateway` from now on; returns the log line saying so.
    pub fn adopt(&mut self, gateway: Gateway, key: &str) -> String {
        let routes = gateway.routes.routes().len();
        let version = gateway.version.clone();
        self.seen = Some(version.clone());
        self.current = Some(Rc::new(gateway));
        self.problem = None;
        json!({"type": "config", "event": "loaded", "key": key, "version": version, "routes": routes})
            .to_string()
    }

    /// The configuration to serve with, or the 503 that explains why there is none.
    pub fn current(&self) -> Result<Rc<Gateway>, GatewayError> {
        self.current
            .clone()
            .ok_or_else(|| GatewayError::ConfigUnavailable {
                cause: self
                    .problem
                    .clone()
                    .unwrap_or_else(|| "no configuration loaded".into()),
            })
    }

    fn version(&self) -> Option<&str> {
        self.current.as_deref().map(|g| g.version.as_str())
    }

    /// Takes the candidate the metadata announces: the version to fetch and compile when it
    /// is not the one already held, and the log line when a candidate ended.
    pub fn announce(&mut self, announced: Option<Announced>) -> (Option<String>, Option<String>) {
        match (announced, &mut self.candidate) {
            (None, None) => (None, None),
            (None, Some((ended, _))) => {
                let line =
                    json!({"type": "config", "event": "candidate_ended", "version": ended.version})
                        .to_string();
                self.candidate = None;
                (None, Some(line))
            }
            (Some(announced), Some((held, _))) if held.version == announced.version => {
                // Only the share may have changed.
                *held = announced;
                (None, None)
            }
            (Some(announced), _) => (Some(announced.version), None),
        }
    }

    /// Takes the candidate's stored document; returns the log line.
    pub fn accept_candidate(
        &mut self,
        announced: Announced,
        read: Result<Option<String>, String>,
    ) -> String {
        let compiled = read
            .and_then(|text| text.ok_or_else(|| "its stored version is missing".to_string()))
            .and_then(|text| {
                compile(&text).map_err(|errors| format!("it is invalid ({} errors)", errors.len()))
            });
        match compiled {
            Ok(gateway) => {
                let line = json!({"type": "config", "event": "candidate_loaded", "version": announced.version,
                                  "percent": announced.percent})
                .to_string();
                self.candidate = Some((announced, Rc::new(gateway)));
                line
            }
            Err(cause) => {
                self.candidate = None;
                json!({"type": "config", "event": "candidate_failed", "version": announced.version, "cause": cause})
                    .to_string()
            }
        }
    }

    /// The configuration for a client: the candidate for those in its share, else the current.
    pub fn serving(&self, client: &str) -> Result<Rc<Gateway>, GatewayError> {
        if let Some((announced, gateway)) = &self.candidate {
            if self.current.is_some() && rollout::serves(announced, rollout::bucket(client)) {
                return Ok(gateway.clone());
            }
        }
        self.current()
    }
}

/// Serves an already compiled document in this isolate at once (after an admin push or
/// rollback wrote it to KV); other isolates find it at their next check.
pub fn install(gateway: Gateway, key: &str) {
    let line = LOADER.with(|loader| loader.borrow_mut().adopt(gateway, key));
    platform::log(&line);
}

thread_local! {
    static LOADER: RefCell<Loader> = RefCell::new(Loader::default());
}

/// The configuration for this request from `client` (its address: a client is served the same
/// version every time), refreshed from KV when the interval has passed.
pub async fn current(env: &Env, now_ms: f64, client: &str) -> Result<Rc<Gateway>, GatewayError> {
    let deployment = crate::deployment::get(env);
    let source = &deployment.config;
    let due = LOADER.with(|loader| {
        let mut loader = loader.borrow_mut();
        let due = loader.due(now_ms, source.refresh_ms);
        if due {
            loader.begin_check(now_ms);
        }
        due
    });
    if due {
        let read = match versions::current(env, &source.key).await {
            Ok(Some((text, pointer))) => Ok((Some(text), pointer.and_then(|p| p.candidate))),
            Ok(None) => Ok((None, None)),
            Err(e) => Err(e),
        };
        let (text, announced) = match read {
            Ok((text, announced)) => (Ok(text), announced),
            Err(e) => (Err(e), None),
        };
        let failed = text.is_err();
        let (event, fetch) = LOADER.with(|loader| {
            let mut loader = loader.borrow_mut();
            let event = loader.accept(text, &source.key);
            // A failed read says nothing about the candidate: keep it.
            let (fetch, ended) = match failed {
                true => (None, None),
                false => loader.announce(announced.clone()),
            };
            (event.into_iter().chain(ended).collect::<Vec<_>>(), fetch)
        });
        for line in event {
            platform::log(&line);
        }
        if let (Some(version), Some(announced)) = (fetch, announced) {
            let read = versions::read(env, &source.key, &version).await;
            let line = LOADER.with(|loader| loader.borrow_mut().accept_candidate(announced, read));
            platform::log(&line);
        }
    }
    LOADER.with(|loader| loader.borrow().serving(client))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"version":1,"services":{"s":{"upstreams":["http://127.0.0.1:1"]}},
        "routes":[{"name":"a","path":"/a","service":"s"}]}"#;
    const GOOD_2: &str = r#"{"version":1,"services":{"s":{"upstreams":["http://127.0.0.1:1"]}},
        "routes":[{"name":"b","path":"/b","service":"s"}]}"#;
    const BROKEN: &str = r#"{"version":1,"services":{},"routes":[{"name":"a"}]}"#;

    fn route_names(loader: &Loader) -> Vec<String> {
        let gateway = loader.current().expect("config");
        gateway
            .routes
            .routes()
            .iter()
            .map(|r| r.name.clone())
            .collect()
    }

    #[test]
    fn without_any_config_requests_get_503() {
        let mut loader = Loader::default();
        assert!(loader.due(0.0, 10_000));
        loader.accept(Ok(None), "routes");
        let error = loader.current().expect_err("no config");
        assert_eq!(error.status(), 503);
        loader.accept(Ok(Some(BROKEN.into())), "routes");
        assert_eq!(loader.current().expect_err("still none").status(), 503);
    }

    #[test]
    fn a_broken_document_keeps_the_last_good_one_serving() {
        let mut loader = Loader::default();
        assert!(loader.accept(Ok(Some(GOOD.into())), "routes").is_some());
        let rejected = loader
            .accept(Ok(Some(BROKEN.into())), "routes")
            .expect("logged");
        assert!(rejected.contains("\"rejected\""));
        assert!(rejected.contains("$.routes[0].path"));
        assert_eq!(route_names(&loader), ["a"]);
        // The same broken text is not compiled or logged again.
        assert!(loader.accept(Ok(Some(BROKEN.into())), "routes").is_none());
        loader.accept(Ok(Some(GOOD_2.into())), "routes");
        assert_eq!(route_names(&loader), ["b"]);
        loader.accept(Err("network".into()), "routes");
        loader.accept(Ok(None), "routes");
        assert_eq!(route_names(&loader), ["b"]);
    }

    #[test]
    fn checks_wait_for_the_interval_once_loaded() {
        let mut loader = Loader::default();
        loader.begin_check(1_000.0);
        loader.accept(Ok(Some(GOOD.into())), "routes");
        assert!(!loader.due(5_000.0, 10_000));
        assert!(loader.due(11_000.0, 10_000));
        // An unchanged document is not a change.
        assert!(loader.accept(Ok(Some(GOOD.into())), "routes").is_none());
    }
}
