//! The campaign: the CID chain, connections in flight, checkpoints, probes, and the run log.
//!
//! Connection #seq has CID `chain::nth(start_cid, seq - start_seq)` and its plan is
//! `ConnectionPlan::from_cid(cid, Client)`. Connections start in chain order (`cid_start` lines
//! are in `seq` order) and end in any order. A checkpoint at #i (i a multiple of
//! `checkpoint_every`) is logged only once every connection below i has logged its `cid_end`
//! *and* a clean probe connection started after that succeeded, so restarting at `cid_i`
//! repeats the campaign's tail from a moment the server was known to be up. When probes keep
//! failing, the server is down: `server_down` names the last checkpoint and the command line
//! that restarts there, and the campaign stops. When the client supervises the server
//! ([`ServerWatch::exited`]), the process exiting stops the campaign the same way, at once.
//! The flight recorder's connections are copied the moment the server is found down, and written
//! as the crash capture ([`CampaignConfig::crash_pcap`], named in `server_down`).
//!
//! [`run`] is a reusable function of a [`CampaignConfig`] and a [`ServerWatch`] hook, so later
//! commands (resume from a log, supervise the server, bisect, replay) drive the same runner.
//!
//! - [`watch`]: a campaign around a server the client starts and supervises ([`supervise`]);
//! - [`resume`]: `--resume-from`, where an earlier run log says to restart.

pub mod resume;
pub mod supervise;
pub mod watch;

use crate::quic::connection::{self, ConnReport, ConnShared, Timeouts};
use crate::quic::endpoint::{ClientEndpoint, EndpointSettings};
use crate::quic::flight::{Bounds, Flight};
use crate::report::progress::Progress;
use crate::report::summary::Summary;
use crate::triage::capture::{self, CaptureFlow, FlowLabel};
use crate::triage::repro;
use futures::future::BoxFuture;
use fuzz_shared::checkpoint::{CheckpointSchedule, CheckpointTracker};
use fuzz_shared::{chain, Cid, ConnectionPlan, Event, FuzzState, LogWriter, Mode, Outcome, Request, Role};
use std::collections::VecDeque;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A file next to `path`, named after it: `run.jsonl` + `.crash.pcap` is `run.jsonl.crash.pcap`.
pub fn next_to(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The crash capture of a run: next to its log, or without one in the temporary directory
/// (`fuzz-client-<pid>.crash.pcap`), since a crash is worth keeping even from an unlogged run.
pub fn crash_pcap_path(log: Option<&Path>) -> PathBuf {
    match log {
        Some(log) => next_to(log, ".crash.pcap"),
        None => std::env::temp_dir().join(format!("fuzz-client-{}.crash.pcap", std::process::id())),
    }
}

/// The `seq` of probe connections, which are not in the chain.
pub const PROBE_SEQ: u64 = u64::MAX;

/// How many reached checkpoints may wait for their connections before launching pauses.
const MAX_PENDING_CHECKPOINTS: usize = 64;

/// How the server is checked: `tries` clean probes, waiting `backoff[k]` before try k+1.
#[derive(Clone, Debug)]
pub struct ProbePolicy {
    pub backoff: Vec<Duration>,
    /// The idle limit of a probe: generous, a probe must not fail because the server is busy.
    pub idle: Duration,
}

impl Default for ProbePolicy {
    fn default() -> Self {
        Self { backoff: [200, 400, 800].map(Duration::from_millis).to_vec(), idle: Duration::from_millis(1000) }
    }
}

/// Everything a campaign needs; built from the command line by `cli`, or by other commands.
#[derive(Clone, Debug)]
pub struct CampaignConfig {
    pub server: SocketAddr,
    /// SERVER as given on the command line, for the log.
    pub target: String,
    pub server_name: String,
    pub start_cid: Cid,
    pub start_seq: u64,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    pub concurrency: usize,
    pub checkpoint_every: u64,
    pub log: Option<PathBuf>,
    /// Where the crash capture goes when the server goes down (`<log>.crash.pcap`).
    pub crash_pcap: Option<PathBuf>,
    pub mode: Mode,
    pub alpn: String,
    pub ca: Option<Vec<u8>>,
    pub timeouts: Timeouts,
    /// The RTT assumed before the first sample (RFC 9002 §6.2.2).
    pub initial_rtt: Duration,
    pub probe: ProbePolicy,
    /// Consecutive failed connections (handshake_failed, timeout, refused) after which the
    /// server is probed early rather than burning the chain against a dead server.
    pub failure_streak: u32,
    pub progress: bool,
    /// `replay`: its `server_down` repro is its own command line.
    pub replay: bool,
    /// No summary and no start-up chatter: for `bisect`, which runs many short campaigns.
    pub quiet: bool,
    /// The original command line, program first: logged, and the base of the restart command.
    pub argv: Vec<String>,
}

/// A hook on the server under test, called at checkpoints and when the server is down. The
/// default does nothing; a supervisor of the server process (`--server-cmd`, [`crate::campaign::watch`])
/// fills it in.
pub trait ServerWatch: Send {
    /// The server's resident memory in KiB, logged with each checkpoint.
    fn rss_kb(&mut self) -> Option<u64> {
        None
    }
    /// Resolves when the watched server process exits; never for a server that is not watched.
    /// The campaign stops at once then, instead of waiting for probes to time out. It is polled
    /// afresh on every turn of the campaign's loop, so it must be cancel-safe.
    fn exited(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::pending())
    }
    /// How the server died and the last lines of its stderr, for `server_down`. Async, because
    /// a server that dies is often still writing its sanitizer report when the client notices.
    fn death(&mut self) -> BoxFuture<'_, Death> {
        Box::pin(std::future::ready(Death::default()))
    }
}

