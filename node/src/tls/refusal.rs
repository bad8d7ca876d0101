//! What hyper refuses before our code sees a request: a URI over 64 KiB (the most an
//! `http::Uri` holds) or a request head over the connection's read buffer. hyper answers
//! those itself — `414` or `431`, an empty body — and closes. [`RefusalRewrite`] sits between
//! hyper and the socket and turns exactly those answers into the API's JSON error shape, and
//! tells the port (for an audit event), so every refusal looks and is recorded the same way.
//!
//! ```text
//!  socket <── RefusalRewrite <── hyper: "HTTP/1.1 414 URI Too Long … content-length: 0"
//!              └─ writes instead: 414, content-type: application/json, {"error":"uri_too_long",…}
//! ```
//!
//! Smaller oversized requests reach the router and are refused there (`http::gate`), inside
//! the audit layer. Only hyper's own empty answers match: every answer of ours has a body.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use ass_client::ErrorCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Called once per rewritten refusal with its status (414 or 431).
pub type OnRefusal = Arc<dyn Fn(u16) + Send + Sync>;

/// The JSON answer for a refusal hyper made, if `head` is one: its status and the bytes.
pub fn rewrite(head: &[u8]) -> Option<(u16, Vec<u8>)> {
    let (code, message) = if head.starts_with(b"HTTP/1.1 414 ") {
        (ErrorCode::UriTooLong, "the request URI is too long to read (at most 8192 bytes are read)")
    } else if head.starts_with(b"HTTP/1.1 431 ") {
        (
            ErrorCode::HeadersTooLarge,
            "the request headers are too large to read (at most 65536 bytes are read)",
        )
    } else {
        return None;
    };
    let status = code.status();
    // hyper's own answer: a head with an empty body and no content type.
    let text = std::str::from_utf8(head).ok()?.to_ascii_lowercase();
    if !text.ends_with("\r\n\r\n")
        || !text.contains("\r\ncontent-length: 0\r\n")
        || text.contains("\r\ncontent-type:")
    {
        return None;
    }
    let reason = if status == 414 { "URI Too Long" } else { "Request Header Fields Too Large" };
    let body = format!(r#"{{"error":"{code}","message":"{message}"}}"#);
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    Some((status, answer.into_bytes()))
}

/// An I/O stream whose writes of hyper's parse-error answers are rewritten (see the module).
pub struct RefusalRewrite<T> {
    inner: T,
    on_refusal: Option<OnRefusal>,
    /// A rewritten answer being written: its bytes, how many are out, and the length of the
    /// write it replaces (what the caller is told was written).
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<T> RefusalRewrite<T> {
    pub fn new(inner: T, on_refusal: Option<OnRefusal>) -> Self {
        Self { inner, on_refusal, pending: None }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for RefusalRewrite<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for RefusalRewrite<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() {
            match rewrite(buf) {
                Some((status, answer)) => {
                    if let Some(f) = &this.on_refusal {
                        f(status);
                    }
                    this.pending = Some((answer, 0, buf.len()));
                }
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        while let Some((answer, written, replaced)) = &mut this.pending {
            if *written == answer.len() {
                let replaced = *replaced;
                this.pending = None;
                return Poll::Ready(Ok(replaced));
            }
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &answer[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const HYPER_414: &[u8] = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Sun, 06 Dec 2026 22:29:29 GMT\r\n\r\n";

    #[test]
    fn only_hypers_empty_refusals_are_rewritten() {
        let (status, answer) = rewrite(HYPER_414).expect("rewritten");
        let text = String::from_utf8(answer).unwrap();
        assert_eq!(status, 414);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], "uri_too_long");
        let h431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(rewrite(h431).map(|(s, _)| s), Some(431));
        // Our own answers have a body and a content type: never touched.
        let ours = b"HTTP/1.1 414 URI Too Long\r\ncontent-type: application/json\r\ncontent-length: 40\r\n\r\n";
        assert!(rewrite(ours).is_none());
        assert!(rewrite(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(
            rewrite(b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n").is_none(),
            "a partial head"
        );
    }

    #[tokio::test]
    async fn a_rewrite_reports_the_replaced_length_and_writes_the_json() {
        let (client, mut server) = tokio::io::duplex(16);
        let seen = Arc::new(std::sync::atomic::AtomicU16::new(0));
        let s = seen.clone();
        let mut w = RefusalRewrite::new(
            client,
            Some(Arc::new(move |st| s.store(st, std::sync::atomic::Ordering::SeqCst))),
        );
        let reader = tokio::spawn(async move {
            let mut out = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut server, &mut out).await.unwrap();
            out
        });
        // A small pipe: the rewritten answer goes out over several partial writes.
        let n =
            std::future::poll_fn(|cx| Pin::new(&mut w).poll_write(cx, HYPER_414)).await.unwrap();
        assert_eq!(n, HYPER_414.len());
        w.write_all(b"after").await.unwrap();
        w.shutdown().await.unwrap();
        drop(w);
        let out = String::from_utf8(reader.await.unwrap()).unwrap();
        assert!(
            out.starts_with("HTTP/1.1 414 URI Too Long\r\ncontent-type: application/json"),
            "{out}"
        );
        assert!(out.ends_with("after"), "{out}");
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 414);
    }
}
