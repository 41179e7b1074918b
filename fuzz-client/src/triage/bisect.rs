//! `bisect`: the I/O driver of [`fuzz_shared::bisect::Bisector`].
//!
//! The pure search proposes trials (connections `start..start+count` of the window, in the
//! original numbering); each trial here is a short campaign against a *fresh* server started by
//! [`crate::campaign::watch::run`], because the question is what a server that has seen only those connections
//! does. Connection #seq has CID `chain::nth(from, seq - from_seq)`. A trial kills the server if
//! any of its `--tries` runs ends with the server down (its process exited, or it stopped
//! answering clean probes). Progress goes to stderr, one line per trial, then the verdict with
//! the command that reproduces it.
//!
//! When the verdict is a single culprit whose plan fuzzes Initial packets, bisect also resends the
//! culprit's Initial datagrams byte for byte ([`initial_replay`]) from the crash capture of the
//! trial that ran it alone (`<log>.trial-N.crash.pcap`, or a temporary directory without `--log`)
//! to a fresh server, and says whether that alone kills it: if so, the crash needs neither TLS
//! randomness nor timing, and the capture is a self-contained reproducer.
//!
//! A **leak** is bisected the same way with another idea of a kill ([`KillCriterion`]): a trial
//! "kills" when the fresh server's resident memory grew by more than a threshold over the
//! trial's connections (VmRSS from the supervisor once the server answered its start-up probe,
//! and again after the trial's connections ended). The search's assumption holds for leaks as
//! it does for crashes: a window that holds more of the leaking connections grows the server at
//! least as much. A single culprit is a connection that alone leaks more than the threshold; a
//! longer window begins and ends with connections that leak, which together pass it.

use crate::campaign::watch::{RssAround, ServerCmd};
use crate::campaign::{CampaignConfig, CampaignEnd};
use crate::triage::initial_replay::{self, InitialReplayJob};
use crate::triage::repro::{pcap_replay_command, replay_command, shell_quote, window_command, window_seqs_command};
use crate::triage::trial::{isolated, isolated_measuring_rss, trial_files, TrialRuns};
use crate::usage::UsageError;
use fuzz_shared::bisect::{Bisector, Verdict};
use fuzz_shared::{chain, Cid, ConnectionPlan, FuzzState, Mode, Role};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
    /// `--leak SIZE` (KiB): bisect a leak, not a crash ([`KillCriterion::RssGrowth`]).
    pub leak_kb: Option<u64>,
}

/// What counts as a trial "killing" the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillCriterion {
    /// The server went down: it exited, or stopped answering clean probes.
    ServerDown,
    /// The server's resident memory grew by more than `threshold_kb` over the trial.
    RssGrowth { threshold_kb: u64 },
}

impl KillCriterion {
    /// The job's own: `--leak` makes it a leak bisection.
    pub fn of(job: &BisectJob) -> Self {
        match job.leak_kb {
            Some(threshold_kb) => KillCriterion::RssGrowth { threshold_kb },
            None => KillCriterion::ServerDown,
        }
    }
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
    run_with(job, KillCriterion::of(job)).await
}

/// Bisects a leak over the job's window (a leak finding's): a trial kills when a fresh server's
/// resident memory grows by more than `threshold_kb` KiB over it, whatever `--leak` the job has.
/// The verdict is the crash search's: [`Verdict::SingleCulprit`] is a connection that alone leaks
/// more than the threshold, [`Verdict::NeedsHistory`] a stretch whose first and last
/// connections leak and together pass it, [`Verdict::NotReproduced`] a window that did not.
pub async fn run_leak(job: &BisectJob, threshold_kb: u64) -> anyhow::Result<Option<Verdict>> {
    run_with(job, KillCriterion::RssGrowth { threshold_kb }).await
}

