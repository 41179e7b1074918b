//! How long a connection that has mutated something may stay silent before the fuzzer abandons
//! it, learnt from the connections of the campaign so far.
//!
//! Since derivation v2 a retransmission carries the same mutation as the original (the decision
//! is keyed by what a frame carries), so a handshake the server stopped answering does not get
//! unstuck by waiting: a mutated ClientHello the server dropped is dropped again each probe
//! timeout (RFC 9002 §6.2.4), and a mutated Handshake flight stays unreadable. Waiting a whole
//! idle period (`--idle-ms`) for each of them was most of a fuzzed campaign's time. Once the
//! endpoint knows how long handshakes with this server take, a silence of a few probe timeouts
//! computed from those times is enough to tell a stalled handshake from a slow one.
//!
//! The estimate is the RTT estimator of RFC 9002 §5.3 fed with whole handshake times (the time
//! from the connection's start to the handshake's completion, clean or fuzzed, probes included):
//! a handshake time is at least the time to the server's first answer, so the estimate errs on
//! the patient side, and it grows with the server's load. The limit is that of §6.2.1's probe
//! timeout, `smoothed + max(4 * variation, granularity)`, times [`SILENT_PTOS`], never below
//! [`MIN_SILENCE`] and never above the idle period.
//!
//! A loaded server is slow to answer requests long after its handshakes stopped being slow (an
//! event loop that finishes handshakes first, or a request queued behind others): against
//! aioquic at concurrency 64, whose single Python thread was saturated, clean handshakes took
//! 12 ms and a request's answer up to 470 ms. So once a connection's handshake completed, the
//! limit is also at least [`SILENCE_MARGIN`] times the [`RecentSilences`]: the 90th percentile
//! of the recently completed connections' longest silences (the longest wait between two
//! packets from the server: a silence the server ended itself in an exchange that went
//! through). The start-up probes' wait for their answer is the first sample, so that a `replay`
//! and the first connections of a campaign wait as the later ones do. The margin is wide
//! because the sample is censored: a silence past the limit ended its connection, so it is not
//! among them. In such a campaign of 2000 connections, 119 of the 433 that timed out completed
//! or were closed by the server when run alone; with the percentile, 16 to 22 of about 330. A
//! percentile, not RFC 9002's smoothing: against a fast server that fuzzes its own packets,
//! most silences are a millisecond and a few are its retransmission timer, and
//! `smoothed + 4 * variation` of those made every stalled connection wait twice as long (12%
//! fewer connections per second; the percentile costs none there).
//!
//! The limit applies only to a connection that has mutated something: a silence after mutations
//! is most likely their doing, while one without is loss or load, which retransmissions at the
//! probe timeout of the client's initial RTT repair (a clean connection whose first Initial was
//! lost is answered after about 150 ms), so it waits the whole idle period as before. Only when
//! a connection gives up depends on the clock: what it sends, and so its mutation decisions,
//! stays a function of its CID.

use std::collections::VecDeque;
use std::time::Duration;

/// Probe timeouts of the handshakes' times after which a silence abandons a connection ...
pub const SILENT_PTOS: u32 = 4;
/// ... unless it is shorter than this many times the [`RecentSilences`] (also a floor of the
/// campaign's idle limit, module `pacing`).
pub const SILENCE_MARGIN: u32 = 4;
/// How many completed connections [`RecentSilences`] remembers.
pub const RECENT: usize = 128;
/// The shortest silence that abandons a connection: scheduling on a loaded machine alone delays
/// answers by tens of milliseconds.
pub const MIN_SILENCE: Duration = Duration::from_millis(50);
/// RFC 9002 §6.1.2: kGranularity, the timer granularity.
const GRANULARITY: Duration = Duration::from_millis(1);

/// RFC 9002 §5.3's smoothed estimate and variation, here of whole handshake times (this
/// module's limit, and the clean probes' in module `pacing`), which grow with the server's
/// load as a round trip does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SmoothedTimes {
    /// `None` before the first sample.
    estimate: Option<(Duration, Duration)>,
}

impl SmoothedTimes {
    /// Takes one sample (RFC 9002 §5.3: the first sample sets
    /// smoothed = sample and variation = sample / 2; later ones are averaged in with weights
    /// 1/8 and 1/4).
    pub fn on_sample(&mut self, sample: Duration) {
        self.estimate = Some(match self.estimate {
            None => (sample, sample / 2),
            Some((smoothed, variation)) => {
                let deviation = smoothed.abs_diff(sample);
                (smoothed * 7 / 8 + sample / 8, variation * 3 / 4 + deviation / 4)
            }
        });
    }

    /// The smoothed estimate, `None` before the first sample.
    pub fn smoothed(&self) -> Option<Duration> {
        self.estimate.map(|(smoothed, _)| smoothed)
    }

    /// The probe timeout of RFC 9002 §6.2.1 computed from the samples, `None` before the first.
    pub fn pto(&self) -> Option<Duration> {
        self.estimate.map(|(smoothed, variation)| smoothed + (variation * 4).max(GRANULARITY))
    }
}

/// The longest wait between two packets from the server in each of the last [`RECENT`]
/// completed connections that made requests, and the 90th percentile of those waits: how long
/// this server has lately been silent in exchanges that went through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecentSilences {
    samples: VecDeque<Duration>,
    high: Option<Duration>,
}

impl RecentSilences {
    pub fn on_sample(&mut self, longest_silence: Duration) {
        if self.samples.len() == RECENT {
            self.samples.pop_front();
        }
        self.samples.push_back(longest_silence);
        let mut sorted: Vec<Duration> = self.samples.iter().copied().collect();
        sorted.sort_unstable();
        // The nearest-rank percentile: of two samples, the longer (a floor would take the
        // shorter, and a connection without requests would hide a slow answer).
        self.high = Some(sorted[(sorted.len() * 9).div_ceil(10) - 1]);
    }

