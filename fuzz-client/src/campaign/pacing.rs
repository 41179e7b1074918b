//! Pacing: how many connections a campaign keeps in flight, when it pauses because the server is
//! busy, and how long its connections wait for a server of this speed. Pure decisions on what
//! the campaign reports (refusals, probe verdicts, handshake times), tested without sockets;
//! the campaign loop (`campaign::run`) does the I/O.
//!
//! - **Busy is not down.** RFC 9000 §5.2.2: "If a server refuses to accept a new connection, it
//!   SHOULD send an Initial packet containing a CONNECTION_CLOSE frame with error code
//!   CONNECTION_REFUSED." A server whose connection table is full of a campaign's stalled fuzzed
//!   connections (those whose close was mutated or lost stay there until its idle timeout) does
//!   exactly that: it is alive and will serve again. [`Pacer`] turns a refusal (or a clean probe
//!   answered only with a close) into a *busy period*: launching pauses, the concurrency is
//!   halved, and clean probes follow after growing waits, at most the server's idle timeout
//!   apart (RFC 9000 §10.1: by then every connection it held for us has been freed), until one
//!   completes (`server_ready`). Only a server that keeps refusing past `--busy-timeout` is
//!   called down; a silent one is down as before (probes that get no answer at all).
//! - **The concurrency** is the classic additive increase, multiplicative decrease (AIMD, as in
//!   TCP's congestion avoidance, RFC 5681 §3.1): halved on a refusal (once for the connections
//!   launched at the same load), and raised again by one per round without a refusal, up to
//!   `--concurrency N`; a round is a quarter of the concurrency in finished connections, at
//!   least [`MIN_ROUND`], so that the pacer reacts within a fraction of the connections in
//!   flight. With `--concurrency auto` the ceiling is [`AUTO_MAX`], it starts at
//!   [`AUTO_START`] and doubles per round until the first decrease (slow start), and handshake
//!   latency is a signal too: when the moving average of the rounds' median handshake times
//!   exceeds [`LATENCY_FACTOR`] times the lowest it has been (plus [`LATENCY_SLACK`]), the
//!   concurrency is lowered by a quarter, because the
//!   server (or the client: both share a lab machine) queues work instead of doing it, and a
//!   fuzzed connection's patience grows with handshake times (module `patience`), so queueing
//!   costs throughput twice. A handshake that nothing was mutated in and that timed out is a
//!   loss signal for `auto` and halves it: an overloaded server stops answering before its
//!   handshake times grow.
//! - **Timeouts that fit the server** ([`fit_limits`]): the idle limit is [`IDLE_PTOS`] probe
//!   timeouts (RFC 9002 §6.2.1's formula, fed with the clean probes' handshake times, module
//!   `patience`), never below `--idle-ms` (the floor) unless `--fixed-idle` makes `--idle-ms`
//!   the limit as it is; the handshake limit stays twice the idle limit.
//!
//! Pacing changes timing only: which CIDs run, their plans and their mutation decisions are
//! functions of the CIDs. A refused connection is run again with the same CID once the server is
//! ready (the server took no state for it), so a busy server costs time, not coverage.

use crate::quic::patience::HandshakeTimes;
use std::time::{Duration, Instant};

/// Where `--concurrency auto` starts.
pub const AUTO_START: usize = 16;
/// The most connections `--concurrency auto` keeps in flight.
pub const AUTO_MAX: usize = 512;
/// A round's median handshake above this many times the best round's median is queueing.
pub const LATENCY_FACTOR: u32 = 2;
/// ... plus this, so that scheduling noise on a fast loopback server is not taken for load.
pub const LATENCY_SLACK: Duration = Duration::from_millis(2);
/// The fewest finished connections in a round.
pub const MIN_ROUND: usize = 8;
/// The first wait before a probe of a busy server; each further wait doubles.
pub const BUSY_FIRST_WAIT: Duration = Duration::from_millis(100);
/// The longest wait between probes of a busy server whose idle timeout is unknown.
pub const BUSY_MAX_WAIT: Duration = Duration::from_secs(5);
/// The idle limit is this many probe timeouts of the clean probes' handshakes.
pub const IDLE_PTOS: u32 = 3;

