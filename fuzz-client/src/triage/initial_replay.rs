//! `replay --pcap`: a connection's Initial datagrams from a capture, resent byte for byte.
//!
//! Initial packets are protected with keys derived from the Destination Connection ID of the
//! client's first Initial alone (RFC 9001 §5.2), so a fresh server decrypts a captured client
//! Initial exactly as the original server did, whatever randomness TLS used: resending the
//! datagram delivers the very ClientHello and frames that the original server saw. Handshake and
//! 1-RTT packets cannot be replayed so: their keys come from the TLS key exchange, which depends on
//! both ends' random values, and a fresh server's differ. Later client Initials are addressed to
//! the original server's own connection ID (RFC 9000 §7.2), which a fresh server does not know;
//! they are sent too, as captured, and the report counts how many still carry the client's CID.
//!
//! The datagrams go from a fresh UDP socket to SERVER with their original spacing (each gap at
//! most [`MAX_GAP`]). Then the server is judged as `replay` judges it: dead if its process exits
//! (with `--server-cmd`) or if a clean probe connection does not complete. Which connection and
//! which datagrams come from [`capture::select`], which is pure.

use crate::campaign::watch::{ServerCmd, ServerUnderTest};
use crate::campaign::{self, CampaignConfig, Death, ServerWatch, StartUp};
use crate::triage::capture::{self, Selected};
use crate::usage::UsageError;
use fuzz_shared::Cid;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest pause kept between two resent datagrams.
pub const MAX_GAP: Duration = Duration::from_secs(1);
/// How long answers are counted after the last datagram.
const ANSWER_WAIT: Duration = Duration::from_millis(300);
/// How long a supervised server may take to exit before it is probed.
const EXIT_WAIT: Duration = Duration::from_millis(500);
/// How long the server has to answer a clean probe afterwards.
const PROBE_LIMIT: Duration = Duration::from_secs(5);

/// A checked `replay --pcap`.
pub struct InitialReplayJob {
    /// The connection options of the probes (server address, ALPN, SNI, CA).
    pub config: CampaignConfig,
    pub server: Option<ServerCmd>,
    pub pcap: PathBuf,
    pub selected: Selected,
}

/// What happened.
pub struct ReplayOutcome {
    /// Datagrams the server sent back to the replaying socket.
    pub answered: usize,
    /// `Some` when the server died: how, as far as the client knows.
    pub death: Option<Death>,
}

/// Reads `pcap` and picks the connection to replay (`cid`, or the capture's culprit, or its last
/// connection). A file that cannot be read or holds nothing to replay is bad input.
pub fn load(pcap: &Path, cid: Option<&Cid>) -> Result<Selected, UsageError> {
    let bytes = std::fs::read(pcap).map_err(|e| UsageError(format!("--pcap {}: {e}", pcap.display())))?;
    let capture = capture::read_capture(&bytes).map_err(|e| UsageError(format!("--pcap {}: {e}", pcap.display())))?;
    capture::select(&capture, cid).map_err(|e| UsageError(format!("--pcap {}: {e}", pcap.display())))
}

/// What will be sent, in words.
pub fn describe(job: &InitialReplayJob) -> String {
    let s = &job.selected;
    let seq = s.seq.map(|n| format!("seq {n}, ")).unwrap_or_default();
    format!(
        "replay --pcap {}: cid {} ({seq}{}): {} Initial datagram(s), {} of them still addressed to the CID (what a \
         fresh server can decrypt); {} later datagram(s) of the connection are not Initials and are not sent",
        job.pcap.display(),
        s.cid,
        s.why,
        s.datagrams.len(),
        s.with_cid,
        s.others
    )
}

/// Starts the server (with `--server-cmd`), resends the datagrams, judges the server, stops it.
pub async fn run(job: &InitialReplayJob) -> anyhow::Result<ReplayOutcome> {
    let mut sut = ServerUnderTest::start(&job.config, job.server.as_ref()).await?;
    let outcome = replay(job, sut.watch()).await;
    sut.stop().await;
    outcome
}

async fn replay(job: &InitialReplayJob, watch: &mut dyn ServerWatch) -> anyhow::Result<ReplayOutcome> {
    let server = job.config.server;
    let answered = send(server, &job.selected.datagrams).await?;
    // A server that dies of the datagrams usually exits at once; otherwise a clean probe decides.
    let exited = tokio::select! {
        _ = watch.exited() => true,
        _ = tokio::time::sleep(EXIT_WAIT) => false,
    };
    let down = exited || campaign::wait_until_serving(&job.config, watch, PROBE_LIMIT).await? != StartUp::Serving;
    let death = if down {
        let mut death = watch.death().await;
        death.cause.get_or_insert_with(|| "stopped answering clean probes".to_string());
        Some(death)
    } else {
        None
    };
    Ok(ReplayOutcome { answered, death })
}

/// Sends `datagrams` to `server` from a fresh socket, with their spacing; counts the answers.
async fn send(server: SocketAddr, datagrams: &[(Duration, Vec<u8>)]) -> anyhow::Result<usize> {
    let bind: SocketAddr = if server.is_ipv6() { "[::]:0".parse()? } else { "0.0.0.0:0".parse()? };
    let socket = tokio::net::UdpSocket::bind(bind).await?;
    let answered = std::cell::Cell::new(0);
    let receive = async {
        let mut buf = vec![0u8; 65_536];
        loop {
            match socket.recv_from(&mut buf).await {
                Ok((_, from)) if from == server => answered.set(answered.get() + 1),
                Ok(_) => {}
                // An ICMP error reported on the socket: keep listening, without spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    };
    let transmit = async {
        let mut previous = Duration::ZERO;
        for (at, bytes) in datagrams {
            tokio::time::sleep(at.saturating_sub(previous).min(MAX_GAP)).await;
            previous = *at;
            socket.send_to(bytes, server).await?;
        }
        tokio::time::sleep(ANSWER_WAIT).await;
        anyhow::Ok(())
    };
    tokio::select! {
        sent = transmit => sent?,
        _ = receive => {}
    }
    Ok(answered.get())
}
