//! The library of frames to insert: every frame type of RFC 9000 §19, DATAGRAM (RFC 9221 §4),
//! ACK_FREQUENCY and IMMEDIATE_ACK (draft-ietf-quic-ack-frequency-14 §4, §5), RESET_STREAM_AT
//! (draft-ietf-quic-reliable-stream-reset-09 §4) and the frames of multipath
//! (draft-ietf-quic-multipath-18 §4: PATH_ACK, PATH_ABANDON, PATH_STATUS_BACKUP,
//! PATH_STATUS_AVAILABLE, PATH_NEW_CONNECTION_ID, PATH_RETIRE_CONNECTION_ID, MAX_PATH_ID,
//! PATHS_BLOCKED, PATH_CIDS_BLOCKED), each well formed but with values chosen near the limits
//! the receiver must enforce.
//!
//! The extensions' frames go to receivers that never negotiated them as often as to those that
//! did: a frame type the receiver does not know is a FRAME_ENCODING_ERROR (RFC 9000 §12.4), and
//! the multipath frames outside 1-RTT packets are a PROTOCOL_VIOLATION
//! (draft-ietf-quic-multipath-18 §4).
//!
//! Frames are offered whatever the packet number space: RFC 9000 §12.4 (Table 3) says which
//! types each space permits, and a STREAM frame in an Initial packet is exactly the kind of
//! input a receiver must refuse cleanly. Sizes depend on the generator only.

use super::field::stream_id;
use super::frame::Frame;
use super::varint;
use crate::seed::Role;
use rand::Rng;

/// Bytes that frames with data carry: an hq-interop request, then a pattern.
const DATA: &[u8; 64] = b"GET /index.html\r\n\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\
\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1";

/// The start of a TLS handshake message (RFC 8446 §4): ClientHello type, a length, then junk.
const HANDSHAKE_START: &[u8; 16] = b"\x01\x00\x00\x0c\x03\x03\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09";

/// How many kinds of frame the library holds.
pub const KINDS: usize = 37;

/// A varint-valued field's interesting values: small, the limits of each width, the largest.
fn value<R: Rng>(rng: &mut R) -> u64 {
    match rng.gen_range(0..8) {
        0 => 0,
        1 => 1,
        2 => 0x3f,
        3 => 0x3fff,
        4 => 0x3fff_ffff,
        5 => varint::MAX,
        6 => 1 << 60,
        _ => rng.gen_range(0..1 << 16),
    }
}

/// One more than `x`, but no more than a varint carries: the encoding would clamp it anyway, and
/// a frame's value then decodes back to itself.
fn above(x: u64) -> u64 {
    x.saturating_add(1).min(varint::MAX)
}

fn data<R: Rng>(rng: &mut R) -> &'static [u8] {
    &DATA[..[0, 1, 17, 64][rng.gen_range(0..4)]]
}