/// `--concurrency N` or `--concurrency auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConcurrencySetting {
    Fixed(usize),
    Auto,
}

impl std::str::FromStr for ConcurrencySetting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            n => match n.parse::<usize>() {
                Ok(0) => Err("--concurrency 0: at least one connection must be in flight".into()),
                Ok(n) => Ok(Self::Fixed(n)),
                Err(_) => Err(format!("{n:?}: expected a number of connections or `auto`")),
            },
        }
    }
}

impl std::fmt::Display for ConcurrencySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed(n) => write!(f, "{n}"),
            Self::Auto => f.write_str("auto"),
        }
    }
}

/// The idle and handshake limits in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub idle: Duration,
    pub handshake: Duration,
}

/// The limits for a server whose clean probes' handshakes give `probes` (RFC 9002 smoothing):
/// [`IDLE_PTOS`] probe timeouts, at least `floor` (`--idle-ms`), at most `ceiling` (the
/// transport's own idle timeout, which would end the connection anyway); `fixed` keeps `floor`.
/// The handshake limit is twice the idle limit, within `cap` (`--max-conn-ms`).
pub fn fit_limits(probes: &HandshakeTimes, floor: Duration, ceiling: Duration, cap: Duration, fixed: bool) -> Limits {
    let idle = match probes.pto() {
        Some(pto) if !fixed => (pto * IDLE_PTOS).min(ceiling).max(floor),
        _ => floor,
    };
    Limits { idle, handshake: (idle * 2).min(cap) }
}

/// A busy period in progress.
#[derive(Clone, Debug)]
struct Busy {
    since: Instant,
    refused: u64,
    probes: u64,
    /// Waits so far (the next one doubles).
    waits: u32,
}

/// What the campaign must do after telling the pacer something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Busyness {
    /// Nothing to log.
    Unchanged,
    /// A busy period began: log `server_busy` and probe after `wait`.
    BusyNow { wait: Duration },
    /// Still busy: probe again after `wait`.
    StillBusy { wait: Duration },
    /// Busy for longer than `--busy-timeout`: the server is down.
    TimedOut { busy_for: Duration, refused: u64, probes: u64 },
}

/// The end of a busy period, for `server_ready`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    pub busy_for: Duration,
    pub refused: u64,
    pub probes: u64,
}

/// The pacing state of one campaign.
#[derive(Clone, Debug)]
pub struct Pacer {
    setting: ConcurrencySetting,
    /// The most connections allowed in flight now.
    current: usize,
    ceiling: usize,
    /// Slow start: doubling per round until the first decrease (auto only).
    slow_start: bool,
    /// Launches so far; a refusal of a connection launched before `decreased_at` was caused by
    /// the load before the last decrease and does not decrease again.
    launches: u64,
    decreased_at: u64,
    /// Finished connections in this round, and their handshake times.
    round_done: usize,
    round_handshakes: Vec<Duration>,
    /// The moving average of the rounds' median handshakes, and the smallest it has been
    /// (auto's latency baseline).
    smoothed_median: Option<Duration>,
    best_median: Option<Duration>,
    busy: Option<Busy>,
    busy_timeout: Duration,
    /// Busy periods so far, for the summary.
    pub busy_periods: u64,
    /// Refusals so far, for the summary.
    pub refusals: u64,
}

impl Pacer {
    pub fn new(setting: ConcurrencySetting, busy_timeout: Duration) -> Self {
        let (current, ceiling) = match setting {
            ConcurrencySetting::Fixed(n) => (n.max(1), n.max(1)),
            ConcurrencySetting::Auto => (AUTO_START, AUTO_MAX),
        };
        Self {
            setting,
            current,
            ceiling,
            slow_start: setting == ConcurrencySetting::Auto,
            launches: 0,
            decreased_at: 0,
            round_done: 0,
            round_handshakes: Vec::new(),
            smoothed_median: None,
            best_median: None,
            busy: None,
            busy_timeout,
            busy_periods: 0,
            refusals: 0,
        }
    }

    pub fn setting(&self) -> ConcurrencySetting {
        self.setting
    }

    /// The concurrency in force.
    pub fn concurrency(&self) -> usize {
        self.current
    }

