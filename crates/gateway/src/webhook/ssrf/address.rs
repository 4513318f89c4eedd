//! Which IP addresses a callback may reach.
//!
//! Written out as tables rather than std's `is_global` (unstable) so the exact set is
//! reviewable. IPv4 is a deny-list (the space is fully allocated). IPv6 is an allow-list
//! of 2000::/3 global unicast minus special ranges, so unallocated or future special space
//! is refused by default; addresses that embed an IPv4 (NAT64, 6to4) are judged by it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::SsrfError;

/// How reachable an address is, which decides what a policy permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AddressClass {
    /// Publicly routable.
    Global,
    /// Loopback and RFC 1918 / unique-local: only for a local receiver in dev/test.
    Private,
    /// Never: unspecified, link-local (instance metadata), multicast, reserved, ...
    Forbidden,
}

use AddressClass::{Forbidden, Global, Private};

const V4_RANGES: &[(Ipv4Addr, u32, AddressClass)] = &[
    // "This network"; on Linux 0.0.0.0 also reaches local listeners.
    (Ipv4Addr::new(0, 0, 0, 0), 8, Forbidden),
    (Ipv4Addr::new(10, 0, 0, 0), 8, Private),
    // Carrier-grade NAT: provider-internal, not a local dev receiver either.
    (Ipv4Addr::new(100, 64, 0, 0), 10, Forbidden),
    (Ipv4Addr::new(127, 0, 0, 0), 8, Private),
    // Link-local, including 169.254.169.254 (EC2/ECS/Lambda metadata and credentials).
    (Ipv4Addr::new(169, 254, 0, 0), 16, Forbidden),
    (Ipv4Addr::new(172, 16, 0, 0), 12, Private),
    (Ipv4Addr::new(192, 0, 0, 0), 24, Forbidden),
    (Ipv4Addr::new(192, 0, 2, 0), 24, Forbidden),
    // Deprecated 6to4 relay anycast.
    (Ipv4Addr::new(192, 88, 99, 0), 24, Forbidden),
    (Ipv4Addr::new(192, 168, 0, 0), 16, Private),
    (Ipv4Addr::new(198, 18, 0, 0), 15, Forbidden),
    (Ipv4Addr::new(198, 51, 100, 0), 24, Forbidden),
    (Ipv4Addr::new(203, 0, 113, 0), 24, Forbidden),
    (Ipv4Addr::new(224, 0, 0, 0), 4, Forbidden),
    // Reserved, including the 255.255.255.255 broadcast.
    (Ipv4Addr::new(240, 0, 0, 0), 4, Forbidden),
];

/// What to do with an IPv6 range; first matching row wins, so specific rows come first.
#[derive(Clone, Copy)]
enum V6Rule {
    Class(AddressClass),
    /// RFC 6052 NAT64 (64:ff9b::/96): the low 32 bits are the IPv4 really contacted.
    Nat64,
    /// 6to4 (2002::/16): bits 16..48 are the IPv4 of the tunnel endpoint.
    SixToFour,
}

const fn v6(segments: [u16; 8]) -> Ipv6Addr {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Addr::new(a, b, c, d, e, f, g, h)
}

const V6_RANGES: &[(Ipv6Addr, u32, V6Rule)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0]), 128, V6Rule::Class(Forbidden)),
    (v6([0, 0, 0, 0, 0, 0, 0, 1]), 128, V6Rule::Class(Private)),
    // IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96) and IPv4-translated
    // (::ffff:0:0:0/96) are refused outright whatever IPv4 they carry: a public receiver
    // never publishes them, and refusing is simpler to trust than re-deriving the IPv4.
    (
        v6([0, 0, 0, 0, 0, 0xffff, 0, 0]),
        96,
        V6Rule::Class(Forbidden),
    ),
    (v6([0, 0, 0, 0, 0, 0, 0, 0]), 96, V6Rule::Class(Forbidden)),
    (
        v6([0, 0, 0, 0, 0xffff, 0, 0, 0]),
        96,
        V6Rule::Class(Forbidden),
    ),
    // NAT64 is how IPv6-only subnets reach IPv4 hosts, so judge the embedded address.
    (v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0]), 96, V6Rule::Nat64),
    // Local-use NAT64 (RFC 8215): operator-defined, could translate to anything.
    (
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0]),
        48,
        V6Rule::Class(Forbidden),
    ),
    // Discard-only (RFC 6666).
    (
        v6([0x100, 0, 0, 0, 0, 0, 0, 0]),
        64,
        V6Rule::Class(Forbidden),
    ),
    // AWS link-local services inside fc00::/7: metadata fd00:ec2::254, DNS ::253, NTP ::123.
    // Forbidden even when private addresses are allowed, like 169.254.0.0/16.
    (
        v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0]),
        32,
        V6Rule::Class(Forbidden),
    ),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0]), 7, V6Rule::Class(Private)),
    (
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]),
        10,
        V6Rule::Class(Forbidden),
    ),
    // Deprecated site-local.
    (
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0]),
        10,
        V6Rule::Class(Forbidden),
    ),
    (
        v6([0xff00, 0, 0, 0, 0, 0, 0, 0]),
        8,
        V6Rule::Class(Forbidden),
    ),
    (
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]),
        32,
        V6Rule::Class(Forbidden),
    ),
    // IETF protocol assignments: Teredo (2001::/32), benchmarking, ORCHID, ...
    (
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0]),
        23,
        V6Rule::Class(Forbidden),
    ),
    (v6([0x2002, 0, 0, 0, 0, 0, 0, 0]), 16, V6Rule::SixToFour),
    // Documentation (RFC 9637).
    (
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0]),
        20,
        V6Rule::Class(Forbidden),
    ),
    // Global unicast; everything outside it that no row above names is refused.
    (v6([0x2000, 0, 0, 0, 0, 0, 0, 0]), 3, V6Rule::Class(Global)),
];