/// A frame of kind `kind` (`0..KINDS`) with values drawn from `rng`, sent by `role`.
pub fn frame<R: Rng>(rng: &mut R, role: Role, kind: usize) -> Frame<'static> {
    match kind {
        0 => Frame::Padding { len: rng.gen_range(1..=16) },
        1 => Frame::Ping,
        2 | 3 => {
            // RFC 9000 §19.3.1: a First ACK Range larger than Largest Acknowledged, or ranges
            // that run below zero, are FRAME_ENCODING_ERRORs; acknowledging packets never sent
            // is a PROTOCOL_VIOLATION (§13.1).
            let largest = [0, 1, 2, 1000, varint::MAX][rng.gen_range(0..5)];
            let first_range = [0, largest, above(largest)][rng.gen_range(0..3)];
            let ranges = (0..rng.gen_range(0..3)).map(|_| (value(rng), value(rng))).collect();
            let ecn = if kind == 3 { Some([value(rng), value(rng), value(rng)]) } else { None };
            Frame::Ack { largest, delay: value(rng), first_range, ranges, ecn }
        }
        4 => Frame::ResetStream { stream_id: stream_id(rng, role), error_code: value(rng), final_size: value(rng) },
        5 => Frame::StopSending { stream_id: stream_id(rng, role), error_code: value(rng) },
        6 => {
            // Crypto data past what the receiver buffers is CRYPTO_BUFFER_EXCEEDED (§7.5).
            let offset = [0, 1, 1 << 16, varint::MAX - 16][rng.gen_range(0..4)];
            let data = if rng.gen() { &HANDSHAKE_START[..] } else { data(rng) };
            Frame::Crypto { offset, data }
        }
        // §19.7: an empty token is a FRAME_ENCODING_ERROR; a client must not send NEW_TOKEN.
        7 => Frame::NewToken { token: data(rng) },
        8 => {
            let offset = match rng.gen_range(0..3) {
                0 => None,
                1 => Some(value(rng)),
                _ => Some(varint::MAX - 16),
            };
            Frame::Stream {
                stream_id: stream_id(rng, role),
                offset,
                data: data(rng),
                explicit_len: true,
                fin: rng.gen(),
            }
        }
        9 => Frame::MaxData { maximum: value(rng) },
        10 => Frame::MaxStreamData { stream_id: stream_id(rng, role), maximum: value(rng) },
        // §19.11: "This value cannot exceed 2^60"; above is a FRAME_ENCODING_ERROR.
        11 => Frame::MaxStreams { bidi: true, maximum: max_streams(rng) },
        12 => Frame::MaxStreams { bidi: false, maximum: max_streams(rng) },
        13 => Frame::DataBlocked { limit: value(rng) },
        14 => Frame::StreamDataBlocked { stream_id: stream_id(rng, role), limit: value(rng) },
        15 => Frame::StreamsBlocked { bidi: true, limit: max_streams(rng) },
        16 => Frame::StreamsBlocked { bidi: false, limit: max_streams(rng) },
        17 => {
            // §19.15: Retire Prior To greater than Sequence Number is a FRAME_ENCODING_ERROR, a
            // length outside 1..=20 too; a peer using zero-length CIDs must get none.
            let sequence = [0, 1, 2, 7, varint::MAX][rng.gen_range(0..5)];
            let retire_prior_to = [0, sequence, above(sequence)][rng.gen_range(0..3)];
            let cid_len = [0, 1, 8, 20][rng.gen_range(0..4)];
            let mut reset_token = [0u8; 16];
            rng.fill(&mut reset_token);
            Frame::NewConnectionId { sequence, retire_prior_to, cid: &DATA[17..17 + cid_len], reset_token }
        }
        18 => Frame::RetireConnectionId { sequence: [0, 1, 2, 100, varint::MAX][rng.gen_range(0..5)] },
        19 => Frame::PathChallenge { data: rng.gen() },
        20 => Frame::PathResponse { data: rng.gen() },
        21 => {
            // §20.1 transport error codes 0x00..=0x10, and the crypto range 0x0100..=0x01ff.
            let error_code = [0, 0x07, 0x0a, 0x10, 0x0128, varint::MAX][rng.gen_range(0..6)];
            let frame_type = if rng.gen() { Some([0, 0x06, 0x08, 0xff][rng.gen_range(0..4)]) } else { None };
            Frame::ConnectionClose { error_code, frame_type, reason: data(rng) }
        }
        22 => Frame::HandshakeDone,
        23 => Frame::Datagram { data: data(rng), explicit_len: true },
        24 => Frame::AckFrequency {
            sequence: value(rng),
            ack_eliciting_threshold: value(rng),
            // Microseconds. Below the receiver's min_ack_delay is a PROTOCOL_VIOLATION; 2^24
            // is where the draft caps min_ack_delay itself.
            request_max_ack_delay: [0, 1, 25_000, (1 << 24) - 1, 1 << 24][rng.gen_range(0..5)],
            reordering_threshold: value(rng),
        },
        25 => Frame::ImmediateAck,
        26 => {
            // draft-ietf-quic-reliable-stream-reset-09 §4: a Reliable Size larger than the Final
            // Size is a FRAME_ENCODING_ERROR; 0 is valid (a RESET_STREAM in effect, §5).
            let final_size = [0, 1, 17, 1 << 20, varint::MAX][rng.gen_range(0..5)];
            let reliable_size = [0, final_size, above(final_size), value(rng)][rng.gen_range(0..4)];
            Frame::ResetStreamAt { stream_id: stream_id(rng, role), error_code: value(rng), final_size, reliable_size }
        }
        27 | 28 => {
            // As ACK (kinds 2, 3), for the packet number space of one path.
            let largest = [0, 1, 2, 1000, varint::MAX][rng.gen_range(0..5)];
            let first_range = [0, largest, above(largest)][rng.gen_range(0..3)];
            let ranges = (0..rng.gen_range(0..3)).map(|_| (value(rng), value(rng))).collect();
            let ecn = if kind == 28 { Some([value(rng), value(rng), value(rng)]) } else { None };
            Frame::PathAck { path_id: path_id(rng), largest, delay: value(rng), first_range, ranges, ecn }
        }
        // draft-ietf-quic-multipath-18 §4.2.1: NO_ERROR, APPLICATION_ABANDON_PATH,
        // PATH_RESOURCE_LIMIT_REACHED, PATH_UNSTABLE_OR_POOR, NO_CID_AVAILABLE_FOR_PATH.
        29 => Frame::PathAbandon {
            path_id: path_id(rng),
            error_code: [0, 0x3e, 0x3e75, 0x3e76, 0x3e77, value(rng)][rng.gen_range(0..6)],
        },
        // §4.3: a receiver ignores a sequence number not above the last one of the path.
        30 | 31 => Frame::PathStatus { available: kind == 31, path_id: path_id(rng), sequence: value(rng) },
        32 => {
            // §4.4: NEW_CONNECTION_ID's rules (kind 17), per path.
            let sequence = [0, 1, 2, 7, varint::MAX][rng.gen_range(0..5)];
            let retire_prior_to = [0, sequence, above(sequence)][rng.gen_range(0..3)];
            let cid_len = [0, 1, 8, 20][rng.gen_range(0..4)];
            let mut reset_token = [0u8; 16];
            rng.fill(&mut reset_token);
            Frame::PathNewConnectionId {
                path_id: path_id(rng),
                sequence,
                retire_prior_to,
                cid: &DATA[17..17 + cid_len],
                reset_token,
            }
        }
        33 => Frame::PathRetireConnectionId {
            path_id: path_id(rng),
            sequence: [0, 1, 2, 100, varint::MAX][rng.gen_range(0..5)],
        },
        34 => Frame::MaxPathId { maximum: path_id(rng) },
        35 => Frame::PathsBlocked { limit: path_id(rng) },
        // §4.7: a Next Sequence Number above the next one to be issued is a PROTOCOL_VIOLATION.
        _ => Frame::PathCidsBlocked {
            path_id: path_id(rng),
            next_sequence: [0, 1, 2, 100, varint::MAX][rng.gen_range(0..5)],
        },
    }
}

