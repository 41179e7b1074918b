//! The differential table, computed without I/O: one chain's connections against several
//! servers, side by side, and where the servers reacted differently.
//!
//! A CID makes the same decisions against every server only where the client's contents are
//! the same: the decisions are keyed by what the client sends ([`fuzz_shared::content`]), and a
//! server's own traffic can change some of them (its transport parameters decide how many
//! NEW_CONNECTION_ID frames the client sends, a resumed ClientHello carries the ticket this
//! server issued). So a CID is compared only where it mutated the same contents with the same
//! operators in every log (`cid_end`'s `mutated`); the others are counted apart, never
//! compared, since they are different test cases. Among the compared, the table counts those
//! whose `mutation_digest` agrees too: where it does not, an operator landed elsewhere in a
//! content of another length (a session ticket of another size shifts the ClientHello).

use crate::report::analysis::{Analysis, Conn};
use fuzz_shared::oracle::Verdict;
use fuzz_shared::{Cid, Outcome};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A server's reaction to one connection, in kind: what the table compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reaction {
    /// Every request answered as asked, and the client closed normally.
    Completed,
    /// Every request answered, one of them wrongly.
    WrongAnswer,
    /// The server closed the connection (in the handshake or after it), with this code.
    Closed(Option<u64>),
    /// The client closed it: it took something the server sent for an error, with this code.
    ClientClosed(Option<u64>),
    /// The handshake failed without a close from either end.
    HandshakeFailed,
    /// The server fell silent (the idle limit passed).
    Silent,
    /// The server refused the connection before any handshake.
    Refused,
}

impl Reaction {
    /// The reaction a logged connection shows.
    pub fn of(conn: &Conn) -> Reaction {
        let end = conn.ending();
        match (conn.outcome, end.peer_close_code()) {
            (Outcome::Refused, _) => Reaction::Refused,
            (_, Some(code)) => Reaction::Closed(Some(code)),
            (Outcome::Completed, None) => Reaction::Completed,
            (Outcome::WrongAnswer, None) => Reaction::WrongAnswer,
            (Outcome::PeerClosed, None) => Reaction::Closed(None),
            (Outcome::LocalClosed, None) => Reaction::ClientClosed(conn.error_code),
            (Outcome::HandshakeFailed, None) if conn.error_code.is_some() => Reaction::ClientClosed(conn.error_code),
            (Outcome::HandshakeFailed, None) => Reaction::HandshakeFailed,
            (Outcome::Timeout, None) => Reaction::Silent,
        }
    }
}

impl fmt::Display for Reaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = |c: &Option<u64>| c.map_or("without a code".to_string(), Analysis::code_name);
        match self {
            Reaction::Completed => f.write_str("completed"),
            Reaction::WrongAnswer => f.write_str("wrong answer"),
            Reaction::Closed(c) => write!(f, "closed {}", code(c)),
            Reaction::ClientClosed(c) => write!(f, "client closed {}", code(c)),
            Reaction::HandshakeFailed => f.write_str("handshake failed"),
            Reaction::Silent => f.write_str("silent"),
            Reaction::Refused => f.write_str("refused"),
        }
    }
}

/// One CID of the chain, with its connection in every server's log (in the servers' order).
#[derive(Clone, Debug)]
pub struct Case<'a> {
    pub seq: u64,
    pub cid: Cid,
    pub conns: Vec<&'a Conn>,
}

impl Case<'_> {
    /// Whether the client made the same decisions against every server: the same operators on
    /// the same contents.
    pub fn same_decisions(&self) -> bool {
        self.conns.windows(2).all(|w| w[0].mutated == w[1].mutated)
    }

    /// Whether the decisions' digests agree as well (their offsets and values too).
    pub fn same_digest(&self) -> bool {
        self.conns.windows(2).all(|w| w[0].mutation_digest == w[1].mutation_digest)
    }

    pub fn reactions(&self) -> Vec<Reaction> {
        self.conns.iter().map(|c| Reaction::of(c)).collect()
    }

    /// Whether the servers reacted differently in kind.
    pub fn differs(&self) -> bool {
        let r = self.reactions();
        r.windows(2).any(|w| w[0] != w[1])
    }

    /// The decisions' operators, each once, sorted, joined by ` + `: `insert:handshake_done`,
    /// or `(none)` for a connection that mutated nothing.
    pub fn decisions(&self) -> String {
        decisions(self.conns[0])
    }

    /// Per server, the oracle's verdict where it calls the reaction a deviation from the RFC.
    /// The oracle judges again from the log's decisions and ending, so that a log written by an
    /// older build is judged by today's rules.
    pub fn deviations(&self) -> Vec<Option<Verdict>> {
        self.conns.iter().map(|c| fuzz_shared::oracle::judge(&c.mutated, c.ending()).filter(|v| !v.expected)).collect()
    }
}

