//! Admin: operator endpoints under `ADMIN_PREFIX`, answered here and never routed to an
//! origin. Health and the configuration endpoints work before any configuration is loaded;
//! past this stage, every request needs one.

use super::{Flow, Stage};
use crate::admin;
use crate::error::GatewayError;
use crate::exchange::{Answer, Exchange};

/// Answers admin requests (logged, not counted in the routes' metrics); refuses everything
/// else with 503 while no configuration is loaded.
pub struct Admin;

impl Stage for Admin {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        if let Some(rest) = admin::below(ex.url.path(), &ex.deployment.admin_prefix) {
            ex.ctx.internal = true;
            let config = ex.gateway();
            let answer = admin::handle(
                ex.env,
                config,
                &mut ex.request,
                &ex.ctx.method,
                rest,
                &ex.url,
                &ex.headers,
            )
            .await?;
            return Ok(Flow::Respond(Answer::Ready(answer)));
        }
        ex.gateway()?;
        Ok(Flow::Continue)
    }
}
