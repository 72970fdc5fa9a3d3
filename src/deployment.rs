//! What the deployment fixes for an isolate's whole life: its variables and which optional
//! bindings exist. Read from the environment on the first request and kept, since a changed
//! `wrangler.toml` or secret is a new deployment with new isolates; each lookup is a call into
//! the runtime otherwise. The values are parsed by plain functions, so their defaults and
//! bounds are tested on the host.

use std::cell::OnceCell;
use std::rc::Rc;

use worker::Env;

use crate::{bindings, platform};

/// KV key of the document, unless `CONFIG_KEY` names another.
pub const DEFAULT_CONFIG_KEY: &str = "routes";
/// Seconds between KV checks, unless `CONFIG_REFRESH_SECONDS` says otherwise.
pub const DEFAULT_REFRESH_SECONDS: u64 = 10;
const REFRESH_RANGE: std::ops::RangeInclusive<u64> = 1..=300;
/// Where admin endpoints live unless `ADMIN_PREFIX` says otherwise.
pub const DEFAULT_ADMIN_PREFIX: &str = "/__gateway";

/// Where the route document lives and how often to look at it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    pub key: String,
    pub refresh_ms: u64,
}

impl ConfigSource {
    /// From `CONFIG_KEY` and `CONFIG_REFRESH_SECONDS`; absent or invalid values give the defaults.
    pub fn from_values(key: Option<&str>, refresh_seconds: Option<&str>) -> Self {
        let refresh = refresh_seconds
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|s| REFRESH_RANGE.contains(s))
            .unwrap_or(DEFAULT_REFRESH_SECONDS);
        Self {
            key: key
                .filter(|k| !k.is_empty())
                .unwrap_or(DEFAULT_CONFIG_KEY)
                .to_string(),
            refresh_ms: refresh * 1000,
        }
    }
}

#[derive(Debug)]
pub struct Deployment {
    pub config: ConfigSource,
    /// `ADMIN_PREFIX`, without a trailing slash.
    pub admin_prefix: String,
    /// `ACCESS_LOG` is not `off`.
    pub access_log: bool,
    /// The `MetricsStore` namespace is bound.
    pub metrics_store: bool,
    /// An Analytics Engine dataset (or a stand-in with its `writeDataPoint`) is bound.
    pub analytics: bool,
    /// `PANIC_PROBE` is `on`: `POST {ADMIN_PREFIX}/panic` panics, for the tests of what a
    /// panic is answered with. Off unless set; never set it in production.
    pub panic_probe: bool,
    /// `CLOUDFLARE_ZONE_ID` is set: purges also go through the Cloudflare API.
    pub purge_zone: Option<PurgeZone>,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is set: spans are exported there.
    pub tracing: Option<Tracing>,
}

/// Where spans go, and which requests' spans.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracing {
    /// The OTLP/HTTP traces URL (`…/v1/traces`).
    pub url: String,
    /// Share of traces kept (errors are always kept), 0-1.
    pub ratio: f64,
    /// `service.name` of the spans.
    pub service: String,
}

