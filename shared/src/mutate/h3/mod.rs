//! HTTP/3 (RFC 9114) and QPACK (RFC 9204) inside STREAM data: the layout of what one STREAM
//! frame carries at the start of an HTTP/3 stream, and the operators of the `h3` and `qpack`
//! families that rewrite it as what it is.
//!
//! The unit is the data of one STREAM frame at offset 0 of a stream the sender may write HTTP/3
//! on: a request stream (client-initiated bidirectional, RFC 9114 §6.1; the client's request
//! and the server's response) or one of the sender's own unidirectional streams, whose data
//! start with the stream type (§6.2). Data at a later offset are not parsed: where a frame
//! starts there is a matter of how the stream was written, not of what the bytes say. The
//! content key of such a frame is `stream:id@0` ([`crate::content`]), so a retransmission
//! carries the same mutation.
//!
//! Operators work on a copy of the stream data and write the new data in `out`; the caller
//! re-encodes the STREAM frame around it. Like the rest of the engine, choices are made by
//! position and count, never by byte values, and nothing here allocates once the vectors have
//! grown.
//!
//! - [`frames`]: HTTP/3 frames (types, lengths, SETTINGS, frames on the wrong stream), family
//!   `h3`;
//! - [`qpack`]: QPACK field sections in HEADERS frames and the encoder and decoder streams'
//!   instructions, family `qpack`;
//! - [`stream`]: the STREAM frames that start the sender's HTTP/3 streams, written back around
//!   their new data, and `h3:split`, a frame cut across two STREAM frames.

pub mod frames;
pub mod qpack;
pub mod stream;

use super::varint;
use crate::seed::Role;

/// Unidirectional stream types, RFC 9114 §6.2 and RFC 9204 §4.2.
pub mod stream_type {
    pub const CONTROL: u64 = 0x00;
    pub const PUSH: u64 = 0x01;
    pub const QPACK_ENCODER: u64 = 0x02;
    pub const QPACK_DECODER: u64 = 0x03;
}

/// What an HTTP/3 stream carries, as the sender of the data sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// A request stream: HEADERS, DATA, trailers (RFC 9114 §4.1).
    Request,
    /// The control stream: SETTINGS first, then GOAWAY, MAX_PUSH_ID, ... (§6.2.1).
    Control,
    /// A push stream (§6.2.2): only a server may open one.
    Push,
    /// A QPACK encoder or decoder stream: instructions, not frames (RFC 9204 §4.2).
    Qpack,
    /// A unidirectional stream of another (reserved or unknown) type: its data are left alone.
    Other,
}

/// Whether `role` may send HTTP/3 data on stream `id` (RFC 9000 §2.1): the client-initiated
/// bidirectional streams are the request streams, which both ends write (RFC 9114 §6.1: "HTTP/3
/// does not use server-initiated bidirectional streams"); a unidirectional stream is written by
/// the end that opened it. `None` for the streams HTTP/3 does not use.
pub fn sender_stream(role: Role, id: u64) -> Option<bool> {
    let own_uni = match role {
        Role::Client => 0x2,
        Role::Server => 0x3,
    };
    match id & 0x3 {
        0x0 => Some(true),
        bits if bits == own_uni => Some(false),
        _ => None,
    }
}

/// The id of the `index`-th unidirectional stream `role` opens (RFC 9000 §2.1).
pub fn uni_stream_id(role: Role, index: u64) -> u64 {
    index << 2
        | match role {
            Role::Client => 0x2,
            Role::Server => 0x3,
        }
}

/// Where one HTTP/3 frame lies in the stream data (RFC 9114 §7.1: Type, Length, Payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H3Frame {
    pub ty: u64,
    pub at: u32,
    /// The Length field: where, and its encoded width.
    pub len_at: u32,
    pub len_width: u8,
    /// The payload's start, and the Length it announces.
    pub payload_at: u32,
    pub payload_len: u64,
    /// Where the frame ends in these data: `payload_at + payload_len`, or the data's end for a
    /// frame the data cut short (its `truncated` is set).
    pub end: u32,
    pub truncated: bool,
}

