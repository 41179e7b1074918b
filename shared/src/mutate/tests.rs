//! Properties of the whole engine: determinism, independence of packets, the length rules for
//! any input, and that every operator family is reachable on realistic payloads.

use super::corpus::{self, Sample};
use super::frame::{Frame, Frames};
use super::*;
use crate::seed::{ConnectionSeed, PacketSpace, Role};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use std::collections::BTreeSet;

/// How many samples [`corpus::all`] gives.
const SAMPLES: usize = 11;

/// Mutates a copy of `sample` with the generator `seed` gives; returns decisions and bytes.
fn run(m: &mut Mutator, sample: &Sample, seed: u64) -> (Vec<Decision>, Vec<u8>) {
    let mut buf = sample.buffer();
    let mut decisions = Vec::new();
    let mut rng = Pcg64::seed_from_u64(seed);
    let len = m.mutate(&mut rng, &sample.packet, &mut buf, sample.payload.len(), &mut decisions);
    check_len(len, buf.len());
    buf.truncate(len);
    (decisions, buf)
}

fn check_len(len: usize, cap: usize) {
    assert!(len == 0 || (MIN_PAYLOAD_LEN..=cap).contains(&len), "length {len} with capacity {cap}");
}

fn family(op: &str) -> &str {
    op.split(':').next().unwrap_or(op)
}

#[test]
fn every_operator_family_is_reachable() {
    let mut m = Mutator::new();
    let mut ops = BTreeSet::new();
    for seed in 0..40 {
        for sample in corpus::all(seed) {
            for i in 0..100 {
                let (decisions, _) = run(&mut m, &sample, seed << 32 | i);
                ops.extend(decisions.into_iter().map(|d| d.operator));
            }
        }
    }
    let families: BTreeSet<&str> = ops.iter().map(|o| family(o)).collect();
    for f in ["field", "insert", "remove", "duplicate", "reorder", "flip", "havoc"] {
        assert!(families.contains(f), "family {f} never used; saw {families:?}");
    }
    for op in [
        "flip:ping",
        "flip:padding",
        "flip:handshake_done",
        "havoc:flip_bit",
        "havoc:truncate",
        "field:stream.offset",
        "field:stream.stream_id",
        "field:ack.largest",
        "field:crypto.length",
        "field:new_connection_id.length",
        "field:frame_type",
    ] {
        assert!(ops.contains(op), "operator {op} never used");
    }
    for op in super::tls::Op::ALL {
        assert!(ops.contains(op.name()), "operator {} never used", op.name());
    }
    // Every frame of the library gets inserted.
    for t in [
        "padding",
        "ping",
        "ack",
        "ack_ecn",
        "reset_stream",
        "stop_sending",
        "crypto",
        "new_token",
        "stream",
        "max_data",
        "max_stream_data",
        "max_streams_bidi",
        "max_streams_uni",
        "data_blocked",
        "stream_data_blocked",
        "streams_blocked_bidi",
        "streams_blocked_uni",
        "new_connection_id",
        "retire_connection_id",
        "path_challenge",
        "path_response",
        "connection_close",
        "connection_close_app",
        "handshake_done",
        "datagram",
        "ack_frequency",
        "immediate_ack",
        "reset_stream_at",
        "path_ack",
        "path_ack_ecn",
        "path_abandon",
        "path_status_backup",
        "path_status_available",
        "path_new_connection_id",
        "path_retire_connection_id",
        "max_path_id",
        "paths_blocked",
        "path_cids_blocked",
    ] {
        assert!(ops.contains(&format!("insert:{t}")), "insert:{t} never used");
    }
}

/// Two runs of a connection carry different random bytes in the same structure: the decisions
/// must not notice.
#[test]
fn decisions_follow_structure_not_random_bytes() {
    let mut m = Mutator::new();
    let (mut same, mut total) = (0, 0);
    for i in 0..300u64 {
        for (a, b) in corpus::all(1).iter().zip(corpus::all(2)) {
            assert_eq!(a.payload.len(), b.payload.len());
            total += 1;
            same += (run(&mut m, a, i).0 == run(&mut m, &b, i).0) as u32;
        }
    }
    assert!(same * 100 >= total * 95, "only {same} of {total} packets decided alike");
}

#[test]
fn closes_connection_parses_frames() {
    assert!(closes_connection(&corpus::closing(0).payload));
    assert!(closes_connection(&[0x00, 0x01, 0x1c, 0x00, 0x06, 0x00]));
    for s in corpus::all(0).iter().filter(|s| s.name != "closing") {
        assert!(!closes_connection(&s.payload), "{}", s.name);
    }
    // A CONNECTION_CLOSE type followed by garbage is no frame.
    assert!(!closes_connection(&[0x1c]));
    assert!(!closes_connection(&[0x1d, 0x00, 0x05, 0x41]));
    assert!(!closes_connection(&[0x01, 0xff, 0x1c]));
    assert!(!closes_connection(&[]));
}