/// How the server died, as far as the client knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Death {
    /// Exit status or signal, in words (`killed by signal 6 (SIGABRT)`).
    pub cause: Option<String>,
    /// The last lines of its stderr.
    pub stderr_tail: Vec<String>,
    /// A server alive but not answering: its CPU use while the client waited for it to exit,
    /// in percent of one core. Near 100: hung in a loop; near 0: deadlocked or stopped.
    pub cpu_percent: Option<u32>,
}

/// A [`ServerWatch`] that knows nothing about the server (it runs elsewhere).
pub struct Unwatched;
impl ServerWatch for Unwatched {}

/// How a campaign ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CampaignEnd {
    /// Every connection ran and the server answered a final probe.
    Done,
    /// Probes failed, or the supervised server exited: the server is down. `repro` restarts at
    /// the last checkpoint; `death` says how the server died when the client supervises it.
    ServerDown { repro: String, bisect: Option<String>, death: Death, crash_pcap: Option<PathBuf> },
    /// Interrupted (Ctrl-C) before the end.
    Interrupted,
}

/// The outcome of a run, for the exit status (and, later, for `bisect`, which runs many).
#[derive(Debug)]
#[allow(dead_code)] // `connections` and `elapsed` are for callers other than main
pub struct CampaignResult {
    pub end: CampaignEnd,
    pub connections: u64,
    pub elapsed: Duration,
}

/// A fatal bug of the fuzzer: exit status 1.
#[derive(Debug, thiserror::Error)]
#[error("internal error: {0}")]
pub struct InternalError(pub String);

/// What a probe is for.
#[derive(Debug, Clone, Copy)]
enum ProbeKind {
    /// The checkpoint at (seq, cid).
    Checkpoint { seq: u64, cid: Cid },
    /// Many consecutive failures: is the server still there?
    Health { cid: Cid },
    /// The end of the campaign.
    Final { cid: Cid },
}

impl std::fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Checkpoint { seq, cid } => write!(f, "checkpoint #{seq} {cid}"),
            Self::Health { cid } => write!(f, "health check after {cid}"),
            Self::Final { cid } => write!(f, "end of campaign at {cid}"),
        }
    }
}

impl ProbeKind {
    fn base_cid(&self) -> Cid {
        match *self {
            Self::Checkpoint { cid, .. } | Self::Health { cid } | Self::Final { cid } => cid,
        }
    }
}

struct ProbeResult {
    kind: ProbeKind,
    up: bool,
    /// Duration of the successful try.
    probe_ms: u64,
    failed_tries: u64,
}

