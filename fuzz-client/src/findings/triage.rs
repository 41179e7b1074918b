//! Triage of new findings, by itself: from a death to the smallest thing that does it.
//!
//! For each new finding, against fresh servers of its own (started from the campaign's
//! `--server-cmd`; with a `{port}` placeholder in SERVER and the command, each on a free port):
//!
//! 1. `bisect` over the finding's window (module [`crate::triage::bisect`]): the culprit CID, or
//!    the stretch that needs accumulated state, or "not reproduced";
//! 2. for a culprit, the culprit's decisions minimized (module [`crate::triage::minimize`]): the
//!    smallest set of its mutation decisions that still takes a fresh server down;
//! 3. the verdict, each remaining decision and the command that reproduces it go into
//!    `finding.json` (`triage`) and `reproduce.sh`.
//!
//! The commands triage runs are the ones it records: it builds a command line (`bisect ...`)
//! from the campaign's own and parses it as the user's would be, so what it did is what the
//! user can type.

use super::record::{Finding, Triage};
use super::store::{self, FindingStore};
use crate::cli::{Cli, Job};
use crate::triage::minimize::{self, MinimizeVerdict};
use crate::triage::{bisect, repro};
use clap::Parser;
use fuzz_shared::bisect::Verdict;
use fuzz_shared::chain;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Instant;
use tokio::sync::oneshot;

/// Runs of each bisection trial (a trial kills if any does): bisect's default.
const TRIES: u32 = 2;

/// New findings waiting for their triage, triaged one at a time while the campaign goes on.
///
/// While, not after: measured against Debian's ngtcp2 built with AddressSanitizer (2-core
/// machine, docs/measurements.md), a finding's bisection run beside a 60-s campaign slowed the
/// campaign by 3% (24,065 connections instead of 24,894) and itself by 13% (77 s instead of
/// 68 s): both mostly wait (for servers to die, start and answer), so the verdict of a
/// finding met at 1 a.m. is in its folder minutes later instead of after the night, and a run
/// killed before its end keeps the verdicts of what it triaged. One at a time, so that triage
/// never takes more than one server's worth of the machine from the campaign.
///
/// The queue owns no store: the campaign, the findings' one writer, applies each result
/// ([`apply`]), so that a finding seen again while it is triaged loses neither its count nor
/// its verdict.
#[derive(Default)]
pub struct TriageQueue {
    waiting: VecDeque<(String, Finding, PathBuf)>,
    running: Option<Running>,
}

/// A finding's id and what its triage came to.
pub type Triaged = (String, anyhow::Result<Triage>);

/// The triage that runs: on a thread and runtime of its own, so that its timers and servers
/// keep their pace whatever the campaign's loop is busy with (a trial that waits for a server's
/// death must not see its deadline pass unpolled and take it for the answer).
struct Running {
    id: String,
    done: oneshot::Receiver<Triaged>,
    /// Dropped to stop it: its fresh servers are killed as its futures are dropped.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl TriageQueue {
    /// Queues `id` of `store` unless it has a triage already; starts it when nothing runs.
    pub fn push(&mut self, store: &FindingStore, id: &str) {
        let Some((dir, finding)) = store.get(id) else { return };
        let queued = self.waiting.iter().any(|(queued, _, _)| queued == id);
        if finding.triage.is_some() || queued || self.running.as_ref().is_some_and(|r| r.id == id) {
            return;
        }
        self.waiting.push_back((id.to_string(), finding.clone(), dir.to_path_buf()));
        if self.running.is_none() {
            self.start_next();
        }
    }

    /// Whether a triage runs (and [`TriageQueue::next`] will end).
    pub fn is_busy(&self) -> bool {
        self.running.is_some()
    }

    /// Findings not triaged yet, the one running included.
    pub fn len(&self) -> usize {
        self.waiting.len() + usize::from(self.running.is_some())
    }

