//! `mutation_digest`: 16 hex digits that name the set of decisions one end made on a connection.
//!
//! Packets of different spaces interleave differently from run to run, so the digest is taken
//! over the decisions sorted by (space, content key), keeping the order of decisions within a
//! packet. Each content is covered once, however often it was sent: the decisions of a
//! retransmission are the original's, and the caller records them once
//! ([`crate::fuzzer::ConnectionFuzzer`]). It covers what was decided (operator, offset), never
//! the bytes, which TLS randomness changes on every run.

use super::Decision;
use sha2::{Digest, Sha256};

/// The digest of a connection's decisions; the digest of no decisions is fixed and well known.
pub fn digest(decisions: &[Decision]) -> String {
    let mut sorted: Vec<&Decision> = decisions.iter().collect();
    sorted.sort_by_key(|d| (d.space, d.content)); // stable: keeps in-packet order
    let mut h = Sha256::new();
    for d in sorted {
        h.update([d.space as u8]);
        h.update(d.content.frame_type.to_be_bytes());
        h.update(d.content.id.to_be_bytes());
        h.update(d.content.offset.to_be_bytes());
        h.update((d.operator.len() as u32).to_be_bytes());
        h.update(d.operator.as_bytes());
        h.update(d.offset.to_be_bytes());
    }
    let out = h.finalize();
    out[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::ContentKey;
    use crate::seed::PacketSpace;

    fn d(space: PacketSpace, offset_in_crypto: u64, op: &str, offset: u32) -> Decision {
        Decision { space, content: ContentKey::new(0x06, 0, offset_in_crypto), operator: op.into(), offset }
    }

    #[test]
    fn order_of_packets_does_not_matter_but_content_does() {
        let a = d(PacketSpace::Initial, 0, "havoc:flip_bit", 3);
        let b = d(PacketSpace::ApplicationData, 2, "field:stream.offset", 9);
        let c = d(PacketSpace::ApplicationData, 2, "remove", 0);
        let one = digest(&[a.clone(), b.clone(), c.clone()]);
        assert_eq!(one.len(), 16);
        assert_eq!(one, digest(&[b.clone(), c.clone(), a.clone()]));
        assert_ne!(one, digest(&[a.clone(), c.clone(), b.clone()]), "in-packet order counts");
        assert_ne!(one, digest(&[a.clone(), b.clone()]));
        assert_ne!(digest(std::slice::from_ref(&a)), digest(&[d(PacketSpace::Initial, 1, "havoc:flip_bit", 3)]));
        assert_eq!(digest(&[]), digest(&[]));
    }

    #[test]
    fn an_operators_family_is_its_name_up_to_the_colon() {
        assert_eq!(d(PacketSpace::Initial, 0, "havoc:flip_bit", 3).family(), "havoc");
        assert_eq!(d(PacketSpace::Initial, 0, "tls:key_share.len", 3).family(), "tls");
        assert_eq!(d(PacketSpace::Initial, 0, "remove", 0).family(), "remove");
    }
}
