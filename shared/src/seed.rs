//! From a connection's initial CID to the random generators that make its decisions.
//!
//! Every decision of a fuzzed connection comes from a generator that is a pure function of its
//! CID. The plan has a generator of its own, and every packet gets an independent generator keyed
//! by (seed, role, packet number space, packet number): what happens to packet N never depends on
//! how many packets came before it, on retransmissions, or on timing.

use crate::cid::Cid;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

const SEED_TAG: &[u8] = b"quic-cid-fuzz/v1/seed";

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
    Packet = 2,
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

    /// The generator for one packet, independent of every other packet's.
    pub fn packet_rng(&self, role: Role, space: PacketSpace, packet_number: u64) -> Pcg64 {
        self.rng(Purpose::Packet, role, space as u64 + 1, packet_number)
    }

    /// The key is folded into the seed words with SplitMix64's finalizer, which is a bijection
    /// with full avalanche: keys that differ in any bit give unrelated PCG states and streams.
    fn rng(&self, purpose: Purpose, role: Role, space: u64, packet_number: u64) -> Pcg64 {
        let key = (purpose as u64) << 56 | (role as u64) << 48 | space << 40;
        let k0 = mix64(self.0[0] ^ mix64(key));
        let k1 = mix64(self.0[1] ^ mix64(packet_number ^ k0));
        let k2 = mix64(self.0[2] ^ mix64(k1 ^ key));
        let k3 = mix64(self.0[3] ^ mix64(k2 ^ packet_number));
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
fn mix64(mut z: u64) -> u64 {
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
    fn known_answers_v1() {
        let seed = ConnectionSeed::from_cid(&"0123456789abcdef".parse().unwrap());
        assert_eq!(format!("{:016x}", first_word(seed.plan_rng(Role::Client))), KAT_PLAN_CLIENT);
        assert_eq!(
            format!("{:016x}", first_word(seed.packet_rng(Role::Server, PacketSpace::Handshake, 3))),
            KAT_PACKET_SERVER_HS_3
        );
    }

    const KAT_PLAN_CLIENT: &str = "deb3e9faf5c6d0cf";
    const KAT_PACKET_SERVER_HS_3: &str = "2df98bbd9e41bfd6";

    proptest! {
        #[test]
        fn generators_are_pure_and_distinct(bytes in proptest::collection::vec(any::<u8>(), 8..=20), pn in 0u64..1 << 62) {
            let cid = Cid::from_slice(&bytes).unwrap();
            let seed = ConnectionSeed::from_cid(&cid);
            prop_assert_eq!(seed, ConnectionSeed::from_cid(&cid));
            let a = first_word(seed.packet_rng(Role::Client, PacketSpace::Initial, pn));
            prop_assert_eq!(a, first_word(seed.packet_rng(Role::Client, PacketSpace::Initial, pn)));
            // Any change in the key gives another stream.
            prop_assert_ne!(a, first_word(seed.packet_rng(Role::Server, PacketSpace::Initial, pn)));
            prop_assert_ne!(a, first_word(seed.packet_rng(Role::Client, PacketSpace::Handshake, pn)));
            prop_assert_ne!(a, first_word(seed.packet_rng(Role::Client, PacketSpace::Initial, pn ^ 1)));
            prop_assert_ne!(first_word(seed.plan_rng(Role::Client)), first_word(seed.plan_rng(Role::Server)));
        }
    }
}
