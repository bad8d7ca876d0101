//! Scopes: what a token or an agent may do.
//!
//! This module owns the scope grammar, its canonical string form, scope containment (a token's
//! scopes must lie within its parent's) and the checks the HTTP layer makes on every request.
//!
//! ```text
//! scope  = "secrets:" action ":" glob
//!        | "agents:manage" | "tokens:manage" | "approvals:decide"
//!        | "audit:read" | "policy:manage" | "sys:operator"
//! action = "read" | "write" | "list" | "delete" | "*"
//! glob   = "*"                        every path in every namespace
//!        | segment *("/" segment)      exactly one path (which must be a valid secret path)
//!        | segment *("/" segment) "/*" every path strictly below that prefix
//! ```
//!
//! Segments follow the secret path rules (`[A-Za-z0-9_.-]`, never `.` or `..`); the first one
//! is the namespace. `*` is only ever the whole glob or the whole final segment. The grammar
//! has exactly one spelling per scope, so a parsed scope displays as the string it came from.
//! Scopes are case-sensitive and carry no whitespace. No admin scope implies another, and no
//! secrets scope implies an admin one.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::secrets::validate_path;

/// Longest scope string accepted, in bytes.
pub const MAX_SCOPE_BYTES: usize = 600;

/// Most distinct scopes one [`ScopeSet`] may hold.
pub const MAX_SCOPES: usize = 256;

/// Longest excerpt of an over-long input quoted back in an error message, in characters.
const QUOTE_CHARS: usize = 80;

/// What a `secrets:` scope lets its holder do to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `read`: a secret's value, versions and metadata.
    Read,
    /// `write`: a new version of a path.
    Write,
    /// `list`: a path's metadata in a listing.
    List,
    /// `delete`: soft-delete or destroy a version.
    Delete,
    /// `*`: every action.
    Any,
}

impl Action {
    /// Every action, the wildcard last.
    pub const ALL: [Action; 5] =
        [Action::Read, Action::Write, Action::List, Action::Delete, Action::Any];

    /// The action as written in a scope: `read`, `write`, `list`, `delete` or `*`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::List => "list",
            Action::Delete => "delete",
            Action::Any => "*",
        }
    }

    /// The action written `name` (exact, case-sensitive), if there is one.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Whether a scope granting `self` grants `requested`: equal, or `self` is `*`.
    /// A requested `*` therefore needs a `*` scope.
    pub fn covers(self, requested: Action) -> bool {
        self == Action::Any || self == requested
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Action::from_name(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown secrets action {:?}; expected read, write, list, delete or *",
                quote(&s)
            ))
        })
    }
}

/// An administrative power. Each is its own scope; none implies another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Admin {
    /// `agents:manage`: create, rotate and revoke agents.
    AgentsManage,
    /// `tokens:manage`: list and revoke other principals' tokens.
    TokensManage,
    /// `approvals:decide`: approve or deny access requests.
    ApprovalsDecide,
    /// `audit:read`: query, export and follow the audit log.
    AuditRead,
    /// `policy:manage`: change the approval and token policy.
    PolicyManage,
    /// `sys:operator`: cluster operations (membership, rotation, backup).
    SysOperator,
}

impl Admin {
    /// Every admin scope.
    pub const ALL: [Admin; 6] = [
        Admin::AgentsManage,
        Admin::TokensManage,
        Admin::ApprovalsDecide,
        Admin::AuditRead,
        Admin::PolicyManage,
        Admin::SysOperator,
    ];

    /// The scope string, e.g. `agents:manage`.
    pub fn as_str(self) -> &'static str {
        match self {
            Admin::AgentsManage => "agents:manage",
            Admin::TokensManage => "tokens:manage",
            Admin::ApprovalsDecide => "approvals:decide",
            Admin::AuditRead => "audit:read",
            Admin::PolicyManage => "policy:manage",
            Admin::SysOperator => "sys:operator",
        }
    }

    /// The admin scope written `name` (exact, case-sensitive), if there is one.
    pub fn from_name(name: &str) -> Option<Admin> {
        Admin::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Admin {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Admin {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Admin::from_name(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown admin scope {:?}; expected one of {ADMIN_LIST}",
                quote(&s)
            ))
        })
    }
}

/// The admin scopes, for error messages.
const ADMIN_LIST: &str =
    "agents:manage, tokens:manage, approvals:decide, audit:read, policy:manage, sys:operator";

/// Why a path glob is refused; the message names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    /// `secrets:<action>` with no `:<glob>` after it.
    #[error("the path glob is missing; write `secrets:<action>:<glob>`, e.g. `secrets:read:production/gemini/*`")]
    Missing,
    /// `secrets:<action>:` with nothing after the colon.
    #[error("the path glob is empty; write `*` for every path or e.g. `production/gemini/*`")]
    Empty,
    /// A leading, trailing or double `/`.
    #[error("glob {glob:?} has an empty segment (a leading, trailing or double `/`)")]
    EmptySegment {
        /// The glob.
        glob: String,
    },
    /// A `.` or `..` segment.
    #[error("glob segment {0:?} is not allowed")]
    DotSegment(String),
    /// A character outside `[A-Za-z0-9_.-]` (other than a well-placed `*`).
    #[error("glob segment {0:?} has a character outside [A-Za-z0-9_.-]")]
    BadCharacter(String),
    /// `*` somewhere other than the whole glob or the whole final segment.
    #[error("glob segment {0:?} has a `*`; `*` may only be the whole glob or the whole final segment (`production/gemini/*`)")]
    MisplacedWildcard(String),
    /// A glob without a final `*` must name a valid secret path.
    #[error("glob {glob:?} names no valid secret path ({reason}); write `{glob}/*` for every path below it")]
    NotAPath {
        /// The glob.
        glob: String,
        /// Why the path rules refuse it.
        reason: String,
    },
}

