//! The STREAM frames that carry HTTP/3: which ones in a payload start an HTTP/3 stream, and how
//! one of them is written back around its mutated data.
//!
//! Only a STREAM frame at offset 0 is a target (RFC 9000 §19.8: no OFF bit, or an Offset of 0):
//! its data start where the stream starts, so the stream type and the frames in them can be
//! read without knowing what came before ([`super`]). The frame written back keeps its stream
//! ID's encoding, its OFF and FIN bits, and gets the LEN bit, so that what follows it in the
//! packet stays where it was.

use super::{sender_stream, stream_type, Layout, StreamKind};
use crate::mutate::edit;
use crate::mutate::frame::{ty, Frames};
use crate::mutate::varint;
use crate::seed::Role;
use rand::Rng;

/// A STREAM frame of the payload that starts one of the sender's HTTP/3 streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// The frame's index in the payload's parse.
    pub frame: usize,
    pub id: u64,
    /// The Stream Data field: where it starts and ends in the payload.
    pub data_at: usize,
    pub data_end: usize,
}

/// The STREAM frames of `payload` (parsed in `frames`) that start an HTTP/3 stream `role` may
/// write ([`sender_stream`]) with data the engine knows: any request stream, and the
/// unidirectional streams whose type is control, push or QPACK; in payload order, into `out`
/// (cleared first, reused from mutation to mutation).
pub fn targets(role: Role, frames: &Frames, payload: &[u8], out: &mut Vec<Target>) {
    out.clear();
    out.extend((0..frames.frames.len()).filter_map(|i| target(role, frames, payload, i)));
}

fn target(role: Role, frames: &Frames, payload: &[u8], i: usize) -> Option<Target> {
    let f = frames.frames[i];
    if !ty::is_stream(f.ty) {
        return None;
    }
    let fields = frames.fields_of(&f);
    let id_field = fields.first()?;
    let (id, _) = varint::decode(payload, id_field.at as usize)?;
    if f.ty & 0x04 != 0 {
        let off = fields.get(1)?;
        if varint::decode(payload, off.at as usize)?.0 != 0 {
            return None;
        }
    }
    let data = fields.last().filter(|d| d.name == "stream.data")?;
    let (data_at, data_end) = (data.at as usize, (data.at + data.len) as usize);
    if data_at == data_end {
        return None;
    }
    let bidi = sender_stream(role, id)?;
    if !bidi {
        let (t, _) = varint::decode(&payload[..data_end], data_at)?;
        if !matches!(
            t,
            stream_type::CONTROL | stream_type::PUSH | stream_type::QPACK_ENCODER | stream_type::QPACK_DECODER
        ) {
            return None;
        }
    }
    Some(Target { frame: i, id, data_at, data_end })
}

/// Scratch space for one HTTP/3 mutation: the layout and copies of the stream data.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    pub layout: Layout,
    data: Vec<u8>,
    out: Vec<u8>,
    tmp: Vec<u8>,
    frame: Vec<u8>,
}

/// The family of an HTTP/3 mutation: the frames (`h3`) or the QPACK data (`qpack`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    H3,
    Qpack,
}

/// Applies one operator of `family` to the data of `target` in `buf[..len]` (parsed in
/// `frames`) and writes the STREAM frame back: the operator's name, the offset in the stream
/// data where it applied, and the new payload length; `None` (with `buf` untouched) when the
/// operator drawn had nothing to work on or the result does not fit.
///
/// A `qpack` draw on a stream without field sections or instructions falls back to an `h3`
/// operator, so the family means "HTTP/3 data" first and the exact family second.
#[allow(clippy::too_many_arguments)]
pub fn apply<R: Rng>(
    rng: &mut R,
    role: Role,
    family: Family,
    target: Target,
    frames: &Frames,
    buf: &mut [u8],
    len: usize,
    s: &mut Scratch,
) -> Option<(&'static str, usize, usize)> {
    s.data.clear();
    s.data.extend_from_slice(&buf[target.data_at..target.data_end]);
    if !s.layout.parse(role, target.id, &s.data) {
        return None;
    }
    let kind = s.layout.kind?;
    let mut applied = None;
    if family == Family::Qpack {
        applied = match (kind, s.layout.stream_type) {
            (StreamKind::Qpack, Some((t, end))) => {
                // The stream's own instructions stay after the new ones.
                let name = super::qpack::instructions(rng, t == stream_type::QPACK_ENCODER, 0, &mut s.out);
                s.out.extend_from_slice(&s.data[end as usize..]);
                Some((name, end as usize))
            }
            _ => super::qpack::mutate_section(rng, &s.layout, &s.data, &mut s.out, &mut s.tmp),
        };
    }
    if applied.is_none() {
        if rng.gen_range(0..8) == 0 {
            return split(rng, target, frames, buf, len, s);
        }
        // An operator drawn may have nothing to work on (no SETTINGS to rewrite on a request
        // stream, no frames yet on a QPACK stream): draw again, a bounded number of times, so
        // that HTTP/3 data fall back to plain bytes only rarely.
        for _ in 0..4 {
            applied = super::frames::mutate(rng, role, &s.layout, &s.data, &mut s.out, &mut s.tmp);
            if applied.is_some() {
                break;
            }
        }
    }
    let (name, at) = applied?;
    let new_len = rewrite(target, frames, buf, len, &s.out, &mut s.frame)?;
    Some((name, at, new_len))
}

