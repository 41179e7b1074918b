//! Editing a payload in place inside its buffer: `buf[..len]` is the payload, `buf.len()` the
//! capacity.
//!
//! Every structural edit goes through [`splice`], which keeps two promises: it never writes past
//! the buffer, and it never changes the payload's length except to grow it. A payload that gets
//! shorter is padded back with PADDING (0x00) bytes (RFC 9000 §19.1), so a client Initial packet
//! stays as large as RFC 9000 §14.1 wants it, and a packet never falls under the 4 bytes that
//! header protection needs. Growth may take over the PADDING bytes that end the payload: Initial
//! packets come padded to their capacity, so that is the only room they have.
//!
//! A packet filled to its capacity with data (a server's 1-RTT packet carrying a response, a
//! Handshake packet carrying a certificate) has no padding to take over: [`grow`] then cuts the
//! room it needs from the end of a data field after the edit (STREAM, CRYPTO or DATAGRAM data,
//! with its Length field lowered to match), so insertions still happen. A stream with a few
//! bytes missing is still a valid stream: the receiver sees a gap, as after a lost packet.

use super::frame::{Frames, Sem};
use super::varint;

/// Replaces `buf[at..at + remove]` with `insert`, moving the bytes after it, and returns the new
/// payload length, or `None` (with `buf` untouched) when the result does not fit.
///
/// `droppable` is the number of PADDING bytes ending the payload that may fall off the end of
/// the buffer when it grows.
pub fn splice(buf: &mut [u8], len: usize, at: usize, remove: usize, insert: &[u8], droppable: usize) -> Option<usize> {
    let len = len.min(buf.len());
    let tail_at = at.checked_add(remove).filter(|end| *end <= len)?;
    let grown = len - remove + insert.len();
    let new_len = if grown > buf.len() {
        // Only padding bytes after the edit may be dropped.
        let spare = droppable.min(len - tail_at);
        if grown - buf.len() > spare {
            return None;
        }
        buf.len()
    } else {
        grown.max(len)
    };
    let new_tail_at = at + insert.len();
    let tail_len = len - tail_at;
    // What of the tail still fits after the inserted bytes.
    let kept = tail_len.min(buf.len().saturating_sub(new_tail_at));
    buf.copy_within(tail_at..tail_at + kept, new_tail_at);
    buf[at..new_tail_at].copy_from_slice(insert);
    // Pad back what the payload lost.
    let end = new_tail_at + kept;
    if end < new_len {
        buf[end..new_len].fill(0);
    }
    Some(new_len)
}

/// [`splice`], and when the buffer is full, first cuts the room it lacks from a data field after
/// the edit (see the module documentation). `frames` is the payload's parse.
pub fn grow(frames: &Frames, buf: &mut [u8], len: usize, (at, remove, insert): (usize, usize, &[u8])) -> Option<usize> {
    let droppable = frames.trailing_padding(len);
    if let Some(new_len) = splice(buf, len, at, remove, insert, droppable) {
        return Some(new_len);
    }
    let len = len.min(buf.len());
    let tail_at = at.checked_add(remove).filter(|end| *end <= len)?;
    let grown = len - remove + insert.len();
    let need = grown.checked_sub(buf.len())?.checked_sub(droppable.min(len - tail_at))?;
    cut(frames, buf, len, tail_at, need)?;
    // The cut left `need` zero bytes after the trailing padding: all of it may now go.
    let new_len = splice(buf, len, at, remove, insert, droppable + need);
    debug_assert!(new_len.is_some());
    new_len
}

