//! How long a handshake may stay silent before the fuzzer abandons it, learnt from the
//! handshakes of the campaign so far.
//!
//! Under derivation v2 a retransmission carries the same mutation as the original (the decision
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
//! The limit applies only to a connection that has mutated something: a silence after mutations
//! is most likely their doing, while one without is loss or load, which retransmissions at the
//! probe timeout of the client's initial RTT repair (a clean connection whose first Initial was
//! lost is answered after about 150 ms), so it waits the whole idle period as before. Only when
//! a connection gives up depends on the clock: what it sends, and so its mutation decisions,
//! stays a function of its CID.

use std::time::Duration;

/// Probe timeouts of silence after which a handshake is abandoned.
pub const SILENT_PTOS: u32 = 4;
/// The shortest silence that abandons a connection: scheduling on a loaded machine alone delays
/// answers by tens of milliseconds.
pub const MIN_SILENCE: Duration = Duration::from_millis(50);
/// RFC 9002 §6.1.2: kGranularity, the timer granularity.
const GRANULARITY: Duration = Duration::from_millis(1);

/// RFC 9002 §5.3's smoothed estimate and variation, of handshake times.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandshakeTimes {
    /// `None` before the first sample.
    estimate: Option<(Duration, Duration)>,
}

impl HandshakeTimes {
    /// Takes one completed handshake's duration (RFC 9002 §5.3: the first sample sets
    /// smoothed = sample and variation = sample / 2; later ones are averaged in with weights
    /// 1/8 and 1/4).
    pub fn on_handshake(&mut self, sample: Duration) {
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

    /// The probe timeout of RFC 9002 §6.2.1 computed from handshake times, `None` before the
    /// first sample.
    pub fn pto(&self) -> Option<Duration> {
        self.estimate.map(|(smoothed, variation)| smoothed + (variation * 4).max(GRANULARITY))
    }

    /// How long a handshake may stay silent, given the idle period: the whole idle period before
    /// the first sample, else [`SILENT_PTOS`] probe timeouts within [`MIN_SILENCE`]..=`idle`.
    pub fn silence_limit(&self, idle: Duration) -> Duration {
        match self.pto() {
            None => idle,
            Some(pto) => (pto * SILENT_PTOS).max(MIN_SILENCE).min(idle),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn idle_period_until_a_handshake_completed() {
        assert_eq!(HandshakeTimes::default().silence_limit(ms(400)), ms(400));
    }

    #[test]
    fn first_sample_sets_estimate_and_half_variation() {
        let mut t = HandshakeTimes::default();
        t.on_handshake(ms(10));
        // smoothed 10, variation 5: PTO 10 + 20 = 30, four of them 120.
        assert_eq!(t.pto(), Some(ms(30)));
        assert_eq!(t.silence_limit(ms(400)), ms(120));
        assert_eq!(t.silence_limit(ms(100)), ms(100));
    }

    #[test]
    fn later_samples_are_averaged_rfc9002() {
        let mut t = HandshakeTimes::default();
        t.on_handshake(ms(8));
        t.on_handshake(ms(16));
        // smoothed 8*7/8 + 16/8 = 9; variation 4*3/4 + 8/4 = 5.
        assert_eq!(t.pto(), Some(ms(9) + ms(20)));
    }

    #[test]
    fn limit_stays_within_floor_and_idle() {
        let mut fast = HandshakeTimes::default();
        fast.on_handshake(Duration::from_micros(500));
        assert_eq!(fast.silence_limit(ms(400)), MIN_SILENCE);
        let mut slow = HandshakeTimes::default();
        slow.on_handshake(ms(300));
        assert_eq!(slow.silence_limit(ms(400)), ms(400));
    }

    #[test]
    fn load_makes_it_more_patient() {
        let mut t = HandshakeTimes::default();
        for _ in 0..20 {
            t.on_handshake(ms(10));
        }
        let calm = t.silence_limit(ms(400));
        for _ in 0..5 {
            t.on_handshake(ms(60));
        }
        assert!(t.silence_limit(ms(400)) > calm * 2, "{calm:?} -> {:?}", t.silence_limit(ms(400)));
    }
}
