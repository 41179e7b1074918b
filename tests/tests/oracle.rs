//! End-to-end test of the RFC oracle (`shared/src/oracle/`): a campaign against a fuzz-server
//! with planted non-compliance (`close-code:0x0a:0x07`: it closes every PROTOCOL_VIOLATION as a
//! FRAME_ENCODING_ERROR) flags the connections whose rule says PROTOCOL_VIOLATION, in `cid_end`'s
//! verdicts and in the summary, with the command that replays the first of them; the same
//! campaign against a server without the fault has none of those.

use fuzz_e2e::{run_client, scratch_dir, server_cmd, ClientRun};
use fuzz_shared::{Event, LogLine};

const START: &str = "0123456789abcdef";
const COUNT: &str = "1000";

fn campaign(name: &str, faults: &[&str]) -> ClientRun {
    let dir = scratch_dir(name);
    let port = fuzz_e2e::free_udp_port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = vec!["--mode", "clean"];
    for f in faults {
        server.extend(["--planted-fault", f]);
    }
    let cmd = server_cmd(addr.parse().unwrap(), &server);
    let run = run_client(
        &dir.join("run.jsonl"),
        &["--start-cid", START, "--count", COUNT, "--concurrency", "8", "--no-progress", "--server-cmd", &cmd, &addr],
    );
    assert_eq!(run.status.code(), Some(0), "stderr:\n{}", run.stderr);
    run
}

/// The verdicts of a run: (seq, rule, expected, seen).
fn verdicts(log: &[LogLine]) -> Vec<(u64, String, bool, String)> {
    log.iter()
        .filter_map(|l| match &l.event {
            Event::CidEnd { seq, verdict: Some(v), .. } => Some((*seq, v.rule.clone(), v.expected, v.seen.clone())),
            _ => None,
        })
        .collect()
}

const MISREPORTED: &str = "closes with FRAME_ENCODING_ERROR (0x07)";

#[test]
fn planted_non_compliance_is_flagged_with_its_rule_and_replay_command() {
    let clean = campaign("oracle-clean", &[]);
    let planted = campaign("oracle-planted", &["close-code:0x0a:0x07"]);
    let (before, after) = (verdicts(&clean.log), verdicts(&planted.log));
    println!("verdicts without the fault: {before:?}\nwith it: {after:?}");
    println!(
        "{}",
        planted
            .stderr
            .lines()
            .filter(|l| l.starts_with("oracle") || l.starts_with("  "))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let protocol_violation_rules = ["client_handshake_done", "client_new_token", "frame_not_permitted_in_packet_type"];
    let misreported = |vs: &[(u64, String, bool, String)]| -> Vec<(u64, String, bool, String)> {
        vs.iter().filter(|v| protocol_violation_rules.contains(&v.1.as_str()) && v.3 == MISREPORTED).cloned().collect()
    };
    assert!(before.iter().any(|v| v.2), "without the fault some reactions are as the RFC says: {before:?}");
    assert!(misreported(&before).is_empty(), "s2n-quic itself closes those with PROTOCOL_VIOLATION: {before:?}");
    let flagged = misreported(&after);
    assert!(!flagged.is_empty(), "the planted misreport is flagged: {after:?}");
    assert!(flagged.iter().all(|v| !v.2), "as unexpected");
    // The summary names the rule, what it allows, what was seen, and a replay command.
    let line = planted
        .stderr
        .lines()
        .find(|l| l.contains(MISREPORTED) && l.contains("expected closes with PROTOCOL_VIOLATION (0x0a)"))
        .unwrap_or_else(|| panic!("a summary line for the misreport:\n{}", planted.stderr));
    assert!(line.contains("RFC 9000 §"), "{line}");
    let rule = line.split_whitespace().next().unwrap();
    let first = flagged.iter().filter(|v| v.1 == rule).map(|v| v.0).min().expect("the line's rule is flagged");
    assert!(line.contains(" replay --cid ") && line.contains(&format!("--seq {first} ")), "{line}");
    // The command replays that connection alone, and the oracle flags it again.
    let replay =
        &line[line.find(": /").map(|i| i + 2).or_else(|| line.find(": fuzz-client").map(|i| i + 2)).unwrap()..];
    let out = fuzz_e2e::shell(replay);
    assert_eq!(out.status.code(), Some(0), "{replay}\n{}", out.stderr);
    assert!(out.stderr.contains(MISREPORTED), "the replay is flagged again:\n{}", out.stderr);
    // The extension-frame rule allows FRAME_ENCODING_ERROR: the misreport is no deviation there.
    assert!(
        after.iter().filter(|v| v.1 == "extension_frame_not_negotiated" && v.3 == MISREPORTED).all(|v| v.2),
        "{after:?}"
    );
}
