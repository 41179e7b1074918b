//! Shards: one campaign (a root CID) split into N chains that run on N machines at once.
//!
//! Shard `i` of the campaign `root` starts at [`shard_start`]`(root, i)`, the first `len(root)`
//! bytes of SHA-256(`"quic-cid-fuzz/v2/shard"` ‖ root ‖ i as 4 bytes big-endian), and goes on
//! with the ordinary chain step ([`crate::chain::next`]). The shard count N is not hashed: shard
//! `i` is the same chain in a campaign of 8 shards or of 32, so a campaign can grow by shards
//! without changing the ones that ran. Its sequence numbers count from its own start (seq 0), so
//! seq S of shard `i` is `chain::nth(shard_start(root, i), S)` wherever it runs.
//!
//! ## How disjoint shards are, plainly
//!
//! Client CIDs are 8 bytes and the chain step is a hash, so every chain is an iteration of one
//! random-looking function on 2^64 values. The shard starts come from a domain of their own, so
//! they are unrelated to each other and to the root's own chain. But two chains that ever produce
//! the same CID run the same CIDs from there on (they *merge*), and a chain that reaches one of
//! its own earlier CIDs runs in a cycle. Among T CIDs in all (every shard together), the
//! probability of any such repeat is about 1 - exp(-T²/2^65) (the birthday bound):
//!
//! | campaign | T | probability of a repeat |
//! | --- | --- | --- |
//! | 4 shards × 1000 conn/s × 1 hour | 1.4e7 | 6e-6 |
//! | 32 shards × 100 conn/s × 1 day | 2.8e8 | 0.2% |
//! | 32 shards × 1000 conn/s × 1 day | 2.8e9 | 19% |
//! | 32 shards × 1000 conn/s × 1 week | 1.9e10 | ~1 (expected after ~5.4e9 CIDs, ~47 hours) |
//!
//! A repeat does not break replay (each shard's chain is still a pure function of root and
//! index, and restarts repeat it), it wastes work: the merged shards run the same connections.
//! Detecting it exactly needs every CID in memory; instead the client remembers its
//! *distinguished points* ([`is_distinguished`]: CIDs whose first [`DISTINGUISHED_BITS`] bits are
//! zero, one in 4096) and every shard's start ([`RepeatDetector`]): it notices its own cycle
//! about 4096 connections after the repeat began (a cycle shorter than that may hold no
//! distinguished point and go unseen; among L CIDs its chance is about L·4096/2^64, 1 in 7
//! million for a week at 1000 conn/s), and reaching another shard's start at once. A merge with another shard's chain elsewhere needs the other shard's
//! CIDs: `fuzz-client merge` finds it afterwards, from the distinguished points in the logs.

use crate::chain;
use crate::cid::Cid;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// The domain of shard starts, apart from the chain, probe and seed domains.
const SHARD_TAG: &[u8] = b"quic-cid-fuzz/v2/shard";

/// The most shards a campaign may have. Each shard keeps every shard's start in memory.
pub const MAX_SHARDS: u32 = 65536;

/// A CID is a distinguished point when this many of its leading bits are zero (1 in 4096).
pub const DISTINGUISHED_BITS: u32 = 12;

/// The first CID of shard `index` of the campaign `root` (same length as `root`).
pub fn shard_start(root: &Cid, index: u32) -> Cid {
    let digest = Sha256::new()
        .chain_update(SHARD_TAG)
        .chain_update(root.as_bytes())
        .chain_update(index.to_be_bytes())
        .finalize();
    Cid::from_slice(&digest[..root.len()]).expect("same length as a valid CID")
}

/// Whether `cid` is a distinguished point: its first [`DISTINGUISHED_BITS`] bits are zero.
pub fn is_distinguished(cid: &Cid) -> bool {
    let b = cid.as_bytes();
    u16::from_be_bytes([b[0], b[1]]) >> (16 - DISTINGUISHED_BITS) == 0
}

/// Shard `index` of `count` (`--shard I/N`): `index < count <= MAX_SHARDS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ShardSpec {
    pub index: u32,
    pub count: u32,
}

/// Why `I/N` is not a shard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("{0:?} is not I/N (shard I of N, counted from 0: 0/4 to 3/4)")]
    Malformed(String),
    #[error("a campaign needs at least 1 shard (N = 0)")]
    NoShards,
    #[error("{count} shards: at most {MAX_SHARDS}")]
    TooMany { count: u64 },
    #[error("shard {index} of {count} does not exist: shards are numbered 0 to {}", count - 1)]
    OutOfRange { index: u64, count: u64 },
}

impl ShardSpec {
    /// Checks `index < count` and `1 <= count <= MAX_SHARDS`.
    pub fn new(index: u64, count: u64) -> Result<Self, ShardError> {
        if count == 0 {
            return Err(ShardError::NoShards);
        }
        if count > MAX_SHARDS as u64 {
            return Err(ShardError::TooMany { count });
        }
        if index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Self { index: index as u32, count: count as u32 })
    }
}

