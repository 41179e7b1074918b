//! The packet interceptor: learns each connection's client-chosen CID from its first Initial,
//! mutates the server's own packets as the connection's plan says, and hosts the receive-side
//! planted faults.
//!
//! Learning the CID: `intercept_rx_datagram` (subject `Endpoint`) sees every datagram before
//! s2n-quic decodes it. When it holds a v1 Initial, its Destination Connection ID is the one the
//! client chose (RFC 9000 §7.2), and if s2n-quic creates a connection from that datagram it does
//! so synchronously, right after, in `create_connection_context` (see `registry`). So "the last
//! Initial parsed" is exactly the connection's CID. The DCID of every other datagram is ignored.
//!
//! Mutating: `intercept_tx_payload` (subject `Connection { id }`) gets the cleartext frames of each
//! packet before protection, in a buffer that may grow to its capacity. The packet's fuzz state is
//! `FuzzState::of_packet(space, closes_connection)`; if the plan fuzzes it, the packet's own
//! generator `seed.packet_rng(Role::Server, space, pn)` drives the mutation engine, and the
//! decisions are kept for the connection's `mutation_digest`.

use crate::planted::Faults;
use crate::registry::Shared;
use fuzz_shared::mutate::{self, Mutator, PacketInfo, MIN_PAYLOAD_LEN};
use fuzz_shared::{Cid, FuzzState, Mode, PacketSpace, Role};
use s2n_codec::{DecoderBufferMut, Encoder, EncoderBuffer};
use s2n_quic::provider::packet_interceptor::PacketInterceptor;
use s2n_quic_core::event::api::{SocketAddress, Subject};
use s2n_quic_core::packet::interceptor::{Datagram, Packet};
use s2n_quic_core::packet::number::PacketNumberSpace;
use std::net::{IpAddr, SocketAddr};

pub struct FuzzInterceptor {
    shared: Shared,
    mode: Mode,
    faults: Faults,
    mutator: Mutator,
    /// The payload as it was before mutation, to fall back to if the engine misbehaves.
    original: Vec<u8>,
}

impl FuzzInterceptor {
    pub fn new(shared: Shared, mode: Mode, faults: Faults) -> Self {
        Self { shared, mode, faults, mutator: Mutator::new(), original: Vec::with_capacity(1500) }
    }
}

/// s2n-quic's packet number spaces as the shared core names them (RFC 9000 §12.3).
fn space_of(space: PacketNumberSpace) -> PacketSpace {
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

impl PacketInterceptor for FuzzInterceptor {
    fn intercept_rx_datagram<'a>(
        &mut self,
        subject: &Subject,
        datagram: &Datagram,
        payload: DecoderBufferMut<'a>,
    ) -> DecoderBufferMut<'a> {
        if let Subject::Endpoint { .. } = subject {
            // Every datagram replaces the pending CID (with `None` if it is no Initial), so a
            // stale CID can never be given to a connection created from another datagram.
            let slice = payload.into_less_safe_slice();
            let pending = fuzz_shared::initial::parse_v1_initial(slice)
                .and_then(|h| Cid::from_slice(h.dcid).ok())
                .map(|cid| (cid, std_addr(&datagram.remote_address)));
            self.shared.lock().pending_initial = pending;
            return DecoderBufferMut::new(slice);
        }
        payload
    }

    fn intercept_rx_payload<'a>(
        &mut self,
        _subject: &Subject,
        _packet: &Packet,
        payload: DecoderBufferMut<'a>,
    ) -> DecoderBufferMut<'a> {
        if self.faults.abort_on.is_empty() {
            return payload;
        }
        let slice = payload.into_less_safe_slice();
        self.faults.check_received(slice);
        DecoderBufferMut::new(slice)
    }

    fn intercept_tx_payload(
        &mut self,
        subject: &Subject,
        packet: &Packet,
        payload: &mut s2n_codec::encoder::scatter::Buffer,
    ) {
        let Subject::Connection { id, .. } = subject else { return };
        let mut reg = self.shared.lock();
        let Some(conn) = reg.conns.get_mut(id) else { return };
        conn.sent_packets += 1;
        if self.mode != Mode::Fuzz {
            return;
        }
        let (Some(seed), Some(plan)) = (conn.seed.as_ref(), conn.plan.as_ref()) else { return };
        let space = space_of(packet.number.space());
        let pn = packet.number.as_u64();
        let buf = payload.flatten();
        let state = FuzzState::of_packet(space, mutate::closes_connection(buf.as_mut_slice()));
        if !plan.fuzzes(state, pn) {
            return;
        }
        let mut rng = seed.packet_rng(Role::Server, space, pn);
        let info = PacketInfo { role: Role::Server, space, packet_number: pn };
        let decisions_before = conn.decisions.len();
        // mutate_packet hides the trailing PADDING (which depends on the datagram, not the
        // packet) from the engine and gives it back afterwards.
        let fell_back = mutate_payload(&mut self.mutator, &mut self.original, buf, |m, whole, len| {
            m.mutate_packet(&mut rng, &info, whole, len, &mut conn.decisions)
        });
        if fell_back {
            conn.decisions.truncate(decisions_before);
            reg.stats.engine_fallbacks += 1;
        } else {
            conn.fuzzed_packets += 1;
        }
    }
}

