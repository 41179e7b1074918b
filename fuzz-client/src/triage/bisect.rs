//! `bisect`: the I/O driver of [`fuzz_shared::bisect::Bisector`].
//!
//! The pure search proposes trials (connections `start..start+count` of the window, in the
//! original numbering); each trial here is a short campaign against a *fresh* server started by
//! [`watch::run`], because the question is what a server that has seen only those connections
//! does. Connection #seq has CID `chain::nth(from, seq - from_seq)`. A trial kills the server if
//! any of its `--tries` runs ends with the server down (its process exited, or it stopped
//! answering clean probes). Progress goes to stderr, one line per trial, then the verdict with
//! the command that reproduces it.

use crate::campaign::watch::{self, ServerCmd};
use crate::campaign::{CampaignConfig, CampaignEnd, CampaignResult};
use crate::cli::UsageError;
use crate::triage::repro::{replay_command, shell_quote, window_command};
use fuzz_shared::bisect::{Bisector, Verdict};
use fuzz_shared::{chain, Cid};
use std::path::PathBuf;

/// How far along the chain `--until CID` is looked for.
pub const UNTIL_SEARCH_LIMIT: u64 = 1_000_000;

/// A checked `bisect` command.
#[derive(Debug)]
pub struct BisectJob {
    /// The settings every trial shares (connection options, concurrency); each trial sets its
    /// start, count and log.
    pub base: CampaignConfig,
    pub from: Cid,
    pub from_seq: u64,
    /// Connections in the window.
    pub count: u64,
    pub tries: u32,
    pub server: ServerCmd,
    /// `--log`: trial N of the search logs to `<log>.trial-N` (and its server's stderr next to it).
    pub log: Option<PathBuf>,
    pub argv: Vec<String>,
}

/// `--until`: a CID of the chain after `from` (the window ends with it), or a count of
/// connections. A CID is exactly 16 hex digits (the client's CID length); anything else must be
/// a positive decimal count.
pub fn parse_until(s: &str, from: &Cid) -> Result<u64, UsageError> {
    let s = s.trim();
    if s.len() == 2 * fuzz_shared::cid::CLIENT_LEN && s.chars().all(|c| c.is_ascii_hexdigit()) {
        let until: Cid = s.parse().map_err(|e| UsageError(format!("--until {s:?}: {e}")))?;
        return chain::iter(*from)
            .take(UNTIL_SEARCH_LIMIT as usize + 1)
            .position(|c| c == until)
            .map(|steps| steps as u64 + 1)
            .ok_or_else(|| {
                UsageError(format!(
                    "--until {until}: not among the {UNTIL_SEARCH_LIMIT} CIDs of the chain after --from {from}; \
                     give a CID of that chain or a number of connections"
                ))
            });
    }
    match s.parse::<u64>() {
        Ok(0) => Err(UsageError("--until 0: the window needs at least one connection".into())),
        Ok(n) => Ok(n),
        Err(_) => Err(UsageError(format!(
            "--until {s:?}: expected a CID of the chain (16 hex digits) or a number of connections"
        ))),
    }
}

/// Runs the search; the verdict has been printed when it returns. `None`: interrupted (Ctrl-C).
pub async fn run(job: &BisectJob) -> anyhow::Result<Option<Verdict>> {
    let mut search = Bisector::new(job.from_seq, job.count);
    let mut flaky_trials = 0;
    eprintln!(
        "bisect: seq {}..{} ({} connections from cid {}), {} run(s) per trial, each against a fresh server",
        job.from_seq,
        job.from_seq + job.count,
        job.count,
        job.from,
        job.tries
    );
    while let Some(trial) = search.next_trial() {
        let n = search.trials() + 1;
        let mut runs = TrialRuns::default();
        while let Some(attempt) = runs.next_run(job.tries) {
            let mut config = job.base.clone();
            config.start_cid = chain::nth(job.from, trial.start - job.from_seq);
            config.start_seq = trial.start;
            config.count = Some(trial.count);
            let suffix = if job.tries > 1 { format!("trial-{n}.{}", attempt + 1) } else { format!("trial-{n}") };
            config.log = job.log.as_ref().map(|l| {
                let mut name = l.as_os_str().to_owned();
                name.push(format!(".{suffix}"));
                PathBuf::from(name)
            });
            let server = ServerCmd::new(job.server.command.clone(), job.server.start_timeout, config.log.as_deref());
            let result = isolated(config, server).await?;
            match result.end {
                CampaignEnd::ServerDown { death, .. } => {
                    runs.record(Some(death.cause.unwrap_or_else(|| "stopped answering".into())))
                }
                CampaignEnd::Done => runs.record(None),
                CampaignEnd::Interrupted => {
                    eprintln!("bisect interrupted during trial {n}");
                    return Ok(None);
                }
            }
        }
        eprintln!(
            "trial {n}: seq {}..{} ({} connection{}): {}",
            trial.start,
            trial.end(),
            trial.count,
            if trial.count == 1 { "" } else { "s" },
            runs.describe()
        );
        if runs.flaky() {
            flaky_trials += 1;
        }
        search.record(runs.killed());
    }
    let verdict = search.verdict().expect("the search ends with a verdict");
    eprintln!("{}", describe(job, verdict, search.trials()));
    if flaky_trials > 0 {
        eprintln!(
            "{flaky_trials} trial(s) were flaky (their runs disagreed): the crash depends on timing as well; \
             a verdict from flaky trials may name a connection that kills only sometimes"
        );
    }
    Ok(Some(verdict))
}