#[test]
fn corpus_payloads_parse_completely() {
    let mut frames = Frames::default();
    for s in corpus::all(3) {
        frames.parse(&s.payload);
        assert!(frames.complete(s.payload.len()), "{} stops at {}", s.name, frames.parsed_end);
        assert!(s.payload.len() <= s.capacity);
    }
    assert_eq!(corpus::client_initial(0).payload.len(), corpus::INITIAL_PAYLOAD_LEN);
}

/// A frame generated from plain values; data fields borrow from the strategy's bytes.
fn build(kind: u8, v: [u64; 4], flags: u8, data: &[u8], ranges: Vec<(u64, u64)>) -> Frame<'_> {
    let b = |i: u8| flags >> i & 1 == 1;
    let small = |x: u64| x % 64;
    match kind % 32 {
        0 => Frame::Padding { len: 1 + (v[0] % 50) as usize },
        1 => Frame::Ping,
        2 => Frame::Ack {
            largest: v[0],
            delay: v[1],
            first_range: v[2],
            ranges,
            ecn: b(0).then_some([v[3], small(v[0]), v[1]]),
        },
        3 => Frame::ResetStream { stream_id: v[0], error_code: v[1], final_size: v[2] },
        4 => Frame::StopSending { stream_id: v[0], error_code: v[1] },
        5 => Frame::Crypto { offset: v[0], data },
        6 => Frame::NewToken { token: data },
        7 => Frame::Stream { stream_id: v[0], offset: b(0).then_some(v[1]), data, explicit_len: b(1), fin: b(2) },
        8 => Frame::MaxData { maximum: v[0] },
        9 => Frame::MaxStreamData { stream_id: v[0], maximum: v[1] },
        10 => Frame::MaxStreams { bidi: b(0), maximum: v[0] },
        11 => Frame::DataBlocked { limit: v[0] },
        12 => Frame::StreamDataBlocked { stream_id: v[0], limit: v[1] },
        13 => Frame::StreamsBlocked { bidi: b(0), limit: v[0] },
        14 => Frame::NewConnectionId {
            sequence: v[0],
            retire_prior_to: v[1],
            cid: &data[..data.len().min(20)],
            reset_token: [flags; 16],
        },
        15 => Frame::RetireConnectionId { sequence: v[0] },
        16 => Frame::PathChallenge { data: v[0].to_be_bytes() },
        17 => Frame::PathResponse { data: v[1].to_be_bytes() },
        18 => Frame::ConnectionClose { error_code: v[0], frame_type: b(0).then_some(v[1]), reason: data },
        19 => Frame::HandshakeDone,
        20 => Frame::Datagram { data, explicit_len: b(0) },
        21 => Frame::AckFrequency {
            sequence: v[0],
            ack_eliciting_threshold: v[1],
            request_max_ack_delay: v[2],
            reordering_threshold: v[3],
        },
        22 => Frame::ImmediateAck,
        23 => Frame::ResetStreamAt { stream_id: v[0], error_code: v[1], final_size: v[2], reliable_size: v[3] },
        24 => Frame::PathAck {
            path_id: v[3],
            largest: v[0],
            delay: v[1],
            first_range: v[2],
            ranges,
            ecn: b(0).then_some([v[3], small(v[0]), v[1]]),
        },
        25 => Frame::PathAbandon { path_id: v[0], error_code: v[1] },
        26 => Frame::PathStatus { available: b(0), path_id: v[0], sequence: v[1] },
        27 => Frame::PathNewConnectionId {
            path_id: v[2],
            sequence: v[0],
            retire_prior_to: v[1],
            cid: &data[..data.len().min(20)],
            reset_token: [flags; 16],
        },
        28 => Frame::PathRetireConnectionId { path_id: v[0], sequence: v[1] },
        29 => Frame::MaxPathId { maximum: v[0] },
        30 => Frame::PathsBlocked { limit: v[0] },
        _ => Frame::PathCidsBlocked { path_id: v[0], next_sequence: v[1] },
    }
}

fn any_varint() -> impl Strategy<Value = u64> {
    prop_oneof![0..64u64, 0..=0x3fffu64, 0..=varint::MAX, Just(varint::MAX)]
}

fn garbage_case() -> impl Strategy<Value = (Vec<u8>, usize, usize, u64)> {
    (proptest::collection::vec(any::<u8>(), 0..400), prop_oneof![Just(0usize), 0usize..64], any::<u64>()).prop_flat_map(
        |(bytes, extra, seed)| {
            let n = bytes.len();
            (Just(bytes), 0..=n, Just(extra), Just(seed)).prop_map(|(bytes, len, extra, seed)| {
                let cap = (len + extra).min(bytes.len().max(len));
                (bytes, len, cap, seed)
            })
        },
    )
}

