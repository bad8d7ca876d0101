//! Scope strings and path globs (`access::scope`): parse → print → parse is the identity, the
//! canonical form is the input itself (one spelling per scope), containment is reflexive and
//! sound against matching (a scope containing another allows every path the other allows).
#![no_main]

use ass_node::access::scope::{Action, PathGlob, Scope, ScopeSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(lines) = ass_node_fuzz::lines(data, 300) else { return };
    // Line 0 and 1: two scopes; the rest: paths to probe.
    let parsed: Vec<Option<Scope>> =
        lines.iter().take(2).map(|l| l.parse::<Scope>().ok()).collect();
    for (line, scope) in lines.iter().zip(&parsed) {
        let Some(scope) = scope else { continue };
        let printed = scope.to_string();
        assert_eq!(&printed, line, "a scope's canonical form is the string it came from");
        let back: Scope = printed.parse().expect("a printed scope parses");
        assert_eq!(&back, scope);
        assert!(scope.contains(scope), "containment is reflexive");
        let json = serde_json::to_string(scope).expect("serializes");
        let from_json: Scope = serde_json::from_str(&json).expect("its JSON parses");
        assert_eq!(&from_json, scope);
        if let Scope::Secrets { glob, .. } = scope {
            let g: PathGlob = glob.to_string().parse().expect("a printed glob parses");
            assert_eq!(&g, glob);
        }
    }
    let probes: Vec<&str> = lines.iter().skip(2).map(String::as_str).collect();
    if let (Some(Some(a)), Some(Some(b))) = (parsed.first(), parsed.get(1)) {
        if a.contains(b) {
            for path in &probes {
                for action in Action::ALL {
                    if b.allows_secret(action, path) {
                        assert!(
                            a.allows_secret(action, path),
                            "{a} contains {b}, which allows {action} on {path:?}, but {a} does not"
                        );
                    }
                }
            }
        }
        // An exact glob matches exactly its own path.
        if let Scope::Secrets { action, glob } = a {
            if !glob.is_all() && !glob.is_subtree() {
                assert!(a.allows_secret(*action, &glob.to_string()));
            }
        }
    }
    // A scope list: every line a scope; the parsed set prints and parses to itself.
    if let Ok(set) = ScopeSet::parse(&lines) {
        let strings = set.to_strings();
        let again = ScopeSet::parse(&strings).expect("a printed scope set parses");
        assert_eq!(again, set);
        for s in set.as_slice() {
            assert!(set.contains_scope(s));
        }
        for path in &probes {
            for action in Action::ALL {
                let any = set.as_slice().iter().any(|s| s.allows_secret(action, path));
                assert_eq!(set.allows_secret(action, path), any);
            }
        }
    }
});
