//! Parsing the cleartext long header of a QUIC v1 packet (the first packet of a datagram), before
//! any decryption: the fuzz-server learns the connection ID a client chose from its Initial, the
//! fuzz-client's flight recorder attributes received datagrams by their Destination Connection
//! ID, and `replay --pcap` picks a capture's Initial datagrams.
//!
//! Pure and allocation-free: it runs on every datagram either end receives, including the ones a
//! fuzzer garbles, so it must accept any bytes without panicking.
//!
//! RFC 9000 §17.2 (Long Header Packet Format):
//! ```text
//! Long Header Packet {
//!   Header Form (1) = 1,
//!   Fixed Bit (1) = 1,
//!   Long Packet Type (2),
//!   Type-Specific Bits (4),
//!   Version (32),
//!   Destination Connection ID Length (8),
//!   Destination Connection ID (0..160),
//!   Source Connection ID Length (8),
//!   Source Connection ID (0..160),
//!   Type-Specific Payload (..),
//! }
//! ```
//! RFC 9000 §17.2.2: an Initial packet has Long Packet Type 0x00.

/// QUIC version 1 (RFC 9000 §15).
pub const QUIC_V1: u32 = 0x0000_0001;

/// "In QUIC version 1, this value MUST NOT exceed 20 bytes." (RFC 9000 §17.2)
const MAX_CID_LEN: usize = 20;

/// The connection IDs of an Initial packet's long header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitialHeader<'a> {
    /// The Destination Connection ID: on a client's first Initial, the one the client chose.
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
}

/// The connection IDs and type of a v1 long header (RFC 9000 §17.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongHeader<'a> {
    /// Long Packet Type: 0 Initial, 1 0-RTT, 2 Handshake, 3 Retry (RFC 9000 §17.2, Table 5).
    pub packet_type: u8,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
}

/// Long Packet Type 0x00: Initial (RFC 9000 §17.2.2).
pub const INITIAL: u8 = 0;

/// Parses the first packet of a datagram as a v1 long header of any type; `None` for a short
/// header, another version (version negotiation included) or a truncated header.
pub fn parse_v1_long_header(datagram: &[u8]) -> Option<LongHeader<'_>> {
    let (&first, rest) = datagram.split_first()?;
    if first & 0x80 == 0 {
        return None;
    }
    let (version, rest) = rest.split_first_chunk::<4>()?;
    if u32::from_be_bytes(*version) != QUIC_V1 {
        return None;
    }
    let (dcid, rest) = length_prefixed_cid(rest)?;
    let (scid, _) = length_prefixed_cid(rest)?;
    Some(LongHeader { packet_type: (first >> 4) & 0x03, dcid, scid })
}

/// Parses the first packet of a datagram as a v1 Initial long header; `None` if it is anything
/// else (a short header, another long packet type, another version, or a truncated header).
///
/// The Fixed Bit is not checked: RFC 9287 lets a client clear it ("greasing"), and whether such a
/// packet makes a connection is s2n-quic's decision, not this parser's.
pub fn parse_v1_initial(datagram: &[u8]) -> Option<InitialHeader<'_>> {
    parse_v1_long_header(datagram)
        .filter(|h| h.packet_type == INITIAL)
        .map(|h| InitialHeader { dcid: h.dcid, scid: h.scid })
}

/// Whether the first packet of `datagram` is addressed to connection ID `cid`: a v1 long header
/// whose DCID is `cid`, or a short header (RFC 9000 §17.3: the DCID follows the first byte, its
/// length known only to the receiver) that starts with it.
pub fn addressed_to(datagram: &[u8], cid: &[u8]) -> bool {
    if cid.is_empty() {
        return false;
    }
    match datagram.first() {
        Some(first) if first & 0x80 != 0 => parse_v1_long_header(datagram).is_some_and(|h| h.dcid == cid),
        Some(_) => datagram.get(1..1 + cid.len()) == Some(cid),
        None => false,
    }
}

