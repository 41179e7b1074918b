//! End-to-end tests of campaign pacing (fuzz-client's `campaign::pacing`): a busy server is not
//! a dead one, and slow servers get timeouts that fit them. Real processes on loopback.
//!
//! - `busy_server_is_not_down`: against fuzz-server `--max-connections 32` (it refuses beyond 32
//!   open connections with CONNECTION_REFUSED), a fuzz campaign at concurrency 64 ends with
//!   `server_busy`/`server_ready` periods and no `server_down`; every refused connection ran
//!   again with its CID, and the checkpoints log the concurrency in force.
//! - `killed_busy_server_is_down_within_seconds`: the same server, not supervised, killed while
//!   the campaign runs: `server_down` still comes within seconds (the probes get no answer).
//! - `slow_server_clean_campaign_completes`: `--mode clean` against `--delay-ms 100` completes at
//!   least 99% of 500 connections at concurrency 16 with the default `--idle-ms`.
//! - `limits_fit_a_very_slow_server`: against `--delay-ms 1000` (handshakes longer than twice
//!   the default `--idle-ms`), the fitted limits complete the connections; `--fixed-idle` does not.
//! - `server_start_up_is_not_its_speed`: a supervised fast server that binds its port late (a
//!   shell sleeps first) gets the `--idle-ms` floor: the handshake that found it serving waited
//!   for its start-up and is not what the limits are fitted to.
//! - `slow_answers_are_not_silence`: a fuzz campaign against a clean fuzz-server that holds each
//!   request's answer 150 ms (`--answer-delay-ms`, handshakes at full speed) ends its CIDs as
//!   against the same server without the delay (a connection that mutated something waits for
//!   its answers at least four times the recent completed connections' longest silences), and
//!   the checkpoints log that silence.
//! - `auto_concurrency_climbs_and_is_logged`: `--concurrency auto` against a clean fuzz-server,
//!   whose rate grows with the concurrency (a fuzzed connection mostly waits): the search leaves
//!   16, every checkpoint logs the level in force with `auto`, no refusal, and the summary names
//!   the level at the end.
//!
//! Run with `cargo test --release -p fuzz-e2e --test pacing -- --nocapture` to see the figures.

use fuzz_e2e::{free_udp_port, log_lines, run_client, scratch_dir, server_cmd, Server};
use fuzz_shared::{chain, Cid, Event, LogLine, Outcome, Pacing};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const START: &str = "0123456789abcdef";

fn loopback() -> SocketAddr {
    format!("127.0.0.1:{}", free_udp_port()).parse().unwrap()
}

fn count(log: &[LogLine], pred: impl Fn(&Event) -> bool) -> usize {
    log.iter().filter(|l| pred(&l.event)).count()
}

fn outcomes(log: &[LogLine]) -> Vec<(u64, Outcome, Option<String>)> {
    log.iter()
        .filter_map(|l| match &l.event {
            Event::CidEnd { seq, outcome, detail, .. } => Some((*seq, *outcome, detail.clone())),
            _ => None,
        })
        .collect()
}

fn run_start_pacing(log: &[LogLine]) -> Pacing {
    log.iter()
        .find_map(|l| match &l.event {
            Event::RunStart { pacing, .. } => pacing.clone(),
            _ => None,
        })
        .expect("run_start with pacing")
}

