//! What `ass run` and `ass env` share: `NAME=PATH` specs, variable names, reading every
//! secret before anything happens (all or nothing), and quoting values for each output form.
//!
//! ```text
//!  specs ──parse──> [(NAME, PATH)] ──one token, secrets:read:PATH each──> read all at once
//!                                                       │ every read ok ──> [(NAME, value)]
//!                                                       └ any failure ──> each on stderr,
//!                                                         exit 1/2, else 4 (denied), else 3
//! ```
//!
//! Pure parts (names, quoting) are plain functions tested without I/O.

use std::collections::HashSet;

use ass_client::ReadOptions;

use super::Ctx;
use crate::{ApprovalHeld, Failed};

/// One variable to fill: its name and the secret path it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    pub path: String,
}

/// Whether `name` is a portable environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// `NAME=PATH`, or a bare `PATH` named after its last segment
/// (`production/gemini/GEMINI_API_KEY` → `GEMINI_API_KEY`).
pub fn parse_spec(s: &str) -> anyhow::Result<Spec> {
    let (name, path) = match s.split_once('=') {
        Some((n, p)) => (n.trim().to_owned(), p.trim().to_owned()),
        None => {
            let path = s.trim().to_owned();
            let last = path.rsplit('/').next().unwrap_or_default().to_owned();
            if !valid_name(&last) {
                anyhow::bail!(
                    "`{path}`: its last segment `{last}` is not a variable name \
                     ([A-Za-z_][A-Za-z0-9_]*); name it: NAME={path}"
                );
            }
            (last, path)
        }
    };
    if !valid_name(&name) {
        anyhow::bail!(
            "`{s}`: `{name}` is not a variable name ([A-Za-z_][A-Za-z0-9_]*), e.g. \
             GEMINI_API_KEY=production/gemini/GEMINI_API_KEY"
        );
    }
    if path.is_empty() {
        anyhow::bail!("`{s}`: no secret path after `=`");
    }
    Ok(Spec { name, path })
}

/// Every spec parsed; a name given twice is refused (which value would win?).
pub fn parse_specs(items: &[String]) -> anyhow::Result<Vec<Spec>> {
    if items.is_empty() {
        anyhow::bail!(
            "no secret to read: give at least one NAME=PATH, e.g. \
             GEMINI_API_KEY=production/gemini/GEMINI_API_KEY"
        );
    }
    let specs = items.iter().map(|i| parse_spec(i)).collect::<anyhow::Result<Vec<_>>>()?;
    let mut seen = HashSet::new();
    for s in &specs {
        if !seen.insert(s.name.as_str()) {
            anyhow::bail!("variable {} is given twice", s.name);
        }
    }
    Ok(specs)
}

/// The scopes one token needs to read every spec (`secrets:read:PATH` each, once).
pub fn scopes(specs: &[Spec]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in specs {
        let sc = ass_client::scope::secret_read(&s.path);
        if !out.contains(&sc) {
            out.push(sc);
        }
    }
    out
}

