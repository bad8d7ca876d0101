//! The PROXY protocol (v1 text and v2 binary, haproxy's spec) on the API port: behind a TCP
//! load balancer every connection comes from the balancer, so the balancer opens each one
//! with a header naming the real client, and that client address becomes the connection's
//! peer address — the limiter, IP allowlists and the audit trail all judge the real client.
//!
//! ```text
//!  accept ─> peer in [api] proxy_protocol_from? ──yes──> read header (≤ 8 + 2048 bytes, inside
//!     │                                                  the handshake timeout) ──> peer := source
//!     │                                                  no / bad header: close, count `missing`
//!     │                                                  / `malformed`
//!     └────no──> a PROXY header anyway? (peek, nothing consumed) ──yes──> close, count `untrusted`
//!                                                                 └─no──> TLS / HTTP as before
//! ```
//!
//! Reading is bounded and exact: the header is consumed byte-exact (v2 by its length field,
//! v1 up to its `\r\n`, at most 107 bytes), so the TLS handshake that follows starts on the
//! next byte. Parsing is the `ppp` crate's; this module never indexes past what it checked.
//! A v2 `LOCAL` header (haproxy's own health checks may send one) and a v1 `UNKNOWN` keep the
//! socket peer as the address.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;

/// The first 12 bytes of every v2 header.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Fixed part of a v2 header: signature, version/command, family/protocol, length.
const V2_FIXED: usize = 16;
/// Largest v2 payload (addresses + TLVs) accepted. haproxy sends 12 (IPv4) or 36 (IPv6)
/// address bytes plus a few TLVs; the protocol allows 65535, a node has no use for that.
pub const V2_MAX_PAYLOAD: usize = 2048;
/// Longest v1 header, `\r\n` included (the spec's bound).
pub const V1_MAX: usize = 107;
/// How often the untrusted-peer check looks again while a first packet is still short.
const PEEK_RETRY: Duration = Duration::from_millis(5);

/// Why a connection was closed before TLS; the `reason` label of
/// `ass_proxy_protocol_rejected_total`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProxyError {
    /// A configured proxy opened a connection without a PROXY header.
    #[error("no PROXY protocol header from a configured proxy")]
    Missing,
    /// The header did not parse, or was longer than allowed.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(String),
    /// A peer that is not a configured proxy sent a PROXY header.
    #[error("PROXY protocol header from a peer not in [api] proxy_protocol_from")]
    Untrusted,
}

impl ProxyError {
    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            ProxyError::Missing => "missing",
            ProxyError::Malformed(_) => "malformed",
            ProxyError::Untrusted => "untrusted",
        }
    }
}

/// The API port's PROXY protocol policy: which peers must send a header.
#[derive(Clone)]
pub struct ProxyProtocol {
    from: Vec<IpNet>,
    /// `ass_proxy_protocol_rejected_total{reason}`.
    pub rejected: prometheus::IntCounterVec,
}

impl ProxyProtocol {
    /// `from`: the CIDR ranges of `[api] proxy_protocol_from` (checked by `Config::validate`).
    pub fn new(from: &[String], rejected: prometheus::IntCounterVec) -> Self {
        let from = from.iter().filter_map(|s| parse_net(s)).collect();
        Self { from, rejected }
    }

    /// Whether connections from `ip` must open with a PROXY header.
    pub fn is_proxy(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.from.iter().any(|net| net.contains(&ip))
    }

    /// Decides the peer address of a fresh connection from `peer`: the header's source for a
    /// configured proxy, `peer` itself for anyone else. Consumes exactly the header.
    pub async fn accept(
        &self,
        tcp: &mut TcpStream,
        peer: SocketAddr,
    ) -> Result<SocketAddr, ProxyError> {
        let result = if self.is_proxy(peer.ip()) {
            read_header(tcp).await.map(|source| source.unwrap_or(peer))
        } else if starts_with_proxy_header(tcp).await {
            Err(ProxyError::Untrusted)
        } else {
            Ok(peer)
        };
        if let Err(e) = &result {
            self.rejected.with_label_values(&[e.reason()]).inc();
        }
        result
    }
}

