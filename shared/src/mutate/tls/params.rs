//! Operators on the QUIC transport parameters extension (RFC 9001 §8.2, extension 0x39), whose
//! body is a sequence of (identifier, length, value) with varint identifier and length
//! (RFC 9000 §18).
//!
//! Values come from the limits of RFC 9000 §18.2 and the rules around them:
//! - max_udp_payload_size: "Values below 1200 are invalid."
//! - ack_delay_exponent: "Values above 20 are invalid."
//! - max_ack_delay: "Values of 2^14 or greater are invalid."
//! - active_connection_id_limit: "MUST be at least 2".
//! - initial_max_streams_bidi/uni: "cannot exceed 2^60".
//! - "A client MUST NOT include any server-only transport parameter:
//!   original_destination_connection_id, preferred_address, retry_source_connection_id, or
//!   stateless_reset_token."
//! - RFC 9000 §7.4: "An endpoint SHOULD treat receipt of duplicate transport parameters as a
//!   connection error of type TRANSPORT_PARAMETER_ERROR."
//! - RFC 9000 §18.1: "Transport parameters with an identifier of the form 31 * N + 27 for integer
//!   values of N are reserved to exercise the requirement that unknown transport parameters be
//!   ignored."

use super::super::varint;
use super::{pick, Context, Op};
use crate::seed::Role;
use rand::Rng;

/// Transport parameter identifiers (RFC 9000 §18.2, RFC 9221 §3, RFC 9368 §3, RFC 9287 §3,
/// draft-ietf-quic-ack-frequency §3).
pub mod id {
    pub const ORIGINAL_DESTINATION_CONNECTION_ID: u64 = 0x00;
    pub const MAX_IDLE_TIMEOUT: u64 = 0x01;
    pub const STATELESS_RESET_TOKEN: u64 = 0x02;
    pub const MAX_UDP_PAYLOAD_SIZE: u64 = 0x03;
    pub const INITIAL_MAX_DATA: u64 = 0x04;
    pub const INITIAL_MAX_STREAM_DATA_BIDI_LOCAL: u64 = 0x05;
    pub const INITIAL_MAX_STREAM_DATA_BIDI_REMOTE: u64 = 0x06;
    pub const INITIAL_MAX_STREAM_DATA_UNI: u64 = 0x07;
    pub const INITIAL_MAX_STREAMS_BIDI: u64 = 0x08;
    pub const INITIAL_MAX_STREAMS_UNI: u64 = 0x09;
    pub const ACK_DELAY_EXPONENT: u64 = 0x0a;
    pub const MAX_ACK_DELAY: u64 = 0x0b;
    pub const DISABLE_ACTIVE_MIGRATION: u64 = 0x0c;
    pub const PREFERRED_ADDRESS: u64 = 0x0d;
    pub const ACTIVE_CONNECTION_ID_LIMIT: u64 = 0x0e;
    pub const INITIAL_SOURCE_CONNECTION_ID: u64 = 0x0f;
    pub const RETRY_SOURCE_CONNECTION_ID: u64 = 0x10;
    pub const VERSION_INFORMATION: u64 = 0x11;
    pub const MAX_DATAGRAM_FRAME_SIZE: u64 = 0x20;
    pub const GREASE_QUIC_BIT: u64 = 0x2ab2;
    pub const MIN_ACK_DELAY: u64 = 0xff04de1b;
}

/// An identifier to put where another was, or to add: server-only ones, ones with limits,
/// reserved (GREASE) and unknown ones.
fn interesting_id<R: Rng>(rng: &mut R) -> u64 {
    use id::*;
    match rng.gen_range(0..4) {
        0 => [ORIGINAL_DESTINATION_CONNECTION_ID, STATELESS_RESET_TOKEN, PREFERRED_ADDRESS, RETRY_SOURCE_CONNECTION_ID]
            [rng.gen_range(0..4)],
        1 => [
            MAX_UDP_PAYLOAD_SIZE,
            ACK_DELAY_EXPONENT,
            MAX_ACK_DELAY,
            ACTIVE_CONNECTION_ID_LIMIT,
            INITIAL_MAX_STREAMS_BIDI,
            INITIAL_MAX_STREAMS_UNI,
            DISABLE_ACTIVE_MIGRATION,
            VERSION_INFORMATION,
            MAX_DATAGRAM_FRAME_SIZE,
            GREASE_QUIC_BIT,
            MIN_ACK_DELAY,
            INITIAL_SOURCE_CONNECTION_ID,
            MAX_IDLE_TIMEOUT,
            INITIAL_MAX_DATA,
        ][rng.gen_range(0..14)],
        2 => {
            // Reserved: 31 * N + 27, small N and the largest N that still fits a varint.
            let n = [0, 1, 2, rng.gen_range(0..1 << 20), (varint::MAX - 27) / 31][rng.gen_range(0..5)];
            31 * n + 27
        }
        _ => rng.gen_range(0x12..=varint::MAX),
    }
}

