//! `ass approvals list`: approval requests (pending by default), for approvers.

use ass_client::scope::APPROVALS_DECIDE;
use ass_client::{ApprovalInfo, ListApprovalsResponse};
use clap::Args;

use super::Ctx;
use crate::output::{self, or_dash};

const LONG_ABOUT: &str = "\
List approval requests: reads of sensitive or critical secrets waiting for (or past) the
approvers' decision. Shows id, status, the agent that asked, path, tier, version, approvals
given of those required, when it was requested, when it times out, and the reason given.
--status picks pending (default), approved, denied, expired or all.

Needs the approvals:decide scope. Decide with `ass approvals approve ID` or `ass approvals deny ID`.

Example:
  ASS_AGENT_KEY=$APPROVER_KEY ass approvals list
  ass approvals list --status all --json | jq -r '.approvals[] | select(.tier == \"critical\") | .id'";

/// List approval requests (pending by default)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct ListArgs {
    /// Which requests to list
    #[arg(
        long,
        value_name = "STATUS",
        default_value = "pending",
        value_parser = ["pending", "approved", "denied", "expired", "all"]
    )]
    pub status: String,

    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass approvals list`.
pub async fn exec(ctx: &Ctx, args: &ListArgs) -> anyhow::Result<()> {
    let resp = ctx.scoped(APPROVALS_DECIDE).list_approvals(Some(&args.status)).await?;
    if args.json {
        output::print_json(&resp)
    } else {
        output::print(&render(&resp, &args.status))
    }
}

/// Who asked: the agent's name, else its id, else the token (a token with no agent).
pub fn requester(a: &ApprovalInfo) -> String {
    match (&a.agent_name, &a.agent_id, &a.token_accessor) {
        (Some(name), _, _) => name.clone(),
        (None, Some(id), _) => id.clone(),
        (None, None, Some(acc)) => format!("token {acc}"),
        (None, None, None) => "-".to_owned(),
    }
}

/// `1/2`: approvals given of those required.
pub fn tally(a: &ApprovalInfo) -> String {
    format!("{}/{}", a.approvals.len(), a.required_approvals)
}

/// The requests table, or a sentence when there are none.
pub fn render(resp: &ListApprovalsResponse, status: &str) -> String {
    if resp.approvals.is_empty() {
        return if status == "all" {
            "No approval requests\n".to_owned()
        } else {
            format!("No {status} approval requests\n")
        };
    }
    let rows: Vec<Vec<String>> = resp
        .approvals
        .iter()
        .map(|a| {
            vec![
                a.id.clone(),
                a.status.clone(),
                requester(a),
                a.path.clone(),
                a.tier.to_string(),
                a.version.to_string(),
                tally(a),
                a.requested_at.clone(),
                a.expires_at.clone(),
                or_dash(a.reason.as_deref()),
            ]
        })
        .collect();
    output::table(
        &[
            "ID",
            "STATUS",
            "AGENT",
            "PATH",
            "TIER",
            "VERSION",
            "APPROVALS",
            "REQUESTED",
            "EXPIRES",
            "REASON",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::approvals_show::tests::approval;
    use crate::commands::tests::parse;
    use crate::commands::{ApprovalsCommand, Command};

    fn args(argv: &[&str]) -> ListArgs {
        match parse(argv).unwrap().command {
            Command::Approvals(ApprovalsCommand::List(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn status_defaults_to_pending_and_is_checked() {
        assert_eq!(args(&["approvals", "list"]).status, "pending");
        let a = args(&["approvals", "list", "--status", "all", "--json"]);
        assert_eq!((a.status.as_str(), a.json), ("all", true));
        assert!(parse(&["approvals", "list", "--status", "open"]).is_err());
    }

    #[test]
    fn table_shows_who_what_and_how_far() {
        let mut by_token = approval("denied", &[]);
        by_token.agent_name = None;
        by_token.agent_id = None;
        by_token.token_accessor = Some("acc-1".into());
        by_token.reason = None;
        let resp = ListApprovalsResponse {
            approvals: vec![approval("pending", &["you@company.com"]), by_token],
        };
        assert_eq!(
            render(&resp, "all"),
            "ID                                    STATUS   AGENT            PATH                                 TIER      VERSION  APPROVALS  REQUESTED                 EXPIRES                   REASON\n\
             6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f  pending  payment-service  production/stripe/STRIPE_SECRET_KEY  critical  5        1/2        2026-11-28T10:00:00.000Z  2026-11-29T10:00:00.000Z  payout\n\
             6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f  denied   token acc-1      production/stripe/STRIPE_SECRET_KEY  critical  5        0/2        2026-11-28T10:00:00.000Z  2026-11-29T10:00:00.000Z  -\n"
        );
    }

    #[test]
    fn empty_says_so() {
        let r = ListApprovalsResponse { approvals: vec![] };
        assert_eq!(render(&r, "pending"), "No pending approval requests\n");
        assert_eq!(render(&r, "all"), "No approval requests\n");
    }

    #[test]
    fn requester_falls_back_to_the_agent_id() {
        let mut a = approval("pending", &[]);
        a.agent_name = None;
        assert_eq!(requester(&a), "a1b2c3d4-0000-4000-8000-000000000001");
    }
}
