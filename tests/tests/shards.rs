//! End-to-end tests of sharded campaigns: four fuzz-client processes, as the four pods of a
//! Kubernetes Indexed Job would run them (`--shards 4`, `JOB_COMPLETION_INDEX` 0..3), of one
//! root against one fuzz-server on loopback.
//!
//! - `four_shards_of_one_root`: the shards log to stdout (`--log -`) and nothing else goes
//!   there; each log is a valid campaign of its shard (its `run_start` names root, index and
//!   count; its CIDs are its own chain from the derived start; checkpoints with the server up);
//!   no CID is shared by two shards; one shard restarted alone at its checkpoint (the form its
//!   `server_down` repro takes) repeats its own tail, same CIDs and (mostly) the same mutation
//!   digests; `--resume-from` a shard's log goes on as that shard; `merge` over the four logs
//!   shows four shards and no server down.
//! - `merge_names_the_shard_whose_connection_crashed_the_server`: against a server planted with
//!   `abort-on-bad-key-share` (which names the connection it aborts on, as a real crash report or
//!   qlog file name would), every running shard sees the server go down; `merge --cid` names the
//!   shard and seq that ran the fatal connection, and exits 3.
//! - `sigterm_ends_a_shard_cleanly`: SIGTERM, as Kubernetes stops a pod, closes and logs the
//!   connections in flight and ends the log with `run_end`; exit status 130.
//! - `bad_shard_input_is_exit_2`: I >= N, N = 0, malformed, no index, no root.

use fuzz_e2e::{bin, cid_starts, client, log_lines, scratch_dir, Server};
use fuzz_shared::log::read_log;
use fuzz_shared::shard::{shard_of_log as shard_of, shard_start};
use fuzz_shared::{chain, Cid, Event, LogLine};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const ROOT: &str = "0123456789abcdef";
const SHARDS: u32 = 4;

fn root() -> Cid {
    ROOT.parse().unwrap()
}

/// Starts shard `index` as an Indexed Job's pod would: `--shards 4` and the index in the
/// environment; stdout and stderr to files in `dir`.
fn spawn_shard(dir: &Path, index: u32, stdout_name: &str, args: &[&str]) -> Child {
    Command::new(bin("fuzz-client"))
        .env("JOB_COMPLETION_INDEX", index.to_string())
        .args(["--start-cid", ROOT, "--shards", &SHARDS.to_string(), "--no-progress"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join(stdout_name)).unwrap())
        .stderr(std::fs::File::create(dir.join(format!("shard-{index}.stderr"))).unwrap())
        .spawn()
        .expect("start fuzz-client")
}

/// seq -> mutation_digest of every cid_end.
fn digests(log: &[LogLine]) -> HashMap<u64, String> {
    log.iter()
        .filter_map(|l| match &l.event {
            Event::CidEnd { seq, mutation_digest, .. } => Some((*seq, mutation_digest.clone())),
            _ => None,
        })
        .collect()
}

fn checkpoints(log: &[LogLine]) -> Vec<(u64, Cid)> {
    log.iter()
        .filter_map(|l| match &l.event {
            Event::Checkpoint { seq, cid, server_up: true, .. } => Some((*seq, *cid)),
            _ => None,
        })
        .collect()
}

