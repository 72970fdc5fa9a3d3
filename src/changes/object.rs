//! The `ConfigControl` Durable Object: one instance (named `config`) through which every
//! configuration change goes, so changes are serialised and compared, never lost.
//!
//! - **Commits** (pushes, rollbacks, promotions) hold the object's lock from reading the
//!   current version to writing KV: a commit whose `expected` version is no longer current is
//!   refused with 412 and changes nothing. The object remembers the version it last made
//!   current; a document written to KV directly (`wrangler kv key put`, which writes no
//!   metadata) is adopted as the current one.
//! - **Retention** runs after each commit: versions beyond what the document's
//!   `changes.retention` keeps are deleted from KV, each deletion logged.
//! - **Audit**: every write through the admin API, with its operator, address and time, in
//!   SQLite storage (the newest [`AUDIT_KEEP`]).
//! - **Revocations**: revoked API-key consumers, token ids and subjects, with a version that
//!   isolates compare every few seconds (see [`super::revocation`]).
//! - **Rollout**: a candidate version's state, judged by an alarm every `check_seconds` (see
//!   [`super::rollout`]).

use std::cell::Cell;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use super::config::{ChangeSettings, Retention};
use super::revocation::Revocation;
use super::rollout::{self, Candidate, Decision};
use super::versions::{self, version_of, Pointer};
use super::{retention, AuditEntry};
use crate::metrics::{self, Batch};
use crate::{bindings, platform};

/// Audit entries kept.
pub const AUDIT_KEEP: i64 = 1000;
const STEP: Duration = Duration::from_millis(5);

#[durable_object]
pub struct ConfigControl {
    state: State,
    env: Env,
    /// A commit holds this from its first read to its last write.
    busy: Cell<bool>,
    ready: Cell<bool>,
}

/// What the Worker asks to make current.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Commit {
    pub key: String,
    pub text: String,
    /// The version the operator saw (`If-Match`); `None` for an unconditional push.
    pub expected: Option<String>,
    /// `push`, `rollback`, `promote`, `candidate`, `abort`.
    pub action: String,
    pub routes: usize,
    pub changes: ChangeSettings,
    pub operator: String,
    pub address: Option<String>,
    /// For a candidate: the share of clients it serves.
    pub percent: Option<u64>,
}

/// A commit's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Committed {
    Done {
        pointer: Pointer,
        deleted: Vec<String>,
    },
    Conflict {
        current: Option<String>,
    },
    Refused {
        reason: String,
    },
}

#[derive(Deserialize)]
struct Row {
    value: String,
}

impl DurableObject for ConfigControl {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            busy: Cell::new(false),
            ready: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.ensure_tables()?;
        let url = req.url()?;
        let query = |name: &str| {
            url.query_pairs()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.into_owned())
        };
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/commit") => {
                let commit: Commit = json_body(&mut req).await?;
                self.lock().await;
                let outcome = self.commit(&commit).await;
                self.busy.set(false);
                Response::from_json(&outcome.map_err(worker::Error::RustError)?)
            }
            (Method::Post, "/audit") => {
                let entry: AuditEntry = json_body(&mut req).await?;
                self.audit(&entry)?;
                Response::empty()
            }
            (Method::Get, "/audit") => {
                let limit = query("limit")
                    .and_then(|l| l.parse::<i64>().ok())
                    .unwrap_or(100)
                    .clamp(1, AUDIT_KEEP);
                Response::from_json(&json!({"entries": self.audit_entries(limit)?}))
            }
            (Method::Post, "/revocations") => {
                let (revocation, entry): (Revocation, AuditEntry) = json_body(&mut req).await?;
                let version = self.revoke(&revocation)?;
                self.audit(&entry)?;
                Response::from_json(&json!({"version": version}))
            }
            (Method::Delete, "/revocations") => {
                let (revocation, entry): (Revocation, AuditEntry) = json_body(&mut req).await?;
                let (version, removed) = self.restore(&revocation)?;
                self.audit(&entry)?;
                Response::from_json(&json!({"version": version, "removed": removed}))
            }
            (Method::Get, "/revocations") => {
                let version = self.revocations_version()?;
                let since = query("since").and_then(|s| s.parse::<u64>().ok());
                if since == Some(version) {
                    return Response::from_json(&json!({"version": version}));
                }
                Response::from_json(
                    &json!({"version": version, "entries": self.revocations(platform::now_ms())?}),
                )
            }
            (Method::Get, "/candidate") => Response::from_json(&self.candidate_view()?),
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.ensure_tables()?;
        self.lock().await;
        let result = self.judge().await;
        self.busy.set(false);
        if let Err(cause) = result {
            platform::log_error(
                &json!({"type": "config", "event": "rollout_check_failed", "cause": cause})
                    .to_string(),
            );
            // Look again later rather than leave the candidate unjudged.
            let _ = self
                .state
                .storage()
                .set_alarm(Duration::from_secs(30))
                .await;
        }
        Response::empty()
    }
}