/// Reads every spec's secret (latest version) with one token, all at once. On success the
/// values in spec order; on any failure nothing: each failure is said on stderr (an approval
/// request as `secrets get` says it, its id on its own line) and the error carries the exit
/// code: a local (1) or server (2) error first, else 4 if a request was denied, else 3.
/// `command` names the caller in the summary.
pub async fn fetch_all(
    ctx: &Ctx,
    specs: &[Spec],
    reason: Option<&str>,
    command: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let client = ctx.scoped_all(scopes(specs));
    let opts = ReadOptions { reason: reason.map(str::to_owned), ..Default::default() };
    let reads = specs.iter().map(|s| client.get_secret(&s.path, &opts));
    let results = futures::future::join_all(reads).await;
    let mut values = Vec::with_capacity(specs.len());
    let mut failures: Vec<(u8, String)> = Vec::new();
    for (spec, r) in specs.iter().zip(results) {
        match r {
            Ok(s) if s.value.contains('\0') => failures.push((
                1,
                format!("error: {} ({}): the value holds a NUL byte (local)", spec.name, spec.path),
            )),
            Ok(s) => values.push((spec.name.clone(), s.value)),
            Err(e) => {
                let label = format!("{} ({})", spec.name, spec.path);
                failures.push(match ApprovalHeld::from_error(&e) {
                    Some(h) => (h.exit(), format!("{label}: {}", h.text())),
                    None => {
                        let err = anyhow::Error::from(e);
                        let text = crate::error_text(&err, true);
                        let text = text.strip_prefix("error: ").unwrap_or(&text);
                        (crate::exit_code(&err), format!("error: {label}: {text}"))
                    }
                });
            }
        }
    }
    if failures.is_empty() {
        return Ok(values);
    }
    // Held reads last, so the last line on stderr is a request id when there is one.
    failures.sort_by_key(|(code, _)| held_rank(*code));
    for (_, text) in &failures {
        eprintln!("{text}");
    }
    let exit = summary_exit(failures.iter().map(|(c, _)| *c));
    Err(Failed {
        exit,
        code: "secrets_unreadable",
        message: format!(
            "{command}: {} of {} secrets could not be read; nothing was {}",
            failures.len(),
            specs.len(),
            if command == "ass run" { "run" } else { "printed" }
        ),
    }
    .into())
}

/// Order of failures on stderr: errors first, then denied, then pending.
fn held_rank(code: u8) -> u8 {
    match code {
        crate::EXIT_APPROVAL_PENDING => 2,
        crate::EXIT_APPROVAL_DENIED => 1,
        _ => 0,
    }
}

/// The exit code of several failed reads: the first local or server error's (1, 2), else 4
/// if any request was denied (or expired), else 3 (approval pending). Waiting for approvers
/// helps only in the last case.
pub fn summary_exit(codes: impl IntoIterator<Item = u8>) -> u8 {
    let codes: Vec<u8> = codes.into_iter().collect();
    if let Some(c) = codes.iter().copied().find(|c| matches!(c, 1 | 2)) {
        return c;
    }
    if codes.contains(&crate::EXIT_APPROVAL_DENIED) {
        return crate::EXIT_APPROVAL_DENIED;
    }
    crate::EXIT_APPROVAL_PENDING
}

/// Output forms of `ass env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `NAME='value'` lines for a .env file
    Dotenv,
    /// `NAME=value` lines for `>> "$GITHUB_ENV"` (multi-line values as NAME<<DELIMITER)
    Github,
    /// `export NAME='value'` lines for `eval "$(ass env …)"` in a POSIX shell
    Shell,
}

/// `'…'` for a POSIX shell: everything literal; `'` becomes `'\''`.
pub fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