/// Why a scope (or a list of scopes) is refused; the message names the scope and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The empty string.
    #[error("scope is empty")]
    Empty,
    /// More than [`MAX_SCOPE_BYTES`] bytes.
    #[error("scope {scope:?}… is {len} bytes long; the limit is {MAX_SCOPE_BYTES}")]
    TooLong {
        /// The scope's first characters.
        scope: String,
        /// Its length in bytes.
        len: usize,
    },
    /// Any whitespace, anywhere.
    #[error("scope {scope:?} contains whitespace; scopes are written without spaces")]
    Whitespace {
        /// The scope.
        scope: String,
    },
    /// Neither a `secrets:` scope nor one of the admin scopes.
    #[error("scope {scope:?} is not a known scope; expected `secrets:<action>:<glob>` or one of {ADMIN_LIST}")]
    UnknownKind {
        /// The scope.
        scope: String,
    },
    /// A `secrets:` scope whose action is not `read`, `write`, `list`, `delete` or `*`.
    #[error(
        "scope {scope:?} has unknown action {action:?}; expected read, write, list, delete or *"
    )]
    UnknownAction {
        /// The scope.
        scope: String,
        /// The action as written.
        action: String,
    },
    /// A `secrets:` scope whose glob breaks the grammar.
    #[error("scope {scope:?} has a malformed path glob: {problem}")]
    MalformedGlob {
        /// The scope.
        scope: String,
        /// What is wrong with the glob.
        problem: GlobError,
    },
    /// A scope list with no scope in it.
    #[error(
        "the scope list is empty; give at least one scope, e.g. `secrets:read:production/gemini/*`"
    )]
    EmptyList,
    /// A scope list with more than [`MAX_SCOPES`] distinct scopes.
    #[error("the scope list has {count} distinct scopes; the limit is {MAX_SCOPES}")]
    TooMany {
        /// How many distinct scopes were given.
        count: usize,
    },
}

/// The first [`QUOTE_CHARS`] characters of `s`, for quoting untrusted input in messages.
fn quote(s: &str) -> String {
    s.chars().take(QUOTE_CHARS).collect()
}

/// Checks one glob segment that is not a wildcard, by the secret path rules.
fn check_segment(seg: &str) -> Result<(), GlobError> {
    if seg.contains('*') {
        return Err(GlobError::MisplacedWildcard(quote(seg)));
    }
    if seg == "." || seg == ".." {
        return Err(GlobError::DotSegment(seg.to_string()));
    }
    if !seg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        return Err(GlobError::BadCharacter(quote(seg)));
    }
    Ok(())
}

/// The path part of a `secrets:` scope; see the module docs for the grammar.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathGlob {
    kind: GlobKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum GlobKind {
    /// `*`.
    All,
    /// `a/b/*`: the segments before the final `*` (at least one).
    Subtree(Vec<String>),
    /// `a/b/c`: one valid secret path.
    Exact(Vec<String>),
}

impl PathGlob {
    /// `*`: every path in every namespace.
    pub fn all() -> PathGlob {
        PathGlob { kind: GlobKind::All }
    }

    /// Whether this is the `*` glob.
    pub fn is_all(&self) -> bool {
        matches!(self.kind, GlobKind::All)
    }

    /// Whether the glob ends in `/*` (a prefix and everything below it).
    pub fn is_subtree(&self) -> bool {
        matches!(self.kind, GlobKind::Subtree(_))
    }

    /// The namespace the glob is confined to; `None` for `*`.
    pub fn namespace(&self) -> Option<&str> {
        match &self.kind {
            GlobKind::All => None,
            GlobKind::Subtree(segs) | GlobKind::Exact(segs) => segs.first().map(String::as_str),
        }
    }

    /// Whether the glob matches `path`. A path that breaks the secret path rules
    /// ([`validate_path`]) never matches, not even `*`.
    pub fn matches(&self, path: &str) -> bool {
        validate_path(path).is_ok() && self.matches_valid(path)
    }

    /// [`PathGlob::matches`] for a path already checked by [`validate_path`].
    fn matches_valid(&self, path: &str) -> bool {
        match &self.kind {
            GlobKind::All => true,
            GlobKind::Exact(segs) => path.split('/').eq(segs.iter().map(String::as_str)),
            GlobKind::Subtree(prefix) => {
                let mut parts = path.split('/');
                prefix.iter().all(|p| parts.next() == Some(p.as_str())) && parts.next().is_some()
            }
        }
    }

    /// Whether every path `other` matches is matched by `self`.
    pub fn contains(&self, other: &PathGlob) -> bool {
        match (&self.kind, &other.kind) {
            (GlobKind::All, _) => true,
            (_, GlobKind::All) => false,
            (GlobKind::Subtree(p), GlobKind::Subtree(q)) => q.starts_with(p),
            (GlobKind::Subtree(p), GlobKind::Exact(q)) => q.len() > p.len() && q.starts_with(p),
            (GlobKind::Exact(p), GlobKind::Exact(q)) => p == q,
            (GlobKind::Exact(_), GlobKind::Subtree(_)) => false,
        }
    }
}

impl FromStr for PathGlob {
    type Err = GlobError;

    fn from_str(glob: &str) -> Result<PathGlob, GlobError> {
        if glob.is_empty() {
            return Err(GlobError::Empty);
        }
        if glob == "*" {
            return Ok(PathGlob::all());
        }
        let (prefix, subtree) = match glob.strip_suffix("/*") {
            Some(prefix) => (prefix, true),
            None => (glob, false),
        };
        let mut segs = Vec::new();
        for seg in prefix.split('/') {
            if seg.is_empty() {
                return Err(GlobError::EmptySegment { glob: quote(glob) });
            }
            check_segment(seg)?;
            segs.push(seg.to_string());
        }
        if subtree {
            return Ok(PathGlob { kind: GlobKind::Subtree(segs) });
        }
        validate_path(glob)
            .map_err(|e| GlobError::NotAPath { glob: quote(glob), reason: e.to_string() })?;
        Ok(PathGlob { kind: GlobKind::Exact(segs) })
    }
}