async fn json_body<T: serde::de::DeserializeOwned>(req: &mut Request) -> Result<T> {
    serde_json::from_str(&req.text().await?).map_err(|e| worker::Error::RustError(e.to_string()))
}

impl ConfigControl {
    fn ensure_tables(&self) -> Result<()> {
        if self.ready.get() {
            return Ok(());
        }
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, \
             entry TEXT NOT NULL)",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS revoked (kind TEXT NOT NULL, value TEXT NOT NULL, \
             entry TEXT NOT NULL, PRIMARY KEY (kind, value))",
            None,
        )?;
        self.ready.set(true);
        Ok(())
    }

    /// Waits until no other commit or judgement is under way, then holds the lock.
    async fn lock(&self) {
        while self.busy.get() {
            worker::Delay::from(STEP).await;
        }
        self.busy.set(true);
    }

    fn get(&self, name: &str) -> Result<Option<String>> {
        let rows: Vec<Row> = self
            .state
            .storage()
            .sql()
            .exec("SELECT value FROM state WHERE name = ?", vec![name.into()])?
            .to_array()?;
        Ok(rows.into_iter().next().map(|r| r.value))
    }

    fn set(&self, name: &str, value: &str) -> Result<()> {
        self.state.storage().sql().exec(
            "INSERT OR REPLACE INTO state (name, value) VALUES (?, ?)",
            vec![name.into(), value.into()],
        )?;
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<()> {
        self.state
            .storage()
            .sql()
            .exec("DELETE FROM state WHERE name = ?", vec![name.into()])?;
        Ok(())
    }

    fn candidate(&self) -> Result<Option<Candidate>> {
        Ok(self
            .get("candidate")?
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// The current version as this object knows it: the one it last made current, unless KV
    /// holds one written around it since (a document put with `wrangler kv key put`, which
    /// has no metadata, or a pointer newer than this object's last write), which is adopted.
    /// KV may answer a read from a cache for a while; the object's own record is not.
    async fn current(&self, key: &str) -> std::result::Result<Current, String> {
        let kv = versions::current(&self.env, key).await?;
        let remembered: Option<Remembered> = self
            .get("current")
            .map_err(|e| e.to_string())?
            .and_then(|text| serde_json::from_str(&text).ok());
        let (text, pointer) = match kv {
            Some((text, pointer)) => (Some(text), pointer),
            None => (None, None),
        };
        let in_kv = text.as_deref().map(version_of);
        let version = match (remembered, &in_kv, &pointer) {
            (None, v, _) => v.clone(),
            (Some(r), Some(v), None) if *v != r.version => Some(v.clone()),
            (Some(r), Some(v), Some(p)) if *v != r.version && p.since_ms > r.since_ms => {
                Some(v.clone())
            }
            (Some(r), _, _) => Some(r.version),
        };
        Ok(Current {
            version,
            text,
            pointer,
        })
    }

    /// The current document's text: as KV answered it when that is the current version, else
    /// from the version's own immutable key (KV's answer may be a cached, older one).
    async fn current_text(
        &self,
        key: &str,
        current: &Current,
    ) -> std::result::Result<Option<String>, String> {
        let Some(version) = &current.version else {
            return Ok(None);
        };
        match &current.text {
            Some(text) if version_of(text) == *version => Ok(Some(text.clone())),
            _ => versions::read(&self.env, key, version).await,
        }
    }

    async fn commit(&self, commit: &Commit) -> std::result::Result<Committed, String> {
        let now = platform::now_ms();
        let current = self.current(&commit.key).await?;
        if let Some(expected) = &commit.expected {
            let matches = match expected.as_str() {
                "*" => current.version.is_some(),
                v => current.version.as_deref() == Some(v),
            };
            if !matches {
                return Ok(Committed::Conflict {
                    current: current.version,
                });
            }
        }
        let mut candidate = self.candidate().map_err(|e| e.to_string())?;
        // What the change is about: the candidate's version for an abort, else the document's.
        let version = match (commit.action.as_str(), &candidate) {
            ("abort", Some(c)) => c.version.clone(),
            _ => version_of(&commit.text),
        };
        let (text, pointer) = match commit.action.as_str() {
            "candidate" => {
                if current.version.as_deref() == Some(version.as_str()) {
                    return Ok(Committed::Refused {
                        reason: format!("Version {version} is already current."),
                    });
                }
                let Some(text) = self.current_text(&commit.key, &current).await? else {
                    return Ok(Committed::Refused {
                        reason: "A candidate needs a current document to be compared with.".into(),
                    });
                };
                versions::store(&self.env, &commit.key, &commit.text, commit.routes, now).await?;
                let percent = commit.percent.unwrap_or(commit.changes.rollout.percent);
                let started = Candidate {
                    version: version.clone(),
                    percent,
                    since_ms: now,
                    rollout: commit.changes.rollout,
                    operator: commit.operator.clone(),
                    decisions: Vec::new(),
                    against: current.version.clone().unwrap_or_default(),
                    routes: commit.routes,
                };
                candidate = Some(started);
                let mut pointer = current.pointer.clone().unwrap_or_else(|| Pointer {
                    version: version_of(&text),
                    since_ms: now,
                    previous: None,
                    action: "push".into(),
                    candidate: None,
                });
                pointer.candidate = candidate.as_ref().map(Candidate::announced);
                (text, pointer)
            }
            "abort" => {
                if candidate.is_none() {
                    return Ok(Committed::Refused {
                        reason: "No candidate is being rolled out.".into(),
                    });
                }
                let Some(text) = self.current_text(&commit.key, &current).await? else {
                    return Ok(Committed::Refused {
                        reason: "There is no current document.".into(),
                    });
                };
                let mut pointer = current.pointer.clone().ok_or("the pointer is missing")?;
                pointer.candidate = None;
                candidate = None;
                (text, pointer)
            }
            _ => {
                versions::store(&self.env, &commit.key, &commit.text, commit.routes, now).await?;
                // A push or rollback replaces any candidate; a promotion is the candidate.
                candidate = None;
                let pointer = Pointer {
                    version: version.clone(),
                    since_ms: now,
                    previous: current.version.clone().filter(|p| *p != version),
                    action: commit.action.clone(),
                    candidate: None,
                };
                (commit.text.clone(), pointer)
            }
        };
        versions::point(&self.env, &commit.key, &text, &pointer).await?;
        let remembered = Remembered {
            version: pointer.version.clone(),
            since_ms: pointer.since_ms,
        };
        let remembered = serde_json::to_string(&remembered).map_err(|e| e.to_string())?;
        self.set("current", &remembered)
            .map_err(|e| e.to_string())?;
        match &candidate {
            Some(c) => {
                let text = serde_json::to_string(c).map_err(|e| e.to_string())?;
                self.set("candidate", &text).map_err(|e| e.to_string())?;
                self.set("key", &commit.key).map_err(|e| e.to_string())?;
                self.state
                    .storage()
                    .set_alarm(Duration::from_secs(c.rollout.check_seconds))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            None => {
                self.remove("candidate").map_err(|e| e.to_string())?;
            }
        }
        let mut keep: Vec<&str> = vec![pointer.version.as_str()];
        keep.extend(pointer.previous.as_deref());
        keep.extend(candidate.as_ref().map(|c| c.version.as_str()));
        let deleted = self
            .retain(&commit.key, &commit.changes.retention, &keep, now)
            .await;
        self.audit(&AuditEntry {
            at_ms: now,
            operator: commit.operator.clone(),
            address: commit.address.clone(),
            action: format!("config.{}", commit.action),
            detail: json!({
                "version": version,
                "expected": commit.expected,
                "previous": current.version,
                "percent": candidate.as_ref().map(|c| c.percent),
                "deleted": deleted,
            }),
        })
        .map_err(|e| e.to_string())?;
        Ok(Committed::Done { pointer, deleted })
    }

    /// Deletes the versions retention lets go; returns them. Failures are logged, not fatal:
    /// the commit itself has happened.
    async fn retain(
        &self,
        key: &str,
        retention: &Retention,
        keep: &[&str],
        now: f64,
    ) -> Vec<String> {
        let records = match versions::list(&self.env, key).await {
            Ok(records) => records,
            Err(cause) => {
                platform::log_error(
                    &json!({"type": "config", "event": "retention_failed", "cause": cause})
                        .to_string(),
                );
                return Vec::new();
            }
        };
        let mut deleted = Vec::new();
        for record in retention::expired(&records, retention, keep, now) {
            match versions::delete(&self.env, key, &record.version).await {
                Ok(()) => {
                    platform::log(
                        &json!({"type": "config", "event": "version_deleted", "version": record.version,
                                "pushed_at_ms": record.pushed_at_ms as u64,
                                "keep_versions": retention.keep_versions, "keep_days": retention.keep_days})
                        .to_string(),
                    );
                    deleted.push(record.version.clone());
                }
                Err(cause) => platform::log_error(
                    &json!({"type": "config", "event": "retention_failed", "version": record.version, "cause": cause})
                        .to_string(),
                ),
            }
        }
        deleted
    }

    fn audit(&self, entry: &AuditEntry) -> Result<()> {
        let text =
            serde_json::to_string(entry).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let sql = self.state.storage().sql();
        sql.exec("INSERT INTO audit (entry) VALUES (?)", vec![text.into()])?;
        sql.exec(
            "DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?",
            vec![(AUDIT_KEEP as f64).into()],
        )?;
        platform::log(&json!({"type": "audit", "entry": entry}).to_string());
        Ok(())
    }

    fn audit_entries(&self, limit: i64) -> Result<Vec<Value>> {
        #[derive(Deserialize)]
        struct Audited {
            id: f64,
            entry: String,
        }
        let rows: Vec<Audited> = self
            .state
            .storage()
            .sql()
            .exec(
                "SELECT id, entry FROM audit ORDER BY id DESC LIMIT ?",
                vec![(limit as f64).into()],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let mut entry: Value = serde_json::from_str(&row.entry).ok()?;
                entry["id"] = json!(row.id as u64);
                Some(entry)
            })
            .collect())
    }

    fn revocations_version(&self) -> Result<u64> {
        Ok(self
            .get("revocations")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    fn bump_revocations(&self) -> Result<u64> {
        let version = self.revocations_version()? + 1;
        self.set("revocations", &version.to_string())?;
        Ok(version)
    }

    fn revoke(&self, revocation: &Revocation) -> Result<u64> {
        let text = serde_json::to_string(revocation)
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.state.storage().sql().exec(
            "INSERT OR REPLACE INTO revoked (kind, value, entry) VALUES (?, ?, ?)",
            vec![
                revocation.kind.as_str().into(),
                revocation.value.as_str().into(),
                text.into(),
            ],
        )?;
        self.bump_revocations()
    }

    fn restore(&self, revocation: &Revocation) -> Result<(u64, bool)> {
        let before = self.revocations(f64::NEG_INFINITY)?.len();
        self.forget(revocation)?;
        let removed = self.revocations(f64::NEG_INFINITY)?.len() < before;
        Ok((self.bump_revocations()?, removed))
    }

    /// Every revocation still in force at `now_ms` (expired ones are deleted).
    fn revocations(&self, now_ms: f64) -> Result<Vec<Revocation>> {
        #[derive(Deserialize)]
        struct Revoked {
            entry: String,
        }
        let rows: Vec<Revoked> = self
            .state
            .storage()
            .sql()
            .exec("SELECT entry FROM revoked", None)?
            .to_array()?;
        let all: Vec<Revocation> = rows
            .into_iter()
            .filter_map(|row| serde_json::from_str(&row.entry).ok())
            .collect();
        let (live, expired): (Vec<_>, Vec<_>) = all.into_iter().partition(|r| r.in_force(now_ms));
        for revocation in &expired {
            self.forget(revocation)?;
        }
        Ok(live)
    }

    fn forget(&self, revocation: &Revocation) -> Result<()> {
        self.state.storage().sql().exec(
            "DELETE FROM revoked WHERE kind = ? AND value = ?",
            vec![
                revocation.kind.as_str().into(),
                revocation.value.as_str().into(),
            ],
        )?;
        Ok(())
    }

    fn candidate_view(&self) -> Result<Value> {
        Ok(json!({
            "candidate": self.candidate()?,
            "last": self.get("last_rollout")?.and_then(|t| serde_json::from_str::<Value>(&t).ok()),
        }))
    }

    /// The alarm's work: compares the candidate with the current version and promotes it,
    /// rolls it back, or looks again after `check_seconds`.
    async fn judge(&self) -> std::result::Result<(), String> {
        let Some(mut candidate) = self.candidate().map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let key = self
            .get("key")
            .map_err(|e| e.to_string())?
            .ok_or("no key recorded")?;
        let now = platform::now_ms();
        let batch = self.figures(candidate.since_ms, now).await?;
        let (current, trial) = rollout::tally(&batch, &candidate.against, &candidate.version);
        let decision = rollout::decide(&candidate, &current, &trial, now);
        let record = json!({
            "at_ms": now, "decision": decision.as_str(), "reason": decision.reason(),
            "current": rollout::view(&current), "candidate": rollout::view(&trial),
        });
        platform::log(
            &json!({"type": "config", "event": "rollout_check", "version": candidate.version,
                    "against": candidate.against, "decision": decision.as_str(),
                    "reason": decision.reason(), "current": rollout::view(&current),
                    "candidate": rollout::view(&trial)})
            .to_string(),
        );
        candidate.decisions.push(record);
        let keep_from = candidate
            .decisions
            .len()
            .saturating_sub(rollout::DECISIONS_KEPT);
        candidate.decisions.drain(..keep_from);
        match decision {
            Decision::Wait { .. } => {
                let text = serde_json::to_string(&candidate).map_err(|e| e.to_string())?;
                self.set("candidate", &text).map_err(|e| e.to_string())?;
                self.state
                    .storage()
                    .set_alarm(Duration::from_secs(candidate.rollout.check_seconds))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(())
            }
            Decision::Promote | Decision::RollBack { .. } => {
                let promote = matches!(decision, Decision::Promote);
                let text = match promote {
                    true => versions::read(&self.env, &key, &candidate.version)
                        .await?
                        .ok_or("the candidate's document is gone")?,
                    false => String::new(),
                };
                let commit = Commit {
                    key: key.clone(),
                    text,
                    expected: Some(candidate.against.clone()),
                    action: if promote { "promote" } else { "abort" }.into(),
                    routes: candidate.routes,
                    changes: ChangeSettings {
                        rollout: candidate.rollout,
                        ..ChangeSettings::default()
                    },
                    operator: "rollout".into(),
                    address: None,
                    percent: None,
                };
                let outcome = self.commit(&commit).await?;
                let last = json!({"version": candidate.version, "against": candidate.against,
                                  "decision": decision.as_str(), "reason": decision.reason(),
                                  "at_ms": now, "decisions": candidate.decisions,
                                  "outcome": outcome});
                self.set("last_rollout", &last.to_string())
                    .map_err(|e| e.to_string())?;
                platform::log(
                    &json!({"type": "config", "event": if promote { "candidate_promoted" } else { "candidate_rolled_back" },
                            "version": candidate.version, "against": candidate.against,
                            "reason": decision.reason()})
                    .to_string(),
                );
                Ok(())
            }
        }
    }

    /// The metrics store's counts since `since_ms`, per route and version.
    async fn figures(&self, since_ms: f64, now_ms: f64) -> std::result::Result<Batch, String> {
        let from = (since_ms / 60_000.0) as u64;
        let to = (now_ms / 60_000.0) as u64;
        let answer = platform::object::call(
            &self.env,
            bindings::METRICS_STORE,
            metrics::recorder::STORE_NAME,
            "GET",
            &format!("/batch?from={from}&to={to}"),
            None,
            Some(5_000),
        )
        .await?;
        serde_json::from_str(&answer).map_err(|e| e.to_string())
    }
}

/// The version this object last made current, and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Remembered {
    version: String,
    since_ms: f64,
}

/// The current version as a commit sees it.
struct Current {
    version: Option<String>,
    text: Option<String>,
    pointer: Option<Pointer>,
}