/// Appends an interesting value for parameter `param` (its bytes, without length) to `out`.
fn interesting_value<R: Rng>(rng: &mut R, param: u64, out: &mut Vec<u8>) {
    use id::*;
    let int = |x: u64, out: &mut Vec<u8>| varint::push(x, out);
    let bytes = |n: usize, out: &mut Vec<u8>| out.extend((0..n).map(|i| (i as u8).wrapping_mul(37)));
    // A varint followed by a stray byte: the length covers more than the value (§18: the
    // value must be exactly a varint for integer parameters).
    if rng.gen_ratio(1, 10) {
        int(rng.gen_range(0..64), out);
        out.push(0);
        return;
    }
    match param {
        MAX_IDLE_TIMEOUT => int([0, 1, 1 << 31, varint::MAX][rng.gen_range(0..4)], out),
        MAX_UDP_PAYLOAD_SIZE => int([0, 1, 1199, 1200, 65527, 65528, varint::MAX][rng.gen_range(0..7)], out),
        INITIAL_MAX_DATA
        | INITIAL_MAX_STREAM_DATA_BIDI_LOCAL
        | INITIAL_MAX_STREAM_DATA_BIDI_REMOTE
        | INITIAL_MAX_STREAM_DATA_UNI => int([0, 1, 1 << 32, varint::MAX][rng.gen_range(0..4)], out),
        INITIAL_MAX_STREAMS_BIDI | INITIAL_MAX_STREAMS_UNI => {
            int([0, 1, 1 << 60, (1 << 60) + 1, varint::MAX][rng.gen_range(0..5)], out)
        }
        ACK_DELAY_EXPONENT => int([0, 20, 21, 63, varint::MAX][rng.gen_range(0..5)], out),
        MAX_ACK_DELAY => int([0, (1 << 14) - 1, 1 << 14, varint::MAX][rng.gen_range(0..4)], out),
        ACTIVE_CONNECTION_ID_LIMIT => int([0, 1, 2, varint::MAX][rng.gen_range(0..4)], out),
        // Zero-length by definition: any value is an error.
        DISABLE_ACTIVE_MIGRATION | GREASE_QUIC_BIT => bytes([0, 1, 8][rng.gen_range(0..3)], out),
        // Connection IDs: 0 to 20 bytes valid (RFC 9000 §17.2).
        ORIGINAL_DESTINATION_CONNECTION_ID | INITIAL_SOURCE_CONNECTION_ID | RETRY_SOURCE_CONNECTION_ID => {
            bytes([0, 1, 8, 20, 21][rng.gen_range(0..5)], out)
        }
        // 16 bytes exactly.
        STATELESS_RESET_TOKEN => bytes([0, 15, 16, 17][rng.gen_range(0..4)], out),
        // RFC 9000 §18.2 Preferred Address: IPv4 (4) and port (2), IPv6 (16) and port (2), CID
        // length (1), CID, Stateless Reset Token (16): 49 bytes with an 8-byte CID; 41 with
        // none ("a server MUST NOT include a zero-length connection ID in this transport
        // parameter. A client MUST treat a violation of these requirements as a connection error
        // of type TRANSPORT_PARAMETER_ERROR"); a CID longer than 20 bytes; cut short.
        PREFERRED_ADDRESS => {
            let (cid_len, total) = [(8u8, 49), (0, 41), (21, 62), (8, 30)][rng.gen_range(0..4)];
            let at = out.len();
            bytes(total, out);
            out[at + 24] = cid_len;
        }
        // RFC 9368 §3: Chosen Version (32 bits), then Available Versions (32 bits each).
        VERSION_INFORMATION => match rng.gen_range(0..4) {
            0 => out.extend_from_slice(&[0, 0, 0, 1]),
            1 => out.extend_from_slice(&[0, 0, 0, 0]),
            2 => out.extend_from_slice(&[0, 0, 0, 1, 0xff]),
            _ => out.extend_from_slice(&[0x6b, 0x33, 0x43, 0xcf, 0x0a, 0x0a, 0x0a, 0x0a]),
        },
        MAX_DATAGRAM_FRAME_SIZE => int([0, 1, 1199, varint::MAX][rng.gen_range(0..4)], out),
        // draft-ietf-quic-ack-frequency §3: microseconds, below 2^24, not above max_ack_delay.
        MIN_ACK_DELAY => int([0, 1, 25_001, 1 << 24, varint::MAX][rng.gen_range(0..5)], out),
        _ => {
            if rng.gen() {
                int(rng.gen_range(0..=varint::MAX), out)
            } else {
                bytes(rng.gen_range(0..=64), out)
            }
        }
    }
}

