//! Leak detection: when a supervised server's resident memory has grown enough, and stayed
//! grown, to be a finding of its own.
//!
//! Sans-I/O: the campaign feeds the [`LeakDetector`] the server's RSS at each confirmed checkpoint
//! (its seq and the VmRSS sampled when that seq was reached, `server_rss_kb` of the run log),
//! from the first checkpoint of the server in service on; a fresh server gets a fresh detector.
//! The detector answers with a [`Leak`] once, naming the checkpoints between which the growth
//! happened, or never.
//!
//! # The rule
//!
//! RSS is a noisy signal of a leak: allocators keep freed memory (glibc's arenas, jemalloc's
//! dirty pages), a server's first connections fill pools, TLS contexts and thread stacks (a
//! warm-up step), caches grow to their bound and stay there, and connections in flight hold
//! buffers that are freed when they end. So the decision rests on three things:
//!
//! - **A baseline after the warm-up**: the minimum RSS over checkpoints 2 to
//!   [`BASELINE_CHECKPOINTS`] + 1 since the server started. The first checkpoint is left out
//!   (after a restart it is the fresh server before any traffic; otherwise it is mid-warm-up), and
//!   the minimum of the next ones is what the server needs at rest with traffic. Nothing is
//!   decided before the baseline is settled.
//! - **The limit** (`--leak-limit`): RSS above `baseline + limit` at [`SUSTAINED`] checkpoints in
//!   a row. One high checkpoint is a burst of connections in flight, and it comes back; a leak
//!   does not. A cache that plateaus below the limit never fires it.
//! - **Optionally a slope** (`--leak-per-conn`): over the last [`SLOPE_INTERVALS`] intervals
//!   between checkpoints, RSS grew in *every* interval by more than `per_conn` per connection,
//!   and by at least [`SLOPE_FLOOR_KB`] in all (so that a tiny `per_conn` does not make allocator
//!   noise a finding). A cache that plateaus stops growing in some interval and never fires it;
//!   a leak that grows with traffic does, long before it reaches the limit.
//!
//! # The window
//!
//! For the limit, the growth ends at the first checkpoint `b` of the run above the line, and
//! starts at the latest checkpoint before it whose RSS was at least `limit` lower; for the
//! slope, at the first and last checkpoints of its intervals. Either start then steps back one
//! checkpoint (when there is one): RSS is sampled when a checkpoint's seq is reached, so the
//! connections launched just before it, still in flight, may leak after the sample. The window
//! `a..b` is where triage looks for the connections that leak.

/// Checkpoints, after the first, whose minimum RSS is the baseline.
pub const BASELINE_CHECKPOINTS: usize = 3;
/// Checkpoints in a row above `baseline + limit` before it is a leak.
pub const SUSTAINED: usize = 2;
/// Intervals between checkpoints over which a slope must hold.
pub const SLOPE_INTERVALS: usize = 3;
/// The least growth, in KiB, that the slope rule calls a leak.
pub const SLOPE_FLOOR_KB: u64 = 4 * 1024;

/// What counts as a leak; the default is off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeakRule {
    /// Growth above the baseline, in KiB, that is a leak once sustained; `None`: off.
    pub limit_kb: Option<u64>,
    /// Growth per connection, in bytes, sustained over [`SLOPE_INTERVALS`] intervals; `None`: off.
    pub per_conn_bytes: Option<u64>,
}

impl LeakRule {
    pub fn is_off(&self) -> bool {
        self.limit_kb.is_none() && self.per_conn_bytes.is_none()
    }
}

/// One checkpoint's RSS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub seq: u64,
    pub rss_kb: u64,
}

/// Which rule fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Limit,
    PerConnection,
}

/// A leak: the server's RSS grew from `from` to `to` (checkpoints `from.seq` and `to.seq`), from a
/// baseline of `baseline_kb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leak {
    pub from: Sample,
    pub to: Sample,
    pub baseline_kb: u64,
    pub trigger: Trigger,
}

impl Leak {
    /// The growth over the window, in KiB.
    pub fn growth_kb(&self) -> u64 {
        self.to.rss_kb.saturating_sub(self.from.rss_kb)
    }

