//! `--concurrency auto`: the search for the concurrency that finishes the most connections per
//! second, without overloading the server. Pure: it is told about launches and finished
//! connections (with the time), and answers with the concurrency to keep in flight.
//!
//! Why throughput and not only latency: a fuzzed connection spends most of its life waiting
//! (for a retransmission, for the idle limit after a mangled packet), not making the server work,
//! so a campaign goes faster with more connections in flight long after the server's CPU is
//! busy, and the handshake times of its connections grow well before the rate stops growing.
//! What it cannot do is raise the rate forever: once the server (or the client: both share a lab
//! machine) is the bottleneck, more connections only queue. So the search climbs while the rate
//! climbs, the way BBR's start-up detects a full pipe (draft-ietf-ccwg-bbr: the delivery rate
//! no longer grows by a quarter per round): it doubles per round while the rate grows by at
//! least [`GROWTH`], and then cruises at the best level found, probing every [`PROBE_EVERY`]
//! rounds a quarter above and a quarter below it, and moving there when the rate says so.
//!
//! A *round* measures one level with a cohort: [`round_size`] connections launched at that
//! level, after the first `level` launched at it (by then the connections of the level before
//! are mostly gone, and the new level is full). The round lasts from the launch of its first to
//! the end of its last, and the level's rate is the connections (any) that finished in that
//! time over its length. The whole cohort, not a count of finishes: a fuzzed campaign's
//! connections end either within milliseconds or at the idle or handshake limit, hundreds of
//! milliseconds later, so a window closed after so many finishes reads the quick ones and
//! leaves the slow ones for later (windows of a few dozen finishes read anything from 150 to
//! 600 connections per second at one level against fuzz-server, and a doubling always looked
//! faster than it was). Little's law from the cohort's mean time (the level over it) read
//! twice the real rate at 128 and more: the client does not keep every place filled every
//! moment, so the rate is counted, not derived.
//!
//! Guards, at any time: a refusal halves the level (the server is overloaded: the caller tells
//! [`AutoSearch::on_loss`]), and a round whose median clean handshake exceeds
//! [`LATENCY_GUARD`] times the lowest seen (plus [`LATENCY_SLACK`]) goes back to the level
//! before (the cruising level after a probe above it, the last doubling's in start-up), or a
//! quarter lower: past that, the server queues so much that the timing of what the fuzzer
//! sends, and so what a replay from a checkpoint repeats, drifts from an idle server's.

use std::time::{Duration, Instant};

/// Where the search starts.
pub const START: usize = 16;
/// The most connections it keeps in flight.
pub const MAX: usize = 512;
/// The fewest connections of a round's cohort: a mean over fewer swings by more than a tenth
/// with the share of slow connections in it.
pub const MIN_ROUND: usize = 128;
/// Start-up goes on while a doubling raises the rate by this share (BBR: 25%).
pub const GROWTH: f64 = 0.15;
/// A probe above the cruising level is taken when it raises the rate by this share; one below,
/// when it keeps the rate within this share.
pub const PROBE_MARGIN: f64 = 0.05;
/// Cruising rounds between probes.
pub const PROBE_EVERY: u32 = 2;
/// A round's median clean handshake above this many times the lowest is overload.
pub const LATENCY_GUARD: u32 = 4;
/// ... plus this, so that scheduling noise on a fast loopback server is not taken for load.
pub const LATENCY_SLACK: Duration = Duration::from_millis(5);

/// The cohort of a round at `level`: two levels' worth, at least [`MIN_ROUND`] (a trial of a
/// level that turns out worse costs its whole round).
pub fn round_size(level: usize) -> usize {
    (2 * level).max(MIN_ROUND)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// Doubling; the rate of the level before, if measured.
    StartUp { before: Option<(usize, f64)> },
    /// At the best level found.
    Cruise,
    /// Trying a level near the cruising one.
    Probe { cruise: usize },
}

/// One round's measurements.
#[derive(Clone, Debug)]
struct Round {
    /// The cohort: the connections of launch number in `first..first + size`.
    first: u64,
    size: usize,
    /// When the first of them was launched.
    started: Option<Instant>,
    /// Its connections finished so far, and their clean handshakes.
    own: usize,
    handshakes: Vec<Duration>,
    /// Connections (any) finished since it started.
    finished: usize,
}

