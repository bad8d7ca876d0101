//! `ass secrets set`: writes a new version of a secret (a rotation is just another set).

use std::io::Read;

use anyhow::Context as _;
use ass_client::{PutSecretRequest, Tier, WriteResponse};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Write a new version of the secret at PATH (namespace/service/NAME). Every set makes a new
version; older versions stay readable with `ass secrets get --version N`.

VALUE `-` reads the value from standard input (one trailing newline is dropped), which keeps
it out of shell history and `ps`. --type and --tier are kept from the previous version when
not given; a new path starts as `standard`. --cas N writes only if the latest version is N
(0: only if the path does not exist yet).

Prints `Set PATH version N (index I)`; pass I as --min-index to a later read to be sure to see
this write on any node.

Example:
  ass secrets set production/gemini/GEMINI_API_KEY \"$NEW_GEMINI_API_KEY\" \\
      --type api_key --tier sensitive
  ./create-key.sh | ass secrets set production/gemini/GEMINI_API_KEY -";

/// Write a new version of a secret
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct SetArgs {
    /// Secret path, e.g. production/gemini/GEMINI_API_KEY
    pub path: String,

    /// The value, or `-` to read it from standard input
    #[arg(allow_hyphen_values = true)]
    pub value: String,

    /// Kind of credential: api_key, password, token, … (kept from the last version if absent)
    #[arg(long = "type", value_name = "TYPE")]
    pub secret_type: Option<String>,

    /// Sensitivity tier; sensitive and critical reads need approval per the policy
    #[arg(long, value_parser = tier_parser())]
    pub tier: Option<Tier>,

    /// Check-and-set: write only if the latest version is N (0: the path must not exist)
    #[arg(long, value_name = "N")]
    pub cas: Option<u64>,

    /// Print the answer (path, version, index) as JSON
    #[arg(long)]
    pub json: bool,
}

/// Parses `standard|sensitive|critical`, listing them in `--help`.
pub fn tier_parser() -> impl TypedValueParser<Value = Tier> {
    PossibleValuesParser::new(["standard", "sensitive", "critical"])
        .map(|s| s.parse::<Tier>().expect("possible values are valid tiers"))
}

/// Runs `ass secrets set`.
pub async fn exec(ctx: &Ctx, args: &SetArgs) -> anyhow::Result<()> {
    let value = resolve_value(&args.value, std::io::stdin())?;
    let req = PutSecretRequest {
        value,
        secret_type: args.secret_type.clone(),
        tier: args.tier,
        cas: args.cas,
    };
    let w = ctx.scoped(scope(args)).put_secret(&args.path, &req).await?;
    if args.json {
        output::print_json(&w)
    } else {
        output::print(&render(&w))
    }
}

/// The least scope this write needs (asked for when only an agent key is given).
pub fn scope(args: &SetArgs) -> String {
    ass_client::scope::secret_write(&args.path)
}

/// The value argument itself, or all of `stdin` for `-` with ONE trailing newline (`\n` or
/// `\r\n`) removed, so `echo secret | ass secrets set P -` stores `secret`.
pub fn resolve_value(arg: &str, mut stdin: impl Read) -> anyhow::Result<String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut buf = String::new();
    stdin
        .read_to_string(&mut buf)
        .context("cannot read the value from standard input (it must be UTF-8)")?;
    if buf.ends_with('\n') {
        buf.pop();
        if buf.ends_with('\r') {
            buf.pop();
        }
    }
    Ok(buf)
}

/// `Set PATH version N (index I)`.
pub fn render(w: &WriteResponse) -> String {
    format!("Set {} version {} (index {})\n", w.path, w.version, w.index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::{fixture, parse};
    use crate::commands::{Command, SecretsCommand};
    use std::io::Cursor;

    fn args(argv: &[&str]) -> SetArgs {
        match parse(argv).unwrap().command {
            Command::Secrets(SecretsCommand::Set(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hardening_guide_form_parses() {
        let a = args(&[
            "secrets",
            "set",
            "production/gemini/GEMINI_API_KEY",
            "new-key",
            "--type",
            "api_key",
            "--tier",
            "sensitive",
        ]);
        assert_eq!(a.path, "production/gemini/GEMINI_API_KEY");
        assert_eq!(a.value, "new-key");
        assert_eq!(a.secret_type.as_deref(), Some("api_key"));
        assert_eq!(a.tier, Some(Tier::Sensitive));
        assert_eq!((a.cas, a.json), (None, false));
    }

    #[test]
    fn agent_key_token_holds_only_write_on_the_path() {
        let a = args(&["secrets", "set", "production/gemini/GEMINI_API_KEY", "v"]);
        assert_eq!(scope(&a), "secrets:write:production/gemini/GEMINI_API_KEY");
    }

    #[test]
    fn cas_and_json_parse() {
        let a = args(&["secrets", "set", "a/b", "v", "--cas", "0", "--json"]);
        assert_eq!(a.cas, Some(0));
        assert!(a.json);
    }

    #[test]
    fn values_may_start_with_a_hyphen() {
        assert_eq!(args(&["secrets", "set", "a/b", "-x9"]).value, "-x9");
        assert_eq!(args(&["secrets", "set", "a/b", "-"]).value, "-");
    }

    #[test]
    fn unknown_tier_and_missing_value_are_usage_errors() {
        assert!(parse(&["secrets", "set", "a/b", "v", "--tier", "secret"]).is_err());
        assert!(parse(&["secrets", "set", "a/b"]).is_err());
        assert!(parse(&["secrets", "set", "a/b", "v", "--cas", "-1"]).is_err());
    }

    #[test]
    fn stdin_value_loses_exactly_one_trailing_newline() {
        let r = |input: &str| resolve_value("-", Cursor::new(input.as_bytes().to_vec())).unwrap();
        assert_eq!(r("secret\n"), "secret");
        assert_eq!(r("secret\r\n"), "secret");
        assert_eq!(r("secret\n\n"), "secret\n");
        assert_eq!(r("secret"), "secret");
        assert_eq!(r("line1\nline2\n"), "line1\nline2");
        assert_eq!(r(""), "");
        assert_eq!(r("  spaced  \n"), "  spaced  ");
    }

    #[test]
    fn literal_value_is_kept_as_is_and_stdin_untouched() {
        let v = resolve_value("a\n", Cursor::new(b"ignored".to_vec())).unwrap();
        assert_eq!(v, "a\n");
    }

    #[test]
    fn non_utf8_stdin_is_a_local_error() {
        let e = resolve_value("-", Cursor::new(vec![0xff, 0xfe])).unwrap_err();
        assert_eq!(crate::exit_code(&e), 1);
    }

    #[test]
    fn render_says_version_and_index() {
        let w: WriteResponse =
            fixture(serde_json::json!({"path": "a/b", "version": 3, "index": 42}));
        assert_eq!(render(&w), "Set a/b version 3 (index 42)\n");
    }
}