/// The plan of a probe: no mutation (the probe runs in clean mode), no resumption, one small
/// request whose answer proves the server serves.
fn probe_plan() -> ConnectionPlan {
    ConnectionPlan {
        fuzz_state: FuzzState::Ready,
        wait_packets: 0,
        fuzz_packets: 0,
        resume_session: false,
        attempt_0rtt: false,
        requests: vec![Request { path: "/1".into() }],
    }
}

/// Probes until one try succeeds, or the server looks down.
///
/// Try k (from 0) uses `probe^(k+1)(cid)`: every probe CID is from the probe domain, so none
/// collides with the chain, and each retry gets a fresh CID, because a CID-seeded server (like
/// fuzz-server) fuzzes its own side of some probe connections, which then fail. A try that
/// failed although the server answered proves the server alive: the next try follows at once,
/// up to `RESPONSIVE_TRIES` of them. A silent try counts against the backoff list (a few tries
/// with growing waits); when it is used up, the server is down.
async fn probe(ep: Arc<ClientEndpoint>, kind: ProbeKind, policy: ProbePolicy, cap: Duration) -> ProbeResult {
    const RESPONSIVE_TRIES: u64 = 16;
    let mut cid = kind.base_cid();
    let mut failed_tries = 0;
    let mut silent = 0;
    let mut responsive = 0;
    loop {
        cid = chain::probe(&cid);
        let shared = ConnShared::new(PROBE_SEQ, cid, probe_plan(), Mode::Clean);
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let t = Timeouts::new(policy.idle, cap.max(policy.idle * 3));
        let started = Instant::now();
        let report = connection::run(&ep, shared, t, rx).await;
        if report.outcome == Outcome::Completed {
            return ProbeResult { kind, up: true, probe_ms: started.elapsed().as_millis() as u64, failed_tries };
        }
        failed_tries += 1;
        let detail = report.detail.map(|d| format!(" ({d})")).unwrap_or_default();
        if report.received > 0 {
            responsive += 1;
            tracing::debug!(
                "probe {cid} ({kind}) failed with the server answering: {}{detail}",
                report.outcome.as_str()
            );
            if responsive < RESPONSIVE_TRIES {
                continue;
            }
            tracing::warn!(
                "{responsive} probes failed although the server answered: it no longer serves clean connections"
            );
            return ProbeResult { kind, up: false, probe_ms: 0, failed_tries };
        }
        tracing::warn!("probe {cid} ({kind}) failed, no answer from the server: {}{detail}", report.outcome.as_str());
        match policy.backoff.get(silent) {
            Some(wait) => tokio::time::sleep(*wait).await,
            None => return ProbeResult { kind, up: false, probe_ms: 0, failed_tries },
        }
        silent += 1;
    }
}

/// The run log, or nothing when `--log` is absent.
struct Log(Option<LogWriter<File>>);

impl Log {
    fn write(&mut self, event: Event) -> anyhow::Result<()> {
        if let Some(w) = self.0.as_mut() {
            w.write(event).map_err(|e| anyhow::anyhow!("writing the run log: {e}"))?;
        }
        Ok(())
    }
}

