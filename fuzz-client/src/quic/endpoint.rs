//! The one s2n-quic client endpoint all connections share, and the providers that make each
//! connection's original destination connection ID (ODCID) the CID of its place in the chain.
//!
//! s2n-quic 1.91 has no API to choose a client's ODCID. It fills 8 bytes from the endpoint's
//! random generator while creating a client connection, just after asking the connection-ID
//! provider `rotate_handshake_connection_id()`. So:
//! - [`CidFormat`] wraps the default connection-ID format and *arms* [`OdcidControl`] in that call;
//! - [`CidRandom`]'s next 8-byte public fill while armed pops the wanted CID from a queue;
//! - [`ClientEndpoint::connect`] holds an async mutex across "queue the CID" and "poll the
//!   connect future once" (which hands the request to the endpoint, FIFO), so the queue and the
//!   endpoint's requests stay in the same order;
//! - `Subscriber::create_connection_context` runs right after the fill with the connection's
//!   application context (its [`ConnShared`]): it compares the CID filled with the CID intended
//!   and records a mismatch, which the campaign treats as a fatal bug (exit 1). The server's
//!   `original_destination_connection_id` transport parameter is checked again later.
//!
//! The same synchronous window serves TLS resumption: `new_client_session` loads the TLS config
//! right after `create_connection_context`, so [`TlsLoader`] knows which connection it serves,
//! and hands a priming connection, or one that offers its priming connection's ticket, a config
//! bound to it ([`BoundConfigs`]).

use crate::quic::answer::AnswerRules;
use crate::quic::conn_state::{ConnShared, Session};
use crate::quic::flight::Flight;
use crate::quic::interceptor::{FuzzInterceptor, Registry};
use crate::quic::patience::ServerSpeed;
use fuzz_shared::application::Application;
use fuzz_shared::{Cid, ClientKnobs};
use s2n_quic::client::{Connect, ConnectionAttempt};
use s2n_quic::provider::connection_id::{self, ConnectionInfo, LocalId};
use s2n_quic::provider::event::{events, ConnectionInfo as EventConnectionInfo, ConnectionMeta};
use s2n_quic::provider::tls::s2n_tls::{self as tls, callbacks, config, connection::Connection as TlsConnection};
use s2n_quic::Client;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;
use std::time::Duration;

/// Shared between the connection-ID provider, the random provider and the subscriber.
#[derive(Default)]
pub struct OdcidControl {
    /// Set by `rotate_handshake_connection_id`, which s2n-quic's client calls once per new
    /// connection just before it fills the ODCID.
    armed: AtomicBool,
    /// The CIDs of connections handed to the endpoint whose ODCID is not filled yet, in order.
    queue: Mutex<VecDeque<Cid>>,
    /// The ODCID filled last (None: the fill found the queue empty).
    last_filled: Mutex<Option<Option<Cid>>>,
    /// ODCIDs that were not the intended CID: a bug, fatal to the campaign.
    pub mismatches: AtomicU64,
}

/// The default connection-ID format, plus arming [`OdcidControl`].
pub struct CidFormat {
    inner: connection_id::default::Format,
    control: Arc<OdcidControl>,
}

impl connection_id::Generator for CidFormat {
    fn generate(&mut self, info: &ConnectionInfo) -> LocalId {
        self.inner.generate(info)
    }

    fn lifetime(&self) -> Option<Duration> {
        self.inner.lifetime()
    }

    fn rotate_handshake_connection_id(&self) -> bool {
        self.control.armed.store(true, Ordering::SeqCst);
        self.inner.rotate_handshake_connection_id()
    }
}

impl connection_id::Validator for CidFormat {
    fn validate(&self, info: &ConnectionInfo, buffer: &[u8]) -> Option<usize> {
        self.inner.validate(info, buffer)
    }
}

