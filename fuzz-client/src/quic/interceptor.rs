//! The packet interceptor: applies the shared mutation engine to the cleartext payload of each
//! outgoing packet whose connection's plan says so, and counts packets for the summary.
//!
//! s2n-quic calls `intercept_tx_payload` with the frames of one packet before encryption, so a
//! mutation is well encrypted and authenticated: the server decrypts it and parses what we wrote
//! (RFC 9001 §5: payload protection covers the frames, not their meaning). Each packet goes
//! through its connection's [`fuzz_shared::ConnectionFuzzer`] (via [`fuzz_s2n_glue`]), whose
//! decisions depend only on the CID and on what the packet carries, never on timing.
//!
//! The datagram hooks feed the flight recorder ([`crate::quic::flight`]): each datagram sent, as
//! encrypted on the wire, and each datagram received, claimed by the connection whose packet
//! `intercept_rx_payload` then sees (see the recorder for that order).

use crate::quic::conn_state::ConnShared;
use crate::quic::flight::{Bounds, FlightRecorder};
use fuzz_s2n_glue::PayloadMutator;
use fuzz_shared::FuzzState;
use s2n_codec::DecoderBufferMut;
use s2n_quic::provider::event::events::Subject;
use s2n_quic::provider::packet_interceptor::PacketInterceptor;
use s2n_quic_core::packet::interceptor::{Datagram, Packet};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Live connections by s2n-quic's internal connection id (`Subject::Connection { id }`).
/// Filled by the event subscriber when a connection is created, emptied when it is dropped, which
/// also ends the connection's flight in the recorder.
pub struct Registry {
    map: Mutex<HashMap<u64, Arc<ConnShared>>>,
    pub flights: Mutex<FlightRecorder<Arc<ConnShared>>>,
    /// Connections whose datagrams go out blanked ([`Registry::mute_all`]), and whether there
    /// are any, so that the common case costs one atomic load per datagram.
    muted: Mutex<HashSet<u64>>,
    any_muted: AtomicBool,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            map: Mutex::default(),
            flights: Mutex::new(FlightRecorder::new(Bounds::CLIENT)),
            muted: Mutex::default(),
            any_muted: AtomicBool::new(false),
        }
    }
}

impl Registry {
    pub fn insert(&self, id: u64, conn: Arc<ConnShared>) {
        self.map.lock().expect("registry").insert(id, conn);
    }

    pub fn remove(&self, id: u64) {
        self.map.lock().expect("registry").remove(&id);
        self.flights.lock().expect("flights").end(id);
        if self.any_muted.load(Ordering::Relaxed) {
            let mut muted = self.muted.lock().expect("muted");
            muted.remove(&id);
            self.any_muted.store(!muted.is_empty(), Ordering::Relaxed);
        }
    }

    /// Mutes every connection s2n-quic holds now (handshaking, open, closing or draining: each
    /// is in the map from its creation until s2n-quic frees it); returns how many. A muted connection lives on
    /// until s2n-quic frees it (one given up on in its handshake keeps retransmitting its
    /// Initials until its handshake times out, up to the connection cap), but every datagram it
    /// sends leaves as zeros ([`blank`]), which no server may parse: so a fresh server started
    /// after a death meets none of the dead server's fuzzed packets, without the campaign
    /// waiting seconds for those connections to go.
    pub fn mute_all(&self) -> usize {
        let map = self.map.lock().expect("registry");
        let mut muted = self.muted.lock().expect("muted");
        muted.extend(map.keys().copied());
        self.any_muted.store(!muted.is_empty(), Ordering::Relaxed);
        map.len()
    }

    fn is_muted(&self, id: u64) -> bool {
        self.any_muted.load(Ordering::Relaxed) && self.muted.lock().expect("muted").contains(&id)
    }

    fn get(&self, subject: &Subject) -> Option<Arc<ConnShared>> {
        match subject {
            Subject::Connection { id, .. } => self.map.lock().expect("registry").get(id).cloned(),
            _ => None,
        }
    }
}

/// Blanks a muted connection's datagram. RFC 9000 §17.3.1 (and §17.2 for long headers): "Fixed
/// Bit: The next bit (0x40) of byte 0 is set to 1. Packets containing a zero value for this bit
/// are not valid packets in this version and MUST be discarded." An all-zero datagram is such a
/// packet, and carries no connection ID, version or token a server could act on.
fn blank(bytes: &mut [u8]) {
    bytes.fill(0);
}

pub struct FuzzInterceptor {
    registry: Arc<Registry>,
    payloads: PayloadMutator,
}

impl FuzzInterceptor {
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry, payloads: PayloadMutator::new() }
    }
}

