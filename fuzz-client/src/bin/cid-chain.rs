//! `cid-chain`: prints the CID chain, for clients that are not fuzz-client.
//!
//! A third-party client that chooses its initial Destination Connection ID (ngtcp2's example
//! client: `--dcid`) can run a server-side campaign against fuzz-server: fuzz-server seeds each
//! connection's mutations from the client-chosen CID, so the same CIDs give the same server-side
//! decisions. This prints the chain those CIDs come from, with the shared crate's derivation
//! (`fuzz_shared::chain`), one `seq cid` line each:
//!
//! ```text
//! cid-chain --start-cid 0123456789abcdef --count 3
//! 0 0123456789abcdef
//! 1 cac106eb3b28bca3
//! 2 282508f198836bcc
//! ```
//!
//! Exit status: 0; 2 for bad input.

use clap::Parser;
use fuzz_shared::{chain, Cid};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "cid-chain", about = "Print the CID chain from a start CID: one `seq cid` line per connection")]
struct Args {
    /// The first CID of the chain (hex, 8 to 20 bytes).
    #[arg(long, value_name = "HEX")]
    start_cid: Cid,
    /// The sequence number of --start-cid.
    #[arg(long, value_name = "N", default_value_t = 0)]
    start_seq: u64,
    /// How many CIDs to print.
    #[arg(long, value_name = "N", default_value_t = 10)]
    count: u64,
}

fn main() -> ExitCode {
    let args = Args::parse(); // bad input exits with status 2 (clap)
    for (i, cid) in chain::iter(args.start_cid).take(args.count as usize).enumerate() {
        println!("{} {cid}", args.start_seq + i as u64);
    }
    ExitCode::SUCCESS
}