/// The default random generator, except for the armed ODCID fill.
pub struct CidRandom {
    inner: <s2n_quic::provider::random::Default as s2n_quic::provider::random::Provider>::Generator,
    control: Arc<OdcidControl>,
}

impl s2n_quic::provider::random::Generator for CidRandom {
    fn public_random_fill(&mut self, dest: &mut [u8]) {
        // RFC 9000 §7.2: "the client populates the Destination Connection ID field with an
        // unpredictable value". Ours is unpredictable to the server, and a function of the chain.
        if dest.len() == fuzz_shared::cid::CLIENT_LEN && self.control.armed.swap(false, Ordering::SeqCst) {
            let wanted = self.control.queue.lock().expect("odcid queue").pop_front();
            match wanted {
                Some(cid) => dest.copy_from_slice(cid.as_bytes()),
                None => self.inner.public_random_fill(dest),
            }
            *self.control.last_filled.lock().expect("odcid last") = Some(wanted);
            return;
        }
        self.inner.public_random_fill(dest)
    }

    fn private_random_fill(&mut self, dest: &mut [u8]) {
        self.inner.private_random_fill(dest)
    }
}

/// The connection-ID and random providers, as s2n-quic's builder wants them.
struct CidRandomProvider(CidRandom);

impl s2n_quic::provider::random::Provider for CidRandomProvider {
    type Generator = CidRandom;
    type Error = std::convert::Infallible;
    fn start(self) -> Result<CidRandom, Self::Error> {
        Ok(self.0)
    }
}

struct CidFormatProvider(CidFormat);

impl connection_id::Provider for CidFormatProvider {
    type Format = CidFormat;
    type Error = std::convert::Infallible;
    fn start(self) -> Result<CidFormat, Self::Error> {
        Ok(self.0)
    }
}

/// The connection being created, between `create_connection_context` and the TLS config load.
#[derive(Default)]
struct Creating {
    current: Mutex<Option<Arc<ConnShared>>>,
}

/// Counts the session tickets received (for the summary); priming connections keep theirs.
#[derive(Default)]
pub struct Tickets {
    pub received: AtomicU64,
}

/// Keeps the session tickets of priming connections (RFC 8446 §4.6.1 NewSessionTicket). s2n-tls
/// hands a ticket to the config's callback with the TLS connection it arrived on; a connection
/// bound by [`BoundConfigs`] carries its [`ConnShared`] as the TLS connection's application
/// context, which says whose ticket it is.
struct TicketCallback(Arc<Tickets>);

impl callbacks::SessionTicketCallback for TicketCallback {
    fn on_session_ticket(&self, connection: &mut TlsConnection, ticket: &callbacks::SessionTicket) {
        self.0.received.fetch_add(1, Ordering::Relaxed);
        let Some(conn) = connection.application_context::<Arc<ConnShared>>() else { return };
        if !matches!(conn.session, Session::Prime { .. }) {
            return;
        }
        let Ok(len) = ticket.len() else { return };
        let mut data = vec![0; len];
        if ticket.data(&mut data).is_ok() {
            conn.stats.lock().expect("stats").ticket = Some(Arc::new(data));
            conn.ticket_arrived.notify_one();
        }
    }
}

/// Which connection a bound TLS config serves until its TLS connection initializes.
type Holder = Arc<Mutex<Option<Weak<ConnShared>>>>;

/// Binds a TLS connection to its [`ConnShared`] when s2n-tls initializes it, and offers the
/// connection's ticket (`set_session_ticket` must come before the ClientHello, which it does:
/// s2n-tls initializes a connection at its first handshake step).
struct BindConnection(Holder);

impl config::ConnectionInitializer for BindConnection {
    fn initialize_connection(
        &self,
        connection: &mut TlsConnection,
    ) -> Result<Option<std::pin::Pin<Box<dyn tls::callbacks::ConnectionFuture>>>, tls::error::Error> {
        let Some(conn) = self.0.lock().expect("holder").take().and_then(|w| w.upgrade()) else { return Ok(None) };
        if let Session::Offer(ticket) = &conn.session {
            connection.set_session_ticket(ticket)?;
        }
        connection.set_application_context(conn);
        Ok(None)
    }
}

