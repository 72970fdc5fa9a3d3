//! Purges through the Cloudflare API, for deployments on a zone. The edge tier lives in the
//! zone's cache, which the API purges at every location within seconds, where the KV markers
//! take up to a minute to reach them all. Every entry is put with a `Cache-Tag` naming
//! everything a purge can target it by; a purge sends the matching tags, never
//! `purge_everything` (the zone's other content is left alone). The KV markers are still
//! written: they cover the KV tier and any location the API purge misses.
//!
//! Set up with the `CLOUDFLARE_ZONE_ID` variable and the `CLOUDFLARE_API_TOKEN` secret (a token
//! with the zone's Cache Purge permission); `CLOUDFLARE_API_URL` points elsewhere than
//! `https://api.cloudflare.com/client/v4` (tests use a stand-in on loopback).

use serde_json::{json, Value};
use worker::Env;

use super::entry::Meta;
use super::purge::Target;
use crate::platform::fetch;
use crate::{bindings, deployment, platform};

/// Tags one purge request may name.
const TAGS_PER_REQUEST: usize = 30;
/// The zone's cache keeps this much of a `Cache-Tag` header (after the name).
const HEADER_LIMIT: usize = 16 * 1024;
const API_TIMEOUT_MS: u64 = 10_000;

/// The tag that stands for `target` in the zone's cache.
pub fn tag(target: &Target) -> String {
    match target {
        Target::Everything => "gateway-all".to_string(),
        Target::Route(name) => format!("gateway-route-{name}"),
        Target::Tag(tag) => format!("gateway-tag-{tag}"),
        Target::Url(id) => format!("gateway-url-{id}"),
        Target::Prefix(id) => format!("gateway-prefix-{id}"),
    }
}

/// The `Cache-Tag` of an edge entry: a tag for every target that covers it, within the
/// header's limit (the route's own tags first, then the origin's).
pub fn header(meta: &Meta) -> String {
    let targets = [
        Target::Everything,
        Target::Route(meta.route.clone()),
        Target::Url(meta.url.clone()),
    ]
    .into_iter()
    .chain(meta.prefixes.iter().cloned().map(Target::Prefix))
    .chain(meta.tags.iter().cloned().map(Target::Tag));
    let mut value = String::new();
    for target in targets {
        let tag = tag(&target);
        // Tags with a space or comma cannot be named (their markers still apply).
        if tag.contains([' ', ',']) || value.len() + tag.len() + 1 > HEADER_LIMIT {
            continue;
        }
        if !value.is_empty() {
            value.push(',');
        }
        value.push_str(&tag);
    }
    value
}

/// The bodies of the purge requests for `targets`, at most [`TAGS_PER_REQUEST`] tags each.
pub fn requests(targets: &[Target]) -> Vec<Value> {
    let tags: Vec<String> = targets.iter().map(tag).collect();
    tags.chunks(TAGS_PER_REQUEST)
        .map(|chunk| json!({ "tags": chunk }))
        .collect()
}

/// How a zone purge went.
#[derive(Debug)]
pub enum Outcome {
    /// No zone is configured.
    NotConfigured,
    /// Every request was accepted.
    Purged {
        requests: usize,
    },
    Failed(String),
}

