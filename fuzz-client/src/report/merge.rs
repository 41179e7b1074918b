//! `fuzz-client merge LOG...`: one view of a sharded campaign from its shards' run logs.
//!
//! Per log (usually one per shard): which shard of which root it is, connections, checkpoints,
//! outcomes, whether it saw the server go down, and the command that restarts it alone. Then
//! what concerns the campaign as a whole: which shards saw the server go down (in the order
//! they noticed; with one target for many shards, every shard running at the time sees it), the
//! shard and seq of a CID named by the server's own crash report (`--cid`), shards missing or of
//! another campaign, and chains that merged ([`fuzz_shared::shard`]: two shards that ran the
//! same distinguished point run the same connections from there on).
//!
//! Logs are read line by line with constant memory per log beyond the distinguished points (one
//! in 4096 connections). Lines that are not run-log lines are counted and skipped rather than
//! refused: `kubectl logs` interleaves a pod's stderr with its stdout, and a newer fuzz-client
//! may log events this one does not know.

use crate::triage::repro;
use fuzz_shared::shard::{is_distinguished, ShardInfo};
use fuzz_shared::{Cid, Event, LogLine, Outcome, Role};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::PathBuf;

/// `merge`, checked.
#[derive(Debug, Clone)]
pub struct MergeJob {
    pub logs: Vec<PathBuf>,
    /// A CID to look for (one named by the server's crash report, its qlog file name, ...).
    pub cid: Option<Cid>,
}

/// The server going down, as one log saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Down {
    pub ts: String,
    pub last_checkpoint_seq: u64,
    pub last_checkpoint_cid: Cid,
    pub cause: Option<String>,
    pub repro: String,
    pub bisect: Option<String>,
}

/// What one run log says.
#[derive(Debug, Clone, Default)]
pub struct ShardLog {
    pub name: String,
    /// The shard, from the first client `run_start` that names one.
    pub shard: Option<ShardInfo>,
    /// The command line of the first run, for the commands printed.
    pub argv: Vec<String>,
    pub runs: u64,
    pub connections: u64,
    pub checkpoints: u64,
    pub last_checkpoint: Option<(u64, Cid)>,
    pub outcomes: BTreeMap<Outcome, u64>,
    pub downs: Vec<Down>,
    /// `chain_repeat` lines: (seq, detail).
    pub repeats: Vec<(u64, String)>,
    /// Distinguished points of the chain, with their seq.
    pub points: Vec<(Cid, u64)>,
    /// The seq at which the wanted CID ran, if it did.
    pub found: Option<u64>,
    /// Lines that are not run-log lines of a client (stderr, unknown events, the server's).
    pub skipped: u64,
}

impl ShardLog {
    /// Reads one log. Only an unreadable file, or one without any client run, is an error.
    pub fn read(name: &str, input: impl BufRead, wanted: Option<&Cid>) -> Result<Self, String> {
        let mut s = ShardLog { name: name.to_string(), ..Default::default() };
        let mut seen_points: BTreeSet<Cid> = BTreeSet::new();
        for line in input.lines() {
            let line = line.map_err(|e| format!("{name}: {e}"))?;
            if line.trim().is_empty() {
                continue;
            }
            let Ok(l) = serde_json::from_str::<LogLine>(&line) else {
                s.skipped += 1;
                continue;
            };
            if l.role != Role::Client {
                s.skipped += 1;
                continue;
            }
            s.add(l, wanted, &mut seen_points);
        }
        if s.runs == 0 {
            return Err(format!("{name}: no fuzz-client run_start line: not a client run log"));
        }
        Ok(s)
    }

    fn add(&mut self, l: LogLine, wanted: Option<&Cid>, seen_points: &mut BTreeSet<Cid>) {
        match l.event {
            Event::RunStart { shard, args, .. } => {
                self.runs += 1;
                if self.shard.is_none() {
                    self.shard = shard;
                }
                if self.argv.is_empty() {
                    self.argv = args;
                }
            }
            Event::CidStart { seq, cid, .. } => {
                // A restart appended to the same log runs the same CIDs again: count a point once.
                if is_distinguished(&cid) && seen_points.insert(cid) {
                    self.points.push((cid, seq));
                }
                if wanted == Some(&cid) {
                    self.found = Some(seq);
                }
            }
            Event::CidEnd { outcome, .. } => {
                self.connections += 1;
                *self.outcomes.entry(outcome).or_default() += 1;
            }
            Event::Checkpoint { seq, cid, server_up: true, .. } => {
                self.checkpoints += 1;
                self.last_checkpoint = Some((seq, cid));
            }
            Event::ServerDown { last_checkpoint_seq, last_checkpoint_cid, repro, bisect, cause, .. } => {
                self.downs.push(Down { ts: l.ts, last_checkpoint_seq, last_checkpoint_cid, cause, repro, bisect })
            }
            Event::ChainRepeat { seq, detail, .. } => self.repeats.push((seq, detail)),
            _ => {}
        }
    }

