//! Unseal share decoding (`seal::root_from_shares`, `UnsealProgress::submit`): fuzzed share
//! strings, mixed with a real cluster's shares, never panic; nothing but the cluster's own
//! root key ever comes out; a threshold of genuine distinct shares always opens it; a share
//! that is not base64 of 33 bytes with a non-zero id is `MalformedShare`.
#![no_main]

use std::sync::OnceLock;

use ass_node::seal::{self, InitMaterial, SealError, Submitted, UnsealProgress};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;

fn material() -> &'static InitMaterial {
    static M: OnceLock<InitMaterial> = OnceLock::new();
    M.get_or_init(|| seal::init(5, 3).expect("init 3 of 5"))
}

fn well_formed(s: &str) -> bool {
    STANDARD.decode(s.trim()).is_ok_and(|b| b.len() == 33 && b[0] != 0)
}

fuzz_target!(|data: &[u8]| {
    let m = material();
    let Some(text) = ass_node_fuzz::text(data) else { return };
    // Each line: `#n` is genuine share n (0-4), anything else is a share string as given.
    let shares: Vec<String> = text
        .split('\n')
        .take(8)
        .map(|l| match l.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n < 5 => m.shares[n].clone(),
            _ => l.to_string(),
        })
        .collect();
    let genuine = |s: &String| m.shares.contains(s);
    let result = seal::root_from_shares(&shares, &m.config);
    match &result {
        Ok(key) => assert!(*key == m.root, "root_from_shares opened a key that is not the root"),
        Err(SealError::MalformedShare) => assert!(shares.iter().any(|s| !well_formed(s))),
        Err(_) => {}
    }
    let mut distinct = shares.clone();
    distinct.sort();
    distinct.dedup();
    if shares.iter().all(genuine) && distinct.len() == shares.len() && shares.len() >= 3 {
        assert!(result.is_ok(), "genuine shares refused: {result:?}");
    }
    // One at a time, as the unseal endpoint takes them.
    let mut progress = UnsealProgress::default();
    for s in &shares {
        match progress.submit(s, &m.config, &m.sealed_keyring) {
            Ok(Submitted::Unsealed(u)) => {
                assert!(u.root == m.root, "submit unsealed with a key that is not the root");
                assert_eq!(progress.count(), 0);
            }
            Ok(Submitted::Progress(n)) => assert!(n < 3 && n == progress.count()),
            Err(SealError::MalformedShare) => assert!(!well_formed(s), "{s:?} is well formed"),
            Err(_) => {}
        }
    }
});
