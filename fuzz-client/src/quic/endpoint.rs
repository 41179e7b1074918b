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
//! - [`Subscriber::create_connection_context`] runs right after the fill with the connection's
//!   application context (its [`ConnShared`]): it compares the CID filled with the CID intended
//!   and records a mismatch, which the campaign treats as a fatal bug (exit 1). The server's
//!   `original_destination_connection_id` transport parameter is checked again later.
//!
//! The same synchronous window serves TLS resumption: `new_client_session` loads the TLS config
//! right after `create_connection_context`, so [`TlsLoader`] knows which connection it serves
//! and hands a config that offers the latest session ticket when that connection's plan says
//! `resume_session`.

use crate::quic::connection::ConnShared;
use crate::quic::flight::Flight;
use crate::quic::interceptor::{FuzzInterceptor, Registry};
use crate::quic::patience::HandshakeTimes;
use fuzz_shared::Cid;
use s2n_quic::client::{Connect, ConnectionAttempt};
use s2n_quic::provider::connection_id::{self, ConnectionInfo, LocalId};
use s2n_quic::provider::event::{events, ConnectionInfo as EventConnectionInfo, ConnectionMeta};
use s2n_quic::provider::tls::s2n_tls::{self as tls, callbacks, config, connection::Connection as TlsConnection};
use s2n_quic::Client;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// Session tickets received from the server; only the most recent is kept (RFC 8446 §4.6.1
/// lets a client use any ticket it holds; the latest is the most likely to be valid).
#[derive(Default)]
pub struct Tickets {
    latest: Mutex<Option<Arc<Vec<u8>>>>,
    pub received: AtomicU64,
}

struct TicketCallback(Arc<Tickets>);

impl callbacks::SessionTicketCallback for TicketCallback {
    fn on_session_ticket(&self, _connection: &mut TlsConnection, ticket: &callbacks::SessionTicket) {
        let Ok(len) = ticket.len() else { return };
        let mut data = vec![0; len];
        if ticket.data(&mut data).is_ok() {
            *self.0.latest.lock().expect("tickets") = Some(Arc::new(data));
            self.0.received.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Offers the latest ticket; installed only in the config used by connections that resume.
struct OfferTicket(Arc<Tickets>);

impl config::ConnectionInitializer for OfferTicket {
    fn initialize_connection(
        &self,
        connection: &mut TlsConnection,
    ) -> Result<Option<std::pin::Pin<Box<dyn tls::callbacks::ConnectionFuture>>>, tls::error::Error> {
        let ticket = self.0.latest.lock().expect("tickets").clone();
        if let Some(ticket) = ticket {
            connection.set_session_ticket(&ticket)?;
        }
        Ok(None)
    }
}

/// Two prebuilt TLS configs (building one costs ~12 ms): with and without a ticket offer.
struct TlsLoader {
    plain: config::Config,
    resume: config::Config,
    creating: Arc<Creating>,
    tickets: Arc<Tickets>,
}

impl tls::ConfigLoader for TlsLoader {
    fn load(&mut self, _cx: tls::ConnectionContext) -> config::Config {
        let conn = self.creating.current.lock().expect("creating").take();
        match conn {
            Some(conn) if conn.plan.resume_session => {
                let have = self.tickets.latest.lock().expect("tickets").is_some();
                conn.stats.lock().expect("stats").resumption_offered = Some(have);
                if have {
                    self.resume.clone()
                } else {
                    self.plain.clone()
                }
            }
            _ => self.plain.clone(),
        }
    }
}

fn tls_config(alpn: &str, ca: Option<&[u8]>, tickets: &Arc<Tickets>, offer: bool) -> anyhow::Result<config::Config> {
    let mut b = config::Builder::new();
    b.enable_quic()?;
    b.set_security_policy(&tls::security::DEFAULT_TLS13)?;
    b.set_application_protocol_preference([alpn.as_bytes()])?;
    b.enable_session_tickets(true)?;
    b.set_session_ticket_callback(TicketCallback(tickets.clone()))?;
    match ca {
        Some(pem) => {
            b.wipe_trust_store()?;
            b.trust_pem(pem)?;
        }
        None => {
            // SAFETY (of the purpose, not memory): fuzzing lab servers with self-signed
            // certificates is the point; `--ca` turns verification back on.
            unsafe { b.disable_x509_verification()? };
        }
    }
    if offer {
        b.set_connection_initializer(OfferTicket(tickets.clone()))?;
    }
    fuzz_s2n_glue::keylog::install(&mut b)?;
    Ok(b.build()?)
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
    /// The handshakes completed through this endpoint, for [`Self::handshake_silence`].
    handshake_times: std::sync::Mutex<HandshakeTimes>,
    registry: Arc<Registry>,
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
}

impl ClientEndpoint {
    pub fn start(s: &EndpointSettings) -> anyhow::Result<Arc<Self>> {
        let control = Arc::new(OdcidControl::default());
        let registry = Arc::new(Registry::default());
        let creating = Arc::new(Creating::default());
        let tickets = Arc::new(Tickets::default());
        let loader = TlsLoader {
            plain: tls_config(s.alpn, s.ca, &tickets, false)?,
            resume: tls_config(s.alpn, s.ca, &tickets, true)?,
            creating: creating.clone(),
            tickets: tickets.clone(),
        };
        let tls = tls::Client::from_loader(loader);
        let limits = s2n_quic::provider::limits::Limits::new()
            .with_max_idle_timeout(s.transport_idle)?
            .with_max_handshake_duration(s.handshake_cap)?
            .with_initial_round_trip_time(s.initial_rtt)?;
        let format = CidFormat { inner: connection_id::default::Format::default(), control: control.clone() };
        let inner = s2n_quic::provider::random::Provider::start(s2n_quic::provider::random::Default::default())
            .map_err(|e| anyhow::anyhow!("random provider: {e}"))?;
        let random = CidRandom { inner, control: control.clone() };
        let bind: SocketAddr = if s.server.is_ipv6() { "[::]:0".parse()? } else { "0.0.0.0:0".parse()? };
        // No path MTU discovery (RFC 9000 §14.3): its probe packets take packet numbers at times
        // that depend on timing, and would shift which packets a plan mutates from run to run.
        let io = s2n_quic::provider::io::tokio::Builder::default()
            .with_receive_address(bind)?
            .with_max_mtu(min_mtu(s.server.is_ipv6()))?
            .build()?;
        let client = Client::builder()
            .with_io(io)?
            .with_tls(tls)?
            .with_limits(limits)?
            .with_connection_id(CidFormatProvider(format))?
            .with_random(CidRandomProvider(random))?
            .with_event((
                Subscriber { control: control.clone(), registry: registry.clone(), creating },
                super::qlog_files::QlogSubscriber::from_init(),
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
            handshake_times: Default::default(),
            registry,
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

    /// Records how long a completed handshake took, from the start of its connection.
    pub fn on_handshake(&self, took: Duration) {
        self.handshake_times.lock().expect("handshake times").on_handshake(took);
    }

    /// How long a handshake may stay silent before it is abandoned (module `patience`).
    pub fn handshake_silence(&self, idle: Duration) -> Duration {
        self.handshake_times.lock().expect("handshake times").silence_limit(idle)
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
