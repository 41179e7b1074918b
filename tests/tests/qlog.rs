//! End-to-end test of `--qlog-dir`: a fuzzed campaign writes one qlog file per connection
//! (`<seq>-<cid>.sqlog`), bounded by `--qlog-keep`. A fuzzed connection's file is checked
//! structurally against what the qlog main schema (0.3, JSON-SEQ, RFC 7464 records) and qvis
//! require: a header record with `qlog_version`, `qlog_format` and a trace with a vantage point;
//! then events with a numeric `time`, a `category:event` `name` and a `data` object; packet events
//! with a header (packet type and number) and frames each with a `frame_type`. Its mutation
//! decisions (`quic_cid_fuzz:mutation`) each follow the `packet_sent` of the packet they changed,
//! and their operator families are the ones the run log's `cid_end` names.

use fuzz_e2e::{run_client, scratch_dir, Server};
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
            &addr,
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);

    // Bounded: the files of the last 12 connections started (the final probe among them); one
    // still open when it fell out of the window goes when it closes.
    let files: Vec<String> =
        std::fs::read_dir(&qlogs).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!((12..=16).contains(&files.len()), "{} files: {files:?}", files.len());
    assert!(files.iter().any(|f| f.starts_with("probe-")), "the final probe's file: {files:?}");
    let ends: Vec<(u64, String, u64, Vec<String>)> = run
        .log
        .iter()
        .filter_map(|l: &LogLine| match &l.event {
            Event::CidEnd { seq, cid, fuzzed_packets, operators, .. } => {
                Some((*seq, cid.to_hex(), *fuzzed_packets, operators.clone()))
            }
            _ => None,
        })
        .collect();
    let last = ends.iter().max_by_key(|e| e.0).expect("connections");
    assert!(files.contains(&format!("{}-{}.sqlog", last.0, last.1)), "the last connection's file is kept");
    assert!(!files.contains(&"0-0123456789abcdef.sqlog".to_string()), "the first connection's file went");

    // A kept, fuzzed connection.
    let (seq, cid, _, operators) = ends
        .iter()
        .rev()
        .find(|(seq, cid, fuzzed, _)| *fuzzed > 0 && files.contains(&format!("{seq}-{cid}.sqlog")))
        .expect("a fuzzed connection among the kept files");
    let recs = records(&qlogs.join(format!("{seq}-{cid}.sqlog")));
    let head = &recs[0];
    assert_eq!(head["qlog_version"], "0.3");
    assert_eq!(head["qlog_format"], "JSON-SEQ");
    assert_eq!(head["trace"]["vantage_point"]["type"], "client");
    assert!(head["title"].as_str().unwrap().contains(cid.as_str()), "the title names the CID");

    let mut sent: Vec<(String, u64)> = Vec::new();
    let mut received = 0;
    let mut families = BTreeSet::new();
    let mut last_time = 0.0;
    for ev in &recs[1..] {
        let time = ev["time"].as_f64().expect("numeric time");
        assert!(time >= 0.0);
        last_time = f64::max(last_time, time);
        let name = ev["name"].as_str().expect("name");
        assert!(name.split_once(':').is_some_and(|(c, e)| !c.is_empty() && !e.is_empty()), "{name}");
        let data = &ev["data"];
        assert!(data.is_object(), "{ev}");
        match name {
            "transport:packet_sent" => sent.push(check_packet(data)),
            "transport:packet_received" => {
                check_packet(data);
                received += 1;
            }
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
    assert!(!sent.is_empty() && received > 0, "packets both ways");
    assert!(!families.is_empty(), "the mutated packet and its decision are in the qlog");
    assert_eq!(&families.into_iter().collect::<Vec<_>>(), operators, "the decisions' families are cid_end's operators");
    server.stop();
}
