//! Triage below the culprit: shrink one connection's mutated contents to a smallest set that
//! still kills a fresh server.
//!
//! A connection's mutations are decisions keyed by content ([`crate::content::ContentId`]): a
//! fuzzer restricted to some of its contents ([`crate::fuzzer::ConnectionFuzzer::restricted_to`])
//! makes exactly the decisions the unrestricted one makes for those, and none for the others. So
//! "which of its mutations does it take" is a search over subsets of its contents, and the
//! search here is delta debugging's `ddmin` (A. Zeller and R. Hildebrandt, "Simplifying and
//! Isolating Failure-Inducing Input", IEEE Transactions on Software Engineering 28(2), 2002,
//! §3.3): split the current set into `n` parts; if a part alone still fails, keep it (and split in
//! two again); else if the set without a part still fails, keep that complement (and `n - 1`
//! parts); else split finer (`2n`, at most one element a part); once every complement of a single
//! element passes, the set is *1-minimal*: removing any one content makes the crash go away.
//!
//! Sans-I/O, like [`crate::bisect::Bisector`]: the [`Minimizer`] proposes trials (a subset of the
//! contents, to mutate alone against a fresh server) and is told whether each one killed the
//! server; it ends with a [`Verdict`]. Before the search it checks the whole set (else the crash
//! did not reproduce) and the empty set (a connection that kills with nothing mutated needs none
//! of its mutations). A subset is never run twice: outcomes are remembered (ddmin's subsets and
//! complements coincide when `n` is 2). The result is 1-minimal for any deterministic oracle, and
//! is exactly the needed set for a monotone one; trials are at most `|c|² + 3|c|` (Zeller and
//! Hildebrandt's worst case) plus the two checks, and about `2 log2 |c|` when one content does it.

/// What the search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict<T> {
    /// The whole set did not kill the server.
    NotReproduced,
    /// `kept` (in the order of the contents given) kills the server, and no set with one of its
    /// contents fewer does (1-minimal); empty when the connection kills with nothing mutated.
    Minimal { kept: Vec<T> },
}

#[derive(Clone, Debug)]
enum Phase {
    /// Does the whole set kill the server?
    Confirm,
    /// Does the empty set (nothing mutated)?
    Empty,
    /// Part `i` of the `n` parts of the current set, alone.
    Part {
        i: usize,
    },
    /// The current set without part `i`.
    Complement {
        i: usize,
    },
    Done,
}

/// The search state; see the module documentation.
#[derive(Clone, Debug)]
pub struct Minimizer<T> {
    all: Vec<T>,
    /// The smallest set known to kill, as indices into `all` (ascending).
    current: Vec<usize>,
    /// How many parts the current set is split into.
    n: usize,
    phase: Phase,
    /// Every subset run so far, with its outcome.
    tested: Vec<(Vec<usize>, bool)>,
    trials: u32,
}

impl<T: Clone> Minimizer<T> {
    /// A search over `contents` (each once; their order is kept in every trial and the verdict).
    pub fn new(contents: Vec<T>) -> Self {
        let current = (0..contents.len()).collect();
        Self { all: contents, current, n: 2, phase: Phase::Confirm, tested: Vec::new(), trials: 0 }
    }

    /// The subset to run next, or `None` once there is a verdict.
    pub fn next_trial(&self) -> Option<Vec<T>> {
        self.candidate().map(|set| set.iter().map(|&i| self.all[i].clone()).collect())
    }

    /// Records the outcome of the trial [`Self::next_trial`] proposed.
    pub fn record(&mut self, killed_server: bool) {
        let Some(set) = self.candidate() else { return };
        self.trials += 1;
        self.tested.push((set, killed_server));
        self.apply(killed_server);
        // Subsets already run are not run again: their outcomes move the search on.
        while let Some(known) = self.candidate().and_then(|set| self.outcome_of(&set)) {
            self.apply(known);
        }
    }

