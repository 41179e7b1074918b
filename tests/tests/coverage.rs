//! End-to-end tests of `--coverage afl`: the server's own coverage, read from the AFL++ map an
//! instrumented server writes into the client's shared memory.
//!
//! - Against ngtcp2's h09server built with AFL++'s instrumentation (`scripts/interop/install.sh
//!   ngtcp2-afl`; skipped loudly when it is not built), every checkpoint logs the edges covered
//!   so far: many, and more as the campaign goes on.
//! - Against a server that is not instrumented (fuzz-server), or without a server the client
//!   starts, the campaign refuses to run blind: exit status 2 and a message that says why.

use fuzz_e2e::{bin, run_client, scratch_dir, server_cmd};
use fuzz_shared::Event;
use std::process::Command;

#[test]
fn checkpoints_log_the_edges_an_instrumented_server_covered() {
    let Some(cmd) = fuzz_e2e::peer_cmd_at("ngtcp2-afl", "{port}") else { return };
    let dir = scratch_dir("coverage-afl");
    let run = run_client(
        &dir.join("run.jsonl"),
        &[
            "--start-cid",
            "0123456789abcdef",
            "--count",
            "600",
            "--checkpoint-every",
            "100",
            "--concurrency",
            "16",
            "--coverage",
            "afl",
            "--no-progress",
            "--server-cmd",
            &cmd,
            "127.0.0.1:{port}",
        ],
    );
    assert_eq!(run.status.code(), Some(0), "stderr:\n{}", run.stderr);
    let edges: Vec<u64> = run
        .log
        .iter()
        .filter_map(|l| match &l.event {
            Event::Checkpoint { edges, .. } => Some(edges.expect("every checkpoint of a coverage campaign has edges")),
            _ => None,
        })
        .collect();
    println!("edges at the checkpoints: {edges:?}");
    assert!(edges.len() >= 6, "{edges:?}");
    assert!(edges[0] >= 1000, "a few hundred fuzzed connections reach a thousand edges of ngtcp2: {edges:?}");
    assert!(edges.windows(2).all(|w| w[0] <= w[1]), "edges covered never shrink: {edges:?}");
    assert!(edges.last() > edges.first(), "fuzzing reaches edges the first connections did not: {edges:?}");
    assert!(run.stderr.contains(&format!("{} edges (+", edges[0])), "the checkpoint line says so:\n{}", run.stderr);
}

#[test]
fn coverage_is_never_a_blind_run() {
    let dir = scratch_dir("coverage-blind");
    let port = fuzz_e2e::free_udp_port();
    let addr = format!("127.0.0.1:{port}");
    let cmd = server_cmd(addr.parse().unwrap(), &["--mode", "clean"]);
    let run = run_client(&dir.join("run.jsonl"), &["--count", "10", "--coverage", "afl", "--server-cmd", &cmd, &addr]);
    assert_eq!(run.status.code(), Some(2), "stderr:\n{}", run.stderr);
    assert!(run.stderr.contains("not built with AFL++'s instrumentation"), "{}", run.stderr);
    assert!(fuzz_e2e::udp_port_free(port), "the server command tried for its map size is gone");
    let out = Command::new(bin("fuzz-client")).args(["--count", "10", "--coverage", "afl", &addr]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("it needs --server-cmd"));
}
