//! `fuzz-client`: a CID-seeded QUIC fuzzing client. Every connection is a function of its
//! initial connection ID; the modules are grouped by the job they serve, as the README is:
//!
//! - [`cli`]: arguments and their validation (bad input: exit status 2);
//! - [`campaign`]: running a campaign: the chain, concurrency, checkpoints, probes, the run log,
//!   restarting from a log, and supervising the server the client starts itself;
//! - [`quic`]: talking QUIC: one connection from plan to outcome, the shared s2n-quic endpoint
//!   whose providers choose each ODCID, the mutation of outgoing packets;
//! - [`triage`]: after a crash: the restart and replay command lines, bisection to one CID,
//!   minimization of its mutations;
//! - [`report`]: what a person reads: the live progress display and the summary;
//! - [`usage`]: the error for bad input that every validating module returns (exit status 2).

mod campaign;
mod cli;
mod coverage;
mod differential;
mod findings;
mod quic;
mod report;
mod triage;
mod usage;

use campaign::{watch, CampaignEnd, InternalError};
use clap::Parser;
use fuzz_shared::bisect::Verdict;
use report::progress;
use std::process::ExitCode;
use triage::minimize::MinimizeVerdict;
use triage::{bisect, initial_replay, minimize};

/// How the server died, on stderr: the cause, then the last lines of its stderr.
fn print_death(death: &campaign::Death) {
    if let Some(cause) = &death.cause {
        eprintln!("server down: {cause}");
    }
    if !death.stderr_tail.is_empty() {
        eprintln!("the last lines of its stderr:");
        for line in &death.stderr_tail {
            eprintln!("  {line}");
        }
    }
}

/// The findings of a campaign, on stderr: each once, with its count, folder and triage verdict.
fn print_findings(result: &campaign::CampaignResult, policy: Option<&campaign::FindingsPolicy>) {
    let store = policy.and_then(|p| findings::FindingStore::open(&p.dir).ok());
    let mut seen: Vec<&findings::Recorded> = Vec::new();
    for f in &result.findings {
        match seen.iter_mut().find(|s| s.id == f.id) {
            Some(s) => *s = f,
            None => seen.push(f),
        }
    }
    let new = seen.iter().filter(|f| result.findings.iter().any(|g| g.id == f.id && g.new)).count();
    eprintln!(
        "findings: {} distinct ({new} new), {} death(s) of the server, {} restart(s){}",
        seen.len(),
        result.findings.len(),
        result.restarts,
        policy.map(|p| format!("; in {}", p.dir.display())).unwrap_or_default()
    );
    for f in seen {
        let triage = store.as_ref().and_then(|s| s.get(&f.id)).and_then(|(_, r)| r.triage.clone());
        let verdict = triage.as_ref().map(|t| format!(": {}", t.detail)).unwrap_or_default();
        eprintln!("  {} x{} {}{verdict}", f.id, f.count, f.summary);
        if let Some(cmd) = triage.and_then(|t| t.reproduce) {
            eprintln!("    reproduce: {cmd}");
        }
    }
}