impl Round {
    /// The round at `level`, set when `launches` connections were launched.
    fn new(level: usize, launches: u64) -> Self {
        Round {
            first: launches + level as u64 + 1,
            size: round_size(level),
            started: None,
            own: 0,
            handshakes: Vec::new(),
            finished: 0,
        }
    }

    fn has(&self, launched: u64) -> bool {
        (self.first..self.first + self.size as u64).contains(&launched)
    }
}

/// What a round ended with, for the debug log and the tests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundEnd {
    pub level: usize,
    /// Connections per second.
    pub rate: f64,
    pub median_handshake: Option<Duration>,
    /// The level in force after it.
    pub next: usize,
}

/// The search's state.
#[derive(Clone, Debug)]
pub struct AutoSearch {
    level: usize,
    phase: Phase,
    round: Round,
    /// The cruising level's rate, smoothed over its rounds.
    cruise_rate: Option<f64>,
    cruise_rounds: u32,
    /// Whether the next probe goes up (they alternate).
    probe_up: bool,
    /// The lowest round median of clean handshakes.
    baseline: Option<Duration>,
}

impl Default for AutoSearch {
    fn default() -> Self {
        AutoSearch {
            level: START,
            phase: Phase::StartUp { before: None },
            round: Round::new(START, 0),
            cruise_rate: None,
            cruise_rounds: 0,
            probe_up: true,
            baseline: None,
        }
    }
}

impl AutoSearch {
    /// The concurrency to keep.
    pub fn level(&self) -> usize {
        self.level
    }

    fn set(&mut self, level: usize, launches: u64) {
        self.level = level.clamp(1, MAX);
        self.round = Round::new(self.level, launches);
    }

    /// The server refused a connection: halve, and cruise there
    /// (its rate measured anew). `launched` is the connection's launch number: one launched
    /// before the last change says nothing about the level in force.
    pub fn on_loss(&mut self, launched: u64, launches: u64) -> bool {
        if launched < self.round.first.saturating_sub(self.level as u64) {
            return false;
        }
        self.halve(launches);
        true
    }

    /// Halves the level (a probe above the cruising level goes back to it instead) and cruises
    /// there, its rate measured anew.
    fn halve(&mut self, launches: u64) {
        let to = match self.phase {
            Phase::Probe { cruise } if cruise < self.level => cruise,
            _ => self.level / 2,
        };
        self.cruise(None);
        self.set(to, launches);
    }

    /// Connection number `launched` was launched at `now`.
    pub fn on_launch(&mut self, launched: u64, now: Instant) {
        if launched == self.round.first {
            self.round.started = Some(now);
        }
    }

    /// Connection number `launched` finished at `now`, with its clean handshake's time if it had
    /// one; `launches` so far. Returns the round's end, if this ended one.
    pub fn on_finished(
        &mut self,
        launched: u64,
        handshake: Option<Duration>,
        now: Instant,
        launches: u64,
    ) -> Option<RoundEnd> {
        let r = &mut self.round;
        let started = r.started?;
        r.finished += 1;
        if !r.has(launched) {
            return None;
        }
        r.own += 1;
        r.handshakes.extend(handshake);
        if r.own < r.size {
            return None;
        }
        let elapsed = now.saturating_duration_since(started).as_secs_f64().max(1e-6);
        let rate = r.finished as f64 / elapsed;
        let median = (r.handshakes.len() >= 4).then(|| {
            r.handshakes.sort_unstable();
            r.handshakes[r.handshakes.len() / 2]
        });
        let level = self.level;
        let next = self.decide(rate, median);
        self.set(next, launches);
        Some(RoundEnd { level, rate, median_handshake: median, next })
    }

