//! The layout parser on realistic messages, and the promise of the resizing operators: every
//! enclosing length stays consistent, so the message still parses to its end.

use super::super::corpus;
use super::super::frame::Frames;
use super::*;
use rand::SeedableRng;
use rand_pcg::Pcg64;

fn layout_of(payload: &[u8]) -> (Frames, Layout, bool) {
    let mut frames = Frames::default();
    frames.parse(payload);
    let mut layout = Layout::default();
    let found = layout.parse(&frames, payload);
    (frames, layout, found)
}

#[test]
fn client_hello_layout() {
    let s = corpus::client_initial(7);
    let (_, l, found) = layout_of(&s.payload);
    assert!(found);
    assert_eq!(l.msg_type, msg::CLIENT_HELLO);
    assert_eq!(l.msg_end, l.data_end, "the whole message is in the packet");
    let types: Vec<u16> = l.extensions.iter().map(|e| e.ty).collect();
    assert_eq!(types, [0, 10, 13, 51, 43, 16, 45, 0x39]);
    let keys: Vec<usize> = l.shares.iter().map(|s| s.end - s.key_at).collect();
    assert_eq!(keys, [32, 65]);
    assert_eq!(l.params.len(), 12);
    assert_eq!(l.complete_params(), 12);
    assert!(l.params.iter().any(|p| p.id == params::id::INITIAL_SOURCE_CONNECTION_ID));
}

#[test]
fn truncated_client_hello_parses_as_far_as_it_goes() {
    let (one, two) = corpus::client_initial_split(7);
    let (_, l, found) = layout_of(&one.payload);
    assert!(found);
    assert!(l.msg_end > l.data_end);
    // The post-quantum share is cut; the extensions after key_share are not in this packet.
    assert_eq!(l.shares.len(), 1);
    assert_eq!(l.complete_shares(), 0);
    assert!(l.params.is_empty());
    assert_eq!(l.extensions.last().map(|e| e.ty), Some(ext::KEY_SHARE));
    // The second packet's CRYPTO frame does not start the stream.
    assert!(!layout_of(&two.payload).2);
}

#[test]
fn server_messages_layout() {
    let (_, l, found) = layout_of(&corpus::server_initial(1).payload);
    assert!(found && l.msg_type == msg::SERVER_HELLO);
    assert_eq!(l.extensions.len(), 2);
    assert_eq!(l.shares.len(), 1);
    let (_, l, found) = layout_of(&corpus::server_handshake(1).payload);
    assert!(found && l.msg_type == msg::ENCRYPTED_EXTENSIONS);
    assert_eq!(l.complete_params(), 12);
    let (_, l, found) = layout_of(&corpus::server_ticket(1).payload);
    assert!(found && l.msg_type == msg::NEW_SESSION_TICKET && l.msg_end == l.data_end);
    assert_eq!(l.extensions.iter().map(|e| e.ty).collect::<Vec<_>>(), [ext::EARLY_DATA]);
    let (_, l, found) = layout_of(&corpus::client_handshake(1).payload);
    assert!(found && l.msg_type == 20 && l.extensions.is_empty());
}

/// Operators that resize keep the message, its extensions and the frames consistent.
#[test]
fn resizing_operators_keep_every_length_consistent() {
    let resizing = [
        "tls:ext.duplicate",
        "tls:ext.remove",
        "tls:key_share.resize",
        "tls:key_share.duplicate",
        "tls:key_share.remove",
        "tls:tp.value",
        "tls:tp.id",
        "tls:tp.duplicate",
        "tls:tp.add",
        "tls:tp.remove",
    ];
    let mut seen = std::collections::BTreeSet::new();
    let mut scratch = Vec::new();
    for seed in 0..3000u64 {
        let sample = &[corpus::client_initial(seed), corpus::server_handshake(seed), corpus::server_initial(seed)]
            [seed as usize % 3];
        let mut buf = sample.buffer();
        let (frames, layout, _) = layout_of(&sample.payload);
        // What follows the message in the same CRYPTO frame (the Certificate after
        // EncryptedExtensions) must still follow it.
        let after = layout.data_end as isize - layout.msg_end as isize;
        let mut rng = Pcg64::seed_from_u64(seed);
        let role = sample.packet.role;
        let Some((name, _, len)) =
            mutate(&mut rng, role, &layout, &frames, &mut buf, sample.payload.len(), &mut scratch)
        else {
            continue;
        };
        assert!(len <= buf.len());
        if !resizing.contains(&name) {
            continue;
        }
        seen.insert(name);
        let (frames, l, found) = layout_of(&buf[..len]);
        assert!(frames.complete(len), "{name}: frames stop at {}", frames.parsed_end);
        assert!(found);
        if after == 0 {
            assert_eq!(l.msg_end, l.data_end, "{name}: message length");
        } else {
            // The next message still starts where this one ends, though making room in a full
            // packet may have cut its end.
            assert!(l.data_end as isize - l.msg_end as isize <= after, "{name}: message length");
            assert_eq!(buf[l.msg_end], sample.payload[layout.msg_end], "{name}: next message");
        }
        // Extensions tile the block exactly.
        let block_end = l.extensions_at.map(|at| at + 2 + read_be(&buf, at, 2));
        assert_eq!(l.extensions.last().map(|e| e.end), block_end, "{name}: extension block");
        if let Some(i) = l.params_ext {
            let e = l.extensions[i];
            assert_eq!(l.params.last().map_or(e.data_at, |p| p.end), e.end, "{name}: parameters");
        }
        if let (Some(at), Some(i)) = (l.shares_list_at, l.shares_ext) {
            assert_eq!(at + 2 + read_be(&buf, at, 2), l.extensions[i].end, "{name}: client_shares");
            assert_eq!(l.shares.last().map(|s| s.end), Some(l.extensions[i].end), "{name}: key shares");
        }
    }
    for op in resizing {
        assert!(seen.contains(op), "{op} never applied");
    }
}

#[test]
fn a_whole_message_parses_as_in_the_packet_that_carries_it() {
    let hello = corpus::client_hello_pq(7);
    let mut whole = Layout::default();
    assert!(whole.parse_message(&hello));
    assert_eq!((whole.msg_type, whole.msg_end), (msg::CLIENT_HELLO, hello.len()));
    let keys: Vec<(usize, usize)> = whole.shares.iter().map(|s| (read_be(&hello, s.at, 2), s.end - s.key_at)).collect();
    assert_eq!(keys, [(0x11ec, 1216), (0x1d, 32), (0x17, 65)]);
    assert_eq!(whole.complete_params(), 12);
    // The same parts, at the same places relative to the message, as in a packet.
    let (_, in_packet, _) = layout_of(&corpus::client_initial(7).payload);
    let whole = {
        let mut l = Layout::default();
        assert!(l.parse_message(&corpus::client_hello(7)));
        l
    };
    let relative =
        |l: &Layout| l.extensions.iter().map(|e| (e.ty, e.at - l.data_at, e.end - l.data_at)).collect::<Vec<_>>();
    assert_eq!(relative(&whole), relative(&in_packet));
    assert!(!Layout::default().parse_message(&[1, 0, 0]));
}
