//! `ass audit hash`: the HMAC under which the audit log records a credential.

use std::io::Read;

use ass_client::scope::AUDIT_READ;
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Compute the HMAC the audit log records for a credential (a token, an agent key, any value),
so you can search the log for where a leaked credential was used without the log ever holding
it. The key is derived from the cluster's root key: only the cluster can compute it.

Give VALUE as an argument, or `-` (or nothing) to read it from stdin and keep it out of the
shell history and `ps`. Needs the audit:read scope.

Example:
  printf %s \"$LEAKED_TOKEN\" | ass audit hash
  ass audit --json --limit 10000 | grep \"$(printf %s \"$LEAKED_TOKEN\" | ass audit hash)\"";

/// Compute the audit HMAC of a value (to search the log for a credential)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct HashArgs {
    /// The value; `-` or nothing: read it from stdin
    pub value: Option<String>,

    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass audit hash`.
pub async fn exec(ctx: &Ctx, args: &HashArgs) -> anyhow::Result<()> {
    let value = match args.value.as_deref() {
        Some(v) if v != "-" => v.to_owned(),
        _ => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s.trim_end_matches(['\n', '\r']).to_owned()
        }
    };
    if value.is_empty() {
        anyhow::bail!("no value given: pass VALUE or pipe it on stdin");
    }
    let resp = ctx.scoped(AUDIT_READ).audit_hash(&value).await?;
    if args.json {
        output::print_json(&resp)
    } else {
        output::print(&format!("{}\n", resp.hmac))
    }
}