#[test]
fn busy_server_is_not_down() {
    let dir = scratch_dir("pacing-busy");
    let addr = loopback();
    // A short server idle timeout frees the connections whose close was lost (mutated) soon, so
    // that the test stays short; the server does not fuzz, so that its probes answer cleanly.
    let cmd = server_cmd(addr, &["--max-connections", "32", "--idle-timeout", "1", "--mode", "clean"]);
    let n = 400u64;
    let started = Instant::now();
    let run = run_client(
        &dir.join("client.jsonl"),
        &[
            "--start-cid",
            START,
            "--count",
            &n.to_string(),
            "--concurrency",
            "64",
            "--checkpoint-every",
            "100",
            "--no-progress",
            "--server-cmd",
            &cmd,
            &addr.to_string(),
        ],
    );
    let took = started.elapsed();
    assert!(run.status.success(), "the campaign must end with the server up: {}", run.stderr);
    let busy = count(&run.log, |e| matches!(e, Event::ServerBusy { .. }));
    let ready = count(&run.log, |e| matches!(e, Event::ServerReady { .. }));
    assert!(busy > 0, "64 in flight against a cap of 32 makes the server refuse: {}", run.stderr);
    assert_eq!(busy, ready, "every busy period ended with the server ready");
    assert_eq!(count(&run.log, |e| matches!(e, Event::ServerDown { .. })), 0, "busy is not down");
    // The derivation does not depend on pacing: each connection of the chain ran once, and its
    // refusals were run again with the same CID.
    let start: Cid = START.parse().unwrap();
    let starts: Vec<(u64, Cid)> = run
        .log
        .iter()
        .filter_map(|l| match &l.event {
            Event::CidStart { seq, cid, .. } => Some((*seq, *cid)),
            _ => None,
        })
        .collect();
    assert_eq!(starts, (0..n).map(|s| (s, chain::nth(start, s))).collect::<Vec<_>>());
    let mut ends = outcomes(&run.log);
    ends.sort_by_key(|e| e.0);
    assert_eq!(ends.iter().map(|e| e.0).collect::<Vec<_>>(), (0..n).collect::<Vec<_>>(), "one cid_end per seq");
    assert!(ends.iter().all(|e| e.1 != Outcome::Refused), "no connection ends refused: each ran again");
    let retried =
        ends.iter().filter(|e| e.2.as_deref().is_some_and(|d| d.contains("run again with the same CID"))).count();
    assert!(retried > 0, "refused connections ran again and say so");
    let concurrencies: Vec<usize> = run
        .log
        .iter()
        .filter_map(|l| match &l.event {
            Event::Checkpoint { pacing: Some(p), .. } => Some(p.concurrency),
            _ => None,
        })
        .collect();
    assert_eq!(concurrencies.len(), 4, "each checkpoint logs the pacing in force");
    assert!(concurrencies.iter().all(|&c| (1..=64).contains(&c)), "{concurrencies:?}");
    assert!(run.stderr.contains("server busy:"), "the summary counts busy periods: {}", run.stderr);
    eprintln!(
        "busy server: {n} connections in {:.1} s, {busy} busy periods, {retried} connections refused and run again, \
         concurrency at checkpoints {concurrencies:?}",
        took.as_secs_f64()
    );
}