/// Refuses every address that is not publicly routable. Strict: no dev exceptions.
pub fn vet_address(ip: IpAddr) -> Result<(), SsrfError> {
    match classify(ip) {
        Global => Ok(()),
        Private | Forbidden => Err(SsrfError::ForbiddenAddress(ip)),
    }
}

pub(super) fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let bits = ip.to_bits();
    V4_RANGES
        .iter()
        .find(|(net, len, _)| prefix_match_v4(bits, net.to_bits(), *len))
        .map_or(Global, |(_, _, class)| *class)
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let bits = ip.to_bits();
    let rule = V6_RANGES
        .iter()
        .find(|(net, len, _)| prefix_match_v6(bits, net.to_bits(), *len))
        .map(|(_, _, rule)| *rule);
    match rule {
        Some(V6Rule::Class(class)) => class,
        // Truncating casts pick out the embedded 32 bits.
        Some(V6Rule::Nat64) => embedded(Ipv4Addr::from_bits(bits as u32)),
        Some(V6Rule::SixToFour) => embedded(Ipv4Addr::from_bits((bits >> 80) as u32)),
        None => Forbidden,
    }
}

/// An IPv4 reached through IPv6 translation must be public; a tunnel to loopback or a VPC
/// address is not a "local dev receiver", so non-global becomes Forbidden.
fn embedded(v4: Ipv4Addr) -> AddressClass {
    match classify_v4(v4) {
        Global => Global,
        Private | Forbidden => Forbidden,
    }
}

fn prefix_match_v4(addr: u32, net: u32, len: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    addr & mask == net & mask
}

fn prefix_match_v6(addr: u128, net: u128, len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    addr & mask == net & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> AddressClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn every_listed_ipv4_range_is_refused_at_both_ends() {
        let refused = [
            "0.0.0.0",
            "0.255.255.255",
            "10.0.0.0",
            "10.255.255.255",
            "100.64.0.0",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.255",
            "169.254.0.0",
            "169.254.169.254",
            "169.254.255.255",
            "172.16.0.0",
            "172.31.255.255",
            "192.0.0.0",
            "192.0.0.255",
            "192.0.2.0",
            "192.0.2.255",
            "192.88.99.0",
            "192.88.99.255",
            "192.168.0.0",
            "192.168.255.255",
            "198.18.0.0",
            "198.19.255.255",
            "198.51.100.0",
            "198.51.100.255",
            "203.0.113.0",
            "203.0.113.255",
            "224.0.0.0",
            "239.255.255.255",
            "240.0.0.0",
            "255.255.255.255",
        ];
        for ip in refused {
            assert!(vet_address(ip.parse().unwrap()).is_err(), "{ip}");
        }
    }

    #[test]
    fn ipv4_neighbours_of_special_ranges_are_public() {
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.88.98.255",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "203.0.112.255",
            "223.255.255.255",
        ];
        for ip in public {
            assert!(vet_address(ip.parse().unwrap()).is_ok(), "{ip}");
        }
    }

    #[test]
    fn every_listed_ipv6_range_is_refused() {
        let refused = [
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "::8.8.8.8",
            "::ffff:0:7f00:1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::a00:5",
            "64:ff9b:1::8.8.8.8",
            "100::1",
            "fc00::1",
            "fd12:3456::1",
            "fd00:ec2::254",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:1ff::1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:101::1",
            "3fff::1",
            "4000::1",
            "5f00::1",
            "e000::1",
            "1000::1",
        ];
        for ip in refused {
            assert!(vet_address(ip.parse().unwrap()).is_err(), "{ip}");
        }
    }

    #[test]
    fn public_ipv6_and_public_embedded_ipv4_pass() {
        let public = [
            "2606:2800:220:1:248:1893:25c8:1946",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2001:200::1",
            "2a05:d018::1",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ];
        for ip in public {
            assert!(vet_address(ip.parse().unwrap()).is_ok(), "{ip}");
        }
    }

    #[test]
    fn private_class_is_loopback_and_rfc1918_and_ula_only() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "::1",
            "fd12::1",
        ] {
            assert_eq!(class(ip), Private, "{ip}");
        }
        // Metadata and unspecified addresses stay forbidden even for local dev.
        for ip in [
            "169.254.169.254",
            "fd00:ec2::254",
            "0.0.0.0",
            "::",
            "::ffff:127.0.0.1",
        ] {
            assert_eq!(class(ip), Forbidden, "{ip}");
        }
    }
}