impl FromStr for ShardSpec {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, ShardError> {
        let malformed = || ShardError::Malformed(s.to_string());
        let (i, n) = s.trim().split_once('/').ok_or_else(malformed)?;
        let number = |t: &str| {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(malformed());
            }
            t.parse::<u64>().map_err(|_| malformed())
        };
        Self::new(number(i)?, number(n)?)
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A shard as `run_start` records it: the campaign's root, which shard, of how many, and the
/// shard's first CID (its seq 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub root: Cid,
    pub index: u32,
    pub count: u32,
    pub start_cid: Cid,
}

impl ShardInfo {
    pub fn new(root: Cid, spec: ShardSpec) -> Self {
        Self { root, index: spec.index, count: spec.count, start_cid: shard_start(&root, spec.index) }
    }

    pub fn spec(&self) -> ShardSpec {
        ShardSpec { index: self.index, count: self.count }
    }

    /// The CID of this shard's connection `seq`: `seq` steps along its chain. Costs `seq` hashes
    /// (a few million a second), which a restart deep into a long shard pays once.
    pub fn cid_at(&self, seq: u64) -> Cid {
        chain::nth(self.start_cid, seq)
    }
}

/// A chain that runs into CIDs it (or another shard) already ran, found by [`RepeatDetector`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// The chain reached a distinguished point it passed at `first_seq`: it cycles, and runs
    /// again what it ran from about `first_seq` on.
    OwnCycle { first_seq: u64 },
    /// The chain reached the first CID of shard `index`: from here it runs that shard's chain.
    ShardStart { index: u32 },
}

impl fmt::Display for Repeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OwnCycle { first_seq } => {
                write!(f, "the chain cycles: this CID is a distinguished point it already ran at seq {first_seq}")
            }
            Self::ShardStart { index } => write!(f, "the chain reached the first CID of shard {index}"),
        }
    }
}

/// Watches a chain as it runs for the repeats that are cheap to see: its own distinguished
/// points (one in 4096 CIDs is kept) and the starts of the campaign's other shards.
#[derive(Debug, Default)]
pub struct RepeatDetector {
    points: HashMap<Cid, u64>,
    starts: HashMap<Cid, u32>,
}

impl RepeatDetector {
    /// A detector for a chain; with `shard`, the other shards' starts are watched for too.
    pub fn new(shard: Option<&ShardInfo>) -> Self {
        let starts = shard
            .map(|s| (0..s.count).filter(|&i| i != s.index).map(|i| (shard_start(&s.root, i), i)).collect())
            .unwrap_or_default();
        Self { points: HashMap::new(), starts }
    }

    /// Notes that connection `seq` has `cid`; says whether the chain now repeats. A restart that
    /// runs the same seq again is not a repeat.
    pub fn observe(&mut self, seq: u64, cid: &Cid) -> Option<Repeat> {
        if let Some(&index) = self.starts.get(cid) {
            return Some(Repeat::ShardStart { index });
        }
        if !is_distinguished(cid) {
            return None;
        }
        match *self.points.entry(*cid).or_insert(seq) {
            first_seq if first_seq != seq => Some(Repeat::OwnCycle { first_seq }),
            _ => None,
        }
    }

    /// How many distinguished points are held.
    pub fn points(&self) -> usize {
        self.points.len()
    }
}