/// A dotenv value: single-quoted (literal, no expansion) when it holds no `'` and no line
/// break; else double-quoted with `\`, `"`, `$`, and line breaks and tabs escaped.
pub fn dotenv_quote(v: &str) -> String {
    if !v.contains(['\'', '\n', '\r']) {
        return format!("'{v}'");
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str(r"\$"),
            '\n' => out.push_str(r"\n"),
            '\r' => out.push_str(r"\r"),
            '\t' => out.push_str(r"\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One `$GITHUB_ENV` entry: `NAME=value` for a one-line value; else GitHub's heredoc form
/// `NAME<<D`, the value, `D` on its own line, with `D` a random delimiter
/// (`ghadelimiter_<uuid>`, as GitHub's own toolkit makes) that the value does not hold.
pub fn github_entry(name: &str, v: &str, mut delimiter: impl FnMut() -> String) -> String {
    if !v.contains(['\n', '\r']) {
        return format!("{name}={v}\n");
    }
    let d = loop {
        let d = delimiter();
        if !v.contains(&d) {
            break d;
        }
    };
    format!("{name}<<{d}\n{v}\n{d}\n")
}

/// A fresh random delimiter for [`github_entry`].
pub fn random_delimiter() -> String {
    format!("ghadelimiter_{}", uuid::Uuid::new_v4())
}

/// Every value in `format`, one entry per variable, in order.
pub fn render(format: Format, values: &[(String, String)]) -> String {
    let mut out = String::new();
    for (name, v) in values {
        match format {
            Format::Dotenv => out.push_str(&format!("{name}={}\n", dotenv_quote(v))),
            Format::Shell => out.push_str(&format!("export {name}={}\n", shell_quote(v))),
            Format::Github => out.push_str(&github_entry(name, v, random_delimiter)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_portable_variable_names() {
        for ok in ["GEMINI_API_KEY", "_x", "a1", "A"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "1A", "stripe-key", "a.b", "A B", "É"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_bare_path_is_named_after_its_last_segment() {
        let s = parse_spec("production/gemini/GEMINI_API_KEY").unwrap();
        assert_eq!((s.name.as_str(), s.path.as_str()), ("GEMINI_API_KEY", s.path.as_str()));
        assert_eq!(s.path, "production/gemini/GEMINI_API_KEY");
        let e = parse_spec("production/stripe/stripe-key").unwrap_err().to_string();
        assert!(e.contains("NAME=production/stripe/stripe-key"), "{e}");
    }

    #[test]
    fn name_equals_path_names_it_explicitly() {
        let s = parse_spec("STRIPE=production/stripe/stripe-key").unwrap();
        assert_eq!(s, Spec { name: "STRIPE".into(), path: "production/stripe/stripe-key".into() });
        assert!(parse_spec("1X=a/b").is_err());
        assert!(parse_spec("X=").is_err());
        assert!(parse_spec("=a/b").is_err());
    }

    #[test]
    fn specs_refuse_nothing_and_duplicates() {
        assert!(parse_specs(&[]).is_err());
        let twice = ["A=x/y".to_owned(), "A=x/z".to_owned()];
        assert!(parse_specs(&twice).unwrap_err().to_string().contains("twice"));
        let two = ["A=x/y".to_owned(), "B=x/y".to_owned()];
        let specs = parse_specs(&two).unwrap();
        assert_eq!(scopes(&specs), ["secrets:read:x/y"], "one scope per path");
    }

    #[test]
    fn exit_code_of_several_failures() {
        assert_eq!(summary_exit([3, 3]), 3, "only pending: wait for approvers");
        assert_eq!(summary_exit([3, 4]), 4, "a denial: waiting won't help");
        assert_eq!(summary_exit([3, 2, 4]), 2, "a server error wins");
        assert_eq!(summary_exit([1, 2]), 1, "the first error's own code");
    }

    #[test]
    fn shell_quoting_is_literal() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's $HOME `x`"), r"'it'\''s $HOME `x`'");
        assert_eq!(shell_quote("a\nb"), "'a\nb'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn dotenv_quoting_escapes_only_when_needed() {
        assert_eq!(dotenv_quote("sk_live $X #y"), "'sk_live $X #y'");
        assert_eq!(dotenv_quote("it's"), "\"it's\"");
        assert_eq!(dotenv_quote("a\nb\t\"c\"\\$d"), r#""a\nb\t\"c\"\\\$d""#);
    }

    #[test]
    fn github_multi_line_values_use_a_delimiter_the_value_lacks() {
        assert_eq!(github_entry("K", "one line", || unreachable!()), "K=one line\n");
        let pem = "-----BEGIN-----\nabc\n-----END-----";
        let mut tries = vec!["D2".to_owned(), "abc".to_owned()];
        let e = github_entry("PEM", pem, || tries.pop().unwrap());
        assert_eq!(e, format!("PEM<<D2\n{pem}\nD2\n"), "`abc` is in the value: next one");
        let r = random_delimiter();
        assert!(r.starts_with("ghadelimiter_") && r.len() > 30, "{r}");
        assert_ne!(random_delimiter(), r);
    }

    #[test]
    fn render_keeps_order_for_each_format() {
        let v = vec![("A".to_owned(), "1".to_owned()), ("B".to_owned(), "x y".to_owned())];
        assert_eq!(render(Format::Dotenv, &v), "A='1'\nB='x y'\n");
        assert_eq!(render(Format::Shell, &v), "export A='1'\nexport B='x y'\n");
        assert_eq!(render(Format::Github, &v), "A=1\nB=x y\n");
    }
}
