//! Authentication: JWTs (inline keys, JWKS, OpenID Connect discovery), opaque tokens by
//! introspection, and API keys.

pub mod api_key;
pub mod authenticate;
pub mod basic;
pub mod certificate;
pub mod claims;
pub mod client_credentials;
pub mod config;
pub mod discovery;
pub mod introspection;
pub mod jwks;
pub mod keys;
pub mod shared;
pub mod signature;

use std::collections::BTreeMap;

use claims::{ClaimRules, Requirement};
use keys::{Alg, VerifyKey};

/// The document's `auth` section: who may issue tokens, and how API keys are presented.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub issuers: BTreeMap<String, Issuer>,
    /// Request header carrying an API key (default `x-api-key`).
    pub api_key_header: String,
    /// Consumers by client certificate (`client_certificates`).
    pub certificates: certificate::Certificates,
    /// HMAC keys for signed requests (`signatures`).
    pub signatures: Option<signature::Signatures>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuers: BTreeMap::new(),
            api_key_header: DEFAULT_API_KEY_HEADER.into(),
            certificates: certificate::Certificates::default(),
            signatures: None,
        }
    }
}

/// Header that carries API keys unless the document names another.
pub const DEFAULT_API_KEY_HEADER: &str = "x-api-key";

/// One token issuer.
#[derive(Debug, Clone)]
pub struct Issuer {
    pub name: String,
    pub rules: ClaimRules,
    /// Algorithms a token from this issuer may use; nothing else is ever accepted.
    pub algorithms: Vec<Alg>,
    /// Keys given in the document.
    pub keys: Vec<VerifyKey>,
    pub jwks: Option<JwksSettings>,
    /// Discovery metadata, when the issuer is configured by its URL (`discovery: true`); its
    /// `jwks_uri` serves when `jwks_url` is not given.
    pub discovery: Option<discovery::Discovery>,
    /// Opaque tokens are checked at the issuer's introspection endpoint.
    pub introspection: Option<introspection::Introspection>,
    /// Shortest time between two refetches of a discovered key set forced by unknown `kid`s.
    pub refetch_ms: f64,
}

/// Where an issuer publishes its keys, and how long to trust a fetched set.
#[derive(Debug, Clone, PartialEq)]
pub struct JwksSettings {
    pub url: String,
    /// The set is kept at least this long, whatever its `Cache-Control` says (default 60 s).
    pub min_ttl_s: u64,
    /// ... and at most this long (default 86,400 s).
    pub max_ttl_s: u64,
    /// Shortest time between two refetches forced by unknown `kid`s (default 10 s).
    pub refetch_ms: f64,
}

/// Whether a route demands credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Anonymous requests pass; presented credentials must be valid.
    Optional,
    /// Every request needs valid credentials.
    Required,
}

/// A route's `auth` policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteAuth {
    pub mode: Mode,
    pub jwt: bool,
    pub api_key: bool,
    /// `Authorization: Basic` for consumers with passwords.
    pub basic: bool,
    /// A client certificate the platform verified (`request.cf.tlsClientAuth`).
    pub mtls: bool,
    /// An HTTP Message Signature by a key of `auth.signatures`.
    pub signature: bool,
    /// Issuers accepted on this route; all of the document's when empty.
    pub issuers: Vec<String>,
    pub scopes: Requirement,
    pub roles: Requirement,
    /// Claim name → upstream header. The headers are always removed from the client's request.
    pub forward_claims: Vec<(String, String)>,
    /// Whether `Authorization` (and the API-key header) reach the upstream (default: no).
    pub forward_credentials: bool,
    /// Cookie that may carry the token when `Authorization` does not.
    pub cookie: Option<String>,
}
