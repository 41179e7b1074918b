//! The frames of one packet's payload (RFC 9000 §12.4, §19; RFC 9221 §4;
//! draft-ietf-quic-ack-frequency §4): a parser that records where every frame and every field
//! lies, and (in [`value`]) a typed [`Frame`] that encodes itself, used for the library of frames
//! to insert.
//!
//! The parser is tolerant on purpose: it checks structure (varints, lengths, that the bytes are
//! there), not semantics, so a payload the engine has already mutated (a stream ID of the wrong
//! direction, a CID of 25 bytes) still parses and can be mutated again. It never allocates once
//! its vectors have grown, and it stops at the first frame it cannot read.

use super::varint;

pub mod value;

pub use value::Frame;

/// Frame types, RFC 9000 §19 (Table 3 of §12.4), RFC 9221 §4 and draft-ietf-quic-ack-frequency §4.
pub mod ty {
    pub const PADDING: u64 = 0x00;
    pub const PING: u64 = 0x01;
    pub const ACK: u64 = 0x02;
    pub const ACK_ECN: u64 = 0x03;
    pub const RESET_STREAM: u64 = 0x04;
    pub const STOP_SENDING: u64 = 0x05;
    pub const CRYPTO: u64 = 0x06;
    pub const NEW_TOKEN: u64 = 0x07;
    /// STREAM frames are 0x08..=0x0f: bit 0x04 OFF, 0x02 LEN, 0x01 FIN (RFC 9000 §19.8).
    pub const STREAM: u64 = 0x08;
    pub const MAX_DATA: u64 = 0x10;
    pub const MAX_STREAM_DATA: u64 = 0x11;
    pub const MAX_STREAMS_BIDI: u64 = 0x12;
    pub const MAX_STREAMS_UNI: u64 = 0x13;
    pub const DATA_BLOCKED: u64 = 0x14;
    pub const STREAM_DATA_BLOCKED: u64 = 0x15;
    pub const STREAMS_BLOCKED_BIDI: u64 = 0x16;
    pub const STREAMS_BLOCKED_UNI: u64 = 0x17;
    pub const NEW_CONNECTION_ID: u64 = 0x18;
    pub const RETIRE_CONNECTION_ID: u64 = 0x19;
    pub const PATH_CHALLENGE: u64 = 0x1a;
    pub const PATH_RESPONSE: u64 = 0x1b;
    pub const CONNECTION_CLOSE: u64 = 0x1c;
    pub const CONNECTION_CLOSE_APP: u64 = 0x1d;
    pub const HANDSHAKE_DONE: u64 = 0x1e;
    /// DATAGRAM, RFC 9221 §4: 0x30 without and 0x31 with a Length field.
    pub const DATAGRAM: u64 = 0x30;
    pub const DATAGRAM_LEN: u64 = 0x31;
    /// ACK_FREQUENCY, draft-ietf-quic-ack-frequency §4.
    pub const ACK_FREQUENCY: u64 = 0xaf;

    /// Whether `t` is one of the STREAM types.
    pub fn is_stream(t: u64) -> bool {
        (0x08..=0x0f).contains(&t)
    }
}

/// What a field means, which decides the interesting values a mutation writes into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sem {
    /// A stream ID (RFC 9000 §2.1): its two low bits say who opened it and in which direction.
    StreamId,
    /// A byte offset in a stream or the crypto stream.
    Offset,
    /// The length of the [`Sem::Bytes`] field that follows.
    Length,
    /// A count of things that follow (ACK Range Count).
    Count,
    /// Any other varint: limits, sequence numbers, error codes, packet numbers.
    Varint,
    /// The one-byte Length of NEW_CONNECTION_ID (RFC 9000 §19.15: 1 to 20 valid).
    CidLength,
    /// Opaque bytes: data, tokens, CIDs, reasons.
    Bytes,
}

/// Where one field of a frame lies in the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Stable name, `frame.field`, used in operator names (`field:stream.offset`).
    pub name: &'static str,
    pub at: u32,
    /// The encoded width of a varint, or the byte count of `Bytes`.
    pub len: u32,
    pub sem: Sem,
}

impl Field {
    pub fn is_varint(&self) -> bool {
        !matches!(self.sem, Sem::CidLength | Sem::Bytes)
    }
}

/// Where one frame lies in the payload. A run of PADDING bytes is one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSpan {
    pub ty: u64,
    pub at: u32,
    pub end: u32,
    /// The frame's fields are `Frames::fields[first_field..first_field + field_count]`.
    pub first_field: u32,
    pub field_count: u32,
}

impl FrameSpan {
    pub fn len(&self) -> usize {
        (self.end - self.at) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.at
    }

    pub fn is_padding(&self) -> bool {
        self.ty == ty::PADDING
    }
}

/// The parsed layout of a payload: scratch space owned by the mutator, refilled on every parse.
#[derive(Clone, Debug, Default)]
pub struct Frames {
    pub frames: Vec<FrameSpan>,
    pub fields: Vec<Field>,
    /// The offset where parsing stopped: the payload length when every byte parsed.
    pub parsed_end: usize,
}

