//! End-to-end test of `--qlog-dir`: a fuzzed campaign writes one qlog file per connection
//! (`<seq>-<cid>.sqlog`), bounded by `--qlog-keep`. A fuzzed connection's file is checked
//! structurally against what the qlog main schema (0.3, JSON-SEQ, RFC 7464 records) and qvis
//! require: a header record with `qlog_version`, `qlog_format` and a trace with a vantage point;
//! then events with a numeric `time`, a `category:event` `name` and a `data` object; packet events
//! with a header (packet type and number) and frames each with a `frame_type`. Its mutation
//! decisions (`quic_cid_fuzz:mutation`) each follow the `packet_sent` of the packet they changed,
//! and their operator families are the ones the run log's `cid_end` names.
//!
//! - `the_servers_qlog_names_the_clients_cid_and_shows_its_mutations`: fuzz-server's
//!   `--qlog-dir` writes the same schema from the server's vantage point, one file per connection
//!   named by the server's connection number and the client-chosen CID, with the server's
//!   mutations, whose families are the server log's `cid_end` operators.
//! - `a_crash_keeps_the_culprits_qlog_past_the_bound`: with `--qlog-keep 2`, a supervised
//!   campaign checkpointing every 4 connections crashes a fuzz-server planted to abort on a bad
//!   key share, which names the culprit's CID. The client found the server down through
//!   connections and probes started after the culprit, yet the culprit's qlog file is kept and
//!   shows the mutation of its Initial: every file since the last checkpoint is, and before it
//!   only the last 2.

use fuzz_e2e::{cid_starts, log_lines, run_client, scratch_dir, Server};
use fuzz_shared::{Event, LogLine};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

const PACKET_TYPES: [&str; 7] = ["initial", "handshake", "0RTT", "1RTT", "retry", "version_negotiation", "unknown"];

/// The JSON-SEQ records of a file: each starts with RS (0x1e) and ends with a newline.
fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("qlog file");
    assert!(text.starts_with('\u{1e}'), "JSON-SEQ: records start with RS");
    text.split('\u{1e}')
        .filter(|r| !r.trim().is_empty())
        .map(|r| serde_json::from_str(r.trim_end()).unwrap_or_else(|e| panic!("record {r:?}: {e}")))
        .collect()
}

/// Checks one packet event's data; returns (packet type, packet number).
fn check_packet(data: &Value) -> (String, u64) {
    let header = &data["header"];
    let ty = header["packet_type"].as_str().expect("header.packet_type");
    assert!(PACKET_TYPES.contains(&ty), "{ty}");
    let number = header["packet_number"].as_u64().expect("header.packet_number");
    for f in data["frames"].as_array().expect("frames") {
        assert!(f["frame_type"].is_string(), "frame_type in {f}");
    }
    (ty.to_string(), number)
}

/// Checks a qlog file of the connection with CID `cid` written from `vantage` ("client" or
/// "server"): its header, every event, packets both ways, and each mutation decision right after
/// the `packet_sent` of the packet it changed. Returns the decisions' operator families and the
/// received packets.
fn check_qlog(path: &Path, vantage: &str, cid: &str) -> (BTreeSet<String>, Vec<(String, u64)>) {
    let recs = records(path);
    let head = &recs[0];
    assert_eq!(head["qlog_version"], "0.3");
    assert_eq!(head["qlog_format"], "JSON-SEQ");
    assert_eq!(head["trace"]["vantage_point"]["type"], vantage);
    assert!(head["title"].as_str().unwrap().contains(cid), "the title names the CID");

    let mut sent: Vec<(String, u64)> = Vec::new();
    let mut received = Vec::new();
    let mut families = BTreeSet::new();
    for ev in &recs[1..] {
        let time = ev["time"].as_f64().expect("numeric time");
        assert!(time >= 0.0);
        let name = ev["name"].as_str().expect("name");
        assert!(name.split_once(':').is_some_and(|(c, e)| !c.is_empty() && !e.is_empty()), "{name}");
        let data = &ev["data"];
        assert!(data.is_object(), "{ev}");
        match name {
            "transport:packet_sent" => sent.push(check_packet(data)),
            "transport:packet_received" => received.push(check_packet(data)),
            "quic_cid_fuzz:mutation" => {
                // Right after the packet_sent of the packet it changed.
                let packet =
                    (data["packet_type"].as_str().unwrap().to_string(), data["packet_number"].as_u64().unwrap());
                assert_eq!(sent.last(), Some(&packet), "a decision follows its packet's packet_sent: {ev}");
                let op = data["operator"].as_str().expect("operator");
                assert!(data["content"].is_string() && data["offset"].is_u64(), "{ev}");
                families.insert(op.split(':').next().unwrap().to_string());
            }
            other => panic!("unexpected event {other}"),
        }
    }
    assert!(!sent.is_empty(), "packets sent");
    (families, received)
}

