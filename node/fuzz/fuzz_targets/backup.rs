//! Backup / snapshot files (`backup::parse`, `Parsed::open`): any bytes give `Ok` or an error
//! (never a panic); an accepted file's lengths add up and its checksum holds; a file written
//! from fuzzed trees opens to exactly those trees, and any one changed byte of it is refused
//! by `parse` or by `open`.
#![no_main]

use ass_node::backup::{self, Body, Header, TreeCopy, FORMAT_V1, MAGIC};
use ass_node::crypto::Key;
use ass_node::seal::SealConfig;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fn root() -> Key {
    Key::from_slice(&[7u8; 32]).expect("32 bytes")
}

fn header(cluster_id: String) -> Header {
    Header {
        format: FORMAT_V1,
        cluster_id,
        index: 42,
        term: 3,
        created_ms: 1_700_000_000_000,
        node_id: 1,
        seal: SealConfig { format: 1, shares: 3, threshold: 2, sealed_root_key: vec![1; 60] },
        salt: [0; 32],
        body_len: 0,
    }
}

/// Trees from the input: chunks of `name_len name key_len key value_len value`.
fn trees(mut b: &[u8]) -> Vec<TreeCopy> {
    let take = |b: &mut &[u8]| -> Option<Vec<u8>> {
        let (&n, rest) = b.split_first()?;
        let n = usize::from(n).min(rest.len());
        let (v, rest) = rest.split_at(n);
        *b = rest;
        Some(v.to_vec())
    };
    let mut out: Vec<TreeCopy> = Vec::new();
    while let (Some(name), Some(k), Some(v)) = (take(&mut b), take(&mut b), take(&mut b)) {
        let name = String::from_utf8_lossy(&name).into_owned();
        match out.iter_mut().find(|t| t.0 == name) {
            Some(t) => t.1.push((k, v)),
            None => out.push((name, vec![(k, v)])),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        let Ok(parsed) = backup::parse(rest) else { return };
        assert_eq!(parsed.header.format, FORMAT_V1);
        assert!(rest.starts_with(MAGIC));
        let header_len = u32::from_be_bytes(rest[8..12].try_into().expect("4")) as u64;
        assert_eq!(rest.len() as u64, 12 + header_len + parsed.header.body_len + 32);
        let (body, sum) = rest.split_at(rest.len() - 32);
        assert_eq!(Sha256::digest(body).as_slice(), sum);
        if let Ok(body) = parsed.open(&root()) {
            let again = backup::write(parsed.header.clone(), &root(), &body).expect("writes");
            assert_eq!(backup::parse(&again).expect("parses").open(&root()).expect("opens"), body);
        }
        return;
    }
    // Written from fuzzed trees: opens to them; one changed byte is always refused.
    let Some((&flip, rest)) = rest.split_first() else { return };
    let Some((&at, rest)) = rest.split_first() else { return };
    let (id, tree_bytes) = rest.split_at(rest.len().min(usize::from(flip % 16)));
    let body = Body { trees: trees(tree_bytes) };
    let h = header(String::from_utf8_lossy(id).into_owned());
    let file = backup::write(h.clone(), &root(), &body).expect("writes");
    let parsed = backup::parse(&file).expect("a written file parses");
    assert_eq!(parsed.header.cluster_id, h.cluster_id);
    assert_eq!(parsed.open(&root()).expect("opens with its root key"), body);
    assert!(
        parsed.open(&Key::from_slice(&[8u8; 32]).expect("32")).is_err(),
        "another key opens it"
    );
    let mut bad = file.clone();
    let pos = (usize::from(at) * 131 + usize::from(flip)) % bad.len();
    bad[pos] ^= 1 << (flip % 8);
    let refused = match backup::parse(&bad) {
        Err(_) => true,
        Ok(p) => p.open(&root()).is_err(),
    };
    assert!(refused, "a flipped bit at byte {pos} of {} went unnoticed", bad.len());
});
