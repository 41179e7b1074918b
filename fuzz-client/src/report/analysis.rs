//! `fuzz-client report`: what run logs say, computed once and without I/O, for the HTML page
//! ([`super::html`]) and the terminal summary ([`super::text`]) alike, so both show the same
//! numbers.
//!
//! The input is any number of client run logs: a campaign's, the same file after restarts
//! (`--resume-from` or the printed restart command append to it: one *segment* per `run_start`),
//! and a bisect's trial logs (`<log>.trial-N`). Each segment keeps its command line, so that every
//! connection listed comes with the `replay` command of the run it belongs to. Lines of another
//! role (a server's log) are counted and left out.

use crate::quic::connection::error_name;
use crate::triage::repro::replay_from_run;
use fuzz_shared::{Cid, Event, FuzzState, LogLine, Mode, Outcome, Role};
use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

/// Every outcome, in the order tables and plots show them.
pub const OUTCOMES: [Outcome; 7] = [
    Outcome::Completed,
    Outcome::WrongAnswer,
    Outcome::PeerClosed,
    Outcome::LocalClosed,
    Outcome::HandshakeFailed,
    Outcome::Timeout,
    Outcome::Refused,
];

/// The group of connections that mutated nothing, in the per-family counts.
pub const NO_MUTATION: &str = "(none)";

/// One `run_start` and what followed it in the same file.
#[derive(Clone, Debug)]
pub struct Segment {
    /// The file it was read from, as given.
    pub file: String,
    /// Seconds since the Unix epoch of its `run_start`.
    pub started: f64,
    pub start_seq: u64,
    pub start_cid: Option<Cid>,
    pub mode: Mode,
    pub target: String,
    /// Its command line (program first), for the replay commands.
    pub args: Vec<String>,
    /// `campaign`, `replay` or `bisect` (a bisect's trial).
    pub kind: &'static str,
    pub connections: u64,
    /// The `run_end`'s rate, when the run ended normally.
    pub conn_per_s: Option<f64>,
    pub server_down: bool,
}

/// One connection: its `cid_start` and `cid_end`.
#[derive(Clone, Debug)]
pub struct Conn {
    pub segment: usize,
    pub seq: u64,
    pub cid: Cid,
    /// Seconds since the Unix epoch of its `cid_end`.
    pub ended: f64,
    /// The plan's fuzz state (absent when the log lost its `cid_start`).
    pub fuzz_state: Option<FuzzState>,
    pub outcome: Outcome,
    pub error_code: Option<u64>,
    pub duration_ms: u64,
    pub fuzzed_packets: u64,
    pub operators: Vec<String>,
    pub detail: Option<String>,
    /// The RFC oracle's verdict (`cid_end`'s `verdict`), when it judged the connection.
    pub verdict: Option<fuzz_shared::oracle::Verdict>,
    /// The digest of its decisions: the same CID made the same decisions where it is the same.
    pub mutation_digest: String,
    /// Its decisions, by content.
    pub mutated: fuzz_shared::log::MutatedContents,
}

impl Conn {
    /// Whether the server ended it with an error: a CONNECTION_CLOSE (or application close) from
    /// the server with a non-zero code (RFC 9000 §20: 0x0 is NO_ERROR). Closes the client made
    /// itself (`local error: ...`) are not the server's.
    pub fn server_error(&self) -> bool {
        self.ending().peer_close_code().is_some_and(|c| c != 0)
    }

    /// How it ended, as the oracle and the differential table read it.
    pub fn ending(&self) -> fuzz_shared::log::Ending<'_> {
        fuzz_shared::log::Ending { outcome: self.outcome, error_code: self.error_code, detail: self.detail.as_deref() }
    }
}

/// A `checkpoint` line.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub segment: usize,
    pub seq: u64,
    pub at: f64,
    pub rss_kb: Option<u64>,
    /// The server's edges covered so far (`--coverage`).
    pub edges: Option<u64>,
    /// The corpus's size (`--coverage` with guidance).
    pub corpus: Option<u64>,
}

