//! `POST {prefix}/cache/purge`: reading what to purge.

use worker::Url;

use crate::cache::{key, purge};
use crate::config::Gateway;
use crate::error::GatewayError;

/// Reads a purge request. Route names must exist; URLs may be absolute or a path on the admin
/// request's own host. Every problem is reported at once.
pub fn purge_targets(
    gateway: &Gateway,
    body: &str,
    url: &Url,
) -> Result<Vec<purge::Target>, GatewayError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PurgeRequest {
        #[serde(default)]
        routes: Vec<String>,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        urls: Vec<String>,
        #[serde(default)]
        prefixes: Vec<String>,
        #[serde(default)]
        everything: bool,
    }
    let invalid = |reason: String| GatewayError::AdminInvalid { reason };
    let request: PurgeRequest = serde_json::from_str(body).map_err(|e| {
        invalid(format!(
            "The body must be JSON like {{\"routes\": [], \"tags\": [], \"urls\": [], \"prefixes\": [], \"everything\": false}}: {e}."
        ))
    })?;
    let mut problems = Vec::new();
    let mut targets = Vec::new();
    if request.everything {
        targets.push(purge::Target::Everything);
    }
    for name in request.routes {
        if gateway.routes.routes().iter().any(|r| r.name == name) {
            targets.push(purge::Target::Route(name));
        } else {
            problems.push(format!("no route named '{name}'"));
        }
    }
    for tag in request.tags {
        if tag.is_empty() {
            problems.push("tags cannot be empty".to_string());
        } else {
            targets.push(purge::Target::Tag(tag));
        }
    }
    for text in request.urls {
        match url.join(&text) {
            Ok(target) if matches!(target.scheme(), "http" | "https") => {
                let host = target.host_str().unwrap_or_default().to_ascii_lowercase();
                targets.push(purge::Target::Url(key::url_id(&host, target.path())));
            }
            _ => problems.push(format!("'{text}' is not a URL or path")),
        }
    }
    for text in request.prefixes {
        match url.join(&text) {
            Ok(target) if matches!(target.scheme(), "http" | "https") => {
                let host = target.host_str().unwrap_or_default().to_ascii_lowercase();
                match key::normalise_prefix(target.path()) {
                    Some(prefix) => {
                        targets.push(purge::Target::Prefix(key::prefix_id(&host, &prefix)))
                    }
                    None => problems.push(format!(
                        "'{text}' is deeper than {} segments: purge its URLs instead",
                        key::MAX_PREFIX_DEPTH
                    )),
                }
            }
            _ => problems.push(format!("'{text}' is not a URL or path prefix")),
        }
    }
    if !problems.is_empty() {
        return Err(invalid(format!(
            "Nothing was purged: {}.",
            problems.join("; ")
        )));
    }
    if targets.is_empty() {
        return Err(invalid(
            "Name at least one route, tag, URL or prefix, or set everything.".into(),
        ));
    }
    Ok(targets)
}
