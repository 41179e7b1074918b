//! The packet interceptor: applies the shared mutation engine to the cleartext payload of each
//! outgoing packet whose connection's plan says so, and counts packets for the summary.
//!
//! s2n-quic calls `intercept_tx_payload` with the frames of one packet before encryption, so a
//! mutation is well encrypted and authenticated: the server decrypts it and parses what we wrote
//! (RFC 9001 §5: payload protection covers the frames, not their meaning). The decision of each
//! packet comes from its own generator, `packet_rng(Client, space, packet number)`, so it depends
//! only on the CID and the packet's number, never on timing.
//!
//! The datagram hooks feed the flight recorder ([`crate::quic::flight`]): each datagram sent, as
//! encrypted on the wire, and each datagram received, claimed by the connection whose packet
//! `intercept_rx_payload` then sees (see the recorder for that order).

use crate::quic::connection::ConnShared;
use crate::quic::flight::{Bounds, FlightRecorder};
use fuzz_shared::mutate::{self, PacketInfo, MIN_PAYLOAD_LEN};
use fuzz_shared::{FuzzState, Mode, PacketSpace, Role};
use s2n_codec::{DecoderBufferMut, Encoder};
use s2n_quic::provider::event::events::Subject;
use s2n_quic::provider::packet_interceptor::PacketInterceptor;
use s2n_quic_core::packet::interceptor::{Datagram, Packet};
use s2n_quic_core::packet::number::PacketNumberSpace;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Live connections by s2n-quic's internal connection id (`Subject::Connection { id }`).
/// Filled by the event subscriber when a connection is created, emptied when it is dropped, which
/// also ends the connection's flight in the recorder.
pub struct Registry {
    map: Mutex<HashMap<u64, Arc<ConnShared>>>,
    pub flights: Mutex<FlightRecorder<Arc<ConnShared>>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self { map: Mutex::default(), flights: Mutex::new(FlightRecorder::new(Bounds::CLIENT)) }
    }
}

impl Registry {
    pub fn insert(&self, id: u64, conn: Arc<ConnShared>) {
        self.map.lock().expect("registry").insert(id, conn);
    }

    pub fn remove(&self, id: u64) {
        self.map.lock().expect("registry").remove(&id);
        self.flights.lock().expect("flights").end(id);
    }

    fn get(&self, subject: &Subject) -> Option<Arc<ConnShared>> {
        match subject {
            Subject::Connection { id, .. } => self.map.lock().expect("registry").get(id).cloned(),
            _ => None,
        }
    }
}

pub struct FuzzInterceptor {
    registry: Arc<Registry>,
    mutator: mutate::Mutator,
}

impl FuzzInterceptor {
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry, mutator: mutate::Mutator::new() }
    }
}

fn space_of(space: PacketNumberSpace) -> PacketSpace {
    match space {
        PacketNumberSpace::Initial => PacketSpace::Initial,
        PacketNumberSpace::Handshake => PacketSpace::Handshake,
        PacketNumberSpace::ApplicationData => PacketSpace::ApplicationData,
    }
}

/// The length to hand back to s2n-quic: lengths 1 to 3 panic its header protection and take the
/// whole endpoint down, so they become 4 (PADDING frames, type 0x00, fill the rest: RFC 9000
/// §19.1); a length past the buffer is clamped.
pub fn safe_len(buf: &mut [u8], len: usize) -> usize {
    let len = len.min(buf.len());
    if len == 0 || len >= MIN_PAYLOAD_LEN || buf.len() < MIN_PAYLOAD_LEN {
        return if len < MIN_PAYLOAD_LEN { 0 } else { len };
    }
    buf[len..MIN_PAYLOAD_LEN].fill(0);
    MIN_PAYLOAD_LEN
}

