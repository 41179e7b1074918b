//! The promise of derivations v2 and v3, checked without sockets: what timing does to a connection's
//! packets (ACK-only packets, ACKs riding in front of the frames, PING probes, retransmissions
//! of the same content, more or less padding, another interleaving of the packet number spaces,
//! frames of two packets coalesced into one) changes no decision, and a retransmission carries
//! the mutation its original carried.

use super::*;
use crate::application::Application;
use crate::content::ContentKey;
use crate::mutate::corpus::{self, Sample};
use crate::mutate::frame::Frame;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// One packet as the interceptor hands it out: its space, payload and capacity.
#[derive(Clone, Debug)]
struct Packet {
    space: PacketSpace,
    payload: Vec<u8>,
    capacity: usize,
    /// Bytes of ACK frames the test put in front (0 for the originals).
    ack_prefix: usize,
}

impl From<&Sample> for Packet {
    fn from(s: &Sample) -> Self {
        Packet { space: s.packet.space, payload: s.payload.clone(), capacity: s.capacity, ack_prefix: 0 }
    }
}

/// What one end of a connection sends when timing is kind: each content once, in order.
fn flight(role: Role, seed: u64) -> Vec<Packet> {
    let samples = match role {
        Role::Client => vec![
            corpus::client_initial(seed),
            corpus::client_handshake(seed),
            corpus::client_stream(seed),
            corpus::closing(seed),
        ],
        Role::Server => vec![
            corpus::server_initial(seed),
            corpus::server_handshake(seed),
            corpus::server_ready(seed),
            corpus::server_ticket(seed),
            corpus::server_stream(seed),
        ],
    };
    samples.iter().map(Packet::from).collect()
}

/// An ACK frame (RFC 9000 §19.3) whose size and values depend on `n`, as timing makes them.
fn ack(n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let ranges: Vec<(u64, u64)> = (0..n % 3).map(|i| (i, n % 5)).collect();
    Frame::Ack { largest: 10 + n * 37, delay: n * 1000, first_range: n % 4, ranges, ecn: None }.encode(&mut out);
    out
}

/// What timing does to one packet of the kind flight.
#[derive(Clone, Debug)]
struct Timing {
    /// An ACK-only packet sent just before it.
    ack_only_before: Option<u64>,
    /// A PING-only probe (RFC 9002 §6.2.4) sent just before it.
    ping_before: bool,
    /// An ACK frame riding in front of its frames.
    ack_in_front: Option<u64>,
    /// Retransmissions of its content later on, each with or without an ACK in front.
    retransmissions: Vec<Option<u64>>,
    /// Padding bytes removed (of those it had) or added (when it had room).
    padding_change: i16,
    /// Its frames ride in the packet before it (of the same space), as when both were ready at
    /// once.
    coalesced: bool,
}

fn timing() -> impl Strategy<Value = Timing> {
    (
        proptest::option::weighted(0.3, 0u64..50),
        proptest::bool::weighted(0.2),
        proptest::option::weighted(0.4, 0u64..50),
        proptest::collection::vec(proptest::option::of(0u64..50), 0..3),
        -40i16..40,
        proptest::bool::weighted(0.3),
    )
        .prop_map(|(ack_only_before, ping_before, ack_in_front, retransmissions, padding_change, coalesced)| {
            Timing { ack_only_before, ping_before, ack_in_front, retransmissions, padding_change, coalesced }
        })
}

/// `packet` with an ACK in front and its padding changed, as a later run might send it.
fn retimed(packet: &Packet, ack_in_front: Option<u64>, padding_change: i16) -> Packet {
    let prefix = ack_in_front.map(ack).unwrap_or_default();
    let mut payload = prefix.clone();
    payload.extend_from_slice(&packet.payload);
    // Change the trailing padding only where there is some: a packet without it is not padded.
    let trailing = packet.payload.iter().rev().take_while(|b| **b == 0).count();
    if trailing > 40 {
        let new_len = (payload.len() as i64 + padding_change as i64) as usize;
        payload.resize(new_len, 0);
    }
    let capacity = packet.capacity.max(payload.len());
    Packet { space: packet.space, payload, capacity, ack_prefix: prefix.len() }
}

