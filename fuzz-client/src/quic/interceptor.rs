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
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

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

    /// Connections s2n-quic still holds (handshaking, open, closing or draining): each is in the
    /// map from its creation until s2n-quic frees it.
    pub fn live(&self) -> usize {
        self.map.lock().expect("registry").len()
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