impl Frames {
    /// Parses `payload` into frames, stopping at the first frame that does not parse.
    pub fn parse(&mut self, payload: &[u8]) {
        self.frames.clear();
        self.fields.clear();
        let mut at = 0;
        while at < payload.len() {
            let first_field = self.fields.len();
            match parse_one(payload, at, Some(&mut self.fields)) {
                Some((t, end)) => {
                    self.frames.push(FrameSpan {
                        ty: t,
                        at: at as u32,
                        end: end as u32,
                        first_field: first_field as u32,
                        field_count: (self.fields.len() - first_field) as u32,
                    });
                    at = end;
                }
                None => {
                    self.fields.truncate(first_field);
                    break;
                }
            }
        }
        self.parsed_end = at;
    }

    /// Whether every byte of the payload parsed as frames.
    pub fn complete(&self, len: usize) -> bool {
        self.parsed_end == len
    }

    pub fn fields_of(&self, frame: &FrameSpan) -> &[Field] {
        let first = frame.first_field as usize;
        &self.fields[first..first + frame.field_count as usize]
    }

    /// The number of PADDING bytes that end the payload: room that insertions may take over,
    /// since Initial packets come padded to their capacity (RFC 9000 §14.1).
    pub fn trailing_padding(&self, len: usize) -> usize {
        match self.frames.last() {
            Some(f) if f.is_padding() && f.end as usize == len && self.complete(len) => f.len(),
            _ => 0,
        }
    }
}

/// Reads fields at a position, recording each one.
struct Cursor<'a, 'f> {
    buf: &'a [u8],
    pos: usize,
    /// Where fields are recorded; `None` when only the frame boundaries are wanted.
    fields: Option<&'f mut Vec<Field>>,
}

impl Cursor<'_, '_> {
    fn record(&mut self, name: &'static str, len: usize, sem: Sem) {
        if let Some(fields) = self.fields.as_deref_mut() {
            fields.push(Field { name, at: self.pos as u32, len: len as u32, sem });
        }
    }

    fn varint(&mut self, name: &'static str, sem: Sem) -> Option<u64> {
        let (value, width) = varint::decode(self.buf, self.pos)?;
        self.record(name, width, sem);
        self.pos += width;
        Some(value)
    }

    fn byte(&mut self, name: &'static str, sem: Sem) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.record(name, 1, sem);
        self.pos += 1;
        Some(b)
    }

    fn bytes(&mut self, name: &'static str, n: u64) -> Option<()> {
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return None;
        }
        self.record(name, n as usize, Sem::Bytes);
        self.pos += n as usize;
        Some(())
    }

    fn rest(&mut self, name: &'static str) {
        let n = (self.buf.len() - self.pos) as u64;
        let _ = self.bytes(name, n);
    }
}

/// The number of zero bytes `bytes` starts with. Padded Initial packets are mostly zeros and
/// are parsed once per mutation, so this looks at 16 bytes at a time.
fn zero_run(bytes: &[u8]) -> usize {
    let mut chunks = bytes.chunks_exact(16);
    let mut run = 0;
    for chunk in &mut chunks {
        if u128::from_ne_bytes(chunk.try_into().expect("16-byte chunk")) != 0 {
            break;
        }
        run += 16;
    }
    run + bytes[run..].iter().take_while(|b| **b == 0).count()
}