    /// The down cause of the finding: `leak: RSS grew from X MB to Y MB between checkpoints #a and
    /// #b`, then why it counts (the rule). Starts with `leak:`, which the signature reads as the
    /// kind `leak` ([`crate::signature`]).
    pub fn cause(&self) -> String {
        let why = match self.trigger {
            Trigger::Limit => format!("sustained above the baseline of {} MB plus --leak-limit", mb(self.baseline_kb)),
            Trigger::PerConnection => {
                let conns = self.to.seq.saturating_sub(self.from.seq).max(1);
                format!(
                    "{} bytes per connection, in every interval: past --leak-per-conn",
                    self.growth_kb() * 1024 / conns
                )
            }
        };
        format!(
            "leak: RSS grew from {} MB to {} MB between checkpoints #{} and #{} ({why})",
            mb(self.from.rss_kb),
            mb(self.to.rss_kb),
            self.from.seq,
            self.to.seq
        )
    }

    /// A per-trial threshold for triage (KiB): a trial of the window's connections against a fresh
    /// server "leaks" when its RSS grows by more than this. An eighth of the growth, so that a
    /// stretch holding a fair share of the leaking connections counts, and at least
    /// [`SLOPE_FLOOR_KB`], above what a fresh server's allocator does with a few hundred
    /// connections.
    pub fn trial_threshold_kb(&self) -> u64 {
        (self.growth_kb() / 8).max(SLOPE_FLOOR_KB)
    }
}

/// [`Leak::trial_threshold_kb`] from a finding's cause ([`Leak::cause`]), for a leak recorded
/// earlier (its `finding.json` keeps the cause); `None` for any other cause.
pub fn trial_threshold_of_cause(cause: &str) -> Option<u64> {
    let rest = cause.strip_prefix("leak: RSS grew from ")?;
    let (from, rest) = rest.split_once(" MB to ")?;
    let (to, _) = rest.split_once(" MB ")?;
    let (from, to): (u64, u64) = (from.parse().ok()?, to.parse().ok()?);
    Some((to.saturating_sub(from) * 1024 / 8).max(SLOPE_FLOOR_KB))
}

/// KiB to whole MiB, rounded to nearest (what people read in a cause).
fn mb(kb: u64) -> u64 {
    (kb + 512) / 1024
}

/// The detector of one server's life; see the module documentation.
#[derive(Clone, Debug)]
pub struct LeakDetector {
    rule: LeakRule,
    samples: Vec<Sample>,
    fired: bool,
}

impl LeakDetector {
    pub fn new(rule: LeakRule) -> Self {
        Self { rule, samples: Vec::new(), fired: false }
    }

    /// The baseline, once settled.
    pub fn baseline_kb(&self) -> Option<u64> {
        let settling = self.samples.get(1..=BASELINE_CHECKPOINTS)?;
        settling.iter().map(|s| s.rss_kb).min()
    }

    /// Records checkpoint `seq`'s RSS; a leak the first time the rule holds, `None` otherwise
    /// (and always after it fired once: the server is to be restarted).
    pub fn on_checkpoint(&mut self, seq: u64, rss_kb: u64) -> Option<Leak> {
        if self.fired || self.rule.is_off() {
            return None;
        }
        self.samples.push(Sample { seq, rss_kb });
        let baseline = self.baseline_kb()?;
        let leak = self.by_limit(baseline).or_else(|| self.by_slope(baseline));
        self.fired = leak.is_some();
        leak
    }

    fn by_limit(&self, baseline: u64) -> Option<Leak> {
        let limit = self.rule.limit_kb?;
        let line = baseline.saturating_add(limit);
        let above = self.samples.iter().rev().take_while(|s| s.rss_kb > line).count();
        if above < SUSTAINED {
            return None;
        }
        let b = self.samples.len() - above;
        let to = self.samples[b];
        // The baseline's own checkpoint is at most `rss - limit - 1`, so there is one.
        let a = self.samples[..b].iter().rposition(|s| s.rss_kb.saturating_add(limit) < to.rss_kb)?;
        Some(self.leak(a, b, baseline, Trigger::Limit))
    }

