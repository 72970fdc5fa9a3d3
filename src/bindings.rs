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
/// Analytics Engine dataset of request data points (optional).
pub const METRICS: &str = "METRICS";
/// Secret that enables the admin API.
pub const ADMIN_TOKEN: &str = "ADMIN_TOKEN";
