//! Frames as values: [`Frame`] encodes itself (RFC 9000 §19, RFC 9221 §4,
//! draft-ietf-quic-ack-frequency-14 §4 and §5, draft-ietf-quic-reliable-stream-reset-09 §4,
//! draft-ietf-quic-multipath-18 §4) and decodes through the layout parser, so a round trip
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
    /// draft-ietf-quic-ack-frequency-14 §5.
    ImmediateAck,
    /// draft-ietf-quic-reliable-stream-reset-09 §4.
    ResetStreamAt {
        stream_id: u64,
        error_code: u64,
        final_size: u64,
        reliable_size: u64,
    },
    /// draft-ietf-quic-multipath-18 §4.1: an ACK of the packet number space of path `path_id`.
    PathAck {
        path_id: u64,
        largest: u64,
        delay: u64,
        first_range: u64,
        ranges: Vec<(u64, u64)>,
        ecn: Option<[u64; 3]>,
    },
    /// draft-ietf-quic-multipath-18 §4.2.
    PathAbandon {
        path_id: u64,
        error_code: u64,
    },
    /// draft-ietf-quic-multipath-18 §4.3: `available: false` is PATH_STATUS_BACKUP.
    PathStatus {
        available: bool,
        path_id: u64,
        sequence: u64,
    },
    /// draft-ietf-quic-multipath-18 §4.4.
    PathNewConnectionId {
        path_id: u64,
        sequence: u64,
        retire_prior_to: u64,
        cid: &'a [u8],
        reset_token: [u8; 16],
    },
    /// draft-ietf-quic-multipath-18 §4.5.
    PathRetireConnectionId {
        path_id: u64,
        sequence: u64,
    },
    /// draft-ietf-quic-multipath-18 §4.6.
    MaxPathId {
        maximum: u64,
    },
    /// draft-ietf-quic-multipath-18 §4.7.
    PathsBlocked {
        limit: u64,
    },
    /// draft-ietf-quic-multipath-18 §4.7.
    PathCidsBlocked {
        path_id: u64,
        next_sequence: u64,
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
            Frame::ImmediateAck => ty::IMMEDIATE_ACK,
            Frame::ResetStreamAt { .. } => ty::RESET_STREAM_AT,
            Frame::PathAck { ecn: None, .. } => ty::PATH_ACK,
            Frame::PathAck { ecn: Some(_), .. } => ty::PATH_ACK_ECN,
            Frame::PathAbandon { .. } => ty::PATH_ABANDON,
            Frame::PathStatus { available: false, .. } => ty::PATH_STATUS_BACKUP,
            Frame::PathStatus { available: true, .. } => ty::PATH_STATUS_AVAILABLE,
            Frame::PathNewConnectionId { .. } => ty::PATH_NEW_CONNECTION_ID,
            Frame::PathRetireConnectionId { .. } => ty::PATH_RETIRE_CONNECTION_ID,
            Frame::MaxPathId { .. } => ty::MAX_PATH_ID,
            Frame::PathsBlocked { .. } => ty::PATHS_BLOCKED,
            Frame::PathCidsBlocked { .. } => ty::PATH_CIDS_BLOCKED,
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
        // RFC 9000 §19.3, and PATH_ACK after its Path Identifier.
        let ack = |largest: u64,
                   delay: u64,
                   first_range: u64,
                   ranges: &[(u64, u64)],
                   ecn: &Option<[u64; 3]>,
                   out: &mut Vec<u8>| {
            for x in [largest, delay, ranges.len() as u64, first_range] {
                v(x, out);
            }
            for (gap, len) in ranges {
                v(*gap, out);
                v(*len, out);
            }
            for x in ecn.iter().flatten() {
                v(*x, out);
            }
        };
        // RFC 9000 §19.15, and PATH_NEW_CONNECTION_ID after its Path Identifier.
        let new_cid = |sequence: u64, retire_prior_to: u64, cid: &[u8], reset_token: &[u8; 16], out: &mut Vec<u8>| {
            v(sequence, out);
            v(retire_prior_to, out);
            out.push(cid.len() as u8);
            out.extend_from_slice(cid);
            out.extend_from_slice(reset_token);
        };
        if let Frame::Padding { len } = self {
            out.resize(out.len() + len, 0);
            return;
        }
        v(self.frame_type(), out);
        match self {
            Frame::Padding { .. } | Frame::Ping | Frame::HandshakeDone | Frame::ImmediateAck => {}
            Frame::Ack { largest, delay, first_range, ranges, ecn } => {
                ack(*largest, *delay, *first_range, ranges, ecn, out)
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
                new_cid(*sequence, *retire_prior_to, cid, reset_token, out)
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
            Frame::ResetStreamAt { stream_id, error_code, final_size, reliable_size } => {
                for x in [*stream_id, *error_code, *final_size, *reliable_size] {
                    v(x, out);
                }
            }
            Frame::PathAck { path_id, largest, delay, first_range, ranges, ecn } => {
                v(*path_id, out);
                ack(*largest, *delay, *first_range, ranges, ecn, out);
            }
            Frame::PathNewConnectionId { path_id, sequence, retire_prior_to, cid, reset_token } => {
                v(*path_id, out);
                new_cid(*sequence, *retire_prior_to, cid, reset_token, out);
            }
            Frame::PathAbandon { path_id, error_code: x }
            | Frame::PathStatus { path_id, sequence: x, .. }
            | Frame::PathRetireConnectionId { path_id, sequence: x }
            | Frame::PathCidsBlocked { path_id, next_sequence: x } => {
                v(*path_id, out);
                v(*x, out);
            }
            Frame::MaxPathId { maximum: x } | Frame::PathsBlocked { limit: x } => v(*x, out),
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
            ty::IMMEDIATE_ACK => Frame::ImmediateAck,
            ty::ACK | ty::ACK_ECN => {
                let (ranges, ecn) = ack_tail(&num, 0, t == ty::ACK_ECN)?;
                Frame::Ack { largest: num(0)?, delay: num(1)?, first_range: num(3)?, ranges, ecn }
            }
            ty::PATH_ACK | ty::PATH_ACK_ECN => {
                let (ranges, ecn) = ack_tail(&num, 1, t == ty::PATH_ACK_ECN)?;
                Frame::PathAck { path_id: num(0)?, largest: num(1)?, delay: num(2)?, first_range: num(4)?, ranges, ecn }
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
            ty::RESET_STREAM_AT => Frame::ResetStreamAt {
                stream_id: num(0)?,
                error_code: num(1)?,
                final_size: num(2)?,
                reliable_size: num(3)?,
            },
            ty::PATH_ABANDON => Frame::PathAbandon { path_id: num(0)?, error_code: num(1)? },
            ty::PATH_STATUS_BACKUP | ty::PATH_STATUS_AVAILABLE => {
                Frame::PathStatus { available: t == ty::PATH_STATUS_AVAILABLE, path_id: num(0)?, sequence: num(1)? }
            }
            ty::PATH_NEW_CONNECTION_ID => Frame::PathNewConnectionId {
                path_id: num(0)?,
                sequence: num(1)?,
                retire_prior_to: num(2)?,
                cid: bytes(4)?,
                reset_token: bytes(5)?.try_into().ok()?,
            },
            ty::PATH_RETIRE_CONNECTION_ID => Frame::PathRetireConnectionId { path_id: num(0)?, sequence: num(1)? },
            ty::MAX_PATH_ID => Frame::MaxPathId { maximum: num(0)? },
            ty::PATHS_BLOCKED => Frame::PathsBlocked { limit: num(0)? },
            ty::PATH_CIDS_BLOCKED => Frame::PathCidsBlocked { path_id: num(0)?, next_sequence: num(1)? },
            _ => return None,
        };
        Some((frame, end))
    }
}

/// The ACK Ranges and ECN counts of an ACK whose Largest Acknowledged is field `first` (0 for ACK,
/// 1 for PATH_ACK, after its Path Identifier), read through `num` (a field's varint value).
#[allow(clippy::type_complexity)]
fn ack_tail(
    num: &impl Fn(usize) -> Option<u64>,
    first: usize,
    ecn: bool,
) -> Option<(Vec<(u64, u64)>, Option<[u64; 3]>)> {
    let count = num(first + 2)? as usize;
    let r = first + 4;
    let ranges = (0..count).map(|i| Some((num(r + 2 * i)?, num(r + 1 + 2 * i)?))).collect::<Option<_>>()?;
    let e = r + 2 * count;
    let ecn = if ecn { Some([num(e)?, num(e + 1)?, num(e + 2)?]) } else { None };
    Some((ranges, ecn))
}