    /// `I/N`, or `-` for a run that is not a shard.
    fn label(&self) -> String {
        self.shard.map_or("-".into(), |s| s.spec().to_string())
    }
}

/// Two shards' chains that met: both ran `cid` (at `seq_a` and `seq_b` of their own chains).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainMerge {
    pub a: usize,
    pub b: usize,
    pub cid: Cid,
    pub seq_a: u64,
    pub seq_b: u64,
}

/// Distinguished points that logs of different shards share. Logs of the same shard (a restart
/// logged to another file) share their points by design and are not compared.
pub fn chain_merges(logs: &[ShardLog]) -> Vec<ChainMerge> {
    let mut first: HashMap<Cid, (usize, u64)> = HashMap::new();
    let mut merges = Vec::new();
    for (i, log) in logs.iter().enumerate() {
        for &(cid, seq) in &log.points {
            match first.get(&cid) {
                Some(&(j, seq_j)) if logs[j].shard.map(|s| s.index) != log.shard.map(|s| s.index) => {
                    merges.push(ChainMerge { a: j, b: i, cid, seq_a: seq_j, seq_b: seq })
                }
                Some(_) => {}
                None => {
                    first.insert(cid, (i, seq));
                }
            }
        }
    }
    // One line per pair of logs: the first point they share is where it shows.
    let mut pairs = BTreeSet::new();
    merges.retain(|m| pairs.insert((m.a, m.b)));
    merges
}

/// The whole view, as printed.
pub fn render(logs: &[ShardLog], wanted: Option<&Cid>) -> String {
    let mut out = String::new();
    let roots: BTreeSet<Cid> = logs.iter().filter_map(|l| l.shard.map(|s| s.root)).collect();
    let counts: BTreeSet<u32> = logs.iter().filter_map(|l| l.shard.map(|s| s.count)).collect();
    match (roots.iter().next(), counts.iter().next()) {
        (Some(root), Some(n)) if roots.len() == 1 && counts.len() == 1 => {
            let present: BTreeSet<u32> = logs.iter().filter_map(|l| l.shard.map(|s| s.index)).collect();
            let _ = writeln!(out, "campaign {root}: {} of {n} shards in {} log(s)", present.len(), logs.len());
            let missing: Vec<String> = (0..*n).filter(|i| !present.contains(i)).map(|i| i.to_string()).collect();
            if !missing.is_empty() {
                let _ = writeln!(out, "missing shards (no log given): {}", abbreviate(&missing));
            }
        }
        (None, _) => {
            let _ = writeln!(out, "{} log(s), none of them a shard (--shard I/N)", logs.len());
        }
        _ => {
            let roots: Vec<String> = roots.iter().map(Cid::to_hex).collect();
            let counts: Vec<String> = counts.iter().map(u32::to_string).collect();
            let _ = writeln!(
                out,
                "WARNING: these logs are not of one campaign: roots {}, shard counts {}",
                roots.join(", "),
                counts.join(", ")
            );
        }
    }

    let _ = writeln!(out);
    let header = ["shard", "log", "runs", "connections", "checkpoints", "last checkpoint", "server down", "outcomes"];
    let rows: Vec<[String; 8]> = logs
        .iter()
        .map(|l| {
            [
                l.label(),
                l.name.clone(),
                l.runs.to_string(),
                l.connections.to_string(),
                l.checkpoints.to_string(),
                l.last_checkpoint.map_or("-".into(), |(seq, cid)| format!("#{seq} {cid}")),
                match l.downs.len() {
                    0 => "no".into(),
                    1 => "yes".into(),
                    n => format!("yes ({n} times)"),
                },
                l.outcomes.iter().map(|(o, n)| format!("{} {n}", o.as_str())).collect::<Vec<_>>().join(", "),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].len()).chain([header[c].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| -> String {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&header.map(String::from)));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r));
    }

    // Who saw the server go down, in the order they noticed.
    let mut downs: Vec<(&ShardLog, &Down)> = logs.iter().flat_map(|l| l.downs.iter().map(move |d| (l, d))).collect();
    downs.sort_by(|x, y| x.1.ts.cmp(&y.1.ts));
    if downs.is_empty() {
        let _ = writeln!(out, "\nno shard saw the server go down");
    } else {
        let who: BTreeSet<String> = downs.iter().map(|(l, _)| format!("{} ({})", l.label(), l.name)).collect();
        let (first, _) = downs[0];
        let _ = writeln!(
            out,
            "\nserver down, seen by {} log(s): {}; first to notice: shard {} ({})",
            who.len(),
            who.into_iter().collect::<Vec<_>>().join(", "),
            first.label(),
            first.name
        );
        if downs.len() > 1 {
            let _ = writeln!(
                out,
                "(every shard running when one target dies sees it die; which shard's connection killed it: the \
                 server's crash report or qlog names a CID, `merge --cid CID` finds its shard, or bisect each \
                 shard's window)"
            );
        }
        for (l, d) in &downs {
            let cause = d.cause.as_deref().map(|c| format!(": {c}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "- shard {} ({}) at {}{cause}; last checkpoint #{} {}\n  restart that shard alone: {}",
                l.label(),
                l.name,
                d.ts,
                d.last_checkpoint_seq,
                d.last_checkpoint_cid,
                d.repro
            );
            if let Some(b) = &d.bisect {
                let _ = writeln!(out, "  bisect its window: {b}");
            }
        }
    }

    if let Some(cid) = wanted {
        let owners: Vec<&ShardLog> = logs.iter().filter(|l| l.found.is_some()).collect();
        if owners.is_empty() {
            let _ = writeln!(out, "\ncid {cid}: no log ran it (not a chain CID of these shards; a probe's?)");
        }
        for l in owners {
            let seq = l.found.expect("found");
            let _ = writeln!(
                out,
                "\ncid {cid} is shard {} ({}) seq {seq}\n  replay it: {}",
                l.label(),
                l.name,
                repro::replay_from_campaign(&l.argv, seq, cid)
            );
        }
    }

    for l in logs {
        for (seq, detail) in &l.repeats {
            let _ = writeln!(out, "\nshard {} ({}) stopped at #{seq}: {detail}", l.label(), l.name);
        }
    }
    for m in chain_merges(logs) {
        let (a, b) = (&logs[m.a], &logs[m.b]);
        let _ = writeln!(
            out,
            "\nchains merged: shard {} ({}) seq {} and shard {} ({}) seq {} both ran {}: from there on they run the \
             same connections (stop one of them; README: shards)",
            a.label(),
            a.name,
            m.seq_a,
            b.label(),
            b.name,
            m.seq_b,
            m.cid
        );
    }
    let skipped: u64 = logs.iter().map(|l| l.skipped).sum();
    if skipped > 0 {
        let _ =
            writeln!(out, "\n{skipped} line(s) that are not client run-log lines were skipped (stderr, other events)");
    }
    out
}

