//! End-to-end tests of fuzz-client against a real fuzz-server on loopback.
//!
//! - `campaign_logs_every_cid_and_true_checkpoints`: 300 connections, 16 in flight: every CID of
//!   the chain is started once, in chain order, and ended once; at least 5 checkpoints, each true
//!   when written; the server is still up; exit 0.
//! - `same_start_cid_same_campaign`: two runs from the same CID log the same CIDs and plans, and
//!   their mutation digests agree for at least 95% of the CIDs (the figure is printed).
//! - `server_killed_mid_campaign`: `server_down`, the restart command, exit status 3.
//! - `clean_mode_mutates_nothing`: same plans, no mutation, every connection completes.
//! - `bad_input_exits_2`: malformed CID, wrong CID length, unresolvable host, missing CA, --count 0.

use fuzz_e2e::{bin, cid_starts, log_lines, run_client, scratch_dir, Server};
use fuzz_shared::{chain, Cid, ConnectionPlan, Event, LogLine, Outcome, Role};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const START: &str = "0123456789abcdef";

fn start_cid() -> Cid {
    START.parse().unwrap()
}

/// seq -> (cid, digest, outcome) of every cid_end; panics on a seq ended twice.
fn ends(log: &[LogLine]) -> HashMap<u64, (Cid, String, Outcome)> {
    let mut out = HashMap::new();
    for l in log {
        if let Event::CidEnd { seq, cid, mutation_digest, outcome, .. } = &l.event {
            assert!(out.insert(*seq, (*cid, mutation_digest.clone(), *outcome)).is_none(), "seq {seq} ended twice");
        }
    }
    out
}

/// Checks that the log holds exactly the chain's first `count` CIDs, started in order, each
/// ended once, with the plans the shared core derives.
fn check_chain(log: &[LogLine], count: u64) {
    let starts = cid_starts(log);
    let chain: Vec<Cid> = chain::iter(start_cid()).take(count as usize).collect();
    assert_eq!(starts.len() as u64, count, "cid_start lines");
    for (i, (seq, cid, plan)) in starts.iter().enumerate() {
        assert_eq!(*seq, i as u64, "cid_start in seq order");
        assert_eq!(*cid, chain[i], "seq {seq} has the chain's CID");
        assert_eq!(*plan, ConnectionPlan::from_cid(cid, Role::Client), "seq {seq} has its CID's plan");
    }
    let ends = ends(log);
    assert_eq!(ends.len() as u64, count, "cid_end lines");
    for (seq, (cid, _, _)) in &ends {
        assert_eq!(*cid, chain[*seq as usize], "cid_end of seq {seq} names its CID");
    }
}

/// Checks every checkpoint line: all lower seqs logged cid_end before it. Returns how many.
fn check_checkpoints(log: &[LogLine]) -> usize {
    let mut ended = std::collections::HashSet::new();
    let mut started = 0u64;
    let mut count = 0;
    for l in log {
        match &l.event {
            Event::CidStart { .. } => started += 1,
            Event::CidEnd { seq, .. } => {
                ended.insert(*seq);
            }
            Event::Checkpoint { seq, cid, server_up, .. } => {
                assert!(*server_up);
                assert_eq!(*cid, chain::nth(start_cid(), *seq), "checkpoint {seq} names the CID of its seq");
                assert!(started >= *seq, "checkpoint {seq} before its connections started");
                for s in 0..*seq {
                    assert!(ended.contains(&s), "checkpoint {seq} written before seq {s} ended");
                }
                count += 1;
            }
            _ => {}
        }
    }
    count
}

