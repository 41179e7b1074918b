//! `fuzz-client differential NAME=LOG...`: the same chain against several servers, side by
//! side.
//!
//! A CID makes the same decisions against every server (where the client's contents are the
//! same, [`table`]), so each CID is one test case for every stack. Given the run logs of one
//! chain (the same `--start-cid`) against several servers, this prints where their reactions
//! differ in kind (completed, closed with code X, silent, handshake failed, wrong answer),
//! grouped by the decisions that led to it, most frequent first, each group with the commands
//! that replay its first CID against each server; and every such CID on a line of its own. A
//! reaction the RFC oracle ([`fuzz_shared::oracle`]) calls a deviation is flagged `!`.
//!
//! `scripts/differential.sh` runs the campaigns (one per server, one after the other, each
//! server started by the client) and then this.

pub mod table;

use crate::report::analysis::Analysis;
use crate::usage::UsageError;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use table::{Case, Table};

/// `differential`, its logs read.
pub struct DifferentialJob {
    /// Each server's name and the analysis of its logs, in the order given.
    pub servers: Vec<(String, Analysis)>,
    /// Where the JSON lines of the disagreeing CIDs go, if anywhere.
    pub json: Option<PathBuf>,
}

impl DifferentialJob {
    /// Reads `NAME=LOG` (or `LOG`, named by its file stem) arguments; logs given under one name
    /// are that server's together (a run and its restarts in other files).
    pub fn load(args: &[String], json: Option<PathBuf>) -> Result<DifferentialJob, UsageError> {
        let mut by_name: Vec<(String, Vec<PathBuf>)> = Vec::new();
        for arg in args {
            let (name, path) = match arg.split_once('=') {
                Some((name, path)) if !name.is_empty() && !name.contains('/') => {
                    (name.to_string(), PathBuf::from(path))
                }
                _ => {
                    let path = PathBuf::from(arg);
                    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                    (stem, path)
                }
            };
            match by_name.iter_mut().find(|(n, _)| *n == name) {
                Some((_, paths)) => paths.push(path),
                None => by_name.push((name, vec![path])),
            }
        }
        if by_name.len() < 2 {
            return Err(UsageError::new(
                "differential needs the logs of at least two servers (NAME=LOG, one name per server)",
            ));
        }
        let mut servers = Vec::with_capacity(by_name.len());
        for (name, paths) in by_name {
            let analysis = Analysis::from_logs(&crate::report::read_logs(&paths)?).map_err(UsageError)?;
            servers.push((name, analysis));
        }
        Ok(DifferentialJob { servers, json })
    }

    /// Prints the table on stdout (and writes the JSON lines). Exit status: 0 when every
    /// compared CID got the same reaction from every server, 3 when some did not (a finding, as
    /// for the campaign), 2 for bad input.
    pub fn run(&self) -> u8 {
        let servers: Vec<(String, &Analysis)> = self.servers.iter().map(|(n, a)| (n.clone(), a)).collect();
        let table = match Table::build(&servers) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: differential: {e}");
                return 2;
            }
        };
        print!("{}", render(&table, &servers));
        if let Some(path) = &self.json {
            if let Err(e) = std::fs::write(path, json_lines(&table, &servers)) {
                eprintln!("error: differential: cannot write {}: {e}", path.display());
                return 2;
            }
        }
        if table.disagreeing() > 0 {
            3
        } else {
            0
        }
    }
}

/// The command that replays `case` against server `i`, with that server's run options.
fn replay(servers: &[(String, &Analysis)], case: &Case, i: usize) -> String {
    servers[i].1.replay(case.conns[i])
}

/// The reaction of server `i` in `case`, `!` appended where the oracle calls it a deviation.
fn cell(case: &Case, i: usize) -> String {
    let flag = if case.deviations()[i].is_some() { " !" } else { "" };
    format!("{}{flag}", case.reactions()[i])
}

/// How many combinations of reactions the summary lists.
const COMBINATIONS_SHOWN: usize = 8;
/// How many combinations of reactions a group lists.
const PATTERNS_SHOWN: usize = 4;
/// How many groups come with their replay commands (each is one line per server).
const REPLAYS_SHOWN: usize = 10;

/// The compared CIDs that got different reactions, in chain order.
fn disagreeing_cases<'t>(t: &'t Table) -> Vec<&'t Case<'t>> {
    let mut cases: Vec<&Case> = t.groups.iter().flat_map(|g| g.patterns.iter().flat_map(|(_, cases)| cases)).collect();
    cases.sort_by_key(|c| c.seq);
    cases
}

/// A row's decisions: the first three operators, and how many more (the groups above, and the
/// JSON lines, have them all).
fn abridged(decisions: &str) -> String {
    let ops: Vec<&str> = decisions.split(" + ").collect();
    match ops.len() {
        0..=3 => decisions.to_string(),
        n => format!("{} + {} more", ops[..3].join(" + "), n - 3),
    }
}