#[test]
fn killed_busy_server_is_down_within_seconds() {
    let dir = scratch_dir("pacing-killed");
    let mut server = Server::start(&dir, &["--max-connections", "32", "--idle-timeout", "1", "--mode", "clean"]);
    let log = dir.join("client.jsonl");
    let mut client = Command::new(fuzz_e2e::bin("fuzz-client"))
        .arg("--log")
        .arg(&log)
        .args([
            "--start-cid",
            START,
            "--count",
            "1000000",
            "--concurrency",
            "64",
            "--no-progress",
            "--max-findings",
            "1",
        ])
        .arg(server.addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("client.stderr")).unwrap())
        .spawn()
        .expect("start fuzz-client");
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&log_lines(&log), |e| matches!(e, Event::ServerBusy { .. })) == 0 {
        assert!(Instant::now() < deadline, "no server_busy within 60 s");
        assert!(matches!(client.try_wait(), Ok(None)), "the client ended before the server was busy");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.is_running());
    server.child.kill().unwrap();
    let killed = Instant::now();
    let status = loop {
        if let Some(status) = client.try_wait().unwrap() {
            break status;
        }
        if killed.elapsed() > Duration::from_secs(60) {
            let _ = client.kill();
            panic!("the client did not notice the killed server within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let noticed = killed.elapsed();
    let lines = log_lines(&log);
    assert_eq!(status.code(), Some(3), "server down: exit status 3");
    assert_eq!(count(&lines, |e| matches!(e, Event::ServerDown { .. })), 1);
    eprintln!("killed busy server: server_down {:.1} s after the kill", noticed.as_secs_f64());
    // The probes' patience: a second of silence, then waits of 0.2, 0.4 and 0.8 s between
    // three more tries, after at most a readiness wait (the server's idle timeout, 1 s) and the
    // failure streak of the connections in flight; generous for a loaded machine.
    assert!(noticed < Duration::from_secs(20), "server_down {noticed:?} after the kill");
}

#[test]
fn slow_server_clean_campaign_completes() {
    let dir = scratch_dir("pacing-slow");
    let addr = loopback();
    let cmd = server_cmd(addr, &["--delay-ms", "100", "--mode", "clean"]);
    let run = run_client(
        &dir.join("client.jsonl"),
        &[
            "--start-cid",
            START,
            "--mode",
            "clean",
            "--count",
            "500",
            "--concurrency",
            "16",
            "--checkpoint-every",
            "250",
            "--no-progress",
            "--server-cmd",
            &cmd,
            &addr.to_string(),
        ],
    );
    assert!(run.status.success(), "{}", run.stderr);
    let ends = outcomes(&run.log);
    let completed = ends.iter().filter(|e| e.1 == Outcome::Completed).count();
    let pacing = run_start_pacing(&run.log);
    eprintln!("slow server (--delay-ms 100): {completed}/500 completed; pacing at the start {pacing:?}");
    assert!(completed >= 495, "at least 99% complete: {completed}/500");
    assert!(pacing.probe_handshake_ms.is_some_and(|ms| ms >= 100), "fitted to the start-up probe: {pacing:?}");
    assert!(pacing.idle_ms >= 400, "--idle-ms is the floor: {pacing:?}");
}

#[test]
fn limits_fit_a_very_slow_server() {
    let dir = scratch_dir("pacing-very-slow");
    let run_against = |extra: &[&str]| {
        let addr = loopback();
        let cmd = server_cmd(addr, &["--delay-ms", "1000", "--mode", "clean"]);
        let mut args =
            vec!["--start-cid", START, "--mode", "clean", "--count", "32", "--concurrency", "16", "--no-progress"];
        args.extend_from_slice(extra);
        let addr = addr.to_string();
        args.extend(["--server-cmd", &cmd, &addr]);
        run_client(&dir.join(format!("client{}.jsonl", extra.len())), &args)
    };
    let fitted = run_against(&[]);
    assert!(fitted.status.success(), "{}", fitted.stderr);
    let completed = |run: &fuzz_e2e::ClientRun| outcomes(&run.log).iter().filter(|e| e.1 == Outcome::Completed).count();
    let pacing = run_start_pacing(&fitted.log);
    eprintln!("very slow server (--delay-ms 1000): fitted {}/32 completed, {pacing:?}", completed(&fitted));
    assert!(pacing.handshake_ms > 1000, "the handshake limit fits a 1 s handshake: {pacing:?}");
    assert!(completed(&fitted) >= 31, "fitted limits complete the connections: {}", completed(&fitted));
    // The same with --idle-ms as it is: a handshake may take 800 ms, and none completes.
    let fixed = run_against(&["--fixed-idle"]);
    let fixed_pacing = run_start_pacing(&fixed.log);
    eprintln!("very slow server, --fixed-idle: {}/32 completed, {fixed_pacing:?}", completed(&fixed));
    assert_eq!(fixed_pacing.idle_ms, 400);
    assert!(completed(&fixed) < 16, "with the fixed limit most time out: {}", completed(&fixed));
}

#[test]
fn server_start_up_is_not_its_speed() {
    let dir = scratch_dir("pacing-start-up");
    // The start-up probe's first Initials reach a port nobody listens on yet; the one answered
    // was sent before the bind and waited for s2n-quic's probe timeout. Fitted to that wait
    // (150-450 ms measured), the idle limit of a server that answers in 1 ms was 1.4-2 s, which
    // held every checkpoint back behind the first fuzzed connections that stalled.
    for (k, sleep) in ["0", "0.1", "0.2", "0.3"].into_iter().enumerate() {
        let addr = loopback();
        let cmd = format!("sh -c \"sleep {sleep}; exec {}\"", server_cmd(addr, &["--mode", "clean"]));
        let addr = addr.to_string();
        let args =
            ["--start-cid", START, "--mode", "clean", "--count", "8", "--no-progress", "--server-cmd", &cmd, &addr];
        let run = run_client(&dir.join(format!("client{k}.jsonl")), &args);
        assert!(run.status.success(), "{}", run.stderr);
        let pacing = run_start_pacing(&run.log);
        eprintln!("server started after sleep {sleep}: {pacing:?}");
        assert_eq!(pacing.idle_ms, 400, "a fast server gets the --idle-ms floor (sleep {sleep}): {pacing:?}");
    }
}

#[test]
fn slow_answers_are_not_silence() {
    let dir = scratch_dir("pacing-slow-answers");
    let run_against = |server: &Server, name: &str| {
        let args = ["--start-cid", START, "--count", "300", "--checkpoint-every", "100", "--no-progress"];
        let run =
            run_client(&dir.join(format!("client-{name}.jsonl")), &[&args[..], &[&server.addr.to_string()]].concat());
        assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
        run
    };
    let prompt = Server::start(&dir, &["--mode", "clean"]);
    let fast = run_against(&prompt, "prompt");
    prompt.stop();
    let server = Server::start(&dir, &["--mode", "clean", "--answer-delay-ms", "150"]);
    let slow = run_against(&server, "slow");
    let fast_outcomes: std::collections::HashMap<u64, Outcome> =
        outcomes(&fast.log).into_iter().map(|(seq, outcome, _)| (seq, outcome)).collect();
    let differ: Vec<_> = outcomes(&slow.log)
        .into_iter()
        .filter(|(seq, outcome, _)| fast_outcomes.get(seq) != Some(outcome))
        .map(|(seq, outcome, detail)| format!("#{seq} {:?} -> {outcome:?} {detail:?}", fast_outcomes.get(&seq)))
        .collect();
    eprintln!("answers delayed 150 ms: {} of 300 outcomes differ: {differ:?}", differ.len());
    assert_eq!(fast_outcomes.len(), 300);
    // Measured: 0; 3 (the first connections) before the start-up probes' answers were a sample,
    // and 19 when a connection that mutated something gave up after the handshakes' limit
    // (about 50 ms) also after them.
    assert!(differ.len() <= 8, "{} of 300 CIDs end otherwise against slow answers: {differ:?}", differ.len());
    let silences: Vec<u64> = slow
        .log
        .iter()
        .filter_map(|l| match &l.event {
            Event::Checkpoint { pacing: Some(p), .. } => p.silence_ms,
            _ => None,
        })
        .collect();
    assert!(!silences.is_empty() && silences.iter().all(|&ms| ms >= 150), "checkpoints' silence_ms: {silences:?}");

    // Alone, with nothing run before it, a connection that mutated something after its handshake
    // and completed in the campaign completes too: the start-up probes' wait for their answer
    // is the first sample (it was silent after about 50 ms in 6 of 8 such replays before).
    let plans: std::collections::HashMap<u64, fuzz_shared::ConnectionPlan> = slow
        .log
        .iter()
        .filter_map(|l| match &l.event {
            Event::CidStart { seq, plan, .. } => Some((*seq, plan.clone())),
            _ => None,
        })
        .collect();
    let alone: Vec<(u64, Cid)> = slow
        .log
        .iter()
        .filter_map(|l| match &l.event {
            Event::CidEnd { seq, cid, outcome: Outcome::Completed, fuzzed_packets, .. }
                if *fuzzed_packets > 0 && plans[seq].fuzz_state == fuzz_shared::FuzzState::Ready =>
            {
                Some((*seq, *cid))
            }
            _ => None,
        })
        .take(4)
        .collect();
    assert_eq!(alone.len(), 4, "completed connections that fuzzed after their handshake");
    for (seq, cid) in alone {
        let log = dir.join(format!("replay-{cid}.jsonl"));
        let args = ["replay", "--cid", &cid.to_hex(), "--seq", &seq.to_string(), "--log", log.to_str().unwrap()];
        let out = fuzz_e2e::client(&[&args[..], &[&server.addr.to_string()]].concat());
        assert_eq!(out.status.code(), Some(0), "replay {cid}: {}", out.stderr);
        let replayed = outcomes(&log_lines(&log));
        assert_eq!(replayed.len(), 1);
        assert_eq!(replayed[0].1, Outcome::Completed, "#{seq} {cid} alone: {:?}", replayed[0]);
    }
    server.stop();
}

#[test]
fn auto_concurrency_climbs_and_is_logged() {
    let dir = scratch_dir("pacing-auto");
    let server = Server::start(&dir, &["--mode", "clean"]);
    let run = run_client(
        &dir.join("client.jsonl"),
        &[
            "--start-cid",
            START,
            "--count",
            "3000",
            "--concurrency",
            "auto",
            "--checkpoint-every",
            "250",
            "--no-progress",
            &server.addr.to_string(),
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    let start = run_start_pacing(&run.log);
    assert!(start.auto && start.concurrency == 16, "{start:?}");
    let levels: Vec<usize> = run
        .log
        .iter()
        .filter_map(|l| match &l.event {
            Event::Checkpoint { pacing: Some(p), .. } => {
                assert!(p.auto, "{p:?}");
                Some(p.concurrency)
            }
            _ => None,
        })
        .collect();
    println!("auto: concurrency at the checkpoints {levels:?}");
    assert!(levels.len() >= 10, "{levels:?}");
    assert!(levels.iter().all(|&l| (1..=512).contains(&l)), "{levels:?}");
    assert!(levels.iter().any(|&l| l > 16), "the rate grows with the concurrency: the search climbs: {levels:?}");
    assert_eq!(count(&run.log, |e| matches!(e, Event::ServerBusy { .. })), 0);
    let end = run.stderr.lines().find_map(|l| l.strip_prefix("concurrency at the end: ")).expect("summary");
    assert!(end.ends_with("(auto)"), "{end}");
    server.stop();
}
