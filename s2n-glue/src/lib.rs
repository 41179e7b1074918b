//! # fuzz-s2n-glue: what both binaries need to put the fuzzer's core inside s2n-quic
//!
//! `fuzz-shared` knows nothing of s2n-quic; the client and the server both intercept s2n-quic's
//! outgoing packets and hand them to a [`ConnectionFuzzer`]. The translation lives here, once:
//! - [`crypto_stream`]: the frames of a received packet, and the first handshake message of a
//!   peer's Initial crypto stream (a ClientHello, a ServerHello) reassembled from them;
//! - [`space_of`]: s2n-quic's packet number spaces as the core names them;
//! - [`std_addr`]: an event's socket address as a std one;
//! - [`PayloadMutator`]: one outgoing packet's cleartext payload, as s2n-quic's
//!   `intercept_tx_payload` hands it out, through a connection's fuzzer, with the guard that
//!   keeps a misbehaving engine from taking the endpoint down;
//! - [`h3`]: HTTP/3 (hyperium's `h3` crate) over s2n-quic's streams;
//! - [`keylog`]: the TLS key log (`SSLKEYLOGFILE`, `--keylog`) installed in s2n-tls configs;
//! - [`qlog`]: `--qlog-dir`, one qlog file per connection with the fuzzer's decisions.

pub mod crypto_stream;
pub mod h3;
pub mod keylog;
pub mod qlog;

use fuzz_shared::fuzzer::{ConnectionFuzzer, PacketMutator};
use fuzz_shared::mutate::{self, MIN_PAYLOAD_LEN};
use fuzz_shared::{FuzzState, PacketSpace};
use s2n_codec::encoder::scatter;
use s2n_codec::{Encoder, EncoderBuffer};
use s2n_quic_core::event::api::SocketAddress;
use s2n_quic_core::packet::number::PacketNumberSpace;
use std::net::{IpAddr, SocketAddr};

/// s2n-quic's packet number spaces as the shared core names them (RFC 9000 §12.3).
pub fn space_of(space: PacketNumberSpace) -> PacketSpace {
    match space {
        PacketNumberSpace::Initial => PacketSpace::Initial,
        PacketNumberSpace::Handshake => PacketSpace::Handshake,
        PacketNumberSpace::ApplicationData => PacketSpace::ApplicationData,
    }
}

/// An event address as a std address.
pub fn std_addr(addr: &SocketAddress) -> Option<SocketAddr> {
    match addr {
        SocketAddress::IpV4 { ip, port, .. } => Some(SocketAddr::new(IpAddr::from(**ip), *port)),
        SocketAddress::IpV6 { ip, port, .. } => Some(SocketAddr::new(IpAddr::from(**ip), *port)),
        _ => None,
    }
}

/// What happened to one outgoing packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tx {
    pub space: PacketSpace,
    pub state: FuzzState,
    /// The payload's length before and after.
    pub len: usize,
    pub new_len: usize,
    /// The packet was mutated (and sent with its new length).
    pub mutated: bool,
    /// The engine broke its length promise or panicked: the packet went out unmutated. A bug of
    /// the engine, to be counted; the decisions it recorded stay in the connection's digest.
    pub fell_back: bool,
}

/// Runs outgoing payloads through connections' fuzzers; one per interceptor. Holds the mutation
/// engine's scratch space and a copy of the payload being mutated, to restore it if need be.
#[derive(Debug, Default)]
pub struct PayloadMutator {
    mutator: PacketMutator,
    original: Vec<u8>,
}