    /// The verdict, once the search is over.
    pub fn verdict(&self) -> Option<Verdict<T>> {
        match self.phase {
            Phase::Done if self.tested.first().is_some_and(|(_, killed)| !killed) => Some(Verdict::NotReproduced),
            Phase::Done => Some(Verdict::Minimal { kept: self.current.iter().map(|&i| self.all[i].clone()).collect() }),
            _ => None,
        }
    }

    /// How many trials have been recorded so far.
    pub fn trials(&self) -> u32 {
        self.trials
    }

    /// The contents the search is over.
    pub fn contents(&self) -> &[T] {
        &self.all
    }

    /// The smallest set known so far to kill the server (the whole set before the first trial).
    pub fn best(&self) -> Vec<T> {
        self.current.iter().map(|&i| self.all[i].clone()).collect()
    }

    fn outcome_of(&self, set: &[usize]) -> Option<bool> {
        self.tested.iter().find(|(s, _)| s == set).map(|(_, killed)| *killed)
    }

    /// Part `i` of the current set split into `n` consecutive parts of nearly equal sizes.
    fn part(&self, i: usize) -> &[usize] {
        let len = self.current.len();
        &self.current[i * len / self.n..(i + 1) * len / self.n]
    }

    fn candidate(&self) -> Option<Vec<usize>> {
        match self.phase {
            Phase::Confirm => Some(self.current.clone()),
            Phase::Empty => Some(Vec::new()),
            Phase::Part { i } => Some(self.part(i).to_vec()),
            Phase::Complement { i } => {
                let part = self.part(i);
                Some(self.current.iter().copied().filter(|x| !part.contains(x)).collect())
            }
            Phase::Done => None,
        }
    }

    /// Moves on from the current candidate, whose outcome is `killed`.
    fn apply(&mut self, killed: bool) {
        self.phase = match self.phase {
            Phase::Confirm if !killed || self.current.is_empty() => Phase::Done,
            Phase::Confirm => Phase::Empty,
            Phase::Empty if killed => {
                self.current.clear();
                Phase::Done
            }
            Phase::Empty => self.split(2),
            Phase::Part { i } if killed => {
                self.current = self.part(i).to_vec();
                self.split(2)
            }
            Phase::Part { i } if i + 1 < self.n => Phase::Part { i: i + 1 },
            Phase::Part { .. } => Phase::Complement { i: 0 },
            Phase::Complement { .. } if killed => {
                let n = self.n;
                self.current = self.candidate().expect("a complement");
                self.split((n - 1).max(2))
            }
            Phase::Complement { i } if i + 1 < self.n => Phase::Complement { i: i + 1 },
            Phase::Complement { .. } if self.n < self.current.len() => self.split(2 * self.n),
            Phase::Complement { .. } => Phase::Done,
            Phase::Done => Phase::Done,
        };
    }