    fn by_slope(&self, baseline: u64) -> Option<Leak> {
        let per_conn = self.rule.per_conn_bytes?;
        let n = self.samples.len();
        // The slope is looked at only past the baseline's checkpoints.
        if n < SLOPE_INTERVALS + 1 || n - (SLOPE_INTERVALS + 1) < 1 + BASELINE_CHECKPOINTS {
            return None;
        }
        let window = &self.samples[n - (SLOPE_INTERVALS + 1)..];
        let steep = window.windows(2).all(|w| {
            let conns = w[1].seq.saturating_sub(w[0].seq);
            let grown = w[1].rss_kb.saturating_sub(w[0].rss_kb).saturating_mul(1024);
            conns > 0 && grown > per_conn.saturating_mul(conns)
        });
        let total = window[SLOPE_INTERVALS].rss_kb.saturating_sub(window[0].rss_kb);
        (steep && total >= SLOPE_FLOOR_KB)
            .then(|| self.leak(n - (SLOPE_INTERVALS + 1), n - 1, baseline, Trigger::PerConnection))
    }

    /// The leak between samples `a` and `b`, its start stepped back one checkpoint (see "The
    /// window").
    fn leak(&self, a: usize, b: usize, baseline_kb: u64, trigger: Trigger) -> Leak {
        let a = a.saturating_sub(1);
        Leak { from: self.samples[a], to: self.samples[b], baseline_kb, trigger }
    }
}

