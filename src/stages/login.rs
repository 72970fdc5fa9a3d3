//! Login: the callback and logout paths of the document's edge logins (`auth.sessions`),
//! answered before routing since no route serves them. The callback exchanges the code and
//! sets the session cookie (400 `login-failed` when anything about it is wrong); logout clears
//! it and ends the session at the provider.

use super::{Flow, Stage};
use crate::auth::session;
use crate::error::GatewayError;
use crate::exchange::{Answer, Exchange};
use crate::platform;
use crate::upstream;

/// Answers `callback_path` and `logout_path` of each session.
pub struct Login;

impl Stage for Login {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let Ok(gateway) = ex.gateway() else {
            return Ok(Flow::Continue);
        };
        let path = ex.url.path();
        let Some(settings) = gateway
            .auth
            .sessions
            .values()
            .find(|s| s.callback_path == path || s.logout_path == path)
        else {
            return Ok(Flow::Continue);
        };
        ex.ctx.route = Some(format!("session:{}", settings.name));
        let origin = ex.url.origin().ascii_serialization();
        let now = platform::now_ms();
        let (cookies, location) = if settings.callback_path == path {
            let request = (origin.as_str(), ex.url.query(), ex.headers.as_slice());
            session::finish(ex.env, &gateway.auth, settings, request, now)
                .await
                .map_err(|cause| GatewayError::LoginFailed { cause })?
        } else {
            let (to, clear) =
                session::logout(ex.env, &gateway.auth, settings, (&origin, &ex.headers), now).await;
            (vec![clear], to)
        };
        let mut headers = vec![
            ("location".to_string(), location),
            ("cache-control".to_string(), "no-store".to_string()),
        ];
        headers.extend(cookies.into_iter().map(|c| ("set-cookie".to_string(), c)));
        headers.push(("x-request-id".to_string(), ex.ctx.request_id.clone()));
        // No route serves these paths: the answer is sent as it is.
        let answer = upstream::respond(302, &headers, None)?;
        Ok(Flow::Respond(Answer::Ready(answer)))
    }
}
