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
use crate::triage::{bisect, repro};
use clap::Parser;
use fuzz_shared::bisect::Verdict;
use fuzz_shared::chain;
use std::time::Instant;

/// Runs of each bisection trial (a trial kills if any does): bisect's default.
const TRIES: u32 = 2;

/// Triages every finding of `store` named in `ids` that has no triage yet, one after the other,
/// saying on stderr what it does. A triage that fails says why and leaves the finding as it was.
pub async fn triage_all(store: &mut FindingStore, ids: &[String]) -> anyhow::Result<()> {
    for id in ids {
        let Some((dir, finding)) = store.get(id) else { continue };
        if finding.triage.is_some() {
            continue;
        }
        let (dir, finding) = (dir.to_path_buf(), finding.clone());
        eprintln!("triage of finding {id} ({}): {}", finding.signature.summary, dir.display());
        let triage = match triage_one(&finding, &dir).await {
            Ok(t) => t,
            Err(e) => {
                eprintln!("triage of finding {id} failed: {e:#}");
                continue;
            }
        };
        if let Some(cmd) = &triage.reproduce {
            let what = format!("{}\n{}", finding.signature.summary, triage.detail);
            let script = store::write_reproduce_script(&dir, &what, cmd)?;
            eprintln!("finding {id}: {}; reproduce with {}", triage.verdict, script.display());
        } else {
            eprintln!("finding {id}: {}", triage.verdict);
        }
        store.update(id, |f| f.triage = Some(triage))?;
    }
    Ok(())
}

/// Bisects one finding's first window, then minimizes a culprit's decisions.
async fn triage_one(finding: &Finding, dir: &std::path::Path) -> anyhow::Result<Triage> {
    let started = Instant::now();
    let w = &finding.first;
    if w.window_len() == 0 {
        return Ok(Triage {
            verdict: "not_triaged".into(),
            detail: "no connection ran against this server before it died: clean traffic (the start-up probe) kills it"
                .into(),
            culprit_seq: None,
            culprit_cid: None,
            history_seq: None,
            history_count: None,
            decisions: Vec::new(),
            reproduce: None,
            trials: 0,
            elapsed_s: started.elapsed().as_secs_f64(),
        });
    }
    // The campaign's --log is its own; the triage logs into the finding's folder.
    let campaign = repro::without_options(&finding.campaign, &["--log"]);
    let mut argv = repro::bisect_argv(&campaign, w.window_seq, &w.window_cid, w.window_len(), w.concurrency);
    // Bisect's trial logs and captures go into the finding's folder; its --log must come before
    // SERVER (and any `--`), so it goes right after `bisect`.
    let log = dir.join("bisect.jsonl");
    argv.splice(2..2, ["--tries".to_string(), TRIES.to_string(), "--log".into(), log.display().to_string()]);
    let cli = Cli::try_parse_from(&argv).map_err(|e| anyhow::anyhow!("the triage's bisect command: {e}"))?;
    let Job::Bisect(job) = cli.into_job(argv.clone()).map_err(|e| anyhow::anyhow!("{e}"))? else {
        anyhow::bail!("the triage's bisect command is not a bisect");
    };
    let verdict = bisect::run(&job).await?;
    let mut triage = Triage {
        verdict: String::new(),
        detail: String::new(),
        culprit_seq: None,
        culprit_cid: None,
        history_seq: None,
        history_count: None,
        decisions: Vec::new(),
        reproduce: None,
        trials: 0,
        elapsed_s: 0.0,
    };
    match verdict {
        None => anyhow::bail!("interrupted"),
        Some(Verdict::SingleCulprit { seq }) => {
            let cid = chain::nth(job.from, seq - job.from_seq);
            triage.verdict = "single_culprit".into();
            triage.detail = format!("connection seq {seq} (cid {cid}) alone kills a fresh server");
            triage.culprit_seq = Some(seq);
            triage.culprit_cid = Some(cid);
            triage.reproduce = Some(repro::replay_command(&argv, seq, &cid));
        }
        Some(Verdict::NeedsHistory { start, count }) => {
            let cid = chain::nth(job.from, start - job.from_seq);
            triage.verdict = "needs_history".into();
            triage.detail = format!(
                "the {count} connections seq {start}..{} together kill a fresh server; no single one does",
                start + count
            );
            triage.history_seq = Some(start);
            triage.history_count = Some(count);
            triage.reproduce = Some(repro::window_command(&argv, start, &cid, count, job.base.concurrency));
        }
        Some(Verdict::NotReproduced) => {
            triage.verdict = "not_reproduced".into();
            triage.detail = format!(
                "the window (seq {}..{}) against a fresh server did not kill it in {TRIES} runs",
                w.window_seq, w.window_end
            );
        }
    }
    triage.elapsed_s = started.elapsed().as_secs_f64();
    Ok(triage)
}