/// Purges `targets` from the zone's cache, when the deployment names a zone.
pub async fn purge(env: &Env, targets: &[Target]) -> Outcome {
    let Some(zone) = deployment::get(env).purge_zone.clone() else {
        return Outcome::NotConfigured;
    };
    let token = env
        .secret(bindings::CLOUDFLARE_API_TOKEN)
        .ok()
        .map(|s| s.to_string())
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Outcome::Failed(format!(
            "{} is set but the {} secret is not",
            bindings::CLOUDFLARE_ZONE_ID,
            bindings::CLOUDFLARE_API_TOKEN
        ));
    };
    let url = format!("{}/zones/{}/purge_cache", zone.api_url, zone.zone_id);
    let headers = [
        ("authorization", format!("Bearer {token}")),
        ("content-type", "application/json".to_string()),
    ]
    .map(|(n, v)| (n.to_string(), v));
    let bodies = requests(targets);
    for body in &bodies {
        let sent = fetch::text_within(
            &url,
            "POST",
            &headers,
            Some(body.to_string().into_bytes()),
            API_TIMEOUT_MS,
        );
        let problem = match sent.await {
            None => Some(format!("no answer within {API_TIMEOUT_MS} ms")),
            Some(Err(e)) => Some(e),
            Some(Ok(answer)) => refusal(answer.status, &answer.text),
        };
        if let Some(problem) = problem {
            platform::log_error(&format!("zone cache purge: {problem}"));
            return Outcome::Failed(problem);
        }
    }
    Outcome::Purged {
        requests: bodies.len(),
    }
}

/// Why the API refused a purge, from its answer; `None` when it succeeded.
fn refusal(status: u16, text: &str) -> Option<String> {
    let answer: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    if (200..300).contains(&status) && answer["success"] == json!(true) {
        return None;
    }
    let errors: Vec<String> = answer["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| match (e["code"].as_i64(), e["message"].as_str()) {
                    (Some(code), Some(message)) => format!("{code} {message}"),
                    (_, Some(message)) => message.to_string(),
                    _ => e.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(match errors.is_empty() {
        true => format!("the API answered {status}"),
        false => format!("the API answered {status}: {}", errors.join("; ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::entry::sample;
    use crate::cache::purge::Markers;

    #[test]
    fn an_entry_is_tagged_with_every_target_that_hides_it() {
        let meta = sample(100.0, Vec::new()).meta;
        let tags: Vec<String> = header(&meta).split(',').map(str::to_string).collect();
        let targets = [
            Target::Everything,
            Target::Route("products".into()),
            Target::Route("users".into()),
            Target::Tag("catalog".into()),
            Target::Tag("people".into()),
            Target::Url("u1".into()),
            Target::Url("u2".into()),
            Target::Prefix("p1".into()),
            Target::Prefix("p2".into()),
        ];
        for target in targets {
            let mut markers = Markers::default();
            markers.record(&target, 200.0);
            assert_eq!(
                markers.hides(&meta),
                tags.contains(&tag(&target)),
                "{target:?}"
            );
        }
    }

    #[test]
    fn the_header_stays_within_the_zone_limit() {
        let mut meta = sample(0.0, Vec::new()).meta;
        meta.tags = (0..2000).map(|i| format!("tag-{i:05}")).collect();
        meta.tags.push("with space".into());
        let value = header(&meta);
        assert!(value.len() <= HEADER_LIMIT);
        assert!(value.starts_with("gateway-all,gateway-route-products,gateway-url-u1"));
        assert!(!value.contains("with space"));
    }

    #[test]
    fn purges_go_out_in_batches_of_tags() {
        let targets: Vec<Target> = (0..31).map(|i| Target::Tag(format!("t{i}"))).collect();
        let bodies = requests(&targets);
        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[0]["tags"].as_array().map(Vec::len), Some(30));
        assert_eq!(bodies[1]["tags"], json!(["gateway-tag-t30"]));
        assert_eq!(
            requests(&[Target::Everything]),
            [json!({"tags": ["gateway-all"]})]
        );
    }

    #[test]
    fn refusals_name_the_apis_errors() {
        assert_eq!(refusal(200, r#"{"success":true,"errors":[]}"#), None);
        assert_eq!(
            refusal(
                400,
                r#"{"success":false,"errors":[{"code":1134,"message":"Invalid tag"}]}"#
            )
            .as_deref(),
            Some("the API answered 400: 1134 Invalid tag")
        );
        assert_eq!(
            refusal(200, r#"{"success":false}"#).as_deref(),
            Some("the API answered 200")
        );
        assert_eq!(
            refusal(502, "<html>").as_deref(),
            Some("the API answered 502")
        );
    }
}
