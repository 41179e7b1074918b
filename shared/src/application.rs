//! The application protocol a connection speaks over QUIC, as its ALPN names it.
//!
//! Both ends need it: the client's requests and the checks of their answers follow it, the
//! client's plan weighs the established connection more when there is HTTP/3 to fuzz in it
//! ([`crate::plan`]), and the mutation engine parses STREAM data as HTTP/3 and QPACK only on a
//! connection that speaks HTTP/3 ([`crate::mutate::h3`]). It is an input of the derivation, like
//! the start CID: the campaign's `--alpn` is logged in `run_start`.

use std::fmt;

/// The ALPN of HTTP/3 (RFC 9114 §3.1).
pub const ALPN_H3: &str = "h3";

/// H3_NO_ERROR (RFC 9114 §8.1): the application error code of a normal close.
pub const H3_NO_ERROR: u64 = 0x100;

/// The application protocol of a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Application {
    /// hq-interop (`GET /path\r\n`, the body, the stream's end), as the QUIC interop runner's
    /// servers speak it; also what any ALPN other than `h3` is taken for.
    #[default]
    HqInterop,
    /// HTTP/3 (RFC 9114) with QPACK (RFC 9204).
    H3,
}

impl Application {
    /// The protocol the offered or negotiated ALPN names: `h3` is HTTP/3, anything else
    /// (drafts such as `h3-29` included, which are not spoken) hq-interop.
    pub fn of_alpn(alpn: &[u8]) -> Self {
        if alpn == ALPN_H3.as_bytes() {
            Self::H3
        } else {
            Self::HqInterop
        }
    }

    /// The application error code of a normal close once every request is answered: hq-interop
    /// has none of its own (0 by convention), HTTP/3 has H3_NO_ERROR (RFC 9114 §8.1).
    pub fn close_code(self) -> u64 {
        match self {
            Self::HqInterop => 0,
            Self::H3 => H3_NO_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::HqInterop => "hq-interop",
            Self::H3 => ALPN_H3,
        }
    }
}

impl fmt::Display for Application {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applications_follow_the_alpn() {
        assert_eq!(Application::of_alpn(b"h3"), Application::H3);
        assert_eq!(Application::of_alpn(b"hq-interop"), Application::HqInterop);
        assert_eq!(Application::of_alpn(b"h3-29"), Application::HqInterop, "drafts are not spoken");
        assert_eq!(Application::H3.close_code(), 0x100);
        assert_eq!(Application::HqInterop.close_code(), 0);
    }
}
