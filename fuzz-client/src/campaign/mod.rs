//! The campaign: the CID chain, connections in flight, checkpoints, probes, and the run log.
//!
//! Connection #seq has CID `chain::nth(start_cid, seq - start_seq)` and its plan is
//! `ConnectionPlan::from_cid_at(cid, Client, resume_rate)`; a resuming plan runs its priming
//! connection first ([`crate::quic::resumption`]). Connections start in chain order (`cid_start` lines
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
//! - [`config`]: what a campaign is told ([`CampaignConfig`], [`FindingsPolicy`]);
//! - [`probe`](mod@probe): the clean probes that prove the server up, and the wait until it serves;
//! - [`down`]: the server found down: its window, the crash capture, `server_down`, the finding;
//! - [`watch`]: a campaign around a server the client starts and supervises ([`supervise`]);
//! - [`resume`]: `--resume-from`, where an earlier run log says to restart;
//! - [`pacing`]: busy is not down, the concurrency in force (`--concurrency auto`), and idle
//!   limits fitted to the server's handshake time.

mod config;
mod down;
pub mod interrupt;
pub mod pacing;
mod probe;
pub mod resume;
pub mod shard;
pub mod supervise;
pub mod watch;

pub use config::{CampaignConfig, FindingsPolicy, ProbePolicy, Restart, StartupTimes};
use down::{record_down, record_start_death, DownRecord, Window};
pub use down::{Death, StartDeath};
use probe::{join_probe, probe, ProbeKind, ProbeResult, ProbeSettings, Verdict};
pub use probe::{wait_until_serving, wait_until_serving_probed, wait_until_serving_timed, StartUp};

use crate::findings::store::FindingStore;
use crate::findings::triage::{self, TriageQueue};
use crate::findings::Recorded;
use crate::quic::conn_state::{ConnShared, ContentSet, Fuzzing};
use crate::quic::connection::{ConnReport, Timeouts};
use crate::quic::endpoint::{ClientEndpoint, EndpointSettings};
use crate::quic::flight::Flight;
use crate::quic::patience::SmoothedTimes;
use crate::quic::resumption;
use crate::report::progress::Progress;
use crate::report::summary::Summary;
use futures::future::BoxFuture;
use fuzz_shared::checkpoint::{CheckpointSchedule, CheckpointTracker};
use fuzz_shared::leak::{LeakDetector, LeakRule};
use fuzz_shared::shard::{Repeat, RepeatDetector};
use fuzz_shared::{chain, Cid, ConnectionPlan, Event, FuzzState, LogWriter, Mode, Outcome, Pacing, Role};
use pacing::{Busyness, ConcurrencySetting, Limits, Pacer};
use std::collections::{HashMap, VecDeque};
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

/// `--log -` is the run log on stdout: no file to put other files next to.
pub const LOG_TO_STDOUT: &str = "-";

