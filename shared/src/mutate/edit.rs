//! Editing a payload in place inside its buffer: `buf[..len]` is the payload, `buf.len()` the
//! capacity.
//!
//! Every structural edit goes through [`splice`], which keeps two promises: it never writes past
//! the buffer, and it never changes the payload's length except to grow it. A payload that gets
//! shorter is padded back with PADDING (0x00) bytes (RFC 9000 §19.1), so a client Initial packet
//! stays as large as RFC 9000 §14.1 wants it, and a packet never falls under the 4 bytes that
//! header protection needs. Growth may take over the PADDING bytes that end the payload: Initial
//! packets come padded to their capacity, so that is the only room they have.

/// Replaces `buf[at..at + remove]` with `insert`, moving the bytes after it, and returns the new
/// payload length, or `None` (with `buf` untouched) when the result does not fit.
///
/// `droppable` is the number of PADDING bytes ending the payload that may fall off the end of
/// the buffer when it grows.
pub fn splice(
    buf: &mut [u8],
    len: usize,
    at: usize,
    remove: usize,
    insert: &[u8],
    droppable: usize,
) -> Option<usize> {
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