    /// The level after a round at `self.level` with `rate` and `median` clean handshake.
    fn decide(&mut self, rate: f64, median: Option<Duration>) -> usize {
        let level = self.level;
        if let Some(m) = median {
            let base = *self.baseline.get_or_insert(m);
            if m > base * LATENCY_GUARD + LATENCY_SLACK {
                // Back to the last level that did not queue, if there is one below.
                let lower = match self.phase {
                    Phase::Probe { cruise } if cruise < level => cruise,
                    Phase::StartUp { before: Some((b, _)) } => b,
                    _ => level - level / 4,
                };
                self.cruise(None);
                return lower;
            }
            self.baseline = Some(base.min(m));
        }
        match self.phase {
            Phase::StartUp { before } => match before {
                Some((b, before_rate)) if rate < before_rate * (1.0 + GROWTH) => {
                    // The pipe is full: cruise at the lower level, unless the higher one is
                    // clearly faster.
                    let (best, best_rate) =
                        if rate > before_rate * (1.0 + PROBE_MARGIN) { (level, rate) } else { (b, before_rate) };
                    self.cruise(Some(best_rate));
                    best
                }
                _ if level >= MAX => {
                    self.cruise(Some(rate));
                    level
                }
                _ => {
                    self.phase = Phase::StartUp { before: Some((level, rate)) };
                    level * 2
                }
            },
            Phase::Cruise => {
                let smoothed = self.cruise_rate.map_or(rate, |c| c * 0.5 + rate * 0.5);
                self.cruise_rate = Some(smoothed);
                self.cruise_rounds += 1;
                if self.cruise_rounds < PROBE_EVERY {
                    return level;
                }
                self.cruise_rounds = 0;
                let up = self.probe_up || level < 4;
                self.probe_up = !up;
                let step = (level / 4).max(1);
                let to = if up { (level + step).min(MAX) } else { level - step };
                if to == level {
                    return level;
                }
                self.phase = Phase::Probe { cruise: level };
                to
            }
            Phase::Probe { cruise } => {
                let cruise_rate = self.cruise_rate.unwrap_or(rate);
                let better = if level > cruise {
                    rate > cruise_rate * (1.0 + PROBE_MARGIN)
                } else {
                    rate >= cruise_rate * (1.0 - PROBE_MARGIN)
                };
                if better {
                    self.cruise(Some(rate));
                    level
                } else {
                    self.cruise(Some(cruise_rate));
                    cruise
                }
            }
        }
    }

