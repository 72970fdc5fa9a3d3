//! The names under which `wrangler.toml` binds the gateway's resources. One list, so a module
//! that reads a namespace never has to import the module that writes it.

/// KV namespace of route documents, their versions and API-key consumers.
pub const CONFIG: &str = "CONFIG";
/// KV namespace of the global cache tier and purge markers.
pub const CACHE: &str = "CACHE";
/// Durable Object namespace of the `RateLimiter` class.
pub const RATE_LIMITER: &str = "RATE_LIMITER";
/// Durable Object namespace of the `MetricsStore` class.
pub const METRICS_STORE: &str = "METRICS_STORE";
/// Durable Object namespace of the `ConfigControl` class (configuration changes, audit,
/// revocations, rollouts).
pub const CONFIG_CONTROL: &str = "CONFIG_CONTROL";
/// Durable Object namespace of the `HealthChecker` class (active health checks).
pub const HEALTH_CHECKER: &str = "HEALTH_CHECKER";
/// Durable Object namespace of the `ConcurrencyLimiter` class (global bulkheads).
pub const CONCURRENCY_LIMITER: &str = "CONCURRENCY_LIMITER";
/// Secret: more admin operators, each with a token and scopes (see `changes::operators`).
pub const ADMIN_TOKENS: &str = "ADMIN_TOKENS";
/// Secret: a bearer token that may read only `{ADMIN_PREFIX}/metrics/prometheus`.
pub const METRICS_SCRAPE_TOKEN: &str = "METRICS_SCRAPE_TOKEN";
/// Analytics Engine dataset of request data points (optional).
pub const METRICS: &str = "METRICS";
/// Secret that enables the admin API.
pub const ADMIN_TOKEN: &str = "ADMIN_TOKEN";
/// Variable naming the zone whose cache purges also go to through the Cloudflare API.
pub const CLOUDFLARE_ZONE_ID: &str = "CLOUDFLARE_ZONE_ID";
/// Variable overriding where the Cloudflare API is.
pub const CLOUDFLARE_API_URL: &str = "CLOUDFLARE_API_URL";
/// Secret: an API token allowed to purge the zone's cache.
pub const CLOUDFLARE_API_TOKEN: &str = "CLOUDFLARE_API_TOKEN";
