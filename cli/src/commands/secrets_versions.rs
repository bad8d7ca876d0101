//! `ass secrets versions`: metadata of a secret and every one of its versions.

use ass_client::VersionsResponse;
use clap::Args;

use super::{Ctx, ReadArgs};
use crate::output::{self, or_dash, yes_no};

const LONG_ABOUT: &str = "\
Show the metadata of the secret at PATH and every version it has had: when each was written,
whether it was soft-deleted (and when), whether it was destroyed, and the data-key term it is
encrypted with (KEY_TERM; see `ass operator rotate`). Values are not shown.

Example:
  ass secrets versions production/gemini/GEMINI_API_KEY";

/// Show every version of a secret (no values)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct VersionsArgs {
    /// Secret path, e.g. production/gemini/GEMINI_API_KEY
    pub path: String,

    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub read: ReadArgs,
}

/// Runs `ass secrets versions`.
pub async fn exec(ctx: &Ctx, args: &VersionsArgs) -> anyhow::Result<()> {
    let resp =
        ctx.scoped(scope(args)).secret_versions(&args.path, &args.read.options(None)).await?;
    if args.json {
        output::print_json(&resp)
    } else {
        output::print(&render(&resp))
    }
}

/// The least scope this read needs: versions are read with `secrets:read`.
pub fn scope(args: &VersionsArgs) -> String {
    ass_client::scope::secret_read(&args.path)
}

/// Metadata block, a blank line, then the versions table.
pub fn render(r: &VersionsResponse) -> String {
    let m = &r.metadata;
    let mut out = output::kv_block(&[
        ("path", m.path.clone()),
        ("type", m.secret_type.clone()),
        ("tier", m.tier.to_string()),
        ("latest_version", m.latest_version.to_string()),
        ("created_at", m.created_at.clone()),
        ("updated_at", m.updated_at.clone()),
        ("deleted", yes_no(m.deleted)),
    ]);
    out.push('\n');
    let rows: Vec<Vec<String>> = r
        .versions
        .iter()
        .map(|v| {
            vec![
                v.version.to_string(),
                v.created_at.clone(),
                or_dash(v.deleted_at.as_deref()),
                yes_no(v.destroyed),
                or_dash(v.key_term),
            ]
        })
        .collect();
    out.push_str(&output::table(
        &["VERSION", "CREATED", "DELETED", "DESTROYED", "KEY_TERM"],
        &rows,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::{fixture, parse};
    use crate::commands::{Command, SecretsCommand};

    #[test]
    fn agent_key_token_holds_only_read_on_the_path() {
        match parse(&["secrets", "versions", "production/x/K", "--json"]).unwrap().command {
            Command::Secrets(SecretsCommand::Versions(a)) => {
                assert_eq!(scope(&a), "secrets:read:production/x/K")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn render_block_and_table() {
        let r: VersionsResponse = fixture(serde_json::json!({
            "path": "a/b", "latest_version": 2, "type": "password", "tier": "standard",
            "created_at": "t1", "updated_at": "t2", "deleted": false,
            "versions": [
                {"version": 1, "created_at": "t1", "deleted_at": "t3", "destroyed": true},
                {"version": 2, "created_at": "t2", "destroyed": false, "key_term": 2}
            ]
        }));
        assert_eq!(
            render(&r),
            "path            a/b\n\
             type            password\n\
             tier            standard\n\
             latest_version  2\n\
             created_at      t1\n\
             updated_at      t2\n\
             deleted         no\n\
             \n\
             VERSION  CREATED  DELETED  DESTROYED  KEY_TERM\n\
             1        t1       t3       yes        -\n\
             2        t2       -        no         2\n"
        );
    }
}
