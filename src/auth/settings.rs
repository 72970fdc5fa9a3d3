//! The validated `auth` section and a route's `auth` policy: what every authentication scheme
//! reads.

use std::collections::BTreeMap;

use super::claims::{ClaimRules, Requirement};
use super::jwks::JwksSettings;
use super::keys::{Alg, VerifyKey};
use super::{certificate, discovery, introspection, signature};

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
    /// Edge logins for browser apps, by name (`sessions`).
    pub sessions: BTreeMap<String, SessionSettings>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuers: BTreeMap::new(),
            api_key_header: DEFAULT_API_KEY_HEADER.into(),
            certificates: certificate::Certificates::default(),
            signatures: None,
            sessions: BTreeMap::new(),
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
    /// The issuer's OAuth2 endpoints and scopes, as the OpenAPI document describes them
    /// (`oauth2`); nothing at runtime reads them.
    pub oauth2: Option<OAuth2Flows>,
    /// Shortest time between two refetches of a discovered key set forced by unknown `kid`s.
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
    /// Browsers log in through this session (`auth.sessions`); Bearer tokens still work.
    pub session: Option<String>,
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

/// A document's `auth.sessions.<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    pub name: String,
    /// The issuer (by name in `auth.issuers`, with `discovery`) that logs users in.
    pub issuer: String,
    pub client_id: String,
    pub client_secret_var: String,
    pub scopes: Vec<String>,
    pub callback_path: String,
    pub logout_path: String,
    /// Where a browser goes after logging out (a path of the gateway, or a URL).
    pub after_logout: String,
    /// The session cookie (default `__Host-session`); the login in progress uses `<cookie>-login`.
    pub cookie: String,
    /// Name of the secret holding the 32-byte AES key (base64url).
    pub key_var: String,
    /// Refresh the access token when it expires within this many seconds.
    pub refresh_before_s: u64,
    /// Longest a session lasts, refreshes included.
    pub max_age_s: u64,
}

/// An issuer's OAuth2 flows for the OpenAPI document: client credentials at `token_url`, and
/// authorization code when `authorization_url` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Flows {
    pub token_url: String,
    pub authorization_url: Option<String>,
    /// Scope → description.
    pub scopes: Vec<(String, String)>,
}
