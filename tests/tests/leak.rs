//! End-to-end test of leak findings: a supervised campaign against a fuzz-server that leaks
//! resident memory only for the packets that carry a PATH_NEW_CONNECTION_ID frame
//! (draft-ietf-quic-multipath-18 §4.6; the planted fault
//! `leak-on-frame:path_new_connection_id:<bytes>`; s2n-quic's client speaks no multipath, the
//! mutation engine inserts one now and then), so only a few connections leak.
//!
//! - `leak_is_a_finding_and_triage_names_a_leaking_connection`: with a small `--leak-limit`, the
//!   campaign runs its whole `--count`, records a `leak` finding (`finding` in the log and a
//!   folder with `finding.json` of kind `leak`, whose cause names the checkpoints between which
//!   the memory grew), restarts the server (whose RSS starts low again) and goes on; the automatic triage bisects the window
//!   by fresh servers' memory (`bisect --leak`) to one culprit whose `cid_end` shows it inserted a
//!   PATH_NEW_CONNECTION_ID frame, and the command it records grows a fresh server's memory again.

use fuzz_e2e::{free_udp_port, run_client, scratch_dir, server_cmd, shell, udp_port_free};
use fuzz_shared::{Event, LogLine};
use std::collections::HashMap;
use std::time::Instant;

const START: &str = "0123456789abcdef";
/// Leaked per packet with a PATH_NEW_CONNECTION_ID frame: twice the least trial threshold of a leak bisect
/// (4 MiB), so that one leaking connection is past it by far and a fresh server's own growth
/// over a few dozen clean connections is not.
const LEAK: &str = "leak-on-frame:path_new_connection_id:8M";

/// The mutated contents' operators of each connection, by seq.
fn operators_by_seq(log: &[LogLine]) -> HashMap<u64, Vec<String>> {
    log.iter()
        .filter_map(|l| match &l.event {
            Event::CidEnd { seq, mutated, .. } => Some((*seq, mutated.values().flatten().cloned().collect())),
            _ => None,
        })
        .collect()
}

