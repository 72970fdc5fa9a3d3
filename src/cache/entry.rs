//! The stored form of a response, the same in both tiers: a small header naming its length, the
//! metadata as JSON, then the body. The origin's headers live in the metadata rather than on the
//! stored platform response, so the platform's own caching rules never reinterpret them.

use serde::{Deserialize, Serialize};

use super::config::MAX_RETENTION_S;
use super::freshness::Freshness;
use crate::http::{connection_listed, header, is_hop_by_hop};

const MAGIC: &[u8; 4] = b"GWC1";
/// A response with a validator is worth keeping this long after it went stale: a revalidation
/// answered with 304 costs the origin far less than a full response.
const VALIDATOR_KEEP_S: u64 = 86_400;

/// What a stored item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A response.
    Response,
    /// A marker at a URL's base key naming the fields its responses vary on.
    Vary,
}

/// Everything about a stored response except its body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub kind: Kind,
    /// Lower-case field names the response varies on.
    pub vary: Vec<String>,
    pub status: u16,
    /// The origin's headers as stored (no hop-by-hop fields, `Age` or `Content-Length`).
    pub headers: Vec<(String, String)>,
    /// When the request that produced it left for the origin; purges compare against this.
    pub sent_ms: f64,
    pub received_ms: f64,
    pub freshness: Freshness,
    pub route: String,
    /// Purge tags: the route's and the origin's `Cache-Tag`.
    pub tags: Vec<String>,
    /// [`super::key::url_id`] of the URL it answers.
    pub url: String,
    /// [`super::key::prefix_ids`] of that URL's path (none for the parts of a composition).
    #[serde(default)]
    pub prefixes: Vec<String>,
}

/// A stored response.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub meta: Meta,
    pub body: Vec<u8>,
}

impl Entry {
    pub fn encode(&self) -> Vec<u8> {
        let meta = serde_json::to_vec(&self.meta).unwrap_or_default();
        let mut out = Vec::with_capacity(8 + meta.len() + self.body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(meta.len() as u32).to_be_bytes());
        out.extend_from_slice(&meta);
        out.extend_from_slice(&self.body);
        out
    }

    /// `None` for anything not written by [`Entry::encode`] of this format.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let rest = bytes.strip_prefix(MAGIC)?;
        let (length, rest) = rest.split_first_chunk::<4>()?;
        let length = u32::from_be_bytes(*length) as usize;
        if rest.len() < length {
            return None;
        }
        let (meta, body) = rest.split_at(length);
        Some(Self {
            meta: serde_json::from_slice(meta).ok()?,
            body: body.to_vec(),
        })
    }

    pub fn etag(&self) -> Option<&str> {
        header(&self.meta.headers, "etag")
    }

    pub fn last_modified(&self) -> Option<&str> {
        header(&self.meta.headers, "last-modified")
    }

    pub fn has_validator(&self) -> bool {
        self.etag().is_some() || self.last_modified().is_some()
    }

    /// How long the tiers should keep it: its lifetime, the stale windows, and a day for
    /// revalidation when it has a validator; at most [`MAX_RETENTION_S`], at least a minute.
    pub fn retention_s(&self) -> u64 {
        let f = &self.meta.freshness;
        let fresh_left = (f.lifetime_s - f.initial_age_s).max(0.0).ceil() as u64;
        let mut after = f.stale_while_revalidate_s.max(f.stale_if_error_s);
        if self.has_validator() {
            after = after.max(VALIDATOR_KEEP_S);
        }
        fresh_left.saturating_add(after).clamp(60, MAX_RETENTION_S)
    }

    /// The entry after the origin answered a revalidation with 304: the 304's headers replace
    /// the stored ones of the same name (RFC 9111 §4.3.4), with the new freshness and times.
    pub fn refreshed(
        &self,
        not_modified_headers: &[(String, String)],
        freshness: Freshness,
        sent_ms: f64,
        received_ms: f64,
    ) -> Self {
        let fresh = storable_headers(not_modified_headers);
        let mut headers: Vec<(String, String)> = self
            .meta
            .headers
            .iter()
            .filter(|(name, _)| !fresh.iter().any(|(n, _)| n == name))
            .cloned()
            .collect();
        headers.extend(fresh);
        Self {
            meta: Meta {
                headers,
                freshness,
                sent_ms,
                received_ms,
                ..self.meta.clone()
            },
            body: self.body.clone(),
        }
    }
}

