//! `fuzz-client`: a CID-seeded QUIC fuzzing client. Every connection is a function of its
//! initial connection ID; see the modules for how.
//!
//! - [`cli`]: arguments and their validation (bad input: exit status 2);
//! - [`campaign`]: the chain, concurrency, checkpoints, probes, the run log;
//! - [`connection`]: one connection, from plan to outcome;
//! - [`endpoint`]: the shared s2n-quic endpoint and the providers that choose each ODCID;
//! - [`interceptor`]: the mutation of outgoing packets;
//! - [`summary`], [`progress`]: human output; [`repro`]: the restart command line.

mod campaign;
mod cli;
mod connection;
mod endpoint;
mod interceptor;
mod progress;
mod repro;
mod summary;

use campaign::{CampaignEnd, InternalError, Unwatched};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cli = cli::Cli::parse(); // usage errors exit with status 2 (clap)
                                 // `replay` prints every mutation decision (the `mutation` target; `packets=trace` adds
                                 // every packet sent).
    let default_filter = match cli.command {
        Some(cli::Command::Replay(_)) => "info,s2n_quic=warn,mutation=debug",
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
    let config = match cli.command {
        None => cli.campaign.into_config(argv),
        Some(cli::Command::Replay(replay)) => replay.into_config(argv),
    };
    let config = match config {
        Ok(c) => c,
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
    match runtime.block_on(campaign::run(config, &mut Unwatched)) {
        Ok(result) => match result.end {
            CampaignEnd::Done => ExitCode::SUCCESS,
            CampaignEnd::ServerDown { repro } => {
                eprintln!("server down; restart the campaign at the last checkpoint with:\n{repro}");
                ExitCode::from(3)
            }
            CampaignEnd::Interrupted => ExitCode::from(130),
        },
        Err(e) => {
            let internal = e.downcast_ref::<InternalError>().is_some();
            eprintln!("error: {e:#}");
            if !internal {
                eprintln!("(not a fuzzing result: the fuzzer itself failed)");
            }
            ExitCode::from(1)
        }
    }
}
