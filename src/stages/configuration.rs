//! Configuration: the compiled route document this request is served with, re-read from KV
//! when the refresh interval has passed. A failure to load one is kept, not answered: the
//! admin stage serves its endpoints without a configuration.

use super::{Flow, Stage};
use crate::config::loader;
use crate::error::GatewayError;
use crate::exchange::Exchange;
use crate::http::header;

/// Loads the configuration into the exchange and names its version in the log.
pub struct Configuration;

impl Stage for Configuration {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let client = header(&ex.headers, "cf-connecting-ip").unwrap_or_default();
        let config = loader::current(ex.env, ex.ctx.started_ms, client).await;
        if let Ok(gateway) = &config {
            ex.ctx.config_version = Some(gateway.version.clone());
        }
        ex.config = Some(config);
        Ok(Flow::Continue)
    }
}