/// A path ID (draft-ietf-quic-multipath-18 §2.1, §4): the initial path 0, the next ones, and
/// around 2^32-1, the largest the nonce allows; a path ID above the peer's maximum is a
/// PROTOCOL_VIOLATION.
fn path_id<R: Rng>(rng: &mut R) -> u64 {
    [0, 1, 2, 16, (1 << 32) - 1, 1 << 32, varint::MAX][rng.gen_range(0..7)]
}

fn max_streams<R: Rng>(rng: &mut R) -> u64 {
    [0, 1, 100, 1 << 60, (1 << 60) + 1, varint::MAX][rng.gen_range(0..6)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutate::frame::{ty, Frames};
    use rand::SeedableRng;
    use rand_pcg::Pcg64;
    use std::collections::BTreeSet;

    /// Every kind, with every value the generator draws, encodes to a frame that decodes back to
    /// itself and parses to its end; together the kinds cover every frame type the parser knows.
    #[test]
    fn every_kind_round_trips() {
        let mut types = BTreeSet::new();
        let mut frames = Frames::default();
        for seed in 0..200 {
            let mut rng = Pcg64::seed_from_u64(seed);
            for kind in 0..KINDS {
                let role = if seed % 2 == 0 { Role::Client } else { Role::Server };
                let frame = frame(&mut rng, role, kind);
                let mut bytes = Vec::new();
                frame.encode(&mut bytes);
                assert_eq!(Frame::decode(&bytes), Some((frame.clone(), bytes.len())), "kind {kind}");
                frames.parse(&bytes);
                assert!(frames.complete(bytes.len()), "kind {kind}: {frame:?}");
                types.insert(frame.frame_type());
            }
        }
        let mut expected: BTreeSet<u64> = (0x00..=0x1f).chain([0x24, 0x30, 0x31, 0x3e, 0x3f, 0xaf]).collect();
        expected.extend(0x3e75..=0x3e7c);
        // The library's STREAM frames always carry a Length (0x0a, 0x0b, 0x0e, 0x0f), and its
        // DATAGRAMs too (0x31).
        let stream_types: BTreeSet<u64> = types.iter().copied().filter(|t| ty::is_stream(*t)).collect();
        assert!(stream_types.iter().all(|t| t & 0x02 != 0), "{stream_types:?}");
        expected.retain(|t| !ty::is_stream(*t) && *t != ty::DATAGRAM);
        types.retain(|t| !ty::is_stream(*t));
        assert_eq!(types, expected);
    }

    /// The values chosen around the drafts' limits are drawn.
    #[test]
    fn newer_frames_reach_their_limits() {
        let (mut reliable_past_final, mut path_ids, mut max_path_ids) = (false, BTreeSet::new(), BTreeSet::new());
        for seed in 0..300 {
            let mut rng = Pcg64::seed_from_u64(seed);
            for kind in 25..KINDS {
                match frame(&mut rng, Role::Client, kind) {
                    Frame::ResetStreamAt { final_size, reliable_size, .. } => {
                        reliable_past_final |= reliable_size > final_size
                    }
                    Frame::PathAbandon { path_id, .. } => {
                        path_ids.insert(path_id);
                    }
                    Frame::MaxPathId { maximum } => {
                        max_path_ids.insert(maximum);
                    }
                    _ => {}
                }
            }
        }
        assert!(reliable_past_final);
        for id in [0, 1, (1 << 32) - 1, 1 << 32, varint::MAX] {
            assert!(path_ids.contains(&id) && max_path_ids.contains(&id), "{id}");
        }
    }
}
