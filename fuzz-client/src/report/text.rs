//! `fuzz-client report --text`: the report's numbers as a terminal summary, for people who live
//! in a shell: the runs, the crash and its commands, outcomes per fuzz state and per operator
//! family, the server's memory slope, and the slowest and server-error connections with the
//! commands that replay them.

use super::analysis::{Analysis, Conn, NO_MUTATION, OUTCOMES};
use fuzz_shared::Outcome;
use std::collections::BTreeMap;
use std::fmt::Write;

/// How many connections each list shows.
const LISTED: usize = 5;

pub fn render(a: &Analysis) -> String {
    let mut t = String::new();
    let span = a.span();
    let _ = writeln!(
        t,
        "{} connections ({} fuzzed) in {} run(s) over {span:.1} s ({:.1} conn/s), {} checkpoint(s), server down {} time(s)",
        a.conns.len(),
        a.fuzzed_connections(),
        a.segments.len(),
        if span > 0.0 { a.conns.len() as f64 / span } else { 0.0 },
        a.checkpoints.len(),
        a.crashes.len()
    );
    for s in &a.segments {
        let end = if s.server_down {
            "server down".to_string()
        } else {
            s.conn_per_s.map_or_else(|| "no run_end".into(), |r| format!("ended, {r:.1} conn/s"))
        };
        let _ = writeln!(
            t,
            "  {} {} from seq {} ({}), mode {}: {} connections, {end}",
            s.file,
            s.kind,
            s.start_seq,
            s.start_cid.map(|c| c.to_hex()).unwrap_or_default(),
            s.mode.as_str(),
            s.connections
        );
    }
    for c in &a.crashes {
        let _ = writeln!(
            t,
            "\nserver down at {}: {}; last checkpoint seq {}\n  restart: {}",
            Analysis::clock(c.at),
            c.cause.as_deref().unwrap_or("stopped answering"),
            c.last_checkpoint_seq,
            c.repro
        );
        if let Some(b) = &c.bisect {
            let _ = writeln!(t, "  bisect:  {b}");
        }
    }
    findings(&mut t, a);
    match (a.rss_slope_kb_per_conn(), a.rss_series()) {
        (Some(s), Some((segment, pts))) => {
            let (first, last) = (pts[0], pts[pts.len() - 1]);
            let _ = writeln!(
                t,
                "\nserver RSS: {} KiB at seq {} to {} KiB at seq {}: {s:+.1} KiB per connection (least squares, {} checkpoints of run {})",
                first.1,
                first.0,
                last.1,
                last.0,
                pts.len(),
                segment + 1
            );
        }
        _ => t.push_str("\nserver RSS: not enough supervised checkpoints (--server-cmd) to tell a slope\n"),
    }
    let edges = a.edges_series();
    if let (Some(first), Some(last)) = (edges.first(), edges.last()) {
        let _ = writeln!(
            t,
            "server coverage: {} edges at the first checkpoint, {} at the last ({} checkpoints, --coverage)",
            first.1,
            last.1,
            edges.len()
        );
    }
    if let Some((size, children)) = a.corpus() {
        let _ = writeln!(
            t,
            "corpus: {size} entries at the last checkpoint; {children} connections were children of entries"
        );
    }
    outcome_table(&mut t, "fuzz state", &a.outcomes_by_state());
    outcome_table(&mut t, "operator family", &a.outcomes_by_family());
    let _ = writeln!(t, "({NO_MUTATION}: connections that mutated nothing)");
    conn_list(&mut t, a, "slowest connections", &a.slowest(LISTED));
    let errors = a.server_errors();
    let title = format!("connections the server closed with an error code: {}", errors.len());
    conn_list(&mut t, a, &title, &errors[..errors.len().min(LISTED)]);
    t
}