    /// The 90th percentile, `None` before the first sample.
    pub fn high(&self) -> Option<Duration> {
        self.high
    }
}

/// What the endpoint has learnt of the server's speed from every connection through it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerSpeed {
    /// Whole handshake times, from each connection's start.
    pub handshakes: SmoothedTimes,
    /// The completed connections' longest silences.
    pub silences: RecentSilences,
}

impl ServerSpeed {
    /// How long a connection that mutated something may stay silent in its handshake, given
    /// the idle period: the whole idle period before the first handshake completed, else
    /// [`SILENT_PTOS`] probe timeouts of the handshakes, within [`MIN_SILENCE`]..=`idle`.
    pub fn handshake_silence(&self, idle: Duration) -> Duration {
        match self.handshakes.pto() {
            None => idle,
            Some(pto) => (pto * SILENT_PTOS).max(MIN_SILENCE).min(idle),
        }
    }

    /// The same once its handshake completed, when the server has requests to answer: at least
    /// [`SILENCE_MARGIN`] times the recent silences, within `idle`.
    pub fn answer_silence(&self, idle: Duration) -> Duration {
        let silences = self.silences.high().unwrap_or_default();
        self.handshake_silence(idle).max(silences * SILENCE_MARGIN).min(idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn after_handshakes(samples: &[u64]) -> ServerSpeed {
        let mut speed = ServerSpeed::default();
        for &s in samples {
            speed.handshakes.on_sample(ms(s));
        }
        speed
    }

    #[test]
    fn recent_silences_forget_the_oldest_and_take_the_90th_percentile() {
        let mut r = RecentSilences::default();
        assert_eq!(r.high(), None);
        r.on_sample(ms(150));
        r.on_sample(ms(1));
        assert_eq!(r.high(), Some(ms(150)), "of two, the longer");
        let mut r = RecentSilences::default();
        r.on_sample(ms(7));
        assert_eq!(r.high(), Some(ms(7)));
        for k in 1..=100 {
            r.on_sample(ms(k));
        }
        // 101 samples: 1..=100 and 7; the 90th percentile is at index 90 of the sorted list.
        assert_eq!(r.high(), Some(ms(90)));
        for _ in 0..RECENT {
            r.on_sample(ms(2));
        }
        assert_eq!(r.high(), Some(ms(2)), "only the last {RECENT} count");
    }

    #[test]
    fn idle_period_until_a_handshake_completed() {
        assert_eq!(ServerSpeed::default().handshake_silence(ms(400)), ms(400));
        let mut silences_only = ServerSpeed::default();
        silences_only.silences.on_sample(ms(5));
        assert_eq!(silences_only.handshake_silence(ms(400)), ms(400));
    }

    #[test]
    fn first_sample_sets_estimate_and_half_variation() {
        let t = after_handshakes(&[10]);
        // smoothed 10, variation 5: PTO 10 + 20 = 30, four of them 120.
        assert_eq!(t.handshakes.pto(), Some(ms(30)));
        assert_eq!(t.handshake_silence(ms(400)), ms(120));
        assert_eq!(t.handshake_silence(ms(100)), ms(100));
    }

    #[test]
    fn later_samples_are_averaged_rfc9002() {
        // smoothed 8*7/8 + 16/8 = 9; variation 4*3/4 + 8/4 = 5.
        assert_eq!(after_handshakes(&[8, 16]).handshakes.pto(), Some(ms(9) + ms(20)));
    }

    #[test]
    fn limit_stays_within_floor_and_idle() {
        let mut fast = ServerSpeed::default();
        fast.handshakes.on_sample(Duration::from_micros(500));
        assert_eq!(fast.handshake_silence(ms(400)), MIN_SILENCE);
        assert_eq!(after_handshakes(&[300]).handshake_silence(ms(400)), ms(400));
    }

    #[test]
    fn load_makes_it_more_patient() {
        let mut t = after_handshakes(&[10; 20]);
        let calm = t.handshake_silence(ms(400));
        for _ in 0..5 {
            t.handshakes.on_sample(ms(60));
        }
        assert!(t.handshake_silence(ms(400)) > calm * 2, "{calm:?} -> {:?}", t.handshake_silence(ms(400)));
    }

    #[test]
    fn slow_answers_after_fast_handshakes_make_it_more_patient() {
        let mut t = after_handshakes(&[10; 20]);
        for _ in 0..20 {
            t.silences.on_sample(ms(5));
        }
        let calm = t.answer_silence(ms(2000));
        let handshakes_alone = after_handshakes(&[10; 20]).handshake_silence(ms(2000));
        assert_eq!(calm, handshakes_alone, "fast answers leave the handshakes' limit");
        // A fast server that fuzzes its own packets: a few silences are its retransmission timer.
        for k in 0..RECENT {
            t.silences.on_sample(ms(if k % 20 == 0 { 100 } else { 1 }));
        }
        assert_eq!(t.answer_silence(ms(2000)), handshakes_alone, "rare long silences leave it too");
        // Answers of 200-390 ms, as aioquic's at concurrency 64.
        for k in 0..RECENT as u64 {
            t.silences.on_sample(ms(200 + 10 * (k % 20)));
        }
        let loaded = t.answer_silence(ms(2000));
        assert_eq!(loaded, ms(370) * SILENCE_MARGIN, "{calm:?} -> {loaded:?}");
        assert_eq!(t.handshake_silence(ms(2000)), handshakes_alone, "handshakes are not kept waiting");
    }
}
