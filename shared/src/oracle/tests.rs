//! Each rule against the reactions its RFC section allows and those it does not, and the
//! connections that get no verdict.

use super::*;
use crate::content::ContentKey;
use crate::mutate::frame::ty;

fn content(space: PacketSpace, frame_type: u64) -> ContentId {
    ContentId::new(space, ContentKey::new(frame_type, 0, 0))
}

fn mutated(decisions: &[(PacketSpace, &str)]) -> MutatedContents {
    let mut m = MutatedContents::new();
    for (i, (space, op)) in decisions.iter().enumerate() {
        m.entry(ContentId::new(*space, ContentKey::new(ty::CRYPTO, 0, i as u64))).or_default().push(op.to_string());
    }
    m
}

fn verdict(decisions: &[(PacketSpace, &str)], outcome: Outcome, code: Option<u64>) -> Option<Verdict> {
    judge(&mutated(decisions), end(outcome, code))
}

fn end(outcome: Outcome, error_code: Option<u64>) -> Ending<'static> {
    Ending { outcome, error_code, detail: None }
}

const APP: PacketSpace = PacketSpace::ApplicationData;

/// RFC 9000 §19.20: "A server MUST treat receipt of a HANDSHAKE_DONE frame as a connection
/// error of type PROTOCOL_VIOLATION."
#[test]
fn a_client_handshake_done_is_a_protocol_violation() {
    let v = verdict(&[(APP, "insert:handshake_done")], Outcome::PeerClosed, Some(0x0a)).unwrap();
    assert_eq!((v.rule.as_str(), v.section.as_str(), v.expected), ("client_handshake_done", "RFC 9000 §19.20", true));
    assert_eq!(v.allowed, "closes with PROTOCOL_VIOLATION (0x0a)");
    let v = verdict(&[(APP, "insert:handshake_done")], Outcome::Completed, None).unwrap();
    assert!(!v.expected);
    assert_eq!(v.seen, "completed");
    let v = verdict(&[(APP, "insert:handshake_done")], Outcome::PeerClosed, Some(0x07)).unwrap();
    assert!(!v.expected, "another code is not the one the RFC names");
    assert_eq!(v.seen, "closes with FRAME_ENCODING_ERROR (0x07)");
    let v = verdict(&[(APP, "insert:handshake_done")], Outcome::LocalClosed, Some(0x0a)).unwrap();
    assert!(!v.expected, "the client closing is not the server's reaction");
}

/// RFC 9000 §19.7: "A server MUST treat receipt of a NEW_TOKEN frame as a connection error of
/// type PROTOCOL_VIOLATION."
#[test]
fn a_client_new_token_is_a_protocol_violation() {
    for space in PacketSpace::ALL {
        let v = verdict(&[(space, "insert:new_token")], Outcome::PeerClosed, Some(0x0a)).unwrap();
        assert_eq!((v.rule.as_str(), v.expected), ("client_new_token", true), "{space:?}");
    }
    assert!(!verdict(&[(APP, "insert:new_token")], Outcome::Timeout, None).unwrap().expected);
}

/// RFC 9000 §12.4: "An endpoint MUST treat receipt of a frame in a packet type that is not
/// permitted as a connection error of type PROTOCOL_VIOLATION." Table 3: Initial and Handshake
/// packets carry PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE only.
#[test]
fn a_frame_not_permitted_in_its_packet_type_is_a_protocol_violation() {
    for space in [PacketSpace::Initial, PacketSpace::Handshake] {
        for op in ["insert:stream", "insert:max_data", "insert:path_challenge", "insert:retire_connection_id"] {
            let v = verdict(&[(space, op)], Outcome::PeerClosed, Some(0x0a)).unwrap();
            assert_eq!(
                (v.rule.as_str(), v.section.as_str(), v.expected),
                ("frame_not_permitted_in_packet_type", "RFC 9000 §12.4", true)
            );
            assert!(!verdict(&[(space, op)], Outcome::HandshakeFailed, None).unwrap().expected);
            // A server that closes before the handshake is over closes all the same (aioquic
            // does, for a STREAM frame in the client's Initial); the client's own close does not
            // count.
            let in_handshake = |detail| {
                let end = Ending { outcome: Outcome::HandshakeFailed, error_code: Some(0x0a), detail: Some(detail) };
                judge(&mutated(&[(space, op)]), end).unwrap()
            };
            let v = in_handshake("peer closed the handshake: PROTOCOL_VIOLATION");
            assert!(v.expected, "{v:?}");
            assert_eq!(v.seen, "closes with PROTOCOL_VIOLATION (0x0a)");
            let v = in_handshake("local error: PROTOCOL_VIOLATION");
            assert!(!v.expected, "{v:?}");
            assert_eq!(v.seen, "handshake_failed (0x0a)");
        }
        for allowed in ["insert:ping", "insert:padding", "insert:ack", "insert:crypto", "insert:connection_close"] {
            assert_eq!(verdict(&[(space, allowed)], Outcome::Completed, None), None, "{allowed} is permitted there");
        }
    }
    assert_eq!(verdict(&[(APP, "insert:stream")], Outcome::Completed, None), None, "1-RTT carries any frame");
    assert_eq!(
        verdict(&[(PacketSpace::Initial, "insert:connection_close_app")], Outcome::Completed, None),
        None,
        "§12.5 lets the receiver read an application close in an Initial as it likes"
    );
}