/// A `server_down` line.
#[derive(Clone, Debug)]
pub struct Crash {
    pub segment: usize,
    pub at: f64,
    pub cause: Option<String>,
    pub last_checkpoint_seq: u64,
    pub last_checkpoint_cid: Cid,
    pub repro: String,
    pub bisect: Option<String>,
    pub crash_pcap: Option<String>,
}

/// A distinct bug the logs name (`finding` lines with the same id), with its record once
/// [`crate::report::ReportJob`] has read it from the finding's folder.
#[derive(Clone, Debug)]
pub struct FindingSeen {
    pub id: String,
    pub kind: String,
    pub summary: String,
    /// The highest count the logs give: the record's count, earlier nights into the same
    /// findings directory included.
    pub count: u64,
    /// How many `finding` lines of these logs name it.
    pub seen: u64,
    /// The first line's time, window and cause.
    pub first_at: f64,
    pub window_seq: u64,
    pub window_cid: Cid,
    pub window_end: u64,
    pub cause: Option<String>,
    /// Its folder, as the campaign wrote it.
    pub dir: Option<String>,
    /// `finding.json`, when the folder could be read: the triage verdict and the commands.
    pub record: Option<crate::findings::record::Finding>,
}

/// Everything the report shows.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    pub segments: Vec<Segment>,
    pub conns: Vec<Conn>,
    pub checkpoints: Vec<Checkpoint>,
    pub crashes: Vec<Crash>,
    /// Distinct findings in the order they were first met.
    pub findings: Vec<FindingSeen>,
    /// Lines of another role (a server log given by mistake, or mixed in), left out.
    pub other_role_lines: usize,
    /// The time of the last client line (seconds since the Unix epoch).
    pub last: f64,
    /// Connections started as children of corpus entries (`plan.lineage`, `--coverage`).
    pub children: u64,
}

/// Seconds since the Unix epoch of a log line's `ts`.
fn seconds(ts: &str) -> Result<f64, String> {
    let at = humantime::parse_rfc3339(ts).map_err(|e| format!("bad timestamp {ts:?}: {e}"))?;
    Ok(at.duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs_f64())
}

fn kind_of(args: &[String]) -> &'static str {
    match args.get(1).map(String::as_str) {
        Some("bisect") => "bisect",
        Some("replay") => "replay",
        _ => "campaign",
    }
}

