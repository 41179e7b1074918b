//! Coverage of the server under test, as the client sees it: which edges of the server's code
//! its connections have reached.
//!
//! A target built with AFL++'s instrumentation (`afl-cc`, `afl-clang-fast`) counts the edges it
//! takes in a map of bytes, one per edge, that it writes into the SysV shared memory named by
//! `__AFL_SHM_ID`, even when no afl-fuzz runs it. The client owns the memory, reads the map and
//! zeroes it; what a campaign keeps is [`Seen`]: per edge, which hit-count buckets any
//! connection has shown so far (AFL's "virgin" map, the other way round). This module is the
//! pure part: the buckets, merging a map, counting. Reading the memory is fuzz-client's
//! (`fuzz-client/src/coverage/`). What a campaign does with new coverage (the corpus, and the
//! connections derived from its entries) is [`corpus`].

pub mod corpus;

/// The map's byte 0: the AFL runtime sets it to 1 when it attaches the shared memory, an
/// "alive" marker rather than an edge.
pub const ALIVE_MARKER: usize = 0;

/// AFL's hit-count buckets (afl-fuzz's `count_class_lookup8`): a count is kept only as which of
/// 1, 2, 3, 4-7, 8-15, 16-31, 32-127 and 128-255 it falls in, one bit each, so that a loop taken
/// 20 times instead of 19 is nothing new and one taken 40 times is.
pub fn bucket(count: u8) -> u8 {
    match count {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => 4,
        4..=7 => 8,
        8..=15 => 16,
        16..=31 => 32,
        32..=127 => 64,
        128..=255 => 128,
    }
}

/// What one map added to what was seen before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NewCoverage {
    /// Edges no map had hit before.
    pub edges: u64,
    /// Edges hit before, now with a hit count in a bucket not seen for them.
    pub buckets: u64,
}

impl NewCoverage {
    /// Whether the map reached anything new (AFL's "interesting").
    pub fn is_new(&self) -> bool {
        self.edges > 0 || self.buckets > 0
    }
}

/// The coverage a campaign has seen: per edge, the buckets of every map merged in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    buckets: Vec<u8>,
    edges: u64,
}

impl Seen {
    /// Nothing seen, for maps of `size` bytes.
    pub fn new(size: usize) -> Self {
        Self { buckets: vec![0; size], edges: 0 }
    }

    /// The map size it was made for.
    pub fn size(&self) -> usize {
        self.buckets.len()
    }

    /// Edges hit at least once by any map merged in.
    pub fn edges(&self) -> u64 {
        self.edges
    }

    /// Merges a map of raw hit counts in (the marker byte and anything beyond the size are
    /// left out) and says what it added.
    pub fn merge(&mut self, map: &[u8]) -> NewCoverage {
        let mut new = NewCoverage::default();
        for (i, &count) in map.iter().enumerate().take(self.buckets.len()) {
            if i == ALIVE_MARKER || count == 0 {
                continue;
            }
            let b = bucket(count);
            let seen = &mut self.buckets[i];
            if *seen & b == 0 {
                if *seen == 0 {
                    new.edges += 1;
                } else {
                    new.buckets += 1;
                }
                *seen |= b;
            }
        }
        self.edges += new.edges;
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fall_into_afls_buckets() {
        let expected = [(0, 0), (1, 1), (2, 2), (3, 4), (4, 8), (7, 8), (8, 16), (15, 16), (16, 32), (31, 32)];
        for (count, b) in expected {
            assert_eq!(bucket(count), b, "{count}");
        }
        assert_eq!((bucket(32), bucket(127), bucket(128), bucket(255)), (64, 64, 128, 128));
    }

    /// New edges count once; a known edge counts again only in a bucket it had not shown; the
    /// alive marker is never an edge.
    #[test]
    fn merging_counts_new_edges_and_new_buckets() {
        let mut seen = Seen::new(8);
        assert_eq!(seen.merge(&[1, 0, 0, 0, 0, 0, 0, 0]), NewCoverage::default(), "the marker alone");
        let first = seen.merge(&[1, 1, 5, 0, 0, 0, 0, 0]);
        assert_eq!(first, NewCoverage { edges: 2, buckets: 0 });
        assert!(first.is_new());
        assert_eq!(seen.edges(), 2);
        assert_eq!(seen.merge(&[1, 1, 6, 0, 0, 0, 0, 0]), NewCoverage::default(), "5 and 6 are one bucket");
        assert_eq!(seen.merge(&[1, 2, 5, 0, 0, 0, 0, 0]), NewCoverage { edges: 0, buckets: 1 });
        assert_eq!(
            seen.merge(&[1, 0, 0, 0, 0, 0, 0, 9, 9, 9]),
            NewCoverage { edges: 1, buckets: 0 },
            "beyond the size: left out"
        );
        assert_eq!(seen.edges(), 3);
        assert!(!seen.merge(&[0; 8]).is_new());
    }
}