/// `0, 1, 2, 5` as is; a long list shortened to its first and last few.
fn abbreviate(items: &[String]) -> String {
    if items.len() <= 12 {
        return items.join(", ");
    }
    format!("{}, ... {} more ..., {}", items[..5].join(", "), items.len() - 10, items[items.len() - 5..].join(", "))
}

/// Reads every log and prints the view on stdout. Exit status: 0 when no shard saw the server
/// go down, 3 when one did, 2 for a log that cannot be read or is not a client's.
pub fn run(job: &MergeJob) -> u8 {
    let mut logs = Vec::with_capacity(job.logs.len());
    for path in &job.logs {
        let name = path.display().to_string();
        let read = std::fs::File::open(path)
            .map_err(|e| format!("{name}: {e}"))
            .and_then(|f| ShardLog::read(&name, std::io::BufReader::new(f), job.cid.as_ref()));
        match read {
            Ok(l) => logs.push(l),
            Err(e) => {
                eprintln!("error: merge: {e}");
                return 2;
            }
        }
    }
    logs.sort_by_key(|l| (l.shard.map(|s| (s.root, s.index)), l.name.clone()));
    print!("{}", render(&logs, job.cid.as_ref()));
    if logs.iter().any(|l| !l.downs.is_empty()) {
        3
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuzz_shared::shard::ShardSpec;
    use fuzz_shared::{chain, ConnectionPlan, LogWriter, Mode};

    fn shard_log(index: u32, count: u32, connections: u64, down: bool) -> Vec<u8> {
        let root: Cid = "0123456789abcdef".parse().unwrap();
        let info = ShardInfo::new(root, ShardSpec { index, count });
        let mut w = LogWriter::new(Vec::new(), Role::Client);
        let args = vec!["fuzz-client".into(), "--shard".into(), format!("{index}/{count}"), "lab:4433".into()];
        w.write(Event::RunStart {
            start_cid: Some(info.start_cid),
            start_seq: 0,
            target: "lab:4433".into(),
            mode: Mode::Fuzz,
            derivation: chain::DERIVATION.into(),
            version: "0".into(),
            args,
            planted_faults: vec![],
            resume_rate: None,
            shard: Some(info),
            pacing: None,
            client_knobs: None,
            alpn: None,
            corpus_every: None,
        })
        .unwrap();
        for (seq, cid) in chain::iter(info.start_cid).take(connections as usize).enumerate() {
            let seq = seq as u64;
            w.write(Event::CidStart { seq, cid, plan: ConnectionPlan::from_cid(&cid, Role::Client) }).unwrap();
            w.write(Event::CidEnd {
                seq,
                cid,
                outcome: if seq.is_multiple_of(2) { Outcome::Completed } else { Outcome::Timeout },
                error_code: None,
                fuzzed_packets: 1,
                sent_packets: None,
                mutation_digest: "0".repeat(16),
                duration_ms: 1,
                operators: Vec::new(),
                mutated: Default::default(),
                detail: None,
                resumption: None,
                verdict: None,
            })
            .unwrap();
            if seq > 0 && seq.is_multiple_of(10) {
                w.write(Event::Checkpoint {
                    seq,
                    cid,
                    server_up: true,
                    probe_ms: 1,
                    server_rss_kb: None,
                    pacing: None,
                    edges: None,
                    corpus: None,
                })
                .unwrap();
            }
        }
        if down {
            w.write(Event::ServerDown {
                last_checkpoint_seq: 10,
                last_checkpoint_cid: info.cid_at(10),
                repro: format!("fuzz-client --start-cid {root} --shard {index}/{count} --start-seq 10 lab:4433"),
                bisect: None,
                cause: None,
                cpu_percent: None,
                stderr_tail: vec![],
                crash_pcap: None,
            })
            .unwrap();
        }
        w.into_inner()
    }

    fn read(name: &str, bytes: &[u8], wanted: Option<&Cid>) -> ShardLog {
        ShardLog::read(name, bytes, wanted).unwrap()
    }

    #[test]
    fn per_shard_table_names_the_shard_that_saw_the_crash() {
        let root: Cid = "0123456789abcdef".parse().unwrap();
        let culprit = ShardInfo::new(root, ShardSpec { index: 2, count: 4 }).cid_at(17);
        let logs: Vec<ShardLog> =
            [0, 1, 2].map(|i| read(&format!("shard-{i}.jsonl"), &shard_log(i, 4, 25, i == 2), Some(&culprit))).into();
        let text = render(&logs, Some(&culprit));
        assert!(text.contains("campaign 0123456789abcdef: 3 of 4 shards in 3 log(s)"), "{text}");
        assert!(text.contains("missing shards (no log given): 3"), "{text}");
        let row = text.lines().find(|l| l.starts_with("2/4")).expect("a row for shard 2");
        assert!(row.contains("shard-2.jsonl") && row.contains("25") && row.contains("yes"), "{row}");
        assert!(row.contains("completed 13, timeout 12"), "{row}");
        assert!(text.lines().find(|l| l.starts_with("0/4")).unwrap().contains(" no "), "{text}");
        assert!(text.contains("server down, seen by 1 log(s): 2/4 (shard-2.jsonl)"), "{text}");
        assert!(text.contains("restart that shard alone: fuzz-client --start-cid 0123456789abcdef --shard 2/4"));
        assert!(text.contains(&format!("cid {culprit} is shard 2/4 (shard-2.jsonl) seq 17")), "{text}");
        assert!(text.contains(&format!("replay --cid {culprit} --seq 17 lab:4433")), "{text}");
    }

    #[test]
    fn stderr_lines_are_skipped_and_non_client_logs_refused() {
        let mut bytes = b"INFO campaign from cid ...\n".to_vec();
        bytes.extend(shard_log(0, 1, 3, false));
        bytes.extend(b"session tickets received: 3\n");
        let l = read("pod.log", &bytes, None);
        assert_eq!((l.skipped, l.connections, l.runs), (2, 3, 1));
        assert!(ShardLog::read("x", &b"hello\n"[..], None).unwrap_err().contains("no fuzz-client run_start"));
    }

    #[test]
    fn merged_chains_are_found_from_distinguished_points() {
        let point: Cid = "0001020304050607".parse().unwrap();
        let root: Cid = "0123456789abcdef".parse().unwrap();
        let mut logs: Vec<ShardLog> = (0..3)
            .map(|i| ShardLog {
                name: format!("s{i}"),
                shard: Some(ShardInfo::new(root, ShardSpec { index: i, count: 3 })),
                runs: 1,
                ..Default::default()
            })
            .collect();
        logs[0].points = vec![(point, 5000)];
        logs[2].points = vec![(point, 900)];
        assert_eq!(chain_merges(&logs), vec![ChainMerge { a: 0, b: 2, cid: point, seq_a: 5000, seq_b: 900 }]);
        logs[2].shard = logs[0].shard;
        assert!(chain_merges(&logs).is_empty(), "a restart of the same shard shares its points");
        assert!(render(&logs, None).contains("no shard saw the server go down"));
    }
}
