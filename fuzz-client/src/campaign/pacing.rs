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
//! - **The concurrency**: a fixed `--concurrency N` is halved on a refusal (once for the
//!   connections launched at the same load) and raised again by one per round without one, up
//!   to N (additive increase, multiplicative decrease, as TCP's congestion avoidance, RFC 5681
//!   §3.1); a round is a quarter of the concurrency in finished connections, at least
//!   [`MIN_ROUND`]. `--concurrency auto` searches for the level that finishes the most
//!   connections per second without overloading the server ([`auto`]).
//! - **Timeouts that fit the server** ([`fit_limits`]): the idle limit is [`IDLE_PTOS`] probe
//!   timeouts (RFC 9002 §6.2.1's formula, fed with the clean probes' handshake times, module
//!   `patience`), or [`SILENCE_MARGIN`] times the recently completed connections' longest
//!   silences (their 90th percentile), whichever is longer; never below `--idle-ms` (the floor)
//!   unless `--fixed-idle` makes `--idle-ms` the limit as it is; the handshake limit stays twice
//!   the idle limit. The silences are there for a loaded server that answers requests long
//!   after its handshakes stopped being slow (module `patience` gives the measurements).
//!
//! Pacing changes timing only: which CIDs run, their plans and their mutation decisions are
//! functions of the CIDs. A refused connection is run again with the same CID once the server is
//! ready (the server took no state for it), so a busy server costs time, not coverage.

pub mod auto;

use crate::quic::patience::{SmoothedTimes, SILENCE_MARGIN};
use auto::AutoSearch;
use std::time::{Duration, Instant};

/// Where `--concurrency auto` starts.
pub const AUTO_START: usize = auto::START;
/// The fewest finished connections in a fixed concurrency's round.
pub const MIN_ROUND: usize = 8;
/// The first wait before a probe of a busy server; each further wait doubles.
pub const BUSY_FIRST_WAIT: Duration = Duration::from_millis(100);
/// The longest wait between probes of a busy server whose idle timeout is unknown.
pub const BUSY_MAX_WAIT: Duration = Duration::from_secs(5);
/// The idle limit is this many probe timeouts of the clean probes' handshakes (or
/// [`SILENCE_MARGIN`] times the completed connections' recent longest silences).
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

