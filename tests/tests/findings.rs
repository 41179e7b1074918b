//! Fuzz all night: a supervised campaign outlives its server's deaths, keeps one finding per
//! distinct bug, and triages each to its culprit connection and the decisions that do it.
//!
//! fuzz-server carries three planted faults: two aborts on different frame types and a hang on
//! a third. The campaign runs its whole `--count` through them (a fresh server after each death,
//! connections of a dead server's window not run again), records exactly three findings however
//! often each one struck, and triages each: `bisect` to one CID, `minimize` to its one content.
//! Each finding's `reproduce.sh` takes a fresh server down again. SERVER and `--server-cmd` use
//! the `{port}` placeholder, so the campaign, every trial and every reproduction run on free
//! ports of their own.

use fuzz_e2e::{bin, cid_starts, run_client, scratch_dir, shell};
use fuzz_shared::log::Event;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const START: &str = "0123456789abcdef";
/// Long enough for the three faults to strike (under derivation v3, from this start: the client
/// inserts PATH_CIDS_BLOCKED at seqs 8 and 116, PATH_RETIRE_CONNECTION_ID at 42, 110 and 118,
/// PATH_NEW_CONNECTION_ID at 53, 109, 111 and 118), short enough for CI. Each fault names one
/// frame type: the abort message names the type received, and two types would be two bugs.
const COUNT: u64 = 200;

#[test]
fn a_campaign_keeps_going_and_triages_every_distinct_bug() {
    let started = std::time::Instant::now();
    let dir = scratch_dir("findings");
    let server = format!(
        "{} --listen 127.0.0.1:{{port}} --mode clean --planted-fault abort-on-frame:path_cids_blocked \
         --planted-fault abort-on-frame:path_retire_connection_id --planted-fault hang-on-frame:path_new_connection_id",
        bin("fuzz-server").display()
    );
    let log_path = dir.join("night.jsonl");
    let count = COUNT.to_string();
    let run = run_client(
        &log_path,
        &[
            "--start-cid",
            START,
            "--count",
            &count,
            "--concurrency",
            "4",
            "--checkpoint-every",
            "25",
            "--no-progress",
            "--server-cmd",
            &server,
            "127.0.0.1:{port}",
        ],
    );
    println!("campaign and triage: {:.1} s", started.elapsed().as_secs_f64());
    println!("{}", run.stderr.lines().filter(|l| !l.contains(" INFO ")).collect::<Vec<_>>().join("\n"));
    assert_eq!(run.status.code(), Some(3), "findings: exit 3; stderr:\n{}", run.stderr);

    // The whole count ran, each connection once: a dead server's window is not run again.
    let starts: Vec<u64> = cid_starts(&run.log).iter().map(|s| s.0).collect();
    assert_eq!(starts.iter().copied().collect::<BTreeSet<_>>().len(), starts.len(), "no seq ran twice");
    assert_eq!(starts.len() as u64, COUNT, "the campaign ran its whole --count");
    let deaths = run.log.iter().filter(|l| matches!(l.event, Event::ServerDown { .. })).count();
    let restarts = run.log.iter().filter(|l| matches!(l.event, Event::ServerRestarted { .. })).count();
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for l in &run.log {
        if let Event::Finding { id, count, .. } = &l.event {
            seen.insert(id.clone(), *count);
        }
    }
    println!("{deaths} deaths, {restarts} restarts, findings {seen:?}");
    assert!(deaths >= 3, "each fault struck at least once: {deaths} deaths");
    assert!(restarts + 1 >= deaths, "a fresh server after every death but maybe the last");
    assert_eq!(seen.len(), 3, "one finding per distinct bug: {seen:?}");
    assert_eq!(seen.values().sum::<u64>(), deaths as u64, "every death counted in its finding");

    // The findings directory: one folder per bug, each triaged to one connection and one content.
    let findings = dir.join("night.jsonl.findings");
    let mut folders: Vec<_> = std::fs::read_dir(&findings).unwrap().map(|e| e.unwrap().path()).collect();
    folders.sort();
    assert_eq!(folders.len(), 3, "{folders:?}");
    let mut kinds = BTreeSet::new();
    for folder in &folders {
        let finding: Value =
            serde_json::from_str(&std::fs::read_to_string(folder.join("finding.json")).unwrap()).unwrap();
        let id = finding["signature"]["id"].as_str().unwrap();
        assert_eq!(finding["count"].as_u64(), seen.get(id).copied(), "{id}: finding.json counts every death");
        kinds.insert(finding["signature"]["kind"].as_str().unwrap().to_string());
        assert!(folder.join("stderr.txt").exists(), "{id}: the server's stderr is kept");
        let triage = &finding["triage"];
        println!("{id}: {}", triage["detail"]);
        assert_eq!(triage["verdict"], "single_culprit", "{id}: {triage}");
        let decisions = triage["decisions"].as_array().map_or(0, |d| d.len());
        assert!((1..=2).contains(&decisions), "{id}: minimized to one or two contents: {triage}");
        let reproduce = triage["reproduce"].as_str().unwrap();
        assert!(reproduce.contains(" replay ") && reproduce.contains(" --only "), "{id}: {reproduce}");
        assert!(reproduce.contains("{port}"), "{id}: the reproduction takes a free port of its own: {reproduce}");
        // The script takes a fresh server down: exit 3.
        let script = folder.join("reproduce.sh");
        let t = std::time::Instant::now();
        let out = shell(&format!("sh {}", script.display()));
        println!("{id}: reproduce.sh took {:.1} s", t.elapsed().as_secs_f64());
        assert_eq!(out.status.code(), Some(3), "{id}: reproduce.sh kills a fresh server; stderr:\n{}", out.stderr);
    }
    assert!(kinds.contains("hang") && kinds.contains("abort-message"), "kinds: {kinds:?}");
}

