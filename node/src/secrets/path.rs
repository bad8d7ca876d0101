//! Path rules: `namespace/service/NAME`, segments of `[A-Za-z0-9_.-]`, nothing that could
//! walk out of a namespace. Pure functions.

use ass_client::types::MAX_PATH_BYTES;

/// Why a path is refused; the message names the problem.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("path is longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    #[error("path needs at least two segments, `namespace/name`")]
    NoNamespace,
    #[error("path has an empty segment (a leading, trailing or double `/`)")]
    EmptySegment,
    #[error("path segment `{0}` is not allowed")]
    DotSegment(String),
    #[error("path segment `{0}` has a character outside [A-Za-z0-9_.-]")]
    BadCharacter(String),
    #[error("`versions` is reserved and can't be the last segment of a path")]
    Reserved,
}

fn segment_ok(seg: &str) -> Result<(), PathError> {
    if seg.is_empty() {
        return Err(PathError::EmptySegment);
    }
    if seg == "." || seg == ".." {
        return Err(PathError::DotSegment(seg.to_string()));
    }
    if !seg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        return Err(PathError::BadCharacter(seg.chars().take(64).collect()));
    }
    Ok(())
}

/// Checks a secret path.
pub fn validate_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    let segments: Vec<&str> = path.split('/').collect();
    for seg in &segments {
        segment_ok(seg)?;
    }
    if segments.len() < 2 {
        return Err(PathError::NoNamespace);
    }
    if segments.last() == Some(&"versions") {
        return Err(PathError::Reserved);
    }
    Ok(())
}

/// Checks a list prefix: whole segments followed by an optional partial one; may be empty.
pub fn validate_prefix(prefix: &str) -> Result<(), PathError> {
    if prefix.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    if prefix.is_empty() {
        return Ok(());
    }
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    for seg in trimmed.split('/') {
        segment_ok(seg)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_paths_pass() {
        for p in ["production/gemini/GEMINI_API_KEY", "dev/a", "a-b/c_d/e.f/1"] {
            assert_eq!(validate_path(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn bad_paths_are_named() {
        assert_eq!(validate_path(""), Err(PathError::Empty));
        assert_eq!(validate_path("single"), Err(PathError::NoNamespace));
        assert_eq!(validate_path("/a/b"), Err(PathError::EmptySegment));
        assert_eq!(validate_path("a//b"), Err(PathError::EmptySegment));
        assert_eq!(validate_path("a/b/"), Err(PathError::EmptySegment));
        assert_eq!(validate_path("a/../b"), Err(PathError::DotSegment("..".into())));
        assert_eq!(validate_path("a/./b"), Err(PathError::DotSegment(".".into())));
        assert!(matches!(validate_path("a/b c"), Err(PathError::BadCharacter(_))));
        assert!(matches!(validate_path("a/b\0c"), Err(PathError::BadCharacter(_))));
        assert!(matches!(validate_path("a/é"), Err(PathError::BadCharacter(_))));
        assert!(matches!(validate_path("a/%2e%2e"), Err(PathError::BadCharacter(_))));
        assert_eq!(validate_path(&"a/".repeat(300)), Err(PathError::TooLong));
        assert_eq!(validate_path("a/versions"), Err(PathError::Reserved));
    }

    #[test]
    fn prefixes() {
        assert_eq!(validate_prefix(""), Ok(()));
        assert_eq!(validate_prefix("production/"), Ok(()));
        assert_eq!(validate_prefix("production/gem"), Ok(()));
        assert!(validate_prefix("../x").is_err());
        assert!(validate_prefix("a//").is_err());
    }
}
