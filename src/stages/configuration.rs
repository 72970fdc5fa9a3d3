//! Configuration: the compiled route document this request is served with, re-read from KV
//! when the refresh interval has passed. A failure to load one is kept, not answered: the
//! admin stage serves its endpoints without a configuration.

use super::{Flow, Stage};
use crate::config::loader;
use crate::error::GatewayError;
use crate::exchange::Exchange;
use crate::http::header;
use crate::observe::config::shown;
use crate::resilience::health;

/// Loads the configuration into the exchange and names its version in the log.
pub struct Configuration;

impl Stage for Configuration {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let client = header(&ex.headers, "cf-connecting-ip").unwrap_or_default();
        let config = loader::current(ex.env, ex.ctx.started_ms, client).await;
        if let Ok(gateway) = &config {
            ex.ctx.config_version = Some(gateway.version.clone());
            health::announce(ex.env, ex.worker, &gateway.version, || {
                gateway
                    .services
                    .values()
                    .flat_map(|s| s.health_targets())
                    .collect()
            });
            let policy = &gateway.access_log;
            if !policy.is_plain() || policy.sample_successes_percent < 100 {
                let key_header = &gateway.auth.api_key_header;
                ex.ctx.logged_headers = policy
                    .headers
                    .iter()
                    .filter_map(|name| {
                        let value = header(&ex.headers, name)?;
                        Some((name.clone(), shown(name, value, key_header).to_string()))
                    })
                    .collect();
                ex.ctx.log_policy = Some(policy.clone());
            }
        }
        ex.config = Some(config);
        Ok(Flow::Continue)
    }
}