/// A bug no single connection triggers: the server aborts once three connections have sent an
/// ACK_FREQUENCY frame (which only mutations make this client send; its two-byte type does not
/// turn up by accident in a mangled packet, as a one-byte type can). The window since the last
/// checkpoint does not do it against a fresh server; the triage bisects everything the dying
/// server saw, then shrinks that stretch to the connections that still do it together: the
/// three, in chain order, out of the many the campaign ran.
#[test]
fn accumulated_state_is_triaged_to_the_connections_that_build_it() {
    let dir = scratch_dir("findings-history");
    let server = format!(
        "{} --listen 127.0.0.1:{{port}} --mode clean --planted-fault abort-after-frames:ack_frequency:3",
        bin("fuzz-server").display()
    );
    let log_path = dir.join("run.jsonl");
    let run = run_client(
        &log_path,
        &[
            "--start-cid",
            START,
            "--count",
            "2000",
            "--concurrency",
            "4",
            "--checkpoint-every",
            "20",
            "--max-findings",
            "1",
            "--no-progress",
            "--server-cmd",
            &server,
            "127.0.0.1:{port}",
        ],
    );
    println!("{}", run.stderr.lines().filter(|l| !l.contains(" INFO ")).collect::<Vec<_>>().join("\n"));
    assert_eq!(run.status.code(), Some(3), "a finding; stderr:\n{}", run.stderr);
    let ran = cid_starts(&run.log).len();
    // Which connections sent ACK_FREQUENCY (a mutation's insert or a field of one).
    let sent: BTreeSet<u64> = run
        .log
        .iter()
        .filter_map(|l| match &l.event {
            Event::CidEnd { seq, mutated, .. } if mutated.values().flatten().any(|d| d.contains("ack_frequency")) => {
                Some(*seq)
            }
            _ => None,
        })
        .collect();
    let folders: Vec<_> =
        std::fs::read_dir(dir.join("run.jsonl.findings")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let finding: Value =
        serde_json::from_str(&std::fs::read_to_string(folders[0].join("finding.json")).unwrap()).unwrap();
    let triage = &finding["triage"];
    println!("ran {ran}; ACK_FREQUENCY senders {sent:?}; triage {triage}");
    assert_eq!(triage["verdict"], "needs_history", "{triage}");
    let seqs: Vec<u64> = triage["history_seqs"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    assert_eq!(seqs.len(), 3, "the three connections that build the state: {triage}");
    assert!(seqs.iter().all(|s| sent.contains(s)), "each sent ACK_FREQUENCY: {seqs:?} of {sent:?}");
    assert!(seqs.len() * 10 < ran, "far fewer than the campaign ran ({ran})");
    let reproduce = triage["reproduce"].as_str().unwrap();
    assert!(reproduce.contains("--only-seqs"), "{reproduce}");
    let out = shell(&format!("sh {}", folders[0].join("reproduce.sh").display()));
    assert_eq!(out.status.code(), Some(3), "reproduce.sh kills a fresh server; stderr:\n{}", out.stderr);
}