#[test]
fn campaign_logs_every_cid_and_true_checkpoints() {
    let dir = scratch_dir("client-campaign");
    let mut server = Server::start(&dir, &[]);
    let addr = server.addr.to_string();
    let run = run_client(
        &dir.join("client.jsonl"),
        &["--start-cid", START, "--count", "300", "--concurrency", "16", "--checkpoint-every", "50", &addr],
    );
    assert!(run.status.success(), "exit {:?}; stderr:\n{}", run.status, run.stderr);
    check_chain(&run.log, 300);
    let checkpoints = check_checkpoints(&run.log);
    assert!(checkpoints >= 5, "{checkpoints} checkpoints");
    assert!(matches!(run.log.last().map(|l| &l.event), Some(Event::RunEnd { server_up: true, connections: 300, .. })));
    assert!(server.is_running(), "the server died: {}", server.stderr_text());
    assert!(run.stderr.contains("connections/s"), "a summary on stderr:\n{}", run.stderr);
    // The ODCIDs on the wire: the server learns each connection's CID from its first Initial.
    // Every CID of the chain reached it, and every other CID it saw is a probe CID or the
    // priming CID of a resuming plan.
    let chain: std::collections::HashSet<Cid> = chain::iter(start_cid()).take(300).collect();
    let mut probes = std::collections::HashSet::new();
    for cid in chain.iter().chain(std::iter::once(&chain::nth(start_cid(), 300))) {
        let mut p = *cid;
        for _ in 0..20 {
            p = chain::probe(&p);
            probes.insert(p);
        }
    }
    let seen: std::collections::HashSet<Cid> = log_lines(&server.log)
        .iter()
        .filter_map(|l| match &l.event {
            Event::CidStart { cid, .. } => Some(*cid),
            _ => None,
        })
        .collect();
    let missing: Vec<&Cid> = chain.iter().filter(|c| !seen.contains(c)).collect();
    assert!(missing.is_empty(), "the server never saw these chain CIDs as ODCIDs: {missing:?}");
    let primes: std::collections::HashSet<Cid> =
        chain.iter().filter(|c| ConnectionPlan::from_cid(c, Role::Client).resume_session).map(chain::prime).collect();
    let strangers: Vec<&Cid> =
        seen.iter().filter(|c| !chain.contains(c) && !probes.contains(c) && !primes.contains(c)).collect();
    assert!(
        strangers.is_empty(),
        "the server saw ODCIDs that are neither chain, probe nor priming CIDs: {strangers:?}"
    );
    let unprimed: Vec<&Cid> = primes.iter().filter(|c| !seen.contains(c)).collect();
    assert!(unprimed.is_empty(), "resuming plans whose priming connection never reached the server: {unprimed:?}");
    eprintln!("{}", run.stderr);
}

#[test]
fn same_start_cid_same_campaign() {
    let dir = scratch_dir("client-determinism");
    let mut digests = Vec::new();
    for i in 0..2 {
        let mut server = Server::start(&dir, &[]);
        let addr = server.addr.to_string();
        let run = run_client(
            &dir.join(format!("client-{i}.jsonl")),
            &["--start-cid", START, "--count", "300", "--concurrency", "16", "--checkpoint-every", "50", &addr],
        );
        assert!(run.status.success(), "run {i}: exit {:?}; stderr:\n{}", run.status, run.stderr);
        check_chain(&run.log, 300);
        assert!(server.is_running());
        digests.push((cid_starts(&run.log), ends(&run.log)));
    }
    assert_eq!(digests[0].0, digests[1].0, "same CIDs and plans in the same order");
    let (a, b) = (&digests[0].1, &digests[1].1);
    let same = a.iter().filter(|(seq, (_, d, _))| b[seq].1 == *d).count();
    let fuzzed_same = a
        .iter()
        .filter(|(seq, (_, d, _))| *d != fuzz_shared::mutate::digest(&[]) || b[seq].1 != *d)
        .filter(|(seq, (_, d, _))| b[seq].1 == *d)
        .count();
    let fuzzed = a.iter().filter(|(seq, (_, d, _))| *d != fuzz_shared::mutate::digest(&[]) || b[seq].1 != *d).count();
    let pct = 100.0 * same as f64 / a.len() as f64;
    println!(
        "mutation_digest agreement: {same}/{} CIDs = {pct:.1}% (among connections that mutated anything: {fuzzed_same}/{fuzzed})",
        a.len()
    );
    for (seq, (cid, d, o)) in a {
        if b[seq].1 != *d {
            println!("  differs: #{seq} {cid} {d} {o:?} vs {} {:?}", b[seq].1, b[seq].2);
        }
    }
    // The target. Measured on a 2-core machine against fuzz-server (fuzz mode): 99.0 and
    // 99.3% in two runs of this test. What still differs is timing, not the CID derivations: a
    // spurious retransmission, or whether an ACK-only packet exists. A broken derivation gives
    // about 50% (the share of connections that mutate nothing).
    assert!(pct >= 95.0, "digest agreement {pct:.1}% < 95%");
}

