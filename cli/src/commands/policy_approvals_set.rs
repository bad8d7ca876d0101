//! `ass policy approvals set`: replaces the approval policy from a JSON file.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ass_client::scope::POLICY_MANAGE;
use ass_client::ApprovalPolicyDocument;
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Replace the approval policy with the JSON document in --file (`-` reads standard input), in
the form of the hardening guide (and of `ass policy approvals show --json`):

  {\"approval_policy\": {
     \"tiers\": {\"standard\":  {\"required_approvals\": 0},
               \"sensitive\": {\"required_approvals\": 1, \"timeout_hours\": 24},
               \"critical\":  {\"required_approvals\": 2, \"timeout_hours\": 24}},
     \"approvers\": [\"you@company.com\", \"security@company.com\"],
     \"grant_hours\": 1}}

A tier left out needs no approval; timeout_hours (how long a request waits) and grant_hours
(how long an approved read lasts) default to 24 and 1. Approvers are e-mail addresses, each
the name of an agent holding approvals:decide (`ass agents create --name you@company.com
--scopes approvals:decide`); create them first: an approver that does not exist is refused
(unknown_approver) unless --allow-unknown-approvers, and then reads that need it wait until
it exists. A tier can't need more approvals than there are approvers. The
cluster refuses a bad policy as invalid_policy, naming the problem (exit 2); a file that is
not such a document is refused before sending (exit 1).

Needs the policy:manage scope. Prints the policy as stored.

Example:
  ass policy approvals set --file policy.json";

/// Replace the approval policy from a JSON file
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct SetArgs {
    /// The policy document as JSON (`-`: standard input)
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,

    /// Print the stored policy as JSON
    #[arg(long)]
    pub json: bool,

    /// Accept approvers that are not agents yet (reads needing them wait until they exist)
    #[arg(long)]
    pub allow_unknown_approvers: bool,
}

/// A policy document from JSON text; a bad one is a local error.
pub fn from_json(text: &str, source: &str) -> anyhow::Result<ApprovalPolicyDocument> {
    serde_json::from_str(text).with_context(|| {
        format!(
            "{source} is not an approval policy document (expected e.g. \
             {{\"approval_policy\":{{\"tiers\":{{\"critical\":{{\"required_approvals\":2,\
             \"timeout_hours\":24}}}},\"approvers\":[\"you@company.com\",\
             \"security@company.com\"]}}}})"
        )
    })
}

fn read_file(path: &Path) -> anyhow::Result<ApprovalPolicyDocument> {
    let text = if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the policy from standard input")?;
        s
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read policy file {}", path.display()))?
    };
    from_json(&text, &path.display().to_string())
}

/// Runs `ass policy approvals set`.
pub async fn exec(ctx: &Ctx, args: &SetArgs) -> anyhow::Result<()> {
    let doc = read_file(&args.file)?;
    let client = ctx.scoped(POLICY_MANAGE);
    let stored = if args.allow_unknown_approvers {
        eprintln!(
            "warning: approvers that are not agents yet are accepted; reads that need them \
             wait until `ass agents create --name <approver> --scopes approvals:decide`"
        );
        client.set_approval_policy_allowing_unknown(&doc).await?
    } else {
        client.set_approval_policy(&doc).await?
    };
    if args.json {
        output::print_json(&stored)
    } else {
        output::print(&format!(
            "Approval policy set:\n{}",
            super::policy_approvals_show::render(&stored)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::parse;

    #[test]
    fn file_is_required() {
        assert!(parse(&["policy", "approvals", "set"]).is_err());
        assert!(parse(&["policy", "approvals", "set", "--file", "p.json", "--json"]).is_ok());
    }

    #[test]
    fn the_guide_document_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policy.json");
        std::fs::write(
            &p,
            r#"{"approval_policy":{"tiers":{"standard":{"required_approvals":0},"sensitive":{"required_approvals":1,"timeout_hours":24},"critical":{"required_approvals":2,"timeout_hours":24}},"approvers":["you@company.com","security@company.com"]}}"#,
        )
        .unwrap();
        let doc = read_file(&p).unwrap();
        assert_eq!(doc.approval_policy.tiers["critical"].required_approvals, 2);
        assert_eq!(doc.approval_policy.approvers, ["you@company.com", "security@company.com"]);
    }

    #[test]
    fn bad_documents_are_local_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policy.json");
        // The inner object without its `approval_policy` wrapper.
        std::fs::write(&p, r#"{"tiers":{},"approvers":[]}"#).unwrap();
        let e = read_file(&p).unwrap_err();
        assert_eq!(crate::exit_code(&e), 1);
        assert!(format!("{e:#}").contains("is not an approval policy document"), "{e:#}");
        std::fs::write(
            &p,
            r#"{"approval_policy":{"tiers":{"critical":{"required_approvals":-1}}}}"#,
        )
        .unwrap();
        assert_eq!(crate::exit_code(&read_file(&p).unwrap_err()), 1);
        assert_eq!(crate::exit_code(&read_file(&dir.path().join("none")).unwrap_err()), 1);
    }
}