/// Fills `out` with a parameter: the identifier `id` (unless `None`: the caller keeps the one
/// in place), the length, and an interesting value for `param`. The value is written first, at
/// a reserved offset, and the varints put before it, so nothing is allocated.
fn encode_param<R: Rng>(rng: &mut R, id: Option<u64>, param: u64, out: &mut Vec<u8>) {
    const ROOM: usize = 16;
    out.clear();
    out.resize(ROOM, 0);
    interesting_value(rng, param, out);
    let n = (out.len() - ROOM) as u64;
    let mut start = ROOM - varint::encoded_len(n);
    varint::write_with_width(n, ROOM - start, &mut out[start..]);
    if let Some(id) = id {
        let w = varint::encoded_len(id);
        start -= w;
        varint::write_with_width(id, w, &mut out[start..]);
    }
    out.drain(..start);
}

/// Applies `op`; returns its offset and the new payload length.
pub fn apply<R: Rng>(rng: &mut R, op: Op, mut cx: Context<'_>) -> Option<(usize, usize)> {
    let l = cx.layout;
    let ext = l.params_ext;
    let data_end = l.data_end;
    let complete = |p: &super::Param| p.end <= data_end;
    let len = cx.len;
    match op {
        Op::TpValue => {
            let (_, p) = pick(rng, &l.params, complete)?;
            // The identifier stays as it was encoded; length and value are new.
            encode_param(rng, None, p.id, cx.scratch);
            let new_len = cx.resize((p.len_at, p.end - p.len_at), true, ext, &[])?;
            Some((p.at, new_len))
        }
        // The length alone made wrong: empty, one off, the width's largest, past the extension.
        Op::TpLength => {
            let (_, p) = pick(rng, &l.params, complete)?;
            let (old, width) = varint::decode(cx.buf, p.len_at)?;
            let ext_end = ext.map_or(p.end, |i| l.extensions[i].end);
            let new =
                [0, old + 1, old.saturating_sub(1), varint::max_for_width(width), (ext_end - p.value_at + 1) as u64]
                    [rng.gen_range(0..5)];
            if !varint::write_with_width(new, width, &mut cx.buf[p.len_at..]) {
                varint::write_with_width(varint::max_for_width(width), width, &mut cx.buf[p.len_at..]);
            }
            Some((p.len_at, len))
        }
        // Another identifier for the same value: a duplicate of the next parameter's, a
        // server-only one, a reserved or unknown one.
        Op::TpId => {
            let (i, p) = pick(rng, &l.params, complete)?;
            let new = if rng.gen_ratio(1, 4) { l.params[(i + 1) % l.params.len()].id } else { interesting_id(rng) };
            cx.scratch.clear();
            varint::push(new, cx.scratch);
            let new_len = cx.resize((p.at, p.len_at - p.at), true, ext, &[])?;
            Some((p.at, new_len))
        }
        Op::TpDuplicate => {
            let (_, p) = pick(rng, &l.params, complete)?;
            cx.scratch.clear();
            cx.scratch.extend_from_slice(&cx.buf[p.at..p.end]);
            let new_len = cx.resize((p.end, 0), true, ext, &[])?;
            Some((p.end, new_len))
        }
        // A new parameter before the k-th one (or at the end of the extension).
        Op::TpAdd => {
            let e = l.extensions[ext?];
            let k = rng.gen_range(0..=l.params.len());
            let at = l.params.get(k).map_or(e.end, |p| p.at);
            let new_id = match cx.role {
                // What a client must not send comes up more often from a client.
                Role::Client if rng.gen_ratio(1, 3) => [0x00, 0x02, 0x0d, 0x10][rng.gen_range(0..4)],
                _ => interesting_id(rng),
            };
            encode_param(rng, Some(new_id), new_id, cx.scratch);
            let new_len = cx.resize((at, 0), true, ext, &[])?;
            Some((at, new_len))
        }
        // A missing initial_source_connection_id (or, from a server,
        // original_destination_connection_id) is a TRANSPORT_PARAMETER_ERROR (RFC 9000 §7.3).
        Op::TpRemove => {
            let (_, p) = pick(rng, &l.params, complete)?;
            let new_len = cx.resize((p.at, p.end - p.at), false, ext, &[])?;
            Some((p.at, new_len))
        }
        _ => None,
    }
}
