//! Intake: sizes and the path's encoding, refused before anything else, so a malformed request
//! costs no KV read and no subrequest.

use super::{Flow, Stage};
use crate::error::GatewayError;
use crate::exchange::Exchange;
use crate::security::limits;

/// Refuses oversized requests (414-like 400, 431) and malformed paths (400).
pub struct Intake;

impl Stage for Intake {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        limits::check(ex.url.path(), ex.url.query(), &ex.headers)?;
        Ok(Flow::Continue)
    }
}