    fn start_next(&mut self) {
        let Some((id, finding, dir)) = self.waiting.pop_front() else { return };
        let (done_tx, done) = oneshot::channel();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let name = id.clone();
        let thread = std::thread::Builder::new().name(format!("triage-{id}")).spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
            let result = match runtime {
                Ok(rt) => rt.block_on(async {
                    eprintln!("triage of finding {name} ({}): {}", finding.signature.summary, dir.display());
                    tokio::select! {
                        r = triage_one(&finding, &dir) => Some(r),
                        _ = stop_rx => None,
                    }
                }),
                Err(e) => Some(Err(anyhow::anyhow!("starting the triage's runtime: {e}"))),
            };
            if let Some(result) = result {
                let _ = done_tx.send((name, result));
            }
        });
        self.running = Some(match thread {
            Ok(thread) => Running { id, done, stop: Some(stop), thread: Some(thread) },
            Err(e) => {
                // No thread: the result is the failure, at once.
                let (tx, done) = oneshot::channel();
                let _ = tx.send((id.clone(), Err(anyhow::anyhow!("starting the triage's thread: {e}"))));
                Running { id, done, stop: None, thread: None }
            }
        });
    }

    /// The next triage's result, and the one after it started; pending for ever when none runs
    /// (a `select!` arm guarded by [`TriageQueue::is_busy`]). Cancel-safe.
    pub async fn next(&mut self) -> Triaged {
        let Some(running) = self.running.as_mut() else { return std::future::pending().await };
        let done = match (&mut running.done).await {
            Ok(done) => done,
            Err(_) => (running.id.clone(), Err(anyhow::anyhow!("the triage ended without a result"))),
        };
        self.running = None;
        self.start_next();
        done
    }
}

/// Triages, one after the other and now, every finding of `store` named in `ids` that has no
/// triage yet: what a campaign left (one that ended before its server served, or whose queue a
/// failure cut short).
pub async fn triage_all(store: &mut FindingStore, ids: &[String]) -> anyhow::Result<()> {
    for id in ids {
        let Some((dir, finding)) = store.get(id) else { continue };
        if finding.triage.is_some() {
            continue;
        }
        let (dir, finding) = (dir.to_path_buf(), finding.clone());
        eprintln!("triage of finding {id} ({}): {}", finding.signature.summary, dir.display());
        let result = triage_one(&finding, &dir).await;
        apply(store, (id.clone(), result))?;
    }
    Ok(())
}

/// Writes a triage's result into its finding (`finding.json`, `reproduce.sh`), saying on stderr
/// what it came to. A triage that failed says why and leaves the finding as it was.
pub fn apply(store: &mut FindingStore, (id, result): Triaged) -> anyhow::Result<()> {
    let triage = match result {
        Ok(t) => t,
        Err(e) => {
            eprintln!("triage of finding {id} failed: {e:#}");
            return Ok(());
        }
    };
    let Some((dir, finding)) = store.get(&id) else { return Ok(()) };
    if let Some(cmd) = &triage.reproduce {
        let what = format!("{}\n{}", finding.signature.summary, triage.detail);
        let script = store::write_reproduce_script(dir, &what, cmd)?;
        eprintln!("finding {id}: {}; reproduce with {}", triage.verdict, script.display());
    } else {
        eprintln!("finding {id}: {}", triage.verdict);
    }
    store.update(&id, |f| f.triage = Some(triage))?;
    Ok(())
}