/// The limits for a server whose clean probes' handshakes give `probes` (RFC 9002 smoothing)
/// and whose recently completed connections were silent up to `recent_silence` (their 90th
/// percentile, module `patience`): [`IDLE_PTOS`] probe timeouts of the probes' handshakes or
/// [`SILENCE_MARGIN`] times `recent_silence`, whichever is longer, at least `floor`
/// (`--idle-ms`), at most `ceiling` (the transport's own idle timeout, which would end the
/// connection anyway); `fixed` keeps `floor`. The handshake limit is twice the idle limit,
/// within `cap` (`--max-conn-ms`).
pub fn fit_limits(
    probes: &SmoothedTimes,
    recent_silence: Option<Duration>,
    floor: Duration,
    ceiling: Duration,
    cap: Duration,
    fixed: bool,
) -> Limits {
    let fitted =
        [probes.pto().map(|p| p * IDLE_PTOS), recent_silence.map(|s| s * SILENCE_MARGIN)].into_iter().flatten().max();
    let idle = match fitted {
        Some(fitted) if !fixed => fitted.min(ceiling).max(floor),
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
    /// A fixed setting's concurrency now (at most its value).
    current: usize,
    /// `--concurrency auto`'s search.
    auto: Option<AutoSearch>,
    /// Launches so far; a refusal of a connection launched before `decreased_at` was caused by
    /// the load before the last decrease and does not decrease again.
    launches: u64,
    decreased_at: u64,
    /// Finished connections in a fixed setting's round.
    round_done: usize,
    busy: Option<Busy>,
    busy_timeout: Duration,
    /// Busy periods so far, for the summary.
    pub busy_periods: u64,
    /// Refusals so far, for the summary.
    pub refusals: u64,
}

impl Pacer {
    pub fn new(setting: ConcurrencySetting, busy_timeout: Duration) -> Self {
        let (current, auto) = match setting {
            ConcurrencySetting::Fixed(n) => (n.max(1), None),
            ConcurrencySetting::Auto => (AUTO_START, Some(AutoSearch::default())),
        };
        Self {
            setting,
            current,
            auto,
            launches: 0,
            decreased_at: 0,
            round_done: 0,
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
        self.auto.as_ref().map_or(self.current, AutoSearch::level)
    }

    /// Whether another connection may start with `in_flight` running.
    pub fn may_launch(&self, in_flight: usize) -> bool {
        self.busy.is_none() && in_flight < self.concurrency()
    }

    /// A connection is launched at `now`; returns its launch number (for [`Self::on_refused`]
    /// and [`Self::on_finished`]).
    pub fn on_launch(&mut self, now: Instant) -> u64 {
        self.launches += 1;
        if let Some(auto) = self.auto.as_mut() {
            auto.on_launch(self.launches, now);
        }
        self.launches
    }

    /// Connection number `launch` finished at `now` (not refused); `handshake` is how long its
    /// handshake took, if it completed one that nothing was mutated in. A fixed setting's round
    /// is a quarter of its concurrency of them (at least [`MIN_ROUND`]), each raising it by one
    /// up to its value; `auto` measures its levels with them.
    pub fn on_finished(&mut self, launch: u64, handshake: Option<Duration>, now: Instant) {
        if let Some(auto) = self.auto.as_mut() {
            if let Some(end) = auto.on_finished(launch, handshake, now, self.launches) {
                tracing::debug!(
                    target: "pacing",
                    "round at concurrency {}: {:.0} conn/s, median clean handshake {:?}; next {}",
                    end.level,
                    end.rate,
                    end.median_handshake,
                    end.next
                );
            }
            return;
        }
        self.round_done += 1;
        if self.round_done >= (self.current / 4).max(MIN_ROUND) {
            self.round_done = 0;
            if let ConcurrencySetting::Fixed(n) = self.setting {
                self.current = (self.current + 1).min(n.max(1));
            }
        }
    }

    /// Lowers the concurrency for the load connection `launch` saw: `auto` halves (once per
    /// level), a fixed setting halves (once for the connections launched at the same load).
    /// Only a refusal (or a busy probe) says so: a clean handshake that timed out does not, since
    /// a fuzzing server mangles its side of clean handshakes too (`auto` sees an overloaded
    /// server in its rate and its handshake times).
    fn overloaded(&mut self, launch: u64) {
        if let Some(auto) = self.auto.as_mut() {
            if auto.on_loss(launch, self.launches) {
                tracing::debug!(target: "pacing", "overload: concurrency {}", auto.level());
            }
        } else if launch > self.decreased_at {
            self.current = (self.current / 2).max(1);
            self.decreased_at = self.launches;
            self.round_done = 0;
        }
    }

    /// Connection number `launch` was refused (CONNECTION_REFUSED). Halves the concurrency
    /// (once for the connections launched at the same load) and begins a busy period if none
    /// runs; `server_idle` is the server's announced idle timeout, if known.
    pub fn on_refused(&mut self, launch: u64, now: Instant, server_idle: Option<Duration>) -> Busyness {
        self.refusals += 1;
        self.overloaded(launch);
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
                self.overloaded(u64::MAX);
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

    /// Clean probes got no answer at all. A server that refused connections and then fell
    /// silent while busy may still be shedding the connections it holds: RFC 9000 §10.1 lets it
    /// forget them only after its idle timeout, so it gets at least that timeout (counted from
    /// the start of the busy period, and within `--busy-timeout`) before it counts as down.
    /// `Some(wait)`: probe again after it; `None`: down.
    pub fn on_probe_silent(&mut self, now: Instant, server_idle: Option<Duration>) -> Option<Duration> {
        let idle = server_idle.filter(|d| !d.is_zero())?;
        let b = self.busy.as_mut()?;
        let busy_for = now.saturating_duration_since(b.since);
        let patience = (idle + BUSY_FIRST_WAIT).min(self.busy_timeout);
        if busy_for >= patience {
            return None;
        }
        b.probes += 1;
        Some(self.next_wait(server_idle).min(patience - busy_for).max(BUSY_FIRST_WAIT))
    }

    /// A fresh server replaced the one that went down: whatever busy period ran was the old
    /// server's. The concurrency stays where it is (the same program, under the same load).
    pub fn on_server_restarted(&mut self) {
        self.busy = None;
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
    fn silence_after_refusals_waits_out_the_servers_idle_timeout() {
        let t0 = Instant::now();
        let mut p = Pacer::new(ConcurrencySetting::Fixed(8), Duration::from_secs(60));
        assert_eq!(p.on_probe_silent(t0, Some(ms(10_000))), None, "silent without a busy period: down");
        assert!(matches!(p.on_refused(1, t0, Some(ms(10_000))), Busyness::BusyNow { .. }));
        assert_eq!(p.on_probe_silent(t0 + ms(500), None), None, "no idle timeout known: down");
        let wait = p.on_probe_silent(t0 + ms(500), Some(ms(10_000))).expect("within its idle timeout");
        assert!(wait >= BUSY_FIRST_WAIT && wait <= ms(10_000), "{wait:?}");
        assert_eq!(p.on_probe_silent(t0 + ms(10_000) + BUSY_FIRST_WAIT, Some(ms(10_000))), None, "past it: down");
        let mut short = Pacer::new(ConcurrencySetting::Fixed(8), Duration::from_secs(2));
        short.on_refused(1, t0, Some(ms(10_000)));
        assert_eq!(short.on_probe_silent(t0 + ms(2_000), Some(ms(10_000))), None, "--busy-timeout bounds it");
        p.on_server_restarted();
        assert!(p.may_launch(0), "a fresh server is not busy");
    }

    #[test]
    fn a_refusal_halves_once_per_load_and_pauses_until_a_probe_completes() {
        let t0 = Instant::now();
        let mut p = Pacer::new(ConcurrencySetting::Fixed(64), Duration::from_secs(30));
        let launches: Vec<u64> = (0..64).map(|_| p.on_launch(Instant::now())).collect();
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
        let later = p.on_launch(Instant::now());
        p.on_refused(later, t0, None);
        assert_eq!(p.concurrency(), 16);
        assert_eq!((p.busy_periods, p.refusals), (2, 3));
    }

    #[test]
    fn fixed_concurrency_recovers_by_one_per_round_up_to_its_value() {
        let mut p = Pacer::new(ConcurrencySetting::Fixed(8), Duration::from_secs(30));
        let l = p.on_launch(Instant::now());
        p.on_refused(l, Instant::now(), None);
        p.on_probe_ok(Instant::now());
        assert_eq!(p.concurrency(), 4);
        for _ in 0..MIN_ROUND {
            let l = p.on_launch(Instant::now());
            p.on_finished(l, Some(ms(5)), Instant::now());
        }
        assert_eq!(p.concurrency(), 5);
        for _ in 0..100 {
            let l = p.on_launch(Instant::now());
            p.on_finished(l, Some(ms(500)), Instant::now());
        }
        assert_eq!(p.concurrency(), 8, "latency does not lower a fixed concurrency, and it never exceeds it");
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
        let none = SmoothedTimes::default();
        let probes = |sample| {
            let mut t = SmoothedTimes::default();
            t.on_sample(sample);
            t
        };
        let fit = |probes: &SmoothedTimes, fixed| fit_limits(probes, None, floor, ceiling, cap, fixed);
        assert_eq!(fit(&none, false), Limits { idle: floor, handshake: ms(800) });
        assert_eq!(fit(&probes(ms(5)), false).idle, floor);
        let slow = probes(ms(150)); // PTO 150 + 4 * 75 = 450
        assert_eq!(fit(&slow, false), Limits { idle: ms(1350), handshake: ms(2700) });
        assert_eq!(fit(&slow, true).idle, floor, "--fixed-idle keeps --idle-ms");
        assert_eq!(fit(&probes(ms(1500)), false), Limits { idle: ceiling, handshake: ms(4000) });
    }

    #[test]
    fn slow_answers_after_fast_handshakes_lengthen_the_idle_limit() {
        let (floor, ceiling, cap) = (ms(400), ms(2000), ms(5000));
        let mut probes = SmoothedTimes::default();
        probes.on_sample(ms(10));
        let fit = |silence: u64, fixed| fit_limits(&probes, Some(ms(silence)), floor, ceiling, cap, fixed).idle;
        assert_eq!(fit(20, false), floor, "a fast server keeps the floor");
        // Loaded: answers take up to 370 ms (aioquic's at concurrency 64).
        assert_eq!(fit(370, false), ms(370) * SILENCE_MARGIN);
        assert_eq!(fit(1500, false), ceiling);
        assert_eq!(fit(370, true), floor, "--fixed-idle keeps --idle-ms");
    }
}
