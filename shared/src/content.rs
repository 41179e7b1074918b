//! What a packet carries, as opposed to when it happened to be sent: the key of derivations v2
//! and v3.
//!
//! Which packets of a connection exist, and which number each gets, is partly a matter of timing:
//! a slow peer makes the sender retransmit its ClientHello on a probe timeout (RFC 9002 §6.2.4),
//! an ACK-only packet is sent or not depending on when the peer's packets arrive (RFC 9000
//! §13.2), and frames coalesce into one packet or spread over two. Decisions keyed by packet
//! number therefore move from one packet to another between two runs of the same CID; and which
//! frames share a packet is timing too (a request rides with the NEW_CONNECTION_ID frames in one
//! run, in a packet of its own in the next). So the unit of fuzzing is not the packet but what
//! its frames carry. A [`ContentKey`] names a frame by its identity: the crypto stream offset of
//! a CRYPTO frame, the stream and offset of a STREAM frame, the sequence number of a
//! NEW_CONNECTION_ID, the path ID (and the sequence number, where there is one) of a multipath
//! frame (draft-ietf-quic-multipath-18 §4), the frame type of the others. A retransmission of
//! the same data has the same key as the original, so it carries the same mutation, in whatever
//! packet it rides.
//!
//! Timing frames ([`is_timing_frame`]) have no key: ACK and PATH_ACK, PING, IMMEDIATE_ACK and
//! PADDING, and the flow-control credits (MAX_DATA, MAX_STREAM_DATA, MAX_STREAMS, MAX_PATH_ID
//! and the BLOCKED frames but PATH_CIDS_BLOCKED), whose presence and values follow how fast the
//! peer's data arrived and was read; so has a STREAM frame with neither data nor FIN, which only
//! opens its stream. They are never fuzzed targets, so a packet that timing adds neither takes
//! nor shifts another packet's decision.
//!
//! A plan counts candidates the same way: the k-th *distinct* key of the plan's fuzz state
//! ([`ContentOrder`]), never the k-th packet.

use crate::mutate::frame::{self, ty};
use crate::mutate::varint;
use crate::seed::PacketSpace;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The identity of what a packet carries; see the module documentation.
///
/// `frame_type` is canonical: every STREAM type (0x08..=0x0f) is 0x08, both DATAGRAM types are
/// 0x30. `id` is the stream ID, sequence number or path ID where the frame has one, `offset` the
/// crypto or stream offset, or the sequence number of a multipath frame that has a path ID too
/// (PATH_STATUS_*, PATH_NEW_CONNECTION_ID, PATH_RETIRE_CONNECTION_ID, PATH_CIDS_BLOCKED); both
/// are 0 for frames without them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ContentKey {
    pub frame_type: u64,
    pub id: u64,
    pub offset: u64,
}

impl ContentKey {
    pub const fn new(frame_type: u64, id: u64, offset: u64) -> Self {
        Self { frame_type, id, offset }
    }

    /// The key folded into 64 bits for the generator's key ([`crate::seed`]): each part goes
    /// through SplitMix64's bijective finalizer in turn, so two keys of one connection share a
    /// generator only by a 64-bit collision.
    pub fn fold(&self) -> u64 {
        let a = crate::seed::mix64(self.frame_type);
        let b = crate::seed::mix64(a ^ self.id);
        crate::seed::mix64(b ^ self.offset.rotate_left(17))
    }

    /// The canonical form of a frame type for keys.
    fn canonical_type(t: u64) -> u64 {
        match t {
            0x08..=0x0f => ty::STREAM,
            ty::DATAGRAM_LEN => ty::DATAGRAM,
            other => other,
        }
    }
}