impl Analysis {
    /// Reads logs given as (file name, lines). A file without a client `run_start` is an error
    /// (it is not a fuzz-client run log).
    pub fn from_logs(logs: &[(String, Vec<LogLine>)]) -> Result<Analysis, String> {
        let mut a = Analysis::default();
        for (file, lines) in logs {
            let mut plans: BTreeMap<u64, FuzzState> = BTreeMap::new();
            let mut current: Option<usize> = None;
            for line in lines {
                if line.role != Role::Client {
                    a.other_role_lines += 1;
                    continue;
                }
                let at = seconds(&line.ts)?;
                a.last = a.last.max(at);
                if let Event::RunStart { start_cid, start_seq, target, mode, args, .. } = &line.event {
                    plans.clear();
                    a.segments.push(Segment {
                        file: file.clone(),
                        started: at,
                        start_seq: *start_seq,
                        start_cid: *start_cid,
                        mode: *mode,
                        target: target.clone(),
                        args: args.clone(),
                        kind: kind_of(args),
                        connections: 0,
                        conn_per_s: None,
                        server_down: false,
                    });
                    current = Some(a.segments.len() - 1);
                    continue;
                }
                let Some(segment) = current else {
                    return Err(format!("{file}: a {} line before any run_start", event_name(&line.event)));
                };
                match &line.event {
                    Event::RunStart { .. } => unreachable!("handled above"),
                    Event::CidStart { seq, plan, .. } => {
                        plans.insert(*seq, plan.fuzz_state);
                        a.children += !plan.lineage.is_empty() as u64;
                    }
                    Event::CidEnd {
                        seq,
                        cid,
                        outcome,
                        error_code,
                        fuzzed_packets,
                        duration_ms,
                        operators,
                        detail,
                        verdict,
                        mutation_digest,
                        mutated,
                        ..
                    } => {
                        a.segments[segment].connections += 1;
                        a.conns.push(Conn {
                            segment,
                            seq: *seq,
                            cid: *cid,
                            ended: at,
                            fuzz_state: plans.remove(seq),
                            outcome: *outcome,
                            error_code: *error_code,
                            duration_ms: *duration_ms,
                            fuzzed_packets: *fuzzed_packets,
                            operators: operators.clone(),
                            detail: detail.clone(),
                            verdict: verdict.clone(),
                            mutation_digest: mutation_digest.clone(),
                            mutated: mutated.clone(),
                        });
                    }
                    Event::Checkpoint { seq, server_rss_kb, edges, corpus, .. } => a.checkpoints.push(Checkpoint {
                        segment,
                        seq: *seq,
                        at,
                        rss_kb: *server_rss_kb,
                        edges: *edges,
                        corpus: *corpus,
                    }),
                    Event::ServerDown {
                        last_checkpoint_seq,
                        last_checkpoint_cid,
                        repro,
                        bisect,
                        cause,
                        crash_pcap,
                        ..
                    } => {
                        a.segments[segment].server_down = true;
                        a.crashes.push(Crash {
                            segment,
                            at,
                            cause: cause.clone(),
                            last_checkpoint_seq: *last_checkpoint_seq,
                            last_checkpoint_cid: *last_checkpoint_cid,
                            repro: repro.clone(),
                            bisect: bisect.clone(),
                            crash_pcap: crash_pcap.clone(),
                        });
                    }
                    Event::RunEnd { conn_per_s, .. } => a.segments[segment].conn_per_s = Some(*conn_per_s),
                    Event::Finding {
                        id, kind, summary, count, dir, window_seq, window_cid, window_end, cause, ..
                    } => match a.findings.iter_mut().find(|f| &f.id == id) {
                        Some(f) => {
                            f.count = f.count.max(*count);
                            f.seen += 1;
                            if f.dir.is_none() {
                                f.dir = dir.clone();
                            }
                        }
                        None => a.findings.push(FindingSeen {
                            id: id.clone(),
                            kind: kind.clone(),
                            summary: summary.clone(),
                            count: *count,
                            seen: 1,
                            first_at: at,
                            window_seq: *window_seq,
                            window_cid: *window_cid,
                            window_end: *window_end,
                            cause: cause.clone(),
                            dir: dir.clone(),
                            record: None,
                        }),
                    },
                    // Pacing and shard events have no place on the page yet.
                    Event::ServerBusy { .. }
                    | Event::ServerReady { .. }
                    | Event::ChainRepeat { .. }
                    | Event::CorpusEntry { .. }
                    | Event::ServerRestarted { .. } => {}
                }
            }
            if current.is_none() {
                return Err(format!("{file}: no fuzz-client run_start: not a client run log"));
            }
        }
        Ok(a)
    }

    /// When the first segment started (seconds since the Unix epoch): time zero of the plots.
    pub fn t0(&self) -> f64 {
        self.segments.iter().map(|s| s.started).fold(f64::INFINITY, f64::min)
    }

    /// The span from the first `run_start` to the last line, in seconds.
    pub fn span(&self) -> f64 {
        (self.last - self.t0()).max(0.0)
    }

    pub fn fuzzed_connections(&self) -> usize {
        self.conns.iter().filter(|c| c.fuzzed_packets > 0).count()
    }