/// TLS configs for the connections that take part in resumption, each serving one connection at
/// a time.
///
/// s2n-quic asks the TLS provider for a config when it creates a connection, but s2n-tls runs
/// the config's connection initializer only at the connection's first handshake step, later,
/// after other connections may have been created: so the initializer cannot ask "which connection
/// is being created". Each bound config has a holder instead, filled with its connection when it
/// is handed out and emptied by the initializer; a config is handed out again only once its
/// holder is empty (or its connection is gone without ever starting its handshake). Connections
/// in that window are few, so the pool stays small; building a config costs about a millisecond.
struct BoundConfigs {
    slots: Vec<(config::Config, Holder)>,
    alpn: String,
    ca: Option<Vec<u8>>,
    tickets: Arc<Tickets>,
}

impl BoundConfigs {
    fn config_for(&mut self, conn: &Arc<ConnShared>) -> Result<config::Config, tls::error::Error> {
        let free = |h: &Holder| h.lock().expect("holder").as_ref().is_none_or(|w| w.strong_count() == 0);
        let slot = match self.slots.iter().position(|(_, h)| free(h)) {
            Some(i) => i,
            None => {
                let holder = Holder::default();
                let bound = BindConnection(holder.clone());
                let config = tls_config(&self.alpn, self.ca.as_deref(), &self.tickets, Some(bound))?;
                self.slots.push((config, holder));
                self.slots.len() - 1
            }
        };
        let (config, holder) = &self.slots[slot];
        *holder.lock().expect("holder") = Some(Arc::downgrade(conn));
        Ok(config.clone())
    }
}

/// Hands each connection its TLS config: the shared plain one, or a bound one for connections
/// that prime or offer a session ticket.
struct TlsLoader {
    plain: config::Config,
    bound: BoundConfigs,
    creating: Arc<Creating>,
}

impl tls::ConfigLoader for TlsLoader {
    fn load(&mut self, _cx: tls::ConnectionContext) -> config::Config {
        let conn = self.creating.current.lock().expect("creating").take();
        match conn {
            Some(conn) if !matches!(conn.session, Session::Fresh) => match self.bound.config_for(&conn) {
                Ok(config) => config,
                Err(e) => {
                    // Resumption is then not attempted; the connection itself goes on.
                    tracing::error!("{}: cannot build a TLS config for resumption: {e}", conn.cid);
                    self.plain.clone()
                }
            },
            _ => self.plain.clone(),
        }
    }
}

fn tls_config(
    alpn: &str,
    ca: Option<&[u8]>,
    tickets: &Arc<Tickets>,
    bind: Option<BindConnection>,
) -> Result<config::Config, tls::error::Error> {
    let mut b = config::Builder::new();
    // The only trust store is `--ca`, or none: the system's would cost ~7 ms per config.
    b.with_system_certs(false)?;
    b.enable_quic()?;
    b.set_security_policy(&tls::security::DEFAULT_TLS13)?;
    b.set_application_protocol_preference([alpn.as_bytes()])?;
    b.enable_session_tickets(true)?;
    b.set_session_ticket_callback(TicketCallback(tickets.clone()))?;
    match ca {
        Some(pem) => {
            b.trust_pem(pem)?;
        }
        None => {
            // SAFETY (of the purpose, not memory): fuzzing lab servers with self-signed
            // certificates is the point; `--ca` turns verification back on.
            unsafe { b.disable_x509_verification()? };
        }
    }
    if let Some(bind) = bind {
        b.set_connection_initializer(bind)?;
    }
    fuzz_s2n_glue::keylog::install(&mut b)?;
    b.build()
}

