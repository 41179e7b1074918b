//! `fuzz-client`: a CID-seeded QUIC fuzzing client. Every connection is a function of its
//! initial connection ID; see the modules for how.
//!
//! - [`cli`]: arguments and their validation (bad input: exit status 2); [`resume`]: `--resume-from`;
//! - [`campaign`]: the chain, concurrency, checkpoints, probes, the run log;
//! - [`watch`]: a campaign around a server the client starts and supervises ([`supervise`]);
//! - [`bisect`]: narrowing a crash down to its culprit CID, one fresh server per trial;
//! - [`connection`]: one connection, from plan to outcome;
//! - [`endpoint`]: the shared s2n-quic endpoint and the providers that choose each ODCID;
//! - [`interceptor`]: the mutation of outgoing packets;
//! - [`summary`], [`progress`]: human output; [`repro`]: the command lines printed for the user.

mod bisect;
mod campaign;
mod cli;
mod connection;
mod endpoint;
mod interceptor;
mod progress;
mod repro;
mod resume;
mod summary;
mod supervise;
mod watch;

use campaign::{CampaignEnd, InternalError};
use clap::Parser;
use fuzz_shared::bisect::Verdict;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cli = cli::Cli::parse(); // usage errors exit with status 2 (clap)
                                 // `replay` prints every mutation decision (the `mutation` target; `packets=trace` adds every
                                 // packet sent). `bisect` runs many short campaigns: only its own lines and warnings.
    let default_filter = match cli.command {
        Some(cli::Command::Replay(_)) => "info,s2n_quic=warn,mutation=debug",
        Some(cli::Command::Bisect(_)) => "warn,s2n_quic=error",
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
    let job = match cli.into_job(argv) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = match job {
        cli::Job::Campaign { config, server } => {
            runtime.block_on(watch::run(config, server.as_ref())).map(|result| match result.end {
                CampaignEnd::Done => ExitCode::SUCCESS,
                CampaignEnd::ServerDown { repro, death } => {
                    if let Some(cause) = death.cause {
                        eprintln!("server down: {cause}");
                    }
                    if !death.stderr_tail.is_empty() {
                        eprintln!("the last lines of its stderr:");
                        for line in &death.stderr_tail {
                            eprintln!("  {line}");
                        }
                    }
                    eprintln!("server down; restart the campaign at the last checkpoint with:\n{repro}");
                    ExitCode::from(3)
                }
                CampaignEnd::Interrupted => ExitCode::from(130),
            })
        }
        cli::Job::Bisect(job) => runtime.block_on(bisect::run(&job)).map(|verdict| match verdict {
            Some(Verdict::NotReproduced) => ExitCode::from(4),
            Some(Verdict::SingleCulprit { .. } | Verdict::NeedsHistory { .. }) => ExitCode::SUCCESS,
            None => ExitCode::from(130),
        }),
    };
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
