//! Serving: hq-interop (HTTP/0.9 over QUIC, as in the QUIC interop runner) and `echo`.
//!
//! hq-interop: the client opens a bidirectional stream and sends `GET /path\r\n`; the server
//! sends the body and finishes the stream. Like picoquic's demo server, `/N` (a decimal number)
//! gets a generated body of N bytes; with `--www` a path naming a file gets the file instead.
//! Anything else gets a stream reset (RFC 9000 §19.4) with an HTTP-like code as the application
//! error. Bodies are streamed in 16 KiB chunks, so memory does not grow with their size.
//!
//! echo: every byte received on a bidirectional stream is sent back on it; the stream is
//! finished when the client finishes its side.
//!
//! h3: the same paths over HTTP/3 (module `h3_serve`); bodies go out through [`BodySink`], as
//! here.
//!
//! Everything here reads untrusted input from a fuzzing client: no panics, bounded buffers.

use crate::cli::{ALPN_ECHO, ALPN_H3};
use bytes::{Bytes, BytesMut};
use s2n_quic::stream::{BidirectionalStream, PeerStream, ReceiveStream};
use s2n_quic::Connection;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Body chunks are this big: large enough to fill packets, small enough to stay cache-resident.
pub const CHUNK: usize = 16 * 1024;
/// The largest generated body: `/N` beyond this is reset with [`CODE_TOO_LARGE`].
pub const MAX_GENERATED: u64 = 1 << 30;
/// A request line longer than this is reset with [`CODE_BAD_REQUEST`].
pub const MAX_REQUEST: usize = 4096;

/// Application error codes of stream resets (HTTP/0.9 has none of its own).
pub const CODE_BAD_REQUEST: u32 = 400;
pub const CODE_NOT_FOUND: u32 = 404;
pub const CODE_TOO_LARGE: u32 = 413;

/// The generated bodies' bytes: a repeating printable pattern, shared by every response.
static PATTERN: [u8; CHUNK] = {
    let mut p = [0u8; CHUNK];
    let mut i = 0;
    while i < CHUNK {
        p[i] = b'a' + (i % 26) as u8;
        i += 1;
    }
    p
};

pub struct Config {
    pub www: Option<PathBuf>,
    /// How long each request waits before its answer (`--answer-delay-ms`).
    pub answer_delay: Duration,
}

/// Serves one accepted connection until it closes.
pub async fn connection(mut conn: Connection, config: Arc<Config>) {
    let alpn = conn.application_protocol().map(|p| p.to_vec()).unwrap_or_default();
    if alpn == ALPN_H3.as_bytes() {
        return crate::h3_serve::connection(conn, config).await;
    }
    let echo = alpn == ALPN_ECHO.as_bytes();
    loop {
        match conn.accept().await {
            Ok(Some(PeerStream::Bidirectional(stream))) if echo => {
                tokio::spawn(echo_stream(stream));
            }
            Ok(Some(PeerStream::Bidirectional(stream))) => {
                tokio::spawn(hq_stream(stream, config.clone()));
            }
            // Neither protocol uses unidirectional streams: read and drop what arrives so the
            // client's flow-control credit is returned and nothing piles up.
            Ok(Some(PeerStream::Receive(stream))) => {
                tokio::spawn(drain(stream));
            }
            Ok(None) | Err(_) => return,
        }
    }
}

async fn drain(mut stream: ReceiveStream) {
    while let Ok(Some(_)) = stream.receive().await {}
}

async fn echo_stream(mut stream: BidirectionalStream) {
    loop {
        match stream.receive().await {
            Ok(Some(chunk)) => {
                if stream.send(chunk).await.is_err() {
                    return;
                }
            }
            Ok(None) => {
                let _ = stream.finish();
                return;
            }
            Err(_) => return,
        }
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    File(PathBuf),
    Generated(u64),
    /// Reset the stream with this code.
    Refuse(u32),
}

/// Parses a request: `GET /path`, ended by CRLF, LF or the end of the stream (hq-interop
/// clients differ). Returns the path.
pub fn parse_request(request: &[u8]) -> Option<&str> {
    let end = request.iter().position(|&b| b == b'\n').unwrap_or(request.len());
    let line = request[..end].strip_suffix(b"\r").unwrap_or(&request[..end]);
    let line = std::str::from_utf8(line).ok()?;
    let path = line.strip_prefix("GET ")?.trim();
    // Tolerate an HTTP/1.0-style version after the path.
    let path = path.split_once(' ').map_or(path, |(p, _)| p);
    path.starts_with('/').then_some(path)
}

/// What to send for `path`: a file under `www` (never outside it), else a generated body for
/// `/N`, else a reset.
pub fn resolve(path: &str, www: Option<&Path>) -> Target {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    if let Some(www) = www {
        let relative = Path::new(path.trim_start_matches('/'));
        let safe = relative.components().all(|c| matches!(c, Component::Normal(_)));
        if safe && !relative.as_os_str().is_empty() {
            let full = www.join(relative);
            if full.is_file() {
                return Target::File(full);
            }
        }
    }
    let number = &path[1..];
    if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
        return match number.parse::<u64>() {
            Ok(n) if n <= MAX_GENERATED => Target::Generated(n),
            _ => Target::Refuse(CODE_TOO_LARGE),
        };
    }
    Target::Refuse(CODE_NOT_FOUND)
}