/// Frames that timing adds to a packet, or leaves out, or sizes, without changing what the
/// connection carries: ACKs (RFC 9000 §13.2) and PATH_ACKs (draft-ietf-quic-multipath-18 §4.1),
/// PADDING (§14.1: up to the datagram's size), PING (§13.2.1, probes of RFC 9002 §6.2.4) and
/// IMMEDIATE_ACK (draft-ietf-quic-ack-frequency-14 §5: "do not need to be retransmitted"), and
/// flow-control credits and their BLOCKED signals (§4, §19.9-§19.14), with the limit on path IDs
/// (MAX_PATH_ID and PATHS_BLOCKED, draft-ietf-quic-multipath-18 §4.6, §4.7), sent as the peer's
/// data is read. They have no content key.
pub fn is_timing_frame(frame_type: u64) -> bool {
    matches!(
        frame_type,
        ty::PADDING | ty::PING | ty::ACK | ty::ACK_ECN | 0x10
            ..=0x17 | ty::IMMEDIATE_ACK | ty::PATH_ACK | ty::PATH_ACK_ECN | ty::MAX_PATH_ID | ty::PATHS_BLOCKED
    )
}

/// Whether a frame type is a CONNECTION_CLOSE (RFC 9000 §19.19).
pub fn is_close(frame_type: u64) -> bool {
    matches!(frame_type, ty::CONNECTION_CLOSE | ty::CONNECTION_CLOSE_APP)
}

/// One frame of a payload: where it lies, its type, and its key (`None` for timing frames).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameContent {
    pub at: usize,
    pub end: usize,
    pub frame_type: u64,
    pub key: Option<ContentKey>,
}

/// Calls `each` for every frame of `payload`, in order, allocating nothing; `None` if the
/// payload does not parse to its end (after the frames that did parse were visited).
pub fn frames(payload: &[u8], mut each: impl FnMut(FrameContent)) -> Option<()> {
    let mut at = 0;
    while at < payload.len() {
        let (t, end) = frame::parse_one(payload, at, None)?;
        let key = (!is_timing_frame(t) && !opens_stream_only(payload, at, end, t)).then(|| key_of(payload, at, t));
        each(FrameContent { at, end, frame_type: t, key });
        at = end;
    }
    Some(())
}

/// Whether a payload carries a CONNECTION_CLOSE frame, which puts the packet in the `closing`
/// fuzz state. Payloads that do not parse count as not closing.
pub fn closes_connection(payload: &[u8]) -> bool {
    let mut closes = false;
    frames(payload, |f| closes |= is_close(f.frame_type)).is_some() && closes
}

/// Whether the frame of type `t` in `payload[at..end]` is a STREAM frame without data and
/// without FIN (RFC 9000 §19.8): it carries nothing but the stream's existence, and s2n-quic
/// sends one when an application opens a stream before writing to it. It is timing: had it a
/// key, it would be `stream:id@0`, the key of the data that follow at offset 0.
fn opens_stream_only(payload: &[u8], at: usize, end: usize, t: u64) -> bool {
    if !ty::is_stream(t) || t & 0x01 != 0 {
        return false;
    }
    let field = |p: usize| varint::decode(&payload[..end], p);
    let Some((_, tw)) = field(at) else { return false };
    let Some((_, iw)) = field(at + tw) else { return false };
    let mut p = at + tw + iw;
    if t & 0x04 != 0 {
        let Some((_, ow)) = field(p) else { return false };
        p += ow;
    }
    if t & 0x02 != 0 {
        field(p).is_some_and(|(n, _)| n == 0)
    } else {
        p == end
    }
}

