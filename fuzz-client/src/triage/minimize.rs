//! `minimize`: the I/O driver of [`fuzz_shared::minimize::Minimizer`], triage below the culprit.
//!
//! `bisect` names the one connection (CID) that kills a fresh server; its mutations are
//! decisions keyed by content ([`ContentId`]), and a connection restricted to some of its
//! contents makes exactly their decisions and no others
//! ([`fuzz_shared::fuzzer::ConnectionFuzzer::restricted_to`]). So this shrinks the connection's
//! mutated contents by delta debugging (ddmin, Zeller and Hildebrandt 2002) to a 1-minimal set:
//! it still kills a fresh server, and without any one of its contents it does not.
//!
//! Each trial is a campaign of that one connection (`count` 1 at its seq and CID) mutating only
//! the trial's contents ([`CampaignConfig::only`]), against a *fresh* server, run `--tries` times
//! like bisect's trials ([`super::trial`]). The first trial runs it unrestricted: if the server survives,
//! the crash did not reproduce; if it dies, that trial's `cid_end` (`mutated`) names the contents
//! the search is over (those of every run that killed, in a stable order). Every trial logs to a
//! file of its own: `<log>.min-trial-N` (`.N.R` with several tries) with `--log`, else in a
//! temporary directory. Progress goes to stderr, one line per trial, then the verdict with the
//! `replay --only` command that reproduces it.

use crate::campaign::watch::ServerCmd;
use crate::campaign::{CampaignConfig, CampaignEnd};
use crate::quic::conn_state::ContentSet;
use crate::triage::repro::replay_only_command;
use crate::triage::trial::{isolated, trial_files, TrialRuns};
use fuzz_shared::content::join_content_ids;
use fuzz_shared::log::{read_log, MutatedContents};
use fuzz_shared::minimize::{Minimizer, Verdict};
use fuzz_shared::{Cid, ContentId, Event, Role};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A checked `minimize` command.
#[derive(Debug)]
pub struct MinimizeJob {
    /// The settings every trial shares (connection options); each trial sets its restriction
    /// and log.
    pub base: CampaignConfig,
    pub server: ServerCmd,
    /// The culprit's sequence number and CID (bisect's verdict).
    pub seq: u64,
    pub cid: Cid,
    /// Runs of each trial; a trial kills the server if any of its runs does.
    pub tries: u32,
    /// `--log`: trial N logs to `<log>.min-trial-N` (and its server's stderr next to it).
    pub log: Option<PathBuf>,
    pub argv: Vec<String>,
}

/// What the minimization found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MinimizeVerdict {
    /// The connection, with every mutation, did not kill a fresh server in `runs` runs.
    NotReproduced { runs: u32 },
    /// `kept` (1-minimal, a subset of `all`) kills a fresh server; `kept_decisions` are their
    /// decisions' operators, as the first trial's `cid_end` logged them.
    Minimized {
        seq: u64,
        cid: Cid,
        /// Every content the connection mutated in the first trial's killing runs.
        all: Vec<ContentId>,
        kept: Vec<ContentId>,
        kept_decisions: MutatedContents,
        /// Trials run, the first (unrestricted) included.
        trials: u32,
        /// Trials whose runs disagreed.
        flaky_trials: u32,
        /// The `replay --only` command of `kept`.
        command: String,
    },
}

