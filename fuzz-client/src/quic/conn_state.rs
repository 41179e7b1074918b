//! What one connection shares with the endpoint's providers: who it is (its place in the chain,
//! CID and plan), its part in session resumption, and the counters and decisions the interceptor
//! and the event subscriber update while it runs. Its own module, so that the endpoint (which
//! finds a connection's state from s2n-quic's callbacks) and the connection (which drives the
//! endpoint) both depend on it and not on each other.

use fuzz_s2n_glue::crypto_stream::FirstMessage;
use fuzz_shared::application::Application;
use fuzz_shared::{Cid, ConnectionFuzzer, ConnectionPlan, Mode, Role};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Counters and decisions of one connection, updated by the interceptor and the subscriber.
#[derive(Default, Debug)]
pub struct ConnStats {
    /// Packets sent, per fuzz state (indexed by `FuzzState as usize`).
    pub sent: [u64; 4],
    /// Packets mutated, per fuzz state (a retransmission of a mutated content counts again).
    pub fuzzed: [u64; 4],
    /// What decides and records the mutations; `None` for probes and clean runs.
    pub fuzzer: Option<ConnectionFuzzer>,
    /// Packets received from the server.
    pub received: u64,
    /// A packet carrying CONNECTION_CLOSE was sent.
    pub close_sent: bool,
    /// The session ticket a priming connection received (the latest, if several).
    pub ticket: Option<Arc<Vec<u8>>>,
    /// A connection that offers a ticket: its server's ServerHello, reassembled from the Initial
    /// packets received, until it is whole ([`fuzz_s2n_glue::crypto_stream::FirstMessage`]).
    pub server_hello: Option<FirstMessage>,
    /// Whether that ServerHello accepted the ticket ([`fuzz_shared::handshake::psk_accepted`]).
    pub psk_accepted: Option<bool>,
    /// Set when the ODCID was not the intended CID: a bug.
    pub odcid_error: Option<String>,
    /// How long the handshake took from the connection's start, once it completed.
    pub handshake: Option<Duration>,
    /// When the last packet from the server was received, and the longest wait between two of
    /// them: how long this server may be silent in an exchange that goes on (module `patience`).
    pub heard: Option<(Instant, Duration)>,
    /// The first NEW_CONNECTION_ID this connection sent with a Retire Prior To above 0 (RFC 9000
    /// §5.1.2; s2n-quic's handshake CID rotation): its sequence number, Retire Prior To and when.
    /// Recorded for connections off the chain (probes) only: a probe that died with nothing
    /// heard after it suggests `--handshake-cid-rotation off`.
    pub retiring: Option<(u64, u64, Instant)>,
}

impl ConnStats {
    /// The NEW_CONNECTION_ID with Retire Prior To > 0 (sequence number, Retire Prior To) after
    /// which nothing more was received from the server: what it got last before it fell silent.
    pub fn silent_after_retiring(&self) -> Option<(u64, u64)> {
        let (seq, rpt, at) = self.retiring?;
        self.heard.is_none_or(|(last, _)| last <= at).then_some((seq, rpt))
    }
}

/// A connection's part in session resumption (RFC 8446 §2.2), module [`crate::quic::resumption`].
#[derive(Debug, Clone, Default)]
pub enum Session {
    /// A full handshake; tickets the server sends are not kept.
    #[default]
    Fresh,
    /// A priming connection for the plan of chain connection `of`: keeps the tickets the server
    /// sends.
    Prime { of: u64 },
    /// Offers this ticket, from its priming connection.
    Offer(Arc<Vec<u8>>),
}

/// Whether a connection is fuzzed, and what it speaks: the fuzzer mutates STREAM data as HTTP/3
/// only on an HTTP/3 connection, and an HTTP/3 client's plan differs (module
/// [`fuzz_shared::mutate::h3`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fuzzing {
    pub mode: Mode,
    pub application: Application,
}

impl Fuzzing {
    /// A clean connection (probes, priming connections): what it speaks changes nothing.
    pub const CLEAN: Self = Self { mode: Mode::Clean, application: Application::HqInterop };
}

/// The contents a connection may mutate (`replay --only`, a minimization trial).
pub type ContentSet = Arc<std::collections::BTreeSet<fuzz_shared::content::ContentId>>;

/// Everything about one connection that the endpoint's providers need.
pub struct ConnShared {
    pub seq: u64,
    pub cid: Cid,
    pub plan: ConnectionPlan,
    pub session: Session,
    /// Signalled by the TLS ticket callback when a priming connection receives a ticket.
    pub ticket_arrived: Notify,
    pub stats: Mutex<ConnStats>,
    /// Signalled by the interceptor when a CONNECTION_CLOSE leaves.
    pub close_sent: Notify,
    /// Signalled by the event subscriber when the handshake is confirmed (HANDSHAKE_DONE) or
    /// the connection closes, whichever comes first.
    pub handshake_settled: Notify,
}

impl ConnShared {
    pub fn new(seq: u64, cid: Cid, plan: ConnectionPlan, mode: Fuzzing) -> Arc<Self> {
        Self::with_session(seq, cid, plan, mode, Session::Fresh)
    }

    /// Mutates only the contents in `only` ([`ConnectionFuzzer::restricted_to`]), when given;
    /// to be called before the connection starts.
    pub fn restrict(&self, only: Option<&ContentSet>) {
        let Some(only) = only else { return };
        let mut stats = self.stats.lock().expect("stats");
        stats.fuzzer = stats.fuzzer.take().map(|f| f.restricted_to(only.clone()));
    }

    /// A clean client connection of `hex` without a session, for the tests of its users.
    #[cfg(test)]
    pub fn for_test(hex: &str) -> Arc<Self> {
        let cid: Cid = hex.parse().expect("a CID in hex");
        let plan = ConnectionPlan::from_cid(&cid, Role::Client);
        Self::with_session(0, cid, plan, Fuzzing::CLEAN, Session::Prime { of: 0 })
    }

    pub fn with_session(seq: u64, cid: Cid, plan: ConnectionPlan, fuzzing: Fuzzing, session: Session) -> Arc<Self> {
        let offers = matches!(session, Session::Offer(_));
        let fuzzer = (fuzzing.mode == Mode::Fuzz)
            .then(|| ConnectionFuzzer::child(&cid, Role::Client, fuzzing.application, &plan.lineage));
        Arc::new(Self {
            seq,
            cid,
            plan,
            session,
            ticket_arrived: Notify::new(),
            stats: Mutex::new(ConnStats {
                fuzzer,
                server_hello: offers.then(FirstMessage::default),
                ..ConnStats::default()
            }),
            close_sent: Notify::new(),
            handshake_settled: Notify::new(),
        })
    }
}
