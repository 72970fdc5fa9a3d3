//! The public OpenAPI document, at the path the configuration names for it. It is answered
//! before routing; validation refuses a route that the path would shadow.

use super::{Flow, Stage};
use crate::error::GatewayError;
use crate::exchange::{Answer, Exchange};
use crate::openapi;

/// Answers `GET`/`HEAD` of `openapi.path` with the document (logged, not counted).
pub struct OpenApi;

impl Stage for OpenApi {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let gateway = ex.gateway()?;
        let asked = matches!(ex.ctx.method.as_str(), "GET" | "HEAD");
        if !asked || gateway.openapi.path.as_deref() != Some(ex.url.path()) {
            return Ok(Flow::Continue);
        }
        ex.ctx.internal = true;
        Ok(Flow::Respond(Answer::Ready(openapi::respond(&gateway)?)))
    }
}
