//! IP allowlists and the client address they are checked against.
//!
//! This module owns two decisions: whether a client IP falls in an agent's or token's CIDR
//! allowlist (and whether one allowlist lies within another, for tokens narrower than their
//! agent), and which IP a request comes from when it passes through trusted proxies such as
//! the load balancer.
//!
//! Addresses are compared in canonical form: an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`,
//! which a dual-stack socket reports for an IPv4 peer) is the IPv4 address, and an
//! allowlist entry inside `::ffff:0:0/96` is stored as the IPv4 range it maps.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Most entries one allowlist may hold.
pub const MAX_ENTRIES: usize = 256;

/// Longest excerpt of an entry quoted back in an error message, in characters.
const QUOTE_CHARS: usize = 64;

/// Why an allowlist is refused; the message names the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowlistError {
    /// One entry is not an IP address or CIDR range.
    #[error("IP allowlist entry {entry:?} is not an IP address or CIDR range: {reason}; write e.g. `10.0.1.100`, `172.16.0.0/12` or `2001:db8::/32`")]
    BadEntry {
        /// The entry as given (cut to a bounded length).
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// More than [`MAX_ENTRIES`] entries.
    #[error("IP allowlist has {count} entries; the limit is {MAX_ENTRIES}")]
    TooMany {
        /// How many entries were given.
        count: usize,
    },
}

fn quote(s: &str) -> String {
    s.chars().take(QUOTE_CHARS).collect()
}

/// An IPv6 range inside `::ffff:0:0/96` becomes the IPv4 range it maps; anything else is
/// returned as is (truncated to its network address).
fn canonical_net(net: IpNet) -> IpNet {
    let net = net.trunc();
    if let IpNet::V6(v6) = net {
        if let (Some(v4), Some(len)) = (v6.addr().to_ipv4_mapped(), v6.prefix_len().checked_sub(96))
        {
            if let Ok(n) = Ipv4Net::new(v4, len) {
                return IpNet::V4(n.trunc());
            }
        }
    }
    net
}

/// Parses one entry: `a.b.c.d`, `a.b.c.d/n`, an IPv6 address, or `ipv6/n`.
fn parse_entry(entry: &str) -> Result<IpNet, AllowlistError> {
    let bad = |reason: String| AllowlistError::BadEntry { entry: quote(entry), reason };
    if entry.is_empty() {
        return Err(bad("the entry is empty".into()));
    }
    if entry.chars().any(char::is_whitespace) {
        return Err(bad("it contains whitespace".into()));
    }
    let (addr_str, prefix_str) = match entry.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (entry, None),
    };
    let addr: IpAddr =
        addr_str.parse().map_err(|_| bad(format!("{:?} is not an IP address", quote(addr_str))))?;
    let max = match addr {
        IpAddr::V4(_) => 32u8,
        IpAddr::V6(_) => 128u8,
    };
    let prefix = match prefix_str {
        None => max,
        Some(p) => {
            let not_a_length =
                || bad(format!("prefix length {:?} is not a number from 0 to {max}", quote(p)));
            // No leading zero (`/08`, `/030`): ipnet and std refuse it in addresses too, and
            // a reader may take `/010` for octal. Found by the `allowlist` fuzz target.
            if p.is_empty()
                || p.len() > 3
                || !p.bytes().all(|b| b.is_ascii_digit())
                || (p.len() > 1 && p.starts_with('0'))
            {
                return Err(not_a_length());
            }
            match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(not_a_length()),
            }
        }
    };
    let net = IpNet::new(addr, prefix)
        .map_err(|_| bad(format!("prefix length {prefix} is above {max}")))?;
    Ok(canonical_net(net))
}

/// A CIDR allowlist. Empty means no restriction.
///
/// Entries are kept in the order given, as network addresses (`10.0.1.5/24` is stored as
/// `10.0.1.0/24`), without exact duplicates. Serde reads and writes the list of strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Allowlist(Vec<IpNet>);

impl Allowlist {
    /// The allowlist that allows every address.
    pub fn unrestricted() -> Allowlist {
        Allowlist(Vec::new())
    }