impl MinimizeVerdict {
    /// The verdict in words, with the command that reproduces it.
    pub fn describe(&self) -> String {
        match self {
            Self::NotReproduced { runs } => format!(
                "not reproduced: the connection with all its mutations ran against a fresh server {runs} time(s) and \
                 the server survived (the crash may need other connections before it, other timing, or another \
                 server command)"
            ),
            Self::Minimized { seq, cid, all, kept, kept_decisions, trials, flaky_trials, command } => {
                let mut out = if kept.is_empty() {
                    format!(
                        "after {trials} trials: seq {seq}, cid {cid} kills a fresh server with NOTHING MUTATED (of its \
                         {} mutated content(s)): the crash is in what the connection does, not in its mutations.",
                        all.len()
                    )
                } else {
                    let mut lines = format!(
                        "minimized after {trials} trials: seq {seq}, cid {cid}: {} of its {} mutated content(s) kill a \
                         fresh server, and without any one of them it survives:",
                        kept.len(),
                        all.len()
                    );
                    for id in kept {
                        let ops = kept_decisions.get(id).map(|o| o.join(", ")).unwrap_or_default();
                        lines.push_str(&format!("\n  {id}: {ops}"));
                    }
                    lines
                };
                if *flaky_trials > 0 {
                    out.push_str(&format!(
                        "\n{flaky_trials} trial(s) were flaky (their runs disagreed): the crash depends on timing as \
                         well; the set may need more --tries"
                    ));
                }
                out.push_str(&format!("\nreproduce it (only these mutations) with:\n{command}"));
                out
            }
        }
    }
}

/// The contents a trial mutates: `None` for every content (the first trial).
fn describe_trial(only: Option<&[ContentId]>, of: usize) -> String {
    match only {
        None => "all mutations".to_string(),
        Some([]) => "nothing mutated".to_string(),
        Some(ids) => format!("{} of {of} content(s) ({})", ids.len(), join_content_ids(ids)),
    }
}

/// The mutated contents of connection (`seq`, `cid`) as the last `cid_end` of `log` has them.
fn mutated_in(log: &Path, seq: u64, cid: &Cid) -> anyhow::Result<Option<MutatedContents>> {
    let file = std::fs::File::open(log).map_err(|e| anyhow::anyhow!("reading trial log {}: {e}", log.display()))?;
    let lines = read_log(std::io::BufReader::new(file))?;
    Ok(lines.into_iter().rev().find_map(|l| match l.event {
        Event::CidEnd { seq: s, cid: c, mutated, .. } if l.role == Role::Client && s == seq && c == *cid => {
            Some(mutated)
        }
        _ => None,
    }))
}

/// Runs one trial (`only`: its contents, `None` for all) `--tries` times; returns its runs and
/// the logs of the runs that killed the server. `None`: interrupted.
async fn run_trial(
    job: &MinimizeJob,
    log: &Path,
    n: u32,
    only: Option<&[ContentId]>,
) -> anyhow::Result<Option<(TrialRuns, Vec<PathBuf>)>> {
    let mut runs = TrialRuns::default();
    let mut killing_logs = Vec::new();
    while let Some(attempt) = runs.next_run(job.tries) {
        let mut config = job.base.clone();
        config.start_cid = job.cid;
        config.start_seq = job.seq;
        config.count = Some(1);
        config.concurrency = 1;
        config.only = only.map(|ids| -> ContentSet { Arc::new(ids.iter().copied().collect()) });
        (config.log, config.crash_pcap) = trial_files(Some(log), None, ".min-trial", (n, attempt, job.tries))?;
        let run_log = config.log.clone().expect("trials always log");
        let server = ServerCmd::new(job.server.command.clone(), job.server.start_timeout, config.log.as_deref());
        match isolated(config, server).await?.end {
            CampaignEnd::ServerDown { death, .. } => {
                killing_logs.push(run_log);
                runs.record(Some(death.cause.unwrap_or_else(|| "stopped answering".into())))
            }
            CampaignEnd::Done => runs.record(None),
            CampaignEnd::Interrupted => {
                eprintln!("minimize interrupted during trial {n}");
                return Ok(None);
            }
        }
    }
    Ok(Some((runs, killing_logs)))
}