/// The shard a run log is of: the shard of its first client `run_start` that names one.
pub fn shard_of_log(lines: &[crate::log::LogLine]) -> Option<ShardInfo> {
    lines.iter().filter(|l| l.role == crate::seed::Role::Client).find_map(|l| match &l.event {
        crate::log::Event::RunStart { shard, .. } => *shard,
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn cid(s: &str) -> Cid {
        s.parse().unwrap()
    }

    /// Frozen (checked against an independent SHA-256): every shard log and restart command printed under `v2` depends on these.
    #[test]
    fn known_answers_v2() {
        let root = cid("0123456789abcdef");
        let starts: Vec<String> = (0..4).map(|i| shard_start(&root, i).to_hex()).collect();
        assert_eq!(starts, KAT_SHARDS_0123);
        assert_eq!(shard_start(&root, MAX_SHARDS - 1).to_hex(), KAT_SHARD_LAST_0123);
        assert_eq!(shard_start(&cid("0000000000000000"), 0).to_hex(), KAT_SHARD_ZERO);
        let info = ShardInfo::new(root, "2/4".parse().unwrap());
        assert_eq!(info.cid_at(3).to_hex(), KAT_SHARD_2_SEQ_3);
    }

    const KAT_SHARDS_0123: [&str; 4] = ["2a88600becff6903", "9909aef5d25d3c11", "f73246800bdf89f1", "4a4f4f6b65cb7422"];
    const KAT_SHARD_LAST_0123: &str = "ec882d73449a110a";
    const KAT_SHARD_ZERO: &str = "6691a1d69f7f2d9f";
    const KAT_SHARD_2_SEQ_3: &str = "6534d437f024164d";

    /// 64 shards × 20,000 connections of one root: 1.28 million CIDs, no two the same, none on
    /// the root's own chain nor a probe CID of the shards' checkpoints. (The chance that this
    /// fails for a hash is about 1.28e6²/2^65 = 4e-8.)
    #[test]
    fn shards_are_disjoint_over_many_steps() {
        let root = cid("0123456789abcdef");
        let steps = 20_000;
        let mut seen: HashSet<Cid> = HashSet::with_capacity(64 * steps + steps);
        for i in 0..64 {
            let mut detector = RepeatDetector::new(Some(&ShardInfo::new(root, ShardSpec::new(i, 64).unwrap())));
            for (seq, c) in chain::iter(shard_start(&root, i as u32)).take(steps).enumerate() {
                assert!(seen.insert(c), "shard {i} seq {seq} repeats {c}");
                assert_eq!(detector.observe(seq as u64, &c), None);
            }
        }
        for c in chain::iter(root).take(steps) {
            assert!(seen.insert(c), "the root's chain meets a shard at {c}");
        }
    }

    #[test]
    fn distinguished_points_are_one_in_4096() {
        assert!(is_distinguished(&cid("000fffffffffffff")));
        assert!(!is_distinguished(&cid("0010000000000000")));
        let n = chain::iter(cid("0123456789abcdef")).take(409_600).filter(is_distinguished).count();
        assert!((80..=120).contains(&n), "{n} distinguished points in 409,600 CIDs, expected about 100");
    }

    #[test]
    fn repeats_are_seen() {
        let root = cid("0123456789abcdef");
        let info = ShardInfo::new(root, "1/4".parse().unwrap());
        let mut d = RepeatDetector::new(Some(&info));
        assert_eq!(d.observe(10, &shard_start(&root, 3)), Some(Repeat::ShardStart { index: 3 }));
        assert_eq!(d.observe(11, &info.start_cid), None, "its own start is not another shard's");
        let point = cid("0001020304050607");
        assert_eq!(d.observe(100, &point), None);
        assert_eq!(d.observe(100, &point), None, "a restart runs the same seq again");
        assert_eq!(d.observe(5000, &point), Some(Repeat::OwnCycle { first_seq: 100 }));
        assert_eq!(d.points(), 1);
        let mut plain = RepeatDetector::new(None);
        assert_eq!(plain.observe(0, &shard_start(&root, 0)), None, "no shards, no starts to watch");
    }

    #[test]
    fn specs_parse_and_bad_ones_are_named() {
        assert_eq!("3/32".parse::<ShardSpec>(), Ok(ShardSpec { index: 3, count: 32 }));
        assert_eq!("0/1".parse::<ShardSpec>().unwrap().to_string(), "0/1");
        assert_eq!("4/4".parse::<ShardSpec>(), Err(ShardError::OutOfRange { index: 4, count: 4 }));
        assert_eq!("0/0".parse::<ShardSpec>(), Err(ShardError::NoShards));
        assert_eq!("0/65537".parse::<ShardSpec>(), Err(ShardError::TooMany { count: 65537 }));
        for bad in ["", "3", "3/", "/4", "-1/4", "a/4", "1/4/5", "1 /4", "+1/4", "99999999999999999999/4"] {
            assert_eq!(bad.parse::<ShardSpec>(), Err(ShardError::Malformed(bad.into())), "{bad:?}");
        }
        assert!(ShardError::OutOfRange { index: 4, count: 4 }.to_string().contains("0 to 3"));
    }

    #[test]
    fn a_log_names_its_shard() {
        let info = ShardInfo::new(cid("0123456789abcdef"), "1/2".parse().unwrap());
        let mut w = crate::log::LogWriter::new(Vec::new(), crate::seed::Role::Client);
        w.write(crate::log::Event::RunStart {
            start_cid: Some(info.start_cid),
            start_seq: 0,
            target: "h:1".into(),
            mode: crate::log::Mode::Fuzz,
            derivation: chain::DERIVATION.into(),
            version: "0".into(),
            args: vec![],
            planted_faults: vec![],
            resume_rate: None,
            shard: Some(info),
            pacing: None,
            client_knobs: None,
            alpn: None,
            corpus_every: None,
        })
        .unwrap();
        let lines = crate::log::read_log(&w.into_inner()[..]).unwrap();
        assert_eq!(shard_of_log(&lines), Some(info));
        assert_eq!(shard_of_log(&[]), None);
    }

    #[test]
    fn shard_info_round_trips_as_json() {
        let info = ShardInfo::new(cid("0123456789abcdef"), "2/4".parse().unwrap());
        let json = serde_json::to_string(&info).unwrap();
        assert_eq!(json, r#"{"root":"0123456789abcdef","index":2,"count":4,"start_cid":"f73246800bdf89f1"}"#);
        assert_eq!(serde_json::from_str::<ShardInfo>(&json).unwrap(), info);
    }
}