/// Bisects one finding's first window (and, when the window alone does not do it, the whole
/// history of the server that died), then minimizes a culprit's decisions.
async fn triage_one(finding: &Finding, dir: &std::path::Path) -> anyhow::Result<Triage> {
    let started = Instant::now();
    let w = &finding.first;
    let mut triage = Triage {
        verdict: String::new(),
        detail: String::new(),
        culprit_seq: None,
        culprit_cid: None,
        history_seq: None,
        history_count: None,
        history_seqs: Vec::new(),
        decisions: Vec::new(),
        reproduce: None,
        trials: 0,
        elapsed_s: 0.0,
    };
    if w.window_len() == 0 {
        triage.verdict = "not_triaged".into();
        triage.detail =
            "no connection ran against this server before it died: clean traffic (the start-up probe) kills it".into();
        triage.elapsed_s = started.elapsed().as_secs_f64();
        return Ok(triage);
    }
    // The campaign's --log is its own; the triage logs into the finding's folder.
    let campaign = repro::without_options(&finding.campaign, &["--log"]);
    // A leak's trials "kill" when the fresh server's memory grows past a threshold of the leak's
    // own (module `fuzz_shared::leak`); a death's when the server goes down.
    let leak_kb = (finding.signature.kind == "leak").then(|| {
        w.cause
            .as_deref()
            .and_then(fuzz_shared::leak::trial_threshold_of_cause)
            .unwrap_or(fuzz_shared::leak::SLOPE_FLOOR_KB)
    });
    let bisect_log = dir.join("bisect.jsonl");
    let (verdict, job, argv) =
        bisect_stretch(&campaign, (w.window_seq, &w.window_cid), w.window_len(), w.concurrency, &bisect_log, leak_kb)
            .await?;
    triage.trials += verdict.1;
    let mut verdict = verdict.0;
    let (mut job, mut argv) = (job, argv);
    // A death the window alone does not reproduce may need what the connections before it left
    // in the server (a slow leak, a table that fills): bisect again from the server's start.
    if verdict == Verdict::NotReproduced {
        if let (Some(seq), Some(cid)) = (w.server_seq, w.server_cid) {
            if seq < w.window_seq {
                eprintln!(
                    "the window alone did not kill a fresh server: bisecting the {} connections since the server started",
                    w.window_end - seq
                );
                let history = dir.join("bisect-history.jsonl");
                let again =
                    bisect_stretch(&campaign, (seq, &cid), w.window_end - seq, w.concurrency, &history, leak_kb)
                        .await?;
                triage.trials += again.0 .1;
                (verdict, job, argv) = (again.0 .0, again.1, again.2);
            }
        }
    }
    match verdict {
        Verdict::SingleCulprit { seq } => {
            let cid = chain::nth(job.from, seq - job.from_seq);
            triage.verdict = "single_culprit".into();
            triage.detail = format!("connection seq {seq} (cid {cid}) alone kills a fresh server");
            triage.culprit_seq = Some(seq);
            triage.culprit_cid = Some(cid);
            match leak_kb {
                // `replay` does not measure memory: a bisect of the culprit alone does.
                Some(kb) => {
                    let mut one = repro::bisect_argv(&campaign, seq, &cid, 1, 1);
                    one.splice(2..2, ["--tries".to_string(), "1".into(), "--leak".into(), format!("{kb}K")]);
                    triage.detail =
                        format!("{}: it grows a fresh server's memory by more than {kb} KiB", triage.detail);
                    triage.reproduce = Some(repro::command_line(&one));
                }
                None => {
                    triage.reproduce = Some(repro::replay_command(&argv, seq, &cid));
                    minimize_culprit(&argv, (seq, &cid), dir, &mut triage).await?;
                }
            }
        }
        Verdict::NeedsHistory { start, count } => {
            let cid = chain::nth(job.from, start - job.from_seq);
            triage.verdict = "needs_history".into();
            triage.detail = format!(
                "the {count} connections seq {start}..{} together kill a fresh server; no single one does",
                start + count
            );
            triage.history_seq = Some(start);
            triage.history_count = Some(count);
            triage.reproduce = Some(repro::window_command(&argv, start, &cid, count, job.base.concurrency));
            let shrunk = match leak_kb {
                Some(_) => None,
                None => bisect::shrink_history(&job, start, count).await?,
            };
            if let Some((seqs, trials)) = shrunk {
                triage.trials += trials;
                if let [seq] = seqs[..] {
                    // Alone, at its place in the chain (`--only-seqs`), it kills a fresh server,
                    // though windows of the bisection that held it did not: the crash depends on
                    // timing or on what runs beside it. It is a culprit of its own all the same,
                    // and its decisions are minimized as any culprit's are.
                    let cid = chain::nth(job.from, seq - job.from_seq);
                    triage.verdict = "single_culprit".into();
                    triage.detail = format!(
                        "connection seq {seq} (cid {cid}) alone kills a fresh server (some bisection windows that held \
                         it did not: the crash depends on timing)"
                    );
                    (triage.culprit_seq, triage.culprit_cid) = (Some(seq), Some(cid));
                    (triage.history_seq, triage.history_count) = (None, None);
                    triage.reproduce = Some(repro::replay_command(&argv, seq, &cid));
                    minimize_culprit(&argv, (seq, &cid), dir, &mut triage).await?;
                    triage.elapsed_s = started.elapsed().as_secs_f64();
                    return Ok(triage);
                }
                triage.detail = format!(
                    "{}; {} of them, in chain order, do it: seq {}",
                    triage.detail,
                    seqs.len(),
                    seqs.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
                );
                triage.reproduce =
                    Some(repro::window_seqs_command(&argv, (start, &cid, count), job.base.concurrency, Some(&seqs)));
                triage.history_seqs = seqs;
            }
        }
        Verdict::NotReproduced => {
            triage.verdict = "not_reproduced".into();
            let since = w.server_seq.filter(|&s| s < w.window_seq).map_or(String::new(), |s| {
                format!(", nor all the connections since the server started (seq {s}..{})", w.window_end)
            });
            triage.detail = format!(
                "the window (seq {}..{}) against a fresh server did not kill it in {TRIES} runs{since}",
                w.window_seq, w.window_end
            );
        }
    }
    triage.elapsed_s = started.elapsed().as_secs_f64();
    Ok(triage)
}

