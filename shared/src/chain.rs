//! The CID chain: each connection's initial CID is derived from the one before it.
//!
//! A campaign is named by its first CID. Because `next` is a pure function of the previous CID,
//! restarting at any CID of a chain repeats the chain's tail exactly, on any machine, forever.
//! The derivation is versioned ([`DERIVATION`]) and frozen by known-answer tests: changing it
//! would silently break every repro command printed under it, so a new derivation needs a new
//! version string, and runs of another version are refused rather than silently continued.
//!
//! - `v1`: the chain and probe steps below; seeds, plans and per-packet generators keyed by
//!   packet number.
//! - `v2`: the same chain and probe steps (a campaign's CIDs are what they were under v1, so
//!   their tags keep their v1 names); new seeds (`quic-cid-fuzz/v2/seed`), and decisions keyed by
//!   what a packet carries instead of its packet number ([`crate::content`], [`crate::fuzzer`]).
//!   Priming CIDs ([`prime`]) for the clean connection that fetches a resuming connection's
//!   session ticket.
//! - `v3`: v2's chain, seeds and tags (a campaign's CIDs and generators are what they were, so
//!   the tags keep their names); plans depend on what the client speaks ([`crate::plan::Inputs`],
//!   `--alpn`, logged in `run_start`) and may count only STREAM contents
//!   ([`crate::plan::ConnectionPlan::streams_only`], drawn after v2's draws); a STREAM frame with
//!   neither data nor FIN has no content key; the engine draws the `h3` and `qpack` operators on
//!   HTTP/3 connections and knows the newer QUIC frames (IMMEDIATE_ACK, RESET_STREAM_AT,
//!   multipath), so the same CID makes other decisions than under v2.

use crate::cid::Cid;
use sha2::{Digest, Sha256};

/// The version of every derivation in this module, [`crate::seed`], [`crate::plan`] and
/// [`crate::fuzzer`], logged in `run_start`.
/// The `seq` of connections outside the chain: the client's clean probes and the priming
/// connections of resuming plans (their CIDs come from [`prime`] or the probe's own domain).
pub const OFF_CHAIN_SEQ: u64 = u64::MAX;

pub const DERIVATION: &str = "v3";

/// Domain tags keep the derivations independent: a chain step, a probe CID and a seed made from
/// the same CID never share a hash input. The chain and probe steps are v1's, unchanged in v2 and v3.
const CHAIN_TAG: &[u8] = b"quic-cid-fuzz/v1/chain";
const PROBE_TAG: &[u8] = b"quic-cid-fuzz/v1/probe";
const PRIME_TAG: &[u8] = b"quic-cid-fuzz/v2/prime";

/// The first `cid.len()` bytes of SHA-256(tag || cid).
fn derive(tag: &[u8], cid: &Cid) -> Cid {
    let digest = Sha256::new().chain_update(tag).chain_update(cid.as_bytes()).finalize();
    Cid::from_slice(&digest[..cid.len()]).expect("same length as a valid CID")
}

/// The CID of the connection after `cid` in its chain.
pub fn next(cid: &Cid) -> Cid {
    derive(CHAIN_TAG, cid)
}

/// The CID of the clean probe connection made at the checkpoint of `cid`. It comes from a
/// different domain than [`next`], so a probe never reuses a CID of the chain.
pub fn probe(cid: &Cid) -> Cid {
    derive(PROBE_TAG, cid)
}

/// The CID of the clean *priming* connection that runs just before the connection `cid` when
/// its plan resumes a session: it fetches the session ticket that `cid` offers, so the ticket
/// never comes from another connection of the chain and `cid` resumes the same way wherever it
/// runs (a campaign, a restart, `bisect`, `replay`). A domain of its own, like the probes.
pub fn prime(cid: &Cid) -> Cid {
    derive(PRIME_TAG, cid)
}

/// The chain from `start` on: `start`, `next(start)`, `next(next(start))`, ...
pub fn iter(start: Cid) -> impl Iterator<Item = Cid> {
    std::iter::successors(Some(start), |c| Some(next(c)))
}

/// The CID `steps` places after `start` (`nth(start, 0) == start`).
pub fn nth(start: Cid, steps: u64) -> Cid {
    (0..steps).fold(start, |c, _| next(&c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cid(s: &str) -> Cid {
        s.parse().unwrap()
    }

    /// Frozen (and checked against an independent SHA-256): these values are what every earlier run logged. Never update them; add a new
    /// derivation version instead.
    #[test]
    fn known_answers_v1() {
        let chain: Vec<String> = iter(cid("0123456789abcdef")).take(4).map(|c| c.to_hex()).collect();
        assert_eq!(chain, KAT_CHAIN_0123);
        assert_eq!(probe(&cid("0123456789abcdef")).to_hex(), KAT_PROBE_0123);
        assert_eq!(next(&cid("0000000000000000")).to_hex(), KAT_NEXT_ZERO);
        assert_eq!(next(&cid("000102030405060708090a0b0c0d0e0f10111213")).to_hex(), KAT_NEXT_20);
    }

    /// Frozen (checked against an independent SHA-256) since priming connections exist.
    #[test]
    fn known_answers_prime() {
        assert_eq!(prime(&cid("0123456789abcdef")).to_hex(), KAT_PRIME_0123);
    }

    const KAT_PRIME_0123: &str = "f7e84bae4b567902";
    const KAT_CHAIN_0123: [&str; 4] = ["0123456789abcdef", "cac106eb3b28bca3", "282508f198836bcc", "d92435637f25b264"];
    const KAT_PROBE_0123: &str = "02f158cb303da570";
    const KAT_NEXT_ZERO: &str = "3b442d3c8f32a89f";
    const KAT_NEXT_20: &str = "2eea8a6774a98ca55f08295449a7657eb88b9c77";

    proptest! {
        #[test]
        fn chain_is_deterministic_and_keeps_length(bytes in proptest::collection::vec(any::<u8>(), 8..=20)) {
            let start = Cid::from_slice(&bytes).unwrap();
            let a: Vec<Cid> = iter(start).take(20).collect();
            let b: Vec<Cid> = iter(start).take(20).collect();
            prop_assert_eq!(&a, &b);
            prop_assert!(a.iter().all(|c| c.len() == start.len()));
            // Restarting anywhere in the chain repeats its tail.
            let tail: Vec<Cid> = iter(a[7]).take(13).collect();
            prop_assert_eq!(&tail[..], &a[7..]);
            prop_assert_eq!(nth(start, 7), a[7]);
            // Probes never collide with the chain.
            prop_assert!(a.iter().all(|c| !a.contains(&probe(c))));
            // Nor do priming CIDs, with the chain or with the probes.
            prop_assert!(a.iter().all(|c| !a.contains(&prime(c)) && prime(c) != probe(c)));
        }
    }
}
