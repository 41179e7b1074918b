//! The frames of one packet's payload (RFC 9000 §12.4, §19; RFC 9221 §4;
//! draft-ietf-quic-ack-frequency-14 §4, §5; draft-ietf-quic-reliable-stream-reset-09 §4;
//! draft-ietf-quic-multipath-18 §4): a parser that records where every frame and every field
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

/// Frame types, RFC 9000 §19 (Table 3 of §12.4), RFC 9221 §4, draft-ietf-quic-ack-frequency-14
/// §4 and §5, draft-ietf-quic-reliable-stream-reset-09 §4 and draft-ietf-quic-multipath-18 §4.
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
    /// IMMEDIATE_ACK, draft-ietf-quic-ack-frequency-14 §5: no fields.
    pub const IMMEDIATE_ACK: u64 = 0x1f;
    /// RESET_STREAM_AT, draft-ietf-quic-reliable-stream-reset-09 §4: RESET_STREAM (RFC 9000
    /// §19.4) with a Reliable Size.
    pub const RESET_STREAM_AT: u64 = 0x24;
    /// DATAGRAM, RFC 9221 §4: 0x30 without and 0x31 with a Length field.
    pub const DATAGRAM: u64 = 0x30;
    pub const DATAGRAM_LEN: u64 = 0x31;
    /// ACK_FREQUENCY, draft-ietf-quic-ack-frequency-14 §4.
    pub const ACK_FREQUENCY: u64 = 0xaf;
    /// PATH_ACK, draft-ietf-quic-multipath-18 §4.1: a Path Identifier, then an ACK (RFC 9000
    /// §19.3); 0x3f carries the ECN counts.
    pub const PATH_ACK: u64 = 0x3e;
    pub const PATH_ACK_ECN: u64 = 0x3f;
    /// PATH_ABANDON, draft-ietf-quic-multipath-18 §4.2.
    pub const PATH_ABANDON: u64 = 0x3e75;
    /// PATH_STATUS_BACKUP and PATH_STATUS_AVAILABLE, draft-ietf-quic-multipath-18 §4.3.
    pub const PATH_STATUS_BACKUP: u64 = 0x3e76;
    pub const PATH_STATUS_AVAILABLE: u64 = 0x3e77;
    /// PATH_NEW_CONNECTION_ID, draft-ietf-quic-multipath-18 §4.4.
    pub const PATH_NEW_CONNECTION_ID: u64 = 0x3e78;
    /// PATH_RETIRE_CONNECTION_ID, draft-ietf-quic-multipath-18 §4.5.
    pub const PATH_RETIRE_CONNECTION_ID: u64 = 0x3e79;
    /// MAX_PATH_ID, draft-ietf-quic-multipath-18 §4.6.
    pub const MAX_PATH_ID: u64 = 0x3e7a;
    /// PATHS_BLOCKED and PATH_CIDS_BLOCKED, draft-ietf-quic-multipath-18 §4.7.
    pub const PATHS_BLOCKED: u64 = 0x3e7b;
    pub const PATH_CIDS_BLOCKED: u64 = 0x3e7c;

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
    /// Any other varint: limits, sequence numbers, error codes, packet numbers, path IDs.
    Varint,
    /// The one-byte Length of NEW_CONNECTION_ID (RFC 9000 §19.15: 1 to 20 valid) and of
    /// PATH_NEW_CONNECTION_ID (draft-ietf-quic-multipath-18 §4.4).
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

    /// The fields of an ACK frame after its type (RFC 9000 §19.3), named by `names` in the order
    /// of [`ACK_FIELDS`]; the ECN counts (§19.3.2) when `ecn`.
    fn ack(&mut self, names: &[&'static str; 9], ecn: bool) -> Option<()> {
        use Sem::*;
        self.varint(names[0], Varint)?;
        self.varint(names[1], Varint)?;
        let count = self.varint(names[2], Count)?;
        self.varint(names[3], Varint)?;
        // Each range takes at least two bytes: the count cannot make this loop run long.
        for _ in 0..count {
            self.varint(names[4], Varint)?;
            self.varint(names[5], Varint)?;
        }
        if ecn {
            self.varint(names[6], Varint)?;
            self.varint(names[7], Varint)?;
            self.varint(names[8], Varint)?;
        }
        Some(())
    }
}

