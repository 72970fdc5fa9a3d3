//! Authentication: JWTs (inline keys, JWKS, OpenID Connect discovery), opaque tokens by
//! introspection, and API keys.

pub mod api_key;
pub mod authenticate;
pub mod basic;
pub mod certificate;
pub mod claims;
pub mod client;
pub mod client_credentials;
pub mod config;
pub mod discovery;
pub mod introspection;
pub mod jwks;
pub mod keys;
pub mod session;
pub mod settings;
pub mod shared;
pub mod signature;

pub use jwks::JwksSettings;
pub use settings::{
    AuthSettings, Issuer, Mode, OAuth2Flows, RouteAuth, SessionSettings, DEFAULT_API_KEY_HEADER,
};
