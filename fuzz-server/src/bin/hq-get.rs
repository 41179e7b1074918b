//! hq-get: a minimal hq-interop / echo client for checking a fuzz-server by hand and in the
//! end-to-end tests (like curl for HTTP/0.9 over QUIC). It makes no mutations.
//!
//! For each of `--connections` connections, one after the other, it prints one line per event:
//! ```text
//! conn <i> cid <initial DCID, hex> alpn <protocol>     the connection is up
//! get <path> ok <bytes> <fnv1a-64 hex>                 a whole response
//! get <path> reset <code>                              the server reset the stream
//! echo ok <bytes> <same|different>                     --echo-bytes, on the echo protocol
//! ticket resumed=<true|false>                          a session ticket arrived (--resume offers it next time)
//! conn <i> error <reason>                              the connection failed
//! ```
//! Exit status 0 if every connection was set up, 1 otherwise, 2 for bad options.

use bytes::Bytes;
use clap::Parser;
use s2n_quic::provider::event::{events, ConnectionInfo, ConnectionMeta, Subscriber};
use s2n_quic::provider::tls::s2n_tls;
use s2n_quic::{client::Connect, Client};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "hq-get",
    version,
    about = "A minimal hq-interop / echo client for fuzz-server (test and diagnostic aid)"
)]
struct Args {
    /// The server, host:port.
    server: SocketAddr,
    /// Paths to GET on each connection, one stream each (hq-interop).
    paths: Vec<String>,
    /// The certificate to trust (PEM), e.g. what fuzz-server --write-cert wrote.
    #[arg(long, value_name = "PEM")]
    ca: PathBuf,
    #[arg(long, default_value = "localhost")]
    server_name: String,
    #[arg(long, default_value = "hq-interop")]
    alpn: String,
    /// Connections to make, one after the other.
    #[arg(long, default_value_t = 1)]
    connections: u32,
    /// Offer the session ticket of the previous connection (TLS resumption).
    #[arg(long)]
    resume: bool,
    /// On the echo protocol: send this many bytes on one stream and check they come back.
    #[arg(long, value_name = "N")]
    echo_bytes: Option<usize>,
    /// Offer a post-quantum key share too (s2n-tls policy `default_pq`: X25519MLKEM768, 1216
    /// bytes), which makes the ClientHello span two Initial packets, as many clients' do.
    #[arg(long)]
    pq: bool,
    /// Give up on a connection after this many seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

/// The client's view of each connection's initial Destination Connection ID: on a client, the
/// first path's remote CID is the one it chose.
struct CidSubscriber;

impl Subscriber for CidSubscriber {
    type ConnectionContext = Option<String>;

    fn create_connection_context(&mut self, _: &ConnectionMeta, _: &ConnectionInfo) -> Option<String> {
        None
    }

