//! End-to-end tests of the fuzz-server's planted faults that behave like real bugs, and of its
//! slow mode: real processes on loopback.
//!
//! - `bad_key_share_aborts_under_fuzzing_only`: `abort-on-bad-key-share` stays quiet under clean
//!   connections, including a post-quantum ClientHello that spans two Initial packets (hq-get
//!   `--pq`), and kills the server (SIGABRT in the client's `server_down`) within a short fuzz
//!   campaign, whose client mutates key shares (`tls:key_share.*`).
//! - `hang_on_frame_keeps_a_silent_process_alive`: after the planted frame the process is alive,
//!   burns CPU and answers nothing, yet still stops on SIGTERM; a fuzz campaign against it ends in
//!   `server_down` with the process still running.
//! - `delay_ms_slows_handshakes_that_still_complete`: with `--delay-ms 100` every clean
//!   connection takes at least the delay, sends more packets (the client's Initial probes), and
//!   completes.
//!
//! Run with `cargo test --release -p fuzz-e2e --test server_faults -- --nocapture` to see the
//! figures.

use fuzz_e2e::{cid_starts, free_udp_port, hq_get, log_lines, run_client, scratch_dir, server_cmd, shell, Server};
use fuzz_shared::{Event, LogLine, Outcome};
use std::net::SocketAddr;
use std::time::Instant;

const START: &str = "0123456789abcdef";

fn loopback() -> SocketAddr {
    format!("127.0.0.1:{}", free_udp_port()).parse().unwrap()
}

/// `server_down`'s cause and stderr tail.
fn server_down(log: &[LogLine]) -> (String, Vec<String>) {
    let (cause, tail, ..) = server_down_all(log);
    (cause, tail)
}

/// `server_down`'s cause, stderr tail, CPU share and bisect command.
fn server_down_all(log: &[LogLine]) -> (String, Vec<String>, Option<u32>, Option<String>) {
    log.iter()
        .find_map(|l| match &l.event {
            Event::ServerDown { cause, stderr_tail, cpu_percent, bisect, .. } => {
                Some((cause.clone().unwrap_or_default(), stderr_tail.clone(), *cpu_percent, bisect.clone()))
            }
            _ => None,
        })
        .expect("server_down in the client's log")
}

fn cid_ends(log: &[LogLine]) -> Vec<(Outcome, u64, u64)> {
    log.iter()
        .filter_map(|l| match &l.event {
            Event::CidEnd { outcome, sent_packets, duration_ms, .. } => {
                Some((*outcome, sent_packets.unwrap_or(0), *duration_ms))
            }
            _ => None,
        })
        .collect()
}

/// The number after `label` in the server's summary line that contains it.
fn summary_number(stderr: &str, line_part: &str, label: &str) -> u64 {
    let line = stderr.lines().find(|l| l.contains(line_part)).unwrap_or_else(|| panic!("no {line_part:?} in {stderr}"));
    let after = line.split(label).nth(1).unwrap_or_else(|| panic!("no {label:?} in {line:?}"));
    after.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no number in {line:?}"))
}