/// RFC 9000 §12.4: "An endpoint MUST treat the receipt of a frame of unknown type as a
/// connection error of type FRAME_ENCODING_ERROR"; a frame of an extension the client never
/// offered is one, and PROTOCOL_VIOLATION is accepted too.
#[test]
fn an_extension_frame_not_negotiated_is_closed_over() {
    for op in ["insert:reset_stream_at", "insert:path_abandon", "insert:max_path_id"] {
        for code in [0x07, 0x0a] {
            let v = verdict(&[(APP, op)], Outcome::PeerClosed, Some(code)).unwrap();
            assert_eq!((v.rule.as_str(), v.expected), ("extension_frame_not_negotiated", true), "{op} {code}");
        }
        let v = verdict(&[(APP, op)], Outcome::Completed, None).unwrap();
        assert!(!v.expected);
        assert_eq!(v.allowed, "closes with FRAME_ENCODING_ERROR (0x07) or closes with PROTOCOL_VIOLATION (0x0a)");
    }
}

/// RFC 9000 §7.4: "An endpoint SHOULD treat receipt of duplicate transport parameters as a
/// connection error of type TRANSPORT_PARAMETER_ERROR": closing so, or going on, are as expected.
#[test]
fn a_duplicate_transport_parameter_is_closed_over_or_tolerated() {
    let init = PacketSpace::Initial;
    let closes = verdict(&[(init, "tls:tp.duplicate")], Outcome::HandshakeFailed, Some(0x08)).unwrap();
    assert_eq!((closes.rule.as_str(), closes.section.as_str()), ("duplicate_transport_parameter", "RFC 9000 §7.4"));
    assert!(closes.expected, "{closes:?}");
    assert!(verdict(&[(init, "tls:tp.duplicate")], Outcome::Completed, None).unwrap().expected);
    let silent = verdict(&[(init, "tls:tp.duplicate")], Outcome::Timeout, None).unwrap();
    assert!(!silent.expected);
    assert_eq!(silent.allowed, "closes with TRANSPORT_PARAMETER_ERROR (0x08) or completes");
    assert!(!verdict(&[(init, "tls:tp.duplicate")], Outcome::PeerClosed, Some(0x0a)).unwrap().expected);
    assert_eq!(verdict(&[(init, "tls:tp.duplicate"), (init, "tls:tp.value")], Outcome::Completed, None), None);
}

/// No verdict for a connection that mutated nothing, whose decisions fall under no rule, or whose
/// decisions mix rules or mix a rule with other decisions: a guess would be noise.
#[test]
fn mixed_or_unruled_decisions_get_no_verdict() {
    assert_eq!(verdict(&[], Outcome::Completed, None), None);
    assert_eq!(verdict(&[(APP, "havoc:flip_bit")], Outcome::PeerClosed, Some(0x07)), None);
    let mixed = [(APP, "insert:handshake_done"), (APP, "insert:new_token")];
    assert_eq!(verdict(&mixed, Outcome::PeerClosed, Some(0x0a)), None);
    let with_other = [(APP, "insert:handshake_done"), (APP, "field:stream.offset")];
    assert_eq!(verdict(&with_other, Outcome::PeerClosed, Some(0x0a)), None);
    // What rides with the client's CONNECTION_CLOSE: the server owes it no reaction.
    let mut closing = MutatedContents::new();
    closing.insert(content(APP, 0x1c), vec!["insert:handshake_done".into()]);
    assert_eq!(judge(&closing, end(Outcome::Completed, None)), None);
    // Two decisions of one rule are one test case.
    let twice = [(APP, "insert:handshake_done"), (PacketSpace::Handshake, "insert:handshake_done")];
    assert!(verdict(&twice, Outcome::PeerClosed, Some(0x0a)).unwrap().expected);
}

/// A decision falls under one rule at most, so the order of the table decides nothing.
#[test]
fn rules_do_not_overlap() {
    let types = (0..=0x40).chain([ty::ACK_FREQUENCY]).chain(0x3e75..=0x3e7c);
    let ops: Vec<&str> = types.map(crate::mutate::structure::insert_name).collect();
    for space in PacketSpace::ALL {
        for op in &ops {
            let id = content(space, 0);
            let under: Vec<&str> = RULES.iter().filter(|r| (r.covers)(&id, op)).map(|r| r.name).collect();
            assert!(under.len() <= 1, "{op} in {space:?} falls under {under:?}");
        }
    }
}
