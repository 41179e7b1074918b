//! Triage: narrow a stretch of the chain that kills the server down to the shortest window of
//! connections that still kills it, ideally a single CID.
//!
//! Sans-I/O: the [`Bisector`] proposes [`Trial`]s (run connections `start..start+count` of the
//! chain against a fresh server) and is told whether each one killed the server. The caller runs
//! the trials however it likes; the search itself is pure and tested here without sockets.
//!
//! The search assumes the server dies once some set of connections has been seen, however many
//! others ran in between. It first finds the shortest prefix that kills the server (its last
//! connection is the one that delivers the blow), then the latest start from which that end
//! still kills it. A window of one connection is a single culprit; a longer window means the
//! crash needs state that the earlier connections accumulated, and is reported as such rather
//! than hidden.

/// One run of `count` connections of the chain, starting at sequence number `start`, each on a
/// fresh server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trial {
    pub start: u64,
    pub count: u64,
}

impl Trial {
    pub fn end(&self) -> u64 {
        self.start + self.count
    }
}

/// What the search found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The first trial, the whole window, did not kill the server: the crash did not reproduce.
    NotReproduced,
    /// Connection `seq` alone kills a fresh server.
    SingleCulprit { seq: u64 },
    /// The server dies only after the connections `start..start+count` (more than one): the last
    /// one delivers the blow, but it needs state the earlier ones left behind.
    NeedsHistory { start: u64, count: u64 },
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Does the whole window kill the server at all?
    Confirm,
    /// Binary search for the shortest prefix `[start, end)` that kills: `[start, lo)` did not
    /// (or is empty), `[start, hi)` did.
    ShrinkEnd {
        lo: u64,
        hi: u64,
    },
    /// Binary search for the latest start with the end fixed: `[lo, end)` killed, `[hi, end)` did
    /// not (or is empty).
    ShrinkStart {
        end: u64,
        lo: u64,
        hi: u64,
    },
    Done(Verdict),
}

/// The search state; see the module documentation.
#[derive(Clone, Debug)]
pub struct Bisector {
    start: u64,
    count: u64,
    phase: Phase,
    trials: u32,
}

impl Bisector {
    /// A search over connections `start..start+count`. `count` must be at least 1.
    pub fn new(start: u64, count: u64) -> Self {
        assert!(count >= 1, "a bisection needs at least one connection");
        Self { start, count, phase: Phase::Confirm, trials: 0 }
    }

    /// The trial to run next, or `None` once there is a verdict.
    pub fn next_trial(&self) -> Option<Trial> {
        let (start, end) = match self.phase {
            Phase::Confirm => (self.start, self.start + self.count),
            Phase::ShrinkEnd { lo, hi } => (self.start, lo + (hi - lo) / 2),
            Phase::ShrinkStart { end, lo, hi } => (lo + (hi - lo).div_ceil(2), end),
            Phase::Done(_) => return None,
        };
        Some(Trial { start, count: end - start })
    }

    /// Records the outcome of the trial [`Self::next_trial`] proposed.
    pub fn record(&mut self, killed_server: bool) {
        let Some(trial) = self.next_trial() else { return };
        self.trials += 1;
        self.phase = match self.phase {
            Phase::Confirm if !killed_server => Phase::Done(Verdict::NotReproduced),
            Phase::Confirm => Self::shrink_end(self.start, self.start, trial.end()),
            Phase::ShrinkEnd { lo, hi } => {
                let mid = trial.end();
                if killed_server {
                    Self::shrink_end(self.start, lo, mid)
                } else {
                    Self::shrink_end(self.start, mid, hi)
                }
            }
            Phase::ShrinkStart { end, lo, hi } => {
                let mid = trial.start;
                if killed_server {
                    Self::shrink_start(end, mid, hi)
                } else {
                    Self::shrink_start(end, lo, mid)
                }
            }
            done @ Phase::Done(_) => done,
        };
    }

    fn shrink_end(start: u64, lo: u64, hi: u64) -> Phase {
        if hi - lo > 1 {
            Phase::ShrinkEnd { lo, hi }
        } else {
            // `[start, hi)` is the shortest killing prefix; now move its start up.
            Self::shrink_start(hi, start, hi)
        }
    }

    fn shrink_start(end: u64, lo: u64, hi: u64) -> Phase {
        if hi - lo > 1 {
            Phase::ShrinkStart { end, lo, hi }
        } else if end - lo == 1 {
            Phase::Done(Verdict::SingleCulprit { seq: lo })
        } else {
            Phase::Done(Verdict::NeedsHistory { start: lo, count: end - lo })
        }
    }

    pub fn verdict(&self) -> Option<Verdict> {
        match self.phase {
            Phase::Done(v) => Some(v),
            _ => None,
        }
    }

    /// How many trials have been recorded so far.
    pub fn trials(&self) -> u32 {
        self.trials
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Runs the search against a model server that dies once it has seen every connection in
    /// `needed` (and never otherwise).
    fn search(start: u64, count: u64, needed: &[u64]) -> (Verdict, u32) {
        let mut b = Bisector::new(start, count);
        while let Some(t) = b.next_trial() {
            assert!(t.count >= 1 && t.start >= start && t.end() <= start + count, "{t:?}");
            let killed = needed.iter().all(|s| (t.start..t.end()).contains(s));
            b.record(killed);
        }
        (b.verdict().unwrap(), b.trials())
    }

    #[test]
    fn single_culprit() {
        assert_eq!(search(100, 1000, &[537]).0, Verdict::SingleCulprit { seq: 537 });
        assert_eq!(search(100, 1, &[100]).0, Verdict::SingleCulprit { seq: 100 });
        assert_eq!(search(0, 10, &[9]).0, Verdict::SingleCulprit { seq: 9 });
        assert_eq!(search(0, 10, &[0]).0, Verdict::SingleCulprit { seq: 0 });
    }

    #[test]
    fn accumulated_state_is_reported_not_hidden() {
        assert_eq!(search(0, 500, &[40, 41, 300]).0, Verdict::NeedsHistory { start: 40, count: 261 });
    }

    #[test]
    fn no_crash() {
        let mut b = Bisector::new(5, 10);
        b.record(false);
        assert_eq!(b.verdict(), Some(Verdict::NotReproduced));
        assert_eq!(b.next_trial(), None);
    }

    proptest! {
        #[test]
        fn finds_the_tightest_window_in_logarithmic_trials(
            start in 0u64..1_000_000,
            count in 1u64..5000,
            picks in proptest::collection::vec(any::<proptest::sample::Index>(), 1..4),
        ) {
            let needed: Vec<u64> = picks.iter().map(|i| start + i.index(count as usize) as u64).collect();
            let lo = *needed.iter().min().unwrap();
            let hi = *needed.iter().max().unwrap();
            let (verdict, trials) = search(start, count, &needed);
            let expected = if lo == hi {
                Verdict::SingleCulprit { seq: lo }
            } else {
                Verdict::NeedsHistory { start: lo, count: hi - lo + 1 }
            };
            prop_assert_eq!(verdict, expected);
            let log2 = 64 - count.leading_zeros();
            prop_assert!(trials <= 1 + 2 * log2, "{} trials for {} connections", trials, count);
        }
    }
}