#[test]
fn bad_key_share_aborts_under_fuzzing_only() {
    // Clean: one- and two-packet ClientHellos, then a clean campaign, leave the server up.
    let dir = scratch_dir("faults-key-share-clean");
    let cert = dir.join("cert.pem");
    let mut server = Server::start(
        &dir,
        &["--mode", "clean", "--write-cert", cert.to_str().unwrap(), "--planted-fault", "abort-on-bad-key-share"],
    );
    assert!(server.stderr_text().contains("PLANTED FAULT ENABLED: abort-on-bad-key-share"), "{}", server.stderr_text());
    let (status, out) = hq_get(&server, &cert, &["--pq", "--connections", "2"], &["/10"]);
    assert!(status.success(), "{out:?}");
    let (status, out) = hq_get(&server, &cert, &[], &["/10"]);
    assert!(status.success(), "{out:?}");
    let addr = server.addr.to_string();
    let clean = run_client(
        &dir.join("clean.jsonl"),
        &["--start-cid", START, "--count", "300", "--mode", "clean", "--no-progress", &addr],
    );
    assert!(clean.status.success(), "clean campaign failed ({:?}): {}", clean.status, clean.stderr);
    assert!(server.is_running(), "the server died under clean connections: {}", server.stderr_text());
    let stderr_path = server.stderr.clone();
    assert!(server.stop().success());
    let stderr = std::fs::read_to_string(stderr_path).unwrap();
    let checked = summary_number(&stderr, "ClientHellos checked", "planted");
    let longest = summary_number(&stderr, "ClientHellos checked", "the longest");
    println!("clean: {checked} ClientHellos checked, the longest {longest} bytes; the server stayed up");
    assert!(checked >= 303, "{stderr}");
    assert!(longest > 1200, "the post-quantum ClientHello spans two packets: {stderr}");

    // Fuzzing: the client's key_share mutations kill the server soon.
    let dir = scratch_dir("faults-key-share-fuzz");
    let addr = loopback();
    let cmd = server_cmd(addr, &["--mode", "clean", "--planted-fault", "abort-on-bad-key-share"]);
    let addr_s = addr.to_string();
    let fuzz = run_client(
        &dir.join("fuzz.jsonl"),
        &[
            "--start-cid",
            START,
            "--count",
            "500",
            "--concurrency",
            "4",
            "--max-findings",
            "1",
            "--no-triage",
            "--server-cmd",
            &cmd,
            "--no-progress",
            &addr_s,
        ],
    );
    assert_eq!(fuzz.status.code(), Some(3), "exit 3 when the server dies; stderr:\n{}", fuzz.stderr);
    let (cause, tail) = server_down(&fuzz.log);
    println!("fuzz: the server aborted after {} connections: {:?}", cid_starts(&fuzz.log).len(), tail.last());
    assert!(cause.contains("SIGABRT"), "{cause}");
    assert!(
        tail.iter().any(|l| l.contains("PLANTED FAULT: ClientHello of connection ") && l.contains(" with a key_share")),
        "{tail:?}"
    );
}

