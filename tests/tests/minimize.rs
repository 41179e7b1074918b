//! End-to-end test of `minimize` (triage down to the decisions) and `replay --only`, against
//! fuzz-servers with a planted fault: `abort-on-frame:ack_frequency` aborts the server when a
//! client sends ACK_FREQUENCY (draft-ietf-quic-ack-frequency-14 §4), which s2n-quic's client
//! never sends and whose two-byte type a mangled byte does not make by chance, so only a
//! client's `insert:ack_frequency` mutation trips it.
//!
//! - `minimize_keeps_the_one_content_that_kills`: a survey campaign against a server without the
//!   fault logs each connection's mutated contents (`cid_end`'s `mutated`); the test picks, by a
//!   deterministic walk over those connections in chain order, one that mutates several contents
//!   of which exactly one inserts ACK_FREQUENCY, and whose replay kills a faulty server.
//!   `minimize` must keep exactly that content, within ddmin's bound on trials for one needed
//!   content; its printed `replay --only` command must kill a fresh server, and a replay mutating
//!   only the other contents must not. The same connection against a server without the fault is
//!   "not reproduced" (exit status 4).
//!
//! Run with `cargo test --release -p fuzz-e2e --test minimize -- --nocapture` to see the
//! figures.

use fuzz_e2e::{bin, client, free_udp_port, log_lines, run_client, scratch_dir, server_cmd, shell, udp_port_free};
use fuzz_shared::log::MutatedContents;
use fuzz_shared::{Cid, ContentId, Event};
use std::net::SocketAddr;

const START: &str = "0123456789abcdef";
const CLEAN: &[&str] = &["--mode", "clean"];
const ABORT: &[&str] = &["--mode", "clean", "--planted-fault", "abort-on-frame:ack_frequency"];
const INSERTS: &str = "insert:ack_frequency";

fn loopback() -> (SocketAddr, u16) {
    let port = free_udp_port();
    (format!("127.0.0.1:{port}").parse().unwrap(), port)
}

/// A connection of the survey: seq, CID, its mutated contents, the one that inserts the frame.
type Candidate = (u64, Cid, MutatedContents, ContentId);

/// Connections of the survey that mutate several contents, exactly one of which inserts the
/// planted frame, in the order tried: those with at least three contents first, then those
/// whose other contents make no byte-level or frame-type mutation (which could make the frame
/// by chance), each group in chain order.
fn candidates(log: &[fuzz_shared::LogLine]) -> Vec<Candidate> {
    let mut out: Vec<((bool, bool), Candidate)> = log
        .iter()
        .filter_map(|l| match &l.event {
            Event::CidEnd { seq, cid, mutated, .. } if mutated.len() >= 2 => {
                let hits: Vec<&ContentId> =
                    mutated.iter().filter(|(_, ops)| ops.iter().any(|o| o == INSERTS)).map(|(id, _)| id).collect();
                let [hit] = hits[..] else { return None };
                let risky = mutated
                    .iter()
                    .filter(|(id, _)| *id != hit)
                    .any(|(_, ops)| ops.iter().any(|o| o.starts_with("havoc:") || o == "field:frame_type"));
                Some(((mutated.len() < 3, risky), (*seq, *cid, mutated.clone(), *hit)))
            }
            _ => None,
        })
        .collect();
    out.sort_by_key(|(order, c)| (*order, c.0));
    out.into_iter().map(|(_, c)| c).collect()
}

/// The content ids of a stderr line `<prefix><a>,<b>,...`.
fn ids_after(stderr: &str, prefix: &str) -> Vec<ContentId> {
    let line = stderr.lines().find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.to_string()));
    let line = line.unwrap_or_else(|| panic!("no {prefix:?} in:\n{stderr}"));
    fuzz_shared::content::parse_content_ids(&line).unwrap()
}