/// A connection's decisions as the table groups them (see [`Case::decisions`]).
pub fn decisions(conn: &Conn) -> String {
    let ops: BTreeSet<&str> = conn.mutated.values().flatten().map(String::as_str).collect();
    if ops.is_empty() {
        crate::report::analysis::NO_MUTATION.to_string()
    } else {
        ops.into_iter().collect::<Vec<_>>().join(" + ")
    }
}

/// The compared CIDs of one decision (one set of operators) that got different reactions.
#[derive(Clone, Debug)]
pub struct Disagreement<'a> {
    pub decisions: String,
    /// Each combination of reactions seen, with its CIDs in chain order; the most frequent first.
    pub patterns: Vec<(Vec<Reaction>, Vec<Case<'a>>)>,
}

impl Disagreement<'_> {
    /// How many CIDs the group holds.
    pub fn len(&self) -> usize {
        self.patterns.iter().map(|(_, cases)| cases.len()).sum()
    }

    /// Its first CID in chain order.
    pub fn first(&self) -> &Case<'_> {
        self.patterns.iter().map(|(_, cases)| &cases[0]).min_by_key(|c| c.seq).expect("a group has a case")
    }

    /// Per server: how many of the group's CIDs the oracle calls a deviation, and the first
    /// such verdict.
    pub fn deviations(&self, servers: usize) -> Vec<(usize, Option<Verdict>)> {
        let mut out = vec![(0, None); servers];
        for case in self.patterns.iter().flat_map(|(_, cases)| cases) {
            for (i, deviation) in case.deviations().into_iter().enumerate() {
                if let Some(v) = deviation {
                    out[i].0 += 1;
                    out[i].1.get_or_insert(v);
                }
            }
        }
        out
    }
}

/// The table of a differential run.
#[derive(Clone, Debug)]
pub struct Table<'a> {
    /// The servers' names, in the order given.
    pub servers: Vec<String>,
    /// CIDs in every log, with the same decisions against every server: the compared ones.
    pub compared: usize,
    /// How many of the compared have the same `mutation_digest` in every log.
    pub same_digest: usize,
    /// The compared CIDs whose reactions differ, grouped; the most frequent group first.
    pub groups: Vec<Disagreement<'a>>,
    /// CIDs in every log whose decisions differed between servers: not compared.
    pub other_decisions: Vec<Case<'a>>,
    /// CIDs some log does not have (a run stopped early, or ran another stretch).
    pub missing: usize,
}