    /// Parses CIDR ranges (IPv4 or IPv6). A bare address means a single host (`/32` or
    /// `/128`); host bits are cleared (`10.0.1.5/24` → `10.0.1.0/24`); an empty list means
    /// no restriction. Refuses more than [`MAX_ENTRIES`] entries; the first bad entry is
    /// named in the error.
    pub fn parse(entries: &[String]) -> Result<Allowlist, AllowlistError> {
        if entries.len() > MAX_ENTRIES {
            return Err(AllowlistError::TooMany { count: entries.len() });
        }
        let mut nets: Vec<IpNet> = Vec::with_capacity(entries.len());
        for e in entries {
            let net = parse_entry(e)?;
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        Ok(Allowlist(nets))
    }

    /// The ranges, in order (empty when unrestricted).
    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }

    /// Whether this allowlist places no restriction (it is empty).
    pub fn is_unrestricted(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` may use the credential: always when unrestricted, otherwise when some
    /// range contains it. `::ffff:a.b.c.d` is judged as `a.b.c.d`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.is_unrestricted() {
            return true;
        }
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether every address `self` allows is allowed by `outer`: every range of `self` lies
    /// inside some range of `outer`. Anything is within an unrestricted `outer`; an
    /// unrestricted `self` is within an unrestricted `outer` only.
    pub fn is_within(&self, outer: &Allowlist) -> bool {
        if outer.is_unrestricted() {
            return true;
        }
        if self.is_unrestricted() {
            return false;
        }
        self.0.iter().all(|inner| outer.0.iter().any(|o| o.contains(inner)))
    }

    /// The ranges as canonical strings, e.g. `10.0.1.100/32`.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(IpNet::to_string).collect()
    }
}

impl fmt::Display for Allowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_unrestricted() {
            return f.write_str("(unrestricted)");
        }
        f.write_str(&self.to_strings().join(","))
    }
}

impl Serialize for Allowlist {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_strings().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Allowlist {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = Vec::<String>::deserialize(deserializer)?;
        Allowlist::parse(&v).map_err(serde::de::Error::custom)
    }
}

/// One `X-Forwarded-For` hop: an address, optionally with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`), with optional spaces or tabs around it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim_matches([' ', '\t']);
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The header a trusted proxy writes the client chain in (`[auth] forwarded_header`). Only
/// that one is believed: a client behind a proxy that appends `X-Forwarded-For` could write a
/// `Forwarded` header of its own, and the reverse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (haproxy `option forwardfor`, nginx, most
    /// balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https, for=proxy1` (Envoy, some CDNs).
    Forwarded,
}

impl ForwardedHeader {
    /// The header's name, lower case.
    pub fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

/// Every hop of every line of a forwarding header, in order: repeated lines of one header
/// are one list (RFC 9110, 5.3), so the lines are read as if joined with `,`. A hop that is
/// not an address (empty, `unknown`, an obfuscated `_name`, a `Forwarded` element with no
/// `for=`, a line that is not text: `None`) is kept as `None`, where a walk must stop.
pub fn forwarded_hops<'a>(
    header: ForwardedHeader,
    lines: impl IntoIterator<Item = Option<&'a str>>,
) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for line in lines {
        let Some(line) = line else {
            hops.push(None);
            continue;
        };
        for element in line.split(',') {
            hops.push(match header {
                ForwardedHeader::XForwardedFor => parse_hop(element),
                ForwardedHeader::Forwarded => forwarded_for(element),
            });
        }
    }
    hops
}

/// The `for=` of one RFC 7239 element (`for=192.0.2.60;proto=http`, `for="[2001:db8::1]:443"`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim_matches([' ', '\t']).eq_ignore_ascii_case("for").then_some(value)
    })?;
    let value = value.trim_matches([' ', '\t']);
    let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
    parse_hop(value)
}

/// The IP a request comes from, given the hops of its forwarding header (see
/// [`forwarded_hops`]; empty when the request has none).
///
/// When the socket peer is not in `trusted_proxies`, that is the peer's IP and the header is
/// ignored (anyone can send one). When the peer is a trusted proxy, the hops are walked from
/// the right (each proxy appends the address it saw), past hops that are themselves trusted
/// proxies, and the first untrusted hop is the client. Entries to the left of it were written
/// by the client and are never believed. When there are no hops, every hop is a trusted
/// proxy, or the walk meets a hop that is not an address before an untrusted hop, the answer
/// is the peer's IP: the walk never guesses past something it can't read. The peer is then a
/// trusted proxy, so an allowlist that names the proxies' own addresses would admit such a
/// request; allowlists should name clients.
pub fn client_ip_from_hops(
    peer: SocketAddr,
    hops: &[Option<IpAddr>],
    trusted_proxies: &[IpNet],
) -> IpAddr {
    let peer_ip = peer.ip().to_canonical();
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| canonical_net(*net).contains(ip));
    if !trusted(&peer_ip) {
        return peer_ip;
    }
    for hop in hops.iter().rev() {
        let Some(ip) = hop else {
            return peer_ip;
        };
        if !trusted(ip) {
            return *ip;
        }
    }
    peer_ip
}