/// Runs `mutate(mutator, whole_buffer, len) -> new_len` on an s2n-quic payload buffer and writes
/// the new length back. A new length of 1 to 3 bytes would panic s2n-quic's header protection
/// (RFC 9001 §5.4.2 samples 16 bytes from 4 bytes after the packet number) and take the endpoint
/// down; a length beyond the capacity is impossible to send. The engine promises neither, but if
/// it breaks its promise (or panics) the original payload is restored and `true` returned.
fn mutate_payload(
    mutator: &mut Mutator,
    original: &mut Vec<u8>,
    buf: &mut EncoderBuffer,
    mutate: impl FnOnce(&mut Mutator, &mut [u8], usize) -> usize,
) -> bool {
    let len = buf.len();
    let capacity = buf.capacity();
    original.clear();
    original.extend_from_slice(buf.as_mut_slice());
    buf.set_position(capacity);
    let whole = buf.as_mut_slice();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| mutate(mutator, &mut *whole, len)));
    match result {
        Ok(new_len) if new_len == 0 || (MIN_PAYLOAD_LEN..=capacity).contains(&new_len) => {
            buf.set_position(new_len);
            false
        }
        other => {
            if let Ok(bad) = other {
                eprintln!("fuzz-server: the mutation engine returned length {bad} (capacity {capacity}); packet sent unmutated");
            }
            whole[..len].copy_from_slice(original);
            buf.set_position(len);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(payload: &[u8], capacity: usize, new_len: usize) -> (bool, Vec<u8>) {
        let mut storage = vec![0u8; capacity];
        let mut buf = EncoderBuffer::new(&mut storage);
        buf.write_slice(payload);
        let mut mutator = Mutator::new();
        let fell_back = mutate_payload(&mut mutator, &mut Vec::new(), &mut buf, |_, whole, len| {
            assert_eq!(whole.len(), capacity, "the engine sees the whole buffer");
            assert_eq!(len, payload.len());
            whole.iter_mut().for_each(|b| *b = 0xee);
            new_len
        });
        (fell_back, buf.as_mut_slice().to_vec())
    }

    #[test]
    fn lengths_the_endpoint_cannot_send_fall_back_to_the_original() {
        let payload = [1u8, 2, 3, 4, 5, 6];
        for bad in [1, 2, 3, 33] {
            assert_eq!(run(&payload, 32, bad), (true, payload.to_vec()), "length {bad}");
        }
        assert_eq!(run(&payload, 32, 0), (false, vec![]));
        assert_eq!(run(&payload, 32, 4), (false, vec![0xee; 4]));
        assert_eq!(run(&payload, 32, 32), (false, vec![0xee; 32]));
    }

    #[test]
    fn a_panicking_engine_falls_back_too() {
        let mut storage = vec![0u8; 16];
        let mut buf = EncoderBuffer::new(&mut storage);
        buf.write_slice(&[9, 9, 9, 9, 9]);
        let fell_back = mutate_payload(&mut Mutator::new(), &mut Vec::new(), &mut buf, |_, whole, _| {
            whole[0] = 0;
            panic!("engine bug")
        });
        assert!(fell_back);
        assert_eq!(buf.as_mut_slice(), &[9, 9, 9, 9, 9]);
    }
}