/// Runs a campaign to its end.
pub async fn run(config: CampaignConfig, watch: &mut dyn ServerWatch) -> anyhow::Result<CampaignResult> {
    let c = &config;
    let mut log = Log(match &c.log {
        Some(path) => Some(LogWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("opening the run log {}: {e}", path.display()))?,
            Role::Client,
        )),
        None => {
            if !c.quiet {
                tracing::warn!("no --log: the campaign is not recorded");
            }
            None
        }
    });
    let ep = start_endpoint(c)?;
    log.write(Event::RunStart {
        start_cid: Some(c.start_cid),
        start_seq: c.start_seq,
        target: c.target.clone(),
        mode: c.mode,
        derivation: chain::DERIVATION.into(),
        version: fuzz_shared::VERSION.into(),
        args: c.argv.clone(),
        planted_faults: Vec::new(),
    })?;
    if !c.quiet {
        tracing::info!(
            "campaign from cid {} (seq {}) against {} ({}), mode {}, concurrency {}, checkpoint every {}",
            c.start_cid,
            c.start_seq,
            c.target,
            c.server,
            c.mode.as_str(),
            c.concurrency,
            c.checkpoint_every
        );
        tracing::warn!(
        "0-RTT is not implemented by s2n-quic/s2n-tls: plans that ask for it run without it (counted in the summary)"
    );
    }

    let started = Instant::now();
    let deadline = c.duration.map(|d| tokio::time::Instant::now() + d);
    let end_seq = c.count.map(|n| c.start_seq.saturating_add(n));
    let schedule = CheckpointSchedule { every: c.checkpoint_every };
    let mut tracker = CheckpointTracker::new(c.start_seq);
    let mut summary = Summary::default();
    let progress = Progress::new(c.progress, c.count);
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<ConnReport>();

    let mut next_seq = c.start_seq;
    let mut next_cid = c.start_cid;
    let mut in_flight = 0usize;
    let mut stopping = false; // no more launches
    let mut interrupted = false;
    let mut server_down = false;
    let mut last_cp = (c.start_seq, c.start_cid);
    // Checkpoints whose seq has been reached (launched, or the end of the campaign) and that
    // wait for every connection below them to finish, in order; and the next one to reach.
    // Each carries the supervised server's resident memory sampled when its seq was reached:
    // every connection before it had started then, and none after it. Sampled at confirmation
    // instead, the figure would also count the connections launched ahead while a slow one held
    // the checkpoint back (hundreds, at times), and a leak could not be placed between two
    // checkpoints.
    let mut pending_cps: VecDeque<(u64, Cid, Option<u64>)> = VecDeque::new();
    let mut next_cp = schedule.next_after(c.start_seq);
    let mut probe_task: Option<JoinHandle<ProbeResult>> = None;
    let mut final_checked = false;
    let mut streak = 0u32;
    let mut health_wanted: Option<Cid> = None;
    let mut health_running = false;
    // The flight recorder's connections when the server was found down.
    let mut at_down: Option<(Vec<Flight<Arc<ConnShared>>>, u64)> = None;

    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);

    loop {
        // Launch what may be launched. A health probe (wanted or running) pauses launching, so a
        // dead server does not burn the chain while it is being checked.
        while !stopping
            && !server_down
            && in_flight < c.concurrency
            && end_seq.is_none_or(|e| next_seq < e)
            // Launching runs ahead of unconfirmed checkpoints (a slow connection must not stall
            // the campaign), within a bound on how many wait.
            && pending_cps.len() < MAX_PENDING_CHECKPOINTS
            && !health_running
            && health_wanted.is_none()
        {
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                stopping = true;
                break;
            }
            let seq = next_seq;
            let cid = next_cid;
            if seq == next_cp {
                pending_cps.push_back((seq, cid, watch.rss_kb()));
                next_cp = schedule.next_after(seq);
            }
            let plan = ConnectionPlan::from_cid(&cid, Role::Client);
            if plan.attempt_0rtt {
                summary.zero_rtt_unsupported += 1;
            }
            tracing::debug!(target: "mutation", "#{seq} {cid} plan: {}", serde_json::to_string(&plan).unwrap_or_default());
            log.write(Event::CidStart { seq, cid, plan: plan.clone() })?;
            let shared = ConnShared::new(seq, cid, plan, c.mode);
            let ep = ep.clone();
            let done = done_tx.clone();
            let cancel = cancel_rx.clone();
            let t = c.timeouts;
            tokio::spawn(async move {
                let report = connection::run(&ep, shared, t, cancel).await;
                let _ = done.send(report);
            });
            in_flight += 1;
            next_seq += 1;
            next_cid = chain::next(&cid);
        }
        if end_seq.is_some_and(|e| next_seq >= e) {
            stopping = true;
        }
        if stopping && next_seq == next_cp {
            // The campaign ends on a checkpoint: it is confirmed like the others.
            pending_cps.push_back((next_seq, next_cid, watch.rss_kb()));
            next_cp = schedule.next_after(next_seq);
        }

        // Start a probe when one is due and none runs.
        if probe_task.is_none() && !server_down && !interrupted {
            if let Some(cid) = health_wanted.take() {
                health_running = true;
                probe_task =
                    Some(tokio::spawn(probe(ep.clone(), ProbeKind::Health { cid }, c.probe.clone(), c.timeouts.cap)));
            } else if let Some(&(seq, cid, _)) = pending_cps.front().filter(|(seq, _, _)| tracker.all_done_before(*seq))
            {
                probe_task = Some(tokio::spawn(probe(
                    ep.clone(),
                    ProbeKind::Checkpoint { seq, cid },
                    c.probe.clone(),
                    c.timeouts.cap,
                )));
            } else if stopping && in_flight == 0 && !final_checked && last_cp.0 == next_seq && next_seq != c.start_seq {
                // The last checkpoint is the end of the campaign: it was the final probe.
                final_checked = true;
            } else if stopping && in_flight == 0 && !final_checked {
                final_checked = true;
                probe_task = Some(tokio::spawn(probe(
                    ep.clone(),
                    ProbeKind::Final { cid: next_cid },
                    c.probe.clone(),
                    c.timeouts.cap,
                )));
            }
        }

        if (stopping || server_down || interrupted)
            && in_flight == 0
            && probe_task.is_none()
            && (final_checked || server_down || interrupted)
        {
            break;
        }

        tokio::select! {
            Some(report) = done_rx.recv() => {
                in_flight -= 1;
                if let Some(err) = &report.odcid_error {
                    cancel_tx.send_replace(true);
                    return Err(InternalError(format!("connection #{} ({}): {err}", report.seq, report.cid)).into());
                }
                log.write(Event::CidEnd {
                    seq: report.seq,
                    cid: report.cid,
                    outcome: report.outcome,
                    error_code: report.error_code,
                    fuzzed_packets: report.fuzzed_packets(),
                    sent_packets: Some(report.sent_packets()),
                    mutation_digest: report.mutation_digest.clone(),
                    duration_ms: report.duration.as_millis() as u64,
                    operators: report.operators.clone(),
                    detail: report.detail.clone(),
                })?;
                tracing::debug!(
                    target: "mutation",
                    "#{} {} {} after {} ms, {}/{} packets fuzzed, digest {}{}",
                    report.seq,
                    report.cid,
                    report.outcome.as_str(),
                    report.duration.as_millis(),
                    report.fuzzed_packets(),
                    report.sent_packets(),
                    report.mutation_digest,
                    report.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
                );
                tracker.finish(report.seq);
                summary.add(&report);
                progress.inc(&report);
                match report.outcome {
                    Outcome::HandshakeFailed | Outcome::Timeout | Outcome::Refused => {
                        streak += 1;
                        if streak >= c.failure_streak && !server_down {
                            tracing::warn!("{streak} connections in a row failed (last #{} {}): probing the server", report.seq, report.cid);
                            health_wanted = Some(report.cid);
                            streak = 0;
                        }
                    }
                    _ => streak = 0,
                }
            }
            result = join_probe(&mut probe_task) => {
                probe_task = None;
                health_running = false;
                let result = result?;
                summary.probes += 1;
                summary.probe_failures += result.failed_tries;
                if !result.up {
                    server_down = true;
                    stopping = true;
                    cancel_tx.send_replace(true);
                    continue;
                }
                match result.kind {
                    ProbeKind::Checkpoint { seq, cid } => {
                        let rss = pending_cps.front().and_then(|&(_, _, rss)| rss);
                        log.write(Event::Checkpoint { seq, cid, server_up: true, probe_ms: result.probe_ms, server_rss_kb: rss })?;
                        progress.println(&format!("checkpoint #{seq} cid {cid}: server up (probe {} ms)", result.probe_ms));
                        progress.checkpoint(seq, cid, rss);
                        last_cp = (seq, cid);
                        pending_cps.pop_front();
                    }
                    ProbeKind::Health { .. } => tracing::info!("server answered the probe: the failures were the connections'"),
                    ProbeKind::Final { .. } => {}
                }
            }
            _ = watch.exited(), if !server_down => {
                // Faster and more exact than probes timing out: the process is gone.
                if c.quiet {
                    tracing::debug!("the supervised server exited: stopping the campaign");
                } else {
                    tracing::warn!("the supervised server exited: stopping the campaign");
                }
                server_down = true;
                stopping = true;
                cancel_tx.send_replace(true);
                if let Some(p) = probe_task.take() { p.abort(); }
                health_running = false;
            }
            _ = sleep_until_opt(deadline), if !stopping => {
                stopping = true;
            }
            _ = &mut ctrl_c, if !interrupted => {
                tracing::warn!("interrupted: closing the connections in flight");
                interrupted = true;
                stopping = true;
                cancel_tx.send_replace(true);
                if let Some(p) = probe_task.take() { p.abort(); }
            }
        }
        if server_down && at_down.is_none() {
            // Now, before the connections in flight are closed: what the server last saw.
            at_down = Some(ep.flights());
        }
    }
    progress.finish();
    let elapsed = started.elapsed();
    let end = if server_down {
        let (seq, cid) = last_cp;
        // A replay reproduces itself; a campaign restarts at its last checkpoint.
        let repro = if c.replay {
            repro::command_line(&c.argv)
        } else {
            repro::restart_command(&c.argv, c.start_seq, c.count, seq, &cid)
        };
        // Bisect the connections started since the checkpoint, at the concurrency they ran at.
        let bisect = (!c.replay && next_seq > seq)
            .then(|| repro::bisect_command(&c.argv, seq, &cid, next_seq - seq, c.concurrency));
        let death = watch.death().await;
        let (flights, unattributed) = at_down.take().unwrap_or_else(|| ep.flights());
        let crash_pcap = c.crash_pcap.as_deref().and_then(|path| {
            let header = crash_header(c, &death, (seq, &cid), flights.len(), unattributed);
            match write_crash_pcap(path, &header, &flights) {
                Ok(()) => Some(path.to_path_buf()),
                Err(e) => {
                    tracing::warn!("the crash capture {} could not be written: {e}", path.display());
                    None
                }
            }
        });
        log.write(Event::ServerDown {
            last_checkpoint_seq: seq,
            last_checkpoint_cid: cid,
            repro: repro.clone(),
            bisect: bisect.clone(),
            cause: death.cause.clone(),
            cpu_percent: death.cpu_percent,
            stderr_tail: death.stderr_tail.clone(),
            crash_pcap: crash_pcap.as_ref().map(|p| p.display().to_string()),
        })?;
        CampaignEnd::ServerDown { repro, bisect, death, crash_pcap }
    } else if interrupted {
        CampaignEnd::Interrupted
    } else {
        CampaignEnd::Done
    };
    let secs = elapsed.as_secs_f64().max(1e-9);
    log.write(Event::RunEnd {
        connections: summary.connections(),
        fuzzed_connections: summary.fuzzed_connections(),
        elapsed_s: secs,
        conn_per_s: summary.connections() as f64 / secs,
        server_up: end == CampaignEnd::Done,
    })?;
    if ep.odcid_mismatches() > 0 {
        return Err(InternalError(format!(
            "{} connections had an ODCID other than the intended CID",
            ep.odcid_mismatches()
        ))
        .into());
    }
    if !c.quiet {
        eprint!("{}", summary.render(elapsed));
        let tickets = ep.tickets.received.load(std::sync::atomic::Ordering::Relaxed);
        eprintln!("session tickets received: {tickets}");
    }
    Ok(CampaignResult { end, connections: summary.connections(), elapsed })
}

