//! IP address ranges in CIDR notation, IPv4 and IPv6.

use std::net::IpAddr;

/// One range: an address and how many leading bits must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `2001:db8::/32`, or a single address (a full-length prefix).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("'{text}' is not an IPv4 or IPv6 address or range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && !p.starts_with('+') => n,
                _ => return Err(format!("'{text}' has a prefix length outside 0-{max}")),
            },
        };
        Ok(Self { network, prefix })
    }

    /// Whether `address` is in the range. IPv4-mapped IPv6 addresses match IPv4 ranges.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                same_prefix(&net.octets(), &addr.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                same_prefix(&net.octets(), &addr.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn same_prefix(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn ipv4_ranges() {
        let net = Cidr::parse("10.20.0.0/14").expect("valid");
        assert!(net.contains(ip("10.23.255.255")));
        assert!(!net.contains(ip("10.24.0.0")));
        assert!(Cidr::parse("0.0.0.0/0")
            .expect("valid")
            .contains(ip("203.0.113.9")));
        let one = Cidr::parse("203.0.113.5").expect("valid");
        assert!(one.contains(ip("203.0.113.5")) && !one.contains(ip("203.0.113.6")));
        assert!(net.contains(ip("::ffff:10.21.0.1")), "IPv4-mapped IPv6");
        assert!(!net.contains(ip("2001:db8::1")));
    }

    #[test]
    fn ipv6_ranges() {
        let net = Cidr::parse("2001:db8:abcd::/47").expect("valid");
        assert!(net.contains(ip("2001:db8:abcd:1::1")));
        assert!(!net.contains(ip("2001:db8:abce::1")));
        assert!(!net.contains(ip("10.0.0.1")));
        assert!(Cidr::parse("::/0").expect("valid").contains(ip("::1")));
    }

    #[test]
    fn bad_ranges_are_refused() {
        for bad in [
            "10.0.0.0/33",
            "2001:db8::/129",
            "10.0.0/8",
            "hello",
            "10.0.0.0/+8",
            "10.0.0.0/",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