/// The layout of one STREAM frame's data at offset 0 of an HTTP/3 stream: scratch space owned
/// by the mutator, refilled on every parse.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub kind: Option<StreamKind>,
    /// The unidirectional stream type at the data's start: its value, where it ends.
    pub stream_type: Option<(u64, u32)>,
    pub frames: Vec<H3Frame>,
    /// The QPACK field sections of the complete HEADERS frames ([`qpack::Sections`]).
    pub sections: qpack::Sections,
}

impl Layout {
    /// Parses `data`, the data at offset 0 of stream `id` written by `role`; false (and an
    /// empty layout) when that stream carries no HTTP/3 the engine knows.
    pub fn parse(&mut self, role: Role, id: u64, data: &[u8]) -> bool {
        self.kind = None;
        self.stream_type = None;
        self.frames.clear();
        self.sections.clear();
        let Some(bidi) = sender_stream(role, id) else {
            return false;
        };
        let mut at = 0;
        let kind = if bidi {
            StreamKind::Request
        } else {
            let Some((t, w)) = varint::decode(data, 0) else {
                return false;
            };
            at = w;
            self.stream_type = Some((t, w as u32));
            match t {
                stream_type::CONTROL => StreamKind::Control,
                stream_type::PUSH => StreamKind::Push,
                stream_type::QPACK_ENCODER | stream_type::QPACK_DECODER => StreamKind::Qpack,
                _ => StreamKind::Other,
            }
        };
        self.kind = Some(kind);
        if matches!(kind, StreamKind::Request | StreamKind::Control | StreamKind::Push) {
            if kind == StreamKind::Push {
                // §4.6: a push stream's Push ID follows its type.
                match varint::decode(data, at) {
                    Some((_, w)) => at += w,
                    None => return true,
                }
            }
            parse_frames(data, at, &mut self.frames);
            for f in &self.frames {
                if f.ty == frames::ty::HEADERS && !f.truncated {
                    self.sections.parse(data, f.payload_at as usize, f.end as usize);
                }
            }
        }
        true
    }
}

/// Parses the HTTP/3 frames of `data[at..]` into `out`, the last one possibly cut short.
fn parse_frames(data: &[u8], mut at: usize, out: &mut Vec<H3Frame>) {
    while at < data.len() {
        let Some((ty, tw)) = varint::decode(data, at) else { return };
        let len_at = at + tw;
        let Some((payload_len, lw)) = varint::decode(data, len_at) else { return };
        let payload_at = len_at + lw;
        let want = (payload_at as u64).saturating_add(payload_len);
        let truncated = want > data.len() as u64;
        let end = if truncated { data.len() } else { want as usize };
        out.push(H3Frame {
            ty,
            at: at as u32,
            len_at: len_at as u32,
            len_width: lw as u8,
            payload_at: payload_at as u32,
            payload_len,
            end: end as u32,
            truncated,
        });
        at = end;
    }
}

/// Writes `data` into `out` with `data[at..at + remove]` replaced by `insert`.
pub(crate) fn spliced(data: &[u8], at: usize, remove: usize, insert: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&data[..at]);
    out.extend_from_slice(insert);
    out.extend_from_slice(&data[(at + remove).min(data.len())..]);
}

/// An HTTP/3 reserved value (frame type, stream type, setting identifier): `0x1f * N + 0x21`
/// (RFC 9114 §7.2.8, §6.2.3, §7.2.4.1), which a receiver must ignore.
pub fn reserved(n: u64) -> u64 {
    0x1f_u64.saturating_mul(n).saturating_add(0x21).min(varint::MAX)
}

/// Whether `v` is a reserved value ([`reserved`]).
pub fn is_reserved(v: u64) -> bool {
    v >= 0x21 && (v - 0x21).is_multiple_of(0x1f)
}

#[cfg(test)]
mod tests;