/// The key of the frame of type `t` that starts at `at` (it parsed, so its fields are there).
fn key_of(payload: &[u8], at: usize, t: u64) -> ContentKey {
    let (_, width) = varint::decode(payload, at).expect("parsed frame type");
    let first = || varint::decode(payload, at + width).map_or((0, 0), |(v, w)| (v, w));
    // The field after the first one.
    let second = || {
        let (_, w) = first();
        varint::decode(payload, at + width + w).map_or(0, |(v, _)| v)
    };
    let canonical = ContentKey::canonical_type(t);
    match t {
        // §19.6: Offset is the first field.
        ty::CRYPTO => ContentKey::new(canonical, 0, first().0),
        // §19.8: Stream ID, then Offset when the OFF bit (0x04) is set, 0 otherwise.
        0x08..=0x0f => {
            let (id, w) = first();
            let offset = if t & 0x04 != 0 { varint::decode(payload, at + width + w).map_or(0, |(v, _)| v) } else { 0 };
            ContentKey::new(canonical, id, offset)
        }
        // The frames about one stream (§19.4, §19.5, §19.10, §19.13, RESET_STREAM_AT), with a
        // sequence number (§19.15, §19.16, ACK_FREQUENCY) or about one path (PATH_ABANDON): the
        // first field names which one.
        ty::RESET_STREAM
        | ty::STOP_SENDING
        | ty::MAX_STREAM_DATA
        | ty::STREAM_DATA_BLOCKED
        | ty::NEW_CONNECTION_ID
        | ty::RETIRE_CONNECTION_ID
        | ty::ACK_FREQUENCY
        | ty::RESET_STREAM_AT
        | ty::PATH_ABANDON => ContentKey::new(canonical, first().0, 0),
        // draft-ietf-quic-multipath-18 §4.3-§4.5, §4.7: Path Identifier, then a sequence number
        // of that path.
        t if has_path_sequence(t) => ContentKey::new(canonical, first().0, second()),
        // Limits and tokens change their values with timing (how much was read when the update
        // was sent); their type is their identity.
        _ => ContentKey::new(canonical, 0, 0),
    }
}

/// The multipath frames whose key is (path ID, sequence number): PATH_STATUS_BACKUP,
/// PATH_STATUS_AVAILABLE, PATH_NEW_CONNECTION_ID, PATH_RETIRE_CONNECTION_ID, PATH_CIDS_BLOCKED
/// (draft-ietf-quic-multipath-18 §4.3-§4.5, §4.7).
fn has_path_sequence(t: u64) -> bool {
    matches!(
        t,
        ty::PATH_STATUS_BACKUP
            | ty::PATH_STATUS_AVAILABLE
            | ty::PATH_NEW_CONNECTION_ID
            | ty::PATH_RETIRE_CONNECTION_ID
            | ty::PATH_CIDS_BLOCKED
    )
}

/// The frame types keys print by name, and their names. PADDING, PING and ACK, and with them
/// IMMEDIATE_ACK and PATH_ACK, have none: timing frames whose keys never exist, they print in
/// hex like unknown types.
const TYPE_NAMES: &[(u64, &str)] = &[
    (ty::RESET_STREAM, "reset_stream"),
    (ty::STOP_SENDING, "stop_sending"),
    (ty::CRYPTO, "crypto"),
    (ty::NEW_TOKEN, "new_token"),
    (ty::STREAM, "stream"),
    (ty::MAX_DATA, "max_data"),
    (ty::MAX_STREAM_DATA, "max_stream_data"),
    (ty::MAX_STREAMS_BIDI, "max_streams_bidi"),
    (ty::MAX_STREAMS_UNI, "max_streams_uni"),
    (ty::DATA_BLOCKED, "data_blocked"),
    (ty::STREAM_DATA_BLOCKED, "stream_data_blocked"),
    (ty::STREAMS_BLOCKED_BIDI, "streams_blocked_bidi"),
    (ty::STREAMS_BLOCKED_UNI, "streams_blocked_uni"),
    (ty::NEW_CONNECTION_ID, "new_connection_id"),
    (ty::RETIRE_CONNECTION_ID, "retire_connection_id"),
    (ty::PATH_CHALLENGE, "path_challenge"),
    (ty::PATH_RESPONSE, "path_response"),
    (ty::CONNECTION_CLOSE, "connection_close"),
    (ty::CONNECTION_CLOSE_APP, "connection_close_app"),
    (ty::HANDSHAKE_DONE, "handshake_done"),
    (ty::RESET_STREAM_AT, "reset_stream_at"),
    (ty::DATAGRAM, "datagram"),
    (ty::ACK_FREQUENCY, "ack_frequency"),
    (ty::PATH_ABANDON, "path_abandon"),
    (ty::PATH_STATUS_BACKUP, "path_status_backup"),
    (ty::PATH_STATUS_AVAILABLE, "path_status_available"),
    (ty::PATH_NEW_CONNECTION_ID, "path_new_connection_id"),
    (ty::PATH_RETIRE_CONNECTION_ID, "path_retire_connection_id"),
    (ty::MAX_PATH_ID, "max_path_id"),
    (ty::PATHS_BLOCKED, "paths_blocked"),
    (ty::PATH_CIDS_BLOCKED, "path_cids_blocked"),
];

