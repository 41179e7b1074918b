//! Operators on whole frames: insertion from the [`super::library`], removal,
//! duplication, reordering, and type flips among the one-byte frames PING (0x01), PADDING (0x00)
//! and HANDSHAKE_DONE (0x1e) (RFC 9000 §19.1, §19.2, §19.20).
//!
//! Frames are chosen by index, edits go through [`edit::grow`], so the payload never shrinks
//! (removed bytes become PADDING) and only grows into its capacity or its trailing padding.

use super::edit;
use super::frame::{ty, Frames};
use super::library;
use crate::seed::Role;
use rand::Rng;

/// The outcome of a structural operator: name, offset, new payload length.
pub type Applied = (&'static str, usize, usize);

/// The index of the k-th frame that is not padding, chosen uniformly; `None` if there is none.
fn pick_frame<R: Rng>(rng: &mut R, frames: &Frames) -> Option<usize> {
    let n = frames.frames.iter().filter(|f| !f.is_padding()).count();
    if n == 0 {
        return None;
    }
    let k = rng.gen_range(0..n);
    frames.frames.iter().enumerate().filter(|(_, f)| !f.is_padding()).nth(k).map(|(i, _)| i)
}

/// Inserts a library frame at a frame boundary (before the k-th frame, or after the last one).
pub fn insert<R: Rng>(
    rng: &mut R,
    role: Role,
    frames: &Frames,
    buf: &mut [u8],
    len: usize,
    scratch: &mut Vec<u8>,
) -> Option<Applied> {
    let kind = rng.gen_range(0..library::KINDS);
    let new = library::frame(rng, role, kind);
    let k = rng.gen_range(0..=frames.frames.len());
    let at = frames.frames.get(k).map_or(frames.parsed_end, |f| f.at as usize);
    scratch.clear();
    new.encode(scratch);
    let new_len = edit::grow(frames, buf, len, (at, 0, scratch))?;
    Some((insert_name(new.frame_type()), at, new_len))
}

/// Operator names for insertions, one per frame type (`insert:max_streams_bidi`).
pub(crate) fn insert_name(t: u64) -> &'static str {
    match t {
        ty::PADDING => "insert:padding",
        ty::PING => "insert:ping",
        ty::ACK => "insert:ack",
        ty::ACK_ECN => "insert:ack_ecn",
        ty::RESET_STREAM => "insert:reset_stream",
        ty::STOP_SENDING => "insert:stop_sending",
        ty::CRYPTO => "insert:crypto",
        ty::NEW_TOKEN => "insert:new_token",
        ty::MAX_DATA => "insert:max_data",
        ty::MAX_STREAM_DATA => "insert:max_stream_data",
        ty::MAX_STREAMS_BIDI => "insert:max_streams_bidi",
        ty::MAX_STREAMS_UNI => "insert:max_streams_uni",
        ty::DATA_BLOCKED => "insert:data_blocked",
        ty::STREAM_DATA_BLOCKED => "insert:stream_data_blocked",
        ty::STREAMS_BLOCKED_BIDI => "insert:streams_blocked_bidi",
        ty::STREAMS_BLOCKED_UNI => "insert:streams_blocked_uni",
        ty::NEW_CONNECTION_ID => "insert:new_connection_id",
        ty::RETIRE_CONNECTION_ID => "insert:retire_connection_id",
        ty::PATH_CHALLENGE => "insert:path_challenge",
        ty::PATH_RESPONSE => "insert:path_response",
        ty::CONNECTION_CLOSE => "insert:connection_close",
        ty::CONNECTION_CLOSE_APP => "insert:connection_close_app",
        ty::HANDSHAKE_DONE => "insert:handshake_done",
        ty::ACK_FREQUENCY => "insert:ack_frequency",
        ty::IMMEDIATE_ACK => "insert:immediate_ack",
        ty::RESET_STREAM_AT => "insert:reset_stream_at",
        ty::PATH_ACK => "insert:path_ack",
        ty::PATH_ACK_ECN => "insert:path_ack_ecn",
        ty::PATH_ABANDON => "insert:path_abandon",
        ty::PATH_STATUS_BACKUP => "insert:path_status_backup",
        ty::PATH_STATUS_AVAILABLE => "insert:path_status_available",
        ty::PATH_NEW_CONNECTION_ID => "insert:path_new_connection_id",
        ty::PATH_RETIRE_CONNECTION_ID => "insert:path_retire_connection_id",
        ty::MAX_PATH_ID => "insert:max_path_id",
        ty::PATHS_BLOCKED => "insert:paths_blocked",
        ty::PATH_CIDS_BLOCKED => "insert:path_cids_blocked",
        0x08..=0x0f => "insert:stream",
        ty::DATAGRAM | ty::DATAGRAM_LEN => "insert:datagram",
        _ => "insert:unknown",
    }
}