/// Per-connection event context: holds the connection's state for the interceptor's registry
/// and removes it when s2n-quic drops the connection, so memory stays flat.
pub struct EventContext {
    pub conn: Option<Arc<ConnShared>>,
    id: u64,
    registry: Arc<Registry>,
}

impl Drop for EventContext {
    fn drop(&mut self) {
        if self.conn.is_some() {
            self.registry.remove(self.id);
        }
    }
}

pub struct Subscriber {
    control: Arc<OdcidControl>,
    registry: Arc<Registry>,
    creating: Arc<Creating>,
    /// The server's max_idle_timeout transport parameter last seen, in ms (0: none yet, or the
    /// server has none: RFC 9000 §18.2 "Idle timeout is disabled when ... the value is 0").
    server_idle_ms: Arc<AtomicU64>,
}

impl s2n_quic::provider::event::Subscriber for Subscriber {
    type ConnectionContext = EventContext;

    fn create_connection_context(&mut self, meta: &ConnectionMeta, info: &EventConnectionInfo) -> EventContext {
        let filled = self.control.last_filled.lock().expect("odcid last").take();
        let conn = info.application.and_then(|a| a.downcast_ref::<Arc<ConnShared>>()).cloned();
        let Some(conn) = conn else {
            // Every connection this client makes carries its ConnShared: none is a bug.
            self.control.mismatches.fetch_add(1, Ordering::SeqCst);
            tracing::error!("BUG: connection {} created without the fuzzer's context", meta.id);
            return EventContext { conn: None, id: meta.id, registry: self.registry.clone() };
        };
        let filled = filled.flatten();
        if filled != Some(conn.cid) {
            self.control.mismatches.fetch_add(1, Ordering::SeqCst);
            let got = filled.map_or("a random value".to_string(), |c| c.to_hex());
            conn.stats.lock().expect("stats").odcid_error =
                Some(format!("ODCID is {got}, not the intended CID {}", conn.cid));
        }
        self.registry.insert(meta.id, conn.clone());
        *self.creating.current.lock().expect("creating") = Some(conn.clone());
        EventContext { conn: Some(conn), id: meta.id, registry: self.registry.clone() }
    }

    fn on_handshake_status_updated(
        &mut self,
        context: &mut EventContext,
        _meta: &ConnectionMeta,
        event: &events::HandshakeStatusUpdated,
    ) {
        // RFC 9001 §4.1.2: a client's handshake is confirmed when it receives HANDSHAKE_DONE.
        if let (Some(conn), events::HandshakeStatus::Confirmed { .. }) = (&context.conn, &event.status) {
            conn.handshake_settled.notify_one();
        }
    }

    fn on_frame_sent(&mut self, context: &mut EventContext, _meta: &ConnectionMeta, event: &events::FrameSent) {
        // A probe's handshake CID rotation (RFC 9000 §5.1.2), for the hint when clean traffic
        // kills the server (`ConnStats::silent_after_retiring`). Chain connections skip it: a
        // lock per frame sent is not free.
        let Some(conn) = context.conn.as_ref().filter(|c| c.seq == fuzz_shared::chain::OFF_CHAIN_SEQ) else {
            return;
        };
        if let events::Frame::NewConnectionId { sequence_number, retire_prior_to, .. } = &event.frame {
            if *retire_prior_to > 0 {
                let mut stats = conn.stats.lock().expect("stats");
                if stats.retiring.is_none() {
                    stats.retiring = Some((*sequence_number, *retire_prior_to, std::time::Instant::now()));
                }
            }
        }
    }

    fn on_connection_closed(
        &mut self,
        context: &mut EventContext,
        _meta: &ConnectionMeta,
        _event: &events::ConnectionClosed,
    ) {
        if let Some(conn) = &context.conn {
            conn.handshake_settled.notify_one();
        }
    }