/// The search with `criterion` for a kill.
pub async fn run_with(job: &BisectJob, criterion: KillCriterion) -> anyhow::Result<Option<Verdict>> {
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
    // Without --log, the trials' crash captures go to a directory of their own.
    let captures = match &job.log {
        Some(_) => None,
        None => Some(std::env::temp_dir().join(format!("fuzz-client-bisect-{}", std::process::id()))),
    };
    // The crash capture of a trial of one connection that killed the server, by its seq.
    let mut alone: HashMap<u64, PathBuf> = HashMap::new();
    while let Some(trial) = search.next_trial() {
        let n = search.trials() + 1;
        let mut runs = TrialRuns::default();
        // A leak trial's largest growth, said even when it stays under the threshold: how close
        // the clean connections came is what tells a threshold too low.
        let mut most_grown: Option<u64> = None;
        while let Some(attempt) = runs.next_run(job.tries) {
            let mut config = job.base.clone();
            config.start_cid = chain::nth(job.from, trial.start - job.from_seq);
            config.start_seq = trial.start;
            config.count = Some(trial.count);
            (config.log, config.crash_pcap) =
                trial_files(job.log.as_deref(), captures.as_deref(), ".trial", (n, attempt, job.tries))?;
            let server = ServerCmd::new(job.server.command.clone(), job.server.start_timeout, config.log.as_deref());
            if let KillCriterion::RssGrowth { threshold_kb } = criterion {
                let (result, rss) = isolated_measuring_rss(config, server).await?;
                match result.end {
                    CampaignEnd::Interrupted => {
                        eprintln!("bisect interrupted during trial {n}");
                        return Ok(None);
                    }
                    CampaignEnd::ServerDown { death, .. } => {
                        // A death is not a leak: its memory at the end is unknown.
                        eprintln!(
                            "trial {n}: the server went down ({}): counted as no leak",
                            death.cause.as_deref().unwrap_or("stopped answering")
                        );
                        runs.record(None);
                    }
                    CampaignEnd::Done => {
                        most_grown = most_grown.max(rss.growth_kb());
                        runs.record(leaked(rss, threshold_kb))
                    }
                }
                continue;
            }
            let result = isolated(config, server).await?;
            match result.end {
                CampaignEnd::ServerDown { death, crash_pcap, .. } => {
                    if let (1, Some(pcap)) = (trial.count, crash_pcap) {
                        alone.insert(trial.start, pcap);
                    }
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
            match criterion {
                KillCriterion::ServerDown => runs.describe(),
                KillCriterion::RssGrowth { .. } if runs.killed() => runs.describe_leak(),
                KillCriterion::RssGrowth { .. } => match most_grown {
                    Some(kb) => format!("{} (RSS grew by at most {kb} KiB)", runs.describe_leak()),
                    None => runs.describe_leak(),
                },
            }
        );
        if runs.flaky() {
            flaky_trials += 1;
        }
        search.record(runs.killed());
    }
    let verdict = search.verdict().expect("the search ends with a verdict");
    if let KillCriterion::RssGrowth { threshold_kb } = criterion {
        eprintln!("{}", describe_leak(job, verdict, search.trials(), threshold_kb));
        return Ok(Some(verdict));
    }
    eprintln!("{}", describe(job, verdict, search.trials()));
    if flaky_trials > 0 {
        eprintln!(
            "{flaky_trials} trial(s) were flaky (their runs disagreed): the crash depends on timing as well; \
             a verdict from flaky trials may name a connection that kills only sometimes"
        );
    }
    if let Verdict::SingleCulprit { seq } = verdict {
        eprintln!("{}", initial_replay_of(job, seq, alone.get(&seq).map(PathBuf::as_path)).await?);
    }
    Ok(Some(verdict))
}

/// Accumulated state: the `count` connections from `start` (bisect's `NeedsHistory`) kill a
/// fresh server together. Delta debugging over them ([`fuzz_shared::minimize::Minimizer`], the
/// same search as a culprit's decisions) drops connections while the rest, run in chain order
/// (`--only-seqs`), still kill: "these K connections, in this order, take a fresh server down".
/// The kept seqs and the trials it took; `None`: interrupted, or the stretch no longer kills.
pub async fn shrink_history(job: &BisectJob, start: u64, count: u64) -> anyhow::Result<Option<(Vec<u64>, u32)>> {
    let mut search = fuzz_shared::minimize::Minimizer::new((start..start + count).collect::<Vec<u64>>());
    let captures = match job.log {
        Some(_) => None,
        None => Some(std::env::temp_dir().join(format!("fuzz-client-bisect-{}", std::process::id()))),
    };
    eprintln!(
        "shrinking the {count} connections seq {start}..{} to the ones that take a fresh server down together",
        start + count
    );
    while let Some(seqs) = search.next_trial() {
        let n = search.trials() + 1;
        let mut runs = TrialRuns::default();
        while let Some(attempt) = runs.next_run(job.tries) {
            if seqs.is_empty() {
                runs.record(None);
                continue;
            }
            let mut config = job.base.clone();
            config.start_cid = chain::nth(job.from, start - job.from_seq);
            config.start_seq = start;
            config.count = Some(count);
            config.only_seqs = Some(seqs.iter().copied().collect());
            (config.log, config.crash_pcap) =
                trial_files(job.log.as_deref(), captures.as_deref(), ".history", (n, attempt, job.tries))?;
            let server = ServerCmd::new(job.server.command.clone(), job.server.start_timeout, config.log.as_deref());
            match isolated(config, server).await?.end {
                CampaignEnd::ServerDown { death, .. } => {
                    runs.record(Some(death.cause.unwrap_or_else(|| "stopped answering".into())))
                }
                CampaignEnd::Done => runs.record(None),
                CampaignEnd::Interrupted => return Ok(None),
            }
        }
        eprintln!("history trial {n}: {} of the {count} connections: {}", seqs.len(), runs.describe());
        search.record(runs.killed());
    }
    let trials = search.trials();
    Ok(match search.verdict() {
        Some(fuzz_shared::minimize::Verdict::Minimal { kept }) if !kept.is_empty() => {
            let cid = chain::nth(job.from, start - job.from_seq);
            let seqs: Vec<String> = kept.iter().map(u64::to_string).collect();
            eprintln!(
                "after {trials} trials: these {} connections, in this order, take a fresh server down: seq {}\n\
                 reproduce with:\n{}",
                kept.len(),
                seqs.join(", "),
                window_seqs_command(&job.argv, (start, &cid, count), job.base.concurrency, Some(&kept))
            );
            Some((kept, trials))
        }
        _ => {
            eprintln!("after {trials} trials: the stretch did not kill a fresh server again (timing?)");
            None
        }
    })
}

/// For a culprit whose plan fuzzes Initial packets: whether its Initial datagrams, resent byte
/// for byte from the crash capture of its trial alone, kill a fresh server; with the command.
async fn initial_replay_of(job: &BisectJob, seq: u64, pcap: Option<&Path>) -> anyhow::Result<String> {
    let cid = chain::nth(job.from, seq - job.from_seq);
    let state = ConnectionPlan::from_cid_at(&cid, Role::Client, job.base.plan_inputs()).fuzz_state;
    if job.base.mode != Mode::Fuzz || state != FuzzState::Initial {
        return Ok(format!(
            "byte-exact Initial replay: not tried (the culprit's plan fuzzes {} packets{}; only Initial packets can \
             be resent byte for byte)",
            state.as_str(),
            if job.base.mode == Mode::Fuzz { "" } else { ", and this bisect mutates nothing" }
        ));
    }
    let Some(pcap) = pcap else {
        return Ok("byte-exact Initial replay: not tried (no crash capture of the culprit's trial alone)".into());
    };
    let selected = match initial_replay::load(pcap, Some(&cid)) {
        Ok(s) => s,
        Err(e) => return Ok(format!("byte-exact Initial replay: not tried ({e})")),
    };
    let mut config = job.base.clone();
    config.start_cid = cid;
    config.start_seq = seq;
    let server = ServerCmd::new(job.server.command.clone(), job.server.start_timeout, None);
    let replay = InitialReplayJob { config, server: Some(server), pcap: pcap.to_path_buf(), selected };
    let outcome = initial_replay::run(&replay).await?;
    let n = replay.selected.datagrams.len();
    let verdict = match &outcome.death {
        Some(death) => format!("yes ({})", death.cause.as_deref().unwrap_or("stopped answering")),
        None => "no (the server survived them: the crash needs the culprit's later packets, or timing)".to_string(),
    };
    Ok(format!(
        "byte-exact Initial replay kills a fresh server: {verdict}: the culprit's {n} Initial datagram(s) from {}.\n\
         resend them with:\n{}",
        pcap.display(),
        pcap_replay_command(&job.argv, pcap, &cid)
    ))
}

/// Whether a trial's run leaked: its server's memory grew by more than `threshold_kb`; the
/// growth in words if so.
fn leaked(rss: RssAround, threshold_kb: u64) -> Option<String> {
    let grown = rss.growth_kb()?;
    (grown > threshold_kb).then(|| {
        format!(
            "RSS grew by {} KiB, from {} to {} KiB",
            grown,
            rss.before_kb.unwrap_or_default(),
            rss.after_kb.unwrap_or_default()
        )
    })
}

/// A leak bisection's verdict in words, with the command that runs the connections again.
fn describe_leak(job: &BisectJob, verdict: Verdict, trials: u32, threshold_kb: u64) -> String {
    let cid_of = |seq: u64| chain::nth(job.from, seq - job.from_seq);
    let more = format!("more than {threshold_kb} KiB");
    match verdict {
        Verdict::SingleCulprit { seq } => {
            let cid = cid_of(seq);
            format!(
                "leak culprit after {trials} trials: seq {seq}, cid {cid}: this connection alone grows a fresh \
                 server's resident memory by {more}.\nrun it alone (each mutation decision is printed) with:\n{}",
                replay_command(&job.argv, seq, &cid)
            )
        }
        Verdict::NeedsHistory { start, count } => {
            let (first, last) = (cid_of(start), cid_of(start + count - 1));
            format!(
                "after {trials} trials: the {count} connections seq {start}..{} grow a fresh server's resident memory \
                 by {more}, none of their shorter stretches do: seq {start} (cid {first}) and seq {} (cid {last}) \
                 leak, and so may those between.\nrun them again with:\n{}",
                start + count,
                start + count - 1,
                window_command(&job.argv, start, &first, count, job.base.concurrency)
            )
        }
        Verdict::NotReproduced => format!(
            "leak not reproduced: the whole window (seq {}..{}, {} connections) grew a fresh server's resident \
             memory by no {more} in {} run(s). The leak may need connections before --from {}, or a lower --leak",
            job.from_seq,
            job.from_seq + job.count,
            job.count,
            job.tries,
            job.from
        ),
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

#[cfg(test)]
mod initial_replay_tests {
    use super::*;
    use crate::cli::{Cli, Job};
    use clap::Parser;

    fn job(from: &Cid, extra: &[&str]) -> BisectJob {
        let from = from.to_hex();
        let mut argv = vec!["fuzz-client", "bisect", "--from", &from, "--until", "1", "--server-cmd", "srv"];
        argv.extend_from_slice(extra);
        argv.push("127.0.0.1:4433");
        let owned = argv.iter().map(|s| s.to_string()).collect();
        match Cli::try_parse_from(&argv).unwrap().into_job(owned).unwrap() {
            Job::Bisect(b) => b,
            _ => panic!("a bisect job"),
        }
    }

    /// The first CID of the chain from `start` whose client plan fuzzes `wanted` (or does not).
    fn first_plan(wanted: bool) -> Cid {
        chain::iter("0123456789abcdef".parse().unwrap())
            .find(|c| (ConnectionPlan::from_cid(c, Role::Client).fuzz_state == FuzzState::Initial) == wanted)
            .expect("both kinds of plan are on the chain")
    }

    #[tokio::test]
    async fn only_culprits_fuzzing_initial_packets_are_resent() {
        let other = first_plan(false);
        let state = ConnectionPlan::from_cid(&other, Role::Client).fuzz_state;
        let said = initial_replay_of(&job(&other, &[]), 0, None).await.unwrap();
        assert!(said.starts_with("byte-exact Initial replay: not tried"), "{said}");
        assert!(said.contains(&format!("fuzzes {} packets", state.as_str())), "{said}");
        let initial = first_plan(true);
        let said = initial_replay_of(&job(&initial, &["--mode", "clean"]), 0, None).await.unwrap();
        assert!(said.contains("this bisect mutates nothing"), "{said}");
        let said = initial_replay_of(&job(&initial, &[]), 0, None).await.unwrap();
        assert!(said.contains("no crash capture of the culprit's trial alone"), "{said}");
        let missing = Path::new("/nonexistent/trial-1.crash.pcap");
        let said = initial_replay_of(&job(&initial, &[]), 0, Some(missing)).await.unwrap();
        assert!(said.contains("not tried (--pcap /nonexistent/trial-1.crash.pcap"), "{said}");
    }
}