/// The section comment of a crash capture: the run, the server's death, the bounds, and the
/// culprit when the run had a single connection (`replay`, a bisect trial of one).
fn crash_header(
    c: &CampaignConfig,
    death: &Death,
    last_cp: (u64, &Cid),
    connections: usize,
    unattributed: u64,
) -> String {
    let b = Bounds::CLIENT;
    let mut lines = vec![
        format!("fuzz-client {}: {}", fuzz_shared::VERSION, repro::command_line(&c.argv)),
        format!(
            "server {} ({}): {}",
            c.target,
            c.server,
            death.cause.as_deref().unwrap_or("stopped answering clean probes")
        ),
        format!(
            "run from cid {} (seq {}), last checkpoint seq {} cid {}",
            c.start_cid, c.start_seq, last_cp.0, last_cp.1
        ),
        format!(
            "{connections} connections: those in flight and the last {} that ended; of each the first {} and the last {} \
             datagrams; received datagrams attributed to none: {unattributed}",
            b.ended, b.head, b.tail
        ),
        "client ports: 10000 + seq mod 50000, probes 60000 + n (on the wire all shared one socket)".to_string(),
    ];
    if c.count == Some(1) {
        lines.push(format!("{} (the only connection of the run)", capture::culprit_line(c.start_seq, &c.start_cid)));
    }
    lines.join("\n")
}

