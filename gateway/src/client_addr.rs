//! Who a request comes from, for limits: the peer's address, or — only when the peer is one of the
//! operator's trusted proxies — the address that proxy says it forwards for (`X-Forwarded-For`);
//! and the key an address is limited under (IPv6 per /64, the block one subscriber gets).
//!
//! `X-Forwarded-For` is read from the right: each proxy appends the address it received the
//! request from, so the rightmost entries are written by our own proxies and anything to their
//! left may be written by the client. The walk starts at the peer and steps left only while the
//! current hop is trusted; the first untrusted address is the client. A header from an untrusted
//! peer is ignored, so a client cannot choose the address it is limited under; a malformed entry
//! stops the walk at the trusted proxy that forwarded it.

use axum::http::HeaderMap;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

/// The forwarding header trusted proxies set.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// Most `X-Forwarded-For` entries walked (a longer chain of trusted proxies is not believed).
const MAX_HOPS: usize = 16;

/// An address block: `10.0.0.0/8`, `::1/128`, or a bare address (one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

/// A trusted-proxy entry that is not an address or a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or block (e.g. 10.0.0.0/8, fd00::/8, 127.0.0.1)")]
pub struct BadCidr(pub String);

impl FromStr for Cidr {
    type Err = BadCidr;

    fn from_str(s: &str) -> Result<Cidr, BadCidr> {
        let bad = || BadCidr(s.to_owned());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s.trim(), None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr {
            net: mask(net, prefix),
            prefix,
        })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

impl Cidr {
    /// Whether `ip` is in this block (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.net.is_ipv4() && mask(ip, self.prefix) == self.net
    }
}

/// The operator's proxies, whose `X-Forwarded-For` is believed. Empty by default: then every
/// request is limited under its peer's address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Parses a list of blocks (`LOH_TRUSTED_PROXIES`); empty entries are skipped.
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<TrustedProxies, BadCidr> {
        list.iter()
            .map(AsRef::as_ref)
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(ip))
    }

    /// The client's address of a request that arrived from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        // Every header line, in order, as one list; walked from its right end.
        let entries: Vec<&str> = headers
            .get_all(FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        let mut current = peer;
        for entry in entries.iter().rev().take(MAX_HOPS) {
            if !self.trusts(current) {
                break;
            }
            match entry.trim().parse::<IpAddr>() {
                Ok(ip) => current = canonical(ip),
                Err(_) => break,
            }
        }
        current
    }
}

/// The key an address is limited under: an IPv4 address itself, an IPv6 address's /64 (one
/// subscriber's block: a client holding a /64 would otherwise have 2^64 keys).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        v6 => mask(v6, 64),
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, what a dual-stack socket reports) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// `ip` with all but its first `prefix` bits cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(FORWARDED_FOR, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    #[test]
    fn blocks_parse_and_contain_their_addresses() {
        let block: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(block.to_string(), "10.0.0.0/8");
        assert!(block.contains(ip("10.255.0.1")));
        assert!(!block.contains(ip("11.0.0.1")));
        assert!(block.contains(ip("::ffff:10.0.0.9")), "IPv4-mapped");
        let host: Cidr = "fd00::1".parse().unwrap();
        assert!(host.contains(ip("fd00::1")) && !host.contains(ip("fd00::2")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        assert!(!"0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/x",
            "10.0.0.0/+8",
            "host",
            "1.2.3",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
        assert_eq!(
            TrustedProxies::parse(&["10.0.0.0/8", "nope"]),
            Err(BadCidr("nope".into()))
        );
    }

    #[test]
    fn the_header_of_an_untrusted_peer_is_ignored() {
        let none = TrustedProxies::default();
        let spoofed = forwarded(&["1.1.1.1"]);
        assert_eq!(none.client(ip("203.0.113.7"), &spoofed), ip("203.0.113.7"));
        let proxies = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        assert_eq!(
            proxies.client(ip("203.0.113.7"), &spoofed),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_hop_from_the_right_is_the_client() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8", "fd00::/8"]).unwrap();
        // The client wrote "6.6.6.6" itself; the edge proxy appended the client's real address.
        let headers = forwarded(&["6.6.6.6, 198.51.100.4", "10.0.0.2"]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &headers), ip("198.51.100.4"));
        // Only proxies all the way: the leftmost address is the client.
        let headers = forwarded(&["10.0.0.3, 10.0.0.2"]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &headers), ip("10.0.0.3"));
        // No header: the proxy itself.
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        // A malformed entry stops at the proxy that forwarded it.
        let headers = forwarded(&["1.2.3.4, garbage"]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &headers), ip("10.0.0.1"));
        // IPv6 and IPv4-mapped peers.
        let headers = forwarded(&["2001:db8::7"]);
        assert_eq!(proxies.client(ip("fd00::1"), &headers), ip("2001:db8::7"));
        let headers = forwarded(&["198.51.100.9"]);
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.1"), &headers),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn ipv6_addresses_are_limited_per_64_and_ipv4_per_address() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            limit_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            limit_key(ip("2001:db8:1:2::1"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:3::1")),
            limit_key(ip("2001:db8:1:2::1"))
        );
        assert_eq!(limit_key(ip("198.51.100.4")), ip("198.51.100.4"));
        assert_eq!(limit_key(ip("::ffff:198.51.100.4")), ip("198.51.100.4"));
    }
}
