//! Authenticate: who is calling, before rate limiting, since the caller decides the limit and
//! the plan. Also fixes which of the client's credentials and claims reach the upstream.

use super::{Flow, Stage};
use crate::auth::authenticate::{authenticate, authorize, token_from, upstream_headers, Presented};
use crate::auth::session;
use crate::auth::signature;
use crate::error::GatewayError;
use crate::exchange::Exchange;
use crate::exchange::RouteRef;
use crate::exchange::{Answer, Reply};
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
        if let Some(answer) = browser_session(ex, &route, now).await? {
            return Ok(answer);
        }
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

/// On a route with a `session`, for a request without a token: the session's user (its
/// access token sent upstream, a refreshed cookie set), or for a browser without one the way
/// to the provider's login. `None` goes on to the other schemes.
async fn browser_session(
    ex: &mut Exchange<'_>,
    route: &RouteRef,
    now: f64,
) -> Result<Option<Flow>, GatewayError> {
    let Some(policy) = &route.auth else {
        return Ok(None);
    };
    let gateway = route.gateway();
    let settings = match &policy.session {
        Some(name) if token_from(&ex.headers, policy.cookie.as_deref()).is_none() => {
            gateway.auth.sessions.get(name)
        }
        _ => None,
    };
    let Some(settings) = settings else {
        return Ok(None);
    };
    let unavailable = |cause: String| GatewayError::AuthUnavailable {
        issuer: settings.issuer.clone(),
        cause,
    };
    let origin = ex.url.origin().ascii_serialization();
    match session::resume(ex.env, &gateway.auth, settings, &ex.headers, now)
        .await
        .map_err(unavailable)?
    {
        Some(resumed) => {
            if !session::same_origin(&ex.ctx.method, &ex.headers, &origin) {
                return Err(GatewayError::CsrfRefused);
            }
            authorize(policy, &resumed.principal)?;
            ex.ctx.auth_scheme = Some("session");
            ex.ctx.principal = resumed.principal.subject.clone();
            let mut headers =
                upstream_headers(&ex.headers, &gateway.auth, policy, Some(&resumed.principal));
            session::strip_cookie(&mut headers, &settings.cookie);
            headers.push((
                "authorization".into(),
                format!("Bearer {}", resumed.access_token),
            ));
            ex.authenticated_headers = Some(headers);
            ex.cookies.extend(resumed.set_cookie);
            ex.principal = Some(resumed.principal);
            Ok(Some(Flow::Continue))
        }
        None if session::is_navigation(&ex.ctx.method, &ex.headers) => {
            let here = match ex.url.query() {
                Some(query) => format!("{}?{query}", ex.url.path()),
                None => ex.url.path().to_string(),
            };
            let (location, cookie) =
                session::begin(ex.env, &gateway.auth, settings, (&origin, &here), now)
                    .await
                    .map_err(unavailable)?;
            let headers = vec![
                ("location".to_string(), location),
                ("set-cookie".to_string(), cookie),
                ("cache-control".to_string(), "no-store".to_string()),
            ];
            Ok(Some(Flow::Respond(Answer::Reply(Reply::composed((
                302, headers, None,
            ))))))
        }
        None => Ok(None),
    }
}