/// Each distinct finding once: how often, where first, and its triage with the command that
/// reproduces it (from its `finding.json`), else the commands to start from by hand.
fn findings(t: &mut String, a: &Analysis) {
    if a.findings.is_empty() {
        return;
    }
    let deaths: u64 = a.findings.iter().map(|f| f.seen).sum();
    let _ = writeln!(t, "\nfindings: {} distinct, {deaths} time(s) in these logs", a.findings.len());
    for f in &a.findings {
        let _ = writeln!(t, "  {}-{} seen {} time(s): {}", f.kind, f.id, f.count, f.summary);
        let _ = writeln!(
            t,
            "    first at {}: window seq {}..{} (from cid {}){}",
            Analysis::clock(f.first_at),
            f.window_seq,
            f.window_end,
            f.window_cid,
            f.cause.as_deref().map(|c| format!(", {c}")).unwrap_or_default()
        );
        let record = f.record.as_ref();
        match record.and_then(|r| r.triage.as_ref()) {
            Some(triage) => {
                let _ = writeln!(t, "    triage: {}: {}", triage.verdict, triage.detail);
                for d in &triage.decisions {
                    let _ = writeln!(t, "      decision: {d}");
                }
                if let Some(cmd) = &triage.reproduce {
                    let _ = writeln!(t, "    reproduce: {cmd}");
                }
            }
            None => {
                let _ =
                    writeln!(t, "    triage: {}", if record.is_some() { "not yet" } else { "(no finding.json found)" });
                if let Some(r) = record {
                    let _ = writeln!(t, "    restart: {}", r.restart);
                    if let Some(b) = &r.bisect {
                        let _ = writeln!(t, "    bisect:  {b}");
                    }
                }
            }
        }
        if let Some(dir) = &f.dir {
            let _ = writeln!(t, "    folder: {dir}");
        }
    }
}

fn outcome_table(t: &mut String, what: &str, groups: &BTreeMap<String, BTreeMap<Outcome, u64>>) {
    let _ = write!(t, "\n{what:<16}");
    for o in OUTCOMES {
        let _ = write!(t, " {:>16}", o.as_str());
    }
    t.push('\n');
    for (name, counts) in groups {
        let _ = write!(t, "{name:<16}");
        for o in OUTCOMES {
            let _ = write!(t, " {:>16}", counts.get(&o).copied().unwrap_or(0));
        }
        t.push('\n');
    }
}

