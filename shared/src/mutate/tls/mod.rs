//! The TLS handshake message a CRYPTO frame carries (RFC 9001 §4: QUIC carries TLS handshake
//! messages in CRYPTO frames, without TLS records), and mutations of its structure.
//!
//! Only the message that starts the crypto stream of the packet's space is understood: the CRYPTO
//! frame whose offset is 0 begins it. That is the ClientHello in a client's Initial packet, the
//! ServerHello in a server's, and EncryptedExtensions (which carries the server's transport
//! parameters) in the server's first Handshake packet, and NewSessionTicket in the server's 1-RTT
//! packets (the application data space's crypto stream starts with it). A ClientHello can be longer than a packet
//! (post-quantum key shares make it so), so parsing goes as far as this packet holds the message
//! and stops without complaint where the data ends: operators only touch what is there.
//!
//! [`Layout`] records where each part lies ([`layout`]); [`Op`] lists the operators ([`op`]);
//! [`hello`] implements those on the message and its extensions, [`params`] those on the QUIC
//! transport parameters extension. Structural edits
//! that change a length keep every enclosing length consistent (the parameter's, the
//! extension's, the extension block's, the message's and the CRYPTO frame's), so the receiver's
//! deeper checks are reached rather than its framing checks; other operators break exactly one
//! length on purpose.

pub mod hello;
pub mod layout;
pub mod op;
pub mod params;
#[cfg(test)]
mod tests;

pub use layout::{read_be, write_be, Extension, Layout, Param, Share};
pub use op::Op;

use super::frame::Frames;
use crate::seed::Role;
use rand::Rng;

/// Handshake message types (RFC 8446 §4).
pub mod msg {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const NEW_SESSION_TICKET: u8 = 4;
    pub const ENCRYPTED_EXTENSIONS: u8 = 8;
}

/// Extension types (RFC 8446 §4.2, RFC 6066 §3, RFC 7301 §3.1, RFC 9001 §8.2).
pub mod ext {
    pub const SERVER_NAME: u16 = 0;
    pub const SUPPORTED_GROUPS: u16 = 10;
    pub const ALPN: u16 = 16;
    pub const PRE_SHARED_KEY: u16 = 41;
    pub const EARLY_DATA: u16 = 42;
    pub const SUPPORTED_VERSIONS: u16 = 43;
    pub const KEY_SHARE: u16 = 51;
    pub const QUIC_TRANSPORT_PARAMETERS: u16 = 0x39;
}

/// Named groups (RFC 8446 §4.2.7, RFC 8422 §5.1.1, draft-ietf-tls-ecdhe-mlkem) and the size of
/// their key_exchange in a KeyShareEntry.
pub mod group {
    pub const SECP256R1: u16 = 0x0017;
    pub const SECP384R1: u16 = 0x0018;
    pub const SECP521R1: u16 = 0x0019;
    pub const X25519: u16 = 0x001d;
    pub const X448: u16 = 0x001e;
    pub const SECP256R1_MLKEM768: u16 = 0x11eb;
    pub const X25519_MLKEM768: u16 = 0x11ec;

    /// The key_exchange length a share of `group` must have, for the groups whose shares have
    /// one size: RFC 8446 §4.2.8.2 (uncompressed ECDH points: 1 + 2 coordinates; X25519 and
    /// X448 keys of 32 and 56 bytes) and draft-ietf-tls-ecdhe-mlkem §4.1 (an ML-KEM-768
    /// encapsulation key of 1184 bytes with an X25519 key after it, or a P-256 point before it).
    /// `None` for groups not listed here (FFDHE, GREASE, unknown).
    pub fn key_exchange_len(group: u16) -> Option<usize> {
        match group {
            SECP256R1 => Some(65),
            SECP384R1 => Some(97),
            SECP521R1 => Some(133),
            X25519 => Some(32),
            X448 => Some(56),
            SECP256R1_MLKEM768 => Some(65 + 1184),
            X25519_MLKEM768 => Some(1184 + 32),
            _ => None,
        }
    }
}

/// Applies one TLS operator to the message `layout` describes (parsed from `buf[..len]`).
/// Returns its name, offset and the new payload length, or `None` if the operator drawn could
/// not apply (no room to grow).
pub fn mutate<R: Rng>(
    rng: &mut R,
    role: Role,
    layout: &Layout,
    frames: &Frames,
    buf: &mut [u8],
    len: usize,
    scratch: &mut Vec<u8>,
) -> Option<(&'static str, usize, usize)> {
    let total: u32 = Op::ALL.iter().filter(|o| o.applies(layout)).map(|o| o.weight()).sum();
    let mut x = rng.gen_range(0..total.max(1));
    let op = *Op::ALL.iter().filter(|o| o.applies(layout)).find(|o| {
        let hit = x < o.weight();
        x = x.saturating_sub(o.weight());
        hit
    })?;
    let cx = Context { layout, buf, len, frames, role, scratch };
    let (at, new_len) = match op {
        Op::TpValue | Op::TpLength | Op::TpId | Op::TpDuplicate | Op::TpAdd | Op::TpRemove => {
            params::apply(rng, op, cx)?
        }
        _ => hello::apply(rng, op, cx)?,
    };
    Some((op.name(), at, new_len))
}

/// What an operator works on.
pub struct Context<'a> {
    pub layout: &'a Layout,
    pub buf: &'a mut [u8],
    pub len: usize,
    /// The payload's frames, for growth to find room (see [`crate::mutate::edit::grow`]).
    pub frames: &'a Frames,
    pub role: Role,
    pub scratch: &'a mut Vec<u8>,
}

impl Context<'_> {
    /// See [`Layout::resize`].
    pub fn resize(
        &mut self,
        range: (usize, usize),
        insert_scratch: bool,
        ext: Option<usize>,
        lists: &[usize],
    ) -> Option<usize> {
        let insert: &[u8] = if insert_scratch { self.scratch } else { &[] };
        self.layout.resize(self.buf, self.len, self.frames, (range.0, range.1, insert), ext, lists)
    }
}

/// The `k`-th item among those `keep` accepts, chosen uniformly; `None` if none does.
pub fn pick<R: Rng, T: Copy>(rng: &mut R, items: &[T], keep: impl Fn(&T) -> bool) -> Option<(usize, T)> {
    let n = items.iter().filter(|i| keep(i)).count();
    if n == 0 {
        return None;
    }
    let k = rng.gen_range(0..n);
    items.iter().copied().enumerate().filter(|(_, i)| keep(i)).nth(k)
}
