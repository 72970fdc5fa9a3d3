//! Server-side request forgery: URLs in values that point at the cloud's metadata service, the
//! machine itself or its private network, however the address is written (decimal, hex, octal,
//! IPv6-mapped, credentials before the host), and schemes no API parameter needs.

use std::net::{IpAddr, Ipv4Addr};

use super::normalize::{contains_any, has_word, Present};

pub const METADATA: u32 = 935100;
pub const LOOPBACK: u32 = 935110;
pub const OBFUSCATED_ADDRESS: u32 = 935120;
pub const SCHEME: u32 = 935130;
pub const PRIVATE: u32 = 935140;

const METADATA_HOSTS: &[&str] = &[
    "169.254.169.254",
    "metadata.google.internal",
    "metadata.goog",
    "100.100.100.200",
    "fd00:ec2::254",
    "169.254.170.2",
    "metadata.azure.com",
    "instance-data",
];
const SCHEMES: &[&str] = &[
    "gopher://",
    "dict://",
    "ldap://",
    "ldaps://",
    "tftp://",
    "jar:",
    "netdoc://",
    "sftp://",
    "smb://",
    "expect://",
    "rmi://",
    "iiop://",
];

/// URLs and addresses in a folded value.
pub fn detect(folded: &str, hits: &mut Vec<u32>) {
    let present = Present::of(folded);
    if !present.any(b".:/-") {
        return;
    }
    let metadata_words = ["169", "metadata", "100", "fd00", "instance"];
    if has_word(folded, &metadata_words) && contains_any(folded, METADATA_HOSTS) {
        hits.push(METADATA);
    }
    if present.any(b":") && contains_any(folded, SCHEMES) {
        hits.push(SCHEME);
    }
    for (at, _) in folded.match_indices("//") {
        let authority = folded[at + 2..]
            .split(['/', '?', '#', ' ', '"', '\'', '\\'])
            .next()
            .unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or(authority);
        let host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => host_port.split(':').next().unwrap_or(host_port),
        };
        classify(host, hits);
    }
}

fn classify(host: &str, hits: &mut Vec<u32>) {
    if host.is_empty() {
        return;
    }
    let named_loopback = host == "localhost"
        || host.ends_with(".localhost")
        || host.ends_with("localtest.me")
        || ((host.ends_with(".nip.io") || host.ends_with(".sslip.io")) && host.starts_with("127."));
    if named_loopback {
        hits.push(LOOPBACK);
        return;
    }
    let (address, obfuscated) = match host.parse::<IpAddr>() {
        Ok(ip) => (Some(ip), false),
        Err(_) => (ipv4_loose(host).map(IpAddr::V4), true),
    };
    let Some(ip) = address else { return };
    if obfuscated {
        hits.push(OBFUSCATED_ADDRESS);
    }
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) if v4.octets()[..2] == [169, 254] => hits.push(METADATA),
        IpAddr::V4(v4) if v4.is_loopback() || v4.is_unspecified() => hits.push(LOOPBACK),
        IpAddr::V4(v4)
            if v4.is_private() || v4.octets()[0] == 100 && v4.octets()[1] & 0xc0 == 64 =>
        {
            hits.push(PRIVATE)
        }
        IpAddr::V6(v6) if v6.is_loopback() || v6.is_unspecified() => hits.push(LOOPBACK),
        IpAddr::V6(v6)
            if v6.segments()[0] & 0xfe00 == 0xfc00 || v6.segments()[0] & 0xffc0 == 0xfe80 =>
        {
            hits.push(PRIVATE)
        }
        _ => {}
    }
}

/// The IPv4 forms `inet_aton` accepts and URL parsers pass on: one to four parts, each
/// decimal, `0x` hex or `0` octal (`2130706433`, `0x7f.1`, `0177.0.0.01`, `127.1`).
fn ipv4_loose(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let values: Vec<u64> = parts
        .iter()
        .map(|p| {
            if let Some(hex) = p.strip_prefix("0x") {
                u64::from_str_radix(hex, 16).ok()
            } else if p.len() > 1 && p.starts_with('0') {
                u64::from_str_radix(p, 8).ok()
            } else if !p.is_empty() && p.len() <= 10 {
                p.parse().ok()
            } else {
                None
            }
        })
        .collect::<Option<_>>()?;
    let (last, head) = values.split_last()?;
    if head.iter().any(|v| *v > 255) {
        return None;
    }
    let room = 8 * (4 - head.len() as u32);
    if room < 64 && *last >= 1u64 << room {
        return None;
    }
    let mut n: u64 = 0;
    for (i, v) in head.iter().enumerate() {
        n |= v << (24 - 8 * i);
    }
    u32::try_from(n | last).ok().map(Ipv4Addr::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(value: &str) -> Vec<u32> {
        let mut hits = Vec::new();
        detect(value, &mut hits);
        hits.sort_unstable();
        hits.dedup();
        hits
    }

    #[test]
    fn internal_targets_however_written() {
        assert!(rules("http://169.254.169.254/latest/meta-data/").contains(&METADATA));
        assert!(rules("http://metadata.google.internal/computemetadata/v1/").contains(&METADATA));
        assert!(rules("http://127.0.0.1:8080/admin").contains(&LOOPBACK));
        assert!(rules("http://localhost/").contains(&LOOPBACK));
        assert!(rules("http://[::1]/").contains(&LOOPBACK));
        assert!(rules("http://[::ffff:127.0.0.1]/").contains(&LOOPBACK));
        assert!(rules("http://2130706433/").contains(&OBFUSCATED_ADDRESS));
        assert!(rules("http://0x7f000001/").contains(&LOOPBACK));
        assert!(rules("http://0177.0.0.1/").contains(&LOOPBACK));
        assert!(rules("http://127.1/").contains(&LOOPBACK));
        assert!(rules("http://2852039166/").contains(&METADATA));
        assert!(rules("http://user@evil.example@127.0.0.1/").contains(&LOOPBACK));
        assert!(rules("gopher://x:70/_stats").contains(&SCHEME));
        assert!(rules("http://10.0.0.5/internal").contains(&PRIVATE));
        assert!(rules("http://0.0.0.0:22").contains(&LOOPBACK));
    }

    #[test]
    fn public_urls_pass() {
        for benign in [
            "https://example.com/a?b=c",
            "https://api.example.org:8443/v1",
            "see https://8.8.8.8/ for dns",
            "version 1.2.3",
            "https://cdn.example/img/1.2.png",
        ] {
            assert_eq!(rules(benign), Vec::<u32>::new(), "{benign} refused");
        }
    }
}