/// The kind flight as timing reshapes it: extra packets, ACKs, retransmissions, and spaces
/// interleaved another way (each space keeps its own order, as packet numbers do).
fn reshape(kind: &[Packet], timings: &[Timing], interleave: &[u8], coalesce: bool) -> Vec<Packet> {
    let mut per_space: BTreeMap<PacketSpace, Vec<Packet>> = BTreeMap::new();
    let mut later: BTreeMap<PacketSpace, Vec<Packet>> = BTreeMap::new();
    for (packet, t) in kind.iter().zip(timings) {
        let queue = per_space.entry(packet.space).or_default();
        let strip = |p: &[u8]| {
            let mut end = 0;
            content::frames(p, |f| end = if f.frame_type == 0 { end } else { f.end });
            p[..end].to_vec()
        };
        // Frames coalesce when both fit with room to spare, as a sender packs small frames that
        // are ready at once; the padding of neither is kept (the sender pads a datagram again).
        let fits = |before: &Packet| {
            strip(&before.payload).len() + strip(&packet.payload).len() + ROOM_TO_GROW <= before.capacity
        };
        if coalesce && t.coalesced {
            if let Some(before) = queue.last_mut().filter(|b| b.payload.len() > 1 && fits(b)) {
                let mut payload = strip(&before.payload);
                payload.extend_from_slice(&strip(&packet.payload));
                before.payload = payload;
                continue;
            }
        }
        if let Some(n) = t.ack_only_before {
            queue.push(Packet { space: packet.space, payload: ack(n), capacity: 1200, ack_prefix: 0 });
        }
        if t.ping_before {
            queue.push(Packet { space: packet.space, payload: vec![0x01, 0, 0, 0], capacity: 1200, ack_prefix: 0 });
        }
        queue.push(retimed(packet, t.ack_in_front, t.padding_change));
        for r in &t.retransmissions {
            later.entry(packet.space).or_default().push(retimed(packet, *r, -t.padding_change));
        }
    }
    for (space, mut rest) in later {
        per_space.entry(space).or_default().append(&mut rest);
    }
    // Merge the spaces in an order the strategy chose.
    let mut queues: Vec<std::collections::VecDeque<Packet>> = per_space.into_values().map(Into::into).collect();
    let mut out = Vec::new();
    let mut choice = interleave.iter().cycle();
    while queues.iter().any(|q| !q.is_empty()) {
        let live: Vec<usize> = (0..queues.len()).filter(|i| !queues[*i].is_empty()).collect();
        let pick = live[*choice.next().unwrap_or(&0) as usize % live.len()];
        out.push(queues[pick].pop_front().expect("live queue"));
    }
    out
}

/// The content keys of a payload's frames.
fn keys_of(payload: &[u8]) -> Vec<ContentKey> {
    let mut keys = Vec::new();
    content::frames(payload, |f| keys.extend(f.key));
    keys
}

type SentByContents = BTreeMap<(PacketSpace, Vec<ContentKey>), Vec<Vec<u8>>>;

/// What the fuzzer did to each packet: the digest, and per packet contents the bytes it sent
/// after the ACK the test put in front.
fn run(cid: &Cid, role: Role, packets: &[Packet]) -> (String, SentByContents) {
    let mut fuzzer = ConnectionFuzzer::new(cid, role, Application::HqInterop);
    let mut mutator = PacketMutator::new();
    let mut sent = SentByContents::new();
    for p in packets {
        let keys = keys_of(&p.payload);
        let mut buf = p.payload.clone();
        buf.resize(p.capacity, 0);
        let out = fuzzer.on_packet(&mut mutator, p.space, &mut buf, p.payload.len());
        if let Some(len) = out.mutated {
            // The ACK stays in front: compare what follows it, without padding.
            let mut carried = buf[p.ack_prefix.min(len)..len].to_vec();
            while carried.last() == Some(&0) {
                carried.pop();
            }
            sent.entry((p.space, keys)).or_default().push(carried);
        }
    }
    (fuzzer.digest(), sent)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn timing_changes_no_decision(
        cid in any::<[u8; 8]>(),
        client in any::<bool>(),
        seed in any::<u64>(),
        timings in proptest::collection::vec(timing(), 5),
        interleave in proptest::collection::vec(any::<u8>(), 1..8),
    ) {
        let cid = Cid::from_slice(&cid).unwrap();
        let role = if client { Role::Client } else { Role::Server };
        let kind = flight(role, seed);
        let reshaped = reshape(&kind, &timings, &interleave, false);
        let (digest_kind, sent_kind) = run(&cid, role, &kind);
        let (digest_reshaped, sent_reshaped) = run(&cid, role, &reshaped);
        prop_assert_eq!(&digest_kind, &digest_reshaped);
        // Frames that share a packet in one run and not in the other: the same decisions.
        let coalesced = reshape(&kind, &timings, &interleave, true);
        prop_assert_eq!(&digest_kind, &run(&cid, role, &coalesced).0);
        // The same contents were mutated, the first transmission the same way as in the kind
        // run, and every retransmission the same way as the first.
        prop_assert_eq!(sent_kind.keys().collect::<Vec<_>>(), sent_reshaped.keys().collect::<Vec<_>>());
        for (key, outs) in &sent_reshaped {
            let first = &sent_kind[key][0];
            for (i, out) in outs.iter().enumerate() {
                prop_assert_eq!(out, first, "{:?} {:?} transmission {}", key.0, key.1, i);
            }
        }
    }
}