/// A frame type's name as keys print it.
fn type_name(t: u64) -> Option<&'static str> {
    TYPE_NAMES.iter().find(|(x, _)| *x == t).map(|(_, name)| *name)
}

/// `crypto@1162`, `stream:4@0`, `new_connection_id:1`, `handshake_done`,
/// `path_new_connection_id:1@0` (path and sequence number, both always); unknown types in hex
/// (`0x21:0@0`). The form is stable: it is what the replay and the crash pcap print.
impl fmt::Display for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match type_name(self.frame_type) {
            Some(name) => f.write_str(name)?,
            None => write!(f, "0x{:x}", self.frame_type)?,
        }
        let both = self.frame_type == ty::STREAM || has_path_sequence(self.frame_type);
        if self.id != 0 || both || type_name(self.frame_type).is_none() {
            write!(f, ":{}", self.id)?;
        }
        if self.offset != 0 || both || self.frame_type == ty::CRYPTO || type_name(self.frame_type).is_none() {
            write!(f, "@{}", self.offset)?;
        }
        Ok(())
    }
}

impl FromStr for ContentKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("not a content key: {s:?}");
        let (rest, offset) = match s.split_once('@') {
            Some((r, o)) => (r, o.parse::<u64>().map_err(|_| bad())?),
            None => (s, 0),
        };
        let (name, id) = match rest.split_once(':') {
            Some((n, i)) => (n, i.parse::<u64>().map_err(|_| bad())?),
            None => (rest, 0),
        };
        let frame_type = match name.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).map_err(|_| bad())?,
            None => TYPE_NAMES.iter().find(|(_, n)| *n == name).map(|(t, _)| *t).ok_or_else(bad)?,
        };
        Ok(Self { frame_type, id, offset })
    }
}

impl From<ContentKey> for String {
    fn from(k: ContentKey) -> String {
        k.to_string()
    }
}

impl TryFrom<String> for ContentKey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// The name of one content's decisions within a connection: its packet number space and its key,
/// what its generator is keyed by ([`crate::seed::ConnectionSeed::content_rng`]). Two contents
/// of one connection with the same key in two spaces (a CONNECTION_CLOSE in Initial and in
/// Handshake packets) are two contents with generators of their own.
///
/// Printed `<space>/<key>`: `initial/crypto@0`, `application_data/stream:4@0`,
/// `application_data/connection_close` (the space as [`PacketSpace::as_str`] names it, the key
/// as [`ContentKey`]'s stable form). It parses back ([`FromStr`]), and is what `cid_end`'s
/// `mutated` and `replay --only` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ContentId {
    pub space: PacketSpace,
    pub key: ContentKey,
}

impl ContentId {
    pub const fn new(space: PacketSpace, key: ContentKey) -> Self {
        Self { space, key }
    }
}

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.space.as_str(), self.key)
    }
}

impl FromStr for ContentId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (space, key) = s.trim().split_once('/').ok_or_else(|| {
            format!(
                "not a content id: {s:?}: expected <space>/<key>, e.g. initial/crypto@0 or application_data/stream:4@0"
            )
        })?;
        let space = PacketSpace::ALL.into_iter().find(|p| p.as_str() == space).ok_or_else(|| {
            format!("not a content id: {s:?}: the space {space:?} is none of initial, handshake, application_data")
        })?;
        let key = key.parse::<ContentKey>().map_err(|e| format!("not a content id: {s:?}: {e}"))?;
        Ok(Self { space, key })
    }
}

