//! Pure helpers that turn user input into URLs: the node address list and secret paths.
//!
//! A secret path goes into the URL path as-is when it is made of the characters the server
//! allows (`[A-Za-z0-9_.-]` segments joined by `/`); every other byte is percent-encoded, and
//! dot segments (`.`, `..`) are refused, so no path can leave the `/v1/secrets/` route.

use crate::Error;

/// Address used when none is configured: node 1 of `ass-node dev` (TLS; trust its CA with
/// `ASS_CACERT`).
pub const DEFAULT_ADDR: &str = "https://127.0.0.1:8201";

/// Parses a comma-separated list of node base URLs (`ASS_ADDR` / `--addr` form).
///
/// Blank items are skipped, duplicates dropped (first wins), each is checked with
/// [`normalize_address`]. An empty list is an error.
pub fn parse_addresses(list: &str) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let addr = normalize_address(item)?;
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    if out.is_empty() {
        return Err(Error::Config(
            "no node address given: set ASS_ADDR or --addr, e.g. https://127.0.0.1:8201".into(),
        ));
    }
    Ok(out)
}

/// Checks one node base URL and returns it without a trailing `/`.
///
/// It must be `http://` or `https://` with a host, and carry no query, fragment or
/// credentials. A path prefix (`https://lb.example/ass`) is kept: API paths go after it.
pub fn normalize_address(addr: &str) -> Result<String, Error> {
    let addr = addr.trim();
    let bad = |why: &str| Error::Config(format!("invalid node address `{addr}`: {why}"));
    let url = reqwest::Url::parse(addr).map_err(|e| {
        if addr.contains("://") {
            bad(&e.to_string())
        } else {
            bad("expected a URL such as https://127.0.0.1:8201")
        }
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("no query or fragment allowed"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials do not belong in the address; use the token"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Whether `b` may appear unencoded in a secret path segment.
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Encodes a secret path for the URL: allowed bytes as-is, `/` kept as the segment
/// separator, any other byte as `%XX`.
///
/// Refused locally (they would be resolved away by URL normalisation and reach another
/// route): the empty path and `.` or `..` segments.
pub fn encode_secret_path(path: &str) -> Result<String, Error> {
    if path.is_empty() {
        return Err(Error::Config("empty secret path".into()));
    }
    if path.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(Error::Config(format!(
            "invalid secret path `{path}`: `.` and `..` segments are not allowed"
        )));
    }
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if is_path_byte(b) || b == b'/' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

/// Encodes one URL path segment (an agent name or id, a token accessor): allowed bytes as-is,
/// any other byte (`/` included) as `%XX`. The empty string and `.` / `..` are refused.
pub fn encode_path_segment(what: &str, seg: &str) -> Result<String, Error> {
    if seg.is_empty() || seg == "." || seg == ".." {
        return Err(Error::Config(format!("invalid {what} `{seg}`")));
    }
    let mut out = String::with_capacity(seg.len());
    for &b in seg.as_bytes() {
        if is_path_byte(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_comma_separated_list() {
        let got =
            parse_addresses(" http://127.0.0.1:8201, https://n2.example:8201/ ,,http://n3:1/")
                .unwrap();
        assert_eq!(got, vec!["http://127.0.0.1:8201", "https://n2.example:8201", "http://n3:1"]);
    }

    #[test]
    fn duplicates_are_dropped_keeping_order() {
        let got = parse_addresses("http://a:1,http://b:2,http://a:1/").unwrap();
        assert_eq!(got, vec!["http://a:1", "http://b:2"]);
    }

    #[test]
    fn empty_list_is_a_config_error() {
        assert_eq!(parse_addresses(" , ").unwrap_err().code(), "config");
        assert_eq!(parse_addresses("").unwrap_err().code(), "config");
    }

    #[test]
    fn bad_addresses_are_refused() {
        for bad in [
            "127.0.0.1:8201",
            "localhost",
            "ftp://a:1",
            "http://a:1/?x=1",
            "http://a:1/#f",
            "http://user:pw@a:1",
            "http://",
        ] {
            let e = normalize_address(bad).unwrap_err();
            assert_eq!(e.code(), "config", "{bad}");
        }
    }

    #[test]
    fn path_prefix_is_kept() {
        assert_eq!(normalize_address("https://lb.example/ass/").unwrap(), "https://lb.example/ass");
    }

    #[test]
    fn allowed_paths_go_in_as_is() {
        assert_eq!(
            encode_secret_path("production/gemini/GEMINI_API_KEY").unwrap(),
            "production/gemini/GEMINI_API_KEY"
        );
        assert_eq!(encode_secret_path("a.b-c_d/e.f").unwrap(), "a.b-c_d/e.f");
    }

    #[test]
    fn anything_else_is_percent_encoded() {
        assert_eq!(encode_secret_path("a b").unwrap(), "a%20b");
        assert_eq!(encode_secret_path("a?x=1#f").unwrap(), "a%3Fx%3D1%23f");
        assert_eq!(encode_secret_path("a%2e").unwrap(), "a%252e");
        assert_eq!(encode_secret_path("é").unwrap(), "%C3%A9");
        assert_eq!(encode_secret_path("a\\b").unwrap(), "a%5Cb");
    }

    #[test]
    fn dot_segments_cannot_escape_the_route() {
        for bad in ["..", ".", "../sys/seal", "a/../../sys", "a/./b", "a/.."] {
            assert_eq!(encode_secret_path(bad).unwrap_err().code(), "config", "{bad}");
        }
        // Dots inside a segment are ordinary characters.
        assert_eq!(encode_secret_path("a/..b/c..").unwrap(), "a/..b/c..");
        assert_eq!(encode_secret_path("").unwrap_err().code(), "config");
    }

    #[test]
    fn percent_encoded_dots_are_not_resolved_by_the_url_parser() {
        // `%` itself is encoded, so `%2e%2e` arrives as a literal segment, not `..`.
        let enc = encode_secret_path("%2e%2e/sys").unwrap();
        let url = reqwest::Url::parse(&format!("http://h/v1/secrets/{enc}")).unwrap();
        assert!(url.path().starts_with("/v1/secrets/"), "{}", url.path());
    }

    #[test]
    fn segments_are_encoded_whole() {
        assert_eq!(encode_path_segment("agent", "inference-service").unwrap(), "inference-service");
        assert_eq!(encode_path_segment("agent", "a/b c").unwrap(), "a%2Fb%20c");
        for bad in ["", ".", ".."] {
            assert_eq!(encode_path_segment("agent", bad).unwrap_err().code(), "config");
        }
    }
}
