//! Frames as values: [`Frame`] encodes itself (RFC 9000 §19, RFC 9221 §4,
//! draft-ietf-quic-ack-frequency §4) and decodes through the layout parser, so a round trip
//! checks the parser and the encoder against each other.

use super::super::varint;
use super::{parse_one, ty, Field};

/// One frame with its values, for the library of frames to insert and for round-trip tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// `len` PADDING bytes.
    Padding {
        len: usize,
    },
    Ping,
    Ack {
        largest: u64,
        delay: u64,
        first_range: u64,
        ranges: Vec<(u64, u64)>,
        ecn: Option<[u64; 3]>,
    },
    ResetStream {
        stream_id: u64,
        error_code: u64,
        final_size: u64,
    },
    StopSending {
        stream_id: u64,
        error_code: u64,
    },
    Crypto {
        offset: u64,
        data: &'a [u8],
    },
    NewToken {
        token: &'a [u8],
    },
    /// `explicit_len: false` is the form whose data extends to the end of the packet.
    Stream {
        stream_id: u64,
        offset: Option<u64>,
        data: &'a [u8],
        explicit_len: bool,
        fin: bool,
    },
    MaxData {
        maximum: u64,
    },
    MaxStreamData {
        stream_id: u64,
        maximum: u64,
    },
    MaxStreams {
        bidi: bool,
        maximum: u64,
    },
    DataBlocked {
        limit: u64,
    },
    StreamDataBlocked {
        stream_id: u64,
        limit: u64,
    },
    StreamsBlocked {
        bidi: bool,
        limit: u64,
    },
    NewConnectionId {
        sequence: u64,
        retire_prior_to: u64,
        cid: &'a [u8],
        reset_token: [u8; 16],
    },
    RetireConnectionId {
        sequence: u64,
    },
    PathChallenge {
        data: [u8; 8],
    },
    PathResponse {
        data: [u8; 8],
    },
    /// `frame_type: None` is the application variant, 0x1d.
    ConnectionClose {
        error_code: u64,
        frame_type: Option<u64>,
        reason: &'a [u8],
    },
    HandshakeDone,
    Datagram {
        data: &'a [u8],
        explicit_len: bool,
    },
    AckFrequency {
        sequence: u64,
        ack_eliciting_threshold: u64,
        request_max_ack_delay: u64,
        reordering_threshold: u64,
    },
}

impl<'a> Frame<'a> {
    /// The frame's type.
    pub fn frame_type(&self) -> u64 {
        match self {
            Frame::Padding { .. } => ty::PADDING,
            Frame::Ping => ty::PING,
            Frame::Ack { ecn: None, .. } => ty::ACK,
            Frame::Ack { ecn: Some(_), .. } => ty::ACK_ECN,
            Frame::ResetStream { .. } => ty::RESET_STREAM,
            Frame::StopSending { .. } => ty::STOP_SENDING,
            Frame::Crypto { .. } => ty::CRYPTO,
            Frame::NewToken { .. } => ty::NEW_TOKEN,
            Frame::Stream { offset, explicit_len, fin, .. } => {
                ty::STREAM | (offset.is_some() as u64) << 2 | (*explicit_len as u64) << 1 | *fin as u64
            }
            Frame::MaxData { .. } => ty::MAX_DATA,
            Frame::MaxStreamData { .. } => ty::MAX_STREAM_DATA,
            Frame::MaxStreams { bidi: true, .. } => ty::MAX_STREAMS_BIDI,
            Frame::MaxStreams { bidi: false, .. } => ty::MAX_STREAMS_UNI,
            Frame::DataBlocked { .. } => ty::DATA_BLOCKED,
            Frame::StreamDataBlocked { .. } => ty::STREAM_DATA_BLOCKED,
            Frame::StreamsBlocked { bidi: true, .. } => ty::STREAMS_BLOCKED_BIDI,
            Frame::StreamsBlocked { bidi: false, .. } => ty::STREAMS_BLOCKED_UNI,
            Frame::NewConnectionId { .. } => ty::NEW_CONNECTION_ID,
            Frame::RetireConnectionId { .. } => ty::RETIRE_CONNECTION_ID,
            Frame::PathChallenge { .. } => ty::PATH_CHALLENGE,
            Frame::PathResponse { .. } => ty::PATH_RESPONSE,
            Frame::ConnectionClose { frame_type: Some(_), .. } => ty::CONNECTION_CLOSE,
            Frame::ConnectionClose { frame_type: None, .. } => ty::CONNECTION_CLOSE_APP,
            Frame::HandshakeDone => ty::HANDSHAKE_DONE,
            Frame::Datagram { explicit_len: false, .. } => ty::DATAGRAM,
            Frame::Datagram { explicit_len: true, .. } => ty::DATAGRAM_LEN,
            Frame::AckFrequency { .. } => ty::ACK_FREQUENCY,
        }
    }

