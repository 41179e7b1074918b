//! Running a campaign against a server the client starts itself (`--server-cmd`).
//!
//! One function, [`run`], serves the campaign, `replay` and every trial of `bisect`: start the
//! server command under a [`Supervisor`], wait until a clean probe succeeds (a server that never
//! comes up is bad input, exit status 2, with its stderr shown), run the campaign with the
//! supervisor as its [`ServerWatch`] (so the process exiting stops the campaign at once, and each
//! checkpoint records the server's resident memory), then stop the server with SIGTERM.
//! A server that dies of the clean start-up probe is not bad input: clean traffic kills it, and
//! a campaign (which records findings) records it as its finding and exits with the status of a
//! found bug ([`crate::campaign::ServerWatch::died_at_start`]); other commands (replay, bisect
//! and minimization trials) still call it a start-up error.
//! Without a server command, the server must answer a clean probe within a few seconds, and
//! then it is just [`campaign::run`]. [`ServerUnderTest`] is the same start and stop around
//! anything else (`replay --pcap`).

use crate::campaign::supervise::{describe_exit, Supervisor};
use crate::campaign::{
    self, CampaignConfig, CampaignResult, Death, Restart, ServerWatch, StartDeath, StartUp, StartupTimes, Unwatched,
};
use crate::coverage::{Coverage, CoverageKind, EdgesAt};
use futures::future::BoxFuture;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long `server_down` waits for a server that stopped answering to exit, so that its exit
/// status and the end of its sanitizer report make it into the log.
const DEATH_WAIT: Duration = Duration::from_secs(2);
/// How long a server the client did not start may take to answer before the campaign.
const UNSUPERVISED_START: Duration = Duration::from_secs(5);
/// How long a stopped server gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The server to start: `--server-cmd` and friends.
#[derive(Clone, Debug)]
pub struct ServerCmd {
    /// A shell command line (run with `sh -c 'exec ...'`).
    pub command: String,
    /// How long the server may take to answer its first probe.
    pub start_timeout: Duration,
    /// Where all of its stderr is appended (`<log>.server-stderr`), if anywhere.
    pub stderr_copy: Option<PathBuf>,
    /// Whose coverage the campaign reads (`--coverage`); the servers of triage trials write none.
    pub coverage: Option<CoverageKind>,
}

impl ServerCmd {
    /// The server's stderr goes next to the run log, when there is one.
    pub fn new(command: String, start_timeout: Duration, log: Option<&Path>) -> Self {
        let stderr_copy = log.map(|l| campaign::next_to(l, ".server-stderr"));
        Self { command, start_timeout, stderr_copy, coverage: None }
    }
}

/// The server could not be started or never answered: bad input (exit status 2), not a finding.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// A [`Supervisor`] as the campaign's [`ServerWatch`].
pub struct Watched {
    sup: Supervisor,
    /// The command, to start a fresh server after a death.
    server: ServerCmd,
    /// It died of the clean start-up probe, for the campaign to record.
    start_death: Option<StartDeath>,
    /// The map the server (and every server restarted after it) writes its coverage into.
    coverage: Option<Coverage>,
}

impl Watched {
    /// The environment of the server command: the coverage map's, when there is one.
    fn env(&self) -> Vec<(String, String)> {
        self.coverage.as_ref().map(Coverage::server_env).unwrap_or_default()
    }
}

impl ServerWatch for Watched {
    fn rss_kb(&mut self) -> Option<u64> {
        self.sup.rss_kb()
    }

    fn coverage(&mut self) -> Option<EdgesAt> {
        self.coverage.as_mut().map(Coverage::at_checkpoint)
    }

    fn credit(&mut self) -> Option<fuzz_shared::coverage::NewCoverage> {
        self.coverage.as_mut().map(Coverage::credit)
    }