impl PacketInterceptor for FuzzInterceptor {
    fn intercept_tx_payload(
        &mut self,
        subject: &Subject,
        packet: &Packet,
        payload: &mut s2n_codec::encoder::scatter::Buffer,
    ) {
        let Some(conn) = self.registry.get(subject) else { return };
        let mut stats = conn.stats.lock().expect("stats");
        let stats = &mut *stats;
        let pn = packet.number.as_u64();
        let decisions_before = stats.fuzzer.as_ref().map_or(0, |f| f.decisions().len());
        let tx = self.payloads.on_tx_payload(stats.fuzzer.as_mut(), packet.number.space(), payload);
        let (state, len, new_len) = (tx.state, tx.len, tx.new_len);
        if tracing::enabled!(target: "packets", tracing::Level::TRACE) {
            let head: Vec<String> =
                payload.flatten().as_mut_slice().iter().take(12).map(|b| format!("{b:02x}")).collect();
            let space = tx.space.as_str();
            tracing::trace!(target: "packets", "{} tx {space} pn {pn} len {len} fuzzed {}: {}", conn.cid, tx.mutated, head.join(""));
        }
        if tx.fell_back {
            tracing::warn!(
                "{}: the mutation engine misbehaved on a {} packet; sent unmutated",
                conn.cid,
                tx.space.as_str()
            );
        }
        stats.sent[state as usize] += 1;
        let closes = state == FuzzState::Closing;
        if closes {
            stats.close_sent = true;
        }
        if tx.mutated {
            stats.fuzzed[state as usize] += 1;
            if tracing::enabled!(target: "mutation", tracing::Level::DEBUG) {
                let space = tx.space.as_str();
                let decisions = stats.fuzzer.as_ref().map_or(&[][..], |f| &f.decisions()[decisions_before..]);
                if decisions.is_empty() {
                    tracing::debug!(target: "mutation", "{} {space} pn {pn} len {len}->{new_len}: a retransmission, mutated as its first transmission", conn.cid);
                }
                for d in decisions {
                    tracing::debug!(target: "mutation", "{} {space} {} pn {pn} len {len}->{new_len}: {} at {}", conn.cid, d.content, d.operator, d.offset);
                }
            }
        }
        if closes {
            conn.close_sent.notify_one();
        }
    }

    fn intercept_rx_payload<'a>(
        &mut self,
        subject: &Subject,
        packet: &Packet,
        payload: DecoderBufferMut<'a>,
    ) -> DecoderBufferMut<'a> {
        if let Subject::Connection { id, .. } = subject {
            self.registry.flights.lock().expect("flights").claim(*id);
        }
        let Some(conn) = self.registry.get(subject) else { return payload };
        let mut stats = conn.stats.lock().expect("stats");
        stats.received += 1;
        let now = Instant::now();
        stats.heard = Some(match stats.heard {
            None => (now, Duration::ZERO),
            Some((last, longest)) => (now, longest.max(now.duration_since(last))),
        });
        // A connection that offered a ticket reads the server's ServerHello (Initial packets):
        // did the server accept it? Once whole, the assembly is dropped.
        if packet.number.space().is_initial() {
            if let Some(assembly) = stats.server_hello.as_mut() {
                let bytes = payload.into_less_safe_slice();
                if let Some(hello) = assembly.add(bytes) {
                    stats.psk_accepted = fuzz_shared::handshake::psk_accepted(&hello);
                    stats.server_hello = None;
                }
                return DecoderBufferMut::new(bytes);
            }
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
        let bytes = payload.as_mut_slice();
        if self.registry.is_muted(*id) {
            blank(bytes);
            return;
        }
        let at = SystemTime::now();
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

    fn conn(hex: &str) -> Arc<ConnShared> {
        ConnShared::for_test(hex)
    }

    #[test]
    fn muting_covers_the_connections_held_then_and_ends_with_them() {
        let registry = Registry::default();
        registry.insert(1, conn("0000000000000001"));
        registry.insert(2, conn("0000000000000002"));
        assert!(!registry.is_muted(1));
        assert_eq!(registry.mute_all(), 2);
        // A connection made after (the fresh server's probe, the campaign going on) is not muted.
        registry.insert(3, conn("0000000000000003"));
        assert!(registry.is_muted(1) && registry.is_muted(2) && !registry.is_muted(3));
        registry.remove(1);
        assert!(!registry.is_muted(1) && registry.is_muted(2));
        registry.remove(2);
        assert!(!registry.any_muted.load(Ordering::Relaxed), "nothing muted is left: the fast path again");
    }

    #[test]
    fn a_blanked_datagram_is_a_packet_every_server_must_discard() {
        let mut datagram = vec![0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0x44, 0xd0];
        blank(&mut datagram);
        assert!(datagram.iter().all(|&b| b == 0));
        assert_eq!(datagram[0] & 0x40, 0, "the fixed bit is clear (RFC 9000 §17.3.1)");
    }
}