impl<'a> Table<'a> {
    /// The table of `servers` (name, the analysis of its run logs), at least two. A CID's
    /// connection is its first campaign connection in a server's logs: a restart that repeated
    /// it ran the same test case again.
    pub fn build(servers: &[(String, &'a Analysis)]) -> Result<Table<'a>, String> {
        if servers.len() < 2 {
            return Err("a differential table needs the logs of at least two servers".into());
        }
        let per_server: Vec<BTreeMap<(u64, Cid), &'a Conn>> = servers.iter().map(|(_, a)| first_conns(a)).collect();
        let all: BTreeSet<(u64, Cid)> = per_server.iter().flat_map(|m| m.keys().copied()).collect();
        let mut cases = Vec::new();
        let mut missing = 0;
        for key in &all {
            let conns: Option<Vec<&Conn>> = per_server.iter().map(|m| m.get(key).copied()).collect();
            match conns {
                Some(conns) => cases.push(Case { seq: key.0, cid: key.1, conns }),
                None => missing += 1,
            }
        }
        if cases.is_empty() {
            return Err("no CID is in every log: are they runs of one chain (the same --start-cid)?".into());
        }
        let (same, other_decisions): (Vec<Case>, Vec<Case>) = cases.into_iter().partition(Case::same_decisions);
        let compared = same.len();
        let same_digest = same.iter().filter(|c| c.same_digest()).count();
        let mut grouped: BTreeMap<String, BTreeMap<Vec<Reaction>, Vec<Case>>> = BTreeMap::new();
        for case in same.into_iter().filter(Case::differs) {
            grouped.entry(case.decisions()).or_default().entry(case.reactions()).or_default().push(case);
        }
        let mut groups: Vec<Disagreement> = grouped
            .into_iter()
            .map(|(decisions, patterns)| {
                let mut patterns: Vec<(Vec<Reaction>, Vec<Case>)> = patterns.into_iter().collect();
                patterns.sort_by_key(|(_, cases)| (std::cmp::Reverse(cases.len()), cases[0].seq));
                Disagreement { decisions, patterns }
            })
            .collect();
        groups.sort_by_key(|g| (std::cmp::Reverse(g.len()), g.first().seq));
        let servers = servers.iter().map(|(n, _)| n.clone()).collect();
        Ok(Table { servers, compared, same_digest, groups, other_decisions, missing })
    }

    /// How many compared CIDs the servers reacted to differently.
    pub fn disagreeing(&self) -> usize {
        self.groups.iter().map(Disagreement::len).sum()
    }
}

/// Each (seq, CID) of `a`'s campaign connections, first occurrence only.
fn first_conns(a: &Analysis) -> BTreeMap<(u64, Cid), &Conn> {
    let mut out = BTreeMap::new();
    for c in a.conns.iter().filter(|c| a.segments[c.segment].kind == "campaign") {
        out.entry((c.seq, c.cid)).or_insert(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::Segment;
    use fuzz_shared::log::MutatedContents;
    use fuzz_shared::Mode;

    fn segment() -> Segment {
        Segment {
            file: "a.jsonl".into(),
            started: 0.0,
            start_seq: 0,
            start_cid: None,
            mode: Mode::Fuzz,
            target: "127.0.0.1:4433".into(),
            args: vec!["fuzz-client".into(), "127.0.0.1:4433".into()],
            kind: "campaign",
            connections: 0,
            conn_per_s: None,
            server_down: false,
        }
    }

    fn conn(seq: u64, op: Option<&str>, outcome: Outcome, error_code: Option<u64>, digest: &str) -> Conn {
        let mut mutated = MutatedContents::new();
        if let Some(op) = op {
            mutated.insert("application_data/stream:0@0".parse().unwrap(), vec![op.into()]);
        }
        let verdict =
            fuzz_shared::oracle::judge(&mutated, fuzz_shared::log::Ending { outcome, error_code, detail: None });
        Conn {
            segment: 0,
            seq,
            cid: fuzz_shared::chain::nth("0123456789abcdef".parse().unwrap(), seq),
            ended: 0.0,
            fuzz_state: None,
            outcome,
            error_code,
            duration_ms: 1,
            fuzzed_packets: u64::from(op.is_some()),
            operators: vec![],
            detail: None,
            verdict,
            mutation_digest: digest.into(),
            mutated,
        }
    }

    fn analysis(conns: Vec<Conn>) -> Analysis {
        Analysis { segments: vec![segment()], conns, ..Analysis::default() }
    }

    /// Reactions are compared in kind: a close is a close with its code, the handshake's
    /// failures are closes when an end sent a code.
    #[test]
    fn reactions_are_kinds() {
        let c = |outcome, code, detail: Option<&str>| {
            let mut c = conn(0, None, outcome, code, "0");
            c.detail = detail.map(String::from);
            Reaction::of(&c)
        };
        assert_eq!(c(Outcome::PeerClosed, Some(0x0a), None), Reaction::Closed(Some(0x0a)));
        assert_eq!(c(Outcome::HandshakeFailed, Some(0x128), None), Reaction::Closed(Some(0x128)));
        assert_eq!(
            c(Outcome::HandshakeFailed, Some(0x0a), Some("local error: PROTOCOL_VIOLATION")),
            Reaction::ClientClosed(Some(0x0a))
        );
        assert_eq!(c(Outcome::HandshakeFailed, None, None), Reaction::HandshakeFailed);
        assert_eq!(c(Outcome::Timeout, None, None), Reaction::Silent);
        assert_eq!(Reaction::Closed(Some(0x0a)).to_string(), "closed 0xa PROTOCOL_VIOLATION");
        assert_eq!(Reaction::Closed(None).to_string(), "closed without a code");
    }

    /// The same CIDs against three servers: agreement is not listed, disagreements are grouped
    /// by decision and reactions with the oracle's deviations, and CIDs whose decisions differ
    /// are set apart, not compared.
    #[test]
    fn disagreements_are_grouped_by_decision_and_flagged_by_the_oracle() {
        let done = Outcome::Completed;
        let closed = Outcome::PeerClosed;
        let hd = Some("insert:handshake_done");
        let a = analysis(vec![
            conn(0, None, done, None, "0"),
            conn(1, hd, closed, Some(0x0a), "1"),
            conn(2, hd, closed, Some(0x0a), "2"),
            conn(3, hd, closed, Some(0x0a), "3"),
            conn(4, Some("havoc:flip_bit"), closed, Some(0x07), "4"),
            conn(5, None, done, None, "5"),
        ]);
        let b = analysis(vec![
            conn(0, None, done, None, "0"),
            conn(1, hd, closed, Some(0x0a), "1"),
            conn(2, hd, done, None, "2"),
            conn(3, hd, done, None, "3"),
            conn(4, Some("havoc:flip_bit"), Outcome::Timeout, None, "4 at another offset"),
            conn(5, Some("havoc:flip_bit"), done, None, "other"),
        ]);
        let c = analysis(vec![
            conn(0, None, done, None, "0"),
            conn(1, hd, closed, Some(0x0a), "1"),
            conn(2, hd, closed, Some(0x0a), "2"),
            conn(3, hd, closed, Some(0x0a), "3"),
            conn(4, Some("havoc:flip_bit"), closed, Some(0x07), "4"),
        ]);
        let servers = [("a".to_string(), &a), ("b".to_string(), &b), ("c".to_string(), &c)];
        let t = Table::build(&servers).unwrap();
        assert_eq!(t.servers, ["a", "b", "c"]);
        assert_eq!(t.missing, 1, "seq 5 is not in c's log");
        assert_eq!((t.compared, t.same_digest), (5, 4), "seq 4 flipped a bit elsewhere in b");
        assert!(t.other_decisions.is_empty());
        assert_eq!(t.disagreeing(), 3);
        assert_eq!(t.groups.len(), 2);
        let g = &t.groups[0];
        assert_eq!((g.decisions.as_str(), g.len(), g.first().seq), ("insert:handshake_done", 2, 2));
        assert_eq!(g.patterns.len(), 1);
        let (reactions, cases) = &g.patterns[0];
        assert_eq!(reactions, &[Reaction::Closed(Some(0x0a)), Reaction::Completed, Reaction::Closed(Some(0x0a))]);
        assert_eq!(cases.iter().map(|c| c.seq).collect::<Vec<_>>(), [2, 3]);
        let dev = g.deviations(3);
        assert_eq!(dev[0].0, 0);
        assert_eq!(dev[1].0, 2, "b completed where RFC 9000 §19.20 wants PROTOCOL_VIOLATION");
        assert_eq!(dev[1].1.as_ref().unwrap().rule, "client_handshake_done");
        assert_eq!(t.groups[1].decisions, "havoc:flip_bit");
        assert_eq!(t.groups[1].deviations(3).iter().map(|d| d.0).sum::<usize>(), 0, "no rule covers havoc");

        // Seq 5 in a and b only, with other decisions: set apart.
        let t = Table::build(&servers[..2]).unwrap();
        assert_eq!((t.compared, t.missing, t.other_decisions.len()), (5, 0, 1));
        assert_eq!(t.other_decisions[0].seq, 5);
    }

    #[test]
    fn one_server_or_other_chains_are_refused() {
        let a = analysis(vec![conn(0, None, Outcome::Completed, None, "0")]);
        let mut other = conn(0, None, Outcome::Completed, None, "0");
        other.cid = "fedcba9876543210".parse().unwrap();
        let b = analysis(vec![other]);
        assert!(Table::build(&[("a".into(), &a)]).unwrap_err().contains("at least two"));
        let err = Table::build(&[("a".into(), &a), ("b".into(), &b)]).unwrap_err();
        assert!(err.contains("no CID is in every log"), "{err}");
    }
}
