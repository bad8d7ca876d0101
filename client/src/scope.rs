//! The least scope each call needs, for callers that buy their own token with an agent key
//! (hardening practice 1: never request a token broader than the job).
//!
//! Pure string builders in the server's scope grammar: `secrets:<action>:<glob>` where the
//! glob is `*`, one exact path, or a prefix ending in `/*`; or an admin scope such as
//! `agents:manage`. Nothing here checks a path: the server refuses a bad one as
//! `invalid_scope` when the token is requested.

/// `agents:manage`: create, list, show, revoke agents and rotate their keys.
pub const AGENTS_MANAGE: &str = "agents:manage";
/// `tokens:manage`: list, look up and revoke other principals' tokens.
pub const TOKENS_MANAGE: &str = "tokens:manage";
/// `approvals:decide`: list, show, approve and deny approval requests (the deciding agent
/// must also be named in the approval policy's approvers).
pub const APPROVALS_DECIDE: &str = "approvals:decide";
/// `policy:manage`: read and change the token and approval policies.
pub const POLICY_MANAGE: &str = "policy:manage";
/// `audit:read`: query, export, verify and follow the audit log.
pub const AUDIT_READ: &str = "audit:read";
/// `sys:operator`: seal, members (list, add, promote, remove), rotate the data key, rekey,
/// revoke the root token.
pub const SYS_OPERATOR: &str = "sys:operator";

/// `secrets:read:PATH`: read one secret's value, versions and metadata.
pub fn secret_read(path: &str) -> String {
    format!("secrets:read:{path}")
}

/// `secrets:write:PATH`: write new versions of one secret.
pub fn secret_write(path: &str) -> String {
    format!("secrets:write:{path}")
}

/// `secrets:delete:PATH`: soft-delete or destroy versions of one secret.
pub fn secret_delete(path: &str) -> String {
    format!("secrets:delete:{path}")
}

/// The narrowest `secrets:list:` scope covering every path a listing of `prefix` can show:
/// `production/gemini/` → `secrets:list:production/gemini/*`; a prefix that stops inside a
/// segment widens to its last `/` (`production/gem` → `secrets:list:production/*`); no
/// prefix, or one inside the namespace segment (`prod`), needs `secrets:list:*`.
pub fn secret_list(prefix: Option<&str>) -> String {
    let prefix = prefix.unwrap_or("");
    match prefix.rfind('/') {
        Some(i) => format!("secrets:list:{}*", &prefix[..=i]),
        None => "secrets:list:*".to_owned(),
    }
}

/// Splits a comma-separated list (scopes, CIDR ranges): items trimmed, empty ones dropped.
pub fn split_list(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_secret_scopes_name_the_exact_path() {
        let p = "production/gemini/GEMINI_API_KEY";
        assert_eq!(secret_read(p), "secrets:read:production/gemini/GEMINI_API_KEY");
        assert_eq!(secret_write(p), "secrets:write:production/gemini/GEMINI_API_KEY");
        assert_eq!(secret_delete(p), "secrets:delete:production/gemini/GEMINI_API_KEY");
    }

    #[test]
    fn list_scopes_are_valid_globs_covering_the_prefix() {
        assert_eq!(secret_list(None), "secrets:list:*");
        assert_eq!(secret_list(Some("")), "secrets:list:*");
        assert_eq!(secret_list(Some("production/")), "secrets:list:production/*");
        assert_eq!(secret_list(Some("production/gemini/")), "secrets:list:production/gemini/*");
        assert_eq!(secret_list(Some("production/gem")), "secrets:list:production/*");
        assert_eq!(secret_list(Some("production/gemini/GEM")), "secrets:list:production/gemini/*");
        assert_eq!(secret_list(Some("production")), "secrets:list:*", "may match production-eu/");
    }

    #[test]
    fn lists_split_on_commas_and_trim() {
        assert_eq!(
            split_list("secrets:read:production/gemini/*, secrets:read:production/bedrock/*"),
            ["secrets:read:production/gemini/*", "secrets:read:production/bedrock/*"]
        );
        assert_eq!(split_list(" a ,, b,"), ["a", "b"]);
        assert!(split_list("").is_empty());
        assert!(split_list(" , ").is_empty());
    }
}
