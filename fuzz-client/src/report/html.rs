//! `fuzz-client report -o FILE`: one self-contained HTML page (inline CSS, plots as inline SVG, no
//! script, nothing fetched), so it opens offline, attaches to a bug report and survives the lab.
//!
//! The numbers the tests check carry ids (`id="connections"`, `id="rss-slope"`, ...), and each
//! listed connection carries its CID and replay command as text.

use super::analysis::{Analysis, Conn, NO_MUTATION, OUTCOMES};
use super::plots;
use fuzz_shared::Outcome;
use std::collections::BTreeMap;
use std::fmt::Write;

/// How many connections the slowest and the server-error tables list.
pub const LISTED: usize = 20;

/// Escapes text for HTML (element content and quoted attribute values).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}\
td.n{text-align:right}code{font-size:.85em;word-break:break-all}.crash{background:#fde8e8;padding:.5em 1em;border-left:4px solid #d21e1e}\
figure{margin:1em 0}svg{max-width:100%;height:auto}";

/// The page.
pub fn render(a: &Analysis) -> String {
    let mut h = String::new();
    let files: Vec<&str> = {
        let mut f: Vec<&str> = a.segments.iter().map(|s| s.file.as_str()).collect();
        f.dedup();
        f
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>quic-cid-fuzz report: {}</title>\
         <style>{STYLE}</style></head><body>\n<h1>quic-cid-fuzz campaign report</h1>\n",
        escape(&files.join(", "))
    );
    totals(&mut h, a);
    segments(&mut h, a);
    crashes(&mut h, a);
    findings(&mut h, a);

    h.push_str("<h2>Throughput</h2>\n<figure id=\"plot-rate\">");
    h.push_str(&plots::rate(a));
    h.push_str("</figure>\n");

    h.push_str("<h2>Server memory</h2>\n");
    if let Some((segment, pts)) = a.rss_series() {
        let _ = writeln!(
            h,
            "<p>Resident memory growth, least squares over the {} checkpoints of run {}: <b id=\"rss-slope\">{}</b> KiB \
             per connection (each run's server is a line of its own: a restart starts a fresh server).</p>\
             <figure id=\"plot-rss\">{}</figure>",
            pts.len(),
            segment + 1,
            a.rss_slope_kb_per_conn().map_or_else(|| "n/a".into(), |s| format!("{s:.1}")),
            plots::rss(a)
        );
    } else {
        h.push_str(
            "<p id=\"no-rss\">No server RSS in these logs: checkpoints carry <code>server_rss_kb</code> only when the \
             client supervises the server (<code>--server-cmd</code>).</p>\n",
        );
    }

    if let Some(&(_, last)) = a.edges_series().last() {
        let corpus = a
            .corpus()
            .map(|(size, children)| {
                format!(
                    " The corpus: <b id=\"corpus-last\">{size}</b> entries; {children} connections were children of \
                     entries."
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<h2>The server's coverage</h2>\n<p>Edges of the server's code covered at the last checkpoint: \
             <b id=\"edges-last\">{last}</b> (<code>--coverage</code>).{corpus}</p><figure id=\"plot-edges\">{}</figure>",
            plots::edges(a)
        );
    }

    let by_state = a.outcomes_by_state();
    h.push_str("<h2>Outcomes per fuzz state</h2>\n<figure id=\"plot-states\">");
    h.push_str(&plots::outcome_bars("outcomes per plan fuzz state", &by_state));
    h.push_str("</figure>\n");
    outcome_table(&mut h, "states", "fuzz state", &by_state);

    let by_family = a.outcomes_by_family();
    h.push_str("<h2>Outcomes per operator family</h2>\n<figure id=\"plot-families\">");
    h.push_str(&plots::outcome_bars("outcomes per operator family", &by_family));
    h.push_str("</figure>\n");
    let _ = writeln!(
        h,
        "<p>A connection counts once per family its mutation decisions used (<code>cid_end</code>'s \
         <code>operators</code>); <code>{NO_MUTATION}</code>: it mutated nothing.</p>"
    );
    outcome_table(&mut h, "families", "operator family", &by_family);

    let (judged, unexpected) = a.oracle();
    h.push_str("<h2>The RFC oracle: reactions other than the RFC says</h2>\n");
    if unexpected.is_empty() {
        let _ = writeln!(h, "<p id=\"no-unexpected\">{judged} connections judged; none reacted otherwise.</p>");
    } else {
        let n: usize = unexpected.values().map(Vec::len).sum();
        let _ = writeln!(
            h,
            "<p>{judged} connections judged (<code>cid_end</code>'s <code>verdict</code>); {n} reacted otherwise.</p>"
        );
        h.push_str(
            "<table id=\"oracle\"><tr><th>rule</th><th>section</th><th>expected</th><th>seen</th><th>connections</th>\
             <th>replay the first with</th></tr>\n",
        );
        for ((rule, section, allowed, seen), conns) in &unexpected {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td><code>{}</code></td></tr>",
                escape(rule),
                escape(section),
                escape(allowed),
                escape(seen),
                conns.len(),
                escape(&a.replay(conns[0])),
            );
        }
        h.push_str("</table>\n");
    }

    h.push_str("<h2>Slowest connections</h2>\n");
    conn_table(&mut h, a, "slowest", &a.slowest(LISTED));

    let errors = a.server_errors();
    h.push_str("<h2>Connections the server closed with an error code</h2>\n");
    if errors.is_empty() {
        h.push_str("<p id=\"no-server-errors\">None.</p>\n");
    } else {
        let mut by_code: BTreeMap<u64, usize> = BTreeMap::new();
        for c in &errors {
            *by_code.entry(c.error_code.unwrap_or_default()).or_default() += 1;
        }
        h.push_str("<table id=\"error-codes\"><tr><th>error code</th><th>connections</th></tr>\n");
        for (code, k) in by_code {
            let _ = writeln!(h, "<tr><td>{}</td><td class=\"n\">{k}</td></tr>", escape(&Analysis::code_name(code)));
        }
        h.push_str("</table>\n");
        if errors.len() > LISTED {
            let _ = writeln!(h, "<p>The first {LISTED} of {}:</p>", errors.len());
        }
        conn_table(&mut h, a, "server-errors", &errors[..errors.len().min(LISTED)]);
    }
    h.push_str("</body></html>\n");
    h
}

fn totals(h: &mut String, a: &Analysis) {
    let span = a.span();
    let rate = if span > 0.0 { a.conns.len() as f64 / span } else { 0.0 };
    let _ = writeln!(
        h,
        "<table id=\"totals\"><tr><th>connections</th><td class=\"n\" id=\"connections\">{}</td></tr>\
         <tr><th>fuzzed connections</th><td class=\"n\" id=\"fuzzed\">{}</td></tr>\
         <tr><th>runs (run_start)</th><td class=\"n\" id=\"runs\">{}</td></tr>\
         <tr><th>checkpoints</th><td class=\"n\" id=\"checkpoints\">{}</td></tr>\
         <tr><th>server down</th><td class=\"n\" id=\"crashes\">{}</td></tr>\
         <tr><th>span</th><td class=\"n\">{span:.1} s</td></tr>\
         <tr><th>connections/s over the span</th><td class=\"n\">{rate:.1}</td></tr></table>",
        a.conns.len(),
        a.fuzzed_connections(),
        a.segments.len(),
        a.checkpoints.len(),
        a.crashes.len(),
    );
    if a.other_role_lines > 0 {
        let _ = writeln!(h, "<p>{} lines of other roles (a server's log) were left out.</p>", a.other_role_lines);
    }
    let outcomes = a.outcomes();
    h.push_str("<table id=\"outcomes\"><tr>");
    for o in OUTCOMES {
        let _ = write!(h, "<th>{}</th>", o.as_str());
    }
    h.push_str("</tr><tr>");
    for o in OUTCOMES {
        let _ = write!(h, "<td class=\"n\">{}</td>", outcomes.get(&o).copied().unwrap_or(0));
    }
    h.push_str("</tr></table>\n");
}

fn segments(h: &mut String, a: &Analysis) {
    h.push_str(
        "<h2>Runs</h2>\n<table id=\"runs-table\"><tr><th>run</th><th>file</th><th>kind</th><th>started</th><th>start seq</th>\
         <th>start CID</th><th>target</th><th>mode</th><th>connections</th><th>end</th></tr>\n",
    );
    for (i, s) in a.segments.iter().enumerate() {
        let end = if s.server_down {
            "server down".to_string()
        } else {
            s.conn_per_s.map_or_else(|| "no run_end (cut short)".into(), |r| format!("ended, {r:.1} conn/s"))
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td><code>{}</code></td><td>{}</td><td>{}</td>\
             <td class=\"n\">{}</td><td>{}</td></tr>",
            i + 1,
            escape(&s.file),
            s.kind,
            Analysis::clock(s.started),
            s.start_seq,
            s.start_cid.map(|c| c.to_hex()).unwrap_or_default(),
            escape(&s.target),
            s.mode.as_str(),
            s.connections,
            escape(&end)
        );
    }
    h.push_str("</table>\n");
}

fn crashes(h: &mut String, a: &Analysis) {
    for (i, c) in a.crashes.iter().enumerate() {
        let _ = write!(
            h,
            "<div class=\"crash\" id=\"crash-{i}\"><h2>Server down at {} ({}, run {})</h2>\
             <p>cause: <b class=\"cause\">{}</b>; last checkpoint: seq {} (<code>{}</code>)</p>\
             <p>restart at the last checkpoint:<br><code>{}</code></p>",
            Analysis::clock(c.at),
            escape(&a.segments[c.segment].file),
            c.segment + 1,
            escape(c.cause.as_deref().unwrap_or("stopped answering")),
            c.last_checkpoint_seq,
            c.last_checkpoint_cid.to_hex(),
            escape(&c.repro),
        );
        if let Some(b) = &c.bisect {
            let _ = write!(h, "<p>narrow it down to one connection:<br><code>{}</code></p>", escape(b));
        }
        if let Some(p) = &c.crash_pcap {
            let _ = write!(h, "<p>crash capture: <code>{}</code></p>", escape(p));
        }
        h.push_str("</div>\n");
    }
}

/// One row per distinct finding: how often, its first window, its triage and the command that
/// reproduces it.
fn findings(h: &mut String, a: &Analysis) {
    if a.findings.is_empty() {
        return;
    }
    h.push_str(
        "<h2>Findings</h2>\n<table id=\"findings\"><tr><th>finding</th><th>seen</th><th>first window</th>\
         <th>triage</th><th>reproduce</th></tr>\n",
    );
    for f in &a.findings {
        let triage = f.record.as_ref().and_then(|r| r.triage.as_ref());
        let verdict = match triage {
            Some(t) => {
                let mut v = format!("<b>{}</b>: {}", escape(&t.verdict), escape(&t.detail));
                for d in &t.decisions {
                    let _ = write!(v, "<br>decision: <code>{}</code>", escape(d));
                }
                v
            }
            None => "not triaged".into(),
        };
        let reproduce = triage
            .and_then(|t| t.reproduce.clone())
            .or_else(|| f.record.as_ref().and_then(|r| r.bisect.clone()))
            .map(|c| format!("<code>{}</code>", escape(&c)))
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<tr><td><code>{}-{}</code><br>{}{}</td><td class=\"n\">{}</td><td>seq {}..{}<br><code>{}</code></td><td>{verdict}</td><td>{reproduce}</td></tr>",
            escape(&f.kind),
            escape(&f.id),
            escape(&f.summary),
            f.dir.as_deref().map(|d| format!("<br>folder <code>{}</code>", escape(d))).unwrap_or_default(),
            f.count,
            f.window_seq,
            f.window_end,
            f.window_cid,
        );
    }
    h.push_str("</table>\n");
}

fn outcome_table(h: &mut String, id: &str, what: &str, groups: &BTreeMap<String, BTreeMap<Outcome, u64>>) {
    let _ = write!(h, "<table id=\"table-{id}\"><tr><th>{what}</th>");
    for o in OUTCOMES {
        let _ = write!(h, "<th>{}</th>", o.as_str());
    }
    h.push_str("<th>all</th></tr>\n");
    for (name, counts) in groups {
        let _ = write!(h, "<tr><td>{}</td>", escape(name));
        for o in OUTCOMES {
            let _ = write!(h, "<td class=\"n\">{}</td>", counts.get(&o).copied().unwrap_or(0));
        }
        let _ = writeln!(h, "<td class=\"n\">{}</td></tr>", counts.values().sum::<u64>());
    }
    h.push_str("</table>\n");
}

fn conn_table(h: &mut String, a: &Analysis, id: &str, conns: &[&Conn]) {
    let _ = writeln!(
        h,
        "<table id=\"{id}\"><tr><th>seq</th><th>CID</th><th>ms</th><th>outcome</th><th>error code</th><th>fuzz state</th>\
         <th>operators</th><th>detail</th><th>replay it with</th></tr>"
    );
    for c in conns {
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            c.seq,
            c.cid.to_hex(),
            c.duration_ms,
            c.outcome.as_str(),
            c.error_code.map(|e| escape(&Analysis::code_name(e))).unwrap_or_default(),
            c.fuzz_state.map(|s| s.to_string()).unwrap_or_default(),
            escape(&c.operators.join(",")),
            escape(c.detail.as_deref().unwrap_or_default()),
            escape(&a.replay(c)),
        );
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::tests::{sample, LOG};

    /// The oracle's section: the judged connections counted, the unexpected reactions grouped by
    /// rule and by what was seen, with the replay command of the group's first connection.
    #[test]
    fn the_page_groups_unexpected_verdicts_by_rule() {
        assert!(render(&sample()).contains("id=\"no-unexpected\">0 connections judged"), "no verdict in the sample");
        let verdict = |seq: u64, cid: &str, expected: bool, seen: &str| {
            format!(
                r#"{{"ts":"2026-01-01T00:00:00.250Z","role":"client","event":"cid_end","seq":{seq},"cid":"{cid}","outcome":"completed","error_code":null,"fuzzed_packets":1,"mutation_digest":"0000000000000000","duration_ms":5,"verdict":{{"rule":"client_handshake_done","section":"RFC 9000 §19.20","expected":{expected},"allowed":"closes with PROTOCOL_VIOLATION (0x0a)","seen":"{seen}"}}}}"#
            )
        };
        let (head, tail) = LOG.split_once('\n').unwrap();
        let log = format!(
            "{head}\n{}\n{}\n{}\n{tail}",
            verdict(41, "1111111111111111", false, "completed"),
            verdict(42, "2222222222222222", false, "completed"),
            verdict(43, "3333333333333333", true, "closes with PROTOCOL_VIOLATION (0x0a)"),
        );
        let lines = fuzz_shared::log::read_log(log.as_bytes()).unwrap();
        let a = Analysis::from_logs(&[("run.jsonl".into(), lines)]).unwrap();
        let page = render(&a);
        let table = &page[page.find("id=\"oracle\"").expect("the oracle's table")..];
        let table = &table[..table.find("</table>").unwrap()];
        assert!(page.contains("3 connections judged"), "{page}");
        assert_eq!(table.matches("<tr><td>client_handshake_done</td>").count(), 1, "one group: {table}");
        assert!(table.contains("<td class=\"n\">2</td>"), "two connections in it: {table}");
        assert!(table.contains("replay --cid 1111111111111111 --seq 41"), "the first one's replay: {table}");
    }

    #[test]
    fn the_page_is_self_contained_and_its_numbers_are_the_logs() {
        let page = render(&sample());
        assert!(page.starts_with("<!DOCTYPE html>"));
        for needle in [
            "id=\"connections\">4<",
            "id=\"fuzzed\">2<",
            "id=\"runs\">2<",
            "id=\"checkpoints\">3<",
            "id=\"crashes\">1<",
            "id=\"rss-slope\">100.0<",
            "killed by signal 6 (SIGABRT)",
            "0x7 FRAME_ENCODING_ERROR",
            "fuzz-client replay --cid cac106eb3b28bca3 --seq 1 --server-cmd srv 127.0.0.1:4433",
        ] {
            assert!(page.contains(needle), "{needle} in the page");
        }
        assert_eq!(page.matches("<svg").count(), 4, "rate, RSS, states and families plots");
        assert!(
            !page.contains("<script") && !page.contains("src=\"http") && !page.contains("href=\"http"),
            "nothing fetched"
        );
    }

    /// Checkpoints with `edges` (a `--coverage` campaign) give the page a coverage section with
    /// the last count and a plot; without them there is none.
    #[test]
    fn checkpoints_with_edges_plot_the_servers_coverage() {
        assert!(!render(&sample()).contains("plot-edges"), "the sample has no coverage");
        let log = LOG
            .replace(r#""server_rss_kb":1000}"#, r#""server_rss_kb":1000,"edges":2933}"#)
            .replace(r#""server_rss_kb":1400}"#, r#""server_rss_kb":1400,"edges":3160}"#);
        let lines = fuzz_shared::log::read_log(log.as_bytes()).unwrap();
        let a = Analysis::from_logs(&[("run.jsonl".into(), lines)]).unwrap();
        assert_eq!(a.edges_series().iter().map(|p| p.1).collect::<Vec<_>>(), [2933, 3160]);
        let page = render(&a);
        assert!(page.contains("id=\"edges-last\">3160<"), "the last checkpoint's edges");
        assert!(page.contains("id=\"plot-edges\"><svg"));
        assert!(crate::report::text::render(&a)
            .contains("server coverage: 2933 edges at the first checkpoint, 3160 at the last"));
        assert!(!page.contains("corpus-last"), "no guidance, no corpus");
        let guided = LOG
            .replace(r#""server_rss_kb":1000}"#, r#""server_rss_kb":1000,"edges":2933,"corpus":12}"#)
            .replace(r#""server_rss_kb":1400}"#, r#""server_rss_kb":1400,"edges":3160,"corpus":40}"#)
            .replace(r#""requests":[]}}"#, r#""requests":[],"lineage":["0123456789abcdef"]}}"#);
        let lines = fuzz_shared::log::read_log(guided.as_bytes()).unwrap();
        let a = Analysis::from_logs(&[("run.jsonl".into(), lines)]).unwrap();
        assert_eq!(a.corpus(), Some((40, a.children)));
        assert!(a.children > 0);
        assert!(render(&a).contains("id=\"corpus-last\">40<"));
        assert!(crate::report::text::render(&a).contains("corpus: 40 entries at the last checkpoint"));
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("a<b>&'\""), "a&lt;b&gt;&amp;&#39;&quot;");
    }
}