fn any_packet() -> impl Strategy<Value = PacketInfo> {
    (any::<bool>(), 0usize..3, 0u64..10, any::<bool>()).prop_map(|(client, s, pn, h3)| PacketInfo {
        role: if client { Role::Client } else { Role::Server },
        space: PacketSpace::ALL[s],
        content: crate::content::ContentKey::new(0x06, 0, pn),
        application: if h3 { Application::H3 } else { Application::HqInterop },
    })
}

proptest! {
    #[test]
    fn frames_round_trip(
        kind in any::<u8>(),
        v in [any_varint(), any_varint(), any_varint(), any_varint()],
        flags in any::<u8>(),
        data in proptest::collection::vec(any::<u8>(), 0..80),
        ranges in proptest::collection::vec((any_varint(), any_varint()), 0..4),
    ) {
        let frame = build(kind, v, flags, &data, ranges);
        let mut bytes = Vec::new();
        frame.encode(&mut bytes);
        prop_assert_eq!(Frame::decode(&bytes), Some((frame.clone(), bytes.len())));
        let mut frames = Frames::default();
        frames.parse(&bytes);
        prop_assert!(frames.complete(bytes.len()));
        prop_assert_eq!(frames.frames.len(), 1);
        prop_assert_eq!(frames.frames[0].ty, frame.frame_type());
        // Fields lie inside the frame, in order, without overlapping.
        let mut at = 0;
        for f in frames.fields_of(&frames.frames[0]) {
            prop_assert!(f.at as usize >= at);
            at = (f.at + f.len) as usize;
        }
        prop_assert!(at <= bytes.len());
    }

    /// The length rules, for anything at all as input.
    #[test]
    fn any_input_gives_a_legal_length(
        (mut bytes, len, cap, seed) in garbage_case(),
        packet in any_packet(),
    ) {
        bytes.truncate(cap);
        let buf = &mut bytes[..];
        let mut decisions = Vec::new();
        let mut rng = Pcg64::seed_from_u64(seed);
        let out = Mutator::new().mutate(&mut rng, &packet, buf, len, &mut decisions);
        let legal = out == 0 || (MIN_PAYLOAD_LEN..=buf.len()).contains(&out);
        prop_assert!(legal, "{} of {}", out, buf.len());
        prop_assert!(decisions.len() <= 4);
        let ours = |d: &Decision| d.space == packet.space && d.content == packet.content;
        prop_assert!(decisions.iter().all(ours));
    }

    /// Handshake messages cut anywhere and corrupted anywhere: the TLS parser and operators meet
    /// every kind of broken ClientHello, ServerHello and EncryptedExtensions.
    #[test]
    fn broken_handshake_messages(
        seed in any::<u64>(),
        which in 0usize..4,
        cut in any::<proptest::sample::Index>(),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..6),
        room in 0usize..64,
    ) {
        let hello = match which {
            0 => corpus::client_hello(seed),
            1 => corpus::server_hello(seed),
            2 => corpus::encrypted_extensions(seed),
            _ => corpus::new_session_ticket(seed),
        };
        let hello = &hello[..cut.index(hello.len() + 1)];
        let mut buf = Vec::new();
        Frame::Crypto { offset: 0, data: hello }.encode(&mut buf);
        for (at, x) in flips {
            let i = at.index(buf.len());
            buf[i] ^= x;
        }
        let len = buf.len();
        buf.resize(len + room, 0);
        let packet = PacketInfo {
            role: if which == 0 { Role::Client } else { Role::Server },
            space: [
                PacketSpace::Initial,
                PacketSpace::Initial,
                PacketSpace::Handshake,
                PacketSpace::ApplicationData,
            ][which],
            content: crate::content::ContentKey::new(0x06, 0, 0),
            application: Application::HqInterop,
        };
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut m = Mutator::new();
        let mut len = len;
        for _ in 0..4 {
            len = m.mutate(&mut rng, &packet, &mut buf, len, &mut Vec::new());
            prop_assert!(len == 0 || (MIN_PAYLOAD_LEN..=buf.len()).contains(&len));
        }
    }

    /// The length rules on realistic payloads, mutated repeatedly, with or without spare room.
    #[test]
    fn realistic_inputs_give_legal_lengths(
        seed in any::<u64>(),
        which in 0usize..SAMPLES,
        rounds in 1usize..6,
        tight in any::<bool>(),
    ) {
        let sample = &corpus::all(seed)[which];
        let mut buf = sample.buffer();
        if tight {
            buf.truncate(sample.payload.len());
        }
        let mut len = sample.payload.len();
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut m = Mutator::new();
        for _ in 0..rounds {
            let mut decisions = Vec::new();
            len = m.mutate(&mut rng, &sample.packet, &mut buf, len, &mut decisions);
            prop_assert!(len == 0 || (MIN_PAYLOAD_LEN..=buf.len()).contains(&len));
            prop_assert!(!decisions.is_empty() || len == 0);
        }
    }

    #[test]
    fn same_seed_same_decisions_and_bytes(
        seed in any::<u64>(),
        which in 0usize..SAMPLES,
        cid in any::<[u8; 8]>(),
    ) {
        let sample = &corpus::all(seed)[which];
        let cseed = ConnectionSeed::from_cid(&crate::Cid::from_slice(&cid).unwrap());
        let p = sample.packet;
        let go = |m: &mut Mutator| {
            let mut buf = sample.buffer();
            let mut d = Vec::new();
            let mut rng = cseed.content_rng(p.role, p.space, &p.content);
            let len = m.mutate(&mut rng, &p, &mut buf, sample.payload.len(), &mut d);
            buf.truncate(len);
            (d, buf)
        };
        let mut m = Mutator::new();
        let first = go(&mut m);
        prop_assert!(!first.0.is_empty());
        prop_assert_eq!(&first, &go(&mut m));
        prop_assert_eq!(&first, &go(&mut Mutator::new()));
    }

    /// Packet N's decisions do not depend on what the mutator did before.
    #[test]
    fn packets_are_independent(
        seed in any::<u64>(),
        which in 0usize..SAMPLES,
        before in proptest::collection::vec((0usize..SAMPLES, any::<u64>()), 0..6),
    ) {
        let samples = corpus::all(seed);
        let mut used = Mutator::new();
        for (i, s) in before {
            run(&mut used, &samples[i], s);
        }
        let fresh = run(&mut Mutator::new(), &samples[which], seed);
        prop_assert_eq!(run(&mut used, &samples[which], seed), fresh);
    }
}

