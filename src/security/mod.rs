//! Edge security policies, applied right after routing and before authentication: IP allow and
//! deny lists, request size limits, and CORS (preflights answered here, actual requests checked
//! and annotated).

pub mod cidr;
pub mod config;
pub mod cors;
pub mod limits;

use std::net::IpAddr;

use cidr::Cidr;
use cors::CorsPolicy;

/// The `security` settings that apply to a route: its own, or else the document's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityPolicy {
    pub cors: Option<CorsPolicy>,
    pub ip: Option<IpPolicy>,
    pub limits: Option<Limits>,
}

/// Request size limits below the gateway's own (32 KiB and 100 header fields).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Largest body by `Content-Length` (413); bodies without one get 411.
    pub max_body_bytes: Option<u64>,
    /// Largest total of header names and values (431).
    pub max_header_bytes: Option<usize>,
    /// Most header fields (431).
    pub max_headers: Option<usize>,
}

/// Which client addresses (`CF-Connecting-IP`) may call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpPolicy {
    /// When not empty, only these ranges.
    pub allow: Vec<Cidr>,
    /// Never these ranges (checked first).
    pub deny: Vec<Cidr>,
}

impl IpPolicy {
    /// Whether a client at `address` may call; an unknown or unreadable address may not when an
    /// allow list exists.
    pub fn admits(&self, address: Option<&str>) -> bool {
        let parsed = address.and_then(|a| a.trim().parse::<IpAddr>().ok());
        match parsed {
            Some(ip) if self.deny.iter().any(|c| c.contains(ip)) => false,
            Some(ip) => self.allow.is_empty() || self.allow.iter().any(|c| c.contains(ip)),
            None => self.allow.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_wins_and_allow_lists_close_everything_else() {
        let policy = IpPolicy {
            allow: vec![
                Cidr::parse("10.0.0.0/8").expect("v4"),
                Cidr::parse("2001:db8::/32").expect("v6"),
            ],
            deny: vec![Cidr::parse("10.6.6.6").expect("one")],
        };
        assert!(policy.admits(Some("10.1.2.3")));
        assert!(policy.admits(Some("2001:db8::5")));
        assert!(!policy.admits(Some("10.6.6.6")));
        assert!(!policy.admits(Some("192.0.2.1")));
        assert!(!policy.admits(None));
        assert!(!policy.admits(Some("not an ip")));
        let deny_only = IpPolicy {
            allow: vec![],
            deny: vec![Cidr::parse("192.0.2.0/24").expect("v4")],
        };
        assert!(deny_only.admits(None));
        assert!(!deny_only.admits(Some("192.0.2.77")));
    }
}
