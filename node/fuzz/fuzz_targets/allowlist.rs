//! CIDR allowlists (`access::allowlist`): an accepted list prints and parses to itself, every
//! entry it accepts ipnet accepts too, `allows` agrees with ipnet's `contains` over the entries
//! as written (IPv4-mapped IPv6 judged as IPv4, the documented rule), and `is_within` is sound.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ass_node::access::allowlist::Allowlist;
use ass_node_fuzz::net_admits as oracle;
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;

/// ipnet's reading of one entry, independent of ours: `addr/len` or a bare address.
fn ipnet_entry(entry: &str) -> Option<IpNet> {
    entry.parse::<IpNet>().ok().or_else(|| entry.parse::<IpAddr>().ok().map(IpNet::from))
}

fn probe(bytes: &[u8]) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for chunk in bytes.chunks(17) {
        if chunk.len() >= 5 && chunk[0] % 2 == 0 {
            let v4 = Ipv4Addr::new(chunk[1], chunk[2], chunk[3], chunk[4]);
            out.push(IpAddr::V4(v4));
            out.push(IpAddr::V6(v4.to_ipv6_mapped()));
        } else if chunk.len() == 17 {
            let b: [u8; 16] = chunk[1..].try_into().expect("16 bytes");
            out.push(IpAddr::V6(Ipv6Addr::from(b)));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // Text lines up to a NUL byte are the entries (an empty line: no restriction); the rest
    // are probe addresses, the second half of which also forms a second list to compare.
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let Some(text) = ass_node_fuzz::text(&data[..split]) else { return };
    let entries: Vec<String> =
        if text.is_empty() { Vec::new() } else { text.split('\n').map(str::to_string).collect() };
    let mut ips = probe(data.get(split + 1..).unwrap_or_default());
    let Ok(list) = Allowlist::parse(&entries) else { return };
    let nets: Vec<IpNet> = entries
        .iter()
        .map(|e| ipnet_entry(e).unwrap_or_else(|| panic!("we accept {e:?}, ipnet does not")))
        .collect();
    let again = Allowlist::parse(&list.to_strings()).expect("a printed allowlist parses");
    assert_eq!(again, list);
    assert_eq!(list.is_unrestricted(), entries.is_empty());
    // Each entry's own address and the edges of its range are probed too.
    for n in &nets {
        ips.push(n.addr());
        ips.push(n.network());
        ips.push(n.broadcast());
    }
    for ip in &ips {
        let expected = nets.is_empty() || nets.iter().any(|n| oracle(n, *ip));
        assert_eq!(list.allows(*ip), expected, "{ip} against {entries:?}");
    }
    // Within: a list inside another allows nothing the outer one refuses.
    let half = ips.len() / 2;
    let inner_entries: Vec<String> = ips[half..].iter().take(4).map(IpAddr::to_string).collect();
    let inner = Allowlist::parse(&inner_entries).expect("addresses are entries");
    if inner.is_within(&list) {
        for ip in &ips {
            assert!(!inner.allows(*ip) || list.allows(*ip), "{ip}: {inner} within {list}");
        }
    }
    assert!(list.is_within(&list));
});