/// The names of ACK's fields (RFC 9000 §19.3): Largest Acknowledged, ACK Delay, ACK Range Count,
/// First ACK Range, Gap, ACK Range Length, and the three ECN counts.
const ACK_FIELDS: [&str; 9] = [
    "ack.largest",
    "ack.delay",
    "ack.range_count",
    "ack.first_range",
    "ack.gap",
    "ack.range_length",
    "ack.ect0",
    "ack.ect1",
    "ack.ecn_ce",
];

/// The same fields of PATH_ACK, after its Path Identifier (draft-ietf-quic-multipath-18 §4.1).
const PATH_ACK_FIELDS: [&str; 9] = [
    "path_ack.largest",
    "path_ack.delay",
    "path_ack.range_count",
    "path_ack.first_range",
    "path_ack.gap",
    "path_ack.range_length",
    "path_ack.ect0",
    "path_ack.ect1",
    "path_ack.ecn_ce",
];

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
        // IMMEDIATE_ACK: draft-ietf-quic-ack-frequency-14 §5.
        ty::PING | ty::HANDSHAKE_DONE | ty::IMMEDIATE_ACK => {}
        // §19.3: Largest Acknowledged, ACK Delay, ACK Range Count, First ACK Range, ranges of
        // (Gap, ACK Range Length), and for 0x03 the three ECN counts (§19.3.2).
        ty::ACK | ty::ACK_ECN => c.ack(&ACK_FIELDS, t == ty::ACK_ECN)?,
        // §19.4
        ty::RESET_STREAM => {
            c.varint("reset_stream.stream_id", StreamId)?;
            c.varint("reset_stream.error_code", Varint)?;
            c.varint("reset_stream.final_size", Offset)?;
        }
        // draft-ietf-quic-reliable-stream-reset-09 §4: RESET_STREAM's fields, then Reliable Size
        // (an offset in the stream, no larger than Final Size).
        ty::RESET_STREAM_AT => {
            c.varint("reset_stream_at.stream_id", StreamId)?;
            c.varint("reset_stream_at.error_code", Varint)?;
            c.varint("reset_stream_at.final_size", Offset)?;
            c.varint("reset_stream_at.reliable_size", Offset)?;
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
        // draft-ietf-quic-ack-frequency-14 §4: Sequence Number, Ack-Eliciting Threshold, Request
        // Max Ack Delay, Reordering Threshold.
        ty::ACK_FREQUENCY => {
            c.varint("ack_frequency.sequence", Varint)?;
            c.varint("ack_frequency.ack_eliciting_threshold", Varint)?;
            c.varint("ack_frequency.request_max_ack_delay", Varint)?;
            c.varint("ack_frequency.reordering_threshold", Varint)?;
        }
        // draft-ietf-quic-multipath-18 §4.1: Path Identifier, then the fields of an ACK; 0x3f
        // with the ECN counts.
        ty::PATH_ACK | ty::PATH_ACK_ECN => {
            c.varint("path_ack.path_id", Varint)?;
            c.ack(&PATH_ACK_FIELDS, t == ty::PATH_ACK_ECN)?;
        }
        // §4.2: Path Identifier, Error Code.
        ty::PATH_ABANDON => {
            c.varint("path_abandon.path_id", Varint)?;
            c.varint("path_abandon.error_code", Varint)?;
        }
        // §4.3: Path Identifier, Path Status Sequence Number.
        ty::PATH_STATUS_BACKUP => {
            c.varint("path_status_backup.path_id", Varint)?;
            c.varint("path_status_backup.sequence", Varint)?;
        }
        ty::PATH_STATUS_AVAILABLE => {
            c.varint("path_status_available.path_id", Varint)?;
            c.varint("path_status_available.sequence", Varint)?;
        }
        // §4.4: Path Identifier, then NEW_CONNECTION_ID's fields (RFC 9000 §19.15).
        ty::PATH_NEW_CONNECTION_ID => {
            c.varint("path_new_connection_id.path_id", Varint)?;
            c.varint("path_new_connection_id.sequence", Varint)?;
            c.varint("path_new_connection_id.retire_prior_to", Varint)?;
            let n = c.byte("path_new_connection_id.length", CidLength)?;
            c.bytes("path_new_connection_id.cid", u64::from(n))?;
            c.bytes("path_new_connection_id.reset_token", 16)?;
        }
        // §4.5: Path Identifier, Sequence Number.
        ty::PATH_RETIRE_CONNECTION_ID => {
            c.varint("path_retire_connection_id.path_id", Varint)?;
            c.varint("path_retire_connection_id.sequence", Varint)?;
        }
        // §4.6, §4.7: Maximum Path Identifier.
        ty::MAX_PATH_ID => {
            c.varint("max_path_id.maximum", Varint)?;
        }
        ty::PATHS_BLOCKED => {
            c.varint("paths_blocked.limit", Varint)?;
        }
        // §4.7: Path Identifier, Next Sequence Number.
        ty::PATH_CIDS_BLOCKED => {
            c.varint("path_cids_blocked.path_id", Varint)?;
            c.varint("path_cids_blocked.next_sequence", Varint)?;
        }
        _ => return None,
    }
    Some((t, c.pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame, its encoding written out by hand from its draft's figure, and its fields as
    /// (name, offset, length, meaning).
    type Case = (Frame<'static>, Vec<u8>, Vec<(&'static str, u32, u32, Sem)>);

    fn newer_frames() -> Vec<Case> {
        use Sem::*;
        let token = [0x11u8; 16];
        let mut ncid = vec![0x7e, 0x78, 0x03, 0x01, 0x00, 0x04, 0xaa, 0xbb, 0xcc, 0xdd];
        ncid.extend_from_slice(&token);
        vec![
            // draft-ietf-quic-ack-frequency-14 §5: "IMMEDIATE_ACK Frame { Type (i) = 0x1f, }".
            (Frame::ImmediateAck, vec![0x1f], vec![]),
            // draft-ietf-quic-reliable-stream-reset-09 §4: Type 0x24, Stream ID, Application
            // Protocol Error Code, Final Size, Reliable Size. 0x100 and 1000 take two bytes.
            (
                Frame::ResetStreamAt { stream_id: 4, error_code: 0x100, final_size: 1000, reliable_size: 17 },
                vec![0x24, 0x04, 0x41, 0x00, 0x43, 0xe8, 0x11],
                vec![
                    ("reset_stream_at.stream_id", 1, 1, StreamId),
                    ("reset_stream_at.error_code", 2, 2, Varint),
                    ("reset_stream_at.final_size", 4, 2, Offset),
                    ("reset_stream_at.reliable_size", 6, 1, Offset),
                ],
            ),
            // draft-ietf-quic-multipath-18 §4.1: Type 0x3e..0x3f, Path Identifier, then the
            // fields of RFC 9000 §19.3.
            (
                Frame::PathAck {
                    path_id: 1,
                    largest: 0x10,
                    delay: 0x40,
                    first_range: 2,
                    ranges: vec![(1, 3)],
                    ecn: None,
                },
                vec![0x3e, 0x01, 0x10, 0x40, 0x40, 0x01, 0x02, 0x01, 0x03],
                vec![
                    ("path_ack.path_id", 1, 1, Varint),
                    ("path_ack.largest", 2, 1, Varint),
                    ("path_ack.delay", 3, 2, Varint),
                    ("path_ack.range_count", 5, 1, Count),
                    ("path_ack.first_range", 6, 1, Varint),
                    ("path_ack.gap", 7, 1, Varint),
                    ("path_ack.range_length", 8, 1, Varint),
                ],
            ),
            (
                Frame::PathAck {
                    path_id: 0,
                    largest: 5,
                    delay: 0,
                    first_range: 0,
                    ranges: vec![],
                    ecn: Some([1, 2, 3]),
                },
                vec![0x3f, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03],
                vec![
                    ("path_ack.path_id", 1, 1, Varint),
                    ("path_ack.largest", 2, 1, Varint),
                    ("path_ack.delay", 3, 1, Varint),
                    ("path_ack.range_count", 4, 1, Count),
                    ("path_ack.first_range", 5, 1, Varint),
                    ("path_ack.ect0", 6, 1, Varint),
                    ("path_ack.ect1", 7, 1, Varint),
                    ("path_ack.ecn_ce", 8, 1, Varint),
                ],
            ),
            // §4.2: Type 0x3e75 (two bytes: 0x7e 0x75), Path Identifier, Error Code
            // (NO_CID_AVAILABLE_FOR_PATH, 0x3e77, §4.2.1).
            (
                Frame::PathAbandon { path_id: 2, error_code: 0x3e77 },
                vec![0x7e, 0x75, 0x02, 0x7e, 0x77],
                vec![("path_abandon.path_id", 2, 1, Varint), ("path_abandon.error_code", 3, 2, Varint)],
            ),
            // §4.3: Type 0x3e76 (BACKUP) or 0x3e77 (AVAILABLE), Path Identifier, Path Status
            // Sequence Number.
            (
                Frame::PathStatus { available: false, path_id: 1, sequence: 7 },
                vec![0x7e, 0x76, 0x01, 0x07],
                vec![("path_status_backup.path_id", 2, 1, Varint), ("path_status_backup.sequence", 3, 1, Varint)],
            ),
            (
                Frame::PathStatus { available: true, path_id: 1, sequence: 8 },
                vec![0x7e, 0x77, 0x01, 0x08],
                vec![("path_status_available.path_id", 2, 1, Varint), ("path_status_available.sequence", 3, 1, Varint)],
            ),
            // §4.4: Type 0x3e78, Path Identifier, Sequence Number, Retire Prior To, Length (8),
            // Connection ID, Stateless Reset Token (128).
            (
                Frame::PathNewConnectionId {
                    path_id: 3,
                    sequence: 1,
                    retire_prior_to: 0,
                    cid: &[0xaa, 0xbb, 0xcc, 0xdd],
                    reset_token: token,
                },
                ncid,
                vec![
                    ("path_new_connection_id.path_id", 2, 1, Varint),
                    ("path_new_connection_id.sequence", 3, 1, Varint),
                    ("path_new_connection_id.retire_prior_to", 4, 1, Varint),
                    ("path_new_connection_id.length", 5, 1, CidLength),
                    ("path_new_connection_id.cid", 6, 4, Bytes),
                    ("path_new_connection_id.reset_token", 10, 16, Bytes),
                ],
            ),
            // §4.5: Type 0x3e79, Path Identifier, Sequence Number (0x3fff: two bytes).
            (
                Frame::PathRetireConnectionId { path_id: 3, sequence: 0x3fff },
                vec![0x7e, 0x79, 0x03, 0x7f, 0xff],
                vec![
                    ("path_retire_connection_id.path_id", 2, 1, Varint),
                    ("path_retire_connection_id.sequence", 3, 2, Varint),
                ],
            ),
            // §4.6: Type 0x3e7a, Maximum Path Identifier (2^32-1, the largest allowed: 8 bytes).
            (
                Frame::MaxPathId { maximum: (1 << 32) - 1 },
                vec![0x7e, 0x7a, 0xc0, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff],
                vec![("max_path_id.maximum", 2, 8, Varint)],
            ),
            // §4.7: Type 0x3e7b, Maximum Path Identifier; Type 0x3e7c, Path Identifier, Next
            // Sequence Number.
            (Frame::PathsBlocked { limit: 4 }, vec![0x7e, 0x7b, 0x04], vec![("paths_blocked.limit", 2, 1, Varint)]),
            (
                Frame::PathCidsBlocked { path_id: 1, next_sequence: 2 },
                vec![0x7e, 0x7c, 0x01, 0x02],
                vec![("path_cids_blocked.path_id", 2, 1, Varint), ("path_cids_blocked.next_sequence", 3, 1, Varint)],
            ),
        ]
    }

    #[test]
    fn newer_frames_encode_and_parse_byte_exact() {
        let types: Vec<u64> = newer_frames().iter().map(|(f, _, _)| f.frame_type()).collect();
        assert_eq!(
            types,
            [
                ty::IMMEDIATE_ACK,
                ty::RESET_STREAM_AT,
                ty::PATH_ACK,
                ty::PATH_ACK_ECN,
                ty::PATH_ABANDON,
                ty::PATH_STATUS_BACKUP,
                ty::PATH_STATUS_AVAILABLE,
                ty::PATH_NEW_CONNECTION_ID,
                ty::PATH_RETIRE_CONNECTION_ID,
                ty::MAX_PATH_ID,
                ty::PATHS_BLOCKED,
                ty::PATH_CIDS_BLOCKED,
            ]
        );
        assert_eq!(types, [0x1f, 0x24, 0x3e, 0x3f, 0x3e75, 0x3e76, 0x3e77, 0x3e78, 0x3e79, 0x3e7a, 0x3e7b, 0x3e7c]);
        for (frame, bytes, fields) in newer_frames() {
            let mut out = Vec::new();
            frame.encode(&mut out);
            assert_eq!(out, bytes, "{frame:?}");
            assert_eq!(Frame::decode(&bytes), Some((frame.clone(), bytes.len())), "{frame:?}");
            // Followed by another frame, it ends where it should.
            let mut two = bytes.clone();
            two.push(ty::PING as u8);
            let mut frames = Frames::default();
            frames.parse(&two);
            assert!(frames.complete(two.len()), "{frame:?}");
            assert_eq!(frames.frames.len(), 2, "{frame:?}");
            let span = frames.frames[0];
            assert_eq!((span.ty, span.at, span.end), (frame.frame_type(), 0, bytes.len() as u32), "{frame:?}");
            let got: Vec<_> = frames.fields_of(&span).iter().map(|f| (f.name, f.at, f.len, f.sem)).collect();
            assert_eq!(got, fields, "{frame:?}");
            // Cut short anywhere, it does not parse (IMMEDIATE_ACK has nothing to cut).
            for cut in 1..bytes.len() {
                assert_eq!(parse_one(&bytes[..cut], 0, None), None, "{frame:?} cut at {cut}");
            }
        }
    }

    /// The parser's tolerance: values the drafts forbid still parse, so mutated frames can be
    /// mutated again.
    #[test]
    fn newer_frames_parse_values_their_drafts_forbid() {
        // Reliable Size above Final Size (draft-ietf-quic-reliable-stream-reset-09 §4).
        assert_eq!(
            Frame::decode(&[0x24, 0x01, 0x00, 0x05, 0x06]),
            Some((Frame::ResetStreamAt { stream_id: 1, error_code: 0, final_size: 5, reliable_size: 6 }, 5))
        );
        // A 21-byte CID, a path ID past 2^32-1 (draft-ietf-quic-multipath-18 §4.4, §2.1).
        let mut ncid = vec![0x7e, 0x78, 0xc0, 0, 0, 1, 0, 0, 0, 0, 0x00, 0x00, 21];
        ncid.extend_from_slice(&[0x5a; 21 + 16]);
        let (frame, len) = Frame::decode(&ncid).unwrap();
        assert_eq!(len, ncid.len());
        assert!(matches!(frame, Frame::PathNewConnectionId { path_id: 0x1_0000_0000, cid, .. } if cid.len() == 21));
        // A frame type in a longer encoding than it needs (RFC 9000 §12.4 forbids it).
        assert_eq!(Frame::decode(&[0x40, 0x1f]), Some((Frame::ImmediateAck, 2)));
        assert_eq!(Frame::decode(&[0x80, 0x00, 0x3e, 0x7b, 0x00]), Some((Frame::PathsBlocked { limit: 0 }, 5)));
        // The types around them are still unknown.
        for t in [0x20u64, 0x23, 0x25, 0x3d, 0x40, 0x3e74, 0x3e7d] {
            let mut bytes = Vec::new();
            varint::push(t, &mut bytes);
            bytes.extend_from_slice(&[0; 8]);
            assert_eq!(parse_one(&bytes, 0, None), None, "0x{t:x}");
        }
    }

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