/// A one-byte length followed by that many bytes of connection ID, at most 20 (RFC 9000 §17.2).
fn length_prefixed_cid(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = bytes.split_first()?;
    let len = len as usize;
    if len > MAX_CID_LEN || rest.len() < len {
        return None;
    }
    Some(rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initial(first: u8, version: u32, dcid: &[u8], scid: &[u8]) -> Vec<u8> {
        let mut p = vec![first];
        p.extend_from_slice(&version.to_be_bytes());
        p.push(dcid.len() as u8);
        p.extend_from_slice(dcid);
        p.push(scid.len() as u8);
        p.extend_from_slice(scid);
        p.extend_from_slice(&[0, 0x41, 0x00]); // token length, length, ...
        p
    }

    #[test]
    fn parses_a_v1_initial() {
        let dcid = [1, 2, 3, 4, 5, 6, 7, 8];
        let p = initial(0xc3, QUIC_V1, &dcid, &[9, 9]);
        assert_eq!(parse_v1_initial(&p), Some(InitialHeader { dcid: &dcid, scid: &[9, 9] }));
        // 20-byte DCID (the longest v1 allows) and an empty SCID.
        let long = [7u8; 20];
        let p = initial(0xc0, QUIC_V1, &long, &[]);
        assert_eq!(parse_v1_initial(&p).unwrap().dcid, &long);
        // A greased (cleared) Fixed Bit is still an Initial (RFC 9287).
        assert!(parse_v1_initial(&initial(0x80, QUIC_V1, &dcid, &[])).is_some());
    }

    #[test]
    fn rejects_everything_else() {
        let dcid = [1u8; 8];
        assert_eq!(parse_v1_initial(&[]), None);
        // Short header.
        assert_eq!(parse_v1_initial(&initial(0x40, QUIC_V1, &dcid, &[])), None);
        // 0-RTT (0b01), Handshake (0b10), Retry (0b11).
        for first in [0xd0, 0xe0, 0xf0] {
            assert_eq!(parse_v1_initial(&initial(first, QUIC_V1, &dcid, &[])), None);
        }
        // Version negotiation (version 0) and other versions.
        assert_eq!(parse_v1_initial(&initial(0xc0, 0, &dcid, &[])), None);
        assert_eq!(parse_v1_initial(&initial(0xc0, 0xff00_001d, &dcid, &[])), None);
        // Over-long DCID and SCID.
        assert_eq!(parse_v1_initial(&initial(0xc0, QUIC_V1, &[1u8; 21], &[])), None);
        assert_eq!(parse_v1_initial(&initial(0xc0, QUIC_V1, &dcid, &[1u8; 21])), None);
        // Truncated anywhere in the header.
        let p = initial(0xc0, QUIC_V1, &dcid, &[2u8; 4]);
        let header_len = 1 + 4 + 1 + 8 + 1 + 4;
        for cut in 0..header_len {
            assert_eq!(parse_v1_initial(&p[..cut]), None, "cut at {cut}");
        }
        assert!(parse_v1_initial(&p[..header_len]).is_some());
    }

    #[test]
    fn long_headers_and_addressing() {
        let dcid = [1, 2, 3, 4, 5, 6, 7, 8];
        let hs = initial(0xe0, QUIC_V1, &dcid, &[9, 9]);
        let h = parse_v1_long_header(&hs).unwrap();
        assert_eq!((h.packet_type, h.dcid, h.scid), (2, &dcid[..], &[9u8, 9][..]));
        assert_eq!(parse_v1_long_header(&initial(0xc0, QUIC_V1, &dcid, &[])).unwrap().packet_type, INITIAL);
        assert!(addressed_to(&hs, &dcid));
        assert!(!addressed_to(&hs, &[9, 9]));
        // A short header: the DCID right after the first byte.
        let mut short = vec![0x41];
        short.extend_from_slice(&dcid);
        short.extend_from_slice(&[0xaa; 20]);
        assert!(addressed_to(&short, &dcid));
        assert!(!addressed_to(&short, &[2, 3]));
        assert!(!addressed_to(&short[..4], &dcid), "too short to hold it");
        assert!(!addressed_to(&short, &[]));
        assert!(!addressed_to(&[], &dcid));
    }

    /// Every prefix of many pseudo-random datagrams (half of them shaped like Initials): no
    /// panic, and whatever parses lies inside the input.
    #[test]
    fn never_panics_and_stays_in_bounds() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..20_000 {
            let mut bytes: Vec<u8> = (0..64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            if round % 2 == 0 {
                bytes[0] = 0xc0;
                bytes[1..5].copy_from_slice(&QUIC_V1.to_be_bytes());
                bytes[5] %= 24;
            }
            for cut in 0..bytes.len() {
                if let Some(h) = parse_v1_initial(&bytes[..cut]) {
                    assert!(h.dcid.len() <= 20 && h.scid.len() <= 20);
                    assert!(7 + h.dcid.len() + h.scid.len() <= cut);
                }
            }
        }
    }
}