    fn on_transport_parameters_received(
        &mut self,
        context: &mut EventContext,
        _meta: &ConnectionMeta,
        event: &events::TransportParametersReceived,
    ) {
        let idle = event.transport_parameters.max_idle_timeout;
        self.server_idle_ms.store(idle.as_millis().min(u64::MAX as u128) as u64, Ordering::Relaxed);
        // RFC 9000 §7.3: the server echoes the client's ODCID in its transport parameters.
        let Some(conn) = &context.conn else { return };
        if let Some(odcid) = &event.transport_parameters.original_destination_connection_id {
            if odcid.bytes != conn.cid.as_bytes() {
                self.control.mismatches.fetch_add(1, Ordering::SeqCst);
                let hex: String = odcid.bytes.iter().map(|b| format!("{b:02x}")).collect();
                conn.stats.lock().expect("stats").odcid_error =
                    Some(format!("the server saw ODCID {hex}, not the intended CID {}", conn.cid));
            }
        }
    }
}

/// What [`ClientEndpoint::connect`] returns: the pending attempt, or an immediate error.
pub enum Attempt {
    Pending(ConnectionAttempt),
    Failed(s2n_quic::connection::Error),
}

/// The shared client endpoint.
pub struct ClientEndpoint {
    client: Client,
    control: Arc<OdcidControl>,
    gate: tokio::sync::Mutex<()>,
    server: SocketAddr,
    server_name: String,
    pub tickets: Arc<Tickets>,
    /// The server's speed, learnt from the connections through this endpoint, for
    /// [`Self::silence_limit`].
    speed: std::sync::Mutex<ServerSpeed>,
    registry: Arc<Registry>,
    server_idle_ms: Arc<AtomicU64>,
    answers: AnswerRules,
}

/// The smallest MTU QUIC allows: 1200-byte UDP payloads (RFC 9000 §14) plus the IP and UDP
/// headers; a maximum equal to the base disables path MTU discovery.
fn min_mtu(ipv6: bool) -> u16 {
    1200 + 8 + if ipv6 { 40 } else { 20 }
}

/// Transport settings for a fuzzer: short idle timeouts (the minimum of both ends' values
/// applies, RFC 9000 §10.1, so the server also frees silent connections quickly).
pub struct EndpointSettings<'a> {
    pub server: SocketAddr,
    pub server_name: &'a str,
    pub alpn: &'a str,
    pub ca: Option<&'a [u8]>,
    pub transport_idle: Duration,
    pub handshake_cap: Duration,
    /// The RTT assumed before the first sample (RFC 9002 §6.2.2: 333 ms by default); a lab
    /// fuzzer wants a short one, so that a dropped (fuzzed) Initial is retransmitted soon.
    pub initial_rtt: Duration,
    /// `/N` must get exactly N bytes (module `answer`).
    pub expect_sizes: bool,
    /// What the stack does by default on every connection (module [`fuzz_shared::knobs`]).
    pub knobs: ClientKnobs,
}