    /// Connections ended per second over time: (seconds since [`Self::t0`] of the bucket's
    /// start, connections/s in it), in buckets of `bucket` seconds, empty buckets included.
    pub fn rate_series(&self, bucket: f64) -> Vec<(f64, f64)> {
        let t0 = self.t0();
        let n = (self.span() / bucket).floor() as usize + 1;
        let mut counts = vec![0u64; n];
        for c in &self.conns {
            let i = (((c.ended - t0) / bucket).floor() as usize).min(n - 1);
            counts[i] += 1;
        }
        counts.iter().enumerate().map(|(i, &k)| (i as f64 * bucket, k as f64 / bucket)).collect()
    }

    /// A bucket width for [`Self::rate_series`]: about 100 buckets over the span, between 0.25 s
    /// and 10 minutes.
    pub fn rate_bucket(&self) -> f64 {
        (self.span() / 100.0).clamp(0.25, 600.0)
    }

    /// Outcomes counted per plan fuzz state (`?` when the plan was not logged).
    pub fn outcomes_by_state(&self) -> BTreeMap<String, BTreeMap<Outcome, u64>> {
        let mut out: BTreeMap<String, BTreeMap<Outcome, u64>> = BTreeMap::new();
        for c in &self.conns {
            let state = c.fuzz_state.map_or_else(|| "?".to_string(), |s| s.to_string());
            *out.entry(state).or_default().entry(c.outcome).or_default() += 1;
        }
        out
    }

    /// Outcomes counted per operator family a connection's decisions used (a connection with
    /// several families counts in each; one that mutated nothing in [`NO_MUTATION`]).
    pub fn outcomes_by_family(&self) -> BTreeMap<String, BTreeMap<Outcome, u64>> {
        let mut out: BTreeMap<String, BTreeMap<Outcome, u64>> = BTreeMap::new();
        for c in &self.conns {
            if c.operators.is_empty() {
                *out.entry(NO_MUTATION.to_string()).or_default().entry(c.outcome).or_default() += 1;
            }
            for f in &c.operators {
                *out.entry(f.clone()).or_default().entry(c.outcome).or_default() += 1;
            }
        }
        out
    }

    /// Outcomes of all connections.
    pub fn outcomes(&self) -> BTreeMap<Outcome, u64> {
        let mut out = BTreeMap::new();
        for c in &self.conns {
            *out.entry(c.outcome).or_default() += 1;
        }
        out
    }

    /// Per run (segment) whose checkpoints carry the supervised server's RSS: (segment,
    /// [(checkpoint seq, RSS in KiB)] by seq). Each run started a server of its own (a restart
    /// starts a fresh one), so each is a series of its own.
    pub fn rss_runs(&self) -> Vec<(usize, Vec<(u64, u64)>)> {
        let mut runs: BTreeMap<usize, Vec<(u64, u64)>> = BTreeMap::new();
        for c in &self.checkpoints {
            if let Some(kb) = c.rss_kb {
                runs.entry(c.segment).or_default().push((c.seq, kb));
            }
        }
        runs.into_iter().collect()
    }

    /// The run with the most RSS samples (the first of equals): the one whose slope the report
    /// gives, as (segment, series).
    pub fn rss_series(&self) -> Option<(usize, Vec<(u64, u64)>)> {
        self.rss_runs().into_iter().rev().max_by_key(|(_, pts)| pts.len())
    }

    /// The server's memory growth per connection in [`Self::rss_series`]: the least-squares
    /// slope of RSS over checkpoint seq, in KiB per connection, with the fit's intercept (at
    /// least three checkpoints with RSS).
    pub fn rss_fit(&self) -> Option<(f64, f64)> {
        let (_, pts) = self.rss_series()?;
        if pts.len() < 3 {
            return None;
        }
        let n = pts.len() as f64;
        let mx = pts.iter().map(|p| p.0 as f64).sum::<f64>() / n;
        let my = pts.iter().map(|p| p.1 as f64).sum::<f64>() / n;
        let sxy: f64 = pts.iter().map(|p| (p.0 as f64 - mx) * (p.1 as f64 - my)).sum();
        let sxx: f64 = pts.iter().map(|p| (p.0 as f64 - mx).powi(2)).sum();
        (sxx > 0.0).then(|| (sxy / sxx, my - sxy / sxx * mx))
    }

