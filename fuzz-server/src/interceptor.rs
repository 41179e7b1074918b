//! The packet interceptor: learns each connection's client-chosen CID from its first Initial,
//! mutates the server's own packets as the connection's plan says, and hosts the receive-side
//! planted faults (`intercept_rx_payload` sees each received packet's cleartext frames before
//! s2n-quic processes them; see `planted`).
//!
//! Learning the CID: `intercept_rx_datagram` (subject `Endpoint`) sees every datagram before
//! s2n-quic decodes it. When it holds a v1 Initial, its Destination Connection ID is the one the
//! client chose (RFC 9000 §7.2), and if s2n-quic creates a connection from that datagram it does
//! so synchronously, right after, in `create_connection_context` (see `registry`). So "the last
//! Initial parsed" is exactly the connection's CID. The DCID of every other datagram is ignored.
//!
//! Mutating: `intercept_tx_payload` (subject `Connection { id }`) gets the cleartext frames of each
//! packet before protection, in a buffer that may grow to its capacity, and hands them to the
//! connection's [`fuzz_shared::ConnectionFuzzer`] (role server, via [`fuzz_s2n_glue`]), which
//! mutates what the plan says, with decisions keyed by what each packet carries, and keeps them
//! for the connection's `mutation_digest`.

use crate::planted::Faults;
use crate::registry::Shared;
use fuzz_s2n_glue::{std_addr, PayloadMutator};
use fuzz_shared::{Cid, Mode};
use s2n_codec::DecoderBufferMut;
use s2n_quic::provider::packet_interceptor::PacketInterceptor;
use s2n_quic_core::event::api::Subject;
use s2n_quic_core::packet::interceptor::{Datagram, Packet};

pub struct FuzzInterceptor {
    shared: Shared,
    mode: Mode,
    faults: Faults,
    payloads: PayloadMutator,
}

impl FuzzInterceptor {
    pub fn new(shared: Shared, mode: Mode, faults: Faults) -> Self {
        Self { shared, mode, faults, payloads: PayloadMutator::new() }
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
        subject: &Subject,
        packet: &Packet,
        payload: DecoderBufferMut<'a>,
    ) -> DecoderBufferMut<'a> {
        if !self.faults.inspects_received() {
            return payload;
        }
        let slice = payload.into_less_safe_slice();
        self.faults.check_received(slice);
        if let Subject::Connection { id, .. } = subject {
            self.faults.count_received(*id, slice);
        }
        if self.faults.abort_on_bad_key_share && packet.number.space().is_initial() {
            if let Subject::Connection { id, .. } = subject {
                let hello = {
                    let mut reg = self.shared.lock();
                    let hello = reg.conns.get_mut(id).and_then(|c| Some((c.initial_crypto.add(slice)?, c.cid)));
                    if let Some((hello, _)) = &hello {
                        reg.stats.client_hellos_checked += 1;
                        reg.stats.largest_client_hello = reg.stats.largest_client_hello.max(hello.len());
                    }
                    hello
                };
                if let Some((hello, cid)) = hello {
                    self.faults.check_client_hello(&hello, cid);
                }
            }
        }
        DecoderBufferMut::new(slice)
    }

    fn intercept_tx_payload(
        &mut self,
        subject: &Subject,
        packet: &Packet,
        payload: &mut s2n_codec::encoder::scatter::Buffer,
    ) {
        // Before the registry: a closing connection has left it by the time its close is sent.
        if !self.faults.close_code.is_empty() {
            self.faults.misreport_close(payload.flatten().as_mut_slice());
        }
        let Subject::Connection { id, .. } = subject else { return };
        let mut reg = self.shared.lock();
        let Some(conn) = reg.conns.get_mut(id) else { return };
        conn.sent_packets += 1;
        if self.mode != Mode::Fuzz {
            return;
        }
        let tx = self.payloads.on_tx_payload(conn.fuzzer.as_mut(), packet.number.space(), payload);
        if tx.mutated {
            conn.fuzzed_packets += 1;
        }
        if tx.fell_back {
            eprintln!("fuzz-server: the mutation engine misbehaved on a {} packet; sent unmutated", tx.space.as_str());
            reg.stats.engine_fallbacks += 1;
        }
    }
}