/// A plan that fuzzes a state mutates something in it, whatever the timing; a plan's content
/// counting skips what timing adds.
#[test]
fn every_plan_fuzzes_its_state_in_the_kind_flight() {
    let mut fuzzed = 0;
    let mut plans = 0;
    for cid in crate::chain::iter("0123456789abcdef".parse().unwrap()).take(400) {
        for role in [Role::Client, Role::Server] {
            let fuzzer = ConnectionFuzzer::new(&cid, role, Application::HqInterop);
            // Plans that wait past the contents the kind flight has in their state mutate nothing.
            let mut contents_in_state = 0;
            for p in flight(role, 7) {
                content::frames(&p.payload, |f| {
                    let state = FuzzState::of_packet(p.space, content::is_close(f.frame_type));
                    let counted = f.key.is_some_and(|k| !fuzzer.plan().streams_only || k.frame_type == 0x08);
                    contents_in_state += (counted && state == fuzzer.plan().fuzz_state) as u64;
                });
            }
            if fuzzer.plan().wait_packets >= contents_in_state {
                continue;
            }
            plans += 1;
            let (digest, _) = run(&cid, role, &flight(role, 7));
            fuzzed += (digest != mutate::digest(&[])) as u32;
        }
    }
    assert_eq!(fuzzed, plans, "{fuzzed} of {plans} plans that reach their window mutated something");
}

/// The property above is not vacuous: the kind flights have frames that coalesce.
#[test]
fn kind_flights_coalesce() {
    let all = |coalesced| Timing {
        ack_only_before: None,
        ping_before: false,
        ack_in_front: None,
        retransmissions: vec![],
        padding_change: 0,
        coalesced,
    };
    for role in [Role::Client, Role::Server] {
        let kind = flight(role, 3);
        let timings = vec![all(true); kind.len()];
        assert!(reshape(&kind, &timings, &[0], true).len() < kind.len(), "{role:?}");
        assert_eq!(reshape(&kind, &vec![all(false); kind.len()], &[0], true).len(), kind.len());
    }
}

/// Each content's decisions, in the order the contents were first mutated.
fn by_content(fuzzer: &ConnectionFuzzer) -> Vec<(ContentId, Vec<Decision>)> {
    fuzzer.decisions_by_content().into_iter().map(|(id, d)| (id, d.to_vec())).collect()
}