    /// Appends the frame's encoding, with shortest varints (frame types must be shortest,
    /// RFC 9000 §12.4).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let v = |x: u64, out: &mut Vec<u8>| varint::push(x, out);
        let with_len = |d: &[u8], out: &mut Vec<u8>| {
            varint::push(d.len() as u64, out);
            out.extend_from_slice(d);
        };
        if let Frame::Padding { len } = self {
            out.resize(out.len() + len, 0);
            return;
        }
        v(self.frame_type(), out);
        match self {
            Frame::Padding { .. } | Frame::Ping | Frame::HandshakeDone => {}
            Frame::Ack { largest, delay, first_range, ranges, ecn } => {
                for x in [*largest, *delay, ranges.len() as u64, *first_range] {
                    v(x, out);
                }
                for (gap, len) in ranges {
                    v(*gap, out);
                    v(*len, out);
                }
                for x in ecn.iter().flatten() {
                    v(*x, out);
                }
            }
            Frame::ResetStream { stream_id, error_code, final_size } => {
                for x in [*stream_id, *error_code, *final_size] {
                    v(x, out);
                }
            }
            Frame::StopSending { stream_id, error_code } => {
                v(*stream_id, out);
                v(*error_code, out);
            }
            Frame::Crypto { offset, data } => {
                v(*offset, out);
                with_len(data, out);
            }
            Frame::NewToken { token } => with_len(token, out),
            Frame::Stream { stream_id, offset, data, explicit_len, .. } => {
                v(*stream_id, out);
                if let Some(o) = offset {
                    v(*o, out);
                }
                if *explicit_len {
                    with_len(data, out);
                } else {
                    out.extend_from_slice(data);
                }
            }
            Frame::MaxData { maximum: x }
            | Frame::MaxStreams { maximum: x, .. }
            | Frame::DataBlocked { limit: x }
            | Frame::StreamsBlocked { limit: x, .. }
            | Frame::RetireConnectionId { sequence: x } => v(*x, out),
            Frame::MaxStreamData { stream_id, maximum: x } | Frame::StreamDataBlocked { stream_id, limit: x } => {
                v(*stream_id, out);
                v(*x, out);
            }
            Frame::NewConnectionId { sequence, retire_prior_to, cid, reset_token } => {
                v(*sequence, out);
                v(*retire_prior_to, out);
                out.push(cid.len() as u8);
                out.extend_from_slice(cid);
                out.extend_from_slice(reset_token);
            }
            Frame::PathChallenge { data } | Frame::PathResponse { data } => out.extend_from_slice(data),
            Frame::ConnectionClose { error_code, frame_type, reason } => {
                v(*error_code, out);
                if let Some(t) = frame_type {
                    v(*t, out);
                }
                with_len(reason, out);
            }
            Frame::Datagram { data, explicit_len } => {
                if *explicit_len {
                    with_len(data, out);
                } else {
                    out.extend_from_slice(data);
                }
            }
            Frame::AckFrequency { sequence, ack_eliciting_threshold, request_max_ack_delay, reordering_threshold } => {
                for x in [*sequence, *ack_eliciting_threshold, *request_max_ack_delay, *reordering_threshold] {
                    v(x, out);
                }
            }
        }
    }

    /// Decodes the first frame of `buf` and returns it with its encoded length.
    pub fn decode(buf: &'a [u8]) -> Option<(Frame<'a>, usize)> {
        let mut fields = Vec::new();
        let (t, end) = parse_one(buf, 0, Some(&mut fields))?;
        let num = |i: usize| fields.get(i).and_then(|f: &Field| varint::decode(buf, f.at as usize)).map(|(x, _)| x);
        let bytes = |i: usize| fields.get(i).map(|f: &Field| &buf[f.at as usize..(f.at + f.len) as usize]);
        let frame = match t {
            ty::PADDING => Frame::Padding { len: end },
            ty::PING => Frame::Ping,
            ty::HANDSHAKE_DONE => Frame::HandshakeDone,
            ty::ACK | ty::ACK_ECN => {
                let count = num(2)? as usize;
                let ranges = (0..count).map(|i| Some((num(4 + 2 * i)?, num(5 + 2 * i)?))).collect::<Option<_>>()?;
                let e = 4 + 2 * count;
                let ecn = if t == ty::ACK_ECN { Some([num(e)?, num(e + 1)?, num(e + 2)?]) } else { None };
                Frame::Ack { largest: num(0)?, delay: num(1)?, first_range: num(3)?, ranges, ecn }
            }
            ty::RESET_STREAM => Frame::ResetStream { stream_id: num(0)?, error_code: num(1)?, final_size: num(2)? },
            ty::STOP_SENDING => Frame::StopSending { stream_id: num(0)?, error_code: num(1)? },
            ty::CRYPTO => Frame::Crypto { offset: num(0)?, data: bytes(2)? },
            ty::NEW_TOKEN => Frame::NewToken { token: bytes(1)? },
            0x08..=0x0f => {
                let has_off = t & 0x04 != 0;
                let explicit_len = t & 0x02 != 0;
                let data = bytes(fields.len() - 1)?;
                Frame::Stream {
                    stream_id: num(0)?,
                    offset: if has_off { Some(num(1)?) } else { None },
                    data,
                    explicit_len,
                    fin: t & 0x01 != 0,
                }
            }
            ty::MAX_DATA => Frame::MaxData { maximum: num(0)? },
            ty::MAX_STREAM_DATA => Frame::MaxStreamData { stream_id: num(0)?, maximum: num(1)? },
            ty::MAX_STREAMS_BIDI | ty::MAX_STREAMS_UNI => {
                Frame::MaxStreams { bidi: t == ty::MAX_STREAMS_BIDI, maximum: num(0)? }
            }
            ty::DATA_BLOCKED => Frame::DataBlocked { limit: num(0)? },
            ty::STREAM_DATA_BLOCKED => Frame::StreamDataBlocked { stream_id: num(0)?, limit: num(1)? },
            ty::STREAMS_BLOCKED_BIDI | ty::STREAMS_BLOCKED_UNI => {
                Frame::StreamsBlocked { bidi: t == ty::STREAMS_BLOCKED_BIDI, limit: num(0)? }
            }
            ty::NEW_CONNECTION_ID => Frame::NewConnectionId {
                sequence: num(0)?,
                retire_prior_to: num(1)?,
                cid: bytes(3)?,
                reset_token: bytes(4)?.try_into().ok()?,
            },
            ty::RETIRE_CONNECTION_ID => Frame::RetireConnectionId { sequence: num(0)? },
            ty::PATH_CHALLENGE => Frame::PathChallenge { data: bytes(0)?.try_into().ok()? },
            ty::PATH_RESPONSE => Frame::PathResponse { data: bytes(0)?.try_into().ok()? },
            ty::CONNECTION_CLOSE => {
                Frame::ConnectionClose { error_code: num(0)?, frame_type: Some(num(1)?), reason: bytes(3)? }
            }
            ty::CONNECTION_CLOSE_APP => {
                Frame::ConnectionClose { error_code: num(0)?, frame_type: None, reason: bytes(2)? }
            }
            ty::DATAGRAM => Frame::Datagram { data: bytes(0)?, explicit_len: false },
            ty::DATAGRAM_LEN => Frame::Datagram { data: bytes(1)?, explicit_len: true },
            ty::ACK_FREQUENCY => Frame::AckFrequency {
                sequence: num(0)?,
                ack_eliciting_threshold: num(1)?,
                request_max_ack_delay: num(2)?,
                reordering_threshold: num(3)?,
            },
            _ => return None,
        };
        Some((frame, end))
    }
}