    /// Cruises at the level the caller sets, whose rate is `rate` if known.
    fn cruise(&mut self, rate: Option<f64>) {
        self.phase = Phase::Cruise;
        self.cruise_rate = rate;
        self.cruise_rounds = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A simulated server: `rate(level)` connections per second, handshakes of
    /// `latency(level)`; each connection is launched as one finishes. Returns the level after
    /// each of `rounds`.
    fn simulate(rate: impl Fn(usize) -> f64, latency: impl Fn(usize) -> Duration, rounds: usize) -> Vec<usize> {
        let mut s = AutoSearch::default();
        let mut now = Instant::now();
        let mut launches = 0u64;
        let mut levels = Vec::new();
        while levels.len() < rounds {
            let level = s.level();
            launches += 1;
            s.on_launch(launches, now);
            now += Duration::from_secs_f64(1.0 / rate(level));
            if let Some(end) = s.on_finished(launches, Some(latency(level)), now, launches) {
                levels.push(end.next);
            }
        }
        levels
    }

    #[test]
    fn start_up_doubles_while_the_rate_grows_and_cruises_at_the_plateau() {
        // The rate grows with the level up to 100, flat beyond; handshakes stay fast.
        let levels = simulate(|l| l.min(100) as f64 * 5.0, |_| ms(2), 6);
        assert_eq!(&levels[..3], &[32, 64, 128], "doubling while the rate grows");
        // At 128 the rate is 500 against 320 at 64: still growing; 256 gives 500 too: full, and
        // the better of 128 and 256 (equal) is the lower.
        assert_eq!(levels[3], 256);
        assert_eq!(levels[4], 128, "256 is no faster than 128: cruise at 128");
    }

    #[test]
    fn cruising_probes_up_and_down_and_moves_when_the_rate_says_so() {
        // Flat beyond 40: start-up stops at 128 and cruises at 64; probes above are no faster,
        // the probe below (48) is as fast, so the cruise moves down to it, and stays there (36
        // is slower).
        let levels = simulate(|l| l.min(40) as f64 * 10.0, |_| ms(2), 24);
        assert_eq!(&levels[..4], &[32, 64, 128, 64], "{levels:?}");
        let last: Vec<usize> = levels[levels.len() - 8..].to_vec();
        assert!(last.iter().all(|&l| (36..=60).contains(&l)), "{levels:?}");
        assert!(last.iter().filter(|&&l| l == 48).count() >= 4, "{levels:?}");
    }

    #[test]
    fn latency_past_the_guard_lowers_the_level() {
        // The rate keeps growing, but handshakes queue beyond 64.
        let latency = |l: usize| if l > 64 { ms(200) } else { ms(10) };
        let levels = simulate(|l| l as f64 * 5.0, latency, 8);
        assert_eq!(&levels[..3], &[32, 64, 128]);
        assert_eq!(levels[3], 64, "128 queues: back to the level before");
        assert!(levels[4..].iter().all(|&l| l <= 80), "{levels:?}");
        assert!(levels[4..].iter().all(|&l| l >= 48), "a probe above that queues goes back to 64: {levels:?}");
    }

    #[test]
    fn it_never_exceeds_its_ceiling() {
        let levels = simulate(|l| l as f64 * 10.0, |_| ms(1), 40);
        assert!(levels.iter().all(|&l| l <= MAX), "{levels:?}");
        let last = &levels[levels.len() - 10..];
        assert!(
            last.iter().filter(|&&l| l == MAX).count() >= 5,
            "it cruises at the ceiling, probing below: {levels:?}"
        );
    }

    #[test]
    fn a_round_is_its_whole_cohort_and_its_rate_counts_every_finish() {
        let mut s = AutoSearch::default();
        let t0 = Instant::now();
        let at = |n: u64| t0 + ms(n);
        // Level 16: the first 16 launched fill it; the cohort is the next 128 (17..=144),
        // launched at 17 ms onwards. Finishes before its start do not count.
        for n in 1..=16 {
            s.on_launch(n, at(n));
            assert_eq!(s.on_finished(n, None, at(n), n), None);
        }
        for n in 17..=144 {
            s.on_launch(n, at(n));
        }
        // 100 of the cohort end quickly, then others' connections (launched later), then the
        // cohort's slow ones, the very last at 1017 ms.
        for n in 17..=116 {
            assert_eq!(s.on_finished(n, None, at(200), 144), None);
        }
        for n in 145..=244 {
            assert_eq!(s.on_finished(n, None, at(500), 244), None);
        }
        for n in 117..=143 {
            assert_eq!(s.on_finished(n, None, at(900), 244), None);
        }
        let end = s.on_finished(144, None, at(1017), 244).expect("the whole cohort finished");
        // 228 finishes in the 1000 ms from the cohort's first launch (17 ms).
        assert_eq!(end.level, START);
        assert!((end.rate - 228.0).abs() < 0.5, "{end:?}");
        assert_eq!(end.next, 2 * START);
    }

    #[test]
    fn a_loss_halves_once_for_the_connections_launched_at_the_same_level() {
        let mut s = AutoSearch::default();
        let t0 = Instant::now();
        for n in 1..=144 {
            s.on_launch(n, t0);
            s.on_finished(n, None, t0 + ms(n), 150);
        }
        assert_eq!(s.level(), 32, "the round at 16 ended; changed after 150 launches");
        assert!(!s.on_loss(150, 160), "launched before the change: no news about 32");
        assert!(s.on_loss(151, 160));
        assert_eq!(s.level(), 16);
        assert!(!s.on_loss(160, 161), "the same load halves once");
        assert_eq!(s.level(), 16);
    }

    #[test]
    fn rounds_ignore_the_connections_of_the_level_before() {
        let mut s = AutoSearch::default();
        let t0 = Instant::now();
        for n in 1..=144 {
            s.on_launch(n, t0);
            s.on_finished(n, None, t0 + ms(n), 150);
        }
        assert_eq!(s.level(), 32);
        // Connections 145..=150 were launched at 16, and the next 32 fill the new level: they
        // finish, but no round ends before the cohort (183..) has.
        for n in 145..=182 {
            assert_eq!(s.on_finished(n, None, t0 + ms(n), 400), None);
        }
        assert_eq!(s.level(), 32);
    }
}