/// A CIDR range or a bare IP address (a /32 or /128), as `trusted_proxies` takes them.
pub fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>().ok().or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Reads one PROXY header (v1 or v2) from `stream`, byte-exact. `Ok(None)`: a header that
/// names no client (v2 `LOCAL`, v1 `UNKNOWN`, a unix-socket or unspecified family).
pub async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<Option<SocketAddr>, ProxyError> {
    // Both versions are at least 15 bytes long; 8 tell them apart without over-reading.
    let mut buf = vec![0u8; 8];
    stream.read_exact(&mut buf).await.map_err(|_| ProxyError::Missing)?;
    if buf[..] == V2_SIGNATURE[..8] {
        buf.resize(V2_FIXED, 0);
        stream
            .read_exact(&mut buf[8..])
            .await
            .map_err(|e| ProxyError::Malformed(format!("v2 header cut short: {e}")))?;
        let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
        if len > V2_MAX_PAYLOAD {
            return Err(ProxyError::Malformed(format!(
                "v2 payload of {len} bytes (at most {V2_MAX_PAYLOAD})"
            )));
        }
        buf.resize(V2_FIXED + len, 0);
        stream
            .read_exact(&mut buf[V2_FIXED..])
            .await
            .map_err(|e| ProxyError::Malformed(format!("v2 header cut short: {e}")))?;
    } else if buf.starts_with(b"PROXY ") {
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n") {
            if buf.len() >= V1_MAX {
                return Err(ProxyError::Malformed(format!("v1 header longer than {V1_MAX} bytes")));
            }
            stream
                .read_exact(&mut byte)
                .await
                .map_err(|e| ProxyError::Malformed(format!("v1 header cut short: {e}")))?;
            buf.push(byte[0]);
        }
    } else {
        return Err(ProxyError::Missing);
    }
    parse(&buf)
}

/// Parses one complete header. Pure; any input gives `Ok` or `Err`, never a panic.
pub fn parse(bytes: &[u8]) -> Result<Option<SocketAddr>, ProxyError> {
    if bytes.starts_with(V2_SIGNATURE) {
        let h = ppp::v2::Header::try_from(bytes)
            .map_err(|e| ProxyError::Malformed(format!("v2: {e}")))?;
        if h.len() != bytes.len() {
            return Err(ProxyError::Malformed("v2: trailing bytes".into()));
        }
        if h.command == ppp::v2::Command::Local {
            return Ok(None);
        }
        return Ok(match h.addresses {
            ppp::v2::Addresses::IPv4(a) => {
                Some(SocketAddr::new(a.source_address.into(), a.source_port))
            }
            ppp::v2::Addresses::IPv6(a) => {
                Some(SocketAddr::new(a.source_address.into(), a.source_port))
            }
            ppp::v2::Addresses::Unspecified | ppp::v2::Addresses::Unix(_) => None,
        });
    }
    // A v1 header is one line of at most V1_MAX bytes ending in CRLF. ppp took
    // `PROXY UNKNOWN …\n` (no CR) whole, a header `read_header` never ends (found by the
    // `proxy_protocol` fuzz target: the reader and this parser disagreed).
    if !bytes.ends_with(b"\r\n") || bytes.len() > V1_MAX {
        return Err(ProxyError::Malformed("v1: not one CRLF-terminated line".into()));
    }
    let h =
        ppp::v1::Header::try_from(bytes).map_err(|e| ProxyError::Malformed(format!("v1: {e}")))?;
    if h.header.len() != bytes.len() {
        return Err(ProxyError::Malformed("v1: trailing bytes".into()));
    }
    Ok(match h.addresses {
        ppp::v1::Addresses::Tcp4(a) => {
            Some(SocketAddr::new(a.source_address.into(), a.source_port))
        }
        ppp::v1::Addresses::Tcp6(a) => {
            Some(SocketAddr::new(a.source_address.into(), a.source_port))
        }
        ppp::v1::Addresses::Unknown => None,
    })
}