#[test]
fn server_killed_mid_campaign() {
    let dir = scratch_dir("client-server-down");
    let mut server = Server::start(&dir, &[]);
    let addr = server.addr.to_string();
    let log = dir.join("client.jsonl");
    let stderr_path = dir.join("client.stderr");
    let mut client = Command::new(bin("fuzz-client"))
        .args(["--log"])
        .arg(&log)
        .args(["--start-cid", START, "--count", "100000", "--concurrency", "16", "--checkpoint-every", "50"])
        .args(["--max-findings", "1", &addr])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("start fuzz-client");
    // Let it pass two checkpoints, then kill the server.
    let deadline = Instant::now() + Duration::from_secs(60);
    while log_lines(&log).iter().filter(|l| matches!(l.event, Event::Checkpoint { .. })).count() < 2 {
        assert!(
            Instant::now() < deadline,
            "no checkpoints: {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        assert!(client.try_wait().unwrap().is_none(), "the client exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.child.kill().unwrap();
    let killed_at = Instant::now();
    let status = loop {
        if let Some(status) = client.try_wait().unwrap() {
            break status;
        }
        if killed_at.elapsed() > Duration::from_secs(60) {
            let _ = client.kill();
            panic!("the client did not notice the dead server within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    let lines = log_lines(&log);
    println!("the client stopped {:.1} s after the kill", killed_at.elapsed().as_secs_f64());
    assert_eq!(status.code(), Some(3), "exit status 3 for a dead server; stderr:\n{stderr}");
    let (cp_seq, cp_cid) = lines
        .iter()
        .filter_map(|l| match l.event {
            Event::Checkpoint { seq, cid, .. } => Some((seq, cid)),
            _ => None,
        })
        .next_back()
        .expect("a checkpoint before the kill");
    let (down_seq, down_cid, repro) = lines
        .iter()
        .find_map(|l| match &l.event {
            Event::ServerDown { last_checkpoint_seq, last_checkpoint_cid, repro, .. } => {
                Some((*last_checkpoint_seq, *last_checkpoint_cid, repro.clone()))
            }
            _ => None,
        })
        .expect("server_down in the log");
    assert_eq!((down_seq, down_cid), (cp_seq, cp_cid), "server_down names the last checkpoint");
    assert_eq!(cp_cid, chain::nth(start_cid(), cp_seq));
    let expected_tail = format!("--start-cid {cp_cid} --start-seq {cp_seq} --count {}", 100000 - cp_seq);
    assert!(repro.contains(&expected_tail), "repro {repro:?} lacks {expected_tail:?}");
    assert!(repro.starts_with(bin("fuzz-client").to_str().unwrap()), "repro starts with the program: {repro}");
    assert!(repro.contains(&addr) && repro.contains("--concurrency 16") && repro.contains("--checkpoint-every 50"));
    assert!(!repro.contains(START), "the original start CID is replaced: {repro}");
    assert!(stderr.contains(&repro), "the repro command is printed on stderr:\n{stderr}");
    // Every connection that started also ended, even those cut short.
    assert_eq!(cid_starts(&lines).len(), ends(&lines).len());
    assert!(matches!(lines.last().map(|l| &l.event), Some(Event::RunEnd { server_up: false, .. })));
}

#[test]
fn clean_mode_mutates_nothing() {
    let dir = scratch_dir("client-clean");
    // The server must not fuzz either: its own mutations would fail clean handshakes.
    let mut server = Server::start(&dir, &["--mode", "clean"]);
    let addr = server.addr.to_string();
    let run = run_client(
        &dir.join("client.jsonl"),
        &[
            "--start-cid",
            START,
            "--count",
            "100",
            "--concurrency",
            "16",
            "--checkpoint-every",
            "50",
            "--mode",
            "clean",
            &addr,
        ],
    );
    assert!(run.status.success(), "exit {:?}; stderr:\n{}", run.status, run.stderr);
    check_chain(&run.log, 100);
    for l in &run.log {
        if let Event::CidEnd { seq, fuzzed_packets, outcome, .. } = &l.event {
            assert_eq!(*fuzzed_packets, 0, "seq {seq} mutated in clean mode");
            assert_ne!(*outcome, Outcome::HandshakeFailed, "seq {seq}: a clean handshake failed");
        }
    }
    let completed = ends(&run.log).values().filter(|(_, _, o)| *o == Outcome::Completed).count();
    assert!(completed >= 95, "{completed}/100 clean connections completed");
    assert!(server.is_running());
}

#[test]
fn bad_input_exits_2() {
    let dir = scratch_dir("client-bad-input");
    let log = dir.join("client.jsonl");
    let nobody = format!("127.0.0.1:{}", fuzz_e2e::free_udp_port());
    let cases: [(&[&str], &str); 7] = [
        (&["--count", "5", &nobody], "does not answer"),
        (&["--start-cid", "0123456789abcdeg", "127.0.0.1:4433"], "non-hex"),
        (&["--start-cid", "000102030405060708090a0b", "127.0.0.1:4433"], "8 bytes"),
        (&["no-such-host.invalid:4433"], "cannot resolve"),
        (&["--ca", "/nonexistent/ca.pem", "127.0.0.1:4433"], "/nonexistent/ca.pem"),
        (&["--count", "0", "127.0.0.1:4433"], "--count 0"),
        (&["--mode", "chaos", "127.0.0.1:4433"], "chaos"),
    ];
    for (args, needle) in cases {
        let run = run_client(&log, args);
        assert_eq!(run.status.code(), Some(2), "{args:?}: stderr:\n{}", run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {needle:?} not in stderr:\n{}", run.stderr);
        assert!(run.log.is_empty(), "{args:?}: nothing is logged for bad input");
    }
}