#[test]
fn minimize_keeps_the_one_content_that_kills() {
    let dir = scratch_dir("minimize");
    let (addr, port) = loopback();
    let addr_s = addr.to_string();
    let abort = server_cmd(addr, ABORT);

    // The survey: every connection's mutated contents, against a server without the fault.
    let survey = run_client(
        &dir.join("survey.jsonl"),
        &[
            "--start-cid",
            START,
            "--count",
            "400",
            "--concurrency",
            "8",
            "--server-cmd",
            &server_cmd(addr, CLEAN),
            &addr_s,
        ],
    );
    assert_eq!(survey.status.code(), Some(0), "stderr:\n{}", survey.stderr);
    let found = candidates(&survey.log);
    println!("survey: {} connections, {} candidates", 400, found.len());
    assert!(!found.is_empty(), "some connection of the survey inserts ACK_FREQUENCY among other mutations");

    // The first candidate whose replay (all its mutations) kills a server with the fault.
    let (seq, cid, mutated, culprit) = found
        .into_iter()
        .take(6)
        .find(|(seq, cid, ..)| {
            let out =
                client(&["replay", "--cid", &cid.to_hex(), "--seq", &seq.to_string(), "--server-cmd", &abort, &addr_s]);
            out.status.code() == Some(3)
        })
        .expect("a candidate whose replay kills the faulty server");
    println!("culprit seq {seq} cid {cid}: {mutated:?}");

    // minimize keeps exactly the content that inserts the frame.
    let log = dir.join("min.jsonl");
    let (cid_s, seq_s) = (cid.to_hex(), seq.to_string());
    let started = std::time::Instant::now();
    let out = client(&[
        "minimize",
        "--cid",
        &cid_s,
        "--seq",
        &seq_s,
        "--tries",
        "2",
        "--log",
        log.to_str().unwrap(),
        "--server-cmd",
        &abort,
        &addr_s,
    ]);
    println!("{}", out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", out.stderr);
    assert!(udp_port_free(port), "every trial's server was stopped");
    let all = ids_after(&out.stderr, "content(s): ");
    assert!(all.len() >= 2, "several contents were mutated: {all:?}");
    assert!(all.contains(&culprit), "{all:?} has {culprit}");
    let trials = out.stderr.lines().filter(|l| l.starts_with("trial ")).count() as u32;
    let verdict = out.stderr.lines().find(|l| l.starts_with("minimized after")).expect("a verdict");
    assert!(
        verdict.starts_with(&format!("minimized after {trials} trials: seq {seq}, cid {cid}: 1 of its")),
        "{verdict}"
    );
    let kept = out.stderr.lines().find(|l| l.starts_with("  ")).expect("the kept content").trim().to_string();
    assert!(kept.starts_with(&format!("{culprit}: ")) && kept.contains(INSERTS), "{kept}");
    // ddmin with one needed content: the full set, the empty set, then two trials per halving.
    let log2 = 32 - (all.len() as u32 - 1).leading_zeros();
    assert!(trials <= 2 + 2 * log2, "{trials} trials for {} contents", all.len());
    assert!(log_lines(&std::path::PathBuf::from(format!("{}.min-trial-1.1", log.display())))
        .iter()
        .any(|l| matches!(l.event, Event::CidEnd { .. })));
    println!("minimize: {} contents -> 1 in {trials} trials ({:.1} s)", all.len(), started.elapsed().as_secs_f64());

    // The printed command mutates only the kept content, and kills a fresh server.
    let command = out.stderr.lines().skip_while(|l| !l.starts_with("reproduce it")).nth(1).expect("a command");
    assert!(command.starts_with(bin("fuzz-client").to_str().unwrap()), "{command}");
    assert!(command.contains(&format!("replay --cid {cid} --seq {seq} --only {culprit} --server-cmd")), "{command}");
    let only_log = dir.join("only.jsonl");
    let run = shell(&format!("{command} --log '{}'", only_log.display()));
    assert_eq!(run.status.code(), Some(3), "the kept content alone kills; stderr:\n{}", run.stderr);
    let ends: Vec<MutatedContents> = log_lines(&only_log)
        .into_iter()
        .filter_map(|l| match l.event {
            Event::CidEnd { mutated, .. } => Some(mutated),
            _ => None,
        })
        .collect();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].keys().copied().collect::<Vec<_>>(), vec![culprit], "only the kept content was mutated");
    assert_eq!(ends[0][&culprit], mutated[&culprit], "with the decisions of the full connection");

    // The other contents alone do not kill it.
    let others: Vec<ContentId> = all.iter().copied().filter(|id| *id != culprit).collect();
    let others = fuzz_shared::content::join_content_ids(&others);
    let out = client(&["replay", "--cid", &cid_s, "--seq", &seq_s, "--only", &others, "--server-cmd", &abort, &addr_s]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the other contents ({others}) leave the server up; stderr:\n{}",
        out.stderr
    );

    // Against a server without the fault the connection kills nothing: not reproduced, exit 4.
    let out = client(&[
        "minimize",
        "--cid",
        &cid_s,
        "--seq",
        &seq_s,
        "--tries",
        "1",
        "--server-cmd",
        &server_cmd(addr, CLEAN),
        &addr_s,
    ]);
    assert_eq!(out.status.code(), Some(4), "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("not reproduced"), "{}", out.stderr);
    assert!(udp_port_free(port));
}

#[test]
fn bad_minimize_and_only_arguments_are_named() {
    let (addr, _) = loopback();
    let addr_s = addr.to_string();
    let out = client(&["minimize", "--cid", "0123456789abcdef", &addr_s]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("minimize needs --server-cmd"), "{}", out.stderr);
    let out = client(&["minimize", "--cid", "0123", "--server-cmd", "true", &addr_s]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("--cid"), "{}", out.stderr);
    let out = client(&["replay", "--cid", "0123456789abcdef", "--only", "ready/stream:0@0", &addr_s]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("--only") && out.stderr.contains("the space \"ready\""), "{}", out.stderr);
}
