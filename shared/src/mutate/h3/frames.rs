//! The `h3` family: HTTP/3 frames rewritten as frames (RFC 9114 §7).
//!
//! Operator names (`h3:<op>`):
//! - `h3:frame_type`: a frame's type becomes a reserved type (§7.2.8: ignored), a type HTTP/2
//!   had and HTTP/3 reserved (§7.2.8: "their receipt MUST be treated as a connection error of
//!   type H3_FRAME_UNEXPECTED"), or a type the stream must not carry (§7.2: DATA and HEADERS on
//!   the control stream, SETTINGS, GOAWAY, MAX_PUSH_ID and CANCEL_PUSH on a request stream,
//!   PUSH_PROMISE from a client);
//! - `h3:frame_length`: a Length field gets 0, one less or one more than the payload (§7.1:
//!   "a frame payload that contains additional bytes after the identified fields or a frame
//!   payload that terminates before the end of the identified fields MUST be treated as a
//!   connection error of type H3_FRAME_ERROR"), far more than the stream holds, or the same
//!   value in a wider encoding;
//! - `h3:insert`: a frame from the library below at a frame boundary: DATA before HEADERS
//!   (§4.1), a second HEADERS (trailers) or a third, a second SETTINGS (§7.2.4: "If an endpoint
//!   receives a second SETTINGS frame on the control stream, the endpoint MUST respond with a
//!   connection error of type H3_FRAME_UNEXPECTED"), GOAWAY and MAX_PUSH_ID with values at
//!   their limits, CANCEL_PUSH of a push never promised, PUSH_PROMISE, a reserved frame;
//! - `h3:duplicate`, `h3:remove`: a whole frame twice, or gone (a control stream whose first
//!   frame is not SETTINGS: §6.2.1, H3_MISSING_SETTINGS);
//! - `h3:settings`: a setting appended to SETTINGS: a reserved identifier (§7.2.4.1: ignored),
//!   an HTTP/2 identifier ("their receipt MUST be treated as a connection error of type
//!   H3_SETTINGS_ERROR"), an identifier already there ("The same setting identifier MUST NOT
//!   occur more than once"), QPACK's table capacity and blocked streams (RFC 9204 §5: a client
//!   that offers a dynamic table), a field section size of 0, or values other than 0 and 1 for
//!   the boolean settings of RFC 9220 and RFC 9297;
//! - `h3:stream_type`: a unidirectional stream's type becomes a reserved one (§6.2.3), a push
//!   stream from a client (§6.2.2: H3_STREAM_CREATION_ERROR), a QPACK stream, an unknown type,
//!   or the same type in a wider encoding.

use super::{is_reserved, reserved, spliced, stream_type, Layout, StreamKind};
use crate::mutate::varint;
use crate::seed::Role;
use rand::Rng;

/// HTTP/3 frame types, RFC 9114 §7.2 (Table 2, §11.2.1) and RFC 9218 §7.
pub mod ty {
    pub const DATA: u64 = 0x00;
    pub const HEADERS: u64 = 0x01;
    pub const CANCEL_PUSH: u64 = 0x03;
    pub const SETTINGS: u64 = 0x04;
    pub const PUSH_PROMISE: u64 = 0x05;
    pub const GOAWAY: u64 = 0x07;
    pub const MAX_PUSH_ID: u64 = 0x0d;
    /// PRIORITY_UPDATE for a request stream, RFC 9218 §7.2.
    pub const PRIORITY_UPDATE: u64 = 0xf0700;
    /// HTTP/2's PRIORITY, PING, WINDOW_UPDATE and CONTINUATION, reserved by RFC 9114 §7.2.8.
    pub const HTTP2_ONLY: [u64; 4] = [0x02, 0x06, 0x08, 0x09];
}

/// Setting identifiers, RFC 9114 §7.2.4.1, RFC 9204 §5, RFC 9220 §3, RFC 9297 §2.1.1.
pub mod setting {
    pub const QPACK_MAX_TABLE_CAPACITY: u64 = 0x01;
    pub const MAX_FIELD_SECTION_SIZE: u64 = 0x06;
    pub const QPACK_BLOCKED_STREAMS: u64 = 0x07;
    pub const ENABLE_CONNECT_PROTOCOL: u64 = 0x08;
    pub const H3_DATAGRAM: u64 = 0x33;
    /// HTTP/2's identifiers without an HTTP/3 setting, reserved by RFC 9114 §7.2.4.1.
    pub const HTTP2_ONLY: [u64; 4] = [0x02, 0x03, 0x04, 0x05];
}