/// Feeds `packets` to `fuzzer`; returns the payloads it sent (unmutated ones as they were).
fn feed(fuzzer: &mut ConnectionFuzzer, packets: &[Packet]) -> Vec<Vec<u8>> {
    let mut mutator = PacketMutator::new();
    packets
        .iter()
        .map(|p| {
            let mut buf = p.payload.clone();
            buf.resize(p.capacity, 0);
            let len =
                fuzzer.on_packet(&mut mutator, p.space, &mut buf, p.payload.len()).mutated.unwrap_or(p.payload.len());
            buf.truncate(len);
            buf
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A restricted fuzzer mutates only the contents it keeps, and each of them exactly as the
    /// unrestricted fuzzer does, whatever the timing; with none kept it sends every packet as
    /// it was.
    #[test]
    fn restriction_keeps_the_decisions_of_the_kept_contents(
        cid in any::<[u8; 8]>(),
        client in any::<bool>(),
        seed in any::<u64>(),
        keep in any::<u8>(),
        timings in proptest::collection::vec(timing(), 5),
        interleave in proptest::collection::vec(any::<u8>(), 1..8),
    ) {
        let cid = Cid::from_slice(&cid).unwrap();
        let role = if client { Role::Client } else { Role::Server };
        let kind = flight(role, seed);
        let packets = reshape(&kind, &timings, &interleave, false);
        let mut full = ConnectionFuzzer::new(&cid, role, Application::HqInterop);
        feed(&mut full, &packets);
        let all = by_content(&full);
        prop_assert_eq!(full.mutated_contents(), all.iter().map(|(id, _)| *id).collect::<Vec<_>>());
        let kept: Vec<(ContentId, Vec<Decision>)> =
            all.iter().enumerate().filter(|(i, _)| keep >> (i % 8) & 1 == 1).map(|(_, c)| c.clone()).collect();
        let only: Arc<BTreeSet<ContentId>> = Arc::new(kept.iter().map(|(id, _)| *id).collect());
        let mut restricted = ConnectionFuzzer::new(&cid, role, Application::HqInterop).restricted_to(only.clone());
        feed(&mut restricted, &packets);
        prop_assert_eq!(by_content(&restricted), kept);
        prop_assert_eq!(restricted.restriction(), Some(&*only));

        let mut none = ConnectionFuzzer::new(&cid, role, Application::HqInterop).restricted_to(Arc::new(BTreeSet::new()));
        let sent = feed(&mut none, &packets);
        prop_assert!(none.decisions().is_empty());
        for (p, s) in packets.iter().zip(&sent) {
            prop_assert_eq!(&p.payload, s, "an unkept content passes untouched");
        }
    }
}

#[test]
fn decisions_group_by_content_in_first_mutated_order() {
    let key = |o| ContentKey::new(0x06, 0, o);
    let d = |space, o, op: &str| Decision { space, content: key(o), operator: op.into(), offset: 0 };
    let mut fuzzer = ConnectionFuzzer::new(&"0123456789abcdef".parse().unwrap(), Role::Client, Application::HqInterop);
    fuzzer.decisions = vec![
        d(PacketSpace::Initial, 0, "tls:alpn"),
        d(PacketSpace::Initial, 0, "havoc:flip_bit"),
        d(PacketSpace::Handshake, 0, "field:crypto.offset"),
        d(PacketSpace::Handshake, 36, "remove"),
    ];
    let groups = fuzzer.decisions_by_content();
    let names: Vec<String> = groups.iter().map(|(id, ds)| format!("{id}={}", ds.len())).collect();
    assert_eq!(names, ["initial/crypto@0=2", "handshake/crypto@0=1", "handshake/crypto@36=1"]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A child makes its parent's decisions first, on the contents its parent mutated, then its
    /// own: each of its contents' decisions begin with the parent's for that content, and its
    /// plan is the parent's. Timing changes none of it, as for any connection.
    #[test]
    fn a_child_repeats_its_parents_decisions_then_adds_its_own(
        parent in any::<[u8; 8]>(),
        child in any::<[u8; 8]>(),
        client in any::<bool>(),
        seed in any::<u64>(),
        timings in proptest::collection::vec(timing(), 5),
        interleave in proptest::collection::vec(any::<u8>(), 1..8),
    ) {
        let (parent, child) = (Cid::from_slice(&parent).unwrap(), Cid::from_slice(&child).unwrap());
        let role = if client { Role::Client } else { Role::Server };
        let kind = flight(role, seed);
        let mut of_parent = ConnectionFuzzer::new(&parent, role, Application::HqInterop);
        feed(&mut of_parent, &kind);
        let mut of_child = ConnectionFuzzer::child(&child, role, Application::HqInterop, &[parent]);
        prop_assert_eq!(&of_child.plan().lineage, &vec![parent]);
        prop_assert_eq!(
            ConnectionPlan { lineage: Vec::new(), ..of_child.plan().clone() },
            of_parent.plan().clone(),
            "the parent's plan"
        );
        feed(&mut of_child, &kind);
        let theirs = by_content(&of_parent);
        let ours = by_content(&of_child);
        prop_assert_eq!(
            theirs.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            ours.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            "the same contents"
        );
        for ((_, p), (_, c)) in theirs.iter().zip(&ours) {
            prop_assert!(c.len() >= p.len() && c[..p.len()] == p[..], "{:?} then more, got {:?}", p, c);
        }
        let mut again = ConnectionFuzzer::child(&child, role, Application::HqInterop, &[parent]);
        feed(&mut again, &reshape(&kind, &timings, &interleave, false));
        prop_assert_eq!(again.digest(), of_child.digest());
    }
}

/// A child's own decisions are its own CID's: two children of one parent differ.
#[test]
fn children_of_one_parent_add_different_decisions() {
    let parent: Cid = "0123456789abcdef".parse().unwrap();
    let digests: BTreeSet<String> = crate::chain::iter("fedcba9876543210".parse().unwrap())
        .take(20)
        .map(|cid| {
            let mut f = ConnectionFuzzer::child(&cid, Role::Client, Application::HqInterop, &[parent]);
            feed(&mut f, &flight(Role::Client, 1));
            f.digest()
        })
        .collect();
    assert!(digests.len() > 15, "{} distinct of 20", digests.len());
}