/// Runs the minimization; the progress has been printed when it returns (the verdict is the
/// caller's to print, [`MinimizeVerdict::describe`]). `None`: interrupted (Ctrl-C).
pub async fn run(job: &MinimizeJob) -> anyhow::Result<Option<MinimizeVerdict>> {
    eprintln!(
        "minimize: seq {}, cid {}: its mutated contents, {} run(s) per trial, each against a fresh server",
        job.seq, job.cid, job.tries
    );
    // Trials always log: the first one's `cid_end` names the contents. Without --log, in a
    // directory of their own.
    let log = match &job.log {
        Some(log) => log.clone(),
        None => {
            let dir = std::env::temp_dir().join(format!("fuzz-client-minimize-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            dir.join("minimize.jsonl")
        }
    };
    let Some((runs, killing_logs)) = run_trial(job, &log, 1, None).await? else { return Ok(None) };
    eprintln!("trial 1: {}: {}", describe_trial(None, 0), runs.describe());
    if !runs.killed() {
        return Ok(Some(MinimizeVerdict::NotReproduced { runs: runs.runs() }));
    }
    let mut flaky_trials = runs.flaky() as u32;
    // The contents of every run that killed, each once, in the order of their ids.
    let mut decisions = MutatedContents::new();
    for run_log in &killing_logs {
        match mutated_in(run_log, job.seq, &job.cid)? {
            Some(mutated) => {
                for (id, ops) in mutated {
                    decisions.entry(id).or_insert(ops);
                }
            }
            None => anyhow::bail!(
                "trial log {} has no cid_end of seq {} (cid {}): cannot tell which contents it mutated",
                run_log.display(),
                job.seq,
                job.cid
            ),
        }
    }
    let all: Vec<ContentId> = decisions.keys().copied().collect();
    eprintln!("the connection mutated {} content(s): {}", all.len(), join_content_ids(&all));
    let mut search = Minimizer::new(all.clone());
    // The first trial was the whole set (unrestricted: every content it mutated).
    search.record(true);
    while let Some(subset) = search.next_trial() {
        let n = search.trials() + 1;
        let Some((runs, _)) = run_trial(job, &log, n, Some(&subset)).await? else { return Ok(None) };
        eprintln!("trial {n}: {}: {}", describe_trial(Some(&subset), all.len()), runs.describe());
        flaky_trials += runs.flaky() as u32;
        search.record(runs.killed());
    }
    let kept = match search.verdict().expect("the search ends with a verdict") {
        Verdict::Minimal { kept } => kept,
        Verdict::NotReproduced => unreachable!("the whole set was recorded as killing"),
    };
    let kept_decisions = kept.iter().filter_map(|id| decisions.get(id).map(|ops| (*id, ops.clone()))).collect();
    let command = replay_only_command(&job.argv, job.seq, &job.cid, &kept);
    Ok(Some(MinimizeVerdict::Minimized {
        seq: job.seq,
        cid: job.cid,
        all,
        kept,
        kept_decisions,
        trials: search.trials(),
        flaky_trials,
        command,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ContentId {
        s.parse().unwrap()
    }

    #[test]
    fn verdicts_say_what_was_kept_and_how_to_reproduce_it() {
        let cid: Cid = "de62710ead78d644".parse().unwrap();
        let (a, b) = (id("application_data/stream:0@0"), id("application_data/new_connection_id:1"));
        let verdict = MinimizeVerdict::Minimized {
            seq: 206,
            cid,
            all: vec![a, b],
            kept: vec![b],
            kept_decisions: [(b, vec!["insert:new_token".to_string()])].into_iter().collect(),
            trials: 4,
            flaky_trials: 0,
            command: "fuzz-client replay --cid de62710ead78d644 --seq 206 --only application_data/new_connection_id:1"
                .into(),
        };
        let text = verdict.describe();
        assert!(text.starts_with("minimized after 4 trials: seq 206, cid de62710ead78d644: 1 of its 2"), "{text}");
        assert!(text.contains("\n  application_data/new_connection_id:1: insert:new_token\n"), "{text}");
        assert!(text.ends_with("--only application_data/new_connection_id:1"), "{text}");
        assert!(MinimizeVerdict::NotReproduced { runs: 2 }.describe().contains("2 time(s)"));
        assert_eq!(describe_trial(Some(&[a]), 2), "1 of 2 content(s) (application_data/stream:0@0)");
        assert_eq!(describe_trial(Some(&[]), 2), "nothing mutated");
    }
}
