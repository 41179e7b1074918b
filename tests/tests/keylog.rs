//! End-to-end test of the TLS key logs (`--keylog FILE`, `SSLKEYLOGFILE`) of both binaries: a
//! supervised campaign crashes a fuzz-server, and tshark decrypts the client's crash capture
//! (`<log>.crash.pcap`) with either side's key log and finds the hq-interop requests' plaintext
//! (`GET /N\r\n`), each on the client port of the connection whose plan made it. Without a key log
//! tshark reads no request at all: the plaintext comes from the keys.
//!
//! tshark (Debian package `tshark`, installed by `.ci/run`) is an independent QUIC decoder; without
//! it the test says so loudly and skips.

use fuzz_e2e::{cid_starts, free_udp_port, have_tshark, run_client, scratch_dir, server_cmd, tshark_with};
use fuzz_shared::{Event, LogLine};
use std::collections::HashMap;
use std::path::Path;

/// The hq-interop requests tshark decrypts from `pcap` with `keylog` (none: no key log), as
/// (client port, request line).
fn decrypted_requests(pcap: &Path, server_port: u16, keylog: Option<&Path>) -> Vec<(u16, String)> {
    let decode_as = format!("udp.port=={server_port},quic");
    let mut options = vec!["-d".to_string(), decode_as];
    if let Some(k) = keylog {
        options.extend(["-o".to_string(), format!("tls.keylog_file:{}", k.display())]);
    }
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let filter = format!("udp.dstport == {server_port} && quic.stream_data contains \"GET /\"");
    let mut found = Vec::new();
    for row in tshark_with(pcap, &options, &filter, &["udp.srcport", "quic.stream_data"]) {
        let port: u16 = row[0].parse().expect("a port");
        for hex in row[1].split(',').filter(|h| !h.is_empty() && *h != "<MISSING>") {
            let bytes: Vec<u8> =
                (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if text.starts_with("GET /") {
                found.push((port, text));
            }
        }
    }
    found
}

fn crash_pcap(log: &[LogLine]) -> String {
    log.iter()
        .find_map(|l| match &l.event {
            Event::ServerDown { crash_pcap, .. } => crash_pcap.clone(),
            _ => None,
        })
        .expect("server_down names a crash capture")
}

#[test]
fn both_key_logs_decrypt_the_crash_capture() {
    if !have_tshark("both_key_logs_decrypt_the_crash_capture") {
        return;
    }
    let dir = scratch_dir("keylog");
    let port = free_udp_port();
    let (client_keys, server_keys) = (dir.join("client.keys"), dir.join("server.keys"));
    let server_keys_arg = server_keys.display().to_string();
    let addr = format!("127.0.0.1:{port}");
    let cmd = server_cmd(
        addr.parse().unwrap(),
        &["--mode", "clean", "--planted-fault", "abort-on-frame:new_token", "--keylog", &server_keys_arg],
    );
    let log_path = dir.join("client.jsonl");
    let client_keys_arg = client_keys.display().to_string();
    let run = run_client(
        &log_path,
        &[
            "--start-cid",
            "0123456789abcdef",
            "--count",
            "5000",
            "--concurrency",
            "4",
            "--checkpoint-every",
            "25",
            "--keylog",
            &client_keys_arg,
            "--max-findings",
            "1",
            "--no-triage",
            "--server-cmd",
            &cmd,
            &addr,
        ],
    );
    assert_eq!(run.status.code(), Some(3), "the server dies; stderr:\n{}", run.stderr);
    let pcap = crash_pcap(&run.log);
    let pcap = Path::new(&pcap);

    // Both key logs hold NSS key log lines: the 1-RTT secrets of each side, keyed by client random.
    for keys in [&client_keys, &server_keys] {
        let text = std::fs::read_to_string(keys).expect("the key log was written");
        let labels: Vec<&str> = text.lines().filter_map(|l| l.split(' ').next()).collect();
        assert!(labels.contains(&"CLIENT_TRAFFIC_SECRET_0"), "{}", keys.display());
        assert!(labels.contains(&"SERVER_HANDSHAKE_TRAFFIC_SECRET"), "{}", keys.display());
        assert!(text.lines().all(|l| l.split(' ').count() == 3), "three fields a line: {}", keys.display());
    }

    // Each connection's planned request paths, by its client port in the capture (10000 + seq).
    let planned: HashMap<u16, Vec<String>> = cid_starts(&run.log)
        .into_iter()
        .map(|(seq, _, plan)| ((10_000 + seq % 50_000) as u16, plan.requests.iter().map(|r| r.path.clone()).collect()))
        .collect();
    assert!(decrypted_requests(pcap, port, None).is_empty(), "no plaintext without a key log");
    for keys in [&client_keys, &server_keys] {
        let requests = decrypted_requests(pcap, port, Some(keys));
        // A fuzzed STREAM frame may carry other bytes (the mutation corpus has request lines of
        // its own); the unmutated ones are exactly their plan's requests.
        let mut as_planned = 0;
        for (port, line) in requests.iter().filter(|(port, _)| *port < 60_000) {
            // (ports from 60000 on are the checkpoints' clean probes)
            let paths = planned.get(port).unwrap_or_else(|| panic!("client port {port} is a connection of the run"));
            let path = line.trim_start_matches("GET ").split("\r\n").next().unwrap_or_default();
            as_planned += paths.iter().any(|p| p == path) as usize;
        }
        assert!(as_planned >= 10, "{}: the requests of the last connections, decrypted: {requests:?}", keys.display());
    }
}
