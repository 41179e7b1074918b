//! The connection registry: what the server knows about each of its connections, shared by the
//! event subscriber (which sees connections open and close) and the packet interceptor (which
//! learns their CIDs and mutates their packets), and the run log they write.
//!
//! Both run on s2n-quic's endpoint task, one call at a time, so the mutex is never contended; it
//! is there because the two are separate providers and the shutdown path reads the registry too.
//! Entries are removed when their connection closes, so memory follows the number of open
//! connections, not the length of the run.

use crate::planted::Faults;
use fuzz_shared::application::Application;
use fuzz_shared::mutate;
use fuzz_shared::{Cid, ConnectionFuzzer, Event, LogWriter, Outcome, Role};
use s2n_quic::provider::event::{events, ConnectionInfo, ConnectionMeta, Location, Subscriber};
use s2n_quic_core::connection;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// One open connection.
pub struct Conn {
    pub seq: u64,
    /// The client's original Destination Connection ID; `None` only if the Initial that created
    /// the connection could not be parsed (which s2n-quic would not have accepted either).
    pub cid: Option<Cid>,
    /// Decides and records the server's mutations of this connection's packets (`None` without
    /// a CID).
    pub fuzzer: Option<ConnectionFuzzer>,
    /// Where the connection's first Initial came from, cross-checked when the connection starts.
    pub remote: Option<SocketAddr>,
    pub started: Instant,
    pub fuzzed_packets: u64,
    pub sent_packets: u64,
    pub handshake_complete: bool,
    /// The Initial crypto stream so far, for the `abort-on-bad-key-share` planted fault (empty,
    /// and allocating nothing, without it).
    pub initial_crypto: fuzz_s2n_glue::crypto_stream::FirstMessage,
}

/// Totals for `run_end` and the summary on stderr.
#[derive(Default)]
pub struct Stats {
    pub connections: u64,
    pub fuzzed_connections: u64,
    pub outcomes: BTreeMap<Outcome, u64>,
    pub sent_packets: u64,
    pub fuzzed_packets: u64,
    pub peak_open: usize,
    /// Connections whose creating Initial could not be parsed: no CID, no log lines.
    pub unidentified: u64,
    /// Connections whose first path's address differed from the parsed Initial's.
    pub address_mismatches: u64,
    /// Packets the mutation engine returned an impossible length for (kept unmutated).
    pub engine_fallbacks: u64,
    /// Whole ClientHellos the `abort-on-bad-key-share` fault checked, and the longest (bytes).
    pub client_hellos_checked: u64,
    pub largest_client_hello: usize,
}

pub struct Registry {
    pub conns: HashMap<u64, Conn>,
    /// The CID (and sender) of the last Initial packet received, set by the interceptor just
    /// before s2n-quic decodes the datagram; taken by the connection created from it.
    pub pending_initial: Option<(Cid, Option<SocketAddr>)>,
    pub stats: Stats,
    next_seq: u64,
    log: Option<LogWriter<File>>,
    log_error_reported: bool,
    faults: Faults,
    /// Set once `run_end` is written: nothing is logged after it.
    finished: bool,
}

/// The registry, shared.
#[derive(Clone)]
pub struct Shared(Arc<Mutex<Registry>>);

impl Shared {
    pub fn new(log: Option<LogWriter<File>>, faults: Faults) -> Self {
        Shared(Arc::new(Mutex::new(Registry {
            conns: HashMap::new(),
            pending_initial: None,
            stats: Stats::default(),
            next_seq: 0,
            log,
            log_error_reported: false,
            faults,
            finished: false,
        })))
    }

    /// A panic elsewhere never makes the registry unusable: the data is plain counters and maps.
    pub fn lock(&self) -> MutexGuard<'_, Registry> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Registry {
    pub fn write(&mut self, event: Event) {
        if self.finished {
            return;
        }
        if let Some(log) = self.log.as_mut() {
            if let Err(e) = log.write(event) {
                if !self.log_error_reported {
                    eprintln!("fuzz-server: cannot write the run log: {e}");
                    self.log_error_reported = true;
                }
            }
        }
    }

