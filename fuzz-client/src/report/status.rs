//! The status block under the progress bar on a terminal, what AFL++'s status screen shows a
//! fuzzer's user at a glance: speed now and on average, the fuzzed share, outcomes so far, the
//! last checkpoint and how long ago it was, and the supervised server's memory (with its growth
//! per connection since the first checkpoint, where a leak shows). Pure: counters in, text out.

use crate::report::analysis::OUTCOMES;
use fuzz_shared::{Cid, Outcome};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// How far back "now" looks for the current speed.
const WINDOW: Duration = Duration::from_secs(5);

/// The counters behind the status block.
#[derive(Debug, Default)]
pub struct Status {
    pub connections: u64,
    pub fuzzed: u64,
    pub outcomes: BTreeMap<Outcome, u64>,
    /// (time since start, connections) samples of the last [`WINDOW`].
    recent: VecDeque<(Duration, u64)>,
    /// (seq, cid, time since start) of the last checkpoint.
    pub last_checkpoint: Option<(u64, Cid, Duration)>,
    /// (seq, RSS KiB) of the first and the last checkpoint with the server's RSS.
    pub rss_first: Option<(u64, u64)>,
    pub rss_last: Option<(u64, u64)>,
}

impl Status {
    /// A connection ended at `at` (since the campaign's start).
    pub fn on_end(&mut self, at: Duration, outcome: Outcome, fuzzed: bool) {
        self.connections += 1;
        self.fuzzed += fuzzed as u64;
        *self.outcomes.entry(outcome).or_default() += 1;
        self.recent.push_back((at, self.connections));
        while self.recent.front().is_some_and(|(t, _)| at.saturating_sub(*t) > WINDOW) {
            self.recent.pop_front();
        }
    }

    /// A checkpoint was reached at `at`, with the supervised server's RSS when known.
    pub fn on_checkpoint(&mut self, at: Duration, seq: u64, cid: Cid, rss_kb: Option<u64>) {
        self.last_checkpoint = Some((seq, cid, at));
        if let Some(kb) = rss_kb {
            self.rss_first.get_or_insert((seq, kb));
            self.rss_last = Some((seq, kb));
        }
    }

    /// Connections per second over the last few seconds up to `now`.
    pub fn rate_now(&self, now: Duration) -> f64 {
        let Some(&(t0, n0)) = self.recent.iter().find(|(t, _)| now.saturating_sub(*t) <= WINDOW) else {
            return 0.0;
        };
        let span = now.saturating_sub(t0).as_secs_f64();
        if span < 0.5 {
            return 0.0;
        }
        (self.connections - n0) as f64 / span
    }

    /// The block, three lines, at `now` since the campaign's start.
    pub fn render(&self, now: Duration) -> String {
        let avg = if now.as_secs_f64() > 0.0 { self.connections as f64 / now.as_secs_f64() } else { 0.0 };
        let share = if self.connections > 0 { 100.0 * self.fuzzed as f64 / self.connections as f64 } else { 0.0 };
        let mut out = format!(
            "  speed {:>7.1}/s now {:>7.1}/s avg  | conns {} | fuzzed {} ({share:.1}%)\n  outcomes",
            self.rate_now(now),
            avg,
            self.connections,
            self.fuzzed
        );
        for o in OUTCOMES {
            if let Some(k) = self.outcomes.get(&o).filter(|k| **k > 0) {
                out.push_str(&format!(" {} {k}", o.as_str()));
            }
        }
        out.push_str("\n  last checkpoint ");
        match &self.last_checkpoint {
            Some((seq, cid, at)) => {
                out.push_str(&format!("#{seq} {cid} {:.0} s ago", now.saturating_sub(*at).as_secs_f64()))
            }
            None => out.push_str("none yet"),
        }
        if let Some((seq, kb)) = self.rss_last {
            out.push_str(&format!(" | server RSS {:.1} MiB", kb as f64 / 1024.0));
            if let Some((seq0, kb0)) = self.rss_first.filter(|(s0, _)| *s0 < seq) {
                let per_conn = (kb as f64 - kb0 as f64) / (seq - seq0) as f64;
                out.push_str(&format!(" ({per_conn:+.1} KiB/conn since #{seq0})"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_shows_speed_share_outcomes_checkpoint_and_memory() {
        let mut s = Status::default();
        let cid: Cid = "0123456789abcdef".parse().unwrap();
        for i in 0..100u64 {
            let outcome = if i % 4 == 0 { Outcome::Timeout } else { Outcome::Completed };
            s.on_end(Duration::from_millis(100 * i), outcome, i % 2 == 0);
        }
        s.on_checkpoint(Duration::from_secs(5), 50, cid, Some(10_240));
        s.on_checkpoint(Duration::from_secs(9), 100, cid, Some(15_360));
        let text = s.render(Duration::from_secs(10));
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.contains("    9.8/s now    10.0/s avg  | conns 100 | fuzzed 50 (50.0%)"), "{text}");
        assert!(text.contains("outcomes completed 75 timeout 25"), "{text}");
        assert!(text.contains("last checkpoint #100 0123456789abcdef 1 s ago"), "{text}");
        assert!(text.contains("server RSS 15.0 MiB (+102.4 KiB/conn since #50)"), "{text}");
        assert!(Status::default().render(Duration::ZERO).contains("last checkpoint none yet"));
    }
}