/// Removes the last `need` bytes of the last data field that has them all after `after`,
/// lowering its Length field (or, for data that extends to the end of the packet, needing none),
/// and pads the payload back to its length with zeros. `None`, with nothing changed, if no field
/// can give that much.
fn cut(frames: &Frames, buf: &mut [u8], len: usize, after: usize, need: usize) -> Option<()> {
    let fields = &frames.fields;
    let i = (0..fields.len()).rev().find(|&i| {
        let f = fields[i];
        let end = (f.at + f.len) as usize;
        let with_length = i > 0 && fields[i - 1].sem == Sem::Length;
        f.sem == Sem::Bytes
            && f.len as usize >= need
            && end - need >= after.max(f.at as usize)
            && (with_length || end == len)
    })?;
    let f = fields[i];
    if i > 0 && fields[i - 1].sem == Sem::Length {
        let l = fields[i - 1];
        varint::write_with_width(u64::from(f.len) - need as u64, l.len as usize, &mut buf[l.at as usize..]);
    }
    let end = (f.at + f.len) as usize;
    splice(buf, len, end - need, need, &[], 0)?;
    Some(())
}

/// Swaps the adjacent-or-not regions `a` and `b` (`a` before `b`, not overlapping), keeping what
/// lies between them in place; `scratch` holds the bytes while they move.
pub fn swap_regions(buf: &mut [u8], a: (usize, usize), b: (usize, usize), scratch: &mut Vec<u8>) {
    debug_assert!(a.0 <= a.1 && a.1 <= b.0 && b.0 <= b.1 && b.1 <= buf.len());
    scratch.clear();
    scratch.extend_from_slice(&buf[b.0..b.1]);
    scratch.extend_from_slice(&buf[a.1..b.0]);
    scratch.extend_from_slice(&buf[a.0..a.1]);
    buf[a.0..b.1].copy_from_slice(scratch);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutate::frame::Frame;

    #[test]
    fn grow_cuts_stream_data_when_full() {
        let mut payload = Vec::new();
        Frame::MaxData { maximum: 1 << 20 }.encode(&mut payload);
        let at = payload.len();
        let data = [7u8; 1000];
        let stream = Frame::Stream { stream_id: 1, offset: Some(5), data: &data, explicit_len: true, fin: false };
        stream.encode(&mut payload);
        let mut buf = payload.clone();
        let mut frames = Frames::default();
        frames.parse(&buf);
        let before: Vec<u64> = frames.frames.iter().map(|f| f.ty).collect();
        let new_len = grow(&frames, &mut buf, payload.len(), (at, 0, &[0x01, 0x01, 0x01])).unwrap();
        assert_eq!(new_len, buf.len());
        frames.parse(&buf);
        assert!(frames.complete(new_len));
        let after: Vec<u64> = frames.frames.iter().map(|f| f.ty).collect();
        assert_eq!(after.len(), before.len() + 3);
        // The stream lost three bytes at its end, and says so.
        let Some((Frame::Stream { data, .. }, _)) = Frame::decode(&buf[frames.frames[4].at as usize..]) else {
            panic!("no stream frame");
        };
        assert_eq!(data, &[7u8; 997][..]);
    }

    #[test]
    fn splice_grows_shrinks_and_pads_back() {
        let mut buf = [1, 2, 3, 4, 0, 0, 9, 9];
        assert_eq!(splice(&mut buf, 4, 1, 1, &[7, 7], 0), Some(5));
        assert_eq!(&buf[..5], &[1, 7, 7, 3, 4]);
        assert_eq!(splice(&mut buf, 5, 0, 3, &[], 0), Some(5));
        assert_eq!(&buf[..5], &[3, 4, 0, 0, 0]);
    }

    #[test]
    fn splice_only_drops_trailing_padding() {
        let mut buf = [5, 6, 0, 0];
        assert_eq!(splice(&mut buf, 4, 1, 0, &[8, 8], 2), Some(4));
        assert_eq!(buf, [5, 8, 8, 6]);
        let mut buf = [5, 6, 0, 0];
        assert_eq!(splice(&mut buf, 4, 1, 0, &[8, 8, 8], 2), None);
        assert_eq!(buf, [5, 6, 0, 0]);
        assert_eq!(splice(&mut buf, 4, 3, 2, &[], 2), None);
    }

    #[test]
    fn swap_keeps_the_middle() {
        let mut buf = [1, 2, 3, 4, 5, 6];
        swap_regions(&mut buf, (0, 2), (3, 6), &mut Vec::new());
        assert_eq!(buf, [4, 5, 6, 3, 1, 2]);
    }
}
