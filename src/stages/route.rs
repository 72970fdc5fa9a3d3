//! Route: which route serves the request, by host, path and method. Everything after this
//! stage knows its route; a CORS preflight is routed by the method it asks about.

use super::{Flow, Stage};
use crate::error::GatewayError;
use crate::exchange::{Exchange, Routed};
use crate::security::cors;

/// Chooses the route (404 without one, 405 with `Allow` for a path that other methods take).
pub struct Route;

impl Stage for Route {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let gateway = ex.gateway()?;
        let routes = &gateway.routes;
        let (host, path) = (ex.ctx.host.as_str(), ex.url.path());
        let preflight = cors::preflight_method(&ex.ctx.method, &ex.headers);
        // A preflight goes to the route its method would reach, if that route has CORS; a
        // method the path does not take is still the CORS policy's to refuse.
        let asked = preflight.and_then(|asked| {
            let candidate = match routes.resolve(asked.trim(), host, path) {
                Ok(found) => Some(found),
                Err(GatewayError::MethodNotAllowed { allow }) => allow
                    .first()
                    .and_then(|method| routes.resolve(method, host, path).ok()),
                Err(_) => None,
            };
            candidate.filter(|found| found.route.security.cors.is_some())
        });
        let matched = match asked {
            Some(found) => found,
            None => routes.resolve(&ex.ctx.method, host, path)?,
        };
        ex.ctx.route = Some(matched.route.name.clone());
        ex.route = Some(Routed {
            index: matched.index,
            params: matched.params,
        });
        Ok(Flow::Continue)
    }
}