/// The table as a person reads it.
pub fn render(t: &Table, servers: &[(String, &Analysis)]) -> String {
    let mut out = String::new();
    let names = t.servers.join(", ");
    let _ = writeln!(
        out,
        "differential: {} servers ({names}); {} CIDs made the same decisions against every server ({} with the same \
         digest), {} of them got different reactions",
        t.servers.len(),
        t.compared,
        t.same_digest,
        t.disagreeing()
    );
    if !t.other_decisions.is_empty() {
        let first = &t.other_decisions[0];
        let _ = writeln!(
            out,
            "  {} CIDs made other decisions against some server (the servers' own traffic changed what the client sent), \
             not compared; the first: #{} {}",
            t.other_decisions.len(),
            first.seq,
            first.cid
        );
    }
    if t.missing > 0 {
        let _ = writeln!(
            out,
            "  {} CIDs are missing from some log (a run stopped early or ran another stretch)",
            t.missing
        );
    }
    if t.groups.is_empty() {
        return out;
    }
    // What differs most often, whatever the decision.
    let mut combinations: BTreeMap<Vec<table::Reaction>, (usize, u64)> = BTreeMap::new();
    let mut flagged = vec![0usize; t.servers.len()];
    for case in disagreeing_cases(t) {
        let entry = combinations.entry(case.reactions()).or_insert((0, case.seq));
        entry.0 += 1;
        for (i, d) in case.deviations().iter().enumerate() {
            flagged[i] += usize::from(d.is_some());
        }
    }
    let mut combinations: Vec<(Vec<table::Reaction>, (usize, u64))> = combinations.into_iter().collect();
    combinations.sort_by_key(|(_, (n, first))| (std::cmp::Reverse(*n), *first));
    let _ = writeln!(out, "\nThe most frequent disagreements, whatever the decision:");
    for (reactions, (n, _)) in combinations.iter().take(COMBINATIONS_SHOWN) {
        let cells: Vec<String> = t.servers.iter().zip(reactions).map(|(name, r)| format!("{name}: {r}")).collect();
        let _ = writeln!(out, "{n:>6} x {}", cells.join(" | "));
    }
    let flags: Vec<String> = t.servers.iter().zip(&flagged).map(|(name, n)| format!("{name} {n}")).collect();
    let _ = writeln!(out, "The RFC oracle calls reactions in them deviations: {}", flags.join(", "));
    let _ = writeln!(
        out,
        "\nDisagreements by decision, the most frequent first (! where the RFC oracle calls a reaction a deviation):"
    );
    for (rank, g) in t.groups.iter().enumerate() {
        let _ = writeln!(out, "{:>6} x {}", g.len(), g.decisions);
        for (reactions, cases) in g.patterns.iter().take(PATTERNS_SHOWN) {
            let cells: Vec<String> = t.servers.iter().zip(reactions).map(|(name, r)| format!("{name}: {r}")).collect();
            let _ = writeln!(out, "{:>13} x {}", cases.len(), cells.join(" | "));
        }
        if g.patterns.len() > PATTERNS_SHOWN {
            let _ = writeln!(out, "{:>15} and {} more combinations", "", g.patterns.len() - PATTERNS_SHOWN);
        }
        for (i, (flagged, verdict)) in g.deviations(t.servers.len()).into_iter().enumerate() {
            if let Some(v) = verdict {
                let _ = writeln!(
                    out,
                    "{:>15} ! {}: {flagged} of {} deviate from {} ({}): expected {}, seen {}",
                    "",
                    t.servers[i],
                    g.len(),
                    v.section,
                    v.rule,
                    v.allowed,
                    v.seen
                );
            }
        }
        let first = g.first();
        if rank < REPLAYS_SHOWN {
            let _ = writeln!(out, "{:>15} first #{} {}, replayed against", "", first.seq, first.cid);
            for (i, name) in t.servers.iter().enumerate() {
                let _ = writeln!(out, "{:>17} {name}: {}", "", replay(servers, first, i));
            }
        } else {
            let _ = writeln!(out, "{:>15} first #{} {}", "", first.seq, first.cid);
        }
    }
    if t.groups.len() > REPLAYS_SHOWN {
        let _ = writeln!(out, "(replay commands of the first {REPLAYS_SHOWN} groups only; --json has every CID's)");
    }
    let _ = writeln!(out, "\nEvery CID that got different reactions, in chain order:");
    let mut rows: Vec<Vec<String>> = vec![["seq", "cid", "decisions"].iter().map(|s| s.to_string()).collect()];
    rows[0].extend(t.servers.iter().cloned());
    for case in disagreeing_cases(t) {
        let mut row = vec![format!("#{}", case.seq), case.cid.to_string(), abridged(&case.decisions())];
        row.extend((0..t.servers.len()).map(|i| cell(case, i)));
        rows.push(row);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in rows {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        let _ = writeln!(out, "  {}", line.join("  ").trim_end());
    }
    out
}

/// One JSON object per disagreeing CID, in chain order: its decisions, and per server its
/// reaction, the oracle's deviation (if any) and the replay command.
pub fn json_lines(t: &Table, servers: &[(String, &Analysis)]) -> String {
    let mut out = String::new();
    for case in disagreeing_cases(t) {
        let mut per_server = BTreeMap::new();
        for (i, name) in t.servers.iter().enumerate() {
            let deviation = case.deviations()[i].as_ref().map(
                |v| serde_json::json!({ "rule": v.rule, "section": v.section, "allowed": v.allowed, "seen": v.seen }),
            );
            per_server.insert(
                name.clone(),
                serde_json::json!({
                    "reaction": case.reactions()[i].to_string(),
                    "deviation": deviation,
                    "replay": replay(servers, case, i),
                }),
            );
        }
        let line = serde_json::json!({
            "seq": case.seq,
            "cid": case.cid.to_string(),
            "decisions": case.decisions(),
            "servers": per_server,
        });
        let _ = writeln!(out, "{line}");
    }
    out
}