    /// [`Self::rss_fit`]'s slope: KiB per connection.
    pub fn rss_slope_kb_per_conn(&self) -> Option<f64> {
        self.rss_fit().map(|f| f.0)
    }

    /// The `n` longest connections, longest first (ties: lower seq first).
    pub fn slowest(&self, n: usize) -> Vec<&Conn> {
        let mut v: Vec<&Conn> = self.conns.iter().collect();
        v.sort_by(|a, b| b.duration_ms.cmp(&a.duration_ms).then(a.seq.cmp(&b.seq)));
        v.truncate(n);
        v
    }

    /// The connections the server ended with an error code ([`Conn::server_error`]), by seq.
    pub fn server_errors(&self) -> Vec<&Conn> {
        let mut v: Vec<&Conn> = self.conns.iter().filter(|c| c.server_error()).collect();
        v.sort_by_key(|c| (c.segment, c.seq));
        v
    }

    /// How many connections the RFC oracle judged, and the unexpected reactions grouped by
    /// (rule, section, what the rule allows, what was seen), each group's connections in log order.
    pub fn oracle(&self) -> (usize, BTreeMap<fuzz_shared::oracle::Deviation, Vec<&Conn>>) {
        let mut groups: BTreeMap<_, Vec<&Conn>> = BTreeMap::new();
        let mut judged = 0;
        for c in &self.conns {
            let Some(v) = &c.verdict else { continue };
            judged += 1;
            if !v.expected {
                groups.entry(v.deviation()).or_default().push(c);
            }
        }
        (judged, groups)
    }

    /// The server's coverage at each checkpoint that has it (`--coverage`): (seconds since
    /// [`Self::t0`], edges), in time order.
    /// The corpus at the last checkpoint that logged one, and how many connections were
    /// children of its entries; `None` for a campaign without guidance.
    pub fn corpus(&self) -> Option<(u64, u64)> {
        self.checkpoints.iter().rev().find_map(|c| c.corpus).map(|size| (size, self.children))
    }

    pub fn edges_series(&self) -> Vec<(f64, u64)> {
        let t0 = self.t0();
        let mut pts: Vec<(f64, u64)> = self.checkpoints.iter().filter_map(|c| Some((c.at - t0, c.edges?))).collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts
    }

    /// The command that replays `conn` alone, with its run's options.
    pub fn replay(&self, conn: &Conn) -> String {
        replay_from_run(&self.segments[conn.segment].args, conn.seq, &conn.cid)
    }

    /// A code as the client names it: `0x1 INTERNAL_ERROR`.
    pub fn code_name(code: u64) -> String {
        let name = error_name(code);
        match name.trim_end() {
            unnamed if unnamed.starts_with("error ") => format!("{code:#x}"),
            named => format!("{code:#x} {named}"),
        }
    }

    /// The time of `at` (seconds since the Unix epoch) in RFC 3339, to the second.
    pub fn clock(at: f64) -> String {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs_f64(at.max(0.0))).to_string()
    }
}

