//! The library of frames to insert: every frame type of RFC 9000 §19, DATAGRAM (RFC 9221) and
//! ACK_FREQUENCY (draft-ietf-quic-ack-frequency), each well formed but with values chosen near
//! the limits the receiver must enforce.
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
pub const KINDS: usize = 25;

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
            let first_range = [0, largest, largest.wrapping_add(1)][rng.gen_range(0..3)];
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
            let retire_prior_to = [0, sequence, sequence.saturating_add(1)][rng.gen_range(0..3)];
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
        _ => Frame::AckFrequency {
            sequence: value(rng),
            ack_eliciting_threshold: value(rng),
            // Microseconds. Below the receiver's min_ack_delay is a PROTOCOL_VIOLATION; 2^24
            // is where the draft caps min_ack_delay itself.
            request_max_ack_delay: [0, 1, 25_000, (1 << 24) - 1, 1 << 24][rng.gen_range(0..5)],
            reordering_threshold: value(rng),
        },
    }
}

fn max_streams<R: Rng>(rng: &mut R) -> u64 {
    [0, 1, 100, 1 << 60, (1 << 60) + 1, varint::MAX][rng.gen_range(0..6)]
}