/// The `cid_end` lines of a log: seq, CID, fuzzed packets, operator families.
fn cid_ends(log: &[LogLine]) -> Vec<(u64, String, u64, Vec<String>)> {
    log.iter()
        .filter_map(|l| match &l.event {
            Event::CidEnd { seq, cid, fuzzed_packets, operators, .. } => {
                Some((*seq, cid.to_hex(), *fuzzed_packets, operators.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The chain seq a client qlog file is named by (`None` for a probe's).
fn chain_seq(file: &str) -> Option<u64> {
    file.split('-').next()?.parse().ok()
}

/// The last checkpoint's seq.
fn last_checkpoint(log: &[LogLine]) -> u64 {
    log.iter()
        .filter_map(|l| match &l.event {
            Event::Checkpoint { seq, .. } => Some(*seq),
            _ => None,
        })
        .max()
        .expect("a checkpoint")
}

/// The files of a directory.
fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn a_fuzzed_connections_qlog_is_valid_and_shows_its_mutations() {
    let dir = scratch_dir("qlog");
    let server = Server::start(&dir, &["--mode", "clean"]);
    let qlogs = dir.join("qlog");
    let addr = server.addr.to_string();
    let run = run_client(
        &dir.join("client.jsonl"),
        &[
            "--start-cid",
            "0123456789abcdef",
            "--count",
            "40",
            "--concurrency",
            "4",
            "--qlog-dir",
            qlogs.to_str().unwrap(),
            "--qlog-keep",
            "12",
            "--checkpoint-every",
            "7",
            &addr,
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);

    // Bounded: every file since the last checkpoint (the final probe's among them), and of the
    // connections before it only the last 12 started.
    let files = file_names(&qlogs);
    let checkpoint = last_checkpoint(&run.log);
    assert_eq!(checkpoint, 35, "checkpoints every 7 of 40");
    assert!(files.iter().any(|f| f.starts_with("probe-")), "the final probe's file: {files:?}");
    // A resuming plan's priming connection after the last checkpoint (#35 resumes): its file,
    // `prime-<its CID>`, is held with its plan's.
    let primes: Vec<String> = run
        .log
        .iter()
        .filter_map(|l| match &l.event {
            Event::CidEnd { seq, resumption: Some(r), .. } if *seq >= checkpoint => Some(r.prime_cid.to_hex()),
            _ => None,
        })
        .collect();
    assert!(!primes.is_empty(), "a resuming plan after the last checkpoint");
    for p in &primes {
        assert!(files.contains(&format!("prime-{p}.sqlog")), "the priming connection {p}: {files:?}");
    }
    let ends = cid_ends(&run.log);
    for (seq, cid, ..) in ends.iter().filter(|e| e.0 >= checkpoint) {
        assert!(files.contains(&format!("{seq}-{cid}.sqlog")), "#{seq} after the last checkpoint: {files:?}");
    }
    let before = files.iter().filter(|f| chain_seq(f).is_some_and(|n| n < checkpoint)).count();
    assert!((1..=12).contains(&before), "{before} files before the last checkpoint: {files:?}");
    assert!(!files.contains("0-0123456789abcdef.sqlog"), "the first connection's file went");

    // A kept, fuzzed connection.
    let (seq, cid, _, operators) = ends
        .iter()
        .rev()
        .find(|(seq, cid, fuzzed, _)| *fuzzed > 0 && files.contains(&format!("{seq}-{cid}.sqlog")))
        .expect("a fuzzed connection among the kept files");
    let (families, received) = check_qlog(&qlogs.join(format!("{seq}-{cid}.sqlog")), "client", cid);
    assert!(!received.is_empty(), "packets both ways");
    assert!(!families.is_empty(), "the mutated packet and its decision are in the qlog");
    assert_eq!(&families.into_iter().collect::<Vec<_>>(), operators, "the decisions' families are cid_end's operators");
    server.stop();
}

#[test]
fn the_servers_qlog_names_the_clients_cid_and_shows_its_mutations() {
    let dir = scratch_dir("qlog-server");
    let qlogs = dir.join("server-qlog");
    let server = Server::start(&dir, &["--mode", "fuzz", "--qlog-dir", qlogs.to_str().unwrap(), "--qlog-keep", "500"]);
    let addr = server.addr.to_string();
    let run = run_client(
        &dir.join("client.jsonl"),
        &["--mode", "clean", "--start-cid", "0123456789abcdef", "--count", "30", "--concurrency", "4", &addr],
    );
    assert!(matches!(run.status.code(), Some(0 | 1)), "{}", run.stderr);
    server.stop();

    let chain: BTreeSet<String> = cid_starts(&run.log).iter().map(|(_, cid, _)| cid.to_hex()).collect();
    let files = file_names(&qlogs);
    let server_log = log_lines(&dir.join("server.jsonl"));
    let ends = cid_ends(&server_log);
    assert!(!ends.is_empty(), "the server logged connections");
    // One file per server connection, `<server seq>-<client CID>.sqlog`.
    for (seq, cid, ..) in &ends {
        assert!(files.contains(&format!("{seq}-{cid}.sqlog")), "server connection {seq} ({cid}): {files:?}");
    }
    assert_eq!(files.len(), ends.len(), "{files:?}");
    assert!(ends.iter().any(|(_, cid, ..)| chain.contains(cid)), "the files are named by the client's CIDs");
    let fuzzed: Vec<_> = ends.iter().filter(|(_, _, fuzzed, _)| *fuzzed > 0).collect();
    assert!(!fuzzed.is_empty(), "the server fuzzed some connections");
    for (seq, cid, _, operators) in fuzzed {
        let (families, received) = check_qlog(&qlogs.join(format!("{seq}-{cid}.sqlog")), "server", cid);
        assert_eq!(&families.into_iter().collect::<Vec<_>>(), operators, "server connection {seq} ({cid})");
        // The client's first Initial, which created the connection (its frames made it known).
        assert_eq!(received.first().map(|(ty, _)| ty.as_str()), Some("initial"), "server connection {seq} ({cid})");
    }
}

#[test]
fn a_crash_keeps_the_culprits_qlog_past_the_bound() {
    let dir = scratch_dir("qlog-crash");
    let qlogs = dir.join("qlog");
    // This fault names the connection whose ClientHello killed the server: the culprit. The
    // server is not supervised: the client finds it down by connections and probes that fail,
    // started after the culprit.
    let mut server = Server::start(&dir, &["--mode", "clean", "--planted-fault", "abort-on-bad-key-share"]);
    let run = run_client(
        &dir.join("client.jsonl"),
        &[
            "--start-cid",
            "0123456789abcdef",
            "--count",
            "5000",
            "--concurrency",
            "2",
            "--qlog-dir",
            qlogs.to_str().unwrap(),
            "--qlog-keep",
            "2",
            "--checkpoint-every",
            "4",
            "--max-findings",
            "1",
            &server.addr.to_string(),
        ],
    );
    assert_eq!(run.status.code(), Some(3), "the server dies; stderr:\n{}", run.stderr);
    assert!(!server.is_running());
    let stderr = server.stderr_text();
    let culprit = stderr
        .split("ClientHello of connection ")
        .nth(1)
        .and_then(|rest| rest.get(..16))
        .unwrap_or_else(|| panic!("the server names the culprit:\n{stderr}"))
        .to_string();
    let seq = cid_starts(&run.log)
        .iter()
        .find(|(_, cid, _)| cid.to_hex() == culprit)
        .map(|(seq, ..)| *seq)
        .unwrap_or_else(|| panic!("{culprit} is a chain connection"));

    let files = file_names(&qlogs);
    let name = format!("{seq}-{culprit}.sqlog");
    assert!(files.contains(&name), "the culprit's file {name} is kept: {files:?}");
    let recs = records(&qlogs.join(&name));
    assert!(recs[0]["title"].as_str().unwrap().contains(&culprit), "{}", recs[0]);
    let mutations: Vec<&Value> = recs[1..].iter().filter(|e| e["name"] == "quic_cid_fuzz:mutation").collect();
    assert!(
        mutations.iter().any(|m| m["data"]["packet_type"] == "initial"),
        "the culprit's file shows the mutation of its Initial: {mutations:?}"
    );
    // Before the last checkpoint, only the last 2 files are left; after it, every one.
    let checkpoint = last_checkpoint(&run.log);
    let before = files.iter().filter(|f| chain_seq(f).is_some_and(|n| n < checkpoint)).count();
    assert!(before <= 2, "the bound holds before checkpoint {checkpoint}: {files:?}");
    for (s, cid, _) in cid_starts(&run.log).iter().filter(|(s, ..)| *s >= checkpoint) {
        let sent = run
            .log
            .iter()
            .any(|l| matches!(&l.event, Event::CidEnd { seq, sent_packets: Some(n), .. } if seq == s && *n > 0));
        if sent {
            assert!(
                files.contains(&format!("{s}-{cid}.sqlog")),
                "connection {s} after checkpoint {checkpoint}: {files:?}"
            );
        }
    }
}
