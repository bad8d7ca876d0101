//! `ass approvals approve`: one approver's approval of a request.

use ass_client::scope::APPROVALS_DECIDE;
use ass_client::ApprovalInfo;
use clap::Args;

use super::approvals_list::requester;
use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Approve an approval request as one approver. When the request has the approvals its tier
requires, the agent that asked may read the path until the grant ends (1h by default).

Approvers are agents named by e-mail in the approval policy (`ass policy approvals show`),
holding the approvals:decide scope: run this with that agent's key (ASS_AGENT_KEY) or a token
of it. The root token is no approver. An approver can't approve its own request, nor the same
request twice (already_decided); a request that is decided is approval_closed, one that timed
out approval_expired (exit 2).

Example:
  ass agents create --name you@company.com --scopes approvals:decide
  ASS_AGENT_KEY=$YOUR_KEY ass approvals approve 6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f --comment \"payout run\"";

/// Approve an approval request (as one approver)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct ApproveArgs {
    /// Approval request id
    pub id: String,

    /// Why, recorded with the approval
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,

    /// Print the request as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass approvals approve`.
pub async fn exec(ctx: &Ctx, args: &ApproveArgs) -> anyhow::Result<()> {
    let a = ctx.scoped(APPROVALS_DECIDE).approve(&args.id, args.comment.as_deref()).await?;
    if args.json {
        output::print_json(&a)
    } else {
        output::print(&render(&a))
    }
}

/// One sentence: how many approvals it has, and what that means.
pub fn render(a: &ApprovalInfo) -> String {
    let n = a.approvals.len();
    let required = a.required_approvals;
    if a.status == "approved" {
        format!(
            "Approved request {}: {n} of {required} approvals; {} may read {} until {}.\n",
            a.id,
            requester(a),
            a.path,
            a.grant_expires_at.as_deref().unwrap_or("the grant ends")
        )
    } else {
        let left = (required as usize).saturating_sub(n);
        format!(
            "Approved request {}: {n} of {required} approvals; {left} more needed before {} may read {}.\n",
            a.id,
            requester(a),
            a.path
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::approvals_show::tests::approval;
    use crate::commands::tests::parse;
    use crate::commands::{ApprovalsCommand, Command};

    #[test]
    fn comment_is_optional() {
        let a = match parse(&["approvals", "approve", "ID", "--comment", "ok"]).unwrap().command {
            Command::Approvals(ApprovalsCommand::Approve(a)) => a,
            other => panic!("{other:?}"),
        };
        assert_eq!((a.id.as_str(), a.comment.as_deref(), a.json), ("ID", Some("ok"), false));
        assert!(parse(&["approvals", "approve", "ID"]).is_ok());
        assert!(parse(&["approvals", "approve"]).is_err());
    }

    #[test]
    fn sentence_says_how_many_are_left() {
        assert_eq!(
            render(&approval("pending", &["you@company.com"])),
            "Approved request 6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f: 1 of 2 approvals; 1 more \
             needed before payment-service may read production/stripe/STRIPE_SECRET_KEY.\n"
        );
        let mut done = approval("approved", &["you@company.com", "security@company.com"]);
        done.grant_expires_at = Some("2026-11-28T11:02:00.000Z".into());
        assert_eq!(
            render(&done),
            "Approved request 6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f: 2 of 2 approvals; \
             payment-service may read production/stripe/STRIPE_SECRET_KEY until \
             2026-11-28T11:02:00.000Z.\n"
        );
    }
}