impl ClientEndpoint {
    pub fn start(s: &EndpointSettings) -> anyhow::Result<Arc<Self>> {
        let control = Arc::new(OdcidControl::default());
        let registry = Arc::new(Registry::default());
        let creating = Arc::new(Creating::default());
        let server_idle_ms = Arc::new(AtomicU64::new(0));
        let tickets = Arc::new(Tickets::default());
        let loader = TlsLoader {
            plain: tls_config(s.alpn, s.ca, &tickets, None)?,
            bound: BoundConfigs {
                slots: Vec::new(),
                alpn: s.alpn.to_string(),
                ca: s.ca.map(<[u8]>::to_vec),
                tickets: tickets.clone(),
            },
            creating: creating.clone(),
        };
        let tls = tls::Client::from_loader(loader);
        let limits = s2n_quic::provider::limits::Limits::new()
            .with_max_idle_timeout(s.transport_idle)?
            .with_max_handshake_duration(s.handshake_cap)?
            .with_initial_round_trip_time(s.initial_rtt)?;
        // The client knobs (module `fuzz_shared::knobs`). RFC 9000 §5.1.2: "An endpoint can
        // request that its peer retire connection IDs by sending a NEW_CONNECTION_ID frame with
        // an increased Retire Prior To field": s2n-quic's handshake CID rotation, on by default.
        let k = s.knobs;
        let inner = connection_id::default::Format::builder()
            .with_len(k.cid_len.into())
            .map_err(|e| anyhow::anyhow!("--client-cid-len {}: {e:?}", k.cid_len))?
            .with_handshake_connection_id_rotation(k.handshake_cid_rotation)?
            .build()?;
        let format = CidFormat { inner, control: control.clone() };
        let inner = s2n_quic::provider::random::Provider::start(s2n_quic::provider::random::Default::default())
            .map_err(|e| anyhow::anyhow!("random provider: {e}"))?;
        let random = CidRandom { inner, control: control.clone() };
        let bind: SocketAddr = if s.server.is_ipv6() { "[::]:0".parse()? } else { "0.0.0.0:0".parse()? };
        // No path MTU discovery (RFC 9000 §14.3) unless `--path-mtu-probing on`: its probe
        // packets take packet numbers at times that depend on timing, and would shift which
        // packets a plan mutates from run to run. On, s2n-quic's default maximum (1500) applies.
        let io = s2n_quic::provider::io::tokio::Builder::default().with_receive_address(bind)?;
        let io = if k.path_mtu_probing { io } else { io.with_max_mtu(min_mtu(s.server.is_ipv6()))? };
        let io = io.build()?;
        let client = Client::builder()
            .with_io(io)?
            .with_tls(tls)?
            .with_limits(limits)?
            .with_connection_id(CidFormatProvider(format))?
            .with_random(CidRandomProvider(random))?
            .with_event((
                Subscriber {
                    control: control.clone(),
                    registry: registry.clone(),
                    creating,
                    server_idle_ms: server_idle_ms.clone(),
                },
                super::qlog_files::subscriber(),
            ))?
            .with_packet_interceptor(FuzzInterceptor::new(registry.clone()))?
            .start()
            .map_err(|e| anyhow::anyhow!("starting the s2n-quic client endpoint: {e}"))?;
        Ok(Arc::new(Self {
            client,
            control,
            gate: tokio::sync::Mutex::new(()),
            server: s.server,
            server_name: s.server_name.to_string(),
            tickets,
            speed: Default::default(),
            registry,
            server_idle_ms,
            answers: AnswerRules { protocol: Application::of_alpn(s.alpn.as_bytes()), expect_sizes: s.expect_sizes },
        }))
    }

    /// Starts a connection whose ODCID is `conn.cid`.
    pub async fn connect(&self, conn: Arc<ConnShared>) -> Attempt {
        let cid = conn.cid;
        // Held across "queue the CID" and the first poll, which hands the request to the
        // endpoint: requests reach it in the order of the queue.
        let _gate = self.gate.lock().await;
        self.control.queue.lock().expect("odcid queue").push_back(cid);
        let connect = Connect::new(self.server).with_server_name(self.server_name.as_str());
        let mut attempt = self.client.connect(connect);
        attempt.set_application_context(Box::new(conn));
        match futures::poll!(&mut attempt) {
            Poll::Pending => Attempt::Pending(attempt),
            Poll::Ready(result) => {
                // Completed at once: the request may never have reached the endpoint, so its CID
                // must not stay queued for the next connection.
                let mut queue = self.control.queue.lock().expect("odcid queue");
                if queue.back() == Some(&cid) {
                    queue.pop_back();
                }
                match result {
                    Ok(c) => {
                        c.close(0u32.into());
                        Attempt::Failed(s2n_quic::connection::Error::unspecified())
                    }
                    Err(e) => Attempt::Failed(e),
                }
            }
        }
    }