/// CPU time (user + system) of a process so far, from /proc/PID/stat, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name: state is field 3, utime 14 and stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn hang_on_frame_keeps_a_silent_process_alive() {
    let dir = scratch_dir("faults-hang");
    let cert = dir.join("cert.pem");
    let mut server = Server::start(
        &dir,
        &["--mode", "clean", "--write-cert", cert.to_str().unwrap(), "--planted-fault", "hang-on-frame:stream"],
    );
    assert_eq!(
        log_lines(&server.log).iter().find_map(|l| match &l.event {
            Event::RunStart { planted_faults, .. } => Some(planted_faults.clone()),
            _ => None,
        }),
        Some(vec!["hang-on-frame:stream".to_string()])
    );
    // No STREAM frame, no hang.
    assert!(hq_get(&server, &cert, &[], &[]).0.success());
    // A request is a STREAM frame: the endpoint spins.
    let (status, _) = hq_get(&server, &cert, &["--timeout", "2"], &["/10"]);
    assert!(!status.success(), "the request was answered");
    assert!(server.stderr_text().contains("hanging on purpose"), "{}", server.stderr_text());
    let pid = server.child.id();
    let (before, started) = (cpu_ticks(pid), Instant::now());
    // A new connection gets no answer at all.
    let (status, out) = hq_get(&server, &cert, &["--timeout", "1"], &[]);
    assert!(!status.success(), "a hung server answered: {out:?}");
    assert!(server.is_running(), "the hung server exited: {}", server.stderr_text());
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let busy = (cpu_ticks(pid) - before) as f64 / ticks_per_s / started.elapsed().as_secs_f64();
    println!("hung server: {:.0}% of a core", busy * 100.0);
    // An idle server uses next to nothing; a spinning one a core, less what other processes take.
    assert!(busy > 0.1, "a hung server spins ({:.0}% of a core)", busy * 100.0);
    // SIGTERM still ends it, with its run log finished.
    let log = server.log.clone();
    assert!(server.stop().success(), "SIGTERM did not end the hung server cleanly");
    assert!(matches!(log_lines(&log).last().map(|l| &l.event), Some(Event::RunEnd { .. })), "no run_end");

    // Under a fuzz campaign (the client inserts NEW_TOKEN frames now and then) the client reports
    // the server down although its process still runs.
    let addr = loopback();
    let cmd = server_cmd(addr, &["--mode", "clean", "--planted-fault", "hang-on-frame:new_token"]);
    let addr_s = addr.to_string();
    let fuzz = run_client(
        &dir.join("fuzz.jsonl"),
        &[
            "--start-cid",
            START,
            "--count",
            "600",
            "--concurrency",
            "4",
            "--checkpoint-every",
            "25",
            "--max-findings",
            "1",
            "--no-triage",
            "--server-cmd",
            &cmd,
            "--no-progress",
            &addr_s,
        ],
    );
    assert_eq!(fuzz.status.code(), Some(3), "exit 3 when the server stops answering; stderr:\n{}", fuzz.stderr);
    let (cause, tail, cpu, bisect) = server_down_all(&fuzz.log);
    println!("fuzz: the server hung after {} connections; cause {cause:?}", cid_starts(&fuzz.log).len());
    assert!(cause.starts_with("hung: "), "a spinning, silent server is hung: {cause}");
    assert!(cpu.is_some_and(|p| p >= 20), "its CPU share: {cpu:?}");
    assert!(tail.iter().any(|l| l.contains("hanging on purpose")), "{tail:?}");

    // Bisect (the command server_down gives; one run per trial, to keep the test short) counts
    // a hang as a kill and finds the culprit.
    let bisect = bisect.expect("a bisect command");
    let out = shell(&format!("{bisect} --tries 1"));
    println!("{}", out.stderr);
    assert_eq!(out.status.code(), Some(0), "a culprit was found; stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("server killed in") && out.stderr.contains("(hung: "), "{}", out.stderr);
    assert!(out.stderr.lines().any(|l| l.starts_with("culprit after")), "a single culprit:\n{}", out.stderr);
}

#[test]
fn delay_ms_slows_handshakes_that_still_complete() {
    const DELAY_MS: u64 = 100;
    let run = |delay: u64| {
        let dir = scratch_dir(&format!("faults-delay-{delay}"));
        let addr = loopback();
        let cmd = server_cmd(addr, &["--mode", "clean", "--delay-ms", &delay.to_string()]);
        let addr_s = addr.to_string();
        let client = run_client(
            &dir.join("client.jsonl"),
            &[
                "--start-cid",
                START,
                "--count",
                "100",
                "--mode",
                "clean",
                "--server-cmd",
                &cmd,
                "--no-progress",
                &addr_s,
            ],
        );
        assert!(client.status.success(), "clean campaign with --delay-ms {delay}: {}", client.stderr);
        let ends = cid_ends(&client.log);
        assert_eq!(ends.len(), 100);
        assert!(ends.iter().all(|e| e.0 == Outcome::Completed), "not all completed with --delay-ms {delay}");
        let mut durations: Vec<u64> = ends.iter().map(|e| e.2).collect();
        durations.sort_unstable();
        let sent = ends.iter().map(|e| e.1).sum::<u64>() as f64 / ends.len() as f64;
        println!(
            "--delay-ms {delay}: 100 clean connections completed, duration min {} median {} ms, {sent:.1} packets sent each",
            durations[0], durations[50]
        );
        (durations, sent)
    };
    let (fast, fast_sent) = run(0);
    let (slow, slow_sent) = run(DELAY_MS);
    assert!(slow[0] >= DELAY_MS, "a connection finished within the delay: {} ms", slow[0]);
    assert!(fast[50] < DELAY_MS, "without the delay the median connection took {} ms", fast[50]);
    // The client probes while the server holds the handshake (RFC 9002 §6.2.2.1).
    assert!(
        slow_sent > fast_sent + 1.0,
        "packets per connection: {fast_sent:.1} without, {slow_sent:.1} with the delay"
    );
}