    fn on_connection_started(&mut self, cid: &mut Option<String>, _: &ConnectionMeta, e: &events::ConnectionStarted) {
        *cid = Some(hex(e.path.remote_cid.bytes));
    }
}

/// Keeps the newest session ticket and offers it to the next connection.
#[derive(Clone, Default)]
struct Tickets {
    last: Arc<Mutex<Option<Vec<u8>>>>,
    offer: bool,
}

impl s2n_tls::callbacks::SessionTicketCallback for Tickets {
    fn on_session_ticket(
        &self,
        connection: &mut s2n_tls::connection::Connection,
        ticket: &s2n_tls::callbacks::SessionTicket,
    ) {
        println!("ticket resumed={}", connection.resumed());
        let mut data = vec![0; ticket.len().unwrap_or(0)];
        if ticket.data(&mut data).is_ok() {
            *self.last.lock().unwrap() = Some(data);
        }
    }
}

impl s2n_tls::config::ConnectionInitializer for Tickets {
    fn initialize_connection(
        &self,
        connection: &mut s2n_tls::connection::Connection,
    ) -> Result<Option<std::pin::Pin<Box<dyn s2n_tls::callbacks::ConnectionFuture>>>, s2n_tls::error::Error> {
        if self.offer {
            if let Some(ticket) = self.last.lock().unwrap().as_ref() {
                connection.set_session_ticket(ticket)?;
            }
        }
        Ok(None)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// FNV-1a, 64 bits: enough to tell bodies apart in a test.
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3))
}
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let ca = match std::fs::read_to_string(&args.ca) {
        Ok(ca) => ca,
        Err(e) => {
            eprintln!("hq-get: cannot read {}: {e}", args.ca.display());
            return std::process::ExitCode::from(2);
        }
    };
    let tickets = Tickets { offer: args.resume, ..Default::default() };
    let client = (|| -> anyhow::Result<Client> {
        let mut tls = s2n_tls::Client::builder()
            .with_certificate(ca.as_str())?
            .with_application_protocols([args.alpn.as_bytes()])?;
        tls.config_mut().set_session_ticket_callback(tickets.clone())?.set_connection_initializer(tickets.clone())?;
        if args.pq {
            tls.config_mut().set_security_policy(&s2n_tls::security::Policy::from_version("default_pq")?)?;
        }
        Ok(Client::builder().with_tls(tls.build()?)?.with_io("0.0.0.0:0")?.with_event(CidSubscriber)?.start()?)
    })();
    let mut client = match client {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hq-get: cannot start the client: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut failures = 0;
    for i in 0..args.connections {
        let run = one_connection(&client, &args, i);
        match tokio::time::timeout(Duration::from_secs(args.timeout), run).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                println!("conn {i} error {e}");
                failures += 1;
            }
            Err(_) => {
                println!("conn {i} error timed out");
                failures += 1;
            }
        }
    }
    // Let the last connection's CONNECTION_CLOSE go out before the process exits.
    let _ = tokio::time::timeout(Duration::from_secs(2), client.wait_idle()).await;
    if failures == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

async fn one_connection(client: &Client, args: &Args, i: u32) -> anyhow::Result<()> {
    let connect = Connect::new(args.server).with_server_name(args.server_name.as_str());
    let mut conn = client.connect(connect).await?;
    let cid = conn.query_event_context(|cid: &Option<String>| cid.clone()).ok().flatten().unwrap_or_default();
    let alpn = conn.application_protocol().map(|p| String::from_utf8_lossy(&p).into_owned()).unwrap_or_default();
    println!("conn {i} cid {cid} alpn {alpn}");
    for path in &args.paths {
        let mut stream = conn.open_bidirectional_stream().await?;
        // The server may refuse a path before the request's end is acknowledged: it resets its
        // side (RESET_STREAM) and asks us to stop sending (STOP_SENDING, RFC 9000 §3.5), which
        // fails our send or finish; its answer, the reset's code, is read below.
        match stream.send(Bytes::from(format!("GET {path}\r\n"))).await.and_then(|()| stream.finish()) {
            Ok(()) | Err(s2n_quic::stream::Error::StreamReset { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let (mut len, mut hash) = (0usize, FNV_OFFSET);
        loop {
            match stream.receive().await {
                Ok(Some(chunk)) => {
                    len += chunk.len();
                    hash = fnv1a(hash, &chunk);
                }
                Ok(None) => {
                    println!("get {path} ok {len} {hash:016x}");
                    break;
                }
                Err(s2n_quic::stream::Error::StreamReset { error, .. }) => {
                    println!("get {path} reset {}", u64::from(error));
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    if let Some(n) = args.echo_bytes {
        let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let stream = conn.open_bidirectional_stream().await?;
        let (mut rx, mut tx) = stream.split();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            for chunk in sent.chunks(4096) {
                tx.send(Bytes::copy_from_slice(chunk)).await?;
            }
            tx.finish()
        });
        let mut back = Vec::with_capacity(n);
        while let Some(chunk) = rx.receive().await? {
            back.extend_from_slice(&chunk);
        }
        writer.await??;
        println!("echo ok {} {}", back.len(), if back == data { "same" } else { "different" });
    }
    // Let a session ticket sent after the handshake arrive before closing.
    if args.resume {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    conn.close(0u32.into());
    Ok(())
}