/// Tracing from `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the whole URL) or
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` appended), `OTEL_TRACES_SAMPLER_ARG` (the ratio,
/// default 1) and `OTEL_SERVICE_NAME` (default `edge-gateway`); none without an http(s) URL.
pub fn tracing(
    traces_endpoint: Option<&str>,
    endpoint: Option<&str>,
    ratio: Option<&str>,
    service: Option<&str>,
) -> Option<Tracing> {
    let absolute = |u: &&str| u.starts_with("https://") || u.starts_with("http://");
    let url = match traces_endpoint.map(str::trim).filter(absolute) {
        Some(url) => url.to_string(),
        None => {
            let base = endpoint.map(str::trim).filter(absolute)?;
            format!("{}/v1/traces", base.trim_end_matches('/'))
        }
    };
    let ratio = ratio
        .and_then(|r| r.trim().parse::<f64>().ok())
        .filter(|r| (0.0..=1.0).contains(r))
        .unwrap_or(1.0);
    Some(Tracing {
        url,
        ratio,
        service: service
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("edge-gateway")
            .to_string(),
    })
}

/// The zone purges go to, and where its API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeZone {
    pub zone_id: String,
    /// Without a trailing slash.
    pub api_url: String,
}

/// Where the Cloudflare API is unless `CLOUDFLARE_API_URL` says otherwise.
pub const DEFAULT_CLOUDFLARE_API_URL: &str = "https://api.cloudflare.com/client/v4";

/// The purge zone from `CLOUDFLARE_ZONE_ID` and `CLOUDFLARE_API_URL`: none without a zone id;
/// the default API unless the URL is an absolute http(s) one.
pub fn purge_zone(zone_id: Option<&str>, api_url: Option<&str>) -> Option<PurgeZone> {
    let zone_id = zone_id.map(str::trim).filter(|z| !z.is_empty())?;
    let api_url = api_url
        .map(str::trim)
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .unwrap_or(DEFAULT_CLOUDFLARE_API_URL)
        .trim_end_matches('/');
    Some(PurgeZone {
        zone_id: zone_id.to_string(),
        api_url: api_url.to_string(),
    })
}

/// `ADMIN_PREFIX` without a trailing slash; the default when absent or not an absolute path.
pub fn admin_prefix(value: Option<&str>) -> String {
    value
        .filter(|p| p.starts_with('/') && p.len() > 1)
        .map(|p| p.trim_end_matches('/').to_string())
        .unwrap_or_else(|| DEFAULT_ADMIN_PREFIX.to_string())
}

/// Whether to write access logs, from the `ACCESS_LOG` variable: on unless it says `off`.
pub fn access_log_enabled(setting: Option<&str>) -> bool {
    !matches!(
        setting.map(str::trim),
        Some("off") | Some("false") | Some("0")
    )
}

thread_local! {
    static DEPLOYMENT: OnceCell<Rc<Deployment>> = const { OnceCell::new() };
}

/// The settings of this deployment, read once per isolate.
pub fn get(env: &Env) -> Rc<Deployment> {
    DEPLOYMENT.with(|cell| {
        cell.get_or_init(|| {
            let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
            Rc::new(Deployment {
                config: ConfigSource::from_values(
                    var("CONFIG_KEY").as_deref(),
                    var("CONFIG_REFRESH_SECONDS").as_deref(),
                ),
                admin_prefix: admin_prefix(var("ADMIN_PREFIX").as_deref()),
                access_log: access_log_enabled(var("ACCESS_LOG").as_deref()),
                metrics_store: env.durable_object(bindings::METRICS_STORE).is_ok(),
                analytics: platform::binding_method(env, bindings::METRICS, "writeDataPoint")
                    .is_some(),
                panic_probe: var("PANIC_PROBE").as_deref() == Some("on"),
                purge_zone: purge_zone(
                    var(bindings::CLOUDFLARE_ZONE_ID).as_deref(),
                    var(bindings::CLOUDFLARE_API_URL).as_deref(),
                ),
                tracing: tracing(
                    var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").as_deref(),
                    var("OTEL_EXPORTER_OTLP_ENDPOINT").as_deref(),
                    var("OTEL_TRACES_SAMPLER_ARG").as_deref(),
                    var("OTEL_SERVICE_NAME").as_deref(),
                ),
            })
        })
        .clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_source_is_bounded() {
        assert_eq!(
            ConfigSource::from_values(None, None),
            ConfigSource {
                key: "routes".into(),
                refresh_ms: 10_000
            }
        );
        assert_eq!(
            ConfigSource::from_values(Some("k"), Some("2")).refresh_ms,
            2_000
        );
        assert_eq!(
            ConfigSource::from_values(None, Some("0")).refresh_ms,
            10_000
        );
        assert_eq!(
            ConfigSource::from_values(None, Some("9999")).refresh_ms,
            10_000
        );
        assert_eq!(
            ConfigSource::from_values(None, Some("x")).refresh_ms,
            10_000
        );
    }

    #[test]
    fn logging_is_on_unless_switched_off() {
        assert!(access_log_enabled(None));
        assert!(access_log_enabled(Some("on")));
        assert!(!access_log_enabled(Some("off")));
        assert!(!access_log_enabled(Some(" false ")));
    }

    #[test]
    fn a_purge_zone_needs_an_id_and_defaults_to_the_public_api() {
        assert_eq!(purge_zone(None, Some("http://127.0.0.1:1")), None);
        assert_eq!(purge_zone(Some(" "), None), None);
        assert_eq!(
            purge_zone(Some("z1"), None).map(|z| z.api_url),
            Some(DEFAULT_CLOUDFLARE_API_URL.to_string())
        );
        assert_eq!(
            purge_zone(Some("z1"), Some("http://127.0.0.1:9/client/v4/")),
            Some(PurgeZone {
                zone_id: "z1".into(),
                api_url: "http://127.0.0.1:9/client/v4".into()
            })
        );
        assert_eq!(
            purge_zone(Some("z1"), Some("ftp://x")).map(|z| z.api_url),
            Some(DEFAULT_CLOUDFLARE_API_URL.to_string())
        );
    }

    #[test]
    fn the_admin_prefix_is_an_absolute_path_without_a_trailing_slash() {
        assert_eq!(admin_prefix(None), "/__gateway");
        assert_eq!(admin_prefix(Some("/ops/")), "/ops");
        assert_eq!(admin_prefix(Some("ops")), "/__gateway");
        assert_eq!(admin_prefix(Some("/")), "/__gateway");
    }
}
