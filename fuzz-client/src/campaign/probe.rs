//! Probes: clean connections off the chain that prove the server up (a checkpoint's proof, a
//! health check after failures, the end of a campaign, readiness after a refusal), and the wait
//! until a server serves.

use super::{
    start_endpoint, CampaignConfig, InternalError, ProbePolicy, ServerWatch, StartDeath, StartupTimes, PROBE_SEQ,
};
use crate::quic::conn_state::{ConnShared, Fuzzing};
use crate::quic::connection::{self, ConnReport, Timeouts};
use crate::quic::endpoint::ClientEndpoint;
use fuzz_shared::{chain, Cid, ConnectionPlan, Outcome, Request};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// What a probe is for.
#[derive(Debug, Clone, Copy)]
pub(super) enum ProbeKind {
    /// The checkpoint at (seq, cid).
    Checkpoint { seq: u64, cid: Cid },
    /// Many consecutive failures: is the server still there?
    Health { cid: Cid },
    /// The end of the campaign.
    Final { cid: Cid },
    /// The server refused a connection: is it ready again?
    Ready { cid: Cid },
}

impl std::fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Checkpoint { seq, cid } => write!(f, "checkpoint #{seq} {cid}"),
            Self::Health { cid } => write!(f, "health check after {cid}"),
            Self::Final { cid } => write!(f, "end of campaign at {cid}"),
            Self::Ready { cid } => write!(f, "readiness after refused {cid}"),
        }
    }
}

impl ProbeKind {
    fn base_cid(&self) -> Cid {
        match *self {
            Self::Checkpoint { cid, .. } | Self::Health { cid } | Self::Final { cid } | Self::Ready { cid } => cid,
        }
    }
}

/// What the probes saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// A clean probe completed.
    Up,
    /// The server answered, but only to refuse or close: alive and busy (what was seen, in words).
    Busy(String),
    /// No answer at all.
    Silent,
}

pub(super) struct ProbeResult {
    pub(super) kind: ProbeKind,
    pub(super) verdict: Verdict,
    /// Duration of the successful try.
    pub(super) probe_ms: u64,
    /// Its handshake's duration.
    pub(super) handshake: Option<Duration>,
    pub(super) failed_tries: u64,
}

/// The plan of a probe: no mutation (the probe runs in clean mode), no resumption, one small
/// request whose answer proves the server serves.
pub(super) fn probe_plan() -> ConnectionPlan {
    ConnectionPlan::unfuzzed(vec![Request { path: "/1".into() }])
}

/// Runs one clean probe connection with CID `cid` (from the probe domain) to its end.
pub(super) async fn run_probe(ep: &ClientEndpoint, cid: Cid, t: Timeouts) -> ConnReport {
    let shared = ConnShared::new(PROBE_SEQ, cid, probe_plan(), Fuzzing::CLEAN);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    connection::run(ep, shared, t, rx).await
}

/// How a probe is made: the policy, the connections' hard cap, the idle limit in force (a probe
/// waits at least as long as the campaign's connections) and a wait before the first try (a busy
/// server is given time).
pub(super) struct ProbeSettings {
    pub(super) policy: ProbePolicy,
    pub(super) cap: Duration,
    pub(super) idle: Duration,
    pub(super) delay: Duration,
}

/// Probes until one try succeeds, the server shows it is busy, or it looks down.
///
/// Try k (from 0) uses `probe^(k+1)(cid)`: every probe CID is from the probe domain, so none
/// collides with the chain, and each retry gets a fresh CID, because a CID-seeded server (like
/// fuzz-server) fuzzes its own side of some probe connections, which then fail. A try the server
/// refused (CONNECTION_REFUSED) means busy at once. A try that failed otherwise although the
/// server answered proves the server alive: the next try follows at once, up to
/// `RESPONSIVE_TRIES` of them, and then the server counts as busy too (it answers, but only to
/// close). A silent try counts against the backoff list (a few tries with growing waits); when
/// it is used up, the server is down.
pub(super) async fn probe(ep: Arc<ClientEndpoint>, kind: ProbeKind, settings: ProbeSettings) -> ProbeResult {
    const RESPONSIVE_TRIES: u64 = 16;
    let ProbeSettings { policy, cap, idle, delay } = settings;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let idle = policy.idle.max(idle);
    let mut cid = kind.base_cid();
    let mut failed_tries = 0;
    let mut silent = 0;
    let mut responsive = 0;
    loop {
        cid = chain::probe(&cid);
        let t = Timeouts::new(idle, cap.max(idle * 3));
        let started = Instant::now();
        let report = run_probe(&ep, cid, t).await;
        if report.outcome.answered() {
            let probe_ms = started.elapsed().as_millis() as u64;
            return ProbeResult { kind, verdict: Verdict::Up, probe_ms, handshake: report.handshake, failed_tries };
        }
        failed_tries += 1;
        let detail = report.detail.map(|d| format!(" ({d})")).unwrap_or_default();
        let busy = |seen: String| ProbeResult {
            kind,
            verdict: Verdict::Busy(seen),
            probe_ms: 0,
            handshake: None,
            failed_tries,
        };
        if report.outcome == Outcome::Refused {
            return busy(format!("clean probe {cid} refused: CONNECTION_REFUSED"));
        }
        if report.received > 0 {
            responsive += 1;
            tracing::debug!(
                "probe {cid} ({kind}) failed with the server answering: {}{detail}",
                report.outcome.as_str()
            );
            if responsive < RESPONSIVE_TRIES {
                continue;
            }
            return busy(format!(
                "{responsive} clean probes failed although the server answered (the last: {}{detail})",
                report.outcome.as_str()
            ));
        }
        tracing::warn!("probe {cid} ({kind}) failed, no answer from the server: {}{detail}", report.outcome.as_str());
        match policy.backoff.get(silent) {
            Some(wait) => tokio::time::sleep(*wait).await,
            None => return ProbeResult { kind, verdict: Verdict::Silent, probe_ms: 0, handshake: None, failed_tries },
        }
        silent += 1;
    }
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
    Ok(wait_until_serving_timed(c, watch, limit).await?.0)
}

