//! The end-of-run summary on stderr, in the spirit of fuzi_q's: per target state, connections
//! tried, connections fuzzed, packets fuzzed out of packets sent; connections per second; the
//! shortest and the longest connection with their CIDs; outcomes; the RFC oracle's verdicts,
//! the unexpected ones grouped by rule and by what was seen.

use crate::quic::connection::ConnReport;
use crate::quic::resumption::ResumptionCounts;
use fuzz_shared::{Cid, FuzzState, Outcome};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

#[derive(Default, Clone, Copy)]
struct StateRow {
    tried: u64,
    fuzzed: u64,
    packets_fuzzed: u64,
    packets_sent: u64,
}

/// Accumulates reports; constant memory whatever the campaign's length.
#[derive(Default)]
pub struct Summary {
    rows: [StateRow; 4],
    outcomes: BTreeMap<Outcome, u64>,
    connections: u64,
    fuzzed_connections: u64,
    shortest: Option<(Duration, Cid, u64)>,
    longest: Option<(Duration, Cid, u64)>,
    /// Plans that asked for 0-RTT, which s2n-quic cannot send.
    pub zero_rtt_unsupported: u64,
    pub probes: u64,
    pub probe_failures: u64,
    /// Resuming plans: primed, offered, accepted.
    pub resumption: ResumptionCounts,
    /// Busy periods of the server (module `campaign::pacing`), and the refusals in them.
    pub busy_periods: u64,
    pub refusals: u64,
    /// The concurrency in force at the end, and whether it adapted (`--concurrency auto`).
    pub concurrency: Option<(usize, bool)>,
    /// The RFC oracle's verdicts (module `fuzz_shared::oracle`).
    oracle: OracleTally,
}

/// The oracle's verdicts of a run: how many connections got one, and the unexpected ones by
/// (rule, section, what the rule allows, what was seen), each with its count and its first
/// connection. Bounded by the rules and the close codes seen, whatever the campaign's length.
#[derive(Default)]
struct OracleTally {
    judged: u64,
    unexpected: BTreeMap<fuzz_shared::oracle::Deviation, (u64, u64, Cid)>,
}

impl Summary {
    /// Counts a finished connection, with the oracle's verdict on it (judged by the caller, which
    /// logs the same verdict in `cid_end`).
    pub fn add(&mut self, r: &ConnReport, verdict: Option<&fuzz_shared::oracle::Verdict>) {
        let row = &mut self.rows[r.fuzz_state as usize];
        row.tried += 1;
        // Packets are counted in the state they belong to: a plan fuzzing `ready` also sends
        // initial packets, which are counted (unfuzzed) in the `initial` row.
        for (i, state_row) in self.rows.iter_mut().enumerate() {
            state_row.packets_sent += r.sent[i];
            state_row.packets_fuzzed += r.fuzzed[i];
        }
        if r.fuzzed_packets() > 0 {
            self.rows[r.fuzz_state as usize].fuzzed += 1;
            self.fuzzed_connections += 1;
        }
        *self.outcomes.entry(r.outcome).or_default() += 1;
        if let Some(v) = verdict {
            self.oracle.judged += 1;
            if !v.expected {
                let entry = self.oracle.unexpected.entry(v.deviation()).or_insert((0, r.seq, r.cid));
                entry.0 += 1;
                if r.seq < entry.1 {
                    (entry.1, entry.2) = (r.seq, r.cid);
                }
            }
        }
        if let Some(resumption) = &r.resumption {
            self.resumption.add(resumption);
        }
        self.connections += 1;
        if self.shortest.is_none_or(|(d, _, _)| r.duration < d) {
            self.shortest = Some((r.duration, r.cid, r.seq));
        }
        if self.longest.is_none_or(|(d, _, _)| r.duration > d) {
            self.longest = Some((r.duration, r.cid, r.seq));
        }
    }

    pub fn connections(&self) -> u64 {
        self.connections
    }

    pub fn fuzzed_connections(&self) -> u64 {
        self.fuzzed_connections
    }

