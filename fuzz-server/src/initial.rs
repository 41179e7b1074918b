//! Parsing the long header of a client's QUIC v1 Initial packet, to learn the connection ID the
//! client chose before s2n-quic decodes the datagram.
//!
//! Pure and allocation-free: it runs on every datagram the server receives, including the ones a
//! fuzzing client garbles, so it must accept any bytes without panicking.
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

/// Parses the first packet of a datagram as a v1 Initial long header; `None` if it is anything
/// else (a short header, another long packet type, another version, or a truncated header).
///
/// The Fixed Bit is not checked: RFC 9287 lets a client clear it ("greasing"), and whether such a
/// packet makes a connection is s2n-quic's decision, not this parser's.
pub fn parse_v1_initial(datagram: &[u8]) -> Option<InitialHeader<'_>> {
    let (&first, rest) = datagram.split_first()?;
    // Header Form 1 (long header) and Long Packet Type 0b00 (Initial).
    if first & 0x80 == 0 || first & 0x30 != 0 {
        return None;
    }
    let (version, rest) = rest.split_first_chunk::<4>()?;
    if u32::from_be_bytes(*version) != QUIC_V1 {
        return None;
    }
    let (dcid, rest) = length_prefixed_cid(rest)?;
    let (scid, _) = length_prefixed_cid(rest)?;
    Some(InitialHeader { dcid, scid })
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