/// The origin's headers that are kept with a stored response.
pub fn storable_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    // Headers the response's `Connection` names belong to that connection (RFC 9110 §7.6.1).
    let listed = connection_listed(headers);
    headers
        .iter()
        .filter(|(name, _)| {
            !is_hop_by_hop(name)
                && !listed.contains(name)
                && !matches!(name.as_str(), "age" | "content-length" | "set-cookie")
        })
        .cloned()
        .collect()
}

/// A stored 200 response fresh for 60 s, fetched at `sent_ms`, of route `products` with tag
/// `catalog` and URL id `u1`: the starting point of the cache's tests.
#[cfg(test)]
pub(crate) fn sample(sent_ms: f64, body: Vec<u8>) -> Entry {
    Entry {
        meta: Meta {
            kind: Kind::Response,
            vary: vec![],
            status: 200,
            headers: vec![],
            sent_ms,
            received_ms: sent_ms,
            freshness: Freshness {
                lifetime_s: 60.0,
                initial_age_s: 0.0,
                stale_while_revalidate_s: 0,
                stale_if_error_s: 0,
                must_revalidate: false,
                always_revalidate: false,
            },
            route: "products".into(),
            tags: vec!["catalog".into()],
            url: "u1".into(),
            prefixes: vec!["p1".into()],
        },
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        let mut e = sample(1.0, b"{\"ok\":true}".to_vec());
        e.meta.received_ms = 2.0;
        e.meta.freshness.lifetime_s = 10.0;
        e.meta.headers = vec![
            ("etag".into(), "\"1\"".into()),
            ("cache-control".into(), "max-age=10".into()),
            ("x-origin".into(), "a".into()),
        ];
        e
    }

    #[test]
    fn entries_round_trip_and_garbage_is_refused() {
        let e = entry();
        assert_eq!(Entry::decode(&e.encode()), Some(e.clone()));
        assert_eq!(Entry::decode(b"GWC1\x00\x00\x00\xffabc"), None);
        assert_eq!(Entry::decode(b"hello"), None);
        assert_eq!(Entry::decode(b""), None);
    }

    #[test]
    fn retention_keeps_validated_entries_a_day_and_is_bounded() {
        let mut e = entry();
        assert_eq!(e.retention_s(), 10 + 86_400);
        e.meta.headers.retain(|(n, _)| n != "etag");
        assert_eq!(e.retention_s(), 60, "at least a minute");
        e.meta.freshness.lifetime_s = 1e12;
        assert_eq!(e.retention_s(), MAX_RETENTION_S);
    }

    #[test]
    fn a_304_replaces_headers_of_the_same_name() {
        let e = entry();
        let headers = vec![
            ("cache-control".to_string(), "max-age=99".to_string()),
            ("connection".to_string(), "close".to_string()),
        ];
        let refreshed = e.refreshed(&headers, e.meta.freshness.clone(), 5.0, 6.0);
        assert_eq!(
            header(&refreshed.meta.headers, "cache-control"),
            Some("max-age=99")
        );
        assert_eq!(header(&refreshed.meta.headers, "x-origin"), Some("a"));
        assert_eq!(header(&refreshed.meta.headers, "connection"), None);
        assert_eq!(
            (refreshed.meta.sent_ms, refreshed.body.len()),
            (5.0, e.body.len())
        );
    }
}