/// A varint value at the limits a receiver must enforce.
fn value<R: Rng>(rng: &mut R) -> u64 {
    [0, 1, 2, 4, 0x3f, 0x3fff, 1 << 30, varint::MAX][rng.gen_range(0..8)]
}

/// Applies one `h3` operator to the stream data `data` (laid out in `layout`), writing the new
/// data in `out`: its name and the offset in the data where it applied, or `None` (and `out`
/// untouched) when the operator drawn has nothing to work on.
pub fn mutate<R: Rng>(
    rng: &mut R,
    role: Role,
    layout: &Layout,
    data: &[u8],
    out: &mut Vec<u8>,
    tmp: &mut Vec<u8>,
) -> Option<(&'static str, usize)> {
    let kind = layout.kind?;
    match rng.gen_range(0..8) {
        0 | 1 => frame_type(rng, role, kind, layout, data, out),
        2 => frame_length(rng, layout, data, out, tmp),
        3 | 4 => insert(rng, role, kind, layout, data, out, tmp),
        5 => {
            let f = *pick(rng, layout)?;
            if rng.gen() {
                spliced(data, f.at as usize, 0, &data[f.at as usize..f.end as usize], out);
                Some(("h3:duplicate", f.at as usize))
            } else {
                spliced(data, f.at as usize, (f.end - f.at) as usize, &[], out);
                Some(("h3:remove", f.at as usize))
            }
        }
        6 => settings(rng, layout, data, out, tmp),
        _ => stream_type_op(rng, role, layout, data, out, tmp),
    }
}

/// The k-th frame, uniformly.
fn pick<'l, R: Rng>(rng: &mut R, layout: &'l Layout) -> Option<&'l super::H3Frame> {
    if layout.frames.is_empty() {
        return None;
    }
    layout.frames.get(rng.gen_range(0..layout.frames.len()))
}

