//! End-to-end tests of the client knobs (`--handshake-cid-rotation`, `--client-cid-len`,
//! `--path-mtu-probing`) and of a server that clean traffic kills, against fuzz-servers with
//! planted faults (test aids): `abort-on-retire-prior-to` aborts when a client's
//! NEW_CONNECTION_ID has a Retire Prior To above 0, which every clean s2n-quic connection sends
//! once its handshake is confirmed (RFC 9000 §5.1.2: it rotates away from its handshake CID).
//!
//! - `clean_traffic_that_kills_the_server_is_a_finding`: a campaign with the default knobs kills
//!   that server with its clean start-up probe. It is a finding, not bad input: exit 3 (not 2),
//!   `server_down` and `finding` in the log, a finding folder with the stderr report and the
//!   crash capture, whose verdict says clean traffic kills the server, names the probe's CID
//!   and suggests `--handshake-cid-rotation off`. Run again with `--client-cid-len 8`, the
//!   capture shows the probe's Initial packets with an 8-byte Source Connection ID instead of
//!   16 (tshark; skipped loudly without it), and the restart command keeps the knob.
//! - `a_server_that_never_starts_is_still_bad_input`: a server command that exits at once with
//!   an exit status (a bad option), having answered nothing, is bad input as before (exit 2).
//! - `rotation_off_runs_the_whole_campaign_past_it`: the same server, planted to abort on
//!   ACK_FREQUENCY too, and a campaign of 300 connections with `--handshake-cid-rotation off`: it
//!   runs its whole count through the server's deaths, finds the ACK_FREQUENCY abort, and no finding
//!   of clean traffic; `run_start` records the knob, and the findings' restart and bisect
//!   commands keep it.
//! - `knobs_change_what_goes_on_the_wire`: clean connections to a clean fuzz-server, read from the
//!   client's qlog files: by default every connection sends NEW_CONNECTION_ID frames with Retire
//!   Prior To 1, with rotation off none with Retire Prior To above 0 (and still some
//!   NEW_CONNECTION_IDs); with path MTU probing on, packets longer than the 1200 bytes every
//!   packet has otherwise.

use fuzz_e2e::{free_udp_port, have_tshark, run_client, scratch_dir, server_cmd, tshark, Server};
use fuzz_shared::{chain, Cid, ClientKnobs, Event, LogLine};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const START: &str = "0123456789abcdef";

fn loopback() -> SocketAddr {
    format!("127.0.0.1:{}", free_udp_port()).parse().unwrap()
}