/// [`wait_until_serving`], and what its probes measured once the server serves: the first
/// samples of its speed, to which a campaign fits its limits (module `pacing`).
pub async fn wait_until_serving_timed(
    c: &CampaignConfig,
    watch: &mut dyn ServerWatch,
    limit: Duration,
) -> anyhow::Result<(StartUp, StartupTimes)> {
    let (up, times, _) = wait_until_serving_probed(c, watch, limit).await?;
    Ok((up, times))
}

/// [`wait_until_serving_timed`], and when the watched process exited during a probe, that probe
/// and the flight recorder's connections ([`StartDeath`]).
pub async fn wait_until_serving_probed(
    c: &CampaignConfig,
    watch: &mut dyn ServerWatch,
    limit: Duration,
) -> anyhow::Result<(StartUp, StartupTimes, Option<StartDeath>)> {
    let ep = start_endpoint(c)?;
    let died = |ep: &ClientEndpoint, probe_cid: Cid| Some(StartDeath { probe_cid, flights: ep.flights() });
    let none = StartupTimes::default();
    let deadline = tokio::time::Instant::now() + limit;
    // A probe's patience: a slow server's handshake may take a second (twice the idle period);
    // a server not listening yet loses the first Initial, which s2n-quic sends again at its
    // probe timeout (RFC 9002 §6.2), well within the idle period.
    let idle = ProbePolicy::default().idle;
    let t = Timeouts::new(idle, idle * 4);
    let mut cid = c.start_cid;
    loop {
        cid = chain::probe(&cid);
        let attempt = async {
            let report = run_probe(&ep, cid, t).await;
            if !report.outcome.answered() {
                tracing::debug!("start-up probe {cid}: {}", report.outcome.as_str());
                if report.received == 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            report.outcome.answered().then_some(report.handshake)
        };
        let first = tokio::select! {
            up = attempt => up,
            _ = watch.exited() => return Ok((StartUp::Exited, none, died(&ep, cid))),
            _ = tokio::time::sleep_until(deadline) => return Ok((StartUp::Silent, none, None)),
        };
        if let Some(first) = first {
            // The handshake that found the server serving may include its start-up: an Initial
            // sent before it listened is answered only after s2n-quic's probe timeout, and a
            // server's first handshake may load what later ones reuse. The campaign's limits are
            // fitted to this time (module `pacing`), so a second clean handshake measures the
            // server as it will be; the shorter of the two is its speed.
            cid = chain::probe(&cid);
            let second = tokio::select! {
                report = run_probe(&ep, cid, t) => report.outcome.answered().then_some(report.handshake).flatten(),
                _ = watch.exited() => return Ok((StartUp::Exited, none, died(&ep, cid))),
            };
            let handshake = [first, second].into_iter().flatten().min();
            return Ok((StartUp::Serving, StartupTimes { handshake, silence: ep.recent_silence() }, None));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok((StartUp::Silent, none, None));
        }
    }
}

/// Waits for the running probe; never resolves when there is none.
pub(super) async fn join_probe(task: &mut Option<JoinHandle<ProbeResult>>) -> anyhow::Result<ProbeResult> {
    match task.as_mut() {
        Some(t) => t.await.map_err(|e| InternalError(format!("the probe task failed: {e}")).into()),
        None => std::future::pending().await,
    }
}