/// Writes `data` back as the Stream Data of `target`: the same type bits with LEN set, the same
/// Stream ID and Offset bytes, a new Length.
fn rewrite(
    target: Target,
    frames: &Frames,
    buf: &mut [u8],
    len: usize,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Option<usize> {
    let f = frames.frames[target.frame];
    out.clear();
    header(buf, f.at as usize, target.data_at, f.ty, 0, data.len(), out);
    out.extend_from_slice(data);
    edit::grow(frames, buf, len, (f.at as usize, f.len(), out))
}

/// Appends the header of a STREAM frame with LEN set: type bits of `frame_ty` (OFF when
/// `offset` is not 0 or the original had it), the Stream ID bytes of the original frame (which
/// starts at `frame_at` in `buf` and whose data start at `data_at`), the offset, the length.
fn header(buf: &[u8], frame_at: usize, data_at: usize, frame_ty: u64, offset: u64, data_len: usize, out: &mut Vec<u8>) {
    let tw = varint::width_of_first(buf[frame_at]);
    let id_at = frame_at + tw;
    let id_w = varint::width_of_first(buf[id_at]);
    debug_assert!(id_at + id_w <= data_at);
    let off = frame_ty & 0x04 != 0 || offset != 0;
    let t = ty::STREAM | 0x02 | if off { 0x04 } else { 0 } | (frame_ty & 0x01);
    varint::push(t, out);
    out.extend_from_slice(&buf[id_at..id_at + id_w]);
    if off {
        varint::push(offset, out);
    }
    varint::push(data_len as u64, out);
}

/// `h3:split`: the stream's first HTTP/3 frame (or the stream type) cut in two STREAM frames at a
/// point inside it, RFC 9114 §7.1: "A frame ... can span multiple STREAM frames"; sometimes the
/// second piece goes first, so the receiver holds the first bytes of a frame it cannot read yet.
fn split<R: Rng>(
    rng: &mut R,
    target: Target,
    frames: &Frames,
    buf: &mut [u8],
    len: usize,
    s: &mut Scratch,
) -> Option<(&'static str, usize, usize)> {
    let data_len = s.data.len();
    if data_len < 2 {
        return None;
    }
    // Inside the first frame: after its type, in its Length, or in its payload.
    let end = s.layout.frames.first().map_or(data_len, |f| f.end as usize).clamp(2, data_len);
    let at = rng.gen_range(1..end);
    let reversed = rng.gen_bool(0.5);
    let f = frames.frames[target.frame];
    let fin = f.ty & 0x01;
    s.frame.clear();
    let (first, second) = s.data.split_at(at);
    let piece = |from: u64, bytes: &[u8], fin_bit: u64, out: &mut Vec<u8>| {
        header(buf, f.at as usize, target.data_at, (f.ty & 0x04) | fin_bit, from, bytes.len(), out);
        out.extend_from_slice(bytes);
    };
    if reversed {
        piece(at as u64, second, fin, &mut s.frame);
        piece(0, first, 0, &mut s.frame);
    } else {
        piece(0, first, 0, &mut s.frame);
        piece(at as u64, second, fin, &mut s.frame);
    }
    let new_len = edit::grow(frames, buf, len, (f.at as usize, f.len(), &s.frame))?;
    Some(("h3:split", at, new_len))
}