impl fmt::Display for PathGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            GlobKind::All => f.write_str("*"),
            GlobKind::Exact(segs) => f.write_str(&segs.join("/")),
            GlobKind::Subtree(segs) => write!(f, "{}/*", segs.join("/")),
        }
    }
}

impl Serialize for PathGlob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PathGlob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One scope: a secrets action on a path glob, or an admin power.
///
/// Parse with [`str::parse`]; [`Display`](fmt::Display) gives the canonical string, which
/// parses back to the same scope. Serde reads and writes that string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `secrets:<action>:<glob>`.
    Secrets {
        /// What may be done.
        action: Action,
        /// To which paths.
        glob: PathGlob,
    },
    /// One of the admin scopes.
    Admin(Admin),
}

impl Scope {
    /// Whether `other` grants nothing `self` does not: both admin and equal, or both secrets
    /// with `self`'s action covering `other`'s and `self`'s glob containing `other`'s.
    pub fn contains(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::Admin(a), Scope::Admin(b)) => a == b,
            (
                Scope::Secrets { action, glob },
                Scope::Secrets { action: other_action, glob: other_glob },
            ) => action.covers(*other_action) && glob.contains(other_glob),
            _ => false,
        }
    }

    /// Whether this scope lets its holder do `action` to `path`. A requested
    /// [`Action::Any`] needs a `*` scope; a path breaking the path rules is never allowed.
    pub fn allows_secret(&self, action: Action, path: &str) -> bool {
        validate_path(path).is_ok() && self.allows_valid_secret(action, path)
    }

    /// [`Scope::allows_secret`] for a path already checked by [`validate_path`].
    fn allows_valid_secret(&self, action: Action, path: &str) -> bool {
        match self {
            Scope::Secrets { action: granted, glob } => {
                granted.covers(action) && glob.matches_valid(path)
            }
            Scope::Admin(_) => false,
        }
    }

    /// Whether this scope is the admin scope `admin`.
    pub fn allows_admin(&self, admin: Admin) -> bool {
        matches!(self, Scope::Admin(a) if *a == admin)
    }
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Scope, ScopeError> {
        if s.is_empty() {
            return Err(ScopeError::Empty);
        }
        if s.len() > MAX_SCOPE_BYTES {
            return Err(ScopeError::TooLong { scope: quote(s), len: s.len() });
        }
        if s.chars().any(char::is_whitespace) {
            return Err(ScopeError::Whitespace { scope: s.to_string() });
        }
        if let Some(admin) = Admin::from_name(s) {
            return Ok(Scope::Admin(admin));
        }
        let Some(rest) = s.strip_prefix("secrets:") else {
            return Err(ScopeError::UnknownKind { scope: s.to_string() });
        };
        let (action_str, glob_str) = match rest.split_once(':') {
            Some((a, g)) => (a, Some(g)),
            None => (rest, None),
        };
        let Some(action) = Action::from_name(action_str) else {
            return Err(ScopeError::UnknownAction {
                scope: s.to_string(),
                action: action_str.to_string(),
            });
        };
        let glob = glob_str
            .ok_or(GlobError::Missing)
            .and_then(str::parse::<PathGlob>)
            .map_err(|problem| ScopeError::MalformedGlob { scope: s.to_string(), problem })?;
        Ok(Scope::Secrets { action, glob })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Secrets { action, glob } => write!(f, "secrets:{action}:{glob}"),
            Scope::Admin(admin) => f.write_str(admin.as_str()),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The scope an error message should say is missing, e.g. `secrets:read:production/x/K`.
///
/// `path` is quoted as given (it is the caller's own request), cut to a bounded length.
pub fn needed_secret_scope(action: Action, path: &str) -> String {
    let path: String = path.chars().take(MAX_SCOPE_BYTES).collect();
    format!("secrets:{action}:{path}")
}

/// A non-empty set of distinct scopes, in the order first given: what an agent or token holds.
///
/// Serde reads and writes it as a list of scope strings, through [`ScopeSet::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    /// Parses a list of scope strings. An empty list, or one with more than [`MAX_SCOPES`]
    /// distinct scopes, is refused; the first bad scope's error is returned; exact duplicates
    /// are dropped silently (the first occurrence keeps its place).
    pub fn parse(scopes: &[String]) -> Result<ScopeSet, ScopeError> {
        if scopes.is_empty() {
            return Err(ScopeError::EmptyList);
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for s in scopes {
            let scope: Scope = s.parse()?;
            if seen.insert(scope.clone()) {
                out.push(scope);
            }
        }
        if out.len() > MAX_SCOPES {
            return Err(ScopeError::TooMany { count: out.len() });
        }
        Ok(ScopeSet(out))
    }

    /// The scopes, in order.
    pub fn as_slice(&self) -> &[Scope] {
        &self.0
    }

    /// Whether some member contains `scope`.
    pub fn contains_scope(&self, scope: &Scope) -> bool {
        self.0.iter().any(|s| s.contains(scope))
    }

    /// `Ok` when every scope of `requested` is contained by some member of `self`; otherwise
    /// the first requested scope that is not.
    pub fn contains_all(&self, requested: &ScopeSet) -> Result<(), Scope> {
        match requested.0.iter().find(|r| !self.contains_scope(r)) {
            Some(missing) => Err(missing.clone()),
            None => Ok(()),
        }
    }

    /// Whether some member allows `action` on `path` (see [`Scope::allows_secret`]).
    /// The path is validated once, not once per member.
    pub fn allows_secret(&self, action: Action, path: &str) -> bool {
        validate_path(path).is_ok() && self.0.iter().any(|s| s.allows_valid_secret(action, path))
    }

    /// Whether the set holds the admin scope `admin`.
    pub fn allows_admin(&self, admin: Admin) -> bool {
        self.0.iter().any(|s| s.allows_admin(admin))
    }

    /// Whether `path` may appear in a listing: `allows_secret(Action::List, path)`. Call it
    /// on each listed path, not on the listing's prefix.
    pub fn may_list(&self, path: &str) -> bool {
        self.allows_secret(Action::List, path)
    }

    /// The canonical strings, in order.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(Scope::to_string).collect()
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_strings().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = Vec::<String>::deserialize(deserializer)?;
        ScopeSet::parse(&v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scope(s: &str) -> Scope {
        match s.parse() {
            Ok(sc) => sc,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn set(items: &[&str]) -> ScopeSet {
        let v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        match ScopeSet::parse(&v) {
            Ok(s) => s,
            Err(e) => panic!("{items:?} should parse: {e}"),
        }
    }

    fn err(s: &str) -> ScopeError {
        match s.parse::<Scope>() {
            Ok(sc) => panic!("{s:?} should be refused, got {sc:?}"),
            Err(e) => e,
        }
    }

    fn glob_err(s: &str) -> GlobError {
        match err(s) {
            ScopeError::MalformedGlob { scope, problem } => {
                assert_eq!(scope, s);
                problem
            }
            other => panic!("{s:?}: expected a glob error, got {other:?}"),
        }
    }

    // ---- grammar: what parses ----

    #[test]
    fn hardening_guide_forms_parse() {
        for s in [
            "secrets:read:production/gemini/*",
            "secrets:read:*",
            "secrets:read:production/stripe/*",
            "secrets:read:production/*",
            "secrets:read:production/db/*",
            "secrets:read:production/bedrock/*",
            "secrets:read:production/slack/*",
            "secrets:read:production/sendgrid/*",
            "secrets:read:production/database/*",
        ] {
            let sc = scope(s);
            assert_eq!(sc.to_string(), s);
            assert!(matches!(sc, Scope::Secrets { action: Action::Read, .. }));
        }
    }

    #[test]
    fn every_action_parses() {
        for (s, a) in [
            ("secrets:read:a/b", Action::Read),
            ("secrets:write:a/b", Action::Write),
            ("secrets:list:a/b", Action::List),
            ("secrets:delete:a/b", Action::Delete),
            ("secrets:*:a/b", Action::Any),
        ] {
            match scope(s) {
                Scope::Secrets { action, glob } => {
                    assert_eq!(action, a);
                    assert_eq!(glob.to_string(), "a/b");
                    assert!(!glob.is_all());
                    assert!(!glob.is_subtree());
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn every_admin_scope_parses() {
        for a in Admin::ALL {
            assert_eq!(scope(a.as_str()), Scope::Admin(a));
            assert_eq!(Scope::Admin(a).to_string(), a.as_str());
            assert_eq!(Admin::from_name(a.as_str()), Some(a));
        }
        assert_eq!(scope("agents:manage"), Scope::Admin(Admin::AgentsManage));
        assert_eq!(scope("sys:operator"), Scope::Admin(Admin::SysOperator));
    }

    #[test]
    fn glob_shapes() {
        let Scope::Secrets { glob, .. } = scope("secrets:read:*") else { panic!() };
        assert!(glob.is_all());
        assert_eq!(glob.namespace(), None);

        let Scope::Secrets { glob, .. } = scope("secrets:read:production/gemini/*") else {
            panic!()
        };
        assert!(glob.is_subtree());
        assert_eq!(glob.namespace(), Some("production"));

        let Scope::Secrets { glob, .. } = scope("secrets:read:production/*") else { panic!() };
        assert!(glob.is_subtree());
        assert_eq!(glob.namespace(), Some("production"));

        let Scope::Secrets { glob, .. } = scope("secrets:write:dev/x/KEY") else { panic!() };
        assert!(!glob.is_subtree());
        assert_eq!(glob.namespace(), Some("dev"));
        // Segments may hold dots, dashes and underscores, as paths do.
        scope("secrets:read:a-b/c_d/e.f/1");
        scope("secrets:read:a-b/.hidden/*");
        scope("secrets:read:a/...");
        // `versions` is only reserved as a path's last segment.
        scope("secrets:read:a/versions/*");
        scope("secrets:read:a/versions/x");
    }

    // ---- grammar: each error ----

    #[test]
    fn empty_and_too_long() {
        assert_eq!(err(""), ScopeError::Empty);
        let long = format!("secrets:read:a/{}", "b".repeat(MAX_SCOPE_BYTES));
        match err(&long) {
            ScopeError::TooLong { scope, len } => {
                assert_eq!(len, long.len());
                assert!(long.starts_with(&scope));
                assert!(scope.chars().count() <= QUOTE_CHARS);
            }
            other => panic!("{other:?}"),
        }
        // Exactly the limit is accepted (as far as length goes).
        let at_limit =
            format!("secrets:read:a/{}/*", "b".repeat(MAX_SCOPE_BYTES - "secrets:read:a//*".len()));
        assert_eq!(at_limit.len(), MAX_SCOPE_BYTES);
        scope(&at_limit);
        let over = format!("{at_limit}x");
        assert!(matches!(err(&over), ScopeError::TooLong { .. }));
    }

    #[test]
    fn whitespace_anywhere_is_refused() {
        for s in [
            " secrets:read:*",
            "secrets:read:* ",
            "secrets: read:*",
            "secrets:read:production/ gemini/*",
            "secrets:read:a/b\t",
            "secrets:read:a/b\n",
            "agents:manage\r\n",
            "secrets:read:a/b\u{a0}",
            " ",
            "\t",
        ] {
            assert_eq!(err(s), ScopeError::Whitespace { scope: s.to_string() }, "{s:?}");
        }
    }

    #[test]
    fn unknown_kinds() {
        for s in [
            "secret:read:*",
            "Secrets:read:*",
            "SECRETS:READ:*",
            "agents:read",
            "agents:manage:x",
            "agents",
            "sys:operator:",
            "audit:write",
            "tokens:*",
            "*",
            "read",
            ":",
            "secrets",
        ] {
            assert_eq!(err(s), ScopeError::UnknownKind { scope: s.to_string() }, "{s:?}");
        }
    }

    #[test]
    fn unknown_actions() {
        for (s, a) in [
            ("secrets:raed:*", "raed"),
            ("secrets:Read:*", "Read"),
            ("secrets:READ:a/b", "READ"),
            ("secrets:get:a/b", "get"),
            ("secrets::*", ""),
            ("secrets:", ""),
            ("secrets:**:*", "**"),
            ("secrets:read,write:*", "read,write"),
            ("secrets:manage", "manage"),
        ] {
            assert_eq!(
                err(s),
                ScopeError::UnknownAction { scope: s.to_string(), action: a.to_string() },
                "{s:?}"
            );
        }
    }

    #[test]
    fn missing_and_empty_globs() {
        assert_eq!(glob_err("secrets:read"), GlobError::Missing);
        assert_eq!(glob_err("secrets:*"), GlobError::Missing);
        assert_eq!(glob_err("secrets:read:"), GlobError::Empty);
    }

    #[test]
    fn empty_segments() {
        for (s, g) in [
            ("secrets:read:/a/b", "/a/b"),
            ("secrets:read:a//b", "a//b"),
            ("secrets:read:a/b/", "a/b/"),
            ("secrets:read:/*", "/*"),
            ("secrets:read://*", "//*"),
            ("secrets:read:a//*", "a//*"),
            ("secrets:read:/", "/"),
        ] {
            assert_eq!(glob_err(s), GlobError::EmptySegment { glob: g.to_string() }, "{s:?}");
        }
    }

    #[test]
    fn dot_segments() {
        for (s, seg) in [
            ("secrets:read:../x", ".."),
            ("secrets:read:production/../*", ".."),
            ("secrets:read:./a", "."),
            ("secrets:read:a/./b/*", "."),
            ("secrets:read:a/..", ".."),
        ] {
            assert_eq!(glob_err(s), GlobError::DotSegment(seg.to_string()), "{s:?}");
        }
    }

    #[test]
    fn bad_characters() {
        for (s, seg) in [
            ("secrets:read:a/b:c", "b:c"),
            ("secrets:read:a:b", "a:b"),
            ("secrets:read:a/é", "é"),
            ("secrets:read:a/%2e%2e/*", "%2e%2e"),
            ("secrets:read:a/b\0c", "b\0c"),
            ("secrets:read:a\\b/*", "a\\b"),
            ("secrets:read:a/b?/*", "b?"),
            ("secrets:read:a/[b]", "[b]"),
        ] {
            assert_eq!(glob_err(s), GlobError::BadCharacter(seg.to_string()), "{s:?}");
        }
    }

    #[test]
    fn misplaced_wildcards() {
        for (s, seg) in [
            ("secrets:read:**", "**"),
            ("secrets:read:*/a", "*"),
            ("secrets:read:*/*", "*"),
            ("secrets:read:a/*/b", "*"),
            ("secrets:read:a/*/*", "*"),
            ("secrets:read:production/gemini*", "gemini*"),
            ("secrets:read:production/gem*/x", "gem*"),
            ("secrets:read:production/*x", "*x"),
            ("secrets:read:production/**", "**"),
            ("secrets:read:a/b/**", "**"),
            ("secrets:read:*a", "*a"),
        ] {
            assert_eq!(glob_err(s), GlobError::MisplacedWildcard(seg.to_string()), "{s:?}");
        }
    }

    #[test]
    fn exact_globs_must_name_a_valid_path() {
        for s in ["secrets:read:production", "secrets:read:a/versions"] {
            assert!(matches!(glob_err(s), GlobError::NotAPath { .. }), "{s:?}");
        }
        let msg = err("secrets:read:production").to_string();
        assert!(msg.contains("production/*"), "{msg}");
        // An exact glob longer than a path may be is refused too.
        let long = format!("secrets:read:a/{}", "b".repeat(520));
        assert!(matches!(glob_err(&long), GlobError::NotAPath { .. }));
    }

    #[test]
    fn error_messages_name_the_input() {
        for s in [
            "secret:read:*",
            "secrets:raed:*",
            "secrets:read:a/*/b",
            "secrets:read:a//b",
            "secrets:read:a b",
            "secrets:read:production",
        ] {
            let msg = err(s).to_string();
            assert!(msg.contains(&format!("{s:?}")), "{msg}");
        }
        let msg = err("secrets:raed:*").to_string();
        assert!(msg.contains("\"raed\""), "{msg}");
        let msg = err("secrets:read:a/gem*/x").to_string();
        assert!(msg.contains("\"gem*\""), "{msg}");
        let msg = err("secrets:read:a/../x").to_string();
        assert!(msg.contains("\"..\""), "{msg}");
        // Control characters are escaped, never echoed raw.
        let msg = err("secrets:read:a/b\u{1b}[31m").to_string();
        assert!(!msg.contains('\u{1b}'), "{msg}");
        let msg = err("secrets:read:a\nb").to_string();
        assert!(!msg.contains('\n'), "{msg}");
        assert!(ScopeError::EmptyList.to_string().contains("empty"));
    }

    // ---- containment ----

    #[test]
    fn containment_examples_from_the_brief() {
        let c = |a: &str, b: &str| scope(a).contains(&scope(b));
        assert!(c("secrets:read:production/*", "secrets:read:production/gemini/*"));
        assert!(!c("secrets:write:production/*", "secrets:read:production/gemini/*"));
        assert!(c("secrets:*:production/*", "secrets:delete:production/x/*"));
        assert!(!c("secrets:read:production/*", "secrets:read:*"));
        assert!(!c("secrets:read:production/*", "secrets:read:productionX/*"));
    }

    #[test]
    fn glob_containment_rules() {
        let c = |a: &str, b: &str| scope(a).contains(&scope(b));
        // `*` contains everything.
        for b in ["*", "a/*", "a/b/*", "a/b", "a/b/c"] {
            assert!(c("secrets:read:*", &format!("secrets:read:{b}")), "{b}");
        }
        // A subtree contains itself, deeper subtrees and paths strictly below it.
        for b in ["a/b/*", "a/b/c/*", "a/b/c", "a/b/c/d"] {
            assert!(c("secrets:read:a/b/*", &format!("secrets:read:{b}")), "{b}");
        }
        for b in ["*", "a/*", "a/b", "a/c/*", "a/c", "a/bc/*", "a/bc/d", "b/b/c", "x/a/b/c"] {
            assert!(!c("secrets:read:a/b/*", &format!("secrets:read:{b}")), "{b}");
        }
        // An exact glob contains only itself.
        assert!(c("secrets:read:a/b", "secrets:read:a/b"));
        for b in ["*", "a/*", "a/b/*", "a/b/c", "a/bb", "a/c"] {
            assert!(!c("secrets:read:a/b", &format!("secrets:read:{b}")), "{b}");
        }
    }

    #[test]
    fn action_containment_rules() {
        let c = |a: &str, b: &str| scope(a).contains(&scope(b));
        for a in ["read", "write", "list", "delete", "*"] {
            assert!(c("secrets:*:x/*", &format!("secrets:{a}:x/*")), "{a}");
            assert!(c(&format!("secrets:{a}:x/*"), &format!("secrets:{a}:x/*")));
        }
        for a in ["read", "write", "list", "delete"] {
            assert!(!c(&format!("secrets:{a}:x/*"), "secrets:*:x/*"), "{a}");
            for b in ["read", "write", "list", "delete"] {
                assert_eq!(c(&format!("secrets:{a}:x/*"), &format!("secrets:{b}:x/*")), a == b);
            }
        }
    }

    #[test]
    fn admin_and_secrets_kinds_never_contain_each_other() {
        let all = scope("secrets:*:*");
        for a in Admin::ALL {
            let adm = Scope::Admin(a);
            assert!(!all.contains(&adm));
            assert!(!adm.contains(&all));
            assert!(!all.allows_admin(a));
            for b in Admin::ALL {
                assert_eq!(adm.contains(&Scope::Admin(b)), a == b);
                assert_eq!(adm.allows_admin(b), a == b);
            }
            for act in Action::ALL {
                assert!(!adm.allows_secret(act, "production/gemini/KEY"));
            }
        }
        // No admin scope implies another, not even sys:operator.
        assert!(!Scope::Admin(Admin::SysOperator).allows_admin(Admin::AgentsManage));
    }

    // ---- checks ----

    #[test]
    fn subtree_matching() {
        let s = scope("secrets:read:production/gemini/*");
        assert!(s.allows_secret(Action::Read, "production/gemini/KEY"));
        assert!(s.allows_secret(Action::Read, "production/gemini/a/b"));
        assert!(!s.allows_secret(Action::Read, "production/gemini"));
        assert!(!s.allows_secret(Action::Read, "production/geminiX/KEY"));
        assert!(!s.allows_secret(Action::Read, "production/gemin/KEY"));
        assert!(!s.allows_secret(Action::Read, "staging/gemini/KEY"));
        assert!(!s.allows_secret(Action::Write, "production/gemini/KEY"));
        assert!(!s.allows_secret(Action::Any, "production/gemini/KEY"));
    }

    #[test]
    fn exact_and_all_matching() {
        let e = scope("secrets:write:production/x/K");
        assert!(e.allows_secret(Action::Write, "production/x/K"));
        assert!(!e.allows_secret(Action::Write, "production/x/K2"));
        assert!(!e.allows_secret(Action::Write, "production/x/K/L"));
        assert!(!e.allows_secret(Action::Write, "production/x"));
        assert!(!e.allows_secret(Action::Read, "production/x/K"));

        let all = scope("secrets:*:*");
        for act in Action::ALL {
            assert!(all.allows_secret(act, "dev/a"));
            assert!(all.allows_secret(act, "production/gemini/KEY"));
        }
        let read_all = scope("secrets:read:*");
        assert!(read_all.allows_secret(Action::Read, "anything/at/all"));
        assert!(!read_all.allows_secret(Action::List, "anything/at/all"));
        assert!(!read_all.allows_secret(Action::Any, "anything/at/all"));
    }

    #[test]
    fn invalid_paths_are_never_allowed() {
        let all = scope("secrets:*:*");
        let sub = scope("secrets:*:production/*");
        // A set validates the path once, before its members match.
        let set =
            ScopeSet::parse(&["secrets:*:*".to_string(), "sys:operator".to_string()]).unwrap();
        assert!(set.allows_secret(Action::Read, "production/x"));
        for p in [
            "",
            "production",
            "production/",
            "/production/x",
            "production//x",
            "production/../staging/x",
            "production/./x",
            "production/x/..",
            "production/x y",
            "production/x%2F..",
            "production/versions",
            "production/é",
        ] {
            assert!(!all.allows_secret(Action::Read, p), "{p:?}");
            assert!(!sub.allows_secret(Action::Read, p), "{p:?}");
            assert!(!set.allows_secret(Action::Read, p), "{p:?}");
        }
        let long = format!("production/{}", "x".repeat(600));
        assert!(!all.allows_secret(Action::Read, &long));
    }

    #[test]
    fn needed_scope_string() {
        assert_eq!(
            needed_secret_scope(Action::Read, "production/x/K"),
            "secrets:read:production/x/K"
        );
        assert_eq!(needed_secret_scope(Action::Any, "dev/a"), "secrets:*:dev/a");
        let needed = needed_secret_scope(Action::Delete, "production/x/K");
        assert!(scope(&needed).allows_secret(Action::Delete, "production/x/K"));
        let long = needed_secret_scope(Action::Read, &"x".repeat(10_000));
        assert!(long.len() <= "secrets:read:".len() + MAX_SCOPE_BYTES);
    }

    // ---- scope sets ----

    #[test]
    fn scope_set_parse() {
        assert_eq!(ScopeSet::parse(&[]), Err(ScopeError::EmptyList));
        let s = set(&[
            "secrets:read:production/gemini/*",
            "audit:read",
            "secrets:read:production/gemini/*",
            "audit:read",
        ]);
        assert_eq!(s.to_strings(), vec!["secrets:read:production/gemini/*", "audit:read"]);
        assert_eq!(s.as_slice().len(), 2);
        // The first bad scope's error comes back.
        let v = vec!["audit:read".to_string(), "secrets:raed:*".to_string(), "".to_string()];
        assert!(matches!(ScopeSet::parse(&v), Err(ScopeError::UnknownAction { .. })));
        let v = vec![String::new()];
        assert_eq!(ScopeSet::parse(&v), Err(ScopeError::Empty));
    }

    #[test]
    fn scope_set_size_limit() {
        let many: Vec<String> =
            (0..=MAX_SCOPES).map(|i| format!("secrets:read:ns/s{i}/*")).collect();
        assert_eq!(ScopeSet::parse(&many), Err(ScopeError::TooMany { count: MAX_SCOPES + 1 }));
        let ok: Vec<String> = many.iter().take(MAX_SCOPES).cloned().collect();
        assert!(ScopeSet::parse(&ok).is_ok());
        // Duplicates don't count against the limit.
        let dups: Vec<String> = (0..1000).map(|_| "audit:read".to_string()).collect();
        assert!(ScopeSet::parse(&dups).is_ok());
    }

    #[test]
    fn scope_set_checks() {
        let agent = set(&[
            "secrets:read:production/gemini/*",
            "secrets:read:production/bedrock/*",
            "secrets:list:production/*",
            "approvals:decide",
        ]);
        assert!(agent.allows_secret(Action::Read, "production/gemini/GEMINI_API_KEY"));
        assert!(agent.allows_secret(Action::Read, "production/bedrock/AWS_ACCESS_KEY_ID"));
        assert!(!agent.allows_secret(Action::Read, "production/stripe/STRIPE_SECRET_KEY"));
        assert!(agent.may_list("production/stripe/STRIPE_SECRET_KEY"));
        assert!(!agent.may_list("staging/stripe/STRIPE_SECRET_KEY"));
        assert!(agent.allows_admin(Admin::ApprovalsDecide));
        assert!(!agent.allows_admin(Admin::AgentsManage));

        assert!(agent.contains_scope(&scope("secrets:read:production/gemini/x/*")));
        assert!(!agent.contains_scope(&scope("secrets:read:production/*")));

        let token = set(&["secrets:read:production/gemini/*", "secrets:list:production/x/*"]);
        assert_eq!(agent.contains_all(&token), Ok(()));
        let broad = set(&[
            "secrets:read:production/gemini/*",
            "secrets:read:*",
            "secrets:write:production/*",
        ]);
        assert_eq!(agent.contains_all(&broad), Err(scope("secrets:read:*")));
        let admin = set(&["agents:manage"]);
        assert_eq!(agent.contains_all(&admin), Err(scope("agents:manage")));
        assert_eq!(agent.contains_all(&agent), Ok(()));
    }

    #[test]
    fn serde_as_strings() {
        let s = scope("secrets:read:production/gemini/*");
        let json = serde_json::to_string(&s).unwrap_or_default();
        assert_eq!(json, "\"secrets:read:production/gemini/*\"");
        let back: Scope = serde_json::from_str(&json).unwrap_or(Scope::Admin(Admin::AuditRead));
        assert_eq!(back, s);
        let bad = serde_json::from_str::<Scope>("\"secrets:raed:*\"");
        assert!(bad.is_err_and(|e| e.to_string().contains("raed")));

        let ss = set(&["audit:read", "secrets:*:dev/*"]);
        let json = serde_json::to_string(&ss).unwrap_or_default();
        assert_eq!(json, r#"["audit:read","secrets:*:dev/*"]"#);
        assert_eq!(serde_json::from_str::<ScopeSet>(&json).ok(), Some(ss));
        assert!(serde_json::from_str::<ScopeSet>("[]").is_err());

        assert_eq!(serde_json::to_string(&Action::Any).ok().as_deref(), Some("\"*\""));
        assert_eq!(serde_json::from_str::<Action>("\"list\"").ok(), Some(Action::List));
        assert!(serde_json::from_str::<Action>("\"LIST\"").is_err());
        assert_eq!(
            serde_json::to_string(&Admin::PolicyManage).ok().as_deref(),
            Some("\"policy:manage\"")
        );
        assert_eq!(serde_json::from_str::<Admin>("\"audit:read\"").ok(), Some(Admin::AuditRead));
        assert!(serde_json::from_str::<Admin>("\"audit:write\"").is_err());

        let g: PathGlob = serde_json::from_str("\"a/b/*\"").unwrap_or_else(|_| PathGlob::all());
        assert!(g.is_subtree());
        assert_eq!(serde_json::to_string(&g).ok().as_deref(), Some("\"a/b/*\""));
        assert!(serde_json::from_str::<PathGlob>("\"a/*/b\"").is_err());
    }

    #[test]
    fn action_names() {
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.as_str()), Some(a));
            assert_eq!(a.to_string(), a.as_str());
            assert!(Action::Any.covers(a));
            assert!(a.covers(a));
        }
        assert_eq!(Action::from_name("Read"), None);
        assert_eq!(Action::from_name(""), None);
        assert!(!Action::Read.covers(Action::Any));
    }

    // ---- properties ----

    const SEGS: [&str; 5] = ["production", "staging", "dev", "a", "b"];

    fn seg() -> impl Strategy<Value = String> {
        prop::sample::select(SEGS.to_vec()).prop_map(str::to_string)
    }

    fn path() -> impl Strategy<Value = String> {
        prop::collection::vec(seg(), 2..5).prop_map(|v| v.join("/"))
    }

    fn action() -> impl Strategy<Value = Action> {
        prop::sample::select(Action::ALL.to_vec())
    }

    fn glob_str() -> impl Strategy<Value = String> {
        prop_oneof![
            1 => Just("*".to_string()),
            3 => prop::collection::vec(seg(), 1..4).prop_map(|v| format!("{}/*", v.join("/"))),
            3 => prop::collection::vec(seg(), 2..5).prop_map(|v| v.join("/")),
        ]
    }

    fn scope_str() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => (action(), glob_str()).prop_map(|(a, g)| format!("secrets:{a}:{g}")),
            1 => prop::sample::select(Admin::ALL.to_vec()).prop_map(|a| a.as_str().to_string()),
        ]
    }

    fn any_scope() -> impl Strategy<Value = Scope> {
        scope_str().prop_map(|s| scope(&s))
    }

    /// A request `b` allows and, when `a` does not contain `b`, `a` does not allow.
    fn witness(a: &Scope, b: &Scope) -> Option<(Action, String)> {
        let (Scope::Secrets { action: aa, glob: _ }, Scope::Secrets { action: ba, glob }) = (a, b)
        else {
            return None;
        };
        let act = if *ba == Action::Any {
            if *aa == Action::Any {
                Action::Read
            } else {
                Action::Any
            }
        } else {
            *ba
        };
        let p = match &glob.kind {
            GlobKind::All => "zz_witness/x".to_string(),
            GlobKind::Subtree(segs) => format!("{}/zz_witness", segs.join("/")),
            GlobKind::Exact(segs) => segs.join("/"),
        };
        Some((act, p))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn prop_round_trip(s in scope_str()) {
            let sc: Scope = s.parse().map_err(|e: ScopeError| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(sc.to_string(), s.clone());
            let again: Scope = sc.to_string().parse().map_err(|e: ScopeError| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(again, sc);
        }

        #[test]
        fn prop_reflexive(a in any_scope()) {
            prop_assert!(a.contains(&a));
        }

        #[test]
        fn prop_transitive(a in any_scope(), b in any_scope(), c in any_scope()) {
            if a.contains(&b) && b.contains(&c) {
                prop_assert!(a.contains(&c), "{a} ⊇ {b} ⊇ {c}");
            }
        }

        #[test]
        fn prop_sound(a in any_scope(), b in any_scope(), act in action(), p in path()) {
            if a.contains(&b) && b.allows_secret(act, &p) {
                prop_assert!(a.allows_secret(act, &p), "{a} ⊇ {b}, {act} {p}");
            }
        }

        #[test]
        fn prop_contains_is_exact(a in any_scope(), b in any_scope()) {
            // When `a` does not contain `b`, some request shows it.
            if !a.contains(&b) {
                if let Some((act, p)) = witness(&a, &b) {
                    prop_assert!(b.allows_secret(act, &p), "{b} should allow {act} {p}");
                    prop_assert!(!a.allows_secret(act, &p), "{a} should not allow {act} {p}");
                }
            }
        }

        #[test]
        fn prop_namespace_isolation(a in any_scope(), act in action(), p in path()) {
            if let Scope::Secrets { glob, .. } = &a {
                if let Some(ns) = glob.namespace() {
                    if p.split('/').next() != Some(ns) {
                        prop_assert!(!a.allows_secret(act, &p), "{a} allowed {p}");
                    }
                }
            }
        }

        #[test]
        fn prop_any_action_needs_star(a in any_scope(), p in path()) {
            if a.allows_secret(Action::Any, &p) {
                let is_star = matches!(a, Scope::Secrets { action: Action::Any, .. });
                prop_assert!(is_star, "{} allowed a `*` request", a);
                for act in Action::ALL {
                    prop_assert!(a.allows_secret(act, &p));
                }
            }
        }

        #[test]
        fn prop_needed_scope_allows(act in action(), p in path()) {
            let needed = scope(&needed_secret_scope(act, &p));
            prop_assert!(needed.allows_secret(act, &p));
        }

        #[test]
        fn prop_set_is_union(v in prop::collection::vec(scope_str(), 1..6), act in action(), p in path(), probe in any_scope()) {
            let s = ScopeSet::parse(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let members: Vec<Scope> = v.iter().map(|x| scope(x)).collect();
            prop_assert_eq!(s.allows_secret(act, &p), members.iter().any(|m| m.allows_secret(act, &p)));
            prop_assert_eq!(s.contains_scope(&probe), members.iter().any(|m| m.contains(&probe)));
            prop_assert_eq!(s.may_list(&p), s.allows_secret(Action::List, &p));
            for adm in Admin::ALL {
                prop_assert_eq!(s.allows_admin(adm), members.contains(&Scope::Admin(adm)));
            }
            prop_assert_eq!(s.contains_all(&s), Ok(()));
            let again = ScopeSet::parse(&s.to_strings()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(again, s);
        }

        #[test]
        fn prop_contains_all(a in prop::collection::vec(scope_str(), 1..5), b in prop::collection::vec(scope_str(), 1..5)) {
            let a = ScopeSet::parse(&a).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let b = ScopeSet::parse(&b).map_err(|e| TestCaseError::fail(e.to_string()))?;
            match a.contains_all(&b) {
                Ok(()) => prop_assert!(b.as_slice().iter().all(|s| a.contains_scope(s))),
                Err(missing) => {
                    prop_assert!(!a.contains_scope(&missing));
                    let first = b.as_slice().iter().find(|s| !a.contains_scope(s));
                    prop_assert_eq!(first, Some(&missing));
                }
            }
        }

        #[test]
        fn prop_arbitrary_input_never_panics_and_accepted_is_canonical(s in "\\PC{0,40}") {
            if let Ok(sc) = s.parse::<Scope>() {
                prop_assert_eq!(sc.to_string(), s);
            }
        }

        #[test]
        fn prop_grammar_like_input_is_canonical(
            s in "(secrets|agents|sys):(read|write|list|\\*|manage|operator)(:[a-c*./ ]{0,12})?"
        ) {
            if let Ok(sc) = s.parse::<Scope>() {
                prop_assert_eq!(sc.to_string(), s);
            }
        }

        #[test]
        fn prop_segment_rules_match_path_rules(seg in "[a-zA-Z0-9_.\\-*%é \\x00]{1,6}") {
            // A glob segment is valid exactly when it is a valid path segment.
            let as_glob = format!("ns/{seg}/*").parse::<PathGlob>().is_ok();
            let as_path = validate_path(&format!("ns/{seg}/k")).is_ok();
            prop_assert_eq!(as_glob, as_path, "{:?}", seg);
        }
    }
}