    fn exited(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.sup.wait().await;
        })
    }

    fn death(&mut self) -> BoxFuture<'_, Death> {
        Box::pin(async move {
            let cpu_before = self.sup.cpu_time();
            let waited = std::time::Instant::now();
            let (cause, cpu_percent) = match self.sup.wait_exit(DEATH_WAIT).await {
                Some(status) => (describe_exit(status), None),
                None => {
                    let used = self.sup.cpu_time().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
                    let percent =
                        used.map(|u| (100.0 * u.as_secs_f64() / waited.elapsed().as_secs_f64()).round() as u32);
                    (describe_silence(percent), percent)
                }
            };
            Death {
                cause: Some(cause),
                stderr_tail: self.sup.stderr_tail(),
                report: self.sup.stderr_report(),
                cpu_percent,
            }
        })
    }

    fn died_at_start(&mut self) -> Option<StartDeath> {
        self.start_death.take()
    }

    fn restart<'a>(&'a mut self, c: &'a CampaignConfig, _wait: Duration) -> BoxFuture<'a, anyhow::Result<Restart>> {
        Box::pin(async move {
            // A fresh server that dies before it answered may have met the dead server's last
            // packets (a connection of its window still sending, its closes fuzzed too), not clean
            // traffic: a second fresh server, after a pause, settles which.
            let mut attempt = 0;
            loop {
                attempt += 1;
                // The old process is dead, or alive but hung (it may ignore SIGTERM): a short
                // grace, and it must be gone before a fresh one binds its port.
                self.sup.terminate(RESTART_GRACE).await;
                let env = self.env();
                self.sup = match Supervisor::start(&self.server.command, self.server.stderr_copy.as_deref(), &env).await
                {
                    Ok(sup) => sup,
                    Err(e) => {
                        return Ok(Restart::NotServing(format!(
                            "starting the server command {:?} again: {e}",
                            self.server.command
                        )))
                    }
                };
                let limit = self.server.start_timeout;
                return Ok(match campaign::wait_until_serving_timed(c, self, limit).await? {
                    (StartUp::Serving, times) => Restart::Serving(times),
                    (StartUp::Exited, _) if attempt < RESTART_ATTEMPTS => {
                        let death = self.death().await;
                        tracing::warn!(
                            "the fresh server died before it answered ({}); starting another in {} s",
                            death.cause.as_deref().unwrap_or("exited"),
                            RESTART_SETTLE.as_secs_f64()
                        );
                        tokio::time::sleep(RESTART_SETTLE).await;
                        continue;
                    }
                    (StartUp::Exited, _) => Restart::CleanTrafficKills(self.death().await),
                    (StartUp::Silent, _) => Restart::NotServing(format!(
                        "the fresh server did not answer a clean probe within {} s",
                        self.server.start_timeout.as_secs_f64()
                    )),
                });
            }
        })
    }
}

/// Fresh servers tried after a death before one that dies of the clean start-up probe means
/// clean traffic kills the server.
const RESTART_ATTEMPTS: u32 = 2;

/// The pause before a second fresh server: longer than the client's connections linger after
/// they were cancelled.
const RESTART_SETTLE: Duration = Duration::from_secs(2);

/// How long a server that went down gets between SIGTERM and SIGKILL before a fresh one starts.
const RESTART_GRACE: Duration = Duration::from_millis(500);

/// CPU use (percent of one core) from which a silent, living server counts as hung in a loop.
const HUNG_CPU_PERCENT: u32 = 20;

/// The cause of a server that is alive but does not answer: `hung` when it burns a core (an
/// infinite loop, the bug class a crash-only harness misses), `silent` otherwise (deadlocked,
/// stopped, or unreachable).
fn describe_silence(cpu_percent: Option<u32>) -> String {
    let wait = DEATH_WAIT.as_secs();
    match cpu_percent {
        Some(p) if p >= HUNG_CPU_PERCENT => {
            format!("hung: still running after {wait} s, not answering clean probes, using {p}% of a core")
        }
        Some(p) => format!("silent: still running after {wait} s, not answering clean probes, using {p}% of a core"),
        None => format!("silent: still running after {wait} s, but not answering clean probes"),
    }
}

/// Runs a campaign, around a server it starts and stops itself when `server` is given.
pub async fn run(config: CampaignConfig, server: Option<&ServerCmd>) -> anyhow::Result<CampaignResult> {
    let mut sut = ServerUnderTest::start(&config, server).await?;
    let config = CampaignConfig { startup: sut.startup, ..config };
    let result = campaign::run(config, sut.watch()).await;
    sut.stop().await;
    result
}

/// What a run measured of its supervised server's resident memory (KiB): once it answered its
/// start-up probe, and after the campaign's connections ended. `None` where there was no
/// process to read (not supervised, or it died).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RssAround {
    pub before_kb: Option<u64>,
    pub after_kb: Option<u64>,
}

impl RssAround {
    /// How much the memory grew, when both ends were measured.
    pub fn growth_kb(&self) -> Option<u64> {
        Some(self.after_kb?.saturating_sub(self.before_kb?))
    }
}

/// [`run`], measuring the server's resident memory before and after the campaign (a leak
/// bisection's trial, module `crate::triage::bisect`).
pub async fn run_measuring_rss(
    config: CampaignConfig,
    server: Option<&ServerCmd>,
) -> anyhow::Result<(CampaignResult, RssAround)> {
    let mut sut = ServerUnderTest::start(&config, server).await?;
    let config = CampaignConfig { startup: sut.startup, ..config };
    let before_kb = sut.watch().rss_kb();
    let result = campaign::run(config, sut.watch()).await;
    let after_kb = sut.watch().rss_kb();
    sut.stop().await;
    Ok((result?, RssAround { before_kb, after_kb }))
}