    /// Whether another connection may start with `in_flight` running.
    pub fn may_launch(&self, in_flight: usize) -> bool {
        self.busy.is_none() && in_flight < self.current
    }

    /// A connection is launched; returns its launch number (for [`Self::on_refused`]).
    pub fn on_launch(&mut self) -> u64 {
        self.launches += 1;
        self.launches
    }

    fn decrease(&mut self, to: usize) {
        self.current = to.clamp(1, self.ceiling);
        self.slow_start = false;
        self.decreased_at = self.launches;
        self.end_round();
    }

    fn end_round(&mut self) {
        self.round_done = 0;
        self.round_handshakes.clear();
    }

    /// A connection that was not refused finished; `handshake` is how long its handshake took,
    /// if it completed one. Ends a round every quarter of the concurrency of them (at least
    /// [`MIN_ROUND`]).
    pub fn on_finished(&mut self, handshake: Option<Duration>) {
        self.round_done += 1;
        self.round_handshakes.extend(handshake);
        if self.round_done < (self.current / 4).max(MIN_ROUND) {
            return;
        }
        let median = (self.round_handshakes.len() >= 4).then(|| {
            self.round_handshakes.sort_unstable();
            self.round_handshakes[self.round_handshakes.len() / 2]
        });
        if self.setting == ConcurrencySetting::Auto {
            if let Some(m) = median {
                // One round's median of a few fuzzed handshakes is noisy: the signal is their
                // moving average (weight 1/4), against the lowest the average has been.
                let smoothed = match self.smoothed_median {
                    None => m,
                    Some(s) => s * 3 / 4 + m / 4,
                };
                self.smoothed_median = Some(smoothed);
                let best = *self.best_median.get_or_insert(smoothed);
                tracing::debug!(
                    target: "pacing",
                    "round at concurrency {}: median handshake {m:?}, smoothed {smoothed:?}, best {best:?}",
                    self.current
                );
                if smoothed > best * LATENCY_FACTOR + LATENCY_SLACK {
                    self.decrease(self.current - self.current / 4);
                    // Judge the new load by its own rounds.
                    self.smoothed_median = Some(best);
                    return;
                }
                self.best_median = Some(best.min(smoothed));
            }
        }
        self.current = if self.slow_start { self.current * 2 } else { self.current + 1 }.min(self.ceiling);
        self.end_round();
    }

    /// Connection number `launch`, which mutated nothing before its handshake, did not complete
    /// its handshake (it timed out): under `auto`, a loss signal like TCP's, so the concurrency
    /// is halved (once for the connections launched at the same load). A fixed concurrency
    /// stays: only the server's refusals lower it.
    pub fn on_lost_handshake(&mut self, launch: u64) {
        if self.setting == ConcurrencySetting::Auto && launch > self.decreased_at {
            tracing::debug!(target: "pacing", "a clean handshake timed out at concurrency {}: halved", self.current);
            self.decrease(self.current / 2);
        }
    }

    /// Connection number `launch` was refused (CONNECTION_REFUSED). Halves the concurrency
    /// (once for the connections launched at the same load) and begins a busy period if none
    /// runs; `server_idle` is the server's announced idle timeout, if known.
    pub fn on_refused(&mut self, launch: u64, now: Instant, server_idle: Option<Duration>) -> Busyness {
        self.refusals += 1;
        if launch > self.decreased_at {
            self.decrease(self.current / 2);
        }
        match self.busy.as_mut() {
            Some(b) => {
                b.refused += 1;
                Busyness::Unchanged
            }
            None => {
                self.busy = Some(Busy { since: now, refused: 1, probes: 0, waits: 0 });
                self.busy_periods += 1;
                Busyness::BusyNow { wait: self.next_wait(server_idle) }
            }
        }
    }