/// Removes a frame; the payload keeps its length, padded at the end.
pub fn remove<R: Rng>(rng: &mut R, frames: &Frames, buf: &mut [u8], len: usize) -> Option<Applied> {
    let f = frames.frames[pick_frame(rng, frames)?];
    let new_len = edit::splice(buf, len, f.at as usize, f.len(), &[], 0)?;
    Some(("remove", f.at as usize, new_len))
}

/// Duplicates a frame right after itself: a second CRYPTO frame with the same offset, a second
/// ACK, the same STREAM data twice.
pub fn duplicate<R: Rng>(
    rng: &mut R,
    frames: &Frames,
    buf: &mut [u8],
    len: usize,
    scratch: &mut Vec<u8>,
) -> Option<Applied> {
    let f = frames.frames[pick_frame(rng, frames)?];
    scratch.clear();
    scratch.extend_from_slice(&buf[f.at as usize..f.end as usize]);
    let new_len = edit::grow(frames, buf, len, (f.end as usize, 0, scratch))?;
    Some(("duplicate", f.end as usize, new_len))
}

/// Swaps two frames (padding runs included: PADDING first, CRYPTO last is a valid Initial).
pub fn reorder<R: Rng>(
    rng: &mut R,
    frames: &Frames,
    buf: &mut [u8],
    len: usize,
    scratch: &mut Vec<u8>,
) -> Option<Applied> {
    let n = frames.frames.len();
    if n < 2 {
        return None;
    }
    let i = rng.gen_range(0..n - 1);
    let j = rng.gen_range(i + 1..n);
    let (a, b) = (frames.frames[i], frames.frames[j]);
    edit::swap_regions(buf, (a.at as usize, a.end as usize), (b.at as usize, b.end as usize), scratch);
    Some(("reorder", a.at as usize, len))
}

/// Turns a one-byte frame (or the first byte of a padding run) into another one-byte type.
/// HANDSHAKE_DONE from a client, or in a long-header packet, is a PROTOCOL_VIOLATION
/// (RFC 9000 §19.20).
pub fn flip<R: Rng>(rng: &mut R, frames: &Frames, buf: &mut [u8], len: usize) -> Option<Applied> {
    let one_byte = |t: u64| matches!(t, ty::PADDING | ty::PING | ty::HANDSHAKE_DONE);
    let n = frames.frames.iter().filter(|f| one_byte(f.ty)).count();
    if n == 0 {
        return None;
    }
    let k = rng.gen_range(0..n);
    let f = frames.frames.iter().filter(|f| one_byte(f.ty)).nth(k)?;
    let at = f.at as usize;
    // The two types it is not; a non-shortest type encoding (0x40 0x01) is overwritten whole.
    let others: [(u8, &'static str); 2] = match f.ty {
        ty::PADDING => [(0x01, "flip:ping"), (0x1e, "flip:handshake_done")],
        ty::PING => [(0x00, "flip:padding"), (0x1e, "flip:handshake_done")],
        _ => [(0x00, "flip:padding"), (0x01, "flip:ping")],
    };
    let (byte, name) = others[rng.gen_range(0..2)];
    let type_len = super::varint::width_of_first(buf[at]);
    buf[at..at + type_len].fill(0);
    buf[at + type_len - 1] = byte;
    Some((name, at, len))
}
