//! End-to-end test of `fuzz-client report`: a supervised campaign against a fuzz-server planted
//! to leak memory per connection and to abort on a NEW_TOKEN frame crashes it; its printed restart
//! command appends a second run to the same log. `report` on that log writes an HTML page whose
//! plots are there (inline SVG, nothing fetched) and whose numbers are the log's: connections,
//! runs, checkpoints, the crash's cause, a positive RSS slope of at least the planted leak, and
//! the replay command of a listed connection; `--text` says the same.

use fuzz_e2e::{client, free_udp_port, log_lines, run_client, scratch_dir, server_cmd, shell};
use fuzz_shared::{Event, LogLine};

/// The planted leak per server connection.
const LEAK_KB: u64 = 256;

fn count(log: &[LogLine], f: impl Fn(&Event) -> bool) -> usize {
    log.iter().filter(|l| f(&l.event)).count()
}

/// The text of the element with `id` (up to its first `<`).
fn by_id<'a>(page: &'a str, id: &str) -> &'a str {
    let at = page.find(&format!("id=\"{id}\">")).unwrap_or_else(|| panic!("id {id} in the page")) + id.len() + 6;
    &page[at..at + page[at..].find('<').expect("element text ends")]
}

#[test]
fn report_of_a_leaking_crashing_campaign_and_its_restart() {
    let dir = scratch_dir("report");
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let leak = format!("leak:{LEAK_KB}K");
    let cmd = server_cmd(
        addr.parse().unwrap(),
        &["--mode", "clean", "--planted-fault", &leak, "--planted-fault", "abort-on-frame:new_token"],
    );
    let log_path = dir.join("run.jsonl");
    let args = [
        "--start-cid",
        "0123456789abcdef",
        "--count",
        "5000",
        "--concurrency",
        "4",
        "--checkpoint-every",
        "10",
        "--max-findings",
        "1",
        "--no-triage",
        "--server-cmd",
        &cmd,
        &addr,
    ];
    let run = run_client(&log_path, &args);
    assert_eq!(run.status.code(), Some(3), "the server dies; stderr:\n{}", run.stderr);
    let repro = run
        .log
        .iter()
        .find_map(|l| match &l.event {
            Event::ServerDown { repro, .. } => Some(repro.clone()),
            _ => None,
        })
        .expect("server_down");
    // The restart appends a second run to the same log (it crashes again or ends: either is fine).
    let restart = shell(&repro);
    assert!(matches!(restart.status.code(), Some(0 | 3)), "restart: {}", restart.stderr);
    let log = log_lines(&log_path);

    let html = dir.join("page.html");
    let out = client(&["report", log_path.to_str().unwrap(), "-o", html.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let page = std::fs::read_to_string(&html).expect("the page was written");

    // Plots: four inline SVGs (rate, RSS, fuzz states, operator families); nothing to fetch.
    assert_eq!(page.matches("<svg").count(), 4, "four plots");
    for id in ["plot-rate", "plot-rss", "plot-states", "plot-families"] {
        assert!(page.contains(&format!("<figure id=\"{id}\"><svg")), "{id} is an inline SVG");
    }
    assert!(!page.contains("<script") && !page.contains("src=\"http") && !page.contains("href=\"http"));
    // The crash is marked in the plots (legend) and described with its cause.
    assert!(page.contains("server down: killed by signal 6 (SIGABRT)"), "the crash in the plots' legends");
    assert!(page.contains("<b class=\"cause\">killed by signal 6 (SIGABRT)</b>"));

    // Numbers: the log's.
    let ends = count(&log, |e| matches!(e, Event::CidEnd { .. }));
    assert_eq!(by_id(&page, "connections"), ends.to_string());
    assert_eq!(by_id(&page, "runs"), count(&log, |e| matches!(e, Event::RunStart { .. })).to_string());
    assert_eq!(by_id(&page, "runs"), "2", "the restart is a run of its own");
    assert_eq!(by_id(&page, "checkpoints"), count(&log, |e| matches!(e, Event::Checkpoint { .. })).to_string());
    assert_eq!(by_id(&page, "crashes"), count(&log, |e| matches!(e, Event::ServerDown { .. })).to_string());
    let fuzzed = count(&log, |e| matches!(e, Event::CidEnd { fuzzed_packets: 1.., .. }));
    assert_eq!(by_id(&page, "fuzzed"), fuzzed.to_string());
    // The leak is a slope: at least the planted leak per client connection (the server counts
    // more connections than the client's chain: probes), and not absurdly more.
    let slope: f64 = by_id(&page, "rss-slope").parse().expect("a slope");
    assert!(slope >= 0.75 * LEAK_KB as f64 && slope < 8.0 * LEAK_KB as f64, "RSS slope {slope} KiB/connection");
    // The slowest connection is listed with its CID and the command that replays it.
    let slowest = log
        .iter()
        .filter_map(|l| match &l.event {
            Event::CidEnd { cid, duration_ms, .. } => Some((*duration_ms, *cid)),
            _ => None,
        })
        .max_by_key(|(ms, _)| *ms)
        .expect("connections");
    assert!(page.contains(&format!("<code>{}</code></td><td class=\"n\">{}</td>", slowest.1, slowest.0)));
    assert!(page.contains(&format!("replay --cid {} --seq", slowest.1)), "its replay command");

    // --text: the same numbers on stdout, no page unless -o.
    let text = std::process::Command::new(fuzz_e2e::bin("fuzz-client"))
        .current_dir(&dir)
        .args(["report", "--text", "run.jsonl"])
        .output()
        .expect("run report --text");
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.starts_with(&format!("{ends} connections ({fuzzed} fuzzed) in 2 run(s)")), "{text}");
    assert!(text.contains(&format!("{slope:+.1} KiB per connection")), "{text}");
    assert!(!dir.join("report.html").exists(), "--text without -o writes no page");
}