    /// A clean probe was refused or answered only with a close: busy (again), or timed out.
    pub fn on_probe_busy(&mut self, now: Instant, server_idle: Option<Duration>) -> Busyness {
        match self.busy.as_mut() {
            Some(b) => {
                b.probes += 1;
                let busy_for = now.saturating_duration_since(b.since);
                if busy_for >= self.busy_timeout {
                    return Busyness::TimedOut { busy_for, refused: b.refused, probes: b.probes };
                }
                Busyness::StillBusy { wait: self.next_wait(server_idle) }
            }
            None => {
                self.busy = Some(Busy { since: now, refused: 0, probes: 1, waits: 0 });
                self.busy_periods += 1;
                self.decrease(self.current / 2);
                Busyness::BusyNow { wait: self.next_wait(server_idle) }
            }
        }
    }

    /// The wait before the next probe of a busy server: [`BUSY_FIRST_WAIT`], doubling, at most
    /// the server's idle timeout (or [`BUSY_MAX_WAIT`] when unknown), and never past the end of
    /// `--busy-timeout` by much.
    fn next_wait(&mut self, server_idle: Option<Duration>) -> Duration {
        let Some(b) = self.busy.as_mut() else { return BUSY_FIRST_WAIT };
        let longest = server_idle.filter(|d| !d.is_zero()).unwrap_or(BUSY_MAX_WAIT).max(BUSY_FIRST_WAIT);
        let wait = BUSY_FIRST_WAIT.saturating_mul(1 << b.waits.min(16)).min(longest);
        b.waits += 1;
        wait
    }

