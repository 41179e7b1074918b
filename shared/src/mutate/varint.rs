//! QUIC variable-length integers (RFC 9000 §16).
//!
//! "The QUIC variable-length integer encoding reserves the two most significant bits of the
//! first byte to encode the base-2 logarithm of the integer encoding length in bytes. The
//! integer value is encoded on the remaining bits, in network byte order." Lengths are 1, 2, 4
//! or 8 bytes, for values up to 2^6-1, 2^14-1, 2^30-1 and 2^62-1.
//!
//! The encoder can write a value in a wider encoding than it needs: RFC 9000 §16 allows that for
//! every field except frame types (§12.4), and it lets a mutation change a value without moving
//! the bytes after it.

/// The largest value a varint can carry: 2^62-1.
pub const MAX: u64 = (1 << 62) - 1;

/// The encoded width, in bytes, announced by a first byte.
#[inline]
pub fn width_of_first(first: u8) -> usize {
    1 << (first >> 6)
}

/// The shortest encoding of `value`, in bytes; values above [`MAX`] are clamped to it.
#[inline]
pub fn encoded_len(value: u64) -> usize {
    match value {
        0..=0x3f => 1,
        0x40..=0x3fff => 2,
        0x4000..=0x3fff_ffff => 4,
        _ => 8,
    }
}

/// The largest value a `width`-byte encoding carries.
#[inline]
pub fn max_for_width(width: usize) -> u64 {
    match width {
        1 => 0x3f,
        2 => 0x3fff,
        4 => 0x3fff_ffff,
        _ => MAX,
    }
}

/// Decodes the varint at `buf[at..]`: its value and its width, or `None` if it is truncated.
#[inline]
pub fn decode(buf: &[u8], at: usize) -> Option<(u64, usize)> {
    let first = *buf.get(at)?;
    let width = width_of_first(first);
    let bytes = buf.get(at..at + width)?;
    let mut value = u64::from(first & 0x3f);
    for b in &bytes[1..] {
        value = value << 8 | u64::from(*b);
    }
    Some((value, width))
}

/// Writes `value` (clamped to [`MAX`]) in exactly `width` bytes (1, 2, 4 or 8) at `out[..width]`.
/// Returns `false`, writing nothing, if it does not fit that width or `out` is too short.
#[inline]
pub fn write_with_width(value: u64, width: usize, out: &mut [u8]) -> bool {
    let value = value.min(MAX);
    let tag = match width {
        1 => 0u8,
        2 => 1,
        4 => 2,
        8 => 3,
        _ => return false,
    };
    if value > max_for_width(width) || out.len() < width {
        return false;
    }
    let be = value.to_be_bytes();
    out[..width].copy_from_slice(&be[8 - width..]);
    out[0] |= tag << 6;
    true
}

/// Appends the shortest encoding of `value` (clamped to [`MAX`]) to `out`.
#[inline]
pub fn push(value: u64, out: &mut Vec<u8>) {
    push_with_width(value, encoded_len(value), out);
}

/// Appends `value` in `width` bytes, or in its shortest encoding if it does not fit `width`.
pub fn push_with_width(value: u64, width: usize, out: &mut Vec<u8>) {
    let width = if value.min(MAX) > max_for_width(width) || !matches!(width, 1 | 2 | 4 | 8) {
        encoded_len(value)
    } else {
        width
    };
    let mut tmp = [0u8; 8];
    write_with_width(value, width, &mut tmp);
    out.extend_from_slice(&tmp[..width]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_9000_appendix_a1_examples() {
        // RFC 9000 §A.1: sample encodings.
        let cases: [(&[u8], u64); 4] = [
            (&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c], 151_288_809_941_952_652),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (bytes, value) in cases {
            assert_eq!(decode(bytes, 0), Some((value, bytes.len())));
            let mut out = Vec::new();
            push(value, &mut out);
            assert_eq!(out, bytes);
        }
        // "...the two-byte sequence 0x40 0x25 also decodes to 37"
        assert_eq!(decode(&[0x40, 0x25], 0), Some((37, 2)));
        assert_eq!(decode(&[0x40], 0), None);
        assert_eq!(decode(&[], 0), None);
    }

    proptest! {
        #[test]
        fn round_trip(value in 0..=MAX, extra in 0usize..4) {
            let mut out = Vec::new();
            push(value, &mut out);
            prop_assert_eq!(out.len(), encoded_len(value));
            prop_assert_eq!(decode(&out, 0), Some((value, out.len())));
            // Any wider encoding decodes to the same value.
            let width = [1, 2, 4, 8][extra].max(out.len());
            let mut wide = [0u8; 8];
            prop_assert!(write_with_width(value, width, &mut wide));
            prop_assert_eq!(decode(&wide, 0), Some((value, width)));
        }

        #[test]
        fn narrow_widths_are_refused(value in 0x40..=MAX) {
            let mut out = [0xaau8; 8];
            prop_assert!(!write_with_width(value, 1, &mut out));
            prop_assert_eq!(out, [0xaa; 8]);
        }
    }
}