#[test]
fn four_shards_of_one_root() {
    let dir = scratch_dir("shards-four");
    let server = Server::start(&dir, &["--mode", "clean"]);
    let target = server.addr.to_string();
    let common = ["--count", "120", "--checkpoint-every", "40", "--concurrency", "8", "--log", "-", &target];
    let mut children: Vec<Child> =
        (0..SHARDS).map(|i| spawn_shard(&dir, i, &format!("shard-{i}.jsonl"), &common)).collect();
    for (i, child) in children.iter_mut().enumerate() {
        let status = child.wait().unwrap();
        let stderr = std::fs::read_to_string(dir.join(format!("shard-{i}.stderr"))).unwrap();
        assert!(status.success(), "shard {i}: {status}\n{stderr}");
    }

    let mut all: HashSet<Cid> = HashSet::new();
    let mut logs = Vec::new();
    for i in 0..SHARDS {
        // Strict reading: every stdout line is a run-log line (people's output is on stderr).
        let bytes = std::fs::read(dir.join(format!("shard-{i}.jsonl"))).unwrap();
        let log = read_log(&bytes[..]).expect("stdout holds only run-log lines");
        let shard = shard_of(&log).expect("run_start names the shard");
        assert_eq!((shard.root, shard.index, shard.count), (root(), i, SHARDS));
        assert_eq!(shard.start_cid, shard_start(&root(), i));
        let starts = cid_starts(&log);
        assert_eq!(starts.len(), 120, "shard {i}");
        for (seq, cid, _) in &starts {
            assert_eq!(*cid, chain::nth(shard.start_cid, *seq), "shard {i} seq {seq} is on its own chain");
            assert!(all.insert(*cid), "shard {i} seq {seq}: {cid} ran in another shard too");
        }
        let cps: Vec<u64> = checkpoints(&log).iter().map(|c| c.0).collect();
        assert_eq!(cps, [40, 80, 120], "shard {i}'s checkpoints");
        assert!(matches!(log.last().map(|l| &l.event), Some(Event::RunEnd { server_up: true, connections: 120, .. })));
        logs.push(log);
    }
    assert_eq!(all.len(), 4 * 120);

    // Shard 2 alone, restarted at its checkpoint #40, as its server_down repro would spell it
    // (and in a process where the environment says another index: --shard wins).
    let (cp_seq, cp_cid) = checkpoints(&logs[2])[0];
    let restart_log = dir.join("shard-2-restart.jsonl");
    let out = Command::new(bin("fuzz-client"))
        .env("JOB_COMPLETION_INDEX", "0")
        .args(["--start-cid", ROOT, "--shard", "2/4", "--start-seq", &cp_seq.to_string(), "--count", "80"])
        .args(["--checkpoint-every", "40", "--concurrency", "8", "--no-progress", "--log"])
        .arg(&restart_log)
        .arg(&target)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let restart = log_lines(&restart_log);
    assert!(matches!(
        restart.first().map(|l| &l.event),
        Some(Event::RunStart { start_cid: Some(c), start_seq: 40, shard: Some(s), .. }) if *c == cp_cid && s.index == 2
    ));
    let original: Vec<(u64, Cid)> =
        cid_starts(&logs[2]).into_iter().map(|(s, c, _)| (s, c)).filter(|(s, _)| *s >= 40).collect();
    let again: Vec<(u64, Cid)> = cid_starts(&restart).into_iter().map(|(s, c, _)| (s, c)).collect();
    assert_eq!(again, original, "the restart runs shard 2's tail: same seqs, same CIDs");
    let (a, b) = (digests(&logs[2]), digests(&restart));
    let same = b.iter().filter(|(s, d)| a.get(s) == Some(d)).count();
    println!("shard 2 restarted at #{cp_seq}: mutation_digest agreement {same}/{} (timing may differ)", b.len());
    assert!(same * 10 >= b.len() * 9, "digest agreement {same}/{} below 90%", b.len());
    assert_eq!(checkpoints(&restart).iter().map(|c| c.0).collect::<Vec<_>>(), [80, 120], "same numbering");

    // --resume-from a shard's log goes on as that shard, from its last checkpoint (#120).
    let resumed_log = dir.join("shard-2-resumed.jsonl");
    let out = Command::new(bin("fuzz-client"))
        .env_remove("JOB_COMPLETION_INDEX")
        .arg("--resume-from")
        .arg(dir.join("shard-2.jsonl"))
        .args(["--count", "10", "--concurrency", "8", "--no-progress", "--log"])
        .arg(&resumed_log)
        .arg(&target)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let resumed = log_lines(&resumed_log);
    assert_eq!(shard_of(&resumed), shard_of(&logs[2]), "the resumed run is shard 2");
    let seqs: Vec<(u64, Cid)> = cid_starts(&resumed).into_iter().map(|(s, c, _)| (s, c)).collect();
    let shard2 = shard_of(&logs[2]).unwrap();
    assert_eq!(seqs, (120..130).map(|s| (s, shard2.cid_at(s))).collect::<Vec<_>>());

    let paths: Vec<String> = (0..SHARDS).map(|i| dir.join(format!("shard-{i}.jsonl")).display().to_string()).collect();
    let out = Command::new(bin("fuzz-client")).arg("merge").args(&paths).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&format!("campaign {ROOT}: 4 of 4 shards in 4 log(s)")), "{text}");
    for i in 0..SHARDS {
        let row = text.lines().find(|l| l.starts_with(&format!("{i}/4 "))).expect("a row per shard");
        assert!(row.contains(" 120 ") && row.contains("#120 ") && row.contains(" no "), "{row}");
    }
    assert!(text.contains("no shard saw the server go down"), "{text}");
    drop(server);
}

