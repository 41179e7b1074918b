//! HTTP/3 end to end: fuzz-client's `--alpn h3` against fuzz-server's h3, checked answers, and
//! fuzz-server's h3 against third-party clients (Debian's ngtcp2 `gtlsclient`, and aioquic through
//! scripts/interop/aioquic_client.py). A third-party client that is not installed is skipped with
//! a loud message (scripts/interop/install.sh installs both; `.ci/run` calls it).

use fuzz_e2e::{cid_starts, log_lines, run_client, scratch_dir, workspace, ClientRun, Server};
use fuzz_shared::{Event, Outcome};
use std::collections::BTreeMap;
use std::process::Command;

const START: &str = "0123456789abcdef";

/// Outcome and detail of each connection of a client run, by seq.
fn ends(run: &ClientRun) -> BTreeMap<u64, (Outcome, Option<String>)> {
    run.log
        .iter()
        .filter_map(|l| match &l.event {
            Event::CidEnd { seq, outcome, detail, .. } => Some((*seq, (*outcome, detail.clone()))),
            _ => None,
        })
        .collect()
}

#[test]
fn fuzz_server_answers_our_h3_client_with_checked_bodies() {
    let dir = scratch_dir("h3-own");
    let server = Server::start(&dir, &["--mode", "clean"]);
    let addr = server.addr.to_string();
    let args =
        ["--start-cid", START, "--count", "200", "--mode", "clean", "--alpn", "h3", "--expect-sizes", "--no-progress"];
    let run = run_client(&dir.join("clean.jsonl"), &[&args[..], &[&addr]].concat());
    assert_eq!(run.status.code(), Some(0), "stderr:\n{}", run.stderr);
    let ends = ends(&run);
    assert_eq!(ends.len(), 200);
    let not_completed: Vec<_> = ends.iter().filter(|(_, (o, _))| *o != Outcome::Completed).collect();
    assert!(not_completed.is_empty(), "clean h3 connections that did not complete: {not_completed:?}");
    // The server saw HTTP/3 clients close with H3_NO_ERROR: completed on its side too.
    let status = server.stop();
    assert!(status.success());
    let server_completed = log_lines(&dir.join("server.jsonl"))
        .iter()
        .filter(|l| matches!(l.event, Event::CidEnd { outcome: Outcome::Completed, .. }))
        .count();
    assert!(server_completed >= 200, "the server logged {server_completed} completed connections");
}

/// A server whose `/1000` is a 5-byte file and `/1` an empty one: with `--expect-sizes`, every
/// connection that asks for either gets a wrong answer (truncated), in both protocols, and the
/// summary counts them. The probes (which GET `/1`) get wrong answers too, and still find the
/// server up: the campaign starts and its checkpoints say so.
#[test]
fn truncated_bodies_are_wrong_answers() {
    let dir = scratch_dir("h3-wrong");
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("1000"), b"short").unwrap();
    std::fs::write(www.join("1"), b"").unwrap();
    let server = Server::start(&dir, &["--mode", "clean", "--www", www.to_str().unwrap()]);
    let addr = server.addr.to_string();
    let truncated = |path: &str| match path {
        "/1000" => Some("/1000: truncated: 5 of 1000 bytes"),
        "/1" => Some("/1: truncated: 0 of 1 bytes"),
        _ => None,
    };
    for alpn in ["h3", "hq-interop"] {
        let args =
            ["--start-cid", START, "--count", "60", "--checkpoint-every", "20", "--mode", "clean", "--alpn", alpn];
        let args = [&args[..], &["--expect-sizes", "--no-progress", &addr]].concat();
        let run = run_client(&dir.join(format!("{alpn}.jsonl")), &args);
        assert_eq!(run.status.code(), Some(0), "{alpn}: stderr:\n{}", run.stderr);
        let expected: BTreeMap<u64, Vec<&str>> = cid_starts(&run.log)
            .into_iter()
            .map(|(seq, _, plan)| (seq, plan.requests.iter().filter_map(|r| truncated(&r.path)).collect()))
            .collect();
        let wrong = expected.values().filter(|w| !w.is_empty()).count();
        assert!(
            wrong > 0 && wrong < 60,
            "the plans of 60 connections should ask for /1000 or /1 now and then: {wrong}"
        );
        for (seq, (outcome, detail)) in ends(&run) {
            if expected[&seq].is_empty() {
                assert_eq!(outcome, Outcome::Completed, "{alpn} seq {seq}: {detail:?}");
            } else {
                assert_eq!(outcome, Outcome::WrongAnswer, "{alpn} seq {seq}: {detail:?}");
                let detail = detail.unwrap();
                assert!(expected[&seq].iter().all(|w| detail.contains(w)), "{alpn} seq {seq}: {detail}");
            }
        }
        assert!(
            run.stderr.contains(&format!("wrong_answer {wrong}")),
            "{alpn}: the summary counts them:\n{}",
            run.stderr
        );
        let up: Vec<bool> = run
            .log
            .iter()
            .filter_map(|l| match &l.event {
                Event::Checkpoint { server_up, .. } => Some(*server_up),
                _ => None,
            })
            .collect();
        assert_eq!(up, [true, true, true], "{alpn}: probes answered wrongly still find the server up");
    }
}