impl PayloadMutator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Hands one packet's payload (`intercept_tx_payload`'s) to `fuzzer`; `None` (a clean
    /// connection, or one whose CID is unknown) only classifies it.
    ///
    /// The payload is `[..len]` of a buffer that may grow to its capacity: the fuzzer sees all of
    /// it as room. A new length of 1 to 3 bytes would panic s2n-quic's header protection (RFC
    /// 9001 §5.4.2 samples 16 bytes from 4 bytes after the packet number) and take the endpoint
    /// down, and one beyond the capacity cannot be sent. The engine promises neither, but if it
    /// breaks its promise, or panics, the original payload is restored.
    pub fn on_tx_payload(
        &mut self,
        fuzzer: Option<&mut ConnectionFuzzer>,
        space: PacketNumberSpace,
        payload: &mut scatter::Buffer,
    ) -> Tx {
        let space = space_of(space);
        let buf = payload.flatten();
        let len = buf.len();
        let Some(fuzzer) = fuzzer else {
            let state = FuzzState::of_packet(space, mutate::closes_connection(buf.as_mut_slice()));
            return Tx { space, state, len, new_len: len, mutated: false, fell_back: false };
        };
        let mut state = None;
        let mutator = &mut self.mutator;
        let guarded = guarded(&mut self.original, buf, |whole, len| {
            let sent = fuzzer.on_packet(mutator, space, whole, len);
            state = Some(sent.state);
            sent.mutated
        });
        // Only a panic leaves the state unknown: classify the (restored) payload again.
        let state = state.unwrap_or_else(|| FuzzState::of_packet(space, mutate::closes_connection(&self.original)));
        let (mutated, fell_back) = (guarded == Guarded::Mutated, guarded == Guarded::FellBack);
        Tx { space, state, len, new_len: buf.len(), mutated, fell_back }
    }
}

/// How [`guarded`] went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guarded {
    Unchanged,
    Mutated,
    FellBack,
}

/// Runs `mutate(whole_buffer, len) -> Some(new_len)` (or `None`: left alone) on an s2n-quic
/// payload buffer and writes the new length back, restoring the original payload if the new
/// length is one s2n-quic cannot send or `mutate` panics.
fn guarded(
    original: &mut Vec<u8>,
    buf: &mut EncoderBuffer,
    mutate: impl FnOnce(&mut [u8], usize) -> Option<usize>,
) -> Guarded {
    let len = buf.len();
    let capacity = buf.capacity();
    original.clear();
    original.extend_from_slice(buf.as_mut_slice());
    buf.set_position(capacity);
    let whole = buf.as_mut_slice();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| mutate(&mut *whole, len)));
    match result {
        Ok(None) => {
            buf.set_position(len);
            Guarded::Unchanged
        }
        Ok(Some(new_len)) if new_len == 0 || (MIN_PAYLOAD_LEN..=capacity).contains(&new_len) => {
            buf.set_position(new_len);
            Guarded::Mutated
        }
        _ => {
            whole[..len].copy_from_slice(original);
            buf.set_position(len);
            Guarded::FellBack
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(payload: &[u8], capacity: usize, new_len: Option<usize>) -> (Guarded, Vec<u8>) {
        let mut storage = vec![0u8; capacity];
        let mut buf = EncoderBuffer::new(&mut storage);
        buf.write_slice(payload);
        let outcome = guarded(&mut Vec::new(), &mut buf, |whole, len| {
            assert_eq!(whole.len(), capacity, "the engine sees the whole buffer");
            assert_eq!(len, payload.len());
            if new_len.is_some() {
                whole.iter_mut().for_each(|b| *b = 0xee);
            }
            new_len
        });
        (outcome, buf.as_mut_slice().to_vec())
    }

    #[test]
    fn lengths_the_endpoint_cannot_send_fall_back_to_the_original() {
        let payload = [1u8, 2, 3, 4, 5, 6];
        for bad in [1, 2, 3, 33] {
            assert_eq!(run(&payload, 32, Some(bad)), (Guarded::FellBack, payload.to_vec()), "length {bad}");
        }
        assert_eq!(run(&payload, 32, None), (Guarded::Unchanged, payload.to_vec()));
        assert_eq!(run(&payload, 32, Some(0)), (Guarded::Mutated, vec![]));
        assert_eq!(run(&payload, 32, Some(4)), (Guarded::Mutated, vec![0xee; 4]));
        assert_eq!(run(&payload, 32, Some(32)), (Guarded::Mutated, vec![0xee; 32]));
    }

    #[test]
    fn a_panicking_engine_falls_back_too() {
        let mut storage = vec![0u8; 16];
        let mut buf = EncoderBuffer::new(&mut storage);
        buf.write_slice(&[9, 9, 9, 9, 9]);
        let outcome = guarded(&mut Vec::new(), &mut buf, |whole, _| {
            whole[0] = 0;
            panic!("engine bug")
        });
        assert_eq!(outcome, Guarded::FellBack);
        assert_eq!(buf.as_mut_slice(), &[9, 9, 9, 9, 9]);
    }
}