async fn hq_stream(mut stream: BidirectionalStream, config: Arc<Config>) {
    let mut request = Vec::new();
    let complete = loop {
        if request.contains(&b'\n') {
            break true;
        }
        if request.len() > MAX_REQUEST {
            break false;
        }
        match stream.receive().await {
            Ok(Some(chunk)) => request.extend_from_slice(&chunk[..chunk.len().min(MAX_REQUEST + 1)]),
            Ok(None) => break true,
            Err(_) => return,
        }
    };
    let target = match parse_request(&request) {
        Some(path) if complete => resolve(path, config.www.as_deref()),
        _ => Target::Refuse(CODE_BAD_REQUEST),
    };
    tokio::time::sleep(config.answer_delay).await;
    let sent = match target {
        Target::Generated(n) => send_generated(&mut stream, n).await,
        Target::File(path) => send_file(&mut stream, &path).await,
        Target::Refuse(code) => {
            let _ = stream.reset(code.into());
            return;
        }
    };
    match sent {
        Ok(()) => {
            // Wait until the client has the whole body, then read the request side to its end:
            // dropping a stream with unread input sends STOP_SENDING, which s2n-quic answers by
            // resetting the stream, losing the response.
            if stream.close().await.is_ok() {
                while let Ok(Some(_)) = stream.receive().await {}
            }
        }
        // A file that vanished or cannot be read mid-way: the client must not take a short
        // body for a whole one.
        Err(SendError::File) => {
            let _ = stream.reset(CODE_NOT_FOUND.into());
        }
        Err(SendError::Stream) => {}
    }
}

pub enum SendError {
    Stream,
    File,
}

/// Where a response body goes: an hq-interop stream as it is, or an HTTP/3 request stream (in
/// DATA frames).
pub trait BodySink {
    /// Sends one chunk of the body; an error means the stream is gone.
    async fn send_chunk(&mut self, chunk: Bytes) -> Result<(), ()>;
}

impl BodySink for BidirectionalStream {
    async fn send_chunk(&mut self, chunk: Bytes) -> Result<(), ()> {
        self.send(chunk).await.map_err(|_| ())
    }
}

/// Sends a generated body of `n` bytes.
pub async fn send_generated(stream: &mut impl BodySink, mut n: u64) -> Result<(), SendError> {
    let chunk = Bytes::from_static(&PATTERN);
    while n > 0 {
        let len = n.min(CHUNK as u64) as usize;
        stream.send_chunk(chunk.slice(..len)).await.map_err(|_| SendError::Stream)?;
        n -= len as u64;
    }
    Ok(())
}

/// Sends the file at `path`, chunk by chunk.
pub async fn send_file(stream: &mut impl BodySink, path: &Path) -> Result<(), SendError> {
    let mut file = tokio::fs::File::open(path).await.map_err(|_| SendError::File)?;
    loop {
        let mut buf = BytesMut::with_capacity(CHUNK);
        let read = file.read_buf(&mut buf).await.map_err(|_| SendError::File)?;
        if read == 0 {
            return Ok(());
        }
        stream.send_chunk(buf.freeze()).await.map_err(|_| SendError::Stream)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        assert_eq!(parse_request(b"GET /index.html\r\n"), Some("/index.html"));
        assert_eq!(parse_request(b"GET /1000\n"), Some("/1000"));
        assert_eq!(parse_request(b"GET /1000"), Some("/1000"));
        assert_eq!(parse_request(b"GET /a HTTP/1.0\r\n"), Some("/a"));
        assert_eq!(parse_request(b"GET /\r\nextra"), Some("/"));
        for bad in [&b""[..], b"\r\n", b"POST /a\r\n", b"GET a\r\n", b"GET\r\n", b"GET /\xff\r\n"] {
            assert_eq!(parse_request(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn targets() {
        assert_eq!(resolve("/0", None), Target::Generated(0));
        assert_eq!(resolve("/65536", None), Target::Generated(65536));
        assert_eq!(resolve("/1073741824", None), Target::Generated(1 << 30));
        assert_eq!(resolve("/1073741825", None), Target::Refuse(CODE_TOO_LARGE));
        assert_eq!(resolve("/99999999999999999999999", None), Target::Refuse(CODE_TOO_LARGE));
        assert_eq!(resolve("/", None), Target::Refuse(CODE_NOT_FOUND));
        assert_eq!(resolve("/index.html", None), Target::Refuse(CODE_NOT_FOUND));
        assert_eq!(resolve("/-1", None), Target::Refuse(CODE_NOT_FOUND));
        assert_eq!(resolve("/12?x=1", None), Target::Generated(12));

        let dir = std::env::temp_dir().join(format!("fuzz-server-www-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/a.txt"), b"hi").unwrap();
        std::fs::write(dir.join("42"), b"file").unwrap();
        assert_eq!(resolve("/sub/a.txt", Some(&dir)), Target::File(dir.join("sub/a.txt")));
        assert_eq!(resolve("/42", Some(&dir)), Target::File(dir.join("42")), "a file wins over /N");
        assert_eq!(resolve("/43", Some(&dir)), Target::Generated(43));
        assert_eq!(resolve("/sub", Some(&dir)), Target::Refuse(CODE_NOT_FOUND), "directories are not served");
        assert_eq!(resolve("/../etc/passwd", Some(&dir)), Target::Refuse(CODE_NOT_FOUND));
        assert_eq!(resolve("/sub/../sub/a.txt", Some(&dir)), Target::Refuse(CODE_NOT_FOUND));
        assert_eq!(resolve("//etc/passwd", Some(&dir)), Target::Refuse(CODE_NOT_FOUND));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pattern_is_printable() {
        assert!(PATTERN.iter().all(|b| b.is_ascii_lowercase()));
    }
}