fn event_name(e: &Event) -> &'static str {
    match e {
        Event::RunStart { .. } => "run_start",
        Event::CidStart { .. } => "cid_start",
        Event::CidEnd { .. } => "cid_end",
        Event::Checkpoint { .. } => "checkpoint",
        Event::ServerDown { .. } => "server_down",
        Event::RunEnd { .. } => "run_end",
        Event::ServerBusy { .. } => "server_busy",
        Event::ServerReady { .. } => "server_ready",
        Event::ChainRepeat { .. } => "chain_repeat",
        Event::Finding { .. } => "finding",
        Event::ServerRestarted { .. } => "server_restarted",
        Event::CorpusEntry { .. } => "corpus_entry",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use fuzz_shared::log::read_log;

    /// A small log: a campaign of 6 connections with two supervised checkpoints whose RSS grows
    /// 100 KiB per connection, a server close with an error, and a crash; then its restart.
    pub(crate) const LOG: &str = r#"{"ts":"2026-01-01T00:00:00.000Z","role":"client","event":"run_start","start_cid":"0123456789abcdef","start_seq":0,"target":"127.0.0.1:4433","mode":"fuzz","derivation":"v2","version":"0.1.0","args":["fuzz-client","--start-cid","0123456789abcdef","--log","run.jsonl","--server-cmd","srv","127.0.0.1:4433"]}
{"ts":"2026-01-01T00:00:00.100Z","role":"client","event":"cid_start","seq":0,"cid":"0123456789abcdef","plan":{"fuzz_state":"initial","wait_packets":0,"fuzz_packets":2,"resume_session":false,"attempt_0rtt":false,"requests":[]}}
{"ts":"2026-01-01T00:00:00.200Z","role":"client","event":"cid_end","seq":0,"cid":"0123456789abcdef","outcome":"completed","error_code":null,"fuzzed_packets":1,"mutation_digest":"0000000000000000","duration_ms":20,"operators":["field","tls"]}
{"ts":"2026-01-01T00:00:00.300Z","role":"client","event":"checkpoint","seq":2,"cid":"cac106eb3b28bca3","server_up":true,"probe_ms":3,"server_rss_kb":1000}
{"ts":"2026-01-01T00:00:01.100Z","role":"client","event":"cid_start","seq":1,"cid":"cac106eb3b28bca3","plan":{"fuzz_state":"ready","wait_packets":0,"fuzz_packets":2,"resume_session":false,"attempt_0rtt":false,"requests":[]}}
{"ts":"2026-01-01T00:00:01.500Z","role":"client","event":"cid_end","seq":1,"cid":"cac106eb3b28bca3","outcome":"peer_closed","error_code":7,"fuzzed_packets":1,"mutation_digest":"0000000000000000","duration_ms":350,"operators":["field"],"detail":"peer closed: FRAME_ENCODING_ERROR"}
{"ts":"2026-01-01T00:00:01.600Z","role":"client","event":"cid_end","seq":2,"cid":"282508f198836bcc","outcome":"timeout","error_code":null,"fuzzed_packets":0,"mutation_digest":"0000000000000000","duration_ms":400}
{"ts":"2026-01-01T00:00:01.700Z","role":"client","event":"checkpoint","seq":4,"cid":"282508f198836bcc","server_up":true,"probe_ms":3,"server_rss_kb":1200}
{"ts":"2026-01-01T00:00:01.800Z","role":"client","event":"checkpoint","seq":6,"cid":"282508f198836bcc","server_up":true,"probe_ms":3,"server_rss_kb":1400}
{"ts":"2026-01-01T00:00:02.000Z","role":"client","event":"server_down","last_checkpoint_seq":6,"last_checkpoint_cid":"282508f198836bcc","repro":"fuzz-client --start-seq 6","cause":"killed by signal 6 (SIGABRT)"}
{"ts":"2026-01-01T00:00:02.100Z","role":"server","event":"run_end","connections":1,"fuzzed_connections":0,"elapsed_s":1.0,"conn_per_s":1.0,"server_up":true}
{"ts":"2026-01-01T00:00:03.000Z","role":"client","event":"run_start","start_cid":"282508f198836bcc","start_seq":6,"target":"127.0.0.1:4433","mode":"fuzz","derivation":"v2","version":"0.1.0","args":["fuzz-client","--start-cid","282508f198836bcc","--start-seq","6","--log","run.jsonl","127.0.0.1:4433"]}
{"ts":"2026-01-01T00:00:03.500Z","role":"client","event":"cid_end","seq":6,"cid":"282508f198836bcc","outcome":"completed","error_code":0,"fuzzed_packets":0,"mutation_digest":"0000000000000000","duration_ms":10}
{"ts":"2026-01-01T00:00:04.000Z","role":"client","event":"run_end","connections":1,"fuzzed_connections":0,"elapsed_s":1.0,"conn_per_s":1.0,"server_up":true}
"#;

    pub(crate) fn sample() -> Analysis {
        let lines = read_log(LOG.as_bytes()).unwrap();
        Analysis::from_logs(&[("run.jsonl".into(), lines)]).unwrap()
    }

    #[test]
    fn segments_connections_and_crashes() {
        let a = sample();
        assert_eq!(a.segments.len(), 2, "a restart appended to the log is a segment of its own");
        assert_eq!((a.segments[0].connections, a.segments[1].connections), (3, 1));
        assert!(a.segments[0].server_down && !a.segments[1].server_down);
        assert_eq!(a.segments[1].conn_per_s, Some(1.0));
        assert_eq!(a.conns.len(), 4);
        assert_eq!(a.other_role_lines, 1);
        assert_eq!(a.crashes.len(), 1);
        assert_eq!(a.crashes[0].cause.as_deref(), Some("killed by signal 6 (SIGABRT)"));
        assert_eq!(a.fuzzed_connections(), 2);
        assert!((a.span() - 4.0).abs() < 1e-9, "{}", a.span());
    }

    #[test]
    fn rates_outcomes_and_families() {
        let a = sample();
        let rate = a.rate_series(1.0);
        assert_eq!(rate.len(), 5);
        assert_eq!(rate.iter().map(|r| r.1).collect::<Vec<_>>(), [1.0, 2.0, 0.0, 1.0, 0.0]);
        let by_state = a.outcomes_by_state();
        assert_eq!(by_state["initial"][&Outcome::Completed], 1);
        assert_eq!(by_state["ready"][&Outcome::PeerClosed], 1);
        assert_eq!(by_state["?"].values().sum::<u64>(), 2, "no cid_start logged for two");
        let by_family = a.outcomes_by_family();
        assert_eq!(by_family["field"].values().sum::<u64>(), 2);
        assert_eq!(by_family["tls"][&Outcome::Completed], 1);
        assert_eq!(by_family[NO_MUTATION].values().sum::<u64>(), 2);
    }

    #[test]
    fn rss_slope_slowest_and_server_errors() {
        let a = sample();
        assert_eq!(a.rss_series(), Some((0, vec![(2, 1000), (4, 1200), (6, 1400)])));
        assert_eq!(a.rss_runs().len(), 1, "the restart was not supervised");
        assert!((a.rss_slope_kb_per_conn().unwrap() - 100.0).abs() < 1e-9);
        let slow: Vec<u64> = a.slowest(2).iter().map(|c| c.seq).collect();
        assert_eq!(slow, [2, 1]);
        let errors = a.server_errors();
        assert_eq!(errors.len(), 1, "error code 0 (NO_ERROR) is not an error");
        assert_eq!(errors[0].seq, 1);
        assert_eq!(Analysis::code_name(7), "0x7 FRAME_ENCODING_ERROR");
        assert_eq!(
            a.replay(errors[0]),
            "fuzz-client replay --cid cac106eb3b28bca3 --seq 1 --server-cmd srv 127.0.0.1:4433"
        );
    }

    #[test]
    fn a_file_that_is_no_client_log_is_refused() {
        let server = r#"{"ts":"2026-01-01T00:00:00.000Z","role":"server","event":"run_end","connections":1,"fuzzed_connections":0,"elapsed_s":1.0,"conn_per_s":1.0,"server_up":true}"#;
        let lines = read_log(server.as_bytes()).unwrap();
        let err = Analysis::from_logs(&[("s.jsonl".into(), lines)]).unwrap_err();
        assert!(err.contains("not a client run log"), "{err}");
    }
}