    /// A connection was created from the Initial parsed last.
    fn open(&mut self, id: u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.stats.connections += 1;
        self.faults.leak_for_connection();
        let (cid, remote) = match self.pending_initial.take() {
            Some((cid, remote)) => (Some(cid), remote),
            None => {
                self.stats.unidentified += 1;
                (None, None)
            }
        };
        // Its plan is drawn now, before the handshake says what the connection speaks
        // (`on_application_protocol_information` tells the fuzzer).
        let fuzzer = cid.map(|cid| ConnectionFuzzer::new(&cid, Role::Server, Application::HqInterop));
        if let (Some(cid), Some(fuzzer)) = (cid, &fuzzer) {
            self.write(Event::CidStart { seq, cid, plan: fuzzer.plan().clone() });
        }
        self.conns.insert(
            id,
            Conn {
                seq,
                cid,
                fuzzer,
                remote,
                started: Instant::now(),
                fuzzed_packets: 0,
                sent_packets: 0,
                handshake_complete: false,
                initial_crypto: Default::default(),
            },
        );
        self.stats.peak_open = self.stats.peak_open.max(self.conns.len());
    }

    /// A connection closed: log its end and forget it.
    fn close(&mut self, id: u64, outcome: Outcome, error_code: Option<u64>, detail: Option<String>) {
        let Some(conn) = self.conns.remove(&id) else { return };
        *self.stats.outcomes.entry(outcome).or_default() += 1;
        self.stats.sent_packets += conn.sent_packets;
        self.stats.fuzzed_packets += conn.fuzzed_packets;
        if conn.fuzzed_packets > 0 {
            self.stats.fuzzed_connections += 1;
        }
        if let Some(cid) = conn.cid {
            self.write(Event::CidEnd {
                seq: conn.seq,
                cid,
                outcome,
                error_code,
                fuzzed_packets: conn.fuzzed_packets,
                sent_packets: Some(conn.sent_packets),
                mutation_digest: conn.fuzzer.as_ref().map_or_else(|| mutate::digest(&[]), ConnectionFuzzer::digest),
                duration_ms: conn.started.elapsed().as_millis() as u64,
                operators: conn.fuzzer.as_ref().map_or_else(Vec::new, ConnectionFuzzer::operator_families),
                mutated: conn.fuzzer.as_ref().map(ConnectionFuzzer::mutated).unwrap_or_default(),
                detail,
                resumption: None,
                // The rules judge a server's reactions to a client's decisions.
                verdict: None,
            });
        }
    }

    /// At shutdown: end every connection still open, then write `run_end`. Nothing is logged
    /// after this.
    pub fn finish(&mut self, started: Instant) {
        let mut open: Vec<(u64, u64)> = self.conns.iter().map(|(id, c)| (c.seq, *id)).collect();
        open.sort_unstable();
        for (_, id) in open {
            self.close(id, Outcome::LocalClosed, None, Some("the server shut down with the connection open".into()));
        }
        let elapsed_s = started.elapsed().as_secs_f64();
        self.write(Event::RunEnd {
            connections: self.stats.connections,
            fuzzed_connections: self.stats.fuzzed_connections,
            elapsed_s,
            conn_per_s: if elapsed_s > 0.0 { self.stats.connections as f64 / elapsed_s } else { 0.0 },
            server_up: true,
        });
        self.finished = true;
    }
}

/// How a connection ended, from the server's side, as the run log names it: the outcome, the
/// QUIC or application error code when there is one, and a reason for anything but `completed`.
///
/// A connection whose handshake never completed is `handshake_failed` whatever closed it. After
/// the handshake, a close without error (RFC 9000 §20.1 NO_ERROR, or an application close from
/// the client with code 0, hq-interop's convention, or H3_NO_ERROR, RFC 9114 §8.1) is `completed`; other closes are `peer_closed` or `local_closed` by
/// who sent them; the idle timer (RFC 9000 §10.1) is `timeout`.
pub fn classify(error: &connection::Error, handshake_complete: bool) -> (Outcome, Option<u64>, Option<String>) {
    use connection::Error as E;
    let by = |initiator: &Location| if initiator.is_remote() { Outcome::PeerClosed } else { Outcome::LocalClosed };
    let (outcome, code) = match error {
        E::Closed { .. } => (Outcome::Completed, None),
        E::Application { error, initiator, .. } => {
            let code = u64::from(*error);
            if (code == 0 || code == fuzz_shared::application::H3_NO_ERROR) && initiator.is_remote() {
                (Outcome::Completed, None)
            } else {
                (by(initiator), Some(code))
            }
        }
        E::Transport { code, initiator, .. } => (by(initiator), Some(code.as_u64())),
        E::StatelessReset { .. } => (Outcome::PeerClosed, None),
        E::IdleTimerExpired { .. } => (Outcome::Timeout, None),
        E::MaxHandshakeDurationExceeded { .. } => (Outcome::HandshakeFailed, None),
        _ => (Outcome::LocalClosed, None),
    };
    let outcome = if handshake_complete { outcome } else { Outcome::HandshakeFailed };
    let detail = (outcome != Outcome::Completed).then(|| error.to_string());
    (outcome, code, detail)
}

