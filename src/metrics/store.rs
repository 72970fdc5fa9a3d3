//! The `MetricsStore` Durable Object: one instance (named `global`) holds per-minute counts
//! per route in its SQLite storage, merges the batches isolates send, keeps
//! [`RETAIN_MINUTES`](super::RETAIN_MINUTES), and answers summaries for a window. It also
//! keeps running totals per route since it began, for the Prometheus endpoint's counters.

use std::cell::Cell;
use std::collections::BTreeMap;

use serde::Deserialize;
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use super::{merge, summarize, Batch, Stats, RETAIN_MINUTES};

#[durable_object]
pub struct MetricsStore {
    state: State,
    table_ready: Cell<bool>,
}

#[derive(Deserialize)]
struct Row {
    minute: f64,
    route: String,
    stats: String,
}

impl DurableObject for MetricsStore {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            table_ready: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.ensure_table()?;
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/record") => {
                // serde_json, not the JS bridge: minute keys arrive as JSON object keys.
                let batch: Batch = serde_json::from_str(&req.text().await?)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                self.record(&batch)?;
                Response::empty()
            }
            (Method::Get, "/query") => {
                let Some((from, to)) = window(&req)? else {
                    return Response::error("from and to (minutes) are required", 400);
                };
                let batch = self.read(from, to)?;
                Response::from_json(&summarize(&batch, from, to))
            }
            (Method::Get, "/totals") => {
                let text = serde_json::to_string(&self.totals()?)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                Response::ok(text)
            }
            // The raw counts, for the rollout's comparison of versions.
            (Method::Get, "/batch") => {
                let Some((from, to)) = window(&req)? else {
                    return Response::error("from and to (minutes) are required", 400);
                };
                let batch = self.read(from, to)?;
                let text = serde_json::to_string(&batch)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                Response::ok(text)
            }
            _ => Response::error("not found", 404),
        }
    }
}

/// The `from` and `to` minutes of a query.
fn window(req: &Request) -> Result<Option<(u64, u64)>> {
    let url = req.url()?;
    let number = |name: &str| {
        url.query_pairs()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.parse::<u64>().ok())
    };
    Ok(number("from").zip(number("to")))
}

impl MetricsStore {
    fn ensure_table(&self) -> Result<()> {
        if !self.table_ready.get() {
            self.state.storage().sql().exec(
                "CREATE TABLE IF NOT EXISTS metrics (minute INTEGER NOT NULL, route TEXT NOT NULL, \
                 stats TEXT NOT NULL, PRIMARY KEY (minute, route))",
                None,
            )?;
            self.state.storage().sql().exec(
                "CREATE TABLE IF NOT EXISTS totals (route TEXT PRIMARY KEY, stats TEXT NOT NULL)",
                None,
            )?;
            self.table_ready.set(true);
        }
        Ok(())
    }

    /// Running totals per route (and per configuration version).
    fn totals(&self) -> Result<BTreeMap<String, Stats>> {
        #[derive(Deserialize)]
        struct Total {
            route: String,
            stats: String,
        }
        let rows: Vec<Total> = self
            .state
            .storage()
            .sql()
            .exec("SELECT route, stats FROM totals", None)?
            .to_array()?;
        Ok(rows
            .into_iter()
            .filter_map(|row| Some((row.route, serde_json::from_str(&row.stats).ok()?)))
            .collect())
    }

    fn read(&self, from: u64, to: u64) -> Result<Batch> {
        let rows: Vec<Row> = self
            .state
            .storage()
            .sql()
            .exec(
                "SELECT minute, route, stats FROM metrics WHERE minute >= ? AND minute <= ?",
                vec![(from as f64).into(), (to as f64).into()],
            )?
            .to_array()?;
        let mut batch = Batch::new();
        for row in rows {
            if let Ok(stats) = serde_json::from_str::<Stats>(&row.stats) {
                batch
                    .entry(row.minute as u64)
                    .or_default()
                    .insert(row.route, stats);
            }
        }
        Ok(batch)
    }

    fn record(&self, incoming: &Batch) -> Result<()> {
        let (Some(first), Some(last)) = (incoming.keys().next(), incoming.keys().last()) else {
            return Ok(());
        };
        let mut batch = self.read(*first, *last)?;
        merge(&mut batch, incoming);
        let sql = self.state.storage().sql();
        for (minute, routes) in &batch {
            if !incoming.contains_key(minute) {
                continue;
            }
            for (route, stats) in routes {
                let text = serde_json::to_string(stats)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                sql.exec(
                    "INSERT OR REPLACE INTO metrics (minute, route, stats) VALUES (?, ?, ?)",
                    vec![(*minute as f64).into(), route.as_str().into(), text.into()],
                )?;
            }
        }
        let mut totals = self.totals()?;
        for routes in incoming.values() {
            for (route, stats) in routes {
                totals.entry(route.clone()).or_default().merge(stats);
            }
        }
        for (route, stats) in &totals {
            let text = serde_json::to_string(stats)
                .map_err(|e| worker::Error::RustError(e.to_string()))?;
            sql.exec(
                "INSERT OR REPLACE INTO totals (route, stats) VALUES (?, ?)",
                vec![route.as_str().into(), text.into()],
            )?;
        }
        sql.exec(
            "DELETE FROM metrics WHERE minute < ?",
            vec![(last.saturating_sub(RETAIN_MINUTES) as f64).into()],
        )?;
        Ok(())
    }
}