/// Runs a third-party client; `None` (with a loud message) when it is not installed.
fn third_party(program: &str, args: &[&str]) -> Option<std::process::Output> {
    match Command::new(program).args(args).output() {
        Ok(out) => Some(out),
        Err(e) => {
            eprintln!("SKIPPED: {program} is not installed (scripts/interop/install.sh): {e}");
            None
        }
    }
}

#[test]
fn ngtcp2_client_gets_checked_h3_answers() {
    let dir = scratch_dir("h3-ngtcp2-client");
    let server = Server::start(&dir, &["--mode", "clean"]);
    let (host, port) = (server.addr.ip().to_string(), server.addr.port().to_string());
    let downloads = dir.join("downloads");
    let _ = std::fs::remove_dir_all(&downloads);
    std::fs::create_dir_all(&downloads).unwrap();
    let urls: Vec<String> = ["/1000", "/65536", "/0"].iter().map(|p| format!("https://localhost:{port}{p}")).collect();
    let download = format!("--download={}", downloads.display());
    let mut args =
        vec!["-q", "--exit-on-all-streams-close", "--timeout=5s", "--dcid=a1b2c3d4e5f60718", &download, &host, &port];
    args.extend(urls.iter().map(String::as_str));
    let Some(out) = third_party("gtlsclient", &args) else { return };
    assert!(out.status.success(), "gtlsclient failed: {}", String::from_utf8_lossy(&out.stderr));
    for (name, size) in [("1000", 1000), ("65536", 65536), ("0", 0)] {
        let len = std::fs::metadata(downloads.join(name)).map(|m| m.len()).ok();
        assert_eq!(len, Some(size), "gtlsclient's download of /{name}");
    }
    server.stop();
    let log = log_lines(&dir.join("server.jsonl"));
    let end = log.iter().find_map(|l| match &l.event {
        Event::CidEnd { cid, outcome, .. } if cid.to_string() == "a1b2c3d4e5f60718" => Some(*outcome),
        _ => None,
    });
    assert_eq!(end, Some(Outcome::Completed), "the server logs the CID gtlsclient chose (--dcid)");
}

#[test]
fn cid_chain_prints_the_chain() {
    let out = Command::new(fuzz_e2e::bin("cid-chain")).args(["--start-cid", START, "--count", "3"]).output().unwrap();
    assert!(out.status.success());
    // The chain's known answers (README, "How determinism works").
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0 0123456789abcdef\n1 cac106eb3b28bca3\n2 282508f198836bcc\n");
    let bad = Command::new(fuzz_e2e::bin("cid-chain")).args(["--start-cid", "xyz"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// scripts/interop/server-campaign.sh, short: two runs of the same gtlsclient DCIDs against a
/// fresh fuzz-server in fuzz mode make (nearly) the same server-side decisions.
#[test]
fn ngtcp2_client_server_side_campaign_replays() {
    if Command::new("gtlsclient").arg("--help").output().is_err() {
        eprintln!("SKIPPED: gtlsclient is not installed (scripts/interop/install.sh ngtcp2)");
        return;
    }
    let dir = scratch_dir("h3-server-campaign");
    let _ = fuzz_e2e::bin("cid-chain"); // builds the binaries the script uses as they are (NO_BUILD)
    let out = Command::new("bash")
        .arg(workspace().join("scripts/interop/server-campaign.sh"))
        .env("NO_BUILD", "1")
        .env("COUNT", "24")
        .env("OUT", &dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    let agreed = stdout.lines().find_map(|l| l.strip_prefix("server digests: agreed ")).expect("the agreement line");
    let (same, n) = agreed.split_once(' ').unwrap().0.split_once('/').unwrap();
    let (same, n): (u32, u32) = (same.parse().unwrap(), n.parse().unwrap());
    assert_eq!(n, 24, "{stdout}");
    // Measured: 96 of 100 (a loaded 2-core machine); what differs is which connections time out
    // before their fuzzed contents go out.
    assert!(same >= 20, "server digests agree for only {same}/24: {stdout}");
}

#[test]
fn aioquic_client_gets_checked_answers() {
    if Command::new("python3").args(["-c", "import aioquic"]).status().map_or(true, |s| !s.success()) {
        eprintln!("SKIPPED: aioquic is not installed (scripts/interop/install.sh aioquic)");
        return;
    }
    let dir = scratch_dir("h3-aioquic-client");
    let server = Server::start(&dir, &["--mode", "clean"]);
    let script = workspace().join("scripts/interop/aioquic_client.py");
    let (host, port) = (server.addr.ip().to_string(), server.addr.port().to_string());
    for alpn in ["h3", "hq-interop"] {
        let args = [script.to_str().unwrap(), "--alpn", alpn, "--expect-sizes", "--connections", "3", &host, &port];
        let out = Command::new("python3").args(args).args(["/1000", "/65536", "/0"]).output().expect("python3");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{alpn}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(stdout.lines().filter(|l| l.ends_with("ok 3/3")).count(), 3, "{alpn}: {stdout}");
    }
    server.stop();
    let completed = log_lines(&dir.join("server.jsonl"))
        .iter()
        .filter(|l| matches!(l.event, Event::CidEnd { outcome: Outcome::Completed, .. }))
        .count();
    assert_eq!(completed, 6, "the server completes aioquic's 6 connections");
}
