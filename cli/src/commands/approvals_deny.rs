//! `ass approvals deny`: one approver closes a request as denied.

use ass_client::scope::APPROVALS_DECIDE;
use ass_client::ApprovalInfo;
use clap::Args;

use super::approvals_list::requester;
use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Deny an approval request as one approver: it is closed at once, whatever approvals it had.
The agent's reads of the path then exit 4 (approval_denied) until the request times out;
after that a read opens a new request.

Needs the approvals:decide scope and an agent named in the approval policy's approvers (see
`ass approvals approve --help`).

Example:
  ASS_AGENT_KEY=$SECURITY_KEY ass approvals deny 6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f --comment \"not during the freeze\"";

/// Deny an approval request
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct DenyArgs {
    /// Approval request id
    pub id: String,

    /// Why, recorded with the denial
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,

    /// Print the request as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass approvals deny`.
pub async fn exec(ctx: &Ctx, args: &DenyArgs) -> anyhow::Result<()> {
    let a = ctx.scoped(APPROVALS_DECIDE).deny(&args.id, args.comment.as_deref()).await?;
    if args.json {
        output::print_json(&a)
    } else {
        output::print(&render(&a))
    }
}

/// One sentence.
pub fn render(a: &ApprovalInfo) -> String {
    format!(
        "Denied request {}: {} may not read {} (reads exit 4 until {}).\n",
        a.id,
        requester(a),
        a.path,
        a.expires_at
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::approvals_show::tests::approval;

    #[test]
    fn sentence_names_agent_path_and_until_when() {
        assert_eq!(
            render(&approval("denied", &[])),
            "Denied request 6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f: payment-service may not read \
             production/stripe/STRIPE_SECRET_KEY (reads exit 4 until 2026-11-29T10:00:00.000Z).\n"
        );
    }
}