/// Writes the flight recorder's connections as a pcapng capture at `path`.
fn write_crash_pcap(path: &Path, header: &str, flights: &[Flight<Arc<ConnShared>>]) -> std::io::Result<()> {
    let flows: Vec<CaptureFlow> = flights
        .iter()
        .map(|f| {
            let conn = &f.meta;
            let stats = conn.stats.lock().expect("stats");
            let fuzzer = stats.fuzzer.as_ref();
            let mode = if fuzzer.is_some() { Mode::Fuzz } else { Mode::Clean };
            let decisions = fuzzer
                .map_or(&[][..], |f| f.decisions())
                .iter()
                .map(|d| serde_json::to_string(d).unwrap_or_default())
                .collect();
            drop(stats);
            CaptureFlow {
                label: FlowLabel {
                    seq: (conn.seq != PROBE_SEQ).then_some(conn.seq),
                    cid: conn.cid,
                    fuzz_state: conn.plan.fuzz_state,
                    mode,
                    decisions,
                },
                server: f.server,
                local_ip: f.local.ip(),
                datagrams: f.datagrams().cloned().collect(),
                skipped: f.skipped,
            }
        })
        .collect();
    let file = std::io::BufWriter::new(File::create(path)?);
    capture::write_capture(file, header, &flows)?;
    Ok(())
}

