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
    outcome_table(&mut t, "fuzz state", &a.outcomes_by_state());
    outcome_table(&mut t, "operator family", &a.outcomes_by_family());
    let _ = writeln!(t, "({NO_MUTATION}: connections that mutated nothing)");
    conn_list(&mut t, a, "slowest connections", &a.slowest(LISTED));
    let errors = a.server_errors();
    let title = format!("connections the server closed with an error code: {}", errors.len());
    conn_list(&mut t, a, &title, &errors[..errors.len().min(LISTED)]);
    t
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
}