/// The event subscriber: registers connections as s2n-quic creates them (including those that
/// never reach `accept()`) and logs them when they close.
pub struct RegistrySubscriber {
    pub shared: Shared,
}

impl Subscriber for RegistrySubscriber {
    /// Everything about a connection lives in the shared registry, keyed by `meta.id`, because
    /// the packet interceptor needs it too and cannot see this context.
    type ConnectionContext = ();

    fn create_connection_context(&mut self, meta: &ConnectionMeta, _info: &ConnectionInfo) {
        self.shared.lock().open(meta.id);
    }

    fn on_connection_started(&mut self, _: &mut (), meta: &ConnectionMeta, event: &events::ConnectionStarted) {
        let remote = fuzz_s2n_glue::std_addr(&event.path.remote_addr);
        let mut reg = self.shared.lock();
        let mismatch = matches!(reg.conns.get(&meta.id), Some(Conn { remote: Some(r), .. }) if Some(*r) != remote);
        if mismatch {
            reg.stats.address_mismatches += 1;
        }
    }

    /// The ALPN is chosen when the ClientHello is read, before any 1-RTT packet leaves: from
    /// then on the fuzzer mutates the streams as what they carry (HTTP/3 on `h3`).
    fn on_application_protocol_information(
        &mut self,
        _: &mut (),
        meta: &ConnectionMeta,
        event: &events::ApplicationProtocolInformation,
    ) {
        let application = Application::of_alpn(event.chosen_application_protocol);
        if let Some(Conn { fuzzer: Some(fuzzer), .. }) = self.shared.lock().conns.get_mut(&meta.id) {
            fuzzer.set_application(application);
        }
    }

    fn on_handshake_status_updated(
        &mut self,
        _: &mut (),
        meta: &ConnectionMeta,
        event: &events::HandshakeStatusUpdated,
    ) {
        if let events::HandshakeStatus::Complete { .. } = event.status {
            if let Some(conn) = self.shared.lock().conns.get_mut(&meta.id) {
                conn.handshake_complete = true;
            }
        }
    }

    fn on_connection_closed(&mut self, _: &mut (), meta: &ConnectionMeta, event: &events::ConnectionClosed) {
        let mut reg = self.shared.lock();
        let handshake_complete = reg.conns.get(&meta.id).is_some_and(|c| c.handshake_complete);
        let (outcome, code, detail) = classify(&event.error, handshake_complete);
        reg.close(meta.id, outcome, code, detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s2n_quic::application;

    #[test]
    fn outcomes() {
        let remote = connection::Error::closed(Location::Remote);
        assert_eq!(classify(&remote, true), (Outcome::Completed, None, None));
        let (o, code, detail) = classify(&remote, false);
        assert_eq!((o, code), (Outcome::HandshakeFailed, None));
        assert!(detail.is_some());
        assert_eq!(classify(&connection::Error::idle_timer_expired(), true).0, Outcome::Timeout);
        assert_eq!(classify(&connection::Error::idle_timer_expired(), false).0, Outcome::HandshakeFailed);
        assert_eq!(classify(&connection::Error::stateless_reset(), true).0, Outcome::PeerClosed);
        // `application()` builds a local close.
        let local = connection::Error::application(application::Error::new(7).unwrap());
        assert_eq!(classify(&local, true).0, Outcome::LocalClosed);
        assert_eq!(classify(&local, true).1, Some(7));
        let transport: connection::Error = s2n_quic_core::transport::Error::PROTOCOL_VIOLATION.into();
        let (o, code, detail) = classify(&transport, true);
        assert_eq!((o, code), (Outcome::LocalClosed, Some(0x0a)));
        assert!(detail.unwrap().contains("PROTOCOL_VIOLATION"));
    }
}
