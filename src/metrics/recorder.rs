//! The isolate's side: each finished request becomes an Analytics Engine data point (when the
//! `METRICS` dataset is bound) and a count in this isolate's batch, which is sent to the
//! `MetricsStore` object (binding `METRICS_STORE`) one second after its first entry, from
//! `waitUntil`, so no request waits for it.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use serde_json::{json, Value};
use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures;
use worker::{AnalyticsEngineDataPointBuilder, Context, Delay, Env};

use super::{add, merge, Batch, Sample, RETAIN_MINUTES};
use crate::deployment::Deployment;
use crate::{bindings, platform};

/// The one `MetricsStore` object's name.
pub const STORE_NAME: &str = "global";
const FLUSH_AFTER: Duration = Duration::from_millis(1000);

thread_local! {
    /// Circuits opened since the last request was recorded, by upstream.
    static OPENED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static PENDING: RefCell<Batch> = const { RefCell::new(Batch::new()) };
    static SCHEDULED: Cell<bool> = const { Cell::new(false) };
}

/// Records one finished request into what `deployment` has bound.
pub fn record(deployment: &Deployment, env: &Env, worker_ctx: &Context, sample: Sample) {
    let dataset = deployment
        .analytics
        .then(|| platform::binding_method(env, bindings::METRICS, "writeDataPoint"))
        .flatten();
    if let Some(dataset) = dataset {
        let class = format!("{}xx", sample.status / 100);
        let point = AnalyticsEngineDataPointBuilder::new()
            .indexes([sample.route.as_str()])
            .add_blob(sample.route.as_str())
            .add_blob(class.as_str())
            .add_blob(sample.cache.unwrap_or(""))
            .add_blob(sample.error_code.unwrap_or(""))
            .add_double(f64::from(sample.status))
            .add_double(sample.latency_ms)
            .add_double(sample.upstream_ms.unwrap_or(-1.0))
            .build();
        // Reflect.apply, not Function.prototype.call: an RPC stub would take `call` for a method.
        let arguments = js_sys::Array::of1(&JsValue::from(point));
        match js_sys::Reflect::apply(&dataset.function, &dataset.binding, &arguments) {
            // The platform's dataset returns nothing; a binding that answers later (an RPC
            // service standing in for it) is waited for after the response.
            Ok(answer) if !answer.is_undefined() => {
                let promise = js_sys::Promise::resolve(&answer);
                worker_ctx.wait_until(async move {
                    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
                });
            }
            Ok(_) => {}
            Err(e) => platform::log_error(
                &json!({"type": "metrics", "event": "analytics_failed", "cause": format!("{e:?}")})
                    .to_string(),
            ),
        }
    }
    if !deployment.metrics_store {
        return;
    }
    let opened = OPENED.with(|o| std::mem::take(&mut *o.borrow_mut()));
    PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        add(&mut pending, &sample);
        for upstream in opened {
            super::add_breaker_open(&mut pending, sample.minute(), &upstream);
        }
    });
    if !SCHEDULED.with(|s| s.replace(true)) {
        worker_ctx.wait_until(flush_later(env.clone()));
    }
}

/// Counts a circuit that opened; it reaches the store with the next request's batch.
pub fn count_breaker_open(upstream: &str) {
    OPENED.with(|o| o.borrow_mut().push(upstream.to_string()));
}

async fn flush_later(env: Env) {
    Delay::from(FLUSH_AFTER).await;
    SCHEDULED.with(|s| s.set(false));
    let batch = PENDING.with(|pending| std::mem::take(&mut *pending.borrow_mut()));
    if batch.is_empty() {
        return;
    }
    if let Err(cause) = send(&env, &batch).await {
        platform::log_error(
            &json!({"type": "metrics", "event": "flush_failed", "cause": cause}).to_string(),
        );
        // Kept for the next flush, within the store's retention.
        PENDING.with(|pending| {
            let mut pending = pending.borrow_mut();
            merge(&mut pending, &batch);
            let newest = pending.keys().last().copied().unwrap_or_default();
            pending.retain(|minute, _| *minute + RETAIN_MINUTES >= newest);
        });
    }
}

/// The store's answer, as text.
async fn call(env: &Env, method: &str, path: &str, body: Option<String>) -> Result<String, String> {
    platform::object::call(
        env,
        bindings::METRICS_STORE,
        STORE_NAME,
        method,
        path,
        body,
        None,
    )
    .await
    .map_err(|cause| format!("the metrics store: {cause}"))
}

async fn send(env: &Env, batch: &Batch) -> Result<(), String> {
    let body = serde_json::to_string(batch).map_err(|e| e.to_string())?;
    call(env, "POST", "/record", Some(body)).await.map(|_| ())
}

/// The store's running totals, in the Prometheus text format.
pub async fn prometheus(env: &Env) -> Result<String, String> {
    let answer = call(env, "GET", "/totals", None).await?;
    let totals = serde_json::from_str(&answer).map_err(|e| e.to_string())?;
    Ok(super::prometheus::render(&totals))
}

/// The summary of the last `minutes` minutes (including the current one).
pub async fn query(env: &Env, minutes: u64, now_ms: f64) -> Result<Value, String> {
    let to = (now_ms / 60_000.0) as u64;
    let from = to.saturating_sub(minutes.saturating_sub(1));
    let answer = call(env, "GET", &format!("/query?from={from}&to={to}"), None).await?;
    serde_json::from_str(&answer).map_err(|e| e.to_string())
}
