//! Maintenance: while the variable `MAINTENANCE` is `on`, every route except those named in
//! `MAINTENANCE_EXEMPT` (comma-separated) answers 503 with `Retry-After`, right after routing,
//! so a closed route costs no authentication, limit or origin call.

use super::{Flow, Stage};
use crate::error::GatewayError;
use crate::exchange::{Answer, Exchange, Reply};

/// Closes routes for maintenance; open by default.
pub struct Maintenance;

/// Whether `route` is closed, given the two variables (the decision, testable on the host).
pub fn closed(switch: Option<&str>, exempt: Option<&str>, route: &str) -> bool {
    let on = switch.is_some_and(|s| s.trim().eq_ignore_ascii_case("on"));
    on && !exempt.unwrap_or("").split(',').any(|name| name.trim() == route)
}

impl Stage for Maintenance {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let route = ex.route()?;
        let var = |name: &str| ex.env.var(name).ok().map(|v| v.to_string());
        let exempt = var("MAINTENANCE_EXEMPT");
        if !closed(var("MAINTENANCE").as_deref(), exempt.as_deref(), &route.name) {
            return Ok(Flow::Continue);
        }
        let headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("retry-after".to_string(), "300".to_string()),
        ];
        let body = br#"{"status":"down for maintenance"}"#.to_vec();
        Ok(Flow::Respond(Answer::Reply(Reply::composed((503, headers, Some(body))))))
    }
}

#[cfg(test)]
mod tests {
    use super::closed;

    #[test]
    fn only_an_on_switch_closes_and_exempt_routes_stay_open() {
        assert!(!closed(None, None, "orders"));
        assert!(!closed(Some("off"), None, "orders"));
        assert!(closed(Some(" ON "), None, "orders"));
        assert!(closed(Some("on"), Some("health, status"), "orders"));
        assert!(!closed(Some("on"), Some("health, orders"), "orders"));
    }
}