/// Parses the frame at `buf[at..]`, appending its fields; returns its type and end.
pub(crate) fn parse_one(buf: &[u8], at: usize, fields: Option<&mut Vec<Field>>) -> Option<(u64, usize)> {
    let (t, width) = varint::decode(buf, at)?;
    let mut c = Cursor { buf, pos: at + width, fields };
    use Sem::*;
    match t {
        // §19.1: a run of PADDING bytes is kept as one frame, so a padded Initial packet is two
        // frames, not a thousand.
        ty::PADDING => {
            c.pos += zero_run(&buf[c.pos..]);
        }
        ty::PING | ty::HANDSHAKE_DONE => {}
        // §19.3: Largest Acknowledged, ACK Delay, ACK Range Count, First ACK Range, ranges of
        // (Gap, ACK Range Length), and for 0x03 the three ECN counts (§19.3.2).
        ty::ACK | ty::ACK_ECN => {
            c.varint("ack.largest", Varint)?;
            c.varint("ack.delay", Varint)?;
            let count = c.varint("ack.range_count", Count)?;
            c.varint("ack.first_range", Varint)?;
            // Each range takes at least two bytes: the count cannot make this loop run long.
            for _ in 0..count {
                c.varint("ack.gap", Varint)?;
                c.varint("ack.range_length", Varint)?;
            }
            if t == ty::ACK_ECN {
                c.varint("ack.ect0", Varint)?;
                c.varint("ack.ect1", Varint)?;
                c.varint("ack.ecn_ce", Varint)?;
            }
        }
        // §19.4
        ty::RESET_STREAM => {
            c.varint("reset_stream.stream_id", StreamId)?;
            c.varint("reset_stream.error_code", Varint)?;
            c.varint("reset_stream.final_size", Offset)?;
        }
        // §19.5
        ty::STOP_SENDING => {
            c.varint("stop_sending.stream_id", StreamId)?;
            c.varint("stop_sending.error_code", Varint)?;
        }
        // §19.6
        ty::CRYPTO => {
            c.varint("crypto.offset", Offset)?;
            let n = c.varint("crypto.length", Length)?;
            c.bytes("crypto.data", n)?;
        }
        // §19.7
        ty::NEW_TOKEN => {
            let n = c.varint("new_token.length", Length)?;
            c.bytes("new_token.token", n)?;
        }
        // §19.8: "The OFF bit (0x04) ... The LEN bit (0x02) ... If this bit is set to 0, the
        // Length field is absent and the Stream Data field extends to the end of the packet."
        0x08..=0x0f => {
            c.varint("stream.stream_id", StreamId)?;
            if t & 0x04 != 0 {
                c.varint("stream.offset", Offset)?;
            }
            if t & 0x02 != 0 {
                let n = c.varint("stream.length", Length)?;
                c.bytes("stream.data", n)?;
            } else {
                c.rest("stream.data");
            }
        }
        ty::MAX_DATA => {
            c.varint("max_data.maximum", Varint)?;
        }
        ty::MAX_STREAM_DATA => {
            c.varint("max_stream_data.stream_id", StreamId)?;
            c.varint("max_stream_data.maximum", Varint)?;
        }
        ty::MAX_STREAMS_BIDI => {
            c.varint("max_streams_bidi.maximum", Varint)?;
        }
        ty::MAX_STREAMS_UNI => {
            c.varint("max_streams_uni.maximum", Varint)?;
        }
        ty::DATA_BLOCKED => {
            c.varint("data_blocked.limit", Varint)?;
        }
        ty::STREAM_DATA_BLOCKED => {
            c.varint("stream_data_blocked.stream_id", StreamId)?;
            c.varint("stream_data_blocked.limit", Varint)?;
        }
        ty::STREAMS_BLOCKED_BIDI => {
            c.varint("streams_blocked_bidi.limit", Varint)?;
        }
        ty::STREAMS_BLOCKED_UNI => {
            c.varint("streams_blocked_uni.limit", Varint)?;
        }
        // §19.15: Sequence Number, Retire Prior To, Length (8 bits), CID, Stateless Reset
        // Token (128 bits).
        ty::NEW_CONNECTION_ID => {
            c.varint("new_connection_id.sequence", Varint)?;
            c.varint("new_connection_id.retire_prior_to", Varint)?;
            let n = c.byte("new_connection_id.length", CidLength)?;
            c.bytes("new_connection_id.cid", u64::from(n))?;
            c.bytes("new_connection_id.reset_token", 16)?;
        }
        ty::RETIRE_CONNECTION_ID => {
            c.varint("retire_connection_id.sequence", Varint)?;
        }
        // §19.17, §19.18: 64 bits of data.
        ty::PATH_CHALLENGE => c.bytes("path_challenge.data", 8)?,
        ty::PATH_RESPONSE => c.bytes("path_response.data", 8)?,
        // §19.19: 0x1c carries the Frame Type that triggered the error, 0x1d does not.
        ty::CONNECTION_CLOSE => {
            c.varint("connection_close.error_code", Varint)?;
            c.varint("connection_close.frame_type", Varint)?;
            let n = c.varint("connection_close.reason_length", Length)?;
            c.bytes("connection_close.reason", n)?;
        }
        ty::CONNECTION_CLOSE_APP => {
            c.varint("connection_close_app.error_code", Varint)?;
            let n = c.varint("connection_close_app.reason_length", Length)?;
            c.bytes("connection_close_app.reason", n)?;
        }
        // RFC 9221 §4: like STREAM, 0x30 extends to the end of the packet.
        ty::DATAGRAM => c.rest("datagram.data"),
        ty::DATAGRAM_LEN => {
            let n = c.varint("datagram.length", Length)?;
            c.bytes("datagram.data", n)?;
        }
        // draft-ietf-quic-ack-frequency §4: Sequence Number, Ack-Eliciting Threshold, Request
        // Max Ack Delay, Reordering Threshold.
        ty::ACK_FREQUENCY => {
            c.varint("ack_frequency.sequence", Varint)?;
            c.varint("ack_frequency.ack_eliciting_threshold", Varint)?;
            c.varint("ack_frequency.request_max_ack_delay", Varint)?;
            c.varint("ack_frequency.reordering_threshold", Varint)?;
        }
        _ => return None,
    }
    Some((t, c.pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_runs() {
        for n in 0..70 {
            for tail in [&[][..], &[1], &[0, 1], &[1, 0]] {
                let mut bytes = vec![0u8; n];
                bytes.extend_from_slice(tail);
                let zeros = n + tail.iter().take_while(|b| **b == 0).count();
                assert_eq!(zero_run(&bytes), zeros, "{n} {tail:?}");
            }
        }
    }
}
