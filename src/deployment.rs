//! What the deployment fixes for an isolate's whole life: its variables and which optional
//! bindings exist. Read from the environment on the first request and kept, since a changed
//! `wrangler.toml` or secret is a new deployment with new isolates; each lookup is a call into
//! the runtime otherwise.

use std::cell::OnceCell;
use std::rc::Rc;

use worker::Env;

use crate::admin;
use crate::config::loader;
use crate::metrics::recorder;
use crate::observe::access_log;

#[derive(Debug)]
pub struct Deployment {
    pub config: loader::Settings,
    /// `ADMIN_PREFIX`, without a trailing slash.
    pub admin_prefix: String,
    /// `ACCESS_LOG` is not `off`.
    pub access_log: bool,
    /// The `MetricsStore` namespace is bound.
    pub metrics_store: bool,
    /// An Analytics Engine dataset is bound as `METRICS`.
    pub analytics: bool,
}

thread_local! {
    static DEPLOYMENT: OnceCell<Rc<Deployment>> = const { OnceCell::new() };
}

/// The settings of this deployment, read once per isolate.
pub fn get(env: &Env) -> Rc<Deployment> {
    DEPLOYMENT.with(|cell| {
        cell.get_or_init(|| {
            Rc::new(Deployment {
                config: loader::Settings::from_env(env),
                admin_prefix: admin::prefix(env),
                access_log: access_log::enabled(
                    env.var("ACCESS_LOG").ok().map(|v| v.to_string()).as_deref(),
                ),
                metrics_store: env.durable_object(recorder::STORE_BINDING).is_ok(),
                analytics: recorder::has_dataset(env),
            })
        })
        .clone()
    })
}
