//! Connection IDs as the fuzzer names them: 8 to 20 bytes, written as lowercase hex.
//!
//! RFC 9000 §17.2: "In QUIC version 1, this value MUST NOT exceed 20 bytes." A client's first
//! Destination Connection ID must be at least 8 bytes long (RFC 9000 §7.2), which is also the
//! length s2n-quic always picks, so the fuzzer's own chains use 8-byte CIDs while the server side
//! accepts the full 8..=20 range that third-party clients may send.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The shortest initial Destination Connection ID a client may choose (RFC 9000 §7.2).
pub const MIN_LEN: usize = 8;
/// The longest connection ID QUIC version 1 allows (RFC 9000 §17.2).
pub const MAX_LEN: usize = 20;
/// The length of the initial connection IDs s2n-quic's client chooses, and so of our chains.
pub const CLIENT_LEN: usize = 8;

/// A connection ID of 8 to 20 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cid {
    len: u8,
    bytes: [u8; MAX_LEN],
}

/// Why a string or byte slice is not a connection ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidError {
    #[error("connection ID is empty (expected {MIN_LEN} to {MAX_LEN} bytes as hex, e.g. 0123456789abcdef)")]
    Empty,
    #[error("connection ID has an odd number of hex digits ({0}); each byte takes two digits")]
    OddLength(usize),
    #[error("connection ID has a non-hex character {ch:?} at position {position}")]
    NotHex { ch: char, position: usize },
    #[error("connection ID is {0} bytes; it must be at least {MIN_LEN} bytes (RFC 9000 §7.2)")]
    TooShort(usize),
    #[error("connection ID is {0} bytes; QUIC v1 allows at most {MAX_LEN} bytes (RFC 9000 §17.2)")]
    TooLong(usize),
}

impl Cid {
    /// A CID from raw bytes, which must be 8 to 20 long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CidError> {
        match bytes.len() {
            0 => Err(CidError::Empty),
            n if n < MIN_LEN => Err(CidError::TooShort(n)),
            n if n > MAX_LEN => Err(CidError::TooLong(n)),
            n => {
                let mut cid = Cid { len: n as u8, bytes: [0; MAX_LEN] };
                cid.bytes[..n].copy_from_slice(bytes);
                Ok(cid)
            }
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    #[allow(clippy::len_without_is_empty)] // never empty: at least MIN_LEN bytes
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Lowercase hex, the form used on command lines and in logs.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl FromStr for Cid {
    type Err = CidError;

    /// Parses hex, upper or lower case; a leading `0x` is accepted for convenience.
    fn from_str(s: &str) -> Result<Self, CidError> {
        let s = s.trim();
        let s = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
        if s.is_empty() {
            return Err(CidError::Empty);
        }
        if let Some((position, ch)) = s.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(CidError::NotHex { ch, position });
        }
        if !s.len().is_multiple_of(2) {
            return Err(CidError::OddLength(s.len()));
        }
        let n = s.len() / 2;
        if n < MIN_LEN {
            return Err(CidError::TooShort(n));
        }
        if n > MAX_LEN {
            return Err(CidError::TooLong(n));
        }
        let mut bytes = [0u8; MAX_LEN];
        for (i, byte) in bytes.iter_mut().take(n).enumerate() {
            // Cannot fail: every character was checked to be an ASCII hex digit.
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex digits");
        }
        Ok(Cid { len: n as u8, bytes })
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cid({self})")
    }
}

impl Serialize for Cid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints_lowercase_hex() {
        let cid: Cid = "0123456789ABCDEF".parse().unwrap();
        assert_eq!(cid.to_string(), "0123456789abcdef");
        assert_eq!(cid.len(), 8);
        assert_eq!("0x0123456789abcdef".parse::<Cid>().unwrap(), cid);
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!("".parse::<Cid>(), Err(CidError::Empty));
        assert_eq!("0123456789abcde".parse::<Cid>(), Err(CidError::OddLength(15)));
        assert_eq!("0123456789abcdeg".parse::<Cid>(), Err(CidError::NotHex { ch: 'g', position: 15 }));
        assert_eq!("01234567".parse::<Cid>(), Err(CidError::TooShort(4)));
        assert_eq!("00".repeat(21).parse::<Cid>(), Err(CidError::TooLong(21)));
        assert!("00".repeat(20).parse::<Cid>().is_ok());
        let msg = "xyz".parse::<Cid>().unwrap_err().to_string();
        assert!(msg.contains("non-hex"), "{msg}");
    }

    proptest! {
        #[test]
        fn hex_round_trips(bytes in proptest::collection::vec(any::<u8>(), MIN_LEN..=MAX_LEN)) {
            let cid = Cid::from_slice(&bytes).unwrap();
            prop_assert_eq!(cid.as_bytes(), &bytes[..]);
            prop_assert_eq!(cid.to_hex().parse::<Cid>().unwrap(), cid);
            let json = serde_json::to_string(&cid).unwrap();
            prop_assert_eq!(serde_json::from_str::<Cid>(&json).unwrap(), cid);
        }

        #[test]
        fn parsing_never_panics(s in ".{0,50}") {
            let _ = s.parse::<Cid>();
        }
    }
}
