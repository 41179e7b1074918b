//! The end-of-run summary on stderr, in the spirit of fuzi_q's: per target state, connections
//! tried, connections fuzzed, packets fuzzed out of packets sent; connections per second; the
//! shortest and the longest connection with their CIDs; outcomes.

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
}

impl Summary {
    pub fn add(&mut self, r: &ConnReport) {
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
}