/// [`client_ip_from_hops`] for one `X-Forwarded-For` value (a request carrying the header
/// more than once: its lines joined with `,` in order).
pub fn client_ip(
    peer: SocketAddr,
    forwarded_for: Option<&str>,
    trusted_proxies: &[IpNet],
) -> IpAddr {
    let hops = forwarded_hops(ForwardedHeader::XForwardedFor, forwarded_for.map(Some));
    client_ip_from_hops(peer, &hops, trusted_proxies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn list(items: &[&str]) -> Allowlist {
        let v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        match Allowlist::parse(&v) {
            Ok(a) => a,
            Err(e) => panic!("{items:?}: {e}"),
        }
    }

    fn ip(s: &str) -> IpAddr {
        match s.parse() {
            Ok(ip) => ip,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn net(s: &str) -> IpNet {
        match s.parse() {
            Ok(n) => n,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn sock(s: &str) -> SocketAddr {
        match s.parse() {
            Ok(a) => a,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn parse_err(entry: &str) -> AllowlistError {
        match Allowlist::parse(&[entry.to_string()]) {
            Ok(a) => panic!("{entry:?} should be refused, got {a:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn guide_allowlist_parses() {
        let a = list(&["10.0.1.100/32", "10.0.1.101/32", "172.16.0.0/12"]);
        assert_eq!(a.to_strings(), vec!["10.0.1.100/32", "10.0.1.101/32", "172.16.0.0/12"]);
        assert!(!a.is_unrestricted());
        assert!(a.allows(ip("10.0.1.100")));
        assert!(a.allows(ip("10.0.1.101")));
        assert!(!a.allows(ip("10.0.1.102")));
        assert!(a.allows(ip("172.16.0.1")));
        assert!(a.allows(ip("172.31.255.255")));
        assert!(!a.allows(ip("172.32.0.0")));
        assert!(!a.allows(ip("8.8.8.8")));
        assert!(!a.allows(ip("2001:db8::1")));
    }

    #[test]
    fn bare_addresses_and_host_bits() {
        let a = list(&["10.0.0.1", "2001:db8::1", "10.0.1.5/24", "2001:db8:1::5/48"]);
        assert_eq!(
            a.to_strings(),
            vec!["10.0.0.1/32", "2001:db8::1/128", "10.0.1.0/24", "2001:db8:1::/48"]
        );
        assert!(a.allows(ip("10.0.1.200")));
        assert!(a.allows(ip("2001:db8:1:ffff::1")));
        assert!(!a.allows(ip("2001:db8::2")));
        assert!(!a.allows(ip("10.0.0.2")));
    }

    #[test]
    fn duplicates_are_dropped_after_normalizing() {
        let a = list(&["10.0.1.5/24", "10.0.1.0/24", "10.0.1.9/24", "::ffff:10.0.1.0/120"]);
        assert_eq!(a.to_strings(), vec!["10.0.1.0/24"]);
    }

    #[test]
    fn empty_list_is_unrestricted() {
        let a = list(&[]);
        assert!(a.is_unrestricted());
        assert_eq!(a, Allowlist::unrestricted());
        assert_eq!(a, Allowlist::default());
        assert!(a.allows(ip("1.2.3.4")));
        assert!(a.allows(ip("::1")));
        assert!(a.to_strings().is_empty());
        assert_eq!(a.to_string(), "(unrestricted)");
        assert_eq!(list(&["10.0.0.0/8", "::1"]).to_string(), "10.0.0.0/8,::1/128");
    }

    #[test]
    fn mapped_addresses_are_ipv4() {
        let a = list(&["10.0.0.0/8"]);
        assert!(a.allows(ip("::ffff:10.0.0.1")));
        assert!(!a.allows(ip("::ffff:11.0.0.1")));
        // IPv4-compatible (not mapped) addresses are IPv6.
        assert!(!a.allows(ip("::10.0.0.1")));
        // Mapped ranges in the list become IPv4 ranges.
        let m = list(&["::ffff:192.168.0.0/112", "::ffff:1.2.3.4"]);
        assert_eq!(m.to_strings(), vec!["192.168.0.0/16", "1.2.3.4/32"]);
        assert!(m.allows(ip("192.168.7.7")));
        assert!(m.allows(ip("::ffff:192.168.7.7")));
        assert!(m.allows(ip("1.2.3.4")));
        // A range wider than the mapped block stays IPv6.
        let w = list(&["::/64"]);
        assert_eq!(w.to_strings(), vec!["::/64"]);
        assert!(!w.allows(ip("10.0.0.1")));
        let all = list(&["::ffff:0:0/96"]);
        assert_eq!(all.to_strings(), vec!["0.0.0.0/0"]);
    }

    #[test]
    fn zero_length_prefixes() {
        let a = list(&["0.0.0.0/0"]);
        assert!(a.allows(ip("203.0.113.9")));
        assert!(a.allows(ip("::ffff:203.0.113.9")));
        assert!(!a.allows(ip("2001:db8::1")));
        let b = list(&["::/0"]);
        assert!(b.allows(ip("2001:db8::1")));
        assert!(!b.allows(ip("203.0.113.9")));
    }

    /// Found by the `allowlist` fuzz target (node/fuzz): `10.0.1.10/030` was accepted as a /30
    /// while ipnet refuses it (it takes `/08`, not `/030`: no rule to follow); `/010` could be
    /// read as octal 8. Every prefix length with a leading zero is refused now; `/0` stays.
    #[test]
    fn a_prefix_length_with_a_leading_zero_is_refused() {
        for e in ["10.0.1.10/030", "10.0.0.0/08", "10.0.0.0/00", "2001:db8::/064", "10.0.0.0/010"] {
            assert!(
                matches!(parse_err(e), AllowlistError::BadEntry { reason, .. } if reason.contains("prefix length")),
                "{e:?}"
            );
        }
        assert_eq!(list(&["0.0.0.0/0"]).to_strings(), vec!["0.0.0.0/0"]);
        assert_eq!(list(&["10.0.1.10/30"]).to_strings(), vec!["10.0.1.8/30"]);
    }

    #[test]
    fn bad_entries_are_named() {
        for (e, needle) in [
            ("", "empty"),
            (" 10.0.0.1", "whitespace"),
            ("10.0.0.1 ", "whitespace"),
            ("10.0.0.0 /8", "whitespace"),
            ("10.0.0.256", "not an IP address"),
            ("10.0.0", "not an IP address"),
            ("localhost", "not an IP address"),
            ("10.0.0.0/8/8", "prefix length"),
            ("10.0.0.0/", "prefix length"),
            ("/8", "not an IP address"),
            ("10.0.0.0/33", "from 0 to 32"),
            ("10.0.0.0/-1", "prefix length"),
            ("10.0.0.0/+8", "prefix length"),
            ("10.0.0.0/0x8", "prefix length"),
            ("10.0.0.0/999", "prefix length"),
            ("10.0.0.0/0008", "prefix length"),
            ("2001:db8::/129", "from 0 to 128"),
            ("fe80::1%eth0", "not an IP address"),
            ("[2001:db8::1]", "not an IP address"),
            ("10.0.0.1:80", "not an IP address"),
            ("10.0.0.0/255.0.0.0", "prefix length"),
            ("*", "not an IP address"),
        ] {
            match parse_err(e) {
                AllowlistError::BadEntry { entry, reason } => {
                    assert_eq!(entry, e);
                    assert!(reason.contains(needle), "{e:?}: {reason}");
                }
                other => panic!("{e:?}: {other:?}"),
            }
            let msg = parse_err(e).to_string();
            assert!(msg.contains(&format!("{e:?}")), "{msg}");
        }
        // The first bad entry is the one named.
        let v = vec!["10.0.0.0/8".to_string(), "bogus".into(), "alsobad".into()];
        assert!(matches!(
            Allowlist::parse(&v),
            Err(AllowlistError::BadEntry { entry, .. }) if entry == "bogus"
        ));
        // Control characters are escaped in the message.
        let msg = parse_err("10.0.0.1\u{1b}[0m").to_string();
        assert!(!msg.contains('\u{1b}'), "{msg}");
        let long = "9".repeat(10_000);
        assert!(parse_err(&long).to_string().len() < 600);
    }

    #[test]
    fn too_many_entries() {
        let v: Vec<String> =
            (0..=MAX_ENTRIES).map(|i| format!("10.0.{}.{}", i / 256, i % 256)).collect();
        assert_eq!(Allowlist::parse(&v), Err(AllowlistError::TooMany { count: MAX_ENTRIES + 1 }));
        assert!(Allowlist::parse(&v[..MAX_ENTRIES]).is_ok());
    }

    #[test]
    fn within() {
        let agent = list(&["10.0.0.0/16", "2001:db8::/32"]);
        assert!(list(&["10.0.1.0/24"]).is_within(&agent));
        assert!(list(&["10.0.1.5"]).is_within(&agent));
        assert!(list(&["10.0.0.0/16", "2001:db8:1::/48"]).is_within(&agent));
        assert!(agent.is_within(&agent));
        assert!(!list(&["10.0.0.0/15"]).is_within(&agent));
        assert!(!list(&["10.1.0.0/24"]).is_within(&agent));
        assert!(!list(&["10.0.1.0/24", "10.1.0.0/24"]).is_within(&agent));
        assert!(!list(&["::ffff:10.0.0.0/112"]).is_within(&list(&["::/0"])));
        assert!(list(&["::ffff:10.0.0.0/112"]).is_within(&list(&["10.0.0.0/8"])));
        // Unrestricted outer admits anything; unrestricted inner only an unrestricted outer.
        let none = Allowlist::unrestricted();
        assert!(agent.is_within(&none));
        assert!(none.is_within(&none));
        assert!(!none.is_within(&agent));
        assert!(!none.is_within(&list(&["0.0.0.0/0", "::/0"])));
    }

    #[test]
    fn serde_as_strings() {
        let a = list(&["10.0.1.5/24", "::1"]);
        let json = serde_json::to_string(&a).unwrap_or_default();
        assert_eq!(json, r#"["10.0.1.0/24","::1/128"]"#);
        assert_eq!(serde_json::from_str::<Allowlist>(&json).ok(), Some(a));
        assert_eq!(serde_json::from_str::<Allowlist>("[]").ok(), Some(Allowlist::unrestricted()));
        let bad = serde_json::from_str::<Allowlist>(r#"["10.0.0.0/33"]"#);
        assert!(bad.is_err_and(|e| e.to_string().contains("10.0.0.0/33")));
    }

    // ---- client_ip ----

    fn proxies() -> Vec<IpNet> {
        vec![net("10.0.0.0/24"), net("2001:db8:ffff::/48")]
    }

    #[test]
    fn untrusted_peer_ignores_the_header() {
        let p = proxies();
        let peer = sock("203.0.113.7:5000");
        assert_eq!(client_ip(peer, None, &p), ip("203.0.113.7"));
        assert_eq!(client_ip(peer, Some("1.2.3.4"), &p), ip("203.0.113.7"));
        assert_eq!(client_ip(peer, Some("10.0.0.9, 1.2.3.4"), &p), ip("203.0.113.7"));
        // No trusted proxies configured: the header never counts.
        assert_eq!(client_ip(sock("10.0.0.5:1"), Some("1.2.3.4"), &[]), ip("10.0.0.5"));
    }

    #[test]
    fn trusted_peer_walks_from_the_right() {
        let p = proxies();
        let lb = sock("10.0.0.5:443");
        assert_eq!(client_ip(lb, Some("1.2.3.4"), &p), ip("1.2.3.4"));
        assert_eq!(client_ip(lb, Some("1.2.3.4, 10.0.0.9"), &p), ip("1.2.3.4"));
        assert_eq!(client_ip(lb, Some("1.2.3.4,10.0.0.9,10.0.0.8"), &p), ip("1.2.3.4"));
        // Leading entries are the client's own words and are ignored.
        assert_eq!(
            client_ip(lb, Some("127.0.0.1, 10.0.0.99, 198.51.100.1, 1.2.3.4"), &p),
            ip("1.2.3.4")
        );
        assert_eq!(client_ip(lb, Some("10.0.0.1, 1.2.3.4"), &p), ip("1.2.3.4"));
        // A spoofed trusted-looking entry to the left of the real client changes nothing.
        assert_eq!(client_ip(lb, Some("10.0.0.7, 198.51.100.1, 10.0.0.9"), &p), ip("198.51.100.1"));
        // IPv6 hops and proxies.
        let lb6 = sock("[2001:db8:ffff::1]:443");
        assert_eq!(client_ip(lb6, Some("2001:db8::42, 2001:db8:ffff::2"), &p), ip("2001:db8::42"));
    }

    #[test]
    fn missing_all_trusted_or_garbled_gives_the_peer() {
        let p = proxies();
        let lb = sock("10.0.0.5:443");
        let peer = ip("10.0.0.5");
        assert_eq!(client_ip(lb, None, &p), peer);
        assert_eq!(client_ip(lb, Some(""), &p), peer);
        assert_eq!(client_ip(lb, Some("10.0.0.9"), &p), peer);
        assert_eq!(client_ip(lb, Some("10.0.0.9, 10.0.0.8"), &p), peer);
        for garbled in [
            "garbage",
            "unknown",
            "1.2.3.4, garbage",
            "1.2.3.4,",
            "1.2.3.4, ,10.0.0.9",
            "1.2.3.4, not-an-ip, 10.0.0.9",
            "1.2.3.4;10.0.0.9",
            "\"1.2.3.4\"",
            "for=1.2.3.4",
        ] {
            assert_eq!(client_ip(lb, Some(garbled), &p), peer, "{garbled:?}");
        }
        // Garbage to the left of an untrusted hop is never reached.
        assert_eq!(client_ip(lb, Some("garbage, 1.2.3.4"), &p), ip("1.2.3.4"));
    }

    #[test]
    fn hop_forms() {
        let p = proxies();
        let lb = sock("10.0.0.5:443");
        assert_eq!(client_ip(lb, Some("1.2.3.4:5678"), &p), ip("1.2.3.4"));
        assert_eq!(client_ip(lb, Some("[2001:db8::1]:443"), &p), ip("2001:db8::1"));
        assert_eq!(client_ip(lb, Some("\t1.2.3.4\t"), &p), ip("1.2.3.4"));
        assert_eq!(client_ip(lb, Some("  1.2.3.4  ,  10.0.0.9 "), &p), ip("1.2.3.4"));
        // Mapped addresses are IPv4, in the header and for the peer.
        assert_eq!(client_ip(lb, Some("::ffff:1.2.3.4"), &p), ip("1.2.3.4"));
        assert_eq!(client_ip(lb, Some("1.2.3.4, ::ffff:10.0.0.9"), &p), ip("1.2.3.4"));
        let mapped_lb = sock("[::ffff:10.0.0.5]:443");
        assert_eq!(client_ip(mapped_lb, Some("1.2.3.4"), &p), ip("1.2.3.4"));
        let mapped_client = sock("[::ffff:203.0.113.7]:1");
        assert_eq!(client_ip(mapped_client, Some("1.2.3.4"), &p), ip("203.0.113.7"));
        // Trusted proxies given as mapped ranges work too.
        let mp = vec![net("::ffff:10.0.0.0/120")];
        assert_eq!(client_ip(lb, Some("1.2.3.4, 10.0.0.9"), &mp), ip("1.2.3.4"));
    }

    // ---- properties ----

    fn v4() -> impl Strategy<Value = Ipv4Addr> {
        // A small space so ranges overlap often.
        (prop::sample::select(vec![10u8, 172, 192]), 0u8..4, 0u8..4, any::<u8>())
            .prop_map(|(a, b, c, d)| Ipv4Addr::new(a, b, c, d))
    }

    fn v4_net() -> impl Strategy<Value = String> {
        (v4(), prop::sample::select(vec![8u8, 16, 22, 24, 28, 30, 32]))
            .prop_map(|(a, l)| format!("{a}/{l}"))
    }

    fn allowlist() -> impl Strategy<Value = Allowlist> {
        prop::collection::vec(v4_net(), 0..4).prop_map(|v| Allowlist::parse(&v).unwrap_or_default())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn prop_within_is_sound(a in allowlist(), b in allowlist(), x in v4()) {
            if a.is_within(&b) && a.allows(IpAddr::V4(x)) {
                prop_assert!(b.allows(IpAddr::V4(x)));
            }
        }

        #[test]
        fn prop_within_reflexive_transitive(a in allowlist(), b in allowlist(), c in allowlist()) {
            prop_assert!(a.is_within(&a));
            if a.is_within(&b) && b.is_within(&c) {
                prop_assert!(a.is_within(&c));
            }
        }

        #[test]
        fn prop_mapped_is_same_as_v4(a in allowlist(), x in v4()) {
            prop_assert_eq!(a.allows(IpAddr::V4(x)), a.allows(IpAddr::V6(x.to_ipv6_mapped())));
        }

        #[test]
        fn prop_strings_round_trip(a in allowlist()) {
            let again = Allowlist::parse(&a.to_strings()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(again, a);
        }

        #[test]
        fn prop_parse_never_panics(v in prop::collection::vec("\\PC{0,20}", 0..4)) {
            let _ = Allowlist::parse(&v);
        }

        #[test]
        fn prop_entry_like_never_panics(v in prop::collection::vec("[0-9a-f:./%\\[\\]]{0,24}", 0..4)) {
            if let Ok(a) = Allowlist::parse(&v) {
                let again = Allowlist::parse(&a.to_strings()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(again, a);
            }
        }

        #[test]
        fn prop_client_ip_sources(
            peer in v4(),
            hops in prop::collection::vec(v4(), 0..5),
            garbage in proptest::option::of("\\PC{0,10}"),
            trusted in prop::collection::vec(v4_net(), 0..3),
        ) {
            let trusted: Vec<IpNet> = trusted.iter().filter_map(|s| s.parse().ok()).collect();
            let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
            let mut header: Vec<String> = hops.iter().map(Ipv4Addr::to_string).collect();
            if let Some(g) = &garbage {
                header.insert(0, g.clone());
            }
            let header = header.join(",");
            let peer_sock = SocketAddr::new(IpAddr::V4(peer), 1);
            let got = client_ip(peer_sock, Some(&header), &trusted);
            // Either the peer, or a hop that is not a trusted proxy.
            let peer_ip = IpAddr::V4(peer);
            prop_assert!(got == peer_ip || (!is_trusted(&got) && (hops.iter().any(|h| IpAddr::V4(*h) == got) || garbage.is_some())));
            if !is_trusted(&peer_ip) {
                prop_assert_eq!(got, peer_ip);
            }
        }

        #[test]
        fn prop_left_entries_cannot_change_the_answer(
            prefix in prop::collection::vec("\\PC{0,16}", 0..4),
            real in v4(),
            chain in prop::collection::vec(0u8..=255, 0..3),
        ) {
            // The LB (10.0.0.5) and the proxies in `chain` (10.0.0.x) are trusted; `real` is
            // whatever the first trusted proxy saw. What the client wrote to the left of it
            // must not matter.
            let trusted = vec![net("10.0.0.0/24")];
            prop_assume!(!trusted.iter().any(|n| n.contains(&IpAddr::V4(real))));
            let mut hops: Vec<String> = vec![real.to_string()];
            hops.extend(chain.iter().map(|d| Ipv4Addr::new(10, 0, 0, *d).to_string()));
            let honest = hops.join(",");
            let spoofed = format!("{},{}", prefix.join(","), honest);
            let lb = sock("10.0.0.5:443");
            prop_assert_eq!(client_ip(lb, Some(&honest), &trusted), IpAddr::V4(real));
            prop_assert_eq!(client_ip(lb, Some(&spoofed), &trusted), IpAddr::V4(real));
        }

        #[test]
        fn prop_v6_never_panics(a in any::<u128>(), len in 0u8..=128, x in any::<u128>()) {
            let s = format!("{}/{len}", Ipv6Addr::from(a));
            let al = Allowlist::parse(&[s]).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let _ = al.allows(IpAddr::V6(Ipv6Addr::from(x)));
            prop_assert!(al.is_within(&al));
        }
    }
}

#[cfg(test)]
mod forwarded_tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    /// The reference model: the hops as one list, walked from the right by hand.
    fn model(peer: Ipv4Addr, hops: &[Option<Ipv4Addr>], trusted: &[Ipv4Addr]) -> Ipv4Addr {
        if !trusted.contains(&peer) {
            return peer;
        }
        let mut i = hops.len();
        while i > 0 {
            i -= 1;
            match hops[i] {
                None => return peer,
                Some(h) if trusted.contains(&h) => continue,
                Some(h) => return h,
            }
        }
        peer
    }

    fn render(h: &Option<Ipv4Addr>) -> String {
        h.map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
    }

    /// Issue 14, item 2: `X-Forwarded-For: 10.0.1.100` then `X-Forwarded-For: 203.0.113.9`
    /// is one list; the client is 203.0.113.9, whatever it wrote on the line before.
    #[test]
    fn repeated_header_lines_are_one_list() {
        let lb: SocketAddr = "127.0.0.1:443".parse().unwrap();
        let trusted = [net("127.0.0.1/32")];
        let hops = forwarded_hops(
            ForwardedHeader::XForwardedFor,
            [Some("10.0.1.100"), Some("203.0.113.9")],
        );
        assert_eq!(client_ip_from_hops(lb, &hops, &trusted), IpAddr::from([203, 0, 113, 9]));
        let forwarded = forwarded_hops(
            ForwardedHeader::Forwarded,
            [Some("for=10.0.1.100"), Some("For=\"203.0.113.9\";proto=https")],
        );
        assert_eq!(client_ip_from_hops(lb, &forwarded, &trusted), IpAddr::from([203, 0, 113, 9]));
        // A line that is not text stops the walk at the peer.
        let bad = forwarded_hops(ForwardedHeader::XForwardedFor, [Some("10.0.1.100"), None]);
        assert_eq!(client_ip_from_hops(lb, &bad, &trusted), lb.ip());
        let v6 = forwarded_hops(
            ForwardedHeader::Forwarded,
            [Some("for=\"[2001:db8:cafe::17]:4711\", for=_hidden;by=x")],
        );
        assert_eq!(v6, vec![Some("2001:db8:cafe::17".parse().unwrap()), None]);
        assert_eq!(forwarded_hops(ForwardedHeader::Forwarded, [Some("proto=https")]), vec![None]);
    }

    proptest! {
        /// However a proxy chain's hops are split over header lines, in either header form,
        /// the answer is the reference model's.
        #[test]
        fn prop_lines_and_forms_match_the_model(
            peer in any::<u8>(),
            hops in prop::collection::vec(proptest::option::weighted(0.9, any::<u8>()), 0..6),
            trusted in prop::collection::vec(any::<u8>(), 0..4),
            cuts in prop::collection::vec(any::<bool>(), 0..6),
        ) {
            let ip = |d: u8| Ipv4Addr::new(10, 0, 0, d);
            let hops: Vec<Option<Ipv4Addr>> = hops.iter().map(|h| h.map(ip)).collect();
            let trusted: Vec<Ipv4Addr> = trusted.into_iter().map(ip).collect();
            let nets: Vec<IpNet> = trusted.iter().map(|t| IpNet::from(IpAddr::V4(*t))).collect();
            let expected = IpAddr::V4(model(ip(peer), &hops, &trusted));
            // Split into lines wherever `cuts` says.
            let mut xff_lines: Vec<String> = vec![String::new()];
            let mut fwd_lines: Vec<String> = vec![String::new()];
            for (i, h) in hops.iter().enumerate() {
                let new_line = i > 0 && cuts.get(i).copied().unwrap_or(false);
                if new_line {
                    xff_lines.push(String::new());
                    fwd_lines.push(String::new());
                } else if i > 0 {
                    xff_lines.last_mut().unwrap().push_str(", ");
                    fwd_lines.last_mut().unwrap().push_str(", ");
                }
                xff_lines.last_mut().unwrap().push_str(&render(h));
                fwd_lines.last_mut().unwrap().push_str(&format!("for={};proto=https", render(h)));
            }
            let sock = SocketAddr::new(IpAddr::V4(ip(peer)), 9);
            if !hops.is_empty() {
                let x = forwarded_hops(ForwardedHeader::XForwardedFor, xff_lines.iter().map(|l| Some(l.as_str())));
                prop_assert_eq!(client_ip_from_hops(sock, &x, &nets), expected);
                let f = forwarded_hops(ForwardedHeader::Forwarded, fwd_lines.iter().map(|l| Some(l.as_str())));
                prop_assert_eq!(client_ip_from_hops(sock, &f, &nets), expected);
                let joined = xff_lines.join(",");
                prop_assert_eq!(client_ip(sock, Some(&joined), &nets), expected);
            } else {
                prop_assert_eq!(client_ip_from_hops(sock, &[], &nets), expected);
            }
        }
    }
}
