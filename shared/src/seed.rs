//! From a connection's initial CID to the random generators that make its decisions.
//!
//! Every decision of a fuzzed connection comes from a generator that is a pure function of its
//! CID. The plan has a generator of its own, and every packet gets an independent generator keyed
//! by (seed, role, packet number space, content key): what happens to a packet depends on what it
//! carries ([`crate::content`]), never on its packet number, on how many packets came before it,
//! on retransmissions, or on timing. A retransmission of the same data gets the same generator,
//! and so the same mutation.

use crate::cid::Cid;
use crate::content::ContentKey;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

const SEED_TAG: &[u8] = b"quic-cid-fuzz/v2/seed";

/// Which end of the connection makes the decision. The two ends fuzz independently from the same
/// CID, so each has its own generators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Client,
    Server,
}

/// The packet number spaces of RFC 9000 §12.3. 0-RTT packets share the application data space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PacketSpace {
    Initial,
    Handshake,
    ApplicationData,
}

impl PacketSpace {
    pub const ALL: [PacketSpace; 3] = [Self::Initial, Self::Handshake, Self::ApplicationData];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Handshake => "handshake",
            Self::ApplicationData => "application_data",
        }
    }
}

/// The 256-bit seed of one connection: SHA-256 of a domain tag and the initial CID.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionSeed([u64; 4]);

/// What a generator is for; part of its key so that generators never share a stream.
#[derive(Clone, Copy)]
enum Purpose {
    Plan = 1,
    Content = 3,
    /// Whether a coverage-guided connection is the child of a corpus entry, and of which
    /// ([`crate::coverage::corpus`]).
    Lineage = 4,
}

impl ConnectionSeed {
    pub fn from_cid(cid: &Cid) -> Self {
        let digest = Sha256::new().chain_update(SEED_TAG).chain_update(cid.as_bytes()).finalize();
        let mut words = [0u64; 4];
        for (w, chunk) in words.iter_mut().zip(digest.chunks_exact(8)) {
            *w = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        }
        Self(words)
    }

    /// The generator for the connection's plan.
    pub fn plan_rng(&self, role: Role) -> Pcg64 {
        self.rng(Purpose::Plan, role, 0, 0)
    }

    /// The generator that picks a coverage-guided connection's parents: apart from the plan's
    /// and the contents', so that a connection that is no child is the blind one of its CID.
    pub fn lineage_rng(&self) -> Pcg64 {
        self.rng(Purpose::Lineage, Role::Client, 0, 0)
    }

    /// The generator for the packets of `space` that carry `content`: the same for the original
    /// and every retransmission, independent of every other content's.
    pub fn content_rng(&self, role: Role, space: PacketSpace, content: &ContentKey) -> Pcg64 {
        self.rng(Purpose::Content, role, space as u64 + 1, content.fold())
    }

    /// The key is folded into the seed words with SplitMix64's finalizer, which is a bijection
    /// with full avalanche: keys that differ in any bit give unrelated PCG states and streams.
    fn rng(&self, purpose: Purpose, role: Role, space: u64, item: u64) -> Pcg64 {
        let key = (purpose as u64) << 56 | (role as u64) << 48 | space << 40;
        let k0 = mix64(self.0[0] ^ mix64(key));
        let k1 = mix64(self.0[1] ^ mix64(item ^ k0));
        let k2 = mix64(self.0[2] ^ mix64(k1 ^ key));
        let k3 = mix64(self.0[3] ^ mix64(k2 ^ item));
        let state = (k0 as u128) << 64 | k1 as u128;
        let stream = (k2 as u128) << 64 | k3 as u128;
        Pcg64::new(state, stream)
    }
}

impl fmt::Debug for ConnectionSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionSeed({:016x}{:016x}{:016x}{:016x})", self.0[0], self.0[1], self.0[2], self.0[3])
    }
}

/// SplitMix64's output function (Steele, Lea, Flood: "Fast splittable pseudorandom number
/// generators", OOPSLA 2014).
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::RngCore;

    fn first_word(mut rng: Pcg64) -> u64 {
        rng.next_u64()
    }

    #[test]
    fn known_answers_v2() {
        let seed = ConnectionSeed::from_cid(&"0123456789abcdef".parse().unwrap());
        assert_eq!(format!("{:016x}", first_word(seed.plan_rng(Role::Client))), KAT_PLAN_CLIENT);
        let crypto_1100 = ContentKey::new(0x06, 0, 1100);
        assert_eq!(
            format!("{:016x}", first_word(seed.content_rng(Role::Server, PacketSpace::Handshake, &crypto_1100))),
            KAT_CONTENT_SERVER_HS_CRYPTO_1100
        );
    }

    const KAT_PLAN_CLIENT: &str = "afa585ce27ec995f";
    const KAT_CONTENT_SERVER_HS_CRYPTO_1100: &str = "22fc6ecfb9183bf8";

    proptest! {
        #[test]
        fn generators_are_pure_and_distinct(
            bytes in proptest::collection::vec(any::<u8>(), 8..=20),
            offset in 0u64..1 << 62,
            id in 0u64..1 << 62,
        ) {
            let cid = Cid::from_slice(&bytes).unwrap();
            let seed = ConnectionSeed::from_cid(&cid);
            prop_assert_eq!(seed, ConnectionSeed::from_cid(&cid));
            let key = ContentKey::new(0x08, id, offset);
            let a = first_word(seed.content_rng(Role::Client, PacketSpace::Initial, &key));
            prop_assert_eq!(a, first_word(seed.content_rng(Role::Client, PacketSpace::Initial, &key)));
            // Any change in the key gives another stream.
            prop_assert_ne!(a, first_word(seed.content_rng(Role::Server, PacketSpace::Initial, &key)));
            prop_assert_ne!(a, first_word(seed.content_rng(Role::Client, PacketSpace::Handshake, &key)));
            let other = ContentKey::new(0x08, id, offset ^ 1);
            prop_assert_ne!(a, first_word(seed.content_rng(Role::Client, PacketSpace::Initial, &other)));
            prop_assert_ne!(first_word(seed.plan_rng(Role::Client)), first_word(seed.plan_rng(Role::Server)));
        }
    }
}
