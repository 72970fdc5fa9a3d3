//! Revocation: a verified credential that an operator has revoked (its API-key consumer, its
//! token id or its subject) is refused, at every location within seconds of the revocation.

use super::{Flow, Stage};
use crate::changes::revocation::{self, Credential};
use crate::error::GatewayError;
use crate::exchange::Exchange;
use crate::platform;

/// After authentication, for requests that carry a verified credential: 401
/// `credential-revoked` when the list says so.
pub struct Revocation;

impl Stage for Revocation {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let Some(principal) = &ex.principal else {
            return Ok(Flow::Continue);
        };
        let now = platform::now_ms();
        revocation::refresh(ex.env, now).await;
        let text = |name: &str| principal.claims.get(name).and_then(|v| v.as_str());
        let credential = match principal.scheme {
            "api_key" => Credential {
                consumer: text("consumer"),
                ..Credential::default()
            },
            _ => Credential {
                jti: text("jti"),
                subject: principal.subject.as_deref(),
                ..Credential::default()
            },
        };
        match revocation::revoked(&credential, now) {
            Some(kind) => Err(GatewayError::CredentialRevoked {
                kind: kind.as_str(),
            }),
            None => Ok(Flow::Continue),
        }
    }
}