/// The server a command works against: started and supervised (`--server-cmd`), or running
/// elsewhere; either way it answered a clean probe before [`ServerUnderTest::start`] returned.
pub struct ServerUnderTest {
    watched: Option<Watched>,
    unwatched: Unwatched,
    /// What the start-up probes measured once it served (`campaign::wait_until_serving_timed`).
    pub startup: StartupTimes,
}

impl ServerUnderTest {
    /// Starts `server` (when given) and waits until it answers a clean probe connection.
    pub async fn start(config: &CampaignConfig, server: Option<&ServerCmd>) -> anyhow::Result<Self> {
        let Some(server) = server else {
            // A server that does not answer before the first CID is spent is a wrong address or a
            // server that is not running: bad input, said at once, rather than a campaign of failed
            // connections ending in `server_down`.
            let (up, startup) = campaign::wait_until_serving_timed(config, &mut Unwatched, UNSUPERVISED_START).await?;
            if up != StartUp::Serving {
                return Err(StartError(format!(
                    "the server at {} does not answer a clean connection (handshake, ALPN {}, GET /1) within {} s: \
                     is it running, and does it speak QUIC v1?",
                    config.target,
                    config.alpn,
                    UNSUPERVISED_START.as_secs()
                ))
                .into());
            }
            return Ok(Self { watched: None, unwatched: Unwatched, startup });
        };
        let coverage = match server.coverage {
            Some(kind) => Some(Coverage::prepare(kind, &server.command).await.map_err(StartError)?),
            None => None,
        };
        let env = coverage.as_ref().map(Coverage::server_env).unwrap_or_default();
        let sup = Supervisor::start(&server.command, server.stderr_copy.as_deref(), &env)
            .await
            .map_err(|e| StartError(format!("starting the server command {:?}: {e}", server.command)))?;
        let pid = sup.pid();
        let mut watched = Watched { sup, server: server.clone(), start_death: None, coverage };
        let limit = server.start_timeout;
        let mut startup = StartupTimes::default();
        let problem = match campaign::wait_until_serving_probed(config, &mut watched, limit).await {
            Ok((StartUp::Serving, times, _)) => {
                startup = times;
                None
            }
            Ok((StartUp::Exited, _, dead)) => {
                let death = watched.death().await;
                match dead {
                    // Clean traffic kills it: a campaign's finding (it records findings), not
                    // bad input.
                    Some(dead) if config.findings.is_some() && dead.killed_by_clean_traffic(death.cause.as_deref()) => {
                        tracing::debug!("server pid {pid} died of the clean start-up probe {}", dead.probe_cid);
                        watched.start_death = Some(dead);
                        return Ok(Self { watched: Some(watched), unwatched: Unwatched, startup });
                    }
                    _ => Some(format!(
                        "the server command exited ({}) before answering a clean probe",
                        death.cause.unwrap_or_default()
                    )),
                }
            }
            Ok((StartUp::Silent, _, _)) => Some(format!(
                "the server command did not start answering within {} s (at {})",
                limit.as_secs_f64(),
                config.target
            )),
            Err(e) => {
                watched.sup.stop(STOP_GRACE).await;
                return Err(e);
            }
        };
        // A server that answered without attaching the map writes no coverage: a blind run
        // under the name of a coverage one would mislead, so it is bad input.
        let problem = problem.or_else(|| {
            watched.coverage.as_ref().filter(|c| !c.attached()).map(|_| {
                "--coverage afl: the server answered but wrote no coverage (its AFL++ runtime did not attach the \
                 shared memory __AFL_SHM_ID names: is the binary the command runs the instrumented one?)"
                    .to_string()
            })
        });
        if let Some(problem) = problem {
            let tail = watched.sup.stderr_tail();
            watched.sup.stop(STOP_GRACE).await;
            let tail = if tail.is_empty() { "(nothing)".to_string() } else { tail.join("\n") };
            return Err(StartError(format!("{problem}; its stderr:\n{tail}\n(command: {})", server.command)).into());
        }
        tracing::debug!("server pid {pid} answers: {}", server.command);
        Ok(Self { watched: Some(watched), unwatched: Unwatched, startup })
    }

    /// The hook the campaign (or any other command) watches the server through.
    pub fn watch(&mut self) -> &mut dyn ServerWatch {
        match self.watched.as_mut() {
            Some(w) => w,
            None => &mut self.unwatched,
        }
    }

    /// Stops a server this command started (SIGTERM); nothing for one running elsewhere.
    pub async fn stop(self) {
        if let Some(w) = self.watched {
            w.sup.stop(STOP_GRACE).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_goes_next_to_the_log() {
        let s = ServerCmd::new("x".into(), Duration::from_secs(1), Some(Path::new("runs/a.jsonl")));
        assert_eq!(s.stderr_copy.as_deref(), Some(Path::new("runs/a.jsonl.server-stderr")));
        assert_eq!(ServerCmd::new("x".into(), Duration::from_secs(1), None).stderr_copy, None);
    }
}