/// Mutations of mutations: every operator meets payloads that earlier ones broke (a length
/// that lies, a truncated extension, a frame type flipped), with and without room to grow.
#[test]
fn chained_mutations_never_break_the_rules() {
    let mut m = Mutator::new();
    let mut decisions = Vec::new();
    for seed in 0..1500u64 {
        for sample in corpus::all(seed) {
            let mut buf = sample.buffer();
            if seed % 2 == 0 {
                buf.truncate(sample.payload.len());
            }
            let mut len = sample.payload.len();
            let mut rng = Pcg64::seed_from_u64(seed);
            for _ in 0..8 {
                len = m.mutate(&mut rng, &sample.packet, &mut buf, len, &mut decisions);
                check_len(len, buf.len());
                if len == 0 {
                    break;
                }
            }
            decisions.clear();
        }
    }
}

/// Payloads of 0 to 5 bytes in buffers of 0 to 6: never 1 to 3 bytes back, never past the
/// buffer.
#[test]
fn tiny_payloads_and_buffers() {
    let mut m = Mutator::new();
    let mut decisions = Vec::new();
    let packet = corpus::closing(0).packet;
    for cap in 0..=6usize {
        for len in 0..=cap {
            for pattern in [0x00u8, 0x01, 0x1c, 0x40, 0xff] {
                for seed in 0..200 {
                    let mut buf = vec![pattern; cap];
                    let mut rng = Pcg64::seed_from_u64(seed);
                    let out = m.mutate(&mut rng, &packet, &mut buf, len, &mut decisions);
                    check_len(out, cap);
                    assert_eq!(out == 0, len == 0 || cap < MIN_PAYLOAD_LEN, "len {len} cap {cap}");
                }
            }
        }
    }
    // A length larger than the buffer is taken as the buffer.
    let mut buf = [1u8; 5];
    let out = m.mutate(&mut Pcg64::seed_from_u64(1), &packet, &mut buf, 50, &mut decisions);
    check_len(out, 5);
}

/// Packets filled to capacity with data (a server's response) still take insertions and
/// duplications: room is cut from the stream data.
#[test]
fn full_packets_still_grow() {
    let mut m = Mutator::new();
    let sample = corpus::server_stream(5);
    assert_eq!(sample.payload.len(), sample.capacity);
    let mut ops = BTreeSet::new();
    for seed in 0..400 {
        ops.extend(run(&mut m, &sample, seed).0.into_iter().map(|d| d.operator));
    }
    assert!(ops.iter().any(|o| o.starts_with("insert:")), "{ops:?}");
    assert!(ops.contains("duplicate"), "{ops:?}");
}
