//! Forwarded headers (`access::allowlist::forwarded_hops`, `client_ip_from_hops`): the client
//! IP is the peer or one of the hops; a hop is believed only through a trusted peer and is
//! never itself a trusted proxy; hops left of the first unreadable one (from the right) are
//! never chosen; `client_ip` is the X-Forwarded-For case of the two.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ass_node::access::allowlist::{
    client_ip, client_ip_from_hops, forwarded_hops, ForwardedHeader,
};
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Byte 0: header kind and peer; then lines: first the trusted proxies (comma-separated),
    // then header lines.
    let Some((&head, rest)) = data.split_first() else { return };
    let Some(text) = ass_node_fuzz::text(rest) else { return };
    let mut lines = text.split('\n');
    let trusted: Vec<IpNet> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .filter_map(ass_node::tls::proxy_protocol::parse_net)
        .collect();
    let header_lines: Vec<&str> = lines.collect();
    let kind =
        if head & 1 == 0 { ForwardedHeader::XForwardedFor } else { ForwardedHeader::Forwarded };
    let peer_ip = match head >> 1 {
        0..=63 => IpAddr::V4(Ipv4Addr::new(10, 0, 0, head >> 1)),
        64..=95 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, head >> 1)),
        _ => IpAddr::V6(Ipv4Addr::new(10, 0, 0, head & 0x3f).to_ipv6_mapped()),
    };
    let peer = SocketAddr::new(peer_ip, 443);
    let hops = forwarded_hops(kind, header_lines.iter().map(|l| Some(*l)));
    let n_elements: usize = header_lines.iter().map(|l| l.split(',').count()).sum();
    assert_eq!(hops.len(), n_elements, "one hop per comma-separated element");
    for hop in hops.iter().flatten() {
        assert_eq!(*hop, hop.to_canonical(), "hops are canonical");
    }
    let client = client_ip_from_hops(peer, &hops, &trusted);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| ass_node_fuzz::net_admits(n, *ip));
    let peer_c = peer_ip.to_canonical();
    if client != peer_c {
        assert!(is_trusted(&peer_c), "a hop was believed from an untrusted peer");
        assert!(!is_trusted(&client), "the client {client} is a trusted proxy");
        // The chosen hop lies right of every unreadable hop.
        let pos = hops.iter().rposition(|h| *h == Some(client)).expect("the client is a hop");
        assert!(hops[pos..].iter().all(Option::is_some));
        assert!(hops[pos + 1..].iter().flatten().all(is_trusted));
    }
    if kind == ForwardedHeader::XForwardedFor && header_lines.len() <= 1 {
        assert_eq!(client_ip(peer, header_lines.first().copied(), &trusted), client);
    }
});