impl From<ContentId> for String {
    fn from(c: ContentId) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for ContentId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// A comma-separated list of content ids (`replay --only`'s value), in the order given, each
/// once; empty items are refused, as is an empty list.
pub fn parse_content_ids(list: &str) -> Result<Vec<ContentId>, String> {
    let mut out: Vec<ContentId> = Vec::new();
    for item in list.split(',') {
        if item.trim().is_empty() {
            return Err(format!("{list:?}: an empty item in the list of content ids"));
        }
        let id: ContentId = item.parse()?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// Content ids joined by commas, as [`parse_content_ids`] reads them.
pub fn join_content_ids<'a>(ids: impl IntoIterator<Item = &'a ContentId>) -> String {
    ids.into_iter().map(ContentId::to_string).collect::<Vec<_>>().join(",")
}

/// The distinct keys of one fuzz state in the order they were first sent: a key's ordinal is
/// what a plan's `wait_packets` and `fuzz_packets` count. Only the first `limit` keys are kept
/// (the plan never fuzzes beyond them), so it stays a few entries long however long the
/// connection lives.
#[derive(Clone, Debug, Default)]
pub struct ContentOrder {
    keys: Vec<ContentKey>,
}

/// A packet's place among the distinct contents of its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ordinal {
    /// The index of its key among the distinct keys, in first-sent order; `None` past the limit.
    pub index: Option<u64>,
    /// This is the first packet that carried the key (not a retransmission of it).
    pub first: bool,
}

impl ContentOrder {
    /// The ordinal of `key`, remembering it if it is new and fewer than `limit` keys are known.
    pub fn ordinal(&mut self, key: ContentKey, limit: u64) -> Ordinal {
        if let Some(i) = self.keys.iter().position(|k| *k == key) {
            return Ordinal { index: Some(i as u64), first: false };
        }
        if (self.keys.len() as u64) < limit {
            self.keys.push(key);
            return Ordinal { index: Some(self.keys.len() as u64 - 1), first: true };
        }
        Ordinal { index: None, first: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    const CRYPTO_0: &[u8] = &[0x06, 0x00, 0x03, 1, 2, 3];
    const ACK: &[u8] = &[0x02, 0x05, 0x00, 0x00, 0x00];

    fn keys(payload: &[u8]) -> Option<Vec<Option<ContentKey>>> {
        let mut out = Vec::new();
        frames(payload, |f| out.push(f.key))?;
        Some(out)
    }

    #[test]
    fn timing_frames_have_no_key() {
        assert_eq!(keys(&[0x01]), Some(vec![None]), "PING: a probe");
        assert_eq!(keys(ACK), Some(vec![None]));
        assert_eq!(keys(&[0x10, 0x44, 0x00]), Some(vec![None]), "MAX_DATA: a credit");
        let mut with_ack = ACK.to_vec();
        with_ack.extend_from_slice(CRYPTO_0);
        with_ack.extend_from_slice(&[0; 40]);
        assert_eq!(keys(&with_ack), Some(vec![None, Some(ContentKey::new(ty::CRYPTO, 0, 0)), None]));
        // A STREAM frame that only opens its stream, then the stream's data at offset 0: only
        // the data have the key `stream:0@0`.
        let open_then_data = [0x0a, 0x00, 0x00, 0x0a, 0x00, 0x01, 0xaa];
        assert_eq!(keys(&open_then_data), Some(vec![None, Some(ContentKey::new(ty::STREAM, 0, 0))]));
        assert_eq!(keys(&[0x0e, 0x04, 0x00, 0x00]), Some(vec![None]), "OFF 0, LEN 0");
        assert_eq!(keys(&[0x08, 0x04]), Some(vec![None]), "no LEN, nothing to the end");
        assert_eq!(keys(&[0x0b, 0x04, 0x00]), Some(vec![Some(ContentKey::new(ty::STREAM, 4, 0))]), "a FIN is content");
    }

    #[test]
    fn keys_name_streams_offsets_and_sequences() {
        let key = |payload: &[u8]| keys(payload).unwrap()[0];
        // STREAM with OFF and LEN: id 4, offset 1000 (2-byte varint 0x43e8).
        assert_eq!(key(&[0x0e, 0x04, 0x43, 0xe8, 0x01, 0xaa]), Some(ContentKey::new(ty::STREAM, 4, 1000)));
        // STREAM without OFF: offset 0; every STREAM type is one.
        assert_eq!(key(&[0x0b, 0x00, 0x01, 0xaa]), Some(ContentKey::new(ty::STREAM, 0, 0)));
        let mut ncid = vec![0x18, 0x02, 0x00, 0x04, 1, 2, 3, 4];
        ncid.extend_from_slice(&[0; 16]);
        assert_eq!(key(&ncid), Some(ContentKey::new(ty::NEW_CONNECTION_ID, 2, 0)));
        assert_eq!(key(&[0x1e]), Some(ContentKey::new(ty::HANDSHAKE_DONE, 0, 0)));
        let close = [0x1c, 0x0a, 0x00, 0x00];
        assert_eq!(key(&close), Some(ContentKey::new(0x1c, 0, 0)));
        assert!(closes_connection(&close));
        assert!(!closes_connection(CRYPTO_0));
        assert_eq!(keys(&[0x06, 0x00, 0x09]), None, "does not parse");
    }

    #[test]
    fn keys_print_and_parse_back() {
        for (key, text) in [
            (ContentKey::new(ty::CRYPTO, 0, 0), "crypto@0"),
            (ContentKey::new(ty::CRYPTO, 0, 1162), "crypto@1162"),
            (ContentKey::new(ty::STREAM, 4, 0), "stream:4@0"),
            (ContentKey::new(ty::NEW_CONNECTION_ID, 1, 0), "new_connection_id:1"),
            (ContentKey::new(ty::HANDSHAKE_DONE, 0, 0), "handshake_done"),
            (ContentKey::new(0x21, 0, 0), "0x21:0@0"),
        ] {
            assert_eq!(key.to_string(), text);
            assert_eq!(text.parse::<ContentKey>(), Ok(key));
        }
        assert!("crypto@x".parse::<ContentKey>().is_err());
        assert!("nonsense".parse::<ContentKey>().is_err());
    }

    /// The frames of draft-ietf-quic-ack-frequency-14, draft-ietf-quic-reliable-stream-reset-09
    /// and draft-ietf-quic-multipath-18: a retransmission has the same key, so the key is what
    /// identifies the frame, never a value that timing sets.
    #[test]
    fn newer_frames_keys() {
        let key = |payload: &[u8]| {
            let k = keys(payload).unwrap();
            assert_eq!(k.len(), 1, "{payload:x?}");
            k[0]
        };
        // Timing frames, like ACK, PING, MAX_STREAMS and STREAMS_BLOCKED.
        assert_eq!(key(&[0x1f]), None, "IMMEDIATE_ACK");
        assert_eq!(key(&[0x3e, 0x01, 0x05, 0x00, 0x00, 0x00]), None, "PATH_ACK");
        assert_eq!(key(&[0x3f, 0x01, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]), None, "PATH_ACK with ECN");
        assert_eq!(key(&[0x7e, 0x7a, 0x08]), None, "MAX_PATH_ID");
        assert_eq!(key(&[0x7e, 0x7b, 0x08]), None, "PATHS_BLOCKED");
        // RESET_STREAM_AT by its stream, like RESET_STREAM: a lower Reliable Size sent later
        // (§5.2) is the same content.
        assert_eq!(key(&[0x24, 0x04, 0x00, 0x43, 0xe8, 0x11]), Some(ContentKey::new(ty::RESET_STREAM_AT, 4, 0)));
        assert_eq!(key(&[0x24, 0x04, 0x00, 0x43, 0xe8, 0x00]), Some(ContentKey::new(ty::RESET_STREAM_AT, 4, 0)));
        // PATH_ABANDON by its path; the error code is not part of the key.
        assert_eq!(key(&[0x7e, 0x75, 0x02, 0x7e, 0x77]), Some(ContentKey::new(ty::PATH_ABANDON, 2, 0)));
        // The others by path (id) and sequence number (offset), the path in 8 bytes here.
        let path_2_32 = [0xc0, 0, 0, 1, 0, 0, 0, 0];
        for (t, name) in [
            (0x76, "PATH_STATUS_BACKUP"),
            (0x77, "PATH_STATUS_AVAILABLE"),
            (0x79, "PATH_RETIRE_CONNECTION_ID"),
            (0x7c, "PATH_CIDS_BLOCKED"),
        ] {
            let mut payload = vec![0x7e, t];
            payload.extend_from_slice(&path_2_32);
            payload.extend_from_slice(&[0x43, 0xe8]);
            assert_eq!(key(&payload), Some(ContentKey::new(0x3e00 | u64::from(t), 1 << 32, 1000)), "{name}");
        }
        let mut ncid = vec![0x7e, 0x78, 0x03, 0x05, 0x02, 0x04, 1, 2, 3, 4];
        ncid.extend_from_slice(&[0; 16]);
        assert_eq!(key(&ncid), Some(ContentKey::new(ty::PATH_NEW_CONNECTION_ID, 3, 5)));
        // All in one packet, in order.
        let mut all = vec![0x1f, 0x24, 0x00, 0x00, 0x00, 0x00];
        all.extend_from_slice(&ncid);
        all.extend_from_slice(&[0x7e, 0x7b, 0x08, 0x7e, 0x79, 0x03, 0x05]);
        assert_eq!(
            keys(&all),
            Some(vec![
                None,
                Some(ContentKey::new(ty::RESET_STREAM_AT, 0, 0)),
                Some(ContentKey::new(ty::PATH_NEW_CONNECTION_ID, 3, 5)),
                None,
                Some(ContentKey::new(ty::PATH_RETIRE_CONNECTION_ID, 3, 5)),
            ])
        );
    }

    #[test]
    fn newer_frames_keys_print_and_parse_back() {
        for (key, text) in [
            (ContentKey::new(ty::RESET_STREAM_AT, 4, 0), "reset_stream_at:4"),
            (ContentKey::new(ty::RESET_STREAM_AT, 0, 0), "reset_stream_at"),
            (ContentKey::new(ty::PATH_ABANDON, 2, 0), "path_abandon:2"),
            (ContentKey::new(ty::PATH_STATUS_BACKUP, 1, 7), "path_status_backup:1@7"),
            (ContentKey::new(ty::PATH_STATUS_AVAILABLE, 0, 0), "path_status_available:0@0"),
            (ContentKey::new(ty::PATH_NEW_CONNECTION_ID, 1, 0), "path_new_connection_id:1@0"),
            (ContentKey::new(ty::PATH_NEW_CONNECTION_ID, 0, 3), "path_new_connection_id:0@3"),
            (ContentKey::new(ty::PATH_RETIRE_CONNECTION_ID, 3, 5), "path_retire_connection_id:3@5"),
            (ContentKey::new(ty::PATH_CIDS_BLOCKED, 1 << 32, 2), "path_cids_blocked:4294967296@2"),
            (ContentKey::new(ty::MAX_PATH_ID, 0, 0), "max_path_id"),
            (ContentKey::new(ty::PATHS_BLOCKED, 0, 0), "paths_blocked"),
            // Timing frames have no name, as ACK has none.
            (ContentKey::new(ty::IMMEDIATE_ACK, 0, 0), "0x1f:0@0"),
            (ContentKey::new(ty::PATH_ACK, 0, 0), "0x3e:0@0"),
            (ContentKey::new(ty::PATH_ACK_ECN, 0, 0), "0x3f:0@0"),
        ] {
            assert_eq!(key.to_string(), text);
            assert_eq!(text.parse::<ContentKey>(), Ok(key));
        }
        // Names past one byte parse (the table, not a scan of 0..=0xff).
        assert_eq!("path_abandon".parse::<ContentKey>(), Ok(ContentKey::new(0x3e75, 0, 0)));
        assert_eq!(
            "application_data/path_new_connection_id:1@2".parse::<ContentId>(),
            Ok(ContentId::new(PacketSpace::ApplicationData, ContentKey::new(0x3e78, 1, 2)))
        );
    }

    /// Every name prints and parses back, with any id and offset; no two types share a name, and
    /// every named type is canonical.
    #[test]
    fn every_type_name_round_trips() {
        let names: BTreeSet<&str> = TYPE_NAMES.iter().map(|(_, n)| *n).collect();
        assert_eq!(names.len(), TYPE_NAMES.len());
        let types: BTreeSet<u64> = TYPE_NAMES.iter().map(|(t, _)| *t).collect();
        assert_eq!(types.len(), TYPE_NAMES.len());
        for (t, name) in TYPE_NAMES {
            assert_eq!(ContentKey::canonical_type(*t), *t, "{name}: names are of canonical types");
            for (id, offset) in [(0, 0), (1, 0), (0, 1), (7, 1 << 40)] {
                let key = ContentKey::new(*t, id, offset);
                let text = key.to_string();
                assert!(text.starts_with(name), "{text}");
                assert_eq!(text.parse::<ContentKey>(), Ok(key), "{text}");
            }
        }
    }

    #[test]
    fn content_ids_print_and_parse_back() {
        for (id, text) in [
            (ContentId::new(PacketSpace::Initial, ContentKey::new(ty::CRYPTO, 0, 0)), "initial/crypto@0"),
            (ContentId::new(PacketSpace::Handshake, ContentKey::new(ty::CRYPTO, 0, 36)), "handshake/crypto@36"),
            (
                ContentId::new(PacketSpace::ApplicationData, ContentKey::new(ty::STREAM, 4, 0)),
                "application_data/stream:4@0",
            ),
            (
                ContentId::new(PacketSpace::ApplicationData, ContentKey::new(0x1c, 0, 0)),
                "application_data/connection_close",
            ),
            (ContentId::new(PacketSpace::Initial, ContentKey::new(0x21, 0, 0)), "initial/0x21:0@0"),
        ] {
            assert_eq!(id.to_string(), text);
            assert_eq!(text.parse::<ContentId>(), Ok(id));
            assert_eq!(serde_json::to_string(&id).unwrap(), format!("{text:?}"));
            assert_eq!(serde_json::from_str::<ContentId>(&format!("{text:?}")).unwrap(), id);
        }
        let err = |s: &str| s.parse::<ContentId>().unwrap_err();
        assert!(err("crypto@0").contains("expected <space>/<key>"), "{}", err("crypto@0"));
        assert!(err("ready/stream:0@0").contains("the space \"ready\""), "{}", err("ready/stream:0@0"));
        assert!(err("initial/nonsense").contains("not a content key"), "{}", err("initial/nonsense"));
    }

    #[test]
    fn content_id_lists_parse_in_order_each_once() {
        let ids = parse_content_ids("initial/crypto@0, application_data/stream:0@0,initial/crypto@0").unwrap();
        assert_eq!(join_content_ids(&ids), "initial/crypto@0,application_data/stream:0@0");
        assert!(parse_content_ids("").unwrap_err().contains("empty item"));
        assert!(parse_content_ids("initial/crypto@0,,").unwrap_err().contains("empty item"));
        assert!(parse_content_ids("initial/crypto@0,x").unwrap_err().contains("not a content id: \"x\""));
    }

    #[test]
    fn order_counts_distinct_keys_only() {
        let a = ContentKey::new(ty::CRYPTO, 0, 0);
        let b = ContentKey::new(ty::CRYPTO, 0, 1100);
        let c = ContentKey::new(ty::CRYPTO, 0, 2200);
        let mut order = ContentOrder::default();
        assert_eq!(order.ordinal(a, 2), Ordinal { index: Some(0), first: true });
        assert_eq!(order.ordinal(a, 2), Ordinal { index: Some(0), first: false }, "a retransmission");
        assert_eq!(order.ordinal(b, 2), Ordinal { index: Some(1), first: true });
        assert_eq!(order.ordinal(c, 2), Ordinal { index: None, first: true }, "past the limit");
        assert_eq!(order.ordinal(b, 2), Ordinal { index: Some(1), first: false });
    }

    proptest! {
        #[test]
        fn folds_of_distinct_keys_differ(t in 0u64..0x100, id in 0u64..1 << 62, off in 0u64..1 << 62, d in 1u64..1 << 20) {
            let k = ContentKey::new(t, id, off);
            prop_assert_ne!(k.fold(), ContentKey::new(t, id, off ^ d).fold());
            prop_assert_ne!(k.fold(), ContentKey::new(t, id ^ d, off).fold());
            prop_assert_ne!(k.fold(), ContentKey::new(t ^ (d & 0xff).max(1), id, off).fold());
        }

        #[test]
        fn frames_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = frames(&bytes, |_| {});
        }
    }
}