/// `fuzz-client generate KIND`: the man page or a completion script on stdout.
fn generate(kind: fuzz_cli_generate::Kind) -> ExitCode {
    use clap::CommandFactory;
    match fuzz_cli_generate::generate(kind, cli::Cli::command(), &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cli = cli::Cli::parse(); // usage errors exit with status 2 (clap)
                                 // `replay` prints every mutation decision (the `mutation` target; `packets=trace` adds every
                                 // packet sent). `bisect` runs many short campaigns: only its own lines and warnings.
    let default_filter = match cli.command {
        Some(cli::Command::Replay(ref r)) if r.pcap.is_some() => "warn,s2n_quic=error",
        Some(cli::Command::Replay(_)) => "info,s2n_quic=warn,mutation=debug",
        Some(cli::Command::Bisect(_) | cli::Command::Minimize(_) | cli::Command::Report(_)) => "warn,s2n_quic=error",
        Some(cli::Command::Merge(_) | cli::Command::Generate(_) | cli::Command::Differential(_)) => "warn",
        None => "info,s2n_quic=warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(|| progress::StderrWriter)
        .with_target(false)
        .init();
    match fuzz_s2n_glue::keylog::init(cli.keylog()) {
        Ok(Some(path)) => tracing::info!("TLS key log (NSS format): {}", path.display()),
        Ok(None) => {}
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    if let Some((dir, keep)) = cli.qlog() {
        if let Err(e) = quic::qlog_files::init(dir, keep) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let job = match cli.into_job(argv) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // `merge` reads files: no runtime, no network.
    if let cli::Job::Merge(job) = &job {
        return ExitCode::from(report::merge::run(job));
    }
    if let cli::Job::Differential(job) = &job {
        return ExitCode::from(job.run());
    }
    if let cli::Job::Generate(kind) = job {
        return generate(kind);
    }
    // `report` too.
    if let cli::Job::Report(job) = job {
        return match job.write() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = match job {
        cli::Job::Campaign { config, server } => runtime
            .block_on(async {
                let mut config = config;
                let policy = config.findings.clone();
                if server.is_none() {
                    // Triage needs fresh servers of its own: said below, if anything was found.
                    config.findings.iter_mut().for_each(|f| f.triage = false);
                }
                let result = watch::run(config, server.as_ref()).await?;
                // The campaign triaged its new findings while it went on (module
                // `findings::triage`); what it left (a server that died of the start-up probe)
                // is triaged now.
                let new: Vec<String> = result.findings.iter().filter(|f| f.new).map(|f| f.id.clone()).collect();
                if let Some(policy) = policy.as_ref().filter(|p| p.triage && !new.is_empty()) {
                    if server.is_some() && result.end != CampaignEnd::Interrupted {
                        let mut store = findings::FindingStore::open(&policy.dir)?;
                        findings::triage::triage_all(&mut store, &new).await?;
                    } else if server.is_none() {
                        eprintln!(
                            "findings are not triaged without --server-cmd: triage needs fresh servers of its own"
                        );
                    }
                }
                anyhow::Ok((result, policy))
            })
            .map(|(result, policy)| {
                let findings = !result.findings.is_empty();
                if findings {
                    print_findings(&result, policy.as_ref());
                }
                match result.end {
                    CampaignEnd::Done if findings => ExitCode::from(3),
                    CampaignEnd::Done => ExitCode::SUCCESS,
                    CampaignEnd::ServerDown { repro, bisect, death, crash_pcap } => {
                        print_death(&death);
                        if let Some(path) = crash_pcap {
                            eprintln!("crash capture (what the server received last): {}", path.display());
                        }
                        eprintln!("server down; restart the campaign at the last checkpoint with:\n{repro}");
                        if let Some(bisect) = bisect {
                            eprintln!("narrow it down to the connection that does it with:\n{bisect}");
                        }
                        ExitCode::from(3)
                    }
                    CampaignEnd::Interrupted => ExitCode::from(130),
                }
            }),
        cli::Job::InitialReplay(job) => {
            eprintln!("{}", initial_replay::describe(&job));
            runtime.block_on(initial_replay::run(&job)).map(|outcome| {
                eprintln!(
                    "sent byte for byte to {} from a fresh UDP socket; the server answered {} datagram(s)",
                    job.config.target, outcome.answered
                );
                match outcome.death {
                    Some(death) => {
                        print_death(&death);
                        ExitCode::from(3)
                    }
                    None => {
                        eprintln!("server survived: a clean probe completed afterwards");
                        ExitCode::SUCCESS
                    }
                }
            })
        }
        cli::Job::Merge(_) => unreachable!("merge ran above"),
        cli::Job::Differential(_) => unreachable!("compared above, without a runtime"),
        cli::Job::Generate(_) => unreachable!("written above, without a runtime"),
        cli::Job::Report(_) => unreachable!("written above, without a runtime"),
        cli::Job::Bisect(job) => runtime
            .block_on(async {
                let verdict = bisect::run(&job).await?;
                // Accumulated state: which of the stretch's connections it needs.
                if let Some(Verdict::NeedsHistory { start, count }) = verdict {
                    bisect::shrink_history(&job, start, count).await?;
                }
                anyhow::Ok(verdict)
            })
            .map(|verdict| match verdict {
                Some(Verdict::NotReproduced) => ExitCode::from(4),
                Some(Verdict::SingleCulprit { .. } | Verdict::NeedsHistory { .. }) => ExitCode::SUCCESS,
                None => ExitCode::from(130),
            }),
        // The same statuses as bisect's: 4 when the crash did not reproduce.
        cli::Job::Minimize(job) => runtime.block_on(minimize::run(&job)).map(|verdict| match verdict {
            Some(v) => {
                eprintln!("{}", v.describe());
                match v {
                    MinimizeVerdict::NotReproduced { .. } => ExitCode::from(4),
                    MinimizeVerdict::Minimized { .. } => ExitCode::SUCCESS,
                }
            }
            None => ExitCode::from(130),
        }),
    };
    // Connections still open (an interrupted run's) have not finished their qlog files.
    quic::qlog_files::flush_open();
    match outcome {
        Ok(code) => code,
        Err(e) => {
            if e.downcast_ref::<watch::StartError>().is_some() {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
            let internal = e.downcast_ref::<InternalError>().is_some();
            eprintln!("error: {e:#}");
            if !internal {
                eprintln!("(not a fuzzing result: the fuzzer itself failed)");
            }
            ExitCode::from(1)
        }
    }
}
