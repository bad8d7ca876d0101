//! `ass doctor ignore`: suppress one finding, with a reason, for everyone (replicated and
//! audited).

use ass_client::scope::SYS_OPERATOR;
use ass_client::IgnoreRequest;
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Suppress one `ass doctor` finding by its id, with the reason it is accepted. The finding is
still listed (under Ignored, with who set it, when and why) but no longer counts in the
grade or the exit code. The suppression is a replicated write recorded in the audit log
(sys.doctor.ignore); --remove lifts it. Needs sys:operator.

Example:
  ass doctor ignore ttl.over_8h:0b9e6c1e-3d7f-4c61-9f0e-1a2b3c4d5e6f --reason \"nightly batch, INC-311\"
  ass doctor ignore deploy.few_voters --reason \"staging cluster, one node by design\"
  ass doctor ignore deploy.few_voters --remove";

/// Suppress a finding by id with a reason (--remove lifts it)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct IgnoreArgs {
    /// The finding's id, as `ass doctor` prints it
    pub id: String,

    /// Why the finding is accepted (shown with it, and kept in the audit log)
    #[arg(long, value_name = "TEXT", required_unless_present = "remove")]
    pub reason: Option<String>,

    /// Lift the suppression instead
    #[arg(long, conflicts_with = "reason")]
    pub remove: bool,

    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass doctor ignore`.
pub async fn exec(ctx: &Ctx, args: &IgnoreArgs) -> anyhow::Result<()> {
    let req =
        IgnoreRequest { id: args.id.clone(), reason: args.reason.clone(), remove: args.remove };
    let r = ctx.scoped(SYS_OPERATOR).doctor_ignore(&req).await?;
    if args.json {
        output::print_json(&r)
    } else if r.ignored {
        output::print(&format!("Ignoring {} (index {})\n", r.id, r.index))
    } else {
        output::print(&format!("No longer ignoring {} (index {})\n", r.id, r.index))
    }
}