fn frame_type<R: Rng>(
    rng: &mut R,
    role: Role,
    kind: StreamKind,
    layout: &Layout,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Option<(&'static str, usize)> {
    let f = *pick(rng, layout)?;
    // The types this stream must not carry (RFC 9114 §7.2.1-§7.2.7).
    let unexpected: &[u64] = match (kind, role) {
        (StreamKind::Control, Role::Client) => &[ty::DATA, ty::HEADERS, ty::PUSH_PROMISE],
        (StreamKind::Control, Role::Server) => &[ty::DATA, ty::HEADERS, ty::MAX_PUSH_ID],
        (_, Role::Client) => &[ty::SETTINGS, ty::GOAWAY, ty::MAX_PUSH_ID, ty::CANCEL_PUSH, ty::PUSH_PROMISE],
        (_, Role::Server) => &[ty::SETTINGS, ty::GOAWAY, ty::MAX_PUSH_ID, ty::CANCEL_PUSH],
    };
    let new = match rng.gen_range(0..4) {
        0 => reserved(rng.gen_range(0..1 << 20)),
        1 => ty::HTTP2_ONLY[rng.gen_range(0..ty::HTTP2_ONLY.len())],
        2 => unexpected[rng.gen_range(0..unexpected.len())],
        // An unknown type that is not reserved: §9, "Implementations MUST ignore unknown or
        // unsupported values in all extensible protocol elements".
        _ => {
            let t = [0x0e, 0x20, 0x3fff, 0x1234_5678, varint::MAX][rng.gen_range(0..5)];
            if is_reserved(t) {
                t + 1
            } else {
                t
            }
        }
    };
    let mut enc = [0u8; 8];
    let w = varint::encoded_len(new);
    varint::write_with_width(new, w, &mut enc);
    spliced(data, f.at as usize, (f.len_at - f.at) as usize, &enc[..w], out);
    Some(("h3:frame_type", f.at as usize))
}

fn frame_length<R: Rng>(
    rng: &mut R,
    layout: &Layout,
    data: &[u8],
    out: &mut Vec<u8>,
    tmp: &mut Vec<u8>,
) -> Option<(&'static str, usize)> {
    let f = *pick(rng, layout)?;
    let n = f.payload_len;
    tmp.clear();
    match rng.gen_range(0..6) {
        0 => varint::push(0, tmp),
        1 => varint::push(n.saturating_sub(1), tmp),
        2 => varint::push(n + 1, tmp),
        3 => varint::push(n + 1000, tmp),
        4 => varint::push(varint::MAX, tmp),
        // The same length in the widest encoding (RFC 9000 §16 allows any width).
        _ => varint::push_with_width(n, 8, tmp),
    }
    spliced(data, f.len_at as usize, f.len_width as usize, tmp, out);
    Some(("h3:frame_length", f.len_at as usize))
}

/// Appends one frame: type, Length, payload.
fn push_frame(t: u64, payload: &[u8], out: &mut Vec<u8>) {
    varint::push(t, out);
    varint::push(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// A frame payload of a few varints and constants, built on the stack: the engine allocates
/// nothing per mutation once its scratch space has grown.
struct SmallPayload {
    buf: [u8; 48],
    len: usize,
}

impl SmallPayload {
    fn new() -> Self {
        Self { buf: [0; 48], len: 0 }
    }

    fn varint(&mut self, value: u64) -> &mut Self {
        let width = varint::encoded_len(value);
        let written = varint::write_with_width(value, width, &mut self.buf[self.len..]);
        debug_assert!(written, "a few varints fit");
        self.len += width;
        self
    }

    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
        self
    }

    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// A minimal field section (RFC 9204 §4.5): no dynamic table, one field line `x-fuzz: 1` (a
/// literal with a literal name, §4.5.6), fit for trailers.
pub const TRAILER_SECTION: &[u8] = b"\x00\x00\x26x-fuzz\x011";

#[allow(clippy::too_many_arguments)]
fn insert<R: Rng>(
    rng: &mut R,
    role: Role,
    kind: StreamKind,
    layout: &Layout,
    data: &[u8],
    out: &mut Vec<u8>,
    tmp: &mut Vec<u8>,
) -> Option<(&'static str, usize)> {
    // Frame boundaries: before the k-th frame, or at the end of the data (after the last frame
    // when it is complete).
    let start = layout.stream_type.map_or(0, |(_, end)| end as usize);
    let boundaries = layout.frames.len() + usize::from(layout.frames.last().is_none_or(|f| !f.truncated));
    if layout.frames.is_empty() && start == 0 && kind != StreamKind::Request {
        return None;
    }
    let k = rng.gen_range(0..boundaries.max(1));
    let at = layout.frames.get(k).map_or(data.len(), |f| f.at as usize);
    tmp.clear();
    let mut payload = [0u8; 32];
    let name = match rng.gen_range(0..8) {
        0 => {
            let n = [0usize, 1, 7, 32][rng.gen_range(0..4)];
            push_frame(reserved(rng.gen_range(0..64)), &payload[..n], tmp);
            "h3:insert.reserved"
        }
        1 => {
            payload[..8].copy_from_slice(b"fuzzdata");
            push_frame(ty::DATA, &payload[..[0usize, 1, 8][rng.gen_range(0..3)]], tmp);
            "h3:insert.data"
        }
        2 => {
            push_frame(ty::HEADERS, TRAILER_SECTION, tmp);
            "h3:insert.headers"
        }
        3 => {
            // A SETTINGS frame, empty or with one setting.
            let mut p = SmallPayload::new();
            if rng.gen() {
                p.varint(setting::QPACK_MAX_TABLE_CAPACITY).varint(value(rng));
            }
            push_frame(ty::SETTINGS, p.as_slice(), tmp);
            "h3:insert.settings"
        }
        4 => {
            // §5.2: a server's GOAWAY carries a client-initiated bidirectional stream ID, a
            // client's a push ID; "An endpoint MAY send multiple GOAWAY frames ... the identifier
            // MUST NOT be greater than any previous one" and a stream ID of the wrong kind is
            // H3_ID_ERROR.
            let id = match role {
                Role::Server => [0, 4, 1, 2, 1 << 20, varint::MAX][rng.gen_range(0..6)],
                Role::Client => value(rng),
            };
            push_frame(ty::GOAWAY, SmallPayload::new().varint(id).as_slice(), tmp);
            "h3:insert.goaway"
        }
        5 => {
            // §7.2.7: "A server MUST NOT send a MAX_PUSH_ID frame"; a client's may not shrink.
            push_frame(ty::MAX_PUSH_ID, SmallPayload::new().varint(value(rng)).as_slice(), tmp);
            "h3:insert.max_push_id"
        }
        6 => {
            // §7.2.3: a CANCEL_PUSH naming a push ID never promised (or beyond MAX_PUSH_ID) is
            // H3_ID_ERROR.
            push_frame(ty::CANCEL_PUSH, SmallPayload::new().varint(value(rng)).as_slice(), tmp);
            "h3:insert.cancel_push"
        }
        _ => {
            // §7.2.5: "A client MUST NOT send a PUSH_PROMISE frame"; from a server, a push ID
            // beyond the client's MAX_PUSH_ID is H3_ID_ERROR.
            let mut p = SmallPayload::new();
            p.varint(value(rng)).bytes(TRAILER_SECTION);
            push_frame(ty::PUSH_PROMISE, p.as_slice(), tmp);
            "h3:insert.push_promise"
        }
    };
    let at = at.max(start);
    spliced(data, at, 0, tmp, out);
    Some((name, at))
}

fn settings<R: Rng>(
    rng: &mut R,
    layout: &Layout,
    data: &[u8],
    out: &mut Vec<u8>,
    tmp: &mut Vec<u8>,
) -> Option<(&'static str, usize)> {
    let f = *layout.frames.iter().find(|f| f.ty == ty::SETTINGS && !f.truncated)?;
    let payload = &data[f.payload_at as usize..f.end as usize];
    // The identifiers already there, for a duplicate: the first one.
    let first_id = varint::decode(payload, 0).map(|(v, _)| v);
    let (id, v) = match rng.gen_range(0..7) {
        0 => (reserved(rng.gen_range(0..1 << 16)), value(rng)),
        1 => (setting::HTTP2_ONLY[rng.gen_range(0..4)], value(rng)),
        2 => (first_id.unwrap_or(setting::MAX_FIELD_SECTION_SIZE), value(rng)),
        3 => (setting::QPACK_MAX_TABLE_CAPACITY, [4096, 1 << 16, 1 << 30, varint::MAX][rng.gen_range(0..4)]),
        4 => (setting::QPACK_BLOCKED_STREAMS, [1, 100, varint::MAX][rng.gen_range(0..3)]),
        5 => (setting::MAX_FIELD_SECTION_SIZE, [0, 1][rng.gen_range(0..2)]),
        // RFC 9220 §3 and RFC 9297 §2.1.1: values other than 0 and 1 are H3_SETTINGS_ERROR.
        _ => ([setting::ENABLE_CONNECT_PROTOCOL, setting::H3_DATAGRAM][rng.gen_range(0..2)], 2),
    };
    // The frame again with one more setting, written straight into `tmp`.
    tmp.clear();
    varint::push(ty::SETTINGS, tmp);
    varint::push((payload.len() + varint::encoded_len(id) + varint::encoded_len(v)) as u64, tmp);
    tmp.extend_from_slice(payload);
    varint::push(id, tmp);
    varint::push(v, tmp);
    spliced(data, f.at as usize, (f.end - f.at) as usize, tmp, out);
    Some(("h3:settings", f.at as usize))
}

fn stream_type_op<R: Rng>(
    rng: &mut R,
    role: Role,
    layout: &Layout,
    data: &[u8],
    out: &mut Vec<u8>,
    tmp: &mut Vec<u8>,
) -> Option<(&'static str, usize)> {
    let (old, end) = layout.stream_type?;
    tmp.clear();
    match rng.gen_range(0..5) {
        0 => varint::push(reserved(rng.gen_range(0..1 << 20)), tmp),
        // §6.2.2: "Only servers can push; if a server receives a client-initiated push stream,
        // this MUST be treated as a connection error of type H3_STREAM_CREATION_ERROR"; and a
        // second control stream (§6.2.1) is one too.
        1 => varint::push(
            match (role, old) {
                (Role::Client, _) | (Role::Server, stream_type::CONTROL) => stream_type::PUSH,
                (Role::Server, _) => stream_type::CONTROL,
            },
            tmp,
        ),
        // RFC 9204 §4.2: a second encoder or decoder stream is H3_STREAM_CREATION_ERROR.
        2 => {
            let t = [stream_type::QPACK_ENCODER, stream_type::QPACK_DECODER][rng.gen_range(0..2)];
            let t = if t == old { t ^ 0x01 } else { t };
            varint::push(t, tmp)
        }
        3 => varint::push(0x3fff, tmp),
        _ => varint::push_with_width(old, [2, 4, 8][rng.gen_range(0..3)], tmp),
    }
    spliced(data, 0, end as usize, tmp, out);
    Some(("h3:stream_type", 0))
}
