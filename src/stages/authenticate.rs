//! Authenticate: who is calling, before rate limiting, since the caller decides the limit and
//! the plan. Also fixes which of the client's credentials and claims reach the upstream.

use super::{Flow, Stage};
use crate::auth::authenticate::{authenticate, upstream_headers, Presented};
use crate::auth::signature;
use crate::error::GatewayError;
use crate::exchange::Exchange;
use crate::observe::otlp::{Kind, Value};
use crate::observe::tracing::Scope;
use crate::platform;

/// On routes with `auth`: verifies the credentials (401, 403 for a missing scope or role, 503
/// when the issuer's keys cannot be had) and records the caller.
pub struct Authenticate;

impl Stage for Authenticate {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let route = ex.route()?;
        let Some(policy) = &route.auth else {
            return Ok(Flow::Continue);
        };
        if policy.mtls {
            ex.load_cf();
        }
        let gateway = route.gateway();
        let now = platform::now_ms();
        let span = ex.ctx.tracer.is_on().then(|| ex.ctx.tracer.new_id());
        let scope = Scope {
            tracer: &ex.ctx.tracer,
            parent: span,
        };
        let verified = authenticate(
            ex.env,
            &gateway.auth,
            &gateway.version,
            policy,
            Presented {
                headers: &ex.headers,
                cf: ex.cf.as_ref().and_then(Option::as_ref),
                method: &ex.ctx.method,
                url: &ex.url,
            },
            now,
            scope,
        )
        .await;
        if ex.ctx.tracer.is_on() {
            let scheme = verified
                .as_ref()
                .ok()
                .and_then(|p| p.as_ref())
                .map(|p| p.scheme);
            ex.ctx.tracer.record(
                "authenticate",
                Kind::Internal,
                now,
                None,
                span,
                vec![(
                    "gateway.auth.scheme",
                    Value::Text(scheme.unwrap_or("none").into()),
                )],
                verified.as_ref().err().map(|e| e.code().to_string()),
            );
        }
        let principal = verified?;
        // A signed body must be the one its signed Content-Digest describes.
        if principal.as_ref().is_some_and(|p| p.scheme == "signature") {
            if let Some(field) =
                crate::http::header(&ex.headers, "content-digest").map(str::to_string)
            {
                let body = ex.read_body(crate::policy::MAX_BODY_BYTES, 10_000).await?;
                if !signature::digest_matches(&field, body) {
                    return Err(GatewayError::Unauthenticated {
                        presented: true,
                        cause: "the body does not match its Content-Digest".into(),
                    });
                }
            }
        }
        if let Some(principal) = &principal {
            ex.ctx.auth_scheme = Some(principal.scheme);
            ex.ctx.principal = principal.subject.clone();
        }
        ex.authenticated_headers = Some(upstream_headers(
            &ex.headers,
            &gateway.auth,
            policy,
            principal.as_ref(),
        ));
        ex.principal = principal;
        Ok(Flow::Continue)
    }
}