#[test]
fn leak_is_a_finding_and_triage_names_a_leaking_connection() {
    let dir = scratch_dir("leak-finding");
    let port = free_udp_port();
    let addr = format!("127.0.0.1:{port}");
    let cmd = server_cmd(addr.parse().unwrap(), &["--mode", "clean", "--planted-fault", LEAK]);
    let log = dir.join("campaign.jsonl");
    let started = Instant::now();
    let run = run_client(
        &log,
        &[
            "--start-cid",
            START,
            "--count",
            "300",
            "--concurrency",
            "4",
            "--checkpoint-every",
            "10",
            "--leak-limit",
            "24M",
            "--server-cmd",
            &cmd,
            &addr,
        ],
    );
    let campaign_s = started.elapsed().as_secs_f64();
    // Exit 3: the whole --count ran, with findings.
    assert_eq!(run.status.code(), Some(3), "stderr:\n{}", run.stderr);
    assert!(udp_port_free(port), "the server was stopped at the end");
    let launched = run
        .log
        .iter()
        .filter_map(|l| match l.event {
            Event::CidStart { seq, .. } => Some(seq),
            _ => None,
        })
        .collect::<std::collections::HashSet<_>>()
        .len();
    assert_eq!(launched, 300, "the campaign ran its whole --count");
    let leaks: Vec<_> = run
        .log
        .iter()
        .filter_map(|l| match &l.event {
            Event::Finding { kind, cause, window_seq, window_end, dir, count, .. } if kind == "leak" => {
                Some((cause.clone().unwrap_or_default(), *window_seq, *window_end, dir.clone(), *count))
            }
            _ => None,
        })
        .collect();
    assert!(!leaks.is_empty(), "a leak finding; stderr:\n{}", run.stderr);
    let restarts = run.log.iter().filter(|l| matches!(l.event, Event::ServerRestarted { .. })).count();
    assert!(restarts >= 1, "the server was restarted after the leak");
    // The fresh server starts small again: the restart reclaimed the leaked memory.
    let restarted_at = run.log.iter().position(|l| matches!(l.event, Event::ServerRestarted { .. })).unwrap();
    let rss = |lines: &[LogLine]| -> Vec<u64> {
        lines
            .iter()
            .filter_map(|l| match l.event {
                Event::Checkpoint { server_rss_kb, .. } => server_rss_kb,
                _ => None,
            })
            .collect()
    };
    let (before, after) = (rss(&run.log[..restarted_at]), rss(&run.log[restarted_at..]));
    let (peak, fresh) = (before.iter().max().copied().unwrap(), after.first().copied().expect("checkpoints after"));
    assert!(fresh < peak, "the fresh server's RSS {fresh} KiB is below the leaking one's {peak} KiB");
    let (cause, from, end, folder, _) = leaks[0].clone();
    println!(
        "campaign: {launched} connections in {campaign_s:.1} s, {} leak finding(s) ({restarts} restart(s)); first: \
         {cause}, window seq {from}..{end}",
        leaks.len()
    );
    assert!(cause.starts_with("leak: RSS grew from "), "{cause}");
    assert!(cause.contains(&format!("between checkpoints #{from} and #{end}")), "{cause}");
    assert!(end > from && from % 10 == 0 && end % 10 == 0, "the window is between checkpoints: {from}..{end}");

    // The finding's folder: finding.json of kind leak, with a bisect command for the leak.
    let folder = std::path::PathBuf::from(folder.expect("the finding's folder"));
    let finding: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("finding.json")).expect("finding.json")).unwrap();
    assert_eq!(finding["signature"]["kind"], "leak", "{finding}");
    assert!(folder.starts_with(dir.join("campaign.jsonl.findings")), "{}", folder.display());
    let bisect = finding["bisect"].as_str().expect("a bisect command").to_string();
    assert!(bisect.contains(" bisect --leak "), "{bisect}");
    assert!(bisect.contains(&format!("--from-seq {from} --until {}", end - from)), "{bisect}");

    // The automatic triage bisected the leak's window by the fresh servers' memory: the culprit
    // inserted a PATH_NEW_CONNECTION_ID frame, and the command the folder gives grows a fresh
    // server again.
    let triage = &finding["triage"];
    let ops = operators_by_seq(&run.log);
    let sent = |seq: &u64| ops.get(seq).is_some_and(|of| of.iter().any(|o| o == "insert:path_new_connection_id"));
    if triage["verdict"] == "needs_history" {
        // The connections that insert the frame from this start do it in 1-RTT packets, whose
        // contents come in an order timing can change: alone against a fresh server on a
        // loaded machine, a culprit may send its frame in another content than in the
        // campaign, and the triage then keeps the stretch. It must still be a stretch of the
        // window with a connection that sent the frame.
        let (at, n) = (triage["history_seq"].as_u64().unwrap(), triage["history_count"].as_u64().unwrap());
        assert!(from <= at && at + n <= end, "the stretch {at}+{n} is in the window {from}..{end}: {triage}");
        assert!((at..at + n).any(|s| sent(&s)), "a connection of the stretch sent PATH_NEW_CONNECTION_ID: {triage}");
        eprintln!("\n!!! leak triage kept a stretch, not one connection (timing): {triage} !!!\n");
        return;
    }
    assert_eq!(triage["verdict"], "single_culprit", "{finding}\nstderr:\n{}", run.stderr);
    let culprit = triage["culprit_seq"].as_u64().expect("a culprit seq");
    assert!((from..end).contains(&culprit), "the culprit {culprit} is in the window {from}..{end}");
    let of = ops.get(&culprit).cloned().unwrap_or_default();
    assert!(sent(&culprit), "seq {culprit} leaks, so it sent PATH_NEW_CONNECTION_ID: {of:?}");
    let reproduce = triage["reproduce"].as_str().expect("a reproduce command").to_string();
    assert!(reproduce.contains(" bisect ") && reproduce.contains(" --leak "), "{reproduce}");
    assert!(folder.join("reproduce.sh").is_file(), "reproduce.sh in {}", folder.display());
    let started = Instant::now();
    let out = shell(&reproduce);
    let reproduce_s = started.elapsed().as_secs_f64();
    assert_eq!(out.status.code(), Some(0), "the culprit alone leaks again; stderr:\n{}", out.stderr);
    assert!(udp_port_free(port), "every trial's server was stopped");
    println!(
        "leak triage: window seq {from}..{end} -> seq {culprit} in {} trials, {:.1} s; reproduce {reproduce_s:.1} s",
        triage["trials"], triage["elapsed_s"]
    );
}