    /// Which protocol the requests speak, and how their answers are checked.
    pub fn answer_rules(&self) -> AnswerRules {
        self.answers
    }

    /// The TLS server name, which HTTP/3 requests also carry as `:authority`.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// Records how long a completed handshake took, from the start of its connection.
    pub fn on_handshake(&self, took: Duration) {
        self.speed.lock().expect("speed").handshakes.on_sample(took);
    }

    /// Records a completed connection's longest wait between two packets from the server.
    pub fn on_completed(&self, longest_silence: Duration) {
        self.speed.lock().expect("speed").silences.on_sample(longest_silence);
    }

    /// The 90th percentile of the recently completed connections' longest silences (module
    /// `patience`), once one completed.
    pub fn recent_silence(&self) -> Option<Duration> {
        self.speed.lock().expect("speed").silences.high()
    }

    /// How long a connection that mutated something may stay silent before it is abandoned,
    /// in its handshake or after it (module `patience`).
    pub fn silence_limit(&self, idle: Duration, handshake_done: bool) -> Duration {
        let speed = self.speed.lock().expect("speed");
        if handshake_done {
            speed.answer_silence(idle)
        } else {
            speed.handshake_silence(idle)
        }
    }

    /// The server's idle timeout as its transport parameters announced it (RFC 9000 §10.1), once
    /// a handshake got that far; `None` before, or when the server announced none.
    pub fn server_idle_timeout(&self) -> Option<Duration> {
        let ms = self.server_idle_ms.load(Ordering::Relaxed);
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    /// Mutes the connections the endpoint still holds, whatever became of their tasks (an attempt
    /// given up on may go on sending its Initials until its handshake times out): what they send from now on leaves as
    /// datagrams every server discards (module `crate::quic::interceptor`). Returns how many.
    pub fn mute_live_connections(&self) -> usize {
        self.registry.mute_all()
    }

    /// The flight recorder's connections (the last ones that ended and those in flight), copied,
    /// and how many received datagrams it could attribute to none.
    pub fn flights(&self) -> (Vec<Flight<Arc<ConnShared>>>, u64) {
        let mut flights = self.registry.flights.lock().expect("flights");
        (flights.snapshot(), flights.unattributed)
    }

    /// How many connections got an ODCID other than the intended one (must stay 0).
    pub fn odcid_mismatches(&self) -> u64 {
        self.control.mismatches.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(hex: &str) -> Arc<ConnShared> {
        ConnShared::for_test(hex)
    }

    /// A bound config serves one connection until s2n-tls initializes it (or it is gone).
    #[test]
    fn bound_configs_serve_one_connection_at_a_time() {
        let tickets = Arc::new(Tickets::default());
        let mut bound = BoundConfigs { slots: Vec::new(), alpn: "hq-interop".into(), ca: None, tickets };
        let (a, b) = (conn("0000000000000001"), conn("0000000000000002"));
        bound.config_for(&a).unwrap();
        bound.config_for(&b).unwrap();
        assert_eq!(bound.slots.len(), 2, "a's config still waits for its connection to initialize");
        let held = |bound: &BoundConfigs, i: usize| bound.slots[i].1.lock().unwrap().as_ref().and_then(Weak::upgrade);
        assert!(Arc::ptr_eq(&held(&bound, 0).unwrap(), &a));
        assert!(Arc::ptr_eq(&held(&bound, 1).unwrap(), &b));
        // s2n-tls initialized a's connection: its config is free again.
        bound.slots[0].1.lock().unwrap().take();
        let c = conn("0000000000000003");
        bound.config_for(&c).unwrap();
        assert_eq!(bound.slots.len(), 2);
        assert!(Arc::ptr_eq(&held(&bound, 0).unwrap(), &c));
        // b never started its handshake and is gone: its config is free too.
        drop(b);
        bound.config_for(&conn("0000000000000004")).unwrap();
        assert_eq!(bound.slots.len(), 2);
    }
}