/// The `finding.json` of every folder of a findings directory.
fn findings(dir: &Path) -> Vec<(PathBuf, Value)> {
    let mut out: Vec<(PathBuf, Value)> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|folder| {
            let text = std::fs::read_to_string(folder.join("finding.json")).ok()?;
            Some((folder, serde_json::from_str(&text).expect("finding.json parses")))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The `repro` of every `server_down` of a log.
fn repros(log: &[LogLine]) -> Vec<String> {
    log.iter()
        .filter_map(|l| match &l.event {
            Event::ServerDown { repro, .. } => Some(repro.clone()),
            _ => None,
        })
        .collect()
}

/// The client knobs `run_start` records.
fn logged_knobs(log: &[LogLine]) -> Option<ClientKnobs> {
    log.iter().find_map(|l| match &l.event {
        Event::RunStart { client_knobs, .. } => *client_knobs,
        _ => None,
    })
}

/// Runs a campaign against a fresh server planted with `abort-on-retire-prior-to` (and `more`),
/// with `knobs` and the campaign `options`; returns the run and its findings directory.
fn campaign(dir: &Path, more_faults: &[&str], options: &[&str]) -> (fuzz_e2e::ClientRun, PathBuf) {
    let addr = loopback();
    let mut server = vec!["--mode", "clean", "--planted-fault", "abort-on-retire-prior-to"];
    for f in more_faults {
        server.extend(["--planted-fault", f]);
    }
    let cmd = server_cmd(addr, &server);
    let findings = dir.join("findings");
    let addr_s = addr.to_string();
    let findings_s = findings.display().to_string();
    let mut args = vec!["--start-cid", START, "--no-progress", "--no-triage", "--findings", &findings_s];
    args.extend_from_slice(options);
    args.extend(["--server-cmd", &cmd, &addr_s]);
    (run_client(&dir.join("client.jsonl"), &args), findings)
}

/// The Source Connection ID lengths of the client's Initial packets (those sent to the server's
/// `port`) in a capture.
fn client_scid_lengths(pcap: &Path, port: &str) -> Vec<String> {
    tshark(pcap, &format!("udp.dstport == {port} && quic.long.packet_type == 0"), &["quic.scil"])
        .into_iter()
        .flat_map(|row| row.into_iter().flat_map(|c| c.split(',').map(str::to_string).collect::<Vec<_>>()))
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn clean_traffic_that_kills_the_server_is_a_finding() {
    let dir = scratch_dir("knobs-clean-kills");
    let (run, findings_dir) = campaign(&dir, &[], &["--count", "50"]);
    assert_eq!(run.status.code(), Some(3), "a finding, not bad input (2); stderr:\n{}", run.stderr);
    assert!(!run.stderr.contains("before answering a clean probe"), "not a start-up error:\n{}", run.stderr);
    assert!(run.stderr.contains("clean traffic kills the server"), "{}", run.stderr);
    assert!(run.stderr.contains("--handshake-cid-rotation off"), "the hint names the knob:\n{}", run.stderr);
    assert!(run.log.iter().all(|l| !matches!(l.event, Event::CidStart { .. })), "no connection of the chain ran");
    let finding_events: Vec<_> = run
        .log
        .iter()
        .filter_map(|l| match &l.event {
            Event::Finding { new, window_seq, window_end, cause, .. } => {
                Some((*new, *window_seq, *window_end, cause.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(finding_events.len(), 1, "{finding_events:?}");
    let (new, from, end, cause) = finding_events[0].clone();
    assert!(new && from == end, "a new finding with an empty window: {finding_events:?}");
    assert!(cause.unwrap_or_default().contains("SIGABRT"));
    assert_eq!(repros(&run.log).len(), 1, "server_down logged");

    let found = findings(&findings_dir);
    assert_eq!(found.len(), 1, "{found:?}");
    let (folder, f) = &found[0];
    let triage = &f["triage"];
    assert_eq!(triage["verdict"], "clean_traffic_kills", "{f}");
    let detail = triage["detail"].as_str().unwrap();
    assert!(detail.contains("clean traffic kills the server"), "{detail}");
    assert!(detail.contains("Retire Prior To 1") && detail.contains("--handshake-cid-rotation off"), "{detail}");
    // The culprit is a start-up probe: the first or the second of the probe domain.
    let start: Cid = START.parse().unwrap();
    let probes = [chain::probe(&start), chain::probe(&chain::probe(&start))];
    let culprit: Cid = triage["culprit_cid"].as_str().unwrap().parse().unwrap();
    assert!(probes.contains(&culprit), "culprit {culprit} is a start-up probe");
    assert!(detail.contains(&culprit.to_hex()), "{detail}");
    let stderr = std::fs::read_to_string(folder.join("stderr.txt")).expect("the stderr report");
    assert!(stderr.contains("PLANTED FAULT: received NEW_CONNECTION_ID"), "{stderr}");
    let capture = folder.join("crash.pcap");
    assert!(capture.exists(), "the crash capture of the probes");
    assert!(folder.join("reproduce.sh").exists());

    // The client's CID length is a knob: the probes' Initial packets carry it (their Source
    // Connection ID), and the restart command keeps it.
    let dir8 = scratch_dir("knobs-clean-kills-cid8");
    let (run8, findings8) = campaign(&dir8, &[], &["--count", "50", "--client-cid-len", "8"]);
    assert_eq!(run8.status.code(), Some(3), "{}", run8.stderr);
    assert_eq!(logged_knobs(&run8.log).map(|k| k.cid_len), Some(8));
    let repro = repros(&run8.log).pop().expect("server_down");
    assert!(repro.contains("--client-cid-len 8"), "the restart keeps the knob: {repro}");
    let (folder8, _) = findings(&findings8).pop().expect("a finding");
    if have_tshark("clean_traffic_that_kills_the_server_is_a_finding (CID lengths)") {
        let port = |f: &Value| f["target"].as_str().and_then(|t| t.rsplit(':').next()).unwrap().to_string();
        let default = client_scid_lengths(&capture, &port(f));
        let short = client_scid_lengths(&folder8.join("crash.pcap"), &port(&findings(&findings8)[0].1));
        println!("client Initial SCID lengths: default {default:?}, --client-cid-len 8 {short:?}");
        assert!(!default.is_empty() && default.iter().all(|l| l == "16"), "{default:?}");
        assert!(!short.is_empty() && short.iter().all(|l| l == "8"), "{short:?}");
    }
}

/// A server command that exits at once (a bad option) never met clean traffic: still bad input.
#[test]
fn a_server_that_never_starts_is_still_bad_input() {
    let dir = scratch_dir("knobs-never-starts");
    let addr = loopback();
    let cmd = server_cmd(addr, &["--no-such-option"]);
    let findings_dir = dir.join("findings");
    let findings_s = findings_dir.display().to_string();
    let addr_s = addr.to_string();
    let run = run_client(
        &dir.join("client.jsonl"),
        &["--count", "5", "--no-progress", "--findings", &findings_s, "--server-cmd", &cmd, &addr_s],
    );
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("before answering a clean probe"), "{}", run.stderr);
    assert!(findings(&findings_dir).is_empty(), "no finding");
}

#[test]
fn rotation_off_runs_the_whole_campaign_past_it() {
    let dir = scratch_dir("knobs-rotation-off");
    let count = 300u64;
    let count_s = count.to_string();
    let (run, findings_dir) = campaign(
        &dir,
        &["abort-on-frame:ack_frequency"],
        &["--count", &count_s, "--concurrency", "4", "--checkpoint-every", "25", "--handshake-cid-rotation", "off"],
    );
    assert_eq!(run.status.code(), Some(3), "findings: exit 3; stderr:\n{}", run.stderr);
    assert!(!run.stderr.contains("clean traffic kills"), "{}", run.stderr);
    let knobs = logged_knobs(&run.log).expect("run_start records the knobs");
    assert!(!knobs.handshake_cid_rotation, "{knobs:?}");
    let mut seqs: Vec<u64> = fuzz_e2e::cid_starts(&run.log).into_iter().map(|(seq, _, _)| seq).collect();
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs, (0..count).collect::<Vec<_>>(), "the whole count ran");
    let ends = run.log.iter().filter(|l| matches!(l.event, Event::RunEnd { .. })).count();
    assert_eq!(ends, 1);

    let found = findings(&findings_dir);
    let summaries: Vec<String> = found.iter().map(|(_, f)| f["signature"]["summary"].to_string()).collect();
    println!("findings: {summaries:?}");
    // Under derivation v3 this chain's client inserts ACK_FREQUENCY at seqs 29, 67, 92, ...
    assert!(summaries.iter().any(|s| s.contains("type 0xaf")), "the ACK_FREQUENCY abort is found: {summaries:?}");
    for (folder, f) in &found {
        assert!(f["triage"].is_null() || f["triage"]["verdict"] != "clean_traffic_kills", "{}", folder.display());
        for occurrence in [&f["first"], &f["last"]] {
            assert!(
                occurrence["window_end"].as_u64() > occurrence["window_seq"].as_u64(),
                "a window, not clean traffic: {f}"
            );
        }
        for command in ["restart", "bisect"] {
            let line = f[command].as_str().unwrap_or_default();
            assert!(line.contains("--handshake-cid-rotation off"), "{command} keeps the knob: {line}");
        }
    }
    for repro in repros(&run.log) {
        assert!(repro.contains("--handshake-cid-rotation off"), "{repro}");
    }
}

/// What a client qlog file's `packet_sent` events say: NEW_CONNECTION_ID frames, those with
/// Retire Prior To above 0, and the longest packet.
#[derive(Debug, Default, Clone, Copy)]
struct Sent {
    new_connection_ids: u64,
    retiring: u64,
    longest: u64,
}

fn sent(path: &Path) -> Sent {
    let text = std::fs::read_to_string(path).expect("qlog file");
    let mut out = Sent::default();
    for record in text.split('\u{1e}').map(str::trim).filter(|r| !r.is_empty()) {
        let ev: Value = serde_json::from_str(record).expect("a JSON-SEQ record");
        if ev["name"] != "transport:packet_sent" {
            continue;
        }
        out.longest = out.longest.max(ev["data"]["raw"]["length"].as_u64().unwrap_or(0));
        for frame in ev["data"]["frames"].as_array().into_iter().flatten() {
            if frame["frame_type"] == "new_connection_id" {
                out.new_connection_ids += 1;
                if frame["retire_prior_to"].as_u64().unwrap_or(0) > 0 {
                    out.retiring += 1;
                }
            }
        }
    }
    out
}

/// Runs `count` clean connections to `server` with `knobs` and the client's qlog, and returns
/// what each chain connection's file shows.
fn clean_run(dir: &Path, server: &Server, name: &str, knobs: &[&str]) -> Vec<Sent> {
    let qlog = dir.join(format!("qlog-{name}"));
    let qlog_s = qlog.display().to_string();
    let addr = server.addr.to_string();
    let mut args =
        vec!["--start-cid", START, "--mode", "clean", "--count", "8", "--no-progress", "--qlog-dir", &qlog_s];
    args.extend_from_slice(knobs);
    args.push(&addr);
    let run = run_client(&dir.join(format!("{name}.jsonl")), &args);
    assert_eq!(run.status.code(), Some(0), "{name}: {}", run.stderr);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&qlog)
        .expect("qlog dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit())))
        .collect();
    files.sort();
    assert_eq!(files.len(), 8, "{name}: one file per connection");
    files.iter().map(|f| sent(f)).collect()
}

#[test]
fn knobs_change_what_goes_on_the_wire() {
    let dir = scratch_dir("knobs-wire");
    let server = Server::start(&dir, &["--mode", "clean"]);
    let default = clean_run(&dir, &server, "default", &[]);
    let no_rotation = clean_run(&dir, &server, "no-rotation", &["--handshake-cid-rotation", "off"]);
    let pmtu = clean_run(&dir, &server, "pmtu", &["--path-mtu-probing", "on"]);
    println!("default: {default:?}\nrotation off: {no_rotation:?}\npath MTU probing on: {pmtu:?}");
    // RFC 9000 §5.1.2: s2n-quic retires its handshake CID once the handshake is confirmed.
    assert!(default.iter().all(|s| s.retiring > 0), "every clean connection rotates by default");
    assert!(no_rotation.iter().all(|s| s.retiring == 0), "no Retire Prior To > 0 with rotation off");
    assert!(no_rotation.iter().any(|s| s.new_connection_ids > 0), "it still issues connection IDs");
    // RFC 9000 §14.3: without probing every packet stays within the 1200-byte minimum.
    assert!(default.iter().chain(&no_rotation).all(|s| s.longest <= 1200), "no probing by default");
    assert!(pmtu.iter().any(|s| s.longest > 1200), "path MTU probes with --path-mtu-probing on");
}
