//! Field mutations: one field of one frame gets an interesting value.
//!
//! Which frame and which field are chosen by position ("the k-th frame, its j-th field"), never
//! by the values they hold, so the same connection structure gives the same decisions. Values
//! are boundaries of the field's encoding (0, 1, the largest value of its current width,
//! 2^62-1), boundaries of what it means (a length just past the end of the packet, the largest
//! stream offset RFC 9000 §19.8 allows, plus one), and, for stream IDs, streams the receiver
//! must reject (RFC 9000 §2.1, §19.8: not yet opened, or of the wrong initiator or direction
//! for the end that sends the packet).
//!
//! One time in sixteen the frame's type is rewritten in a longer varint encoding instead
//! (`field:frame_type`), which RFC 9000 §12.4 forbids.

use super::edit;
use super::frame::{Field, Frames, Sem};
use super::varint;
use crate::seed::Role;
use rand::Rng;

/// A stream ID chosen to stress the receiver's stream bookkeeping, for a packet sent by `role`.
///
/// RFC 9000 §2.1: "The least significant bit (0x01) of the stream ID identifies the initiator of
/// the stream. Client-initiated streams have even-numbered stream IDs [...] The second least
/// significant bit (0x02) of the stream ID distinguishes between bidirectional streams [...] and
/// unidirectional streams."
pub fn stream_id<R: Rng>(rng: &mut R, role: Role) -> u64 {
    let own = match role {
        Role::Client => 0,
        Role::Server => 1,
    };
    // Own bidi, own uni, the peer's bidi (not opened by the peer yet), the peer's uni (the
    // sender may not write to it at all).
    let kind = [own, own | 2, own ^ 1, (own ^ 1) | 2][rng.gen_range(0..4)];
    // Stream index: the first streams, one past the usual limits, the last one RFC 9000 §4.6
    // allows (2^60-1), and anything.
    let index = match rng.gen_range(0..6) {
        0 => 0,
        1 => 1,
        2 => 100,
        3 => 1 << 10,
        4 => (1 << 60) - 1,
        _ => rng.gen_range(0..1 << 20),
    };
    index << 2 | kind
}

/// Chooses a field of a non-padding frame and writes an interesting value into it. Returns the
/// field's name, its offset and the new payload length, or `None` if no frame has fields.
pub fn mutate<R: Rng>(
    rng: &mut R,
    role: Role,
    frames: &Frames,
    buf: &mut [u8],
    len: usize,
    scratch: &mut Vec<u8>,
) -> Option<(&'static str, usize, usize)> {
    let with_fields = frames.frames.iter().filter(|f| f.field_count > 0).count();
    if with_fields == 0 {
        return None;
    }
    let k = rng.gen_range(0..with_fields);
    let frame = frames.frames.iter().filter(|f| f.field_count > 0).nth(k)?;
    // Now and then the frame type itself, in a longer encoding than it needs. RFC 9000 §12.4:
    // "a frame type MUST use the shortest possible encoding"; a receiver MAY treat a longer one
    // as a PROTOCOL_VIOLATION.
    if rng.gen_ratio(1, 16) {
        let at = frame.at as usize;
        let width = varint::width_of_first(buf[at]);
        let wider = [2, 4, 8][rng.gen_range(0..3)].max(width);
        scratch.clear();
        varint::push_with_width(frame.ty, wider, scratch);
        let new_len = edit::grow(frames, buf, len, (at, width, scratch))?;
        return Some(("frame_type", at, new_len));
    }
    let fields = frames.fields_of(frame);
    let field = fields[rng.gen_range(0..fields.len())];
    let at = field.at as usize;
    let new_len = match field.sem {
        Sem::Bytes => {
            if field.len == 0 {
                return None;
            }
            let bytes = &mut buf[at..at + field.len as usize];
            match rng.gen_range(0..4) {
                0 => bytes.fill(0),
                1 => bytes.fill(0xff),
                2 => rng.fill(bytes),
                _ => {
                    let i = rng.gen_range(0..bytes.len());
                    bytes[i] ^= 1 << rng.gen_range(0..8);
                }
            }
            len
        }
        // RFC 9000 §19.15: "Values less than 1 and greater than 20 are invalid".
        Sem::CidLength => {
            buf[at] = [0, 1, 8, 20, 21, 255, buf[at].wrapping_add(1), buf[at].wrapping_sub(1)][rng.gen_range(0..8)];
            len
        }
        _ => {
            let value = interesting_value(rng, role, &field, buf, len);
            write_varint(frames, buf, len, &field, value, scratch)
        }
    };
    Some((field.name, at, new_len))
}

/// An interesting value for the varint `field`, whose current value is read from `buf`.
fn interesting_value<R: Rng>(rng: &mut R, role: Role, field: &Field, buf: &[u8], len: usize) -> u64 {
    let at = field.at as usize;
    let width = field.len as usize;
    let old = varint::decode(buf, at).map_or(0, |(v, _)| v);
    let end = at + width;
    let common = |rng: &mut R| match rng.gen_range(0..6) {
        0 => 0,
        1 => 1,
        2 => varint::max_for_width(width),
        3 => varint::MAX,
        4 => old.wrapping_add(1).min(varint::MAX),
        _ => old.saturating_sub(1),
    };
    match field.sem {
        Sem::StreamId => match rng.gen_range(0..4) {
            0 => common(rng),
            1 => old ^ 1, // the other initiator
            2 => old ^ 2, // the other direction
            _ => stream_id(rng, role),
        },
        // RFC 9000 §19.8: "The largest offset delivered on a stream -- the sum of the offset
        // and data length -- cannot exceed 2^62-1"; §4: flow control limits far below that.
        Sem::Offset => match rng.gen_range(0..4) {
            0 | 1 => common(rng),
            2 => varint::MAX - (len - end.min(len)) as u64 + 1,
            _ => [1 << 14, 1 << 16, 1 << 20, 1 << 32][rng.gen_range(0..4)] + old,
        },
        // A length that reaches just past the end of the packet.
        Sem::Length | Sem::Count => match rng.gen_range(0..3) {
            0 | 1 => common(rng),
            _ => (len - end.min(len)) as u64 + 1,
        },
        _ => match rng.gen_range(0..4) {
            0..=2 => common(rng),
            _ => rng.gen_range(0..=varint::max_for_width(width)),
        },
    }
}

/// Writes `value` into the varint `field`: in its own width when it fits, else in a wider one
/// (moving what follows, see [`edit::grow`]), else clamped to the width's maximum.
/// Returns the new payload length.
fn write_varint(
    frames: &Frames,
    buf: &mut [u8],
    len: usize,
    field: &Field,
    value: u64,
    scratch: &mut Vec<u8>,
) -> usize {
    let at = field.at as usize;
    let width = field.len as usize;
    if varint::write_with_width(value, width, &mut buf[at..]) {
        return len;
    }
    scratch.clear();
    varint::push(value, scratch);
    if let Some(new_len) = edit::grow(frames, buf, len, (at, width, scratch)) {
        return new_len;
    }
    varint::write_with_width(varint::max_for_width(width), width, &mut buf[at..]);
    len
}