fn conn_list(t: &mut String, a: &Analysis, title: &str, conns: &[&Conn]) {
    let _ = writeln!(t, "\n{title}");
    for c in conns {
        let _ = writeln!(
            t,
            "  #{} {} {} ms {}{}{}\n    {}",
            c.seq,
            c.cid,
            c.duration_ms,
            c.outcome.as_str(),
            c.error_code.map(|e| format!(" {}", Analysis::code_name(e))).unwrap_or_default(),
            c.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(),
            a.replay(c)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::tests::sample;

    #[test]
    fn the_summary_says_what_the_log_says() {
        let text = render(&sample());
        assert!(text.starts_with("4 connections (2 fuzzed) in 2 run(s)"), "{text}");
        assert!(text.contains("server down at 2026-01-01T00:00:02Z: killed by signal 6 (SIGABRT)"), "{text}");
        assert!(text.contains("1000 KiB at seq 2 to 1400 KiB at seq 6: +100.0 KiB per connection (least squares, 3 checkpoints of run 1)"), "{text}");
        assert!(text.contains("connections the server closed with an error code: 1"), "{text}");
        assert!(text.contains("fuzz-client replay --cid cac106eb3b28bca3 --seq 1 --server-cmd srv 127.0.0.1:4433"));
    }

    /// A keep-going campaign: the same abort twice (one finding seen twice, triaged) and a hang
    /// once (no record found).
    const FINDINGS_LOG: &str = r#"{"ts":"2026-01-01T00:00:00.000Z","role":"client","event":"run_start","start_cid":"0123456789abcdef","start_seq":0,"target":"127.0.0.1:4433","mode":"fuzz","derivation":"v2","version":"0.1.0","args":["fuzz-client","--server-cmd","srv","127.0.0.1:4433"]}
{"ts":"2026-01-01T00:00:01.000Z","role":"client","event":"finding","id":"00000000000000aa","kind":"abort","summary":"abort: planted","new":true,"count":1,"dir":"run.jsonl.findings/abort-00000000000000aa","window_seq":10,"window_cid":"cac106eb3b28bca3","window_end":20,"cause":"killed by signal 6 (SIGABRT)"}
{"ts":"2026-01-01T00:00:02.000Z","role":"client","event":"finding","id":"00000000000000bb","kind":"hang","summary":"hang","new":true,"count":1,"window_seq":30,"window_cid":"282508f198836bcc","window_end":40}
{"ts":"2026-01-01T00:00:03.000Z","role":"client","event":"finding","id":"00000000000000aa","kind":"abort","summary":"abort: planted","new":false,"count":2,"dir":"run.jsonl.findings/abort-00000000000000aa","window_seq":50,"window_cid":"0123456789abcdef","window_end":60,"cause":"killed by signal 6 (SIGABRT)"}
"#;

    #[test]
    fn findings_are_listed_once_each_with_their_count_and_commands() {
        let lines = fuzz_shared::log::read_log(FINDINGS_LOG.as_bytes()).unwrap();
        let mut a = Analysis::from_logs(&[("run.jsonl".into(), lines)]).unwrap();
        assert_eq!(a.findings.len(), 2, "one finding per id");
        assert_eq!((a.findings[0].count, a.findings[0].seen, a.findings[0].window_seq), (2, 2, 10));
        assert_eq!((a.findings[1].count, a.findings[1].seen), (1, 1));
        let record = serde_json::json!({
            "signature": {"kind": "abort", "frames": ["planted"], "summary": "abort: planted", "id": "00000000000000aa"},
            "count": 2,
            "first": {"at": "2026-01-01T00:00:01Z", "window_seq": 10, "window_cid": "cac106eb3b28bca3", "window_end": 20, "concurrency": 4},
            "last": {"at": "2026-01-01T00:00:03Z", "window_seq": 50, "window_cid": "0123456789abcdef", "window_end": 60, "concurrency": 4},
            "target": "127.0.0.1:4433",
            "campaign": ["fuzz-client"],
            "restart": "fuzz-client --start-seq 10",
            "triage": {"verdict": "single_culprit", "detail": "seq 17 kills a fresh server", "culprit_seq": 17,
                       "decisions": ["havoc on application_data/stream:0@0"], "reproduce": "fuzz-client replay --seq 17", "trials": 9, "elapsed_s": 3.5}
        });
        a.findings[0].record = Some(serde_json::from_value(record).unwrap());
        let text = render(&a);
        assert!(text.contains("findings: 2 distinct, 3 time(s) in these logs"), "{text}");
        assert!(text.contains("abort-00000000000000aa seen 2 time(s): abort: planted"), "{text}");
        assert!(text.contains("window seq 10..20 (from cid cac106eb3b28bca3), killed by signal 6 (SIGABRT)"), "{text}");
        assert!(text.contains("triage: single_culprit: seq 17 kills a fresh server"), "{text}");
        assert!(text.contains("decision: havoc on application_data/stream:0@0"), "{text}");
        assert!(text.contains("reproduce: fuzz-client replay --seq 17"), "{text}");
        assert!(text.contains("hang-00000000000000bb seen 1 time(s): hang\n    first at"), "{text}");
        assert!(text.contains("triage: (no finding.json found)"), "{text}");
        let page = crate::report::html::render(&a);
        assert!(page.contains("<table id=\"findings\">"), "{page}");
        assert!(page.contains("<b>single_culprit</b>: seq 17 kills a fresh server"), "{page}");
        assert!(page.contains("<code>fuzz-client replay --seq 17</code>"), "{page}");
    }
}
