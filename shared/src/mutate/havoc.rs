//! Plain byte havoc, in the manner of AFL's havoc stage: the fallback when a payload does not
//! parse as frames, when a structural operator has nothing to work on, and one family among the
//! others to keep exploring what no grammar predicts.
//!
//! Offsets come from the generator and the payload's length only, never from its byte values, so
//! a replay makes the same choices although TLS randomness changes the bytes.

use super::MIN_PAYLOAD_LEN;
use rand::Rng;

/// Bytes that sit on boundaries of the encodings QUIC and TLS use: varint width tags (0x40,
/// 0x80, 0xc0), the largest one-byte varint (0x3f), signed and unsigned extremes.
const INTERESTING: [u8; 10] = [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xc0, 0xfe, 0xff];

/// Applies one havoc operator to `buf[..len]` (`len >= 1`); returns its name, offset and the
/// new length. `hot` is the end of the part worth hitting most (before trailing padding).
pub fn apply<R: Rng>(rng: &mut R, buf: &mut [u8], len: usize, hot: usize) -> (&'static str, usize, usize) {
    debug_assert!(len >= 1 && len <= buf.len());
    // Three times out of four, aim at the frames rather than the padding after them.
    let span = if hot > 0 && rng.gen_ratio(3, 4) { hot.min(len) } else { len };
    let at = rng.gen_range(0..span);
    match rng.gen_range(0..6) {
        0 => {
            buf[at] ^= 1 << rng.gen_range(0..8);
            ("havoc:flip_bit", at, len)
        }
        1 => {
            buf[at] = rng.gen();
            ("havoc:set_byte", at, len)
        }
        2 => {
            buf[at] = INTERESTING[rng.gen_range(0..INTERESTING.len())];
            ("havoc:interesting_byte", at, len)
        }
        3 => {
            let add: u8 = rng.gen_range(1..=16);
            buf[at] = if rng.gen() { buf[at].wrapping_add(add) } else { buf[at].wrapping_sub(add) };
            ("havoc:arith", at, len)
        }
        4 => {
            let n = rng.gen_range(1..=16usize).min(len - at);
            rng.fill(&mut buf[at..at + n]);
            ("havoc:random_bytes", at, len)
        }
        _ => {
            // Cut the payload short, never under the floor s2n-quic needs.
            if len > MIN_PAYLOAD_LEN {
                let new_len = rng.gen_range(MIN_PAYLOAD_LEN..len);
                ("havoc:truncate", new_len, new_len)
            } else {
                buf[at] ^= 0xff;
                ("havoc:flip_byte", at, len)
            }
        }
    }
}