impl PacketInterceptor for FuzzInterceptor {
    fn intercept_tx_payload(
        &mut self,
        subject: &Subject,
        packet: &Packet,
        payload: &mut s2n_codec::encoder::scatter::Buffer,
    ) {
        let Some(conn) = self.registry.get(subject) else { return };
        let space = space_of(packet.number.space());
        let pn = packet.number.as_u64();
        let buf = payload.flatten();
        let len = buf.len();
        let closes = mutate::closes_connection(buf.as_mut_slice());
        let state = FuzzState::of_packet(space, closes);
        let fuzz = conn.mode == Mode::Fuzz && conn.plan.fuzzes(state, pn);
        if tracing::enabled!(target: "packets", tracing::Level::TRACE) {
            let head: Vec<String> = buf.as_mut_slice().iter().take(12).map(|b| format!("{b:02x}")).collect();
            tracing::trace!(target: "packets", "{} tx {} pn {pn} len {len} fuzz {fuzz}: {}", conn.cid, space.as_str(), head.join(""));
        }
        let mut stats = conn.stats.lock().expect("stats");
        stats.sent[state as usize] += 1;
        if closes {
            stats.close_sent = true;
        }
        if fuzz {
            let mut rng = conn.seed.packet_rng(Role::Client, space, pn);
            let info = PacketInfo { role: Role::Client, space, packet_number: pn };
            let capacity = buf.capacity();
            // The payload is `[..len]` of a `capacity`-byte buffer: expose all of it as room to grow.
            buf.set_position(capacity);
            let whole = buf.as_mut_slice();
            let before = stats.decisions.len();
            // The engine sees the frames without the datagram's trailing padding, which timing
            // decides, and gives it back so that Initial datagrams keep their 1200 bytes.
            let new_len = self.mutator.mutate_packet(&mut rng, &info, whole, len, &mut stats.decisions);
            let new_len = safe_len(whole, new_len);
            if tracing::enabled!(target: "mutation", tracing::Level::DEBUG) {
                for d in &stats.decisions[before..] {
                    tracing::debug!(target: "mutation", "{} {} pn {} len {len}->{new_len}: {} at {}", conn.cid, space.as_str(), pn, d.operator, d.offset);
                }
            }
            buf.set_position(new_len);
            stats.fuzzed[state as usize] += 1;
        }
        drop(stats);
        if closes {
            conn.close_sent.notify_one();
        }
    }

    fn intercept_rx_payload<'a>(
        &mut self,
        subject: &Subject,
        _packet: &Packet,
        payload: DecoderBufferMut<'a>,
    ) -> DecoderBufferMut<'a> {
        if let Some(conn) = self.registry.get(subject) {
            conn.stats.lock().expect("stats").received += 1;
        }
        if let Subject::Connection { id, .. } = subject {
            self.registry.flights.lock().expect("flights").claim(*id);
        }
        payload
    }

    fn intercept_tx_datagram(
        &mut self,
        subject: &Subject,
        datagram: &Datagram,
        payload: &mut s2n_codec::EncoderBuffer,
    ) {
        let Subject::Connection { id, .. } = subject else { return };
        let at = SystemTime::now();
        let bytes = payload.as_mut_slice();
        if self.registry.flights.lock().expect("flights").sent(*id, at, bytes) {
            return;
        }
        // The connection's first datagram: it starts recording (two locks in turn, never nested).
        let Some(conn) = self.registry.get(subject) else { return };
        let mut flights = self.registry.flights.lock().expect("flights");
        let (server, local) = ((&datagram.remote_address).into(), (&datagram.local_address).into());
        flights.begin(*id, conn, server, local);
        flights.sent(*id, at, bytes);
    }

    fn intercept_rx_datagram<'a>(
        &mut self,
        _subject: &Subject,
        _datagram: &Datagram,
        payload: DecoderBufferMut<'a>,
    ) -> DecoderBufferMut<'a> {
        // Called with `Subject::Endpoint` before s2n-quic decodes the datagram: it waits in the
        // recorder for the connection that decrypts it (`intercept_rx_payload`).
        let bytes = payload.into_less_safe_slice();
        self.registry.flights.lock().expect("flights").received(SystemTime::now(), bytes);
        DecoderBufferMut::new(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_lengths_are_padded() {
        let mut buf = [7u8; 10];
        assert_eq!(safe_len(&mut buf, 0), 0);
        assert_eq!(safe_len(&mut buf, 2), 4);
        assert_eq!(&buf[..4], &[7, 7, 0, 0]);
        assert_eq!(safe_len(&mut buf, 5), 5);
        assert_eq!(safe_len(&mut buf, 50), 10);
        let mut tiny = [1u8; 3];
        assert_eq!(safe_len(&mut tiny, 3), 0, "no room for 4 bytes: skip the packet");
    }
}
