//! Service: which service a proxied route's request goes to (the first `choose` whose `when`
//! holds, else version routing by a request header, else the route's `service`), the path below its upstreams, and the call's deadline; no I/O. The
//! WebSocket, cache and upstream stages all use what it prepares.

use super::{Flow, Stage};
use crate::config::route::Destination;
use crate::error::GatewayError;
use crate::exchange::{Exchange, Prepared};
use crate::upstream::target;

/// Prepares the service call on routes with a `service` (aggregate routes have none).
pub struct Service;

impl Stage for Service {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let route = ex.route()?;
        let Destination::Service(name) = &route.destination else {
            return Ok(Flow::Continue);
        };
        if route.choices.iter().any(|(when, _)| when.reads_cf()) {
            ex.load_cf();
        }
        let facts = ex.facts();
        let chosen = route.choices.iter().find(|(when, _)| when.holds(&facts));
        let name = chosen
            .map(|(_, service)| service.as_str())
            .or_else(|| route.versions.as_ref().and_then(|v| v.select(&ex.headers)))
            .unwrap_or(name);
        let service = route.service(name)?;
        ex.ctx.service = Some(service.name.clone());
        ex.call = Some(Prepared {
            service: service.name.clone(),
            path: target::upstream_path(&route.rewrite, ex.params(), ex.url.path()),
            timeout_ms: route.timeout_ms.unwrap_or(service.timeout_ms),
            sticky_key: service.sticky_key(&ex.headers),
        });
        Ok(Flow::Continue)
    }
}
