//! Printing helpers: aligned tables and key/value blocks for people, pretty JSON for scripts.
//!
//! Renderers are pure (`… -> String`) so tests check exact output; [`print`] writes the
//! result to stdout. Nothing here ever sees the token.

use std::fmt::Display;
use std::io::Write;

use serde::Serialize;

/// Writes `text` to stdout as-is (callers end it with a newline) and flushes.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Pretty JSON of `value`, newline-terminated.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    Ok(s)
}

/// Prints `value` as pretty JSON.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    print(&json(value)?)
}

/// An aligned table: a header row, then one line per row; columns are separated by two
/// spaces and the last column is not padded. Missing cells print empty.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(headers.len()) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, w) in widths.iter().enumerate() {
            let cell = cells.next().unwrap_or("");
            if i + 1 == widths.len() {
                l.push_str(cell);
            } else {
                l.push_str(cell);
                l.extend(std::iter::repeat_n(' ', w - cell.chars().count() + 2));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// A key/value block, keys left-aligned in one column:
///
/// ```text
/// path     a/b
/// version  3
/// ```
pub fn kv_block(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str(&format!("{k:<width$}  {v}\n"));
    }
    out
}

/// The value, or `-` when there is none.
pub fn or_dash<T: Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// `yes` / `no`.
pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_leaves_the_last_unpadded() {
        let t = table(
            &["PATH", "VERSION", "TIER"],
            &[
                vec!["a/b".into(), "10".into(), "standard".into()],
                vec!["production/x".into(), "2".into(), "critical".into()],
            ],
        );
        assert_eq!(
            t,
            "PATH          VERSION  TIER\n\
             a/b           10       standard\n\
             production/x  2        critical\n"
        );
    }

    #[test]
    fn table_with_no_rows_prints_the_header() {
        assert_eq!(table(&["A", "B"], &[]), "A  B\n");
    }

    #[test]
    fn table_counts_chars_not_bytes_and_tolerates_short_rows() {
        let t = table(&["K", "V"], &[vec!["é".into(), "1".into()], vec!["xy".into()]]);
        assert_eq!(t, "K   V\né   1\nxy\n");
    }

    #[test]
    fn kv_block_aligns_keys() {
        let b = kv_block(&[("path", "a/b".into()), ("created_at", "now".into())]);
        assert_eq!(b, "path        a/b\ncreated_at  now\n");
    }

    #[test]
    fn json_is_pretty_and_newline_terminated() {
        #[derive(Serialize)]
        struct S {
            a: u8,
        }
        assert_eq!(json(&S { a: 1 }).unwrap(), "{\n  \"a\": 1\n}\n");
    }

    #[test]
    fn small_helpers() {
        assert_eq!(or_dash(None::<u64>), "-");
        assert_eq!(or_dash(Some(3)), "3");
        assert_eq!(yes_no(true), "yes");
    }
}