    /// The summary text, several lines.
    pub fn render(&self, elapsed: Duration) -> String {
        let mut s = String::new();
        let secs = elapsed.as_secs_f64().max(1e-9);
        let _ = writeln!(s, "{:<10} {:>12} {:>12} {:>24}", "state", "connections", "fuzzed", "packets fuzzed/sent");
        for state in FuzzState::ALL {
            let r = self.rows[state as usize];
            let _ = writeln!(
                s,
                "{:<10} {:>12} {:>12} {:>24}",
                state.as_str(),
                r.tried,
                r.fuzzed,
                format!("{}/{}", r.packets_fuzzed, r.packets_sent)
            );
        }
        let _ = writeln!(
            s,
            "{} connections ({} fuzzed) in {:.1} s: {:.1} connections/s",
            self.connections,
            self.fuzzed_connections,
            secs,
            self.connections as f64 / secs
        );
        let outcomes: Vec<String> = self.outcomes.iter().map(|(o, n)| format!("{} {n}", o.as_str())).collect();
        let _ = writeln!(s, "outcomes: {}", outcomes.join(", "));
        if let (Some(short), Some(long)) = (self.shortest, self.longest) {
            let _ = writeln!(s, "shortest connection: {} ms, #{} cid {}", short.0.as_millis(), short.2, short.1);
            let _ = writeln!(s, "longest connection: {} ms, #{} cid {}", long.0.as_millis(), long.2, long.1);
        }
        let _ = writeln!(s, "probes: {} ({} failed tries)", self.probes, self.probe_failures);
        let r = self.resumption;
        if r.planned > 0 {
            let _ = writeln!(
                s,
                "resumption: {} plans resumed (each after a priming connection, not counted above): ticket offered {}, \
                 accepted {}, declined {}",
                r.planned, r.offered, r.accepted, r.declined
            );
        }
        if self.busy_periods > 0 {
            let _ = writeln!(
                s,
                "server busy: {} period(s), {} connection(s) refused (each run again with the same CID)",
                self.busy_periods, self.refusals
            );
        }
        if let Some((n, auto)) = self.concurrency {
            let _ = writeln!(s, "concurrency at the end: {n}{}", if auto { " (auto)" } else { "" });
        }
        if self.zero_rtt_unsupported > 0 {
            let _ = writeln!(
                s,
                "0-RTT: {} plans asked for it; s2n-quic implements no 0-RTT, so none was sent",
                self.zero_rtt_unsupported
            );
        }
        s
    }

    /// The oracle's lines: how many connections it judged and how many reacted unexpectedly,
    /// then one line per unexpected (rule, reaction) with the command that replays its first
    /// connection (made from the run's command line `argv`, program first). Empty when no
    /// connection got a verdict.
    pub fn render_oracle(&self, argv: &[String]) -> String {
        let t = &self.oracle;
        if t.judged == 0 {
            return String::new();
        }
        let unexpected: u64 = t.unexpected.values().map(|(n, ..)| n).sum();
        let mut s = format!("oracle: {} connections judged, {unexpected} reacted other than the RFC says\n", t.judged);
        for ((rule, section, allowed, seen), (n, seq, cid)) in &t.unexpected {
            let replay = crate::triage::repro::replay_from_run(argv, *seq, cid);
            let _ = writeln!(s, "  {rule} ({section}): expected {allowed}, seen {seen}: {n}, first #{seq}: {replay}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuzz_shared::content::{ContentId, ContentKey};
    use fuzz_shared::PacketSpace;

    fn report(seq: u64, op: &str, outcome: Outcome, error_code: Option<u64>) -> ConnReport {
        let mut mutated = fuzz_shared::log::MutatedContents::new();
        mutated.insert(ContentId::new(PacketSpace::ApplicationData, ContentKey::new(0x18, 1, 0)), vec![op.into()]);
        ConnReport {
            seq,
            cid: fuzz_shared::chain::nth("0123456789abcdef".parse().unwrap(), seq),
            outcome,
            error_code,
            sent: [1, 0, 1, 0],
            fuzzed: [0, 0, 1, 0],
            mutation_digest: "0".repeat(16),
            operators: vec![op.split(':').next().unwrap().into()],
            mutated,
            duration: Duration::from_millis(5),
            detail: None,
            odcid_error: None,
            fuzz_state: FuzzState::Ready,
            received: 1,
            resumption: None,
            handshake: None,
            server_fault: false,
        }
    }

    fn add(s: &mut Summary, r: ConnReport) {
        s.add(&r, r.verdict().as_ref());
    }

    /// The oracle's lines count the judged connections and group the unexpected ones by rule
    /// and reaction, each with the replay command of its first connection.
    #[test]
    fn unexpected_reactions_are_grouped_by_rule_with_a_replay_command() {
        let mut s = Summary::default();
        let argv: Vec<String> =
            ["fuzz-client", "--start-cid", "0123456789abcdef", "127.0.0.1:4433"].map(String::from).to_vec();
        assert_eq!(s.render_oracle(&argv), "", "no verdict, no line");
        add(&mut s, report(3, "insert:handshake_done", Outcome::PeerClosed, Some(0x0a)));
        add(&mut s, report(9, "insert:handshake_done", Outcome::Completed, None));
        add(&mut s, report(5, "insert:handshake_done", Outcome::Completed, None));
        add(&mut s, report(7, "havoc:flip_bit", Outcome::Completed, None));
        let text = s.render_oracle(&argv);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "oracle: 3 connections judged, 2 reacted other than the RFC says", "{text}");
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[1].starts_with("  client_handshake_done (RFC 9000 §19.20): expected closes with PROTOCOL_VIOLATION (0x0a), seen completed: 2, first #5: "), "{text}");
        let cid5 = fuzz_shared::chain::nth("0123456789abcdef".parse().unwrap(), 5);
        assert!(lines[1].contains(&format!("replay --cid {cid5} --seq 5")), "{text}");
    }
}