#[test]
fn merge_names_the_shard_whose_connection_crashed_the_server() {
    let dir = scratch_dir("shards-crash");
    let mut server = Server::start(&dir, &["--mode", "clean", "--planted-fault", "abort-on-bad-key-share"]);
    let target = server.addr.to_string();
    let mut children: Vec<Child> = (0..SHARDS)
        .map(|i| {
            let log = dir.join(format!("shard-{i}.jsonl")).display().to_string();
            let args = [
                "--count",
                "600",
                "--checkpoint-every",
                "20",
                "--concurrency",
                "4",
                "--max-findings",
                "1",
                "--log",
                &log,
                &target,
            ];
            spawn_shard(&dir, i, &format!("shard-{i}.stdout"), &args)
        })
        .collect();
    let codes: Vec<Option<i32>> = children.iter_mut().map(|c| c.wait().unwrap().code()).collect();
    assert!(!server.is_running(), "the planted fault killed the server (exit codes {codes:?})");
    assert!(codes.contains(&Some(3)), "a shard saw the server go down: {codes:?}");
    // The fault often fires within a few connections: on a busy machine a shard may start after
    // the server died, and then exits 2 at its start-up check without a log, as a late pod would.
    let ran: Vec<usize> = (0..SHARDS as usize).filter(|&i| codes[i] != Some(2)).collect();
    for (i, code) in codes.iter().enumerate().filter(|(_, c)| **c == Some(2)) {
        let stderr = std::fs::read_to_string(dir.join(format!("shard-{i}.stderr"))).unwrap();
        assert!(stderr.contains("does not answer a clean connection"), "shard {i} exit {code:?}: {stderr}");
    }
    // "fuzz-server: PLANTED FAULT: ClientHello of connection <cid> with ..."
    let stderr = server.stderr_text();
    let fatal: Cid = stderr
        .split("ClientHello of connection ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("the server names the connection: {stderr}"));
    let logs: Vec<Vec<LogLine>> = (0..SHARDS).map(|i| log_lines(&dir.join(format!("shard-{i}.jsonl")))).collect();
    let (owner, seq) = ran
        .iter()
        .copied()
        .find_map(|i| cid_starts(&logs[i]).into_iter().find(|(_, c, _)| *c == fatal).map(|(s, _, _)| (i, s)))
        .expect("one shard ran the fatal CID");
    let saw: Vec<usize> =
        (0..SHARDS as usize).filter(|&i| logs[i].iter().any(|l| matches!(l.event, Event::ServerDown { .. }))).collect();
    println!("the fatal connection {fatal} is shard {owner} seq {seq}; shards that saw the server down: {saw:?}");

    let paths: Vec<String> = (0..SHARDS).map(|i| dir.join(format!("shard-{i}.jsonl")).display().to_string()).collect();
    let given: Vec<&String> = ran.iter().map(|&i| &paths[i]).collect();
    let out = Command::new(bin("fuzz-client")).args(["merge", "--cid", &fatal.to_hex()]).args(given).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert_eq!(
        out.status.code(),
        Some(3),
        "a shard saw the server go down: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("{} of 4 shards", ran.len())), "{text}");
    assert!(text.contains(&format!("cid {fatal} is shard {owner}/4 ({}) seq {seq}", paths[owner])), "{text}");
    assert!(text.contains(&format!("server down, seen by {} log(s)", saw.len())), "{text}");
    for &i in &saw {
        assert!(text.contains(&format!("- shard {i}/4 ({})", paths[i])), "{text}");
        let row = text.lines().find(|l| l.starts_with(&format!("{i}/4 "))).unwrap();
        assert!(row.contains(" yes "), "{row}");
    }
    for &i in &saw {
        let restart = format!("--start-cid {ROOT} --shard {i}/4 --start-seq ");
        assert!(text.lines().any(|l| l.starts_with("  restart that shard alone: ") && l.contains(&restart)), "{text}");
    }
}

#[test]
fn sigterm_ends_a_shard_cleanly() {
    let dir = scratch_dir("shards-sigterm");
    let server = Server::start(&dir, &["--mode", "clean"]);
    let target = server.addr.to_string();
    let mut child = spawn_shard(&dir, 1, "shard-1.jsonl", &["--count", "100000", "--log", "-", &target]);
    let log_path = dir.join("shard-1.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while cid_starts(&log_lines(&log_path)).len() < 50 {
        assert!(std::time::Instant::now() < deadline, "the shard did not start connections");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status}");
    let log = log_lines(&log_path);
    assert!(matches!(log.last().map(|l| &l.event), Some(Event::RunEnd { server_up: false, .. })), "{:?}", log.last());
    let started = cid_starts(&log).len();
    let ended = log.iter().filter(|l| matches!(l.event, Event::CidEnd { .. })).count();
    assert_eq!(started, ended, "every connection started is logged as ended");
    drop(server);
}

#[test]
fn bad_shard_input_is_exit_2() {
    let cases: [(&[&str], &str); 5] = [
        (&["--start-cid", ROOT, "--shard", "4/4"], "0 to 3"),
        (&["--start-cid", ROOT, "--shard", "0/0"], "at least 1 shard"),
        (&["--start-cid", ROOT, "--shard", "two/4"], "I/N"),
        (&["--start-cid", ROOT, "--shards", "4"], "JOB_COMPLETION_INDEX"),
        (&["--shard", "1/4"], "--start-cid"),
    ];
    for (args, says) in cases {
        let out = Command::new(bin("fuzz-client"))
            .env_remove("JOB_COMPLETION_INDEX")
            .args(args)
            .arg("127.0.0.1:9")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let out = client(&["merge", "/nonexistent/shard-0.jsonl"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
}
