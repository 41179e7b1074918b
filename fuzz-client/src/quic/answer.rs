//! Checked answers: a request is `completed` only when its answer is what was asked.
//!
//! Which protocol a connection speaks follows the ALPN the campaign offers: `h3` is HTTP/3
//! (RFC 9114), anything else hq-interop (`GET /path\r\n`, the body, the stream's end), as the
//! QUIC interop runner's servers speak it. Plans choose their requests the same way for both.
//!
//! What an answer must be:
//! - hq-interop: the stream's end (FIN) after the body; a reset stream is not an answer;
//! - h3: a response with a status (RFC 9114 §4.1), then the body up to the stream's end;
//! - with `--expect-sizes` (a server known to generate bodies, such as fuzz-server, which answers
//!   `/N` with N bytes, and the peers of `scripts/interop/`, whose www holds a file per size):
//!   for `/N` exactly N bytes, and in h3 status 200.
//!
//! Anything else is a wrong answer (outcome `wrong_answer`): for a server under fuzzing it can be
//! a bug (a truncated body, a response on the wrong stream, a 500), so it is counted apart.

use fuzz_shared::application::Application;
use std::fmt;

/// How answers are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerRules {
    pub protocol: Application,
    /// `/N` must get exactly N bytes (and in h3 status 200).
    pub expect_sizes: bool,
}

/// What came back for one request whose stream ended normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// The response's status (h3 only).
    pub status: Option<u16>,
    /// Body bytes received before the stream's end.
    pub bytes: u64,
}

/// Why an answer is not what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wrong(pub String);

impl fmt::Display for Wrong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The body size `/N` asks for, when the path is one.
pub fn asked_size(path: &str) -> Option<u64> {
    let digits = path.strip_prefix('/')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Checks one answer that ended with the stream's end.
pub fn check(rules: AnswerRules, path: &str, got: Received) -> Result<(), Wrong> {
    if rules.protocol == Application::H3 {
        let Some(status) = got.status else {
            return Err(Wrong(format!("{path}: no response status")));
        };
        if rules.expect_sizes && status != 200 {
            return Err(Wrong(format!("{path}: status {status}, expected 200")));
        }
    }
    if rules.expect_sizes {
        if let Some(n) = asked_size(path) {
            if got.bytes < n {
                return Err(Wrong(format!("{path}: truncated: {} of {n} bytes", got.bytes)));
            }
            if got.bytes > n {
                return Err(Wrong(format!("{path}: {} bytes, expected {n}", got.bytes)));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HQ: AnswerRules = AnswerRules { protocol: Application::HqInterop, expect_sizes: false };
    const HQ_SIZES: AnswerRules = AnswerRules { protocol: Application::HqInterop, expect_sizes: true };
    const H3: AnswerRules = AnswerRules { protocol: Application::H3, expect_sizes: false };
    const H3_SIZES: AnswerRules = AnswerRules { protocol: Application::H3, expect_sizes: true };

    fn got(status: Option<u16>, bytes: u64) -> Received {
        Received { status, bytes }
    }

    #[test]
    fn sizes_asked() {
        assert_eq!(asked_size("/0"), Some(0));
        assert_eq!(asked_size("/65536"), Some(65536));
        for other in ["/", "/index.html", "/-1", "1000", "/1e3", "/99999999999999999999999"] {
            assert_eq!(asked_size(other), None, "{other}");
        }
    }

    #[test]
    fn hq_interop_answers() {
        assert_eq!(check(HQ, "/1000", got(None, 7)), Ok(()), "sizes unchecked: any body");
        assert_eq!(check(HQ_SIZES, "/1000", got(None, 1000)), Ok(()));
        assert_eq!(check(HQ_SIZES, "/1000", got(None, 999)), Err(Wrong("/1000: truncated: 999 of 1000 bytes".into())));
        assert_eq!(check(HQ_SIZES, "/0", got(None, 1)), Err(Wrong("/0: 1 bytes, expected 0".into())));
        assert_eq!(check(HQ_SIZES, "/index.html", got(None, 5)), Ok(()), "only /N has a known size");
    }

    #[test]
    fn h3_answers() {
        assert_eq!(check(H3, "/1000", got(None, 1000)), Err(Wrong("/1000: no response status".into())));
        assert_eq!(check(H3, "/1000", got(Some(404), 0)), Ok(()), "any status answers without --expect-sizes");
        assert_eq!(check(H3_SIZES, "/1000", got(Some(200), 1000)), Ok(()));
        assert_eq!(
            check(H3_SIZES, "/1000", got(Some(404), 1000)),
            Err(Wrong("/1000: status 404, expected 200".into()))
        );
        assert_eq!(
            check(H3_SIZES, "/1000", got(Some(200), 10)),
            Err(Wrong("/1000: truncated: 10 of 1000 bytes".into()))
        );
    }
}