    /// Splits the current set into `n` parts (at most one element each), or ends the search when
    /// it has a single element: the empty set is known not to kill, so it is 1-minimal.
    fn split(&mut self, n: usize) -> Phase {
        if self.current.len() <= 1 {
            return Phase::Done;
        }
        self.n = n.min(self.current.len());
        Phase::Part { i: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// Runs the search with `oracle`; every trial is a subset of the contents in their order.
    fn search(n: u32, mut oracle: impl FnMut(&[u32]) -> bool) -> (Verdict<u32>, u32) {
        let mut m = Minimizer::new((0..n).collect());
        let mut seen = BTreeSet::new();
        while let Some(t) = m.next_trial() {
            assert!(t.windows(2).all(|w| w[0] < w[1]), "{t:?} keeps the order");
            assert!(seen.insert(t.clone()), "{t:?} was run before");
            let killed = oracle(&t);
            m.record(killed);
        }
        (m.verdict().expect("a verdict"), m.trials())
    }

    fn needs(needed: &[u32]) -> impl Fn(&[u32]) -> bool + '_ {
        move |t: &[u32]| needed.iter().all(|x| t.contains(x))
    }

    #[test]
    fn one_content_out_of_several() {
        let (verdict, trials) = search(8, needs(&[5]));
        assert_eq!(verdict, Verdict::Minimal { kept: vec![5] });
        // Confirm, empty, then two halvings of 2 trials and one of at most 2.
        assert!(trials <= 2 + 2 * 3, "{trials}");
        assert_eq!(search(1, needs(&[0])), (Verdict::Minimal { kept: vec![0] }, 2));
    }

    #[test]
    fn two_contents_together() {
        assert_eq!(search(6, needs(&[1, 4])).0, Verdict::Minimal { kept: vec![1, 4] });
        assert_eq!(search(2, needs(&[0, 1])).0, Verdict::Minimal { kept: vec![0, 1] });
    }

    #[test]
    fn not_reproduced_and_nothing_needed() {
        assert_eq!(search(5, |_| false), (Verdict::NotReproduced, 1));
        assert_eq!(search(5, |_| true), (Verdict::Minimal { kept: vec![] }, 2), "the clean connection kills too");
        assert_eq!(search(0, |_| true), (Verdict::Minimal { kept: vec![] }, 1));
        assert_eq!(search(0, |_| false), (Verdict::NotReproduced, 1));
    }

    #[test]
    fn best_so_far_shrinks() {
        let mut m = Minimizer::new(vec!['a', 'b', 'c', 'd']);
        assert_eq!(m.best(), vec!['a', 'b', 'c', 'd']);
        assert_eq!(m.next_trial(), Some(vec!['a', 'b', 'c', 'd']));
        m.record(true);
        assert_eq!(m.next_trial(), Some(vec![]));
        m.record(false);
        assert_eq!(m.next_trial(), Some(vec!['a', 'b']));
        m.record(false);
        assert_eq!(m.next_trial(), Some(vec!['c', 'd']));
        m.record(true);
        assert_eq!(m.best(), vec!['c', 'd']);
        assert_eq!(m.verdict(), None);
    }

    proptest! {
        /// With a monotone oracle (the server dies once it sees every needed content), the
        /// result is exactly the needed set: it kills, and it is 1-minimal.
        #[test]
        fn monotone_oracles_give_the_needed_set(
            n in 1u32..40,
            picks in proptest::collection::vec(any::<proptest::sample::Index>(), 1..4),
        ) {
            let needed: BTreeSet<u32> = picks.iter().map(|i| i.index(n as usize) as u32).collect();
            let needed: Vec<u32> = needed.into_iter().collect();
            let (verdict, trials) = search(n, needs(&needed));
            prop_assert_eq!(verdict, Verdict::Minimal { kept: needed.clone() });
            let c = n;
            prop_assert!(trials <= 2 + c * c + 3 * c, "{} trials for {} contents", trials, c);
            if needed.len() == 1 {
                let log2 = 32 - (n - 1).leading_zeros();
                prop_assert!(trials <= 2 + 2 * log2, "{} trials for one content of {}", trials, n);
            }
        }

        /// Any deterministic oracle, even one that is not monotone (a crash that needs some
        /// contents and is prevented by others): the result kills and is 1-minimal.
        #[test]
        fn any_oracle_gives_a_one_minimal_result(n in 1u32..24, salt in any::<u64>()) {
            let oracle = |t: &[u32]| {
                if t.len() as u32 == n {
                    return true;
                }
                let h = t.iter().fold(salt, |h, x| (h ^ *x as u64).wrapping_mul(0x100000001b3));
                h % 3 == 0
            };
            let (verdict, trials) = search(n, oracle);
            let Verdict::Minimal { kept } = verdict else { panic!("the whole set kills") };
            prop_assert!(oracle(&kept));
            if !kept.is_empty() {
                for i in 0..kept.len() {
                    let mut less = kept.clone();
                    less.remove(i);
                    prop_assert!(!oracle(&less), "{:?} without {} still kills", kept, kept[i]);
                }
            }
            prop_assert!(trials <= 2 + n * n + 3 * n, "{} trials for {} contents", trials, n);
        }
    }
}
