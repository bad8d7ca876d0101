//! Secret paths and list prefixes (`secrets::validate_path`, `validate_prefix`): an accepted
//! path keeps to the rules, is an accepted prefix too, and is exactly what the scope
//! `secrets:read:<path>` grants and a subtree glob above it covers.
#![no_main]

use ass_client::types::MAX_PATH_BYTES;
use ass_node::access::scope::{Action, Scope};
use ass_node::secrets::{validate_path, validate_prefix};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(path) = ass_node_fuzz::text(data) else { return };
    let prefix_ok = validate_prefix(path).is_ok();
    if validate_path(path).is_err() {
        return;
    }
    assert!(prefix_ok, "an accepted path {path:?} must be an accepted list prefix");
    assert!(!path.is_empty() && path.len() <= MAX_PATH_BYTES);
    let segs: Vec<&str> = path.split('/').collect();
    assert!(segs.len() >= 2, "a path has a namespace");
    for seg in &segs {
        assert!(!seg.is_empty() && *seg != "." && *seg != "..", "segment {seg:?} in {path:?}");
        assert!(seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)));
    }
    // With a short enough prefix, the exact scope and the subtree scope above it both grant it.
    let exact = format!("secrets:read:{path}");
    if let Ok(scope) = exact.parse::<Scope>() {
        assert!(scope.allows_secret(Action::Read, path));
        assert!(!scope.allows_secret(Action::Write, path));
        assert_eq!(scope.to_string(), exact);
    } else {
        assert!(exact.len() > ass_node::access::scope::MAX_SCOPE_BYTES, "{exact:?} should parse");
    }
    let parent = &path[..path.rfind('/').expect("two segments")];
    let subtree: Scope =
        format!("secrets:*:{parent}/*").parse().expect("a path's parent is a glob");
    assert!(subtree.allows_secret(Action::Any, path));
});
