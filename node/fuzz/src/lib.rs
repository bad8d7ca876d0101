//! Helpers shared by the fuzz targets: input splitting and the re-encoding checks every
//! decoder target makes (a decoded value encodes to bytes that decode to the same encoding).

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The input as text, or `None` when it is not UTF-8 (the parsers under test take `&str`).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The input's lines as owned strings (a list parser's entries), at most `max` of them.
pub fn lines(data: &[u8], max: usize) -> Option<Vec<String>> {
    Some(text(data)?.split('\n').take(max).map(str::to_string).collect())
}

/// `storage::decode` then `storage::encode`: whatever decodes must encode to bytes that decode
/// again and encode to the same bytes (the encoding is a fixed point after one round).
pub fn stored_fixed_point<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Option<Vec<u8>> {
    let value: T = ass_node::storage::decode(bytes).ok()?;
    let once = ass_node::storage::encode(&value).expect("a decoded value encodes");
    let again: T = ass_node::storage::decode(&once)
        .unwrap_or_else(|e| panic!("re-encoded value does not decode: {e}"));
    let twice = ass_node::storage::encode(&again).expect("a decoded value encodes");
    assert_eq!(once, twice, "encode(decode(encode(decode(x)))) differs from encode(decode(x))");
    Some(once)
}

/// The same for JSON (the API bodies): parse, print, parse, print; both prints are equal.
pub fn json_fixed_point<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Option<Vec<u8>> {
    let value: T = serde_json::from_slice(bytes).ok()?;
    let once = serde_json::to_vec(&value).expect("a parsed body prints");
    let again: T = serde_json::from_slice(&once).unwrap_or_else(|e| {
        panic!("printed body does not parse: {e}: {}", String::from_utf8_lossy(&once))
    });
    let twice = serde_json::to_vec(&again).expect("a parsed body prints");
    assert_eq!(
        String::from_utf8_lossy(&once),
        String::from_utf8_lossy(&twice),
        "print(parse(print(parse(x)))) differs from print(parse(x))"
    );
    Some(once)
}

/// Whether ipnet's `contains` admits `ip` to `net` by the allowlist module's documented rule:
/// a client is compared in canonical form (`::ffff:a.b.c.d` is `a.b.c.d`), and an IPv6 range
/// inside `::ffff:0:0/96` is the IPv4 range it maps. A wider IPv6 range (`::/0`) admits no
/// IPv4 client. Independent of the module's code: only ipnet and std decide.
pub fn net_admits(net: &ipnet::IpNet, ip: std::net::IpAddr) -> bool {
    use ipnet::IpNet;
    use std::net::IpAddr;
    match (net, ip.to_canonical()) {
        (IpNet::V4(n), IpAddr::V4(a)) => n.contains(&a),
        (IpNet::V6(n), IpAddr::V4(a)) => n.prefix_len() >= 96 && n.contains(&a.to_ipv6_mapped()),
        (IpNet::V6(n), IpAddr::V6(a)) => n.contains(&a),
        (IpNet::V4(_), IpAddr::V6(_)) => false,
    }
}
