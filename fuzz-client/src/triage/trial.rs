//! What `bisect` and `minimize` share: a trial is a short campaign against a *fresh* server,
//! run `--tries` times (and as many again when its runs disagree).
//!
//! - [`isolated`] runs one trial's campaign ([`watch::run`], which starts the server) on a
//!   runtime of its own, so nothing of it outlives the trial;
//! - [`isolated_measuring_rss`] the same, with the server's resident memory before and after;
//! - [`TrialRuns`] counts a trial's runs and how many killed the server;
//! - [`trial_files`] names a trial run's log and crash capture.

use crate::campaign::watch::{self, ServerCmd};
use crate::campaign::{self, CampaignConfig, CampaignResult};
use std::path::{Path, PathBuf};

/// The log and crash capture of run `attempt` (from 0) of trial `n` of `tries` runs each:
/// `<log><kind>-N` (`<log><kind>-N.R` with several tries) next to `log`, or, without one, only
/// a crash capture `<kind>-N[.R].crash.pcap` in `scratch` (where there is one). `kind` is
/// `.trial` for bisect.
pub fn trial_files(
    log: Option<&Path>,
    scratch: Option<&Path>,
    kind: &str,
    (n, attempt, tries): (u32, u32, u32),
) -> std::io::Result<(Option<PathBuf>, Option<PathBuf>)> {
    let suffix = if tries > 1 { format!("{kind}-{n}.{}", attempt + 1) } else { format!("{kind}-{n}") };
    let log = log.map(|l| campaign::next_to(l, &suffix));
    let crash_pcap = match (&log, scratch) {
        (Some(log), _) => Some(campaign::crash_pcap_path(Some(log))),
        (None, Some(dir)) => {
            std::fs::create_dir_all(dir)?;
            Some(dir.join(format!("{}.crash.pcap", suffix.trim_start_matches('.'))))
        }
        (None, None) => None,
    };
    Ok((log, crash_pcap))
}

/// Runs one trial's campaign on a runtime of its own, dropped (with every task on it) when the
/// trial ends. A connection abandoned in its handshake lives on inside s2n-quic's endpoint until
/// its idle timeout, retransmitting its Initial flight, mutated as the original was: left on a
/// shared runtime, it would reach the next trial's fresh server on the same port and kill it
/// before that trial began.
pub async fn isolated(config: CampaignConfig, server: ServerCmd) -> anyhow::Result<CampaignResult> {
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let result = runtime.block_on(watch::run(config, Some(&server)));
        runtime.shutdown_timeout(std::time::Duration::from_millis(200));
        result
    })
    .await?
}

/// [`isolated`], measuring the server's resident memory around the trial's connections (a leak
/// bisection's trial).
pub async fn isolated_measuring_rss(
    config: CampaignConfig,
    server: ServerCmd,
) -> anyhow::Result<(CampaignResult, watch::RssAround)> {
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let result = runtime.block_on(watch::run_measuring_rss(config, Some(&server)));
        runtime.shutdown_timeout(std::time::Duration::from_millis(200));
        result
    })
    .await?
}

/// The runs of one trial: `tries` runs, and as many again when they disagree, so that a crash
/// that depends on timing shows as a kill rate ("killed in 2 of 4 runs") instead of hiding in a
/// yes or no. A trial kills the server if any run did.
#[derive(Debug, Default)]
pub struct TrialRuns {
    runs: u32,
    /// The cause of each run that killed the server.
    kills: Vec<String>,
}

impl TrialRuns {
    /// The index of the next run to make, if any.
    pub fn next_run(&self, tries: u32) -> Option<u32> {
        let tries = tries.max(1);
        let wanted = if self.flaky() { 2 * tries } else { tries };
        (self.runs < wanted).then_some(self.runs)
    }

    pub fn record(&mut self, killed: Option<String>) {
        self.runs += 1;
        self.kills.extend(killed);
    }

    /// How many runs were made.
    pub fn runs(&self) -> u32 {
        self.runs
    }

    pub fn killed(&self) -> bool {
        !self.kills.is_empty()
    }

    pub fn flaky(&self) -> bool {
        self.killed() && (self.kills.len() as u32) < self.runs
    }

    /// [`Self::describe`] for a leak bisection, whose runs "kill" by growing the server's memory.
    pub fn describe_leak(&self) -> String {
        match self.kills.first() {
            None => format!("no leak in {} run(s)", self.runs),
            Some(growth) => format!("leaked in {} of {} run(s) ({growth})", self.kills.len(), self.runs),
        }
    }

    pub fn describe(&self) -> String {
        match self.kills.first() {
            None => format!("server survived {} run(s)", self.runs),
            Some(cause) => format!("server killed in {} of {} run(s) ({cause})", self.kills.len(), self.runs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn trial_files_go_next_to_the_log_or_into_scratch() {
        let (log, pcap) = trial_files(Some(Path::new("b.jsonl")), None, ".trial", (3, 0, 1)).unwrap();
        assert_eq!(log.unwrap(), Path::new("b.jsonl.trial-3"));
        assert_eq!(pcap.unwrap(), Path::new("b.jsonl.trial-3.crash.pcap"));
        let (log, _) = trial_files(Some(Path::new("b.jsonl")), None, ".min-trial", (2, 1, 2)).unwrap();
        assert_eq!(log.unwrap(), Path::new("b.jsonl.min-trial-2.2"));
        let dir = std::env::temp_dir().join(format!("fuzz-client-trial-files-{}", std::process::id()));
        let (log, pcap) = trial_files(None, Some(&dir), ".trial", (1, 0, 1)).unwrap();
        assert_eq!((log, pcap.unwrap()), (None, dir.join("trial-1.crash.pcap")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
