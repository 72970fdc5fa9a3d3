//! Response caching.
//!
//! A route with a `cache` policy is looked up before its origin is called and stored after.
//! The request's view is fixed in [`plan`]; decisions (may it be stored, is it fresh, may it
//! be served) are plain functions in [`freshness`] and [`settle`]; keys in [`key`]; the stored
//! format in [`entry`]; the tiers in [`store`]; purges in [`purge`] (and through the zone's
//! API in [`zone`]); the lookup in [`lookup`], with concurrent misses collapsed in [`fill`];
//! byte ranges in [`range`]; what runs after the response (storing, background refresh,
//! invalidation) in [`keep`]. The cache lookup and store stages (`stages/cache_lookup.rs`,
//! `stages/cache_store.rs`) string them together.
//!
//! Every answer on a cached route carries `X-Cache`: `HIT` (fresh from the cache), `MISS` (from
//! the origin, and stored), `STALE` (served stale: `stale-while-revalidate`, `stale-if-error` or
//! the client's `max-stale`), `REVALIDATED` (the origin confirmed the stored response with 304),
//! or `BYPASS` (the request or the origin's answer may not use the cache).

pub mod config;
pub mod control;
pub mod entry;
pub mod fill;
pub mod freshness;
pub mod keep;
pub mod key;
pub mod lookup;
pub mod plan;
pub mod purge;
pub mod range;
pub mod settle;
pub mod store;
pub mod zone;
