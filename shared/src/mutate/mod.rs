//! The mutation engine: decides and applies mutations to the cleartext frames of one packet.
//!
//! Input is exactly what s2n-quic's packet interceptor hands out: the frames of one packet before
//! encryption, in a buffer whose length is the packet's capacity. The engine is driven by the
//! packet's own generator ([`crate::seed::ConnectionSeed::packet_rng`]) and records every
//! mutation it makes as a [`Decision`], so a replay can prove it made the same decisions even
//! though TLS randomness makes the bytes differ.
//!
//! Hard rules, for any input bytes (including garbage that does not parse):
//! - a mutated payload is empty or at least [`MIN_PAYLOAD_LEN`] bytes long: s2n-quic panics in
//!   header protection on payloads of 1 to 3 bytes and takes the whole endpoint down;
//! - it is never longer than the buffer it was given.

pub mod digest;

use crate::seed::{PacketSpace, Role};
use rand::Rng;
use serde::{Deserialize, Serialize};

pub use digest::digest;

/// The shortest non-empty payload s2n-quic can protect: header protection samples 16 bytes
/// starting 4 bytes after the packet number (RFC 9001 §5.4.2), and s2n-quic relies on at least
/// 4 payload bytes being there.
pub const MIN_PAYLOAD_LEN: usize = 4;

/// The facts about the packet being mutated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketInfo {
    pub role: Role,
    pub space: PacketSpace,
    pub packet_number: u64,
}

/// One mutation applied to one packet: which packet, which operator, where.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Decision {
    pub space: PacketSpace,
    pub packet_number: u64,
    /// The operator's stable name, e.g. `"field:stream.offset"` or `"havoc:flip_byte"`.
    pub operator: String,
    /// The byte offset in the payload where it applied.
    pub offset: u32,
}

/// Mutates packets; holds scratch space so that mutating allocates nothing in steady state.
#[derive(Default)]
pub struct Mutator {
    scratch: Vec<u8>,
}

impl Mutator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Mutates the payload `buf[..len]` in place, using `buf[len..]` as room to grow, and returns
    /// the new length: 0 or in `MIN_PAYLOAD_LEN..=buf.len()`. Each mutation made is appended to
    /// `decisions`.
    pub fn mutate<R: Rng>(
        &mut self,
        rng: &mut R,
        packet: &PacketInfo,
        buf: &mut [u8],
        len: usize,
        decisions: &mut Vec<Decision>,
    ) -> usize {
        // Placeholder engine until the frame-aware one lands: flip one byte.
        let _ = &mut self.scratch;
        let len = len.min(buf.len());
        if len == 0 {
            return 0;
        }
        let offset = rng.gen_range(0..len);
        buf[offset] ^= 1 << rng.gen_range(0..8);
        decisions.push(Decision {
            space: packet.space,
            packet_number: packet.packet_number,
            operator: "havoc:flip_bit".into(),
            offset: offset as u32,
        });
        if len < MIN_PAYLOAD_LEN {
            return 0;
        }
        len
    }
}

/// Whether a payload carries a CONNECTION_CLOSE frame (types 0x1c, 0x1d; RFC 9000 §19.19), which
/// puts the packet in the `closing` fuzz state. Payloads that do not parse count as not closing.
pub fn closes_connection(payload: &[u8]) -> bool {
    // Placeholder until the frame parser lands: look for the frame type at the start.
    matches!(payload.first(), Some(0x1c | 0x1d))
}