/// The log's file, if it is one (not [`LOG_TO_STDOUT`]): what files next to the log are named after.
pub fn log_file(log: Option<&Path>) -> Option<&Path> {
    log.filter(|p| p.as_os_str() != LOG_TO_STDOUT)
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
pub use crate::quic::connection::OFF_CHAIN_SEQ as PROBE_SEQ;

/// How many reached checkpoints may wait for their connections before launching pauses.
const MAX_PENDING_CHECKPOINTS: usize = 64;

/// A hook on the server under test, called at checkpoints and when the server is down. The
/// default does nothing; a supervisor of the server process (`--server-cmd`, [`crate::campaign::watch`])
/// fills it in.
pub trait ServerWatch: Send {
    /// The server's resident memory in KiB, logged with each checkpoint.
    fn rss_kb(&mut self) -> Option<u64> {
        None
    }
    /// The server's coverage since the campaign began, read (and its map zeroed) at each
    /// checkpoint; `None` without `--coverage`.
    fn coverage(&mut self) -> Option<crate::coverage::EdgesAt> {
        None
    }
    /// What the server's coverage gained since the last read, read as a connection ends (its
    /// credit, [`crate::coverage::Coverage::credit`]); `None` without `--coverage`.
    fn credit(&mut self) -> Option<fuzz_shared::coverage::NewCoverage> {
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
    /// After a death: bring up a fresh server and wait until it answers a clean probe (a
    /// server that is not the client's to start: wait, up to `wait`, for someone else to).
    fn restart<'a>(&'a mut self, c: &'a CampaignConfig, wait: Duration) -> BoxFuture<'a, anyhow::Result<Restart>>;
    /// A supervised server that died of the clean start-up probe before the campaign began
    /// ([`watch::ServerUnderTest::start`]): taken once by the campaign, which records it as a
    /// finding instead of running.
    fn died_at_start(&mut self) -> Option<StartDeath> {
        None
    }
}

/// How many lines of the server's stderr a finding keeps (a sanitizer report is rarely longer).
pub const REPORT_LINES: usize = 400;

/// A [`ServerWatch`] that knows nothing about the server (it runs elsewhere).
pub struct Unwatched;
impl ServerWatch for Unwatched {
    fn restart<'a>(&'a mut self, c: &'a CampaignConfig, wait: Duration) -> BoxFuture<'a, anyhow::Result<Restart>> {
        Box::pin(async move {
            Ok(match wait_until_serving_timed(c, self, wait).await?.0 {
                StartUp::Serving => Restart::Serving(StartupTimes::default()),
                _ => Restart::NotServing(format!(
                    "the server did not answer a clean probe again within --down-wait {} s",
                    wait.as_secs_f64()
                )),
            })
        })
    }
}

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
    /// The deaths recorded as findings, in order (new ones and ones seen again).
    pub findings: Vec<Recorded>,
    /// Fresh servers the campaign brought up after findings.
    pub restarts: u64,
}

/// A fatal bug of the fuzzer: exit status 1.
#[derive(Debug, thiserror::Error)]
#[error("internal error: {0}")]
pub struct InternalError(pub String);

/// The run log, or nothing when `--log` is absent.
struct Log(Option<LogWriter<Box<dyn std::io::Write + Send>>>);

impl Log {
    fn write(&mut self, event: Event) -> anyhow::Result<()> {
        if let Some(w) = self.0.as_mut() {
            w.write(event).map_err(|e| anyhow::anyhow!("writing the run log: {e}"))?;
        }
        Ok(())
    }

    /// Ends a connection in the log (`cid_end`) and in the summary. The RFC oracle judges it
    /// once, for both.
    fn end(&mut self, summary: &mut Summary, report: &ConnReport, detail: Option<String>) -> anyhow::Result<()> {
        let verdict = report.verdict();
        summary.add(report, verdict.as_ref());
        self.write(report.cid_end(detail, verdict))
    }
}

/// Runs a campaign to its end.
pub async fn run(config: CampaignConfig, watch: &mut dyn ServerWatch) -> anyhow::Result<CampaignResult> {
    let c = &config;
    let mut log = Log(match &c.log {
        Some(path) if path.as_os_str() == LOG_TO_STDOUT => {
            Some(LogWriter::new(Box::new(std::io::stdout()) as Box<dyn std::io::Write + Send>, Role::Client))
        }
        Some(path) => Some(LogWriter::new(
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| anyhow::anyhow!("opening the run log {}: {e}", path.display()))?,
            ) as Box<dyn std::io::Write + Send>,
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
    // Pacing (module `pacing`): the concurrency in force, busy periods, and the limits fitted to
    // the clean probes' handshake times (the start-up probe's first) and to the completed
    // connections' silences (the endpoint's, module `patience`).
    let setting = if c.auto_concurrency { ConcurrencySetting::Auto } else { ConcurrencySetting::Fixed(c.concurrency) };
    let mut pacer = Pacer::new(setting, c.busy_timeout);
    let mut probe_times = SmoothedTimes::default();
    if let Some(h) = c.startup.handshake {
        probe_times.on_sample(h);
    }
    if let Some(s) = c.startup.silence {
        ep.on_completed(s);
    }
    let fit = |probes: &SmoothedTimes, ep: &ClientEndpoint| {
        pacing::fit_limits(
            probes,
            ep.recent_silence(),
            c.timeouts.idle,
            transport_idle(c),
            c.timeouts.cap,
            c.fixed_idle,
        )
    };
    let mut limits = fit(&probe_times, &ep);
    // The server's idle timeout bounds the waits between probes of a busy server: by then it
    // has freed every connection of ours it held (RFC 9000 §10.1: the smaller of both ends'
    // values applies).
    let server_idle = |ep: &ClientEndpoint| ep.server_idle_timeout().map(|s| s.min(transport_idle(c)));
    log.write(Event::RunStart {
        start_cid: Some(c.start_cid),
        start_seq: c.start_seq,
        target: c.target.clone(),
        mode: c.mode,
        derivation: chain::DERIVATION.into(),
        version: fuzz_shared::VERSION.into(),
        args: c.argv.clone(),
        planted_faults: Vec::new(),
        resume_rate: Some(c.resume_rate),
        shard: c.shard,
        pacing: Some(pacing_state(&pacer, limits, &probe_times, &ep)),
        client_knobs: Some(c.knobs),
        alpn: Some(c.alpn.clone()),
        corpus_every: c.corpus.as_ref().map(|g| g.generations.every),
    })?;
    // Coverage guidance (module `fuzz_shared::coverage::corpus`): the corpus children are drawn
    // from, and whether this run credits coverage of its own (`--coverage`) or only follows a
    // logged corpus (`--corpus-from`: bisect, replay). The first read takes what the start-up
    // probe covered. A run that credits logs the corpus it starts from, so that its own log
    // holds every entry its connections can be children of.
    let mut guide = c.corpus.clone();
    let credits = watch.credit().is_some();
    if let (true, Some(g)) = (credits, &guide) {
        for entry in g.corpus.entries() {
            log.write(entry.clone().into())?;
        }
    }
    if !c.quiet {
        tracing::info!(
            "campaign from cid {} (seq {}) against {} ({}), mode {}, concurrency {}, checkpoint every {}, \
             idle limit {} ms (handshake {} ms)",
            c.start_cid,
            c.start_seq,
            c.target,
            c.server,
            c.mode.as_str(),
            setting,
            c.checkpoint_every,
            limits.idle.as_millis(),
            limits.handshake.as_millis()
        );
        if let Some(s) = &c.shard {
            tracing::info!("shard {} of campaign {} (its chain starts at {})", s.spec(), s.root, s.start_cid);
        }
        let knobs = c.knobs.changed();
        if !knobs.is_empty() {
            tracing::info!("client knobs: {} (what every connection's own stack does)", knobs.join(", "));
        }
        tracing::warn!(
        "0-RTT is not implemented by s2n-quic/s2n-tls: plans that ask for it run without it (counted in the summary)"
    );
    }

    if let Some(dead) = watch.died_at_start() {
        return record_start_death(c, &mut log, watch, dead).await;
    }

    let started = Instant::now();
    let deadline = c.duration.map(|d| tokio::time::Instant::now() + d);
    let end_seq = c.count.map(|n| c.start_seq.saturating_add(n));
    let schedule = CheckpointSchedule { every: c.checkpoint_every };
    let mut tracker = CheckpointTracker::new(c.start_seq);
    let mut summary = Summary::default();
    let progress = Progress::new(c.progress, c.count);
    let (mut cancel_tx, mut cancel_rx) = tokio::sync::watch::channel(false);
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
    let mut repeats = RepeatDetector::new(c.shard.as_ref());
    // Each connection in flight's launch number (for the pacer), and how often a connection
    // was refused before; refused connections wait here to run again with the same CID.
    let mut launches: HashMap<u64, u64> = HashMap::new();
    let mut refused_before: HashMap<u64, u32> = HashMap::new();
    let mut refused: VecDeque<ConnReport> = VecDeque::new();
    // A probe of a busy server, due after a wait; and why a busy server was called down.
    let mut probe_again: Option<(ProbeKind, Duration)> = None;
    let mut busy_down: Option<String> = None;
    // Keeping going (module `crate::findings`): the findings directory, what this run recorded,
    // the fresh servers brought up, the first seq the server in service has seen (reports of
    // connections before it belong to a dead server's window), and the death that stopped the
    // campaign, once recorded.
    let mut findings = match &c.findings {
        Some(f) => Some(FindingStore::open(&f.dir)?),
        None => None,
    };
    let mut found: Vec<Recorded> = Vec::new();
    // New findings are triaged while the campaign goes on (module `crate::findings::triage`).
    let triage_wanted = c.findings.as_ref().is_some_and(|f| f.triage);
    let mut triage_queue = TriageQueue::default();
    let mut restarts = 0u64;
    let mut server_since = c.start_seq;
    let mut server_since_cid = c.start_cid;
    let mut chain_ended = false;
    let mut down: Option<DownRecord> = None;
    // A death recorded while keeping going: the server to restart once nothing is in flight.
    let mut restart_due: Option<DownRecord> = None;
    // Leaks (module `fuzz_shared::leak`): the supervised server's RSS at each confirmed checkpoint
    // feeds a detector of the server in service; a leak is recorded like a death, with its own
    // cause (it overrides the alive server's `silent`, as a busy verdict does) and its window
    // (the checkpoints between which the memory grew), and the server is restarted.
    let leak_rule = c.findings.as_ref().map_or(LeakRule::default(), |f| f.leak);
    let mut leaks = LeakDetector::new(leak_rule);
    let mut leak_down: Option<(String, Window)> = None;

    // Ctrl-C or SIGTERM (a Kubernetes pod being stopped).
    let ctrl_c = interrupt::interrupted();
    tokio::pin!(ctrl_c);

    loop {
        // A server found down (by a probe, a failure streak or its exit, in the previous turn):
        // record it, then stop or bring up a fresh one. First thing in the turn, so every way of
        // finding it down (some arms below end their turn early) comes here.
        if server_down && at_down.is_none() {
            // Now, before the connections in flight are closed: what the server last saw.
            at_down = Some(ep.flights());
        }
        if server_down && down.is_none() && restart_due.is_none() {
            let (leak_cause, leak_window) = leak_down.take().unzip();
            let window = leak_window.unwrap_or(Window {
                from: last_cp,
                end: next_seq,
                server_from: (server_since, server_since_cid),
            });
            let flights = at_down.take().unwrap_or_else(|| ep.flights());
            let record = record_down(
                c,
                &mut log,
                watch,
                findings.as_mut(),
                flights,
                window,
                pacer.concurrency(),
                busy_down.take().or(leak_cause),
            )
            .await?;
            // Connections the dead server refused are its window too: not run again.
            for report in refused.drain(..) {
                log.end(&mut summary, &report, Some("CONNECTION_REFUSED; not run again: the server went down".into()))?;
                tracker.finish(report.seq);
            }
            let finding = record.finding.clone();
            if let Some(f) = &finding {
                let seen =
                    if f.new { "new finding".to_string() } else { format!("finding seen again ({} times)", f.count) };
                progress.println(&format!(
                    "{seen}: {} [{}], window seq {}..{}; {}",
                    f.summary,
                    f.id,
                    window.from.0,
                    window.end,
                    f.dir.display()
                ));
                found.push(f.clone());
                if let (true, Some(store)) = (f.new && triage_wanted && !interrupted, findings.as_ref()) {
                    triage_queue.push(store, &f.id);
                }
            }
            // Distinct bugs this run met, whether the findings directory knew them already or not:
            // a restart of a run that stopped at its first finding stops at it again.
            let distinct = found.iter().map(|f| &f.id).collect::<std::collections::HashSet<_>>().len() as u32;
            let go_on = match (&c.findings, &finding) {
                (Some(policy), Some(_)) => {
                    !interrupted
                        && !chain_ended
                        && end_seq.is_none_or(|e| next_seq < e)
                        && deadline.is_none_or(|d| tokio::time::Instant::now() < d)
                        && policy.max.is_none_or(|max| distinct < max)
                }
                _ => false,
            };
            if !go_on {
                down = Some(record);
                continue;
            }
            restart_due = Some(record);
        }
        // The fresh server starts once the dead one's connections (cancelled) have ended: one
        // still in its handshake would send its fuzzed Initials to the fresh server, and kill
        // it before the campaign resumed, as if clean traffic had.
        if in_flight == 0 && restart_due.is_some() {
            let record = restart_due.take().expect("checked");
            if interrupted {
                down = Some(record);
                continue;
            }
            let finding = record.finding.clone();
            // Nor may a connection the endpoint still holds (an attempt given up on goes on
            // sending its Initials until its handshake times out, up to the connection cap):
            // they are muted, which waiting for them to go would cost seconds per death.
            let muted = ep.mute_live_connections();
            tracing::debug!("{muted} connection(s) of the dead server muted before the restart");
            let wait = c.findings.as_ref().map_or(Duration::ZERO, |f| f.down_wait);
            let restart = tokio::select! {
                r = watch.restart(c, wait) => Some(r?),
                _ = &mut ctrl_c => {
                    tracing::warn!("interrupted while the server was restarted");
                    interrupted = true;
                    None
                }
            };
            match restart {
                Some(Restart::Serving(times)) => {
                    // The fresh server's speed is a sample like any clean probe's.
                    if let Some(h) = times.handshake {
                        probe_times.on_sample(h);
                        limits = fit(&probe_times, &ep);
                    }
                }
                Some(Restart::NotServing(why)) => {
                    tracing::warn!("{why}: stopping the campaign");
                    down = Some(record);
                    continue;
                }
                Some(Restart::CleanTrafficKills(death)) => {
                    tracing::warn!(
                        "the fresh server died of the clean start-up probe ({}): clean traffic kills it; stopping the \
                         campaign",
                        death.cause.as_deref().unwrap_or("stopped answering")
                    );
                    let record = record_down(
                        c,
                        &mut log,
                        watch,
                        findings.as_mut(),
                        (Vec::new(), 0),
                        Window { from: (next_seq, next_cid), end: next_seq, server_from: (next_seq, next_cid) },
                        pacer.concurrency(),
                        None,
                    )
                    .await?;
                    found.extend(record.finding.clone());
                    down = Some(record);
                    continue;
                }
                None => {
                    down = Some(record);
                    continue;
                }
            }
            // A fresh server: the campaign goes on at the next CID. The connections still in
            // flight were cancelled and end on their own; the restart point is a checkpoint
            // once they have (and a probe passes), and the window of the next death starts here.
            restarts += 1;
            let id = finding.map(|f| f.id).unwrap_or_default();
            log.write(Event::ServerRestarted { seq: next_seq, cid: next_cid, finding: id, restarts })?;
            progress.println(&format!("fresh server started: going on at #{next_seq} {next_cid}"));
            let (tx, rx) = tokio::sync::watch::channel(false);
            (cancel_tx, cancel_rx) = (tx, rx);
            server_down = false;
            stopping = false;
            final_checked = false;
            streak = 0;
            health_wanted = None;
            health_running = false;
            probe_again = None;
            if let Some(p) = probe_task.take() {
                p.abort();
            }
            pacer.on_server_restarted();
            pending_cps.clear();
            pending_cps.push_back((next_seq, next_cid, watch.rss_kb()));
            last_cp = (next_seq, next_cid);
            server_since = next_seq;
            server_since_cid = next_cid;
            leaks = LeakDetector::new(leak_rule);
        }

        // Launch what may be launched. A health probe (wanted or running) pauses launching, so a
        // dead server does not burn the chain while it is being checked; so does a busy server
        // (the pacer), and the pacer sets the concurrency. Refused connections run again first.
        while !server_down && !interrupted && pacer.may_launch(in_flight) && !health_running && health_wanted.is_none()
        {
            if let Some(again) = refused.pop_front() {
                let (seq, cid) = (again.seq, again.cid);
                launches.insert(seq, pacer.on_launch(Instant::now()));
                let t = Timeouts { idle: limits.idle, ..c.timeouts };
                let lineage = guide.as_ref().map(|g| g.lineage(seq, &cid)).unwrap_or_default();
                spawn_connection(
                    &ep,
                    &done_tx,
                    &cancel_rx,
                    seq,
                    cid,
                    ConnectionPlan::of(&cid, lineage, Role::Client, c.plan_inputs()),
                    (c.fuzzing(), c.only.as_ref()),
                    t,
                );
                in_flight += 1;
                continue;
            }
            if stopping
                || end_seq.is_some_and(|e| next_seq >= e)
                // Launching runs ahead of unconfirmed checkpoints (a slow connection must not
                // stall the campaign), within a bound on how many wait.
                || pending_cps.len() >= MAX_PENDING_CHECKPOINTS
            {
                break;
            }
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                stopping = true;
                break;
            }
            let seq = next_seq;
            let cid = next_cid;
            // A child's parents come from connections below its generation: when this run
            // credits them itself, each must have ended (and been credited) first.
            if guide.as_ref().and_then(|g| g.launch_waits_for(seq)).is_some_and(|below| !tracker.all_done_before(below))
            {
                break;
            }
            if let Some(repeat) = repeats.observe(seq, &cid) {
                // Every further connection would run again what already ran: stop launching.
                tracing::warn!("#{seq} {cid}: {repeat}; stopping the campaign (README: shards)");
                let (first_seq, shard_start_of) = match repeat {
                    Repeat::OwnCycle { first_seq } => (Some(first_seq), None),
                    Repeat::ShardStart { index } => (None, Some(index)),
                };
                log.write(Event::ChainRepeat { seq, cid, detail: repeat.to_string(), first_seq, shard_start_of })?;
                stopping = true;
                chain_ended = true;
                break;
            }
            if seq == next_cp {
                pending_cps.push_back((seq, cid, watch.rss_kb()));
                next_cp = schedule.next_after(seq);
            }
            if c.only_seqs.as_ref().is_some_and(|only| !only.contains(&seq)) {
                // Not one of the chosen connections: its place in the chain passes, unrun.
                tracker.finish(seq);
                next_seq += 1;
                next_cid = chain::next(&cid);
                continue;
            }
            let lineage = guide.as_ref().map(|g| g.lineage(seq, &cid)).unwrap_or_default();
            let plan = ConnectionPlan::of(&cid, lineage, Role::Client, c.plan_inputs());
            if plan.attempt_0rtt {
                summary.zero_rtt_unsupported += 1;
            }
            tracing::debug!(target: "mutation", "#{seq} {cid} plan: {}", serde_json::to_string(&plan).unwrap_or_default());
            log.write(Event::CidStart { seq, cid, plan: plan.clone() })?;
            launches.insert(seq, pacer.on_launch(Instant::now()));
            let t = Timeouts { idle: limits.idle, ..c.timeouts };
            spawn_connection(&ep, &done_tx, &cancel_rx, seq, cid, plan, (c.fuzzing(), c.only.as_ref()), t);
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
            let settings =
                |delay| ProbeSettings { policy: c.probe.clone(), cap: c.timeouts.cap, idle: limits.idle, delay };
            if let Some((kind, wait)) = probe_again.take() {
                // A busy server: the same question again, after a wait.
                probe_task = Some(tokio::spawn(probe(ep.clone(), kind, settings(wait))));
            } else if let Some(cid) = health_wanted.take() {
                health_running = true;
                probe_task = Some(tokio::spawn(probe(ep.clone(), ProbeKind::Health { cid }, settings(Duration::ZERO))));
            } else if let Some(&(seq, cid, _)) = pending_cps.front().filter(|(seq, _, _)| tracker.all_done_before(*seq))
            {
                probe_task =
                    Some(tokio::spawn(probe(ep.clone(), ProbeKind::Checkpoint { seq, cid }, settings(Duration::ZERO))));
            } else if !refused.is_empty() || !stopping || in_flight > 0 || final_checked {
                // Not the end yet.
            } else if last_cp.0 == next_seq && next_seq != c.start_seq {
                // The last checkpoint is the end of the campaign: it was the final probe.
                final_checked = true;
            } else {
                final_checked = true;
                probe_task =
                    Some(tokio::spawn(probe(ep.clone(), ProbeKind::Final { cid: next_cid }, settings(Duration::ZERO))));
            }
        }

        if (stopping || down.is_some() || interrupted)
            && in_flight == 0
            && probe_task.is_none()
            && (final_checked || down.is_some() || interrupted)
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
                let launch = launches.remove(&report.seq).unwrap_or(0);
                // Read as the connection ends: what the server's coverage gained is its credit.
                let credit = watch.credit();
                let mut report = report;
                let of_this_server = report.seq >= server_since;
                if report.outcome == Outcome::Refused && !server_down && !interrupted && of_this_server {
                    // Busy, not down: the connection runs again with the same CID once the
                    // server is ready (it took no state for it, RFC 9000 §5.2.2).
                    *refused_before.entry(report.seq).or_default() += 1;
                    if let Busyness::BusyNow { wait } = pacer.on_refused(launch, Instant::now(), server_idle(&ep)) {
                        let seen = format!("connection #{} {} refused: CONNECTION_REFUSED", report.seq, report.cid);
                        log_busy(&mut log, &progress, &seen, (next_seq, in_flight), &pacer, wait)?;
                        if probe_task.is_none() {
                            probe_again = Some((ProbeKind::Ready { cid: report.cid }, wait));
                        }
                    }
                    refused.push_back(report);
                    continue;
                }
                if let Some(n) = refused_before.remove(&report.seq) {
                    let note = format!("refused {n} time(s) before (server busy), run again with the same CID");
                    report.detail = Some(match report.detail.take() {
                        Some(d) => format!("{d}; {note}"),
                        None => note,
                    });
                }
                // Only handshakes nothing was mutated in measure the server's load: a plan that
                // fuzzes `ready` or `closing` starts mutating after its handshake, while a fuzzed
                // handshake's time is the mutation's doing (retransmissions, stalls).
                let clean_handshake = c.mode == Mode::Clean || matches!(report.fuzz_state, FuzzState::Ready | FuzzState::Closing);
                pacer.on_finished(launch, report.handshake.filter(|_| clean_handshake), Instant::now());
                // A completed connection taught the endpoint how long this server may be silent.
                if report.outcome == Outcome::Completed {
                    limits = fit(&probe_times, &ep);
                }
                log.end(&mut summary, &report, report.detail.clone())?;
                if let (Some(g), Some(new)) = (guide.as_mut(), credit) {
                    let lineage = g.lineage(report.seq, &report.cid);
                    if let Some(entry) = g.credit(report.seq, report.cid, &lineage, new) {
                        log.write(entry.into())?;
                    }
                }
                crate::quic::qlog_files::pin_if_culprit(&report);
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
                progress.inc(&report);
                match report.outcome {
                    // A refusal is counted here only when the campaign is stopping anyway.
                    // A dead server's connections say nothing of the fresh one.
                    _ if !of_this_server => {}
                    Outcome::HandshakeFailed | Outcome::Timeout => {
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
                match &result.verdict {
                    Verdict::Silent => {
                        if let Some(wait) = pacer.on_probe_silent(Instant::now(), server_idle(&ep)) {
                            tracing::info!(
                                "clean probes got no answer from a server busy since it refused connections: \
                                 it may still be shedding them (its idle timeout, RFC 9000 §10.1); next probe in {} ms",
                                wait.as_millis()
                            );
                            probe_again = Some((result.kind, wait));
                            continue;
                        }
                        server_down = true;
                        stopping = true;
                        cancel_tx.send_replace(true);
                        continue;
                    }
                    Verdict::Busy(seen) => {
                        match pacer.on_probe_busy(Instant::now(), server_idle(&ep)) {
                            Busyness::BusyNow { wait } => {
                                log_busy(&mut log, &progress, seen, (next_seq, in_flight), &pacer, wait)?;
                                probe_again = Some((result.kind, wait));
                            }
                            Busyness::StillBusy { wait } => {
                                tracing::debug!("server still busy ({seen}): next probe in {} ms", wait.as_millis());
                                probe_again = Some((result.kind, wait));
                            }
                            Busyness::TimedOut { busy_for, refused: n, probes } => {
                                let why = format!(
                                    "busy: refused or closed clean connections for {:.1} s, past --busy-timeout {} s \
                                     ({n} connections refused, {probes} probes; the last: {seen})",
                                    busy_for.as_secs_f64(),
                                    c.busy_timeout.as_secs_f64()
                                );
                                tracing::warn!("{why}");
                                busy_down = Some(why);
                                server_down = true;
                                stopping = true;
                                cancel_tx.send_replace(true);
                            }
                            Busyness::Unchanged => {}
                        }
                        continue;
                    }
                    Verdict::Up => {}
                }
                if let Some(h) = result.handshake {
                    probe_times.on_sample(h);
                    limits = fit(&probe_times, &ep);
                }
                if let Some(ready) = pacer.on_probe_ok(Instant::now()) {
                    log.write(Event::ServerReady {
                        busy_ms: ready.busy_for.as_millis() as u64,
                        refused: ready.refused,
                        probes: ready.probes,
                        concurrency: pacer.concurrency(),
                    })?;
                    progress.println(&format!(
                        "server ready after {} ms busy ({} refused): resuming at concurrency {}",
                        ready.busy_for.as_millis(),
                        ready.refused,
                        pacer.concurrency()
                    ));
                }
                match result.kind {
                    ProbeKind::Checkpoint { seq, cid } => {
                        let rss = pending_cps.front().and_then(|&(_, _, rss)| rss);
                        let pacing = Some(pacing_state(&pacer, limits, &probe_times, &ep));
                        let coverage = watch.coverage();
                        log.write(Event::Checkpoint {
                            seq,
                            cid,
                            server_up: true,
                            probe_ms: result.probe_ms,
                            server_rss_kb: rss,
                            pacing,
                            edges: coverage.map(|c| c.edges),
                            corpus: guide.as_ref().filter(|_| credits).map(|g| g.corpus.len() as u64),
                        })?;
                        crate::quic::qlog_files::release(seq);
                        let corpus = guide.as_ref().filter(|_| credits).map(|g| g.corpus.len());
                        let edges = coverage
                            .map(|c| {
                                format!(
                                    ", {} edges (+{} new, +{} new counts), corpus {}",
                                    c.edges,
                                    c.new.edges,
                                    c.new.buckets,
                                    corpus.unwrap_or(0)
                                )
                            })
                            .unwrap_or_default();
                        progress.println(&format!(
                            "checkpoint #{seq} cid {cid}: server up (probe {} ms), concurrency {}, idle limit {} ms{edges}",
                            result.probe_ms,
                            pacer.concurrency(),
                            limits.idle.as_millis()
                        ));
                        progress.checkpoint(seq, cid, rss);
                        last_cp = (seq, cid);
                        pending_cps.pop_front();
                        if let Some(leak) = rss.and_then(|kb| leaks.on_checkpoint(seq, kb)) {
                            let cause = leak.cause();
                            progress.println(&format!("{cause}: a leak finding; the server is restarted"));
                            let from = (leak.from.seq, chain::nth(c.start_cid, leak.from.seq - c.start_seq));
                            leak_down = Some((cause, Window { from, end: leak.to.seq, server_from: (server_since, server_since_cid) }));
                            server_down = true;
                            stopping = true;
                            cancel_tx.send_replace(true);
                        }
                    }
                    ProbeKind::Health { .. } => tracing::info!("server answered the probe: the failures were the connections'"),
                    ProbeKind::Final { .. } | ProbeKind::Ready { .. } => {}
                }
            }
            _ = watch.exited(), if !server_down => {
                // Faster and more exact than probes timing out: the process is gone.
                if c.quiet {
                    tracing::debug!("the supervised server exited: the connections in flight are cancelled");
                } else {
                    tracing::warn!("the supervised server exited: the connections in flight are cancelled");
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
            triaged = triage_queue.next(), if triage_queue.is_busy() => {
                if let Some(store) = findings.as_mut() {
                    triage::apply(store, triaged)?;
                }
            }
            _ = &mut ctrl_c, if !interrupted => {
                tracing::warn!("interrupted: closing the connections in flight");
                interrupted = true;
                stopping = true;
                cancel_tx.send_replace(true);
                if let Some(p) = probe_task.take() { p.abort(); }
            }
        }
    }
    // Refused connections that never ran again (the server went down, or Ctrl-C) end as refused.
    for report in refused.drain(..) {
        log.end(&mut summary, &report, Some("CONNECTION_REFUSED; not run again: the campaign stopped".into()))?;
        tracker.finish(report.seq);
    }
    summary.busy_periods = pacer.busy_periods;
    summary.refusals = pacer.refusals;
    summary.concurrency = Some((pacer.concurrency(), c.auto_concurrency));
    progress.finish();
    // The campaign's own time (its rate in run_end and the summary), without the triage's.
    let elapsed = started.elapsed();
    // The triage of what this run found ends before the campaign does (Ctrl-C stops it: its
    // servers are killed, its findings stay untriaged).
    if !interrupted && triage_queue.len() > 0 {
        eprintln!("{}", &format!("waiting for the triage of {} finding(s)", triage_queue.len()));
        while triage_queue.is_busy() {
            let triaged = tokio::select! {
                t = triage_queue.next() => t,
                _ = &mut ctrl_c => {
                    tracing::warn!("interrupted: the triage stops");
                    interrupted = true;
                    break;
                }
            };
            if let Some(store) = findings.as_mut() {
                triage::apply(store, triaged)?;
            }
        }
    }
    drop(triage_queue);
    let end = if let Some(down) = down.take() {
        let DownRecord { repro, bisect, death, crash_pcap, .. } = down;
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
        eprint!("{}", summary.render_oracle(&c.argv));
        let tickets = ep.tickets.received.load(std::sync::atomic::Ordering::Relaxed);
        eprintln!("session tickets received: {tickets}");
    }
    Ok(CampaignResult { end, connections: summary.connections(), elapsed, findings: found, restarts })
}

/// Starts connection `seq` (`cid`, `plan`); its report goes to `done`.
#[allow(clippy::too_many_arguments)]
fn spawn_connection(
    ep: &Arc<ClientEndpoint>,
    done: &mpsc::UnboundedSender<ConnReport>,
    cancel: &tokio::sync::watch::Receiver<bool>,
    seq: u64,
    cid: Cid,
    plan: ConnectionPlan,
    (fuzzing, only): (Fuzzing, Option<&ContentSet>),
    t: Timeouts,
) {
    let (ep, done, cancel, only) = (ep.clone(), done.clone(), cancel.clone(), only.cloned());
    tokio::spawn(async move {
        // A resuming plan runs its priming connection first (module `quic::resumption`).
        let report = resumption::run(&ep, (seq, cid, plan), (fuzzing, only.as_ref()), t, cancel).await;
        let _ = done.send(report);
    });
}

/// The pacing in force, for `run_start` and `checkpoint`.
fn pacing_state(pacer: &Pacer, limits: Limits, probes: &SmoothedTimes, ep: &ClientEndpoint) -> Pacing {
    Pacing {
        concurrency: pacer.concurrency(),
        auto: pacer.setting() == ConcurrencySetting::Auto,
        idle_ms: limits.idle.as_millis() as u64,
        handshake_ms: limits.handshake.as_millis() as u64,
        probe_handshake_ms: probes.smoothed().map(|d| d.as_millis() as u64),
        silence_ms: ep.recent_silence().map(|d| d.as_millis() as u64),
        server_idle_ms: ep.server_idle_timeout().map(|d| d.as_millis() as u64),
    }
}

/// Logs the start of a busy period (`server_busy`) and says it on stderr.
fn log_busy(
    log: &mut Log,
    progress: &Progress,
    seen: &str,
    (next_seq, in_flight): (u64, usize),
    pacer: &Pacer,
    wait: Duration,
) -> anyhow::Result<()> {
    log.write(Event::ServerBusy {
        seen: seen.to_string(),
        next_seq,
        in_flight: in_flight as u64,
        concurrency: pacer.concurrency(),
        wait_ms: wait.as_millis() as u64,
    })?;
    progress.println(&format!(
        "server busy ({seen}): launching paused, concurrency lowered to {}, probing in {} ms",
        pacer.concurrency(),
        wait.as_millis()
    ));
    Ok(())
}

/// The idle timeout the endpoint announces (RFC 9000 §10.1: each end advertises
/// max_idle_timeout and the minimum applies, so the server, too, forgets a silent connection of
/// ours soon). It bounds the fitted idle limit: past it the transport ends a silent connection
/// anyway.
fn transport_idle(c: &CampaignConfig) -> Duration {
    (c.timeouts.idle * 4).max(Duration::from_secs(2))
}

/// The client endpoint a campaign (or its start-up check) makes its connections from.
fn start_endpoint(c: &CampaignConfig) -> anyhow::Result<Arc<ClientEndpoint>> {
    ClientEndpoint::start(&EndpointSettings {
        server: c.server,
        server_name: &c.server_name,
        alpn: &c.alpn,
        ca: c.ca.as_deref(),
        transport_idle: transport_idle(c),
        handshake_cap: c.timeouts.cap,
        initial_rtt: c.initial_rtt,
        expect_sizes: c.expect_sizes,
        knobs: c.knobs,
    })
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