/// The client endpoint a campaign (or its start-up check) makes its connections from.
fn start_endpoint(c: &CampaignConfig) -> anyhow::Result<Arc<ClientEndpoint>> {
    ClientEndpoint::start(&EndpointSettings {
        server: c.server,
        server_name: &c.server_name,
        alpn: &c.alpn,
        ca: c.ca.as_deref(),
        // RFC 9000 §10.1: each end advertises max_idle_timeout and the minimum applies, so the
        // server, too, forgets a silent connection of ours soon.
        transport_idle: (c.timeouts.idle * 4).max(Duration::from_secs(2)),
        handshake_cap: c.timeouts.cap,
        initial_rtt: c.initial_rtt,
    })
}

/// Whether a freshly started server came up; see [`wait_until_serving`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartUp {
    /// A clean probe completed.
    Serving,
    /// The watched process exited first.
    Exited,
    /// No probe completed within the limit.
    Silent,
}

/// Probes a freshly started server until a clean probe connection completes, the watched process
/// exits, or `limit` passes. A server needs a moment to bind and load its certificate; the
/// campaign must not count its first connections against a server that is not there yet.
///
/// The probe CIDs are `probe^k(start_cid)`, from the probe domain like every probe: none collides
/// with the chain. A try that fails gets a fresh CID at once (a CID-seeded server fuzzes some
/// probes); a silent one is retried after a short pause.
pub async fn wait_until_serving(
    c: &CampaignConfig,
    watch: &mut dyn ServerWatch,
    limit: Duration,
) -> anyhow::Result<StartUp> {
    let ep = start_endpoint(c)?;
    let deadline = tokio::time::Instant::now() + limit;
    let t = Timeouts::new(Duration::from_millis(250), Duration::from_secs(2));
    let mut cid = c.start_cid;
    loop {
        cid = chain::probe(&cid);
        let shared = ConnShared::new(PROBE_SEQ, cid, probe_plan(), Mode::Clean);
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let attempt = async {
            let report = connection::run(&ep, shared, t, rx).await;
            if report.outcome != Outcome::Completed {
                tracing::debug!("start-up probe {cid}: {}", report.outcome.as_str());
                if report.received == 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            report.outcome == Outcome::Completed
        };
        tokio::select! {
            up = attempt => if up { return Ok(StartUp::Serving) },
            _ = watch.exited() => return Ok(StartUp::Exited),
            _ = tokio::time::sleep_until(deadline) => return Ok(StartUp::Silent),
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(StartUp::Silent);
        }
    }
}

/// Waits for the running probe; never resolves when there is none.
async fn join_probe(task: &mut Option<JoinHandle<ProbeResult>>) -> anyhow::Result<ProbeResult> {
    match task.as_mut() {
        Some(t) => t.await.map_err(|e| InternalError(format!("the probe task failed: {e}")).into()),
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
