//! `ass secrets list`: metadata of the secrets under a prefix — never their values.

use ass_client::ListResponse;
use clap::Args;

use super::{Ctx, ReadArgs};
use crate::output::{self, yes_no};

const LONG_ABOUT: &str = "\
List the secrets whose path starts with PREFIX (all you may list without it): path, latest
version, type, tier, last update and whether the latest version is deleted. Values are never
listed.

Example:
  ass secrets list production/stripe/
  ass secrets list --json | jq -r '.secrets[].path'";

/// List secrets (metadata only, never values)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct ListArgs {
    /// Only paths starting with this, e.g. production/ or production/gemini/
    pub prefix: Option<String>,

    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub read: ReadArgs,
}

/// Runs `ass secrets list`.
pub async fn exec(ctx: &Ctx, args: &ListArgs) -> anyhow::Result<()> {
    let client = ctx.scoped(scope(args));
    let resp = client.list_secrets(args.prefix.as_deref(), &args.read.options(None)).await?;
    if args.json {
        output::print_json(&resp)
    } else {
        output::print(&render(&resp, args.prefix.as_deref()))
    }
}

/// The least scope this listing needs: a `secrets:list:` glob covering every path the prefix
/// can match (see [`ass_client::scope::secret_list`]).
pub fn scope(args: &ListArgs) -> String {
    ass_client::scope::secret_list(args.prefix.as_deref())
}

/// The metadata table, or a sentence when there is nothing.
pub fn render(resp: &ListResponse, prefix: Option<&str>) -> String {
    if resp.secrets.is_empty() {
        return match prefix {
            Some(p) => format!("No secrets under {p}\n"),
            None => "No secrets\n".to_owned(),
        };
    }
    let rows: Vec<Vec<String>> = resp
        .secrets
        .iter()
        .map(|m| {
            vec![
                m.path.clone(),
                m.latest_version.to_string(),
                m.secret_type.clone(),
                m.tier.to_string(),
                m.updated_at.clone(),
                yes_no(m.deleted),
            ]
        })
        .collect();
    output::table(&["PATH", "VERSION", "TYPE", "TIER", "UPDATED", "DELETED"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::{fixture, parse};
    use crate::commands::{Command, SecretsCommand};

    #[test]
    fn prefix_is_optional() {
        match parse(&["secrets", "list"]).unwrap().command {
            Command::Secrets(SecretsCommand::List(a)) => assert_eq!(a.prefix, None),
            other => panic!("{other:?}"),
        }
        match parse(&["secrets", "list", "production/", "--json", "--stale"]).unwrap().command {
            Command::Secrets(SecretsCommand::List(a)) => {
                assert_eq!(a.prefix.as_deref(), Some("production/"));
                assert!(a.json && a.read.stale);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn agent_key_token_holds_only_list_on_the_prefix() {
        let scope_of = |argv: &[&str]| match parse(argv).unwrap().command {
            Command::Secrets(SecretsCommand::List(a)) => scope(&a),
            other => panic!("{other:?}"),
        };
        assert_eq!(scope_of(&["secrets", "list"]), "secrets:list:*");
        assert_eq!(scope_of(&["secrets", "list", "production/"]), "secrets:list:production/*");
        assert_eq!(
            scope_of(&["secrets", "list", "production/stripe/"]),
            "secrets:list:production/stripe/*"
        );
        assert_eq!(scope_of(&["secrets", "list", "production/str"]), "secrets:list:production/*");
        assert_eq!(scope_of(&["secrets", "list", "prod"]), "secrets:list:*");
    }

    #[test]
    fn table_has_metadata_only() {
        let resp: ListResponse = fixture(serde_json::json!({"secrets": [{
            "path": "production/stripe/KEY", "latest_version": 2, "type": "api_key",
            "tier": "critical", "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-02-01T00:00:00Z", "deleted": false
        }]}));
        assert_eq!(
            render(&resp, None),
            "PATH                   VERSION  TYPE     TIER      UPDATED               DELETED\n\
             production/stripe/KEY  2        api_key  critical  2026-02-01T00:00:00Z  no\n"
        );
    }

    #[test]
    fn empty_list_says_so() {
        let resp = ListResponse { secrets: vec![] };
        assert_eq!(render(&resp, Some("dev/")), "No secrets under dev/\n");
        assert_eq!(render(&resp, None), "No secrets\n");
    }
}