/// Runs `bisect` over `count` connections from (`seq`, `cid`), logging to `log`: the verdict
/// and the fresh servers it took, the job and the command line it ran.
async fn bisect_stretch(
    campaign: &[String],
    (seq, cid): (u64, &fuzz_shared::Cid),
    count: u64,
    concurrency: usize,
    log: &std::path::Path,
    leak_kb: Option<u64>,
) -> anyhow::Result<((Verdict, u32), bisect::BisectJob, Vec<String>)> {
    let mut argv = repro::bisect_argv(campaign, seq, cid, count, concurrency);
    // Bisect's --log must come before SERVER (and any `--`), so it goes right after `bisect`.
    argv.splice(2..2, ["--tries".to_string(), TRIES.to_string(), "--log".into(), log.display().to_string()]);
    let cli = Cli::try_parse_from(&argv).map_err(|e| anyhow::anyhow!("the triage's bisect command: {e}"))?;
    let Job::Bisect(job) = cli.into_job(argv.clone()).map_err(|e| anyhow::anyhow!("{e}"))? else {
        anyhow::bail!("the triage's bisect command is not a bisect");
    };
    let verdict = match leak_kb {
        Some(kb) => bisect::run_leak(&job, kb).await?,
        None => bisect::run(&job).await?,
    };
    let Some(verdict) = verdict else { anyhow::bail!("interrupted") };
    let trials = count_trial_logs(log);
    Ok(((verdict, trials), job, argv))
}

/// The culprit's decisions, minimized (module [`crate::triage::minimize`]): the contents whose
/// mutations still kill a fresh server go into `triage.decisions`, their `replay --only`
/// command into `triage.reproduce`. A minimization that does not reproduce leaves the
/// culprit's replay as the reproduction.
async fn minimize_culprit(
    bisect_argv: &[String],
    (seq, cid): (u64, &fuzz_shared::Cid),
    dir: &std::path::Path,
    triage: &mut Triage,
) -> anyhow::Result<()> {
    let log = dir.join("minimize.jsonl");
    let argv = repro::minimize_argv(bisect_argv, seq, cid, TRIES, &log);
    let cli = Cli::try_parse_from(&argv).map_err(|e| anyhow::anyhow!("the triage's minimize command: {e}"))?;
    let Job::Minimize(job) = cli.into_job(argv.clone()).map_err(|e| anyhow::anyhow!("{e}"))? else {
        anyhow::bail!("the triage's minimize command is not a minimize");
    };
    let Some(verdict) = minimize::run(&job).await? else { anyhow::bail!("interrupted") };
    eprintln!("{}", verdict.describe());
    match verdict {
        MinimizeVerdict::Minimized { kept, kept_decisions, trials, command, all, .. } => {
            triage.trials += trials;
            triage.decisions = kept
                .iter()
                .map(|id| format!("{id}: {}", kept_decisions.get(id).map(|o| o.join(", ")).unwrap_or_default()))
                .collect();
            triage.detail = if kept.is_empty() {
                format!("{}; with nothing mutated it still does (of {} mutated contents)", triage.detail, all.len())
            } else {
                format!("{}; {} of its {} mutated contents suffice", triage.detail, kept.len(), all.len())
            };
            triage.reproduce = Some(command);
        }
        MinimizeVerdict::NotReproduced { runs } => {
            triage.trials += 1;
            triage.detail = format!("{}; its minimization did not reproduce it ({runs} runs)", triage.detail);
        }
    }
    Ok(())
}

/// Fresh servers a bisection started, from the run logs it left next to `log`
/// (`<log>.trial-N.R`, run R of trial N; `<log>.trial-N` with one run per trial).
fn count_trial_logs(log: &std::path::Path) -> u32 {
    let (Some(dir), Some(name)) = (log.parent(), log.file_name().and_then(|n| n.to_str())) else { return 0 };
    let prefix = format!("{name}.trial-");
    let is_run_log = |rest: &str| {
        !rest.is_empty() && rest.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.strip_prefix(&prefix).is_some_and(is_run_log))
                .count() as u32
        })
        .unwrap_or(0)
}