    /// A clean probe completed: the end of a busy period, if one ran.
    pub fn on_probe_ok(&mut self, now: Instant) -> Option<Ready> {
        let b = self.busy.take()?;
        Some(Ready { busy_for: now.saturating_duration_since(b.since), refused: b.refused, probes: b.probes + 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn concurrency_parses_numbers_and_auto() {
        assert_eq!("auto".parse(), Ok(ConcurrencySetting::Auto));
        assert_eq!("64".parse(), Ok(ConcurrencySetting::Fixed(64)));
        assert!("0".parse::<ConcurrencySetting>().unwrap_err().contains("at least one"));
        assert!("lots".parse::<ConcurrencySetting>().unwrap_err().contains("auto"));
        assert_eq!(ConcurrencySetting::Auto.to_string(), "auto");
    }

    #[test]
    fn a_refusal_halves_once_per_load_and_pauses_until_a_probe_completes() {
        let t0 = Instant::now();
        let mut p = Pacer::new(ConcurrencySetting::Fixed(64), Duration::from_secs(30));
        let launches: Vec<u64> = (0..64).map(|_| p.on_launch()).collect();
        assert!(matches!(p.on_refused(launches[10], t0, None), Busyness::BusyNow { wait } if wait == BUSY_FIRST_WAIT));
        assert_eq!(p.concurrency(), 32);
        // The others launched at the same load do not halve again.
        assert_eq!(p.on_refused(launches[11], t0, None), Busyness::Unchanged);
        assert_eq!(p.concurrency(), 32);
        assert!(!p.may_launch(0), "busy: launching pauses");
        let ready = p.on_probe_ok(t0 + ms(250)).unwrap();
        assert_eq!(ready, Ready { busy_for: ms(250), refused: 2, probes: 1 });
        assert!(p.may_launch(31) && !p.may_launch(32));
        // A connection launched after the decrease that is refused halves again.
        let later = p.on_launch();
        p.on_refused(later, t0, None);
        assert_eq!(p.concurrency(), 16);
        assert_eq!((p.busy_periods, p.refusals), (2, 3));
    }

    #[test]
    fn fixed_concurrency_recovers_by_one_per_round_up_to_its_value() {
        let mut p = Pacer::new(ConcurrencySetting::Fixed(8), Duration::from_secs(30));
        let l = p.on_launch();
        p.on_refused(l, Instant::now(), None);
        p.on_probe_ok(Instant::now());
        assert_eq!(p.concurrency(), 4);
        for _ in 0..MIN_ROUND {
            p.on_finished(Some(ms(5)));
        }
        assert_eq!(p.concurrency(), 5);
        for _ in 0..100 {
            p.on_finished(Some(ms(500)));
        }
        assert_eq!(p.concurrency(), 8, "latency does not lower a fixed concurrency, and it never exceeds it");
    }

    #[test]
    fn auto_starts_slow_then_backs_off_on_latency() {
        let mut p = Pacer::new(ConcurrencySetting::Auto, Duration::from_secs(30));
        assert_eq!(p.concurrency(), AUTO_START);
        for _ in 0..MIN_ROUND {
            p.on_finished(Some(ms(5)));
        }
        assert_eq!(p.concurrency(), AUTO_START * 2, "slow start doubles");
        // Rounds whose median handshake is far above the best: once the average shows it,
        // queueing, lowered by a quarter.
        for _ in 0..MIN_ROUND {
            p.on_finished(Some(ms(40))); // average 5 * 3/4 + 40/4 = 13.75 ms: over 2 * 5 + 2
        }
        assert_eq!(p.concurrency(), AUTO_START * 2 * 3 / 4);
        // Then additive increase: one noisy round within the average is not queueing.
        for _ in 0..MIN_ROUND {
            p.on_finished(Some(ms(20))); // average 5 * 3/4 + 20/4 = 8.75 ms
        }
        assert_eq!(p.concurrency(), 25);
    }

    #[test]
    fn a_lost_clean_handshake_halves_auto_only() {
        let mut auto = Pacer::new(ConcurrencySetting::Auto, Duration::from_secs(30));
        let (a, b) = (auto.on_launch(), auto.on_launch());
        auto.on_lost_handshake(a);
        auto.on_lost_handshake(b);
        assert_eq!(auto.concurrency(), AUTO_START / 2, "once for the same load");
        let mut fixed = Pacer::new(ConcurrencySetting::Fixed(32), Duration::from_secs(30));
        let l = fixed.on_launch();
        fixed.on_lost_handshake(l);
        assert_eq!(fixed.concurrency(), 32);
    }

    #[test]
    fn auto_never_exceeds_its_ceiling() {
        let mut p = Pacer::new(ConcurrencySetting::Auto, Duration::from_secs(30));
        for _ in 0..10_000 {
            p.on_finished(Some(ms(1)));
        }
        assert_eq!(p.concurrency(), AUTO_MAX);
    }

    #[test]
    fn probe_waits_grow_to_the_server_idle_timeout_and_the_busy_timeout_ends_it() {
        let t0 = Instant::now();
        let mut p = Pacer::new(ConcurrencySetting::Fixed(4), Duration::from_secs(2));
        assert_eq!(p.on_probe_busy(t0, Some(ms(300))), Busyness::BusyNow { wait: ms(100) });
        assert_eq!(p.concurrency(), 2);
        assert_eq!(p.on_probe_busy(t0 + ms(200), Some(ms(300))), Busyness::StillBusy { wait: ms(200) });
        assert_eq!(p.on_probe_busy(t0 + ms(500), Some(ms(300))), Busyness::StillBusy { wait: ms(300) });
        assert_eq!(p.on_probe_busy(t0 + ms(900), None), Busyness::StillBusy { wait: ms(800) });
        assert_eq!(
            p.on_probe_busy(t0 + ms(2100), None),
            Busyness::TimedOut { busy_for: ms(2100), refused: 0, probes: 5 }
        );
    }

    #[test]
    fn limits_fit_the_probes_within_floor_and_ceiling() {
        let (floor, ceiling, cap) = (ms(400), ms(2000), ms(5000));
        let none = HandshakeTimes::default();
        assert_eq!(fit_limits(&none, floor, ceiling, cap, false), Limits { idle: floor, handshake: ms(800) });
        let mut fast = HandshakeTimes::default();
        fast.on_handshake(ms(5));
        assert_eq!(fit_limits(&fast, floor, ceiling, cap, false).idle, floor);
        let mut slow = HandshakeTimes::default();
        slow.on_handshake(ms(150)); // PTO 150 + 4 * 75 = 450
        assert_eq!(fit_limits(&slow, floor, ceiling, cap, false), Limits { idle: ms(1350), handshake: ms(2700) });
        assert_eq!(fit_limits(&slow, floor, ceiling, cap, true).idle, floor, "--fixed-idle keeps --idle-ms");
        let mut very_slow = HandshakeTimes::default();
        very_slow.on_handshake(ms(1500));
        assert_eq!(fit_limits(&very_slow, floor, ceiling, cap, false), Limits { idle: ceiling, handshake: ms(4000) });
    }
}