/// A size in bytes as the client's options take it: `123`, `64K`, `256M`, `1G` (binary
/// multiples; a trailing `B` or `iB` is accepted).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_uppercase();
    let s = s.strip_suffix("IB").or_else(|| s.strip_suffix('B')).unwrap_or(&s);
    let (digits, shift) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 10),
        b'M' => (&s[..s.len() - 1], 20),
        b'G' => (&s[..s.len() - 1], 30),
        b'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MB: u64 = 1024;

    fn limit(kb: u64) -> LeakRule {
        LeakRule { limit_kb: Some(kb), per_conn_bytes: None }
    }

    /// Feeds (seq, rss) pairs; the first leak, with the index of the sample that fired it.
    fn feed(rule: LeakRule, samples: &[(u64, u64)]) -> Option<(usize, Leak)> {
        let mut d = LeakDetector::new(rule);
        let mut first = None;
        for (i, &(seq, rss)) in samples.iter().enumerate() {
            if let Some(leak) = d.on_checkpoint(seq, rss) {
                assert!(first.is_none(), "fired twice");
                first = Some((i, leak));
            }
        }
        first
    }

    fn every_100(rss_mb: &[u64]) -> Vec<(u64, u64)> {
        rss_mb.iter().enumerate().map(|(i, &r)| (100 * i as u64, r * MB)).collect()
    }

    #[test]
    fn the_issues_leak_fires_and_names_its_window() {
        // 36 MB, then growth to 1.2 GB from checkpoint #3000 on, every 100 connections.
        let mut rss = vec![36; 31];
        rss.extend([100, 300, 500, 700, 900, 1100, 1200, 1200, 1200]);
        let (i, leak) = feed(limit(256 * MB), &every_100(&rss)).unwrap();
        // Above 292 MB from #3200 (300 MB); sustained at #3300.
        assert_eq!(i, 33);
        assert_eq!(leak.to, Sample { seq: 3200, rss_kb: 300 * MB });
        // The latest at least 256 MB lower is #3000 (36 MB), stepped back to #2900.
        assert_eq!(leak.from, Sample { seq: 2900, rss_kb: 36 * MB });
        assert_eq!(leak.baseline_kb, 36 * MB);
        assert_eq!(
            leak.cause(),
            "leak: RSS grew from 36 MB to 300 MB between checkpoints #2900 and #3200 (sustained above the baseline \
             of 36 MB plus --leak-limit)"
        );
        assert_eq!(leak.trial_threshold_kb(), 264 * MB / 8);
        assert_eq!(trial_threshold_of_cause(&leak.cause()), Some(264 * MB / 8));
        assert_eq!(trial_threshold_of_cause("leak: RSS grew from 36 MB to 40 MB between ..."), Some(SLOPE_FLOOR_KB));
        assert_eq!(trial_threshold_of_cause("killed by signal 6 (SIGABRT)"), None);
    }

    #[test]
    fn warm_up_noise_spikes_and_plateaus_do_not_fire() {
        // Fresh server at 8 MB, a warm-up step to 60 MB, noise around it.
        assert_eq!(feed(limit(32 * MB), &every_100(&[8, 60, 58, 61, 59, 62, 60, 61, 59, 63, 60])), None);
        // One burst of connections in flight, back at the next checkpoint.
        assert_eq!(feed(limit(32 * MB), &every_100(&[8, 60, 60, 60, 100, 61, 60, 101, 60, 60])), None);
        // A cache that grows to 30 MB more (5 MB per 100 connections) and stays: below the limit,
        // and gentler than the slope, which its plateau ends anyway.
        let cache = [8, 40, 40, 41, 45, 50, 55, 60, 65, 70, 70, 70, 70, 70, 71, 70];
        let rule = LeakRule { limit_kb: Some(32 * MB), per_conn_bytes: Some(64 * 1024) };
        assert_eq!(feed(rule, &every_100(&cache)), None);
        // Off: nothing ever fires.
        let off = LeakRule { limit_kb: None, per_conn_bytes: None };
        assert_eq!(feed(off, &every_100(&[8, 60, 60, 60, 500, 900, 1300])), None);
    }

    #[test]
    fn nothing_is_decided_before_the_baseline_settles() {
        // Huge from the second checkpoint on: the baseline is that, and growth is measured from it.
        assert_eq!(feed(limit(32 * MB), &every_100(&[8, 500, 500, 500, 500, 500])), None);
        let (i, leak) = feed(limit(32 * MB), &every_100(&[8, 40, 40, 40, 80, 90])).unwrap();
        assert_eq!((i, leak.from.seq, leak.to.seq), (5, 200, 400));
        assert_eq!(leak.growth_kb(), 40 * MB);
    }

    #[test]
    fn a_steady_slope_fires_before_the_limit() {
        // +2 MB per 100 connections (20 KiB each) from #400 on.
        let rss = [8, 40, 40, 40, 40, 42, 44, 46, 48];
        let rule = LeakRule { limit_kb: Some(1024 * MB), per_conn_bytes: Some(16 * 1024) };
        let (i, leak) = feed(rule, &every_100(&rss)).unwrap();
        assert_eq!(i, 7, "three steep intervals and {SLOPE_FLOOR_KB} KiB");
        assert_eq!(leak.trigger, Trigger::PerConnection);
        assert_eq!((leak.from.seq, leak.to.seq), (300, 700));
        assert!(leak.cause().starts_with("leak: RSS grew from 40 MB to 46 MB between checkpoints #300 and #700"));
        // Too gentle a slope for the rule, and one flat interval breaks it.
        let rule = LeakRule { limit_kb: None, per_conn_bytes: Some(32 * 1024) };
        assert_eq!(feed(rule, &every_100(&rss)), None);
        let rule = LeakRule { limit_kb: None, per_conn_bytes: Some(16 * 1024) };
        assert_eq!(feed(rule, &every_100(&[8, 40, 40, 40, 40, 42, 44, 44, 46, 48, 50])).map(|(i, _)| i), Some(10));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256M"), Some(256 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("64KiB"), Some(64 << 10));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("12X"), None);
        assert_eq!(parse_size(""), None);
    }

    proptest! {
        /// RSS that stays within `limit` of the baseline never fires, however it wanders; a step of
        /// more than the limit that stays always fires, and its window holds the step.
        #[test]
        fn fires_exactly_on_sustained_growth_past_the_limit(
            base in 10_000u64..1_000_000,
            noise in proptest::collection::vec(0u64..1000, 6..40),
            step_at in 4usize..30,
            step in 0u64..4000,
        ) {
            let limit_kb = 2000;
            let quiet: Vec<(u64, u64)> =
                noise.iter().enumerate().map(|(i, n)| (50 * i as u64, base + n)).collect();
            prop_assert_eq!(feed(limit(limit_kb), &quiet), None);
            let stepped: Vec<(u64, u64)> = quiet
                .iter()
                .enumerate()
                .map(|(i, &(seq, rss))| (seq, if i >= step_at { rss + step } else { rss }))
                .collect();
            let fired = feed(limit(limit_kb), &stepped);
            // Noise is below 1000, so a step of more than limit + 1000 is past the line for sure.
            let after_step = stepped.len().saturating_sub(step_at);
            if step > limit_kb + 1000 && after_step >= SUSTAINED && step_at > BASELINE_CHECKPOINTS {
                let (_, leak) = fired.expect("a sustained step past the limit fires");
                let step_seq = 50 * step_at as u64;
                prop_assert!(leak.from.seq < step_seq && step_seq <= leak.to.seq, "{:?} at {}", leak, step_seq);
                prop_assert!(leak.growth_kb() > limit_kb);
            }
            if step <= limit_kb.saturating_sub(1000) {
                prop_assert_eq!(fired, None);
            }
        }
    }
}
