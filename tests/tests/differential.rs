//! End-to-end tests of differential runs (`fuzz-client differential`,
//! `scripts/differential.sh`): one chain against several servers, and the table of the CIDs
//! whose reactions differ.
//!
//! - Two fuzz-servers, one with planted non-compliance (`close-code:0x0a:0x07`): they disagree
//!   where the clean one closes with PROTOCOL_VIOLATION, the table says so with the RFC
//!   oracle's flag on the planted server, and its replay command gives the planted reaction
//!   again.
//! - fuzz-server, ngtcp2 and aioquic (the peers of `scripts/interop/`, skipped loudly when not
//!   installed): the script writes the table and its JSON lines; most CIDs are compared, and a
//!   row's replay commands repeat each server's reaction.

use fuzz_e2e::{bin, log_lines, run_client, scratch_dir, server_cmd, shell, workspace};
use fuzz_shared::{Event, LogLine};
use std::path::Path;
use std::process::{Command, Stdio};

const START: &str = "0123456789abcdef";

/// `fuzz-client differential ARGS...`: (exit status, stdout, stderr).
fn differential(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bin("fuzz-client"))
        .arg("differential")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run fuzz-client differential");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The reaction a replay command logs: `closed 0x<code>` or the outcome.
fn replayed_reaction(replay: &str, dir: &Path, name: &str) -> (Option<u64>, String) {
    let log = dir.join(format!("replay-{name}.jsonl"));
    // A replay appends to its log, as a campaign does.
    let _ = std::fs::remove_file(&log);
    let out = shell(&format!("{replay} --log '{}'", log.display()));
    assert!(out.status.code().is_some(), "{replay}\n{}", out.stderr);
    let lines: Vec<LogLine> = log_lines(&log);
    lines
        .iter()
        .find_map(|l| match &l.event {
            Event::CidEnd { error_code, outcome, .. } => Some((*error_code, outcome.as_str().to_string())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{replay}: no cid_end\n{}", out.stderr))
}

#[test]
fn a_planted_non_compliance_is_where_two_servers_disagree() {
    let dir = scratch_dir("differential-planted");
    let mut logs = Vec::new();
    for (name, faults) in [("clean", &[][..]), ("planted", &["--planted-fault", "close-code:0x0a:0x07"][..])] {
        let port = fuzz_e2e::free_udp_port();
        let addr = format!("127.0.0.1:{port}");
        let cmd = server_cmd(addr.parse().unwrap(), &[&["--mode", "clean"], faults].concat());
        let log = dir.join(format!("{name}.jsonl"));
        let run = run_client(
            &log,
            &[
                "--start-cid",
                START,
                "--count",
                "600",
                "--concurrency",
                "8",
                "--no-progress",
                "--server-cmd",
                &cmd,
                &addr,
            ],
        );
        assert_eq!(run.status.code(), Some(0), "{name}: stderr:\n{}", run.stderr);
        logs.push(format!("{name}={}", log.display()));
    }
    let json = dir.join("table.jsonl");
    let (status, table, stderr) = differential(&[&logs[0], &logs[1], "--json", json.to_str().unwrap()]);
    println!("{table}");
    assert_eq!(status, Some(3), "the servers disagree: exit status 3\n{stderr}");
    assert!(table.starts_with("differential: 2 servers (clean, planted); "), "{table}");
    // The rows: where the clean server closes with PROTOCOL_VIOLATION, the planted one says
    // FRAME_ENCODING_ERROR. Anything else is timing.
    let rows: Vec<serde_json::Value> =
        std::fs::read_to_string(&json).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let reaction =
        |row: &serde_json::Value, server: &str| row["servers"][server]["reaction"].as_str().unwrap().to_string();
    let misreported: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| {
            reaction(r, "clean") == "closed 0xa PROTOCOL_VIOLATION"
                && reaction(r, "planted") == "closed 0x7 FRAME_ENCODING_ERROR"
        })
        .collect();
    assert!(misreported.len() >= 5, "{} rows, {} misreported:\n{table}", rows.len(), misreported.len());
    // On a quiet machine 159 of 161 rows (2026-12-04); a loaded one times out more connections
    // in one run than in the other.
    assert!(
        misreported.len() * 4 >= rows.len() * 3,
        "{} of {} rows are the planted fault:\n{table}",
        misreported.len(),
        rows.len()
    );
    // The oracle flags the planted server where a rule wants PROTOCOL_VIOLATION, never the clean one.
    let flagged: Vec<&&serde_json::Value> =
        misreported.iter().filter(|r| !r["servers"]["planted"]["deviation"].is_null()).collect();
    assert!(!flagged.is_empty(), "the oracle flags some of the planted server's misreports:\n{table}");
    assert!(misreported.iter().all(|r| r["servers"]["clean"]["deviation"].is_null()), "{table}");
    assert!(
        table.contains("! planted: ") && table.contains("expected closes with PROTOCOL_VIOLATION (0x0a)"),
        "{table}"
    );
    // A row's replay commands repeat each server's reaction.
    let row = flagged[0];
    for (server, code) in [("clean", 0x0a), ("planted", 0x07)] {
        let replay = row["servers"][server]["replay"].as_str().unwrap();
        assert!(replay.contains(&format!("--cid {} ", row["cid"].as_str().unwrap())), "{replay}");
        let (seen, outcome) = replayed_reaction(replay, &dir, server);
        assert_eq!(seen, Some(code), "{server}: {replay} ended {outcome}");
    }
    // Bad input: one server only, or no CID in common, is exit status 2.
    let (status, _, stderr) = differential(&[&logs[0]]);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains("at least two servers"), "{stderr}");
}

#[test]
fn one_chain_against_fuzz_server_ngtcp2_and_aioquic() {
    if !["ngtcp2", "aioquic"].into_iter().all(|p| fuzz_e2e::peer_cmd_at(p, "4433").is_some()) {
        return;
    }
    let dir = scratch_dir("differential-peers");
    let out = Command::new("bash")
        .arg(workspace().join("scripts/differential.sh"))
        .env("COUNT", "300")
        .env("NO_BUILD", "1")
        .env("OUT", &dir)
        .env("CARGO_TARGET_DIR", bin("fuzz-client").parent().unwrap().parent().unwrap())
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/differential.sh");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    assert_eq!(out.status.code(), Some(3), "three stacks disagree somewhere: exit status 3\n{stderr}");
    let table = std::fs::read_to_string(dir.join("differential.txt")).expect("the table is written");
    assert_eq!(table, stdout, "the table printed is the one written");
    let head = table.lines().next().unwrap();
    assert!(head.starts_with("differential: 3 servers (fuzz-server, ngtcp2, aioquic); "), "{head}");
    let compared: usize = head.split("; ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(compared >= 240, "at least 80% of 300 CIDs made the same decisions against all three: {head}");
    assert!(table.contains("The most frequent disagreements") && table.contains("replayed against"), "{table}");
    // Rows where every server closed with a code: each replay command gives that code again.
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("differential.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!rows.is_empty());
    let servers = ["fuzz-server", "ngtcp2", "aioquic"];
    let closed = |row: &serde_json::Value| {
        servers.iter().all(|s| row["servers"][s]["reaction"].as_str().unwrap().starts_with("closed 0x"))
    };
    let (mut tried, mut repeated) = (0, 0);
    for row in rows.iter().filter(|r| closed(r)).take(3) {
        tried += 1;
        let same = servers.iter().all(|s| {
            let logged = row["servers"][s]["reaction"].as_str().unwrap();
            let code = u64::from_str_radix(logged["closed 0x".len()..].split(' ').next().unwrap(), 16).unwrap();
            let (seen, outcome) = replayed_reaction(row["servers"][s]["replay"].as_str().unwrap(), &dir, s);
            println!("#{} {s}: logged {logged}, replayed {seen:?} {outcome}", row["seq"]);
            seen == Some(code)
        });
        repeated += usize::from(same);
    }
    assert!(tried > 0, "some row has a close from every server:\n{table}");
    assert!(repeated * 3 >= tried * 2, "{repeated} of {tried} rows repeated against every server");
}