/// Whether the connection opens with a PROXY header, looking without consuming. No TLS
/// record and no HTTP method starts with `\r` or `PROXY `, so this never misjudges a client.
/// Waits (inside the caller's handshake timeout) only while the first bytes are a prefix of
/// a header.
async fn starts_with_proxy_header(tcp: &TcpStream) -> bool {
    let mut buf = [0u8; 8];
    loop {
        let n = match tcp.peek(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let seen = &buf[..n];
        let v2 = V2_SIGNATURE[..n.min(8)] == seen[..n.min(8)];
        let v1 = b"PROXY "[..n.min(6)] == seen[..n.min(6)];
        if !v1 && !v2 {
            return false;
        }
        if (v2 && n >= 8) || (v1 && n >= 6) {
            return true;
        }
        tokio::time::sleep(PEEK_RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppp::v2::{Builder, Command, Protocol, Version};
    use proptest::prelude::*;

    fn v2(src: &str, dst: &str, command: Command) -> Vec<u8> {
        let src: SocketAddr = src.parse().unwrap();
        let dst: SocketAddr = dst.parse().unwrap();
        Builder::with_addresses(Version::Two | command, Protocol::Stream, (src, dst))
            .write_tlv(ppp::v2::Type::NoOp, b"pad")
            .unwrap()
            .build()
            .unwrap()
    }

    #[test]
    fn v1_and_v2_give_the_source_address() {
        let h = b"PROXY TCP4 127.0.0.2 10.0.0.11 51000 8200\r\n";
        assert_eq!(parse(h), Ok(Some("127.0.0.2:51000".parse().unwrap())));
        let h = b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 8200\r\n";
        assert_eq!(parse(h), Ok(Some("[2001:db8::1]:4000".parse().unwrap())));
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Ok(None));
        let h = v2("127.0.0.3:4242", "127.0.0.1:8200", Command::Proxy);
        assert_eq!(parse(&h), Ok(Some("127.0.0.3:4242".parse().unwrap())));
        let h = v2("[::1]:9", "[::1]:8200", Command::Proxy);
        assert_eq!(parse(&h), Ok(Some("[::1]:9".parse().unwrap())));
        assert_eq!(parse(&v2("1.2.3.4:1", "1.2.3.4:2", Command::Local)), Ok(None));
    }

    /// Found by the `proxy_protocol` fuzz target: `PROXY UNKNOWN …\n` (LF, no CR) parsed as a
    /// header while `read_header`, which reads to CRLF, refused the same bytes.
    #[test]
    fn a_v1_header_must_end_in_crlf() {
        let mut lf = b"PROXY UNKNOWN r".to_vec();
        lf.extend_from_slice(&[0; 27]);
        lf.extend_from_slice(b"OGN +\xca\x9a;4N \n");
        assert!(matches!(parse(&lf), Err(ProxyError::Malformed(_))));
        assert!(matches!(parse(b"PROXY UNKNOWN\n"), Err(ProxyError::Malformed(_))));
        assert!(matches!(
            parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"),
            Err(ProxyError::Malformed(_))
        ));
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Ok(None));
        assert_eq!(parse(b"PROXY UNKNOWN ignored words\r\n"), Ok(None));
        let long = format!("PROXY UNKNOWN {}\r\n", "x".repeat(V1_MAX));
        assert!(matches!(parse(long.as_bytes()), Err(ProxyError::Malformed(_))));
    }

    #[test]
    fn bad_headers_are_malformed() {
        for bad in [
            &b"PROXY TCP4 not-an-ip 10.0.0.11 1 2\r\n"[..],
            b"PROXY TCP9 1.2.3.4 1.2.3.4 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 99999 2\r\n",
            b"PROXY \r\n",
        ] {
            assert!(matches!(parse(bad), Err(ProxyError::Malformed(_))), "{bad:?}");
        }
        let mut h = v2("127.0.0.3:4242", "127.0.0.1:8200", Command::Proxy);
        h[12] = 0x31; // version 3
        assert!(matches!(parse(&h), Err(ProxyError::Malformed(_))));
    }

    #[tokio::test]
    async fn read_header_consumes_exactly_the_header() {
        for header in [
            b"PROXY TCP4 127.0.0.2 10.0.0.11 51000 8200\r\n".to_vec(),
            b"PROXY UNKNOWN\r\n".to_vec(),
            v2("127.0.0.2:51000", "127.0.0.1:8200", Command::Proxy),
        ] {
            let mut input = header.clone();
            input.extend_from_slice(b"\x16\x03\x01rest");
            let mut r = &input[..];
            let got = read_header(&mut r).await.unwrap();
            assert!(got.is_none() || got == Some("127.0.0.2:51000".parse().unwrap()));
            assert_eq!(r, b"\x16\x03\x01rest", "after {header:?}");
        }
    }

    #[tokio::test]
    async fn read_header_refuses_missing_long_and_cut_headers() {
        let mut r = &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..];
        assert_eq!(read_header(&mut r).await, Err(ProxyError::Missing));
        let mut r = &b"GET / HTTP/1.1\r\n\r\n"[..];
        assert_eq!(read_header(&mut r).await, Err(ProxyError::Missing));
        let mut r = &b"PRO"[..];
        assert_eq!(read_header(&mut r).await, Err(ProxyError::Missing));
        let long = format!("PROXY TCP4 {}\r\n", "1".repeat(200));
        let mut r = long.as_bytes();
        assert!(matches!(read_header(&mut r).await, Err(ProxyError::Malformed(_))));
        let mut h = v2("127.0.0.3:4242", "127.0.0.1:8200", Command::Proxy);
        h[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        let mut r = &h[..];
        assert!(matches!(read_header(&mut r).await, Err(ProxyError::Malformed(_))));
        let h = v2("127.0.0.3:4242", "127.0.0.1:8200", Command::Proxy);
        let mut r = &h[..h.len() - 3];
        assert!(matches!(read_header(&mut r).await, Err(ProxyError::Malformed(_))));
    }

    #[test]
    fn proxies_match_by_range_and_mapped_addresses() {
        let p = ProxyProtocol::new(
            &["10.0.0.0/30".into(), "127.0.0.9".into()],
            prometheus::IntCounterVec::new(prometheus::Opts::new("x", "x"), &["reason"]).unwrap(),
        );
        assert!(p.is_proxy("10.0.0.3".parse().unwrap()));
        assert!(!p.is_proxy("10.0.0.4".parse().unwrap()));
        assert!(p.is_proxy("127.0.0.9".parse().unwrap()));
        assert!(p.is_proxy("::ffff:127.0.0.9".parse().unwrap()));
        assert!(!p.is_proxy("127.0.0.1".parse().unwrap()));
    }

    proptest! {
        /// Any bytes: a result, never a panic, and a read never takes more than the bound.
        #[test]
        fn arbitrary_input_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..300),
                                        pick in 0u8..3) {
            let mut input = match pick {
                0 => V2_SIGNATURE.to_vec(),
                1 => b"PROXY ".to_vec(),
                _ => Vec::new(),
            };
            input.extend_from_slice(&tail);
            let _ = parse(&input);
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let mut r = &input[..];
            let _ = rt.block_on(read_header(&mut r));
            prop_assert!(input.len() - r.len() <= V2_FIXED + V2_MAX_PAYLOAD);
        }
    }
}
