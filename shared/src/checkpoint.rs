//! Which connections have finished, so that "every connection before #i is done" is exact.
//!
//! Connections start in chain order (sequence numbers `start, start+1, ...`) and finish in any
//! order. The tracker keeps the lowest sequence number not yet finished (the low-water mark) and
//! the finished ones above it; it forgets everything below the mark, so its memory is bounded by
//! the number of connections in flight, not by the length of the campaign.

use std::collections::BTreeSet;

#[derive(Debug, Clone)]
pub struct CheckpointTracker {
    /// Every sequence number below this one has finished.
    low_water: u64,
    /// Finished sequence numbers above the low-water mark.
    finished_above: BTreeSet<u64>,
}

impl CheckpointTracker {
    /// A tracker for a campaign whose first connection has sequence number `start_seq`.
    pub fn new(start_seq: u64) -> Self {
        Self { low_water: start_seq, finished_above: BTreeSet::new() }
    }

    /// Records that connection `seq` finished. Finishing a connection twice, or one below the
    /// low-water mark, is a caller's bug and is ignored rather than corrupting the mark.
    pub fn finish(&mut self, seq: u64) {
        if seq < self.low_water {
            return;
        }
        self.finished_above.insert(seq);
        while self.finished_above.remove(&self.low_water) {
            self.low_water += 1;
        }
    }

    /// The lowest sequence number that has not finished: every connection before it is done.
    pub fn first_unfinished(&self) -> u64 {
        self.low_water
    }

    /// Whether every connection before `seq` has finished.
    pub fn all_done_before(&self, seq: u64) -> bool {
        self.low_water >= seq
    }

    /// How many finished connections are held above the mark (for memory accounting).
    pub fn pending_out_of_order(&self) -> usize {
        self.finished_above.len()
    }
}

/// Where checkpoints fall: every `every` connections counted from the campaign's first sequence
/// number, so a restarted campaign that keeps the original numbering keeps the same checkpoints.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointSchedule {
    pub every: u64,
}

impl CheckpointSchedule {
    /// The first checkpoint strictly after `seq`.
    pub fn next_after(&self, seq: u64) -> u64 {
        (seq / self.every + 1) * self.every
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn out_of_order_completion() {
        let mut t = CheckpointTracker::new(10);
        t.finish(12);
        t.finish(11);
        assert_eq!(t.first_unfinished(), 10);
        t.finish(10);
        assert_eq!(t.first_unfinished(), 13);
        assert_eq!(t.pending_out_of_order(), 0);
        t.finish(3); // below the mark: ignored
        assert_eq!(t.first_unfinished(), 13);
        assert!(t.all_done_before(13) && !t.all_done_before(14));
    }

    #[test]
    fn schedule() {
        let s = CheckpointSchedule { every: 50 };
        assert_eq!(s.next_after(0), 50);
        assert_eq!(s.next_after(49), 50);
        assert_eq!(s.next_after(50), 100);
    }

    proptest! {
        #[test]
        fn mark_is_exact_under_any_completion_order(
            start in 0u64..1000,
            order in Just((0u64..200).collect::<Vec<_>>()).prop_shuffle(),
            cut in 0usize..=200,
        ) {
            let mut t = CheckpointTracker::new(start);
            let mut done = std::collections::HashSet::new();
            for &i in &order[..cut] {
                t.finish(start + i);
                done.insert(i);
                let expected = (0..).find(|k| !done.contains(k)).unwrap();
                prop_assert_eq!(t.first_unfinished(), start + expected);
                prop_assert!(t.pending_out_of_order() <= done.len());
            }
        }
    }
}