/// Runs one trial's campaign on a runtime of its own, dropped (with every task on it) when the
/// trial ends. A connection abandoned in its handshake lives on inside s2n-quic's endpoint until
/// its idle timeout, retransmitting its Initial flight, mutated as the original was: left on a
/// shared runtime, it would reach the next trial's fresh server on the same port and kill it
/// before that trial began.
async fn isolated(config: CampaignConfig, server: ServerCmd) -> anyhow::Result<CampaignResult> {
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let result = runtime.block_on(watch::run(config, Some(&server)));
        runtime.shutdown_timeout(std::time::Duration::from_millis(200));
        result
    })
    .await?
}

/// The runs of one trial: `tries` runs, and as many again when they disagree, so that a crash
/// that depends on timing shows as a kill rate ("killed in 2 of 4 runs") instead of hiding in a
/// yes or no. A trial kills the server if any run did.
#[derive(Debug, Default)]
struct TrialRuns {
    runs: u32,
    /// The cause of each run that killed the server.
    kills: Vec<String>,
}

impl TrialRuns {
    /// The index of the next run to make, if any.
    fn next_run(&self, tries: u32) -> Option<u32> {
        let tries = tries.max(1);
        let wanted = if self.flaky() { 2 * tries } else { tries };
        (self.runs < wanted).then_some(self.runs)
    }

    fn record(&mut self, killed: Option<String>) {
        self.runs += 1;
        self.kills.extend(killed);
    }

    fn killed(&self) -> bool {
        !self.kills.is_empty()
    }

    fn flaky(&self) -> bool {
        self.killed() && (self.kills.len() as u32) < self.runs
    }

    fn describe(&self) -> String {
        match self.kills.first() {
            None => format!("server survived {} run(s)", self.runs),
            Some(cause) => format!("server killed in {} of {} run(s) ({cause})", self.kills.len(), self.runs),
        }
    }
}

/// The verdict in words, with the command that reproduces it.
fn describe(job: &BisectJob, verdict: Verdict, trials: u32) -> String {
    let cid_of = |seq: u64| chain::nth(job.from, seq - job.from_seq);
    match verdict {
        Verdict::SingleCulprit { seq } => {
            let cid = cid_of(seq);
            format!(
                "culprit after {trials} trials: seq {seq}, cid {cid}: this connection alone kills a fresh server.\n\
                 reproduce it alone (a debugger session: each mutation decision is printed) with:\n{}",
                replay_command(&job.argv, seq, &cid)
            )
        }
        Verdict::NeedsHistory { start, count } => {
            let cid = cid_of(start);
            format!(
                "after {trials} trials: the server dies only after the {count} connections seq {start}..{} \
                 (cid {cid} on); the last one, seq {} (cid {}), delivers the blow, but the crash NEEDS ACCUMULATED \
                 STATE from the earlier connections of the window: no single connection kills a fresh server.\n\
                 (A crash that depends on timing makes trials flaky and can look like this: check with a lower \
                 --concurrency or more --tries.)\n\
                 reproduce it with:\n{}",
                start + count,
                start + count - 1,
                cid_of(start + count - 1),
                window_command(&job.argv, start, &cid, count, job.base.concurrency)
            )
        }
        Verdict::NotReproduced => format!(
            "not reproduced: the whole window (seq {}..{}, {} connections) ran against a fresh server {} time(s) \
             and the server survived. The crash may need connections before --from {}, other timing, or another \
             server command than {}",
            job.from_seq,
            job.from_seq + job.count,
            job.count,
            job.tries,
            job.from,
            shell_quote(&job.server.command)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(s: &str) -> Cid {
        s.parse().unwrap()
    }

    #[test]
    fn trials_report_kill_rates_and_add_runs_when_flaky() {
        let mut steady = TrialRuns::default();
        while steady.next_run(2).is_some() {
            steady.record(Some("killed by signal 6 (SIGABRT)".into()));
        }
        assert_eq!(steady.runs, 2);
        assert_eq!(steady.describe(), "server killed in 2 of 2 run(s) (killed by signal 6 (SIGABRT))");

        let mut flaky = TrialRuns::default();
        let mut outcomes = [None, Some("hung".to_string()), None, None].into_iter();
        while flaky.next_run(2).is_some() {
            flaky.record(outcomes.next().expect("at most 4 runs"));
        }
        assert_eq!(flaky.runs, 4, "disagreeing runs double the runs");
        assert!(flaky.killed() && flaky.flaky());
        assert_eq!(flaky.describe(), "server killed in 1 of 4 run(s) (hung)");

        let mut survived = TrialRuns::default();
        while survived.next_run(3).is_some() {
            survived.record(None);
        }
        assert_eq!((survived.runs, survived.killed()), (3, false));
        assert_eq!(survived.describe(), "server survived 3 run(s)");
    }

    #[test]
    fn until_is_a_cid_of_the_chain_or_a_count() {
        let from = cid("0123456789abcdef");
        assert_eq!(parse_until("0123456789abcdef", &from).unwrap(), 1, "the window ends with --until");
        assert_eq!(parse_until("282508f198836bcc", &from).unwrap(), 3);
        assert_eq!(parse_until(&chain::nth(from, 999).to_hex(), &from).unwrap(), 1000);
        assert_eq!(parse_until("250", &from).unwrap(), 250);
        assert!(parse_until("0", &from).unwrap_err().0.contains("--until 0"));
        assert!(parse_until("ten", &from).unwrap_err().0.contains("16 hex digits"));
        assert!(parse_until("-3", &from).is_err());
    }

    #[test]
    fn until_off_the_chain_is_refused() {
        // A CID that is not on the chain: the walk stops at the limit with a clear error.
        let err = parse_until("0000000000000000", &cid("0123456789abcdef")).unwrap_err().0;
        assert!(err.contains("not among the 1000000 CIDs"), "{err}");
    }
}
