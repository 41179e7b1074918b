//! The mutation engine: decides and applies mutations to the cleartext frames of one packet.
//!
//! Input is exactly what s2n-quic's packet interceptor hands out: the frames of one packet before
//! encryption, in a buffer whose length is the packet's capacity. The engine is driven by the
//! generator of what the packet carries ([`crate::seed::ConnectionSeed::content_rng`]) and records every
//! mutation it makes as a [`Decision`], so a replay can prove it made the same decisions even
//! though TLS randomness makes the bytes differ.
//!
//! Hard rules, for any input bytes (including garbage that does not parse):
//! - a mutated payload is empty or at least [`MIN_PAYLOAD_LEN`] bytes long: s2n-quic panics in
//!   header protection on payloads of 1 to 3 bytes and takes the whole endpoint down;
//! - it is never longer than the buffer it was given.
//!
//! The engine parses the payload into frames ([`frame`]), then applies 1 to 4 operators, each
//! from one family chosen by the generator. Operator names are stable (they go into the
//! decisions and the `mutation_digest`):
//! - `field:<frame>.<field>` (`field:stream.offset`, `field:ack.largest`, ...) and
//!   `field:frame_type`: an interesting value in one field ([`field`]);
//! - `insert:<frame>` (`insert:max_streams_bidi`, ...), `remove`, `duplicate`, `reorder`,
//!   `flip:ping`, `flip:padding`, `flip:handshake_done`: whole frames ([`structure`], with
//!   frames from [`library`]);
//! - `tls:<part>` (`tls:key_share.group`, `tls:tp.duplicate`, `tls:alpn`, ...): the TLS
//!   handshake message that starts the crypto stream: the ClientHello's key shares, versions,
//!   ALPN, SNI and QUIC transport parameters, and the server's ServerHello and
//!   EncryptedExtensions ([`tls`], names in [`tls::Op::name`]);
//! - `havoc:<op>` (`havoc:flip_bit`, `havoc:set_byte`, `havoc:interesting_byte`, `havoc:arith`,
//!   `havoc:random_bytes`, `havoc:truncate`, `havoc:flip_byte`): plain bytes ([`havoc`]), also
//!   the fallback when the payload does not parse or the operator drawn has nothing to work on.
//!
//! - `h3:<op>` and `qpack:<op>`: HTTP/3 frames and QPACK field sections and instructions in the
//!   data of a STREAM frame at the start of an HTTP/3 stream ([`h3`]), on a connection that
//!   speaks HTTP/3 ([`PacketInfo::application`]); where the payload has such a frame they are
//!   drawn three times in four.
//!
//! A decision's offset is where the operator applied, counted from the start of the frame it
//! falls in, in the payload as it was at that moment (for `havoc:truncate`, the new length);
//! offsets from the payload's start would shift with timing-dependent frames before the target.
//!
//! Choices are made by position and count (the k-th frame, the j-th field), never by byte
//! values, so decisions follow the packet's structure, which is stable from run to run. The
//! scratch space carries no state from one call to the next.

pub mod digest;
pub mod edit;
pub mod field;
pub mod frame;
pub mod h3;
pub mod havoc;
pub mod library;
pub mod structure;
pub mod tls;
pub mod varint;

#[doc(hidden)]
pub mod corpus;
#[cfg(test)]
mod tests;

use crate::application::Application;
use crate::content::ContentKey;
use crate::seed::{PacketSpace, Role};
use rand::Rng;
use serde::{Deserialize, Serialize};

pub use digest::digest;

/// The shortest non-empty payload s2n-quic can protect: header protection samples 16 bytes
/// starting 4 bytes after the packet number (RFC 9001 §5.4.2), and s2n-quic relies on at least
/// 4 payload bytes being there.
pub const MIN_PAYLOAD_LEN: usize = 4;

/// The facts about the packet being mutated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketInfo {
    pub role: Role,
    pub space: PacketSpace,
    /// What the packet carries ([`crate::content`]): it names the packet in the decisions.
    pub content: ContentKey,
    /// What the connection speaks: STREAM data are HTTP/3 only on an `h3` connection.
    pub application: Application,
}

/// One mutation applied to one packet: which packet (by what it carries), which operator, where.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Decision {
    pub space: PacketSpace,
    pub content: ContentKey,
    /// The operator's stable name, e.g. `"field:stream.offset"` or `"havoc:flip_bit"`.
    pub operator: String,
    /// Where it applied: the byte offset within the frame it hit (from the payload's start when
    /// the payload does not parse).
    pub offset: u32,
}

impl Decision {
    /// The operator's family: its name up to the `:` (`field`, `insert`, `remove`, `tls`,
    /// `havoc`, ...), what a campaign report groups outcomes by.
    pub fn family(&self) -> &str {
        self.operator.split(':').next().unwrap_or_default()
    }
}

/// The families of operators; each mutation draws one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Field,
    Insert,
    Remove,
    Duplicate,
    Reorder,
    Flip,
    Tls,
    H3,
    Qpack,
    Havoc,
}

/// Family weights for a payload that parses. Field mutations reach the most parser code per
/// mutation; insertions bring frames the packet would never carry; havoc keeps a share so that
/// what the grammar does not predict still gets tried.
const WEIGHTS: [(Family, u32); 7] = [
    (Family::Field, 35),
    (Family::Insert, 20),
    (Family::Remove, 8),
    (Family::Duplicate, 8),
    (Family::Reorder, 8),
    (Family::Flip, 6),
    (Family::Havoc, 15),
];

/// Family weights when the packet starts a ClientHello, ServerHello, EncryptedExtensions or
/// NewSessionTicket: the handshake message is where the richest parsing is, and where real
/// crashes were found.
const WEIGHTS_HELLO: [(Family, u32); 8] = [
    (Family::Tls, 45),
    (Family::Field, 18),
    (Family::Insert, 12),
    (Family::Remove, 4),
    (Family::Duplicate, 4),
    (Family::Reorder, 4),
    (Family::Flip, 3),
    (Family::Havoc, 10),
];

/// Family weights when the packet starts another handshake message (Finished, Certificate):
/// only its header is understood.
const WEIGHTS_MESSAGE: [(Family, u32); 8] = [
    (Family::Tls, 8),
    (Family::Field, 33),
    (Family::Insert, 20),
    (Family::Remove, 8),
    (Family::Duplicate, 8),
    (Family::Reorder, 8),
    (Family::Flip, 5),
    (Family::Havoc, 10),
];

/// Family weights when the payload starts one of the sender's HTTP/3 streams: three in four
/// mutations rewrite the HTTP/3 frames or QPACK data as what they are, the rest the QUIC frames
/// around them as anywhere else.
const WEIGHTS_H3: [(Family, u32); 9] = [
    (Family::H3, 45),
    (Family::Qpack, 30),
    (Family::Field, 8),
    (Family::Insert, 5),
    (Family::Remove, 2),
    (Family::Duplicate, 2),
    (Family::Reorder, 2),
    (Family::Flip, 1),
    (Family::Havoc, 5),
];

/// How many mutations a packet gets: mostly one, sometimes a few.
const COUNTS: [usize; 8] = [1, 1, 1, 1, 2, 2, 3, 4];

/// Mutates packets; holds scratch space so that mutating allocates nothing in steady state
/// (beyond the operator names of the decisions it records). The scratch space is refilled by
/// every call: nothing carries over from one packet to the next.
#[derive(Debug, Default)]
pub struct Mutator {
    frames: frame::Frames,
    tls: tls::Layout,
    h3: h3::stream::Scratch,
    /// The payload's HTTP/3 targets ([`h3::stream::targets`]).
    h3_targets: Vec<h3::stream::Target>,
    scratch: Vec<u8>,
}

impl Mutator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Mutates the payload `buf[..len]` in place, using `buf[len..]` as room to grow, and returns
    /// the new length: 0 or in `MIN_PAYLOAD_LEN..=buf.len()`. Each mutation made is appended to
    /// `decisions`.
    ///
    /// Everything decided comes from `rng` and the payload's structure; the same generator and
    /// the same bytes give the same decisions and the same result. A `len` beyond the buffer is
    /// taken as the buffer's length; an empty payload is returned empty, untouched.
    pub fn mutate<R: Rng>(
        &mut self,
        rng: &mut R,
        packet: &PacketInfo,
        buf: &mut [u8],
        len: usize,
        decisions: &mut Vec<Decision>,
    ) -> usize {
        let mut len = len.min(buf.len());
        if len == 0 {
            // Nothing to mutate, and an empty payload is already legal.
            return 0;
        }
        let count = COUNTS[rng.gen_range(0..COUNTS.len())];
        for _ in 0..count {
            if len == 0 {
                break;
            }
            let (prefix, name, offset, new_len) = self.mutate_once(rng, packet, buf, len);
            debug_assert!(new_len <= buf.len());
            len = new_len.min(buf.len());
            decisions.push(Decision {
                space: packet.space,
                content: packet.content,
                operator: [prefix, name].concat(),
                offset: self.offset_in_frame(offset).min(u32::MAX as usize) as u32,
            });
        }
        // The floor s2n-quic needs: pad rather than hand back 1 to 3 bytes.
        if len > 0 && len < MIN_PAYLOAD_LEN {
            if buf.len() >= MIN_PAYLOAD_LEN {
                buf[len..MIN_PAYLOAD_LEN].fill(0);
                len = MIN_PAYLOAD_LEN;
            } else {
                len = 0;
            }
        }
        len
    }

    /// A decision's offset, counted from the start of the frame it falls in (as the payload was
    /// parsed before that mutation), or from the payload's start where nothing parsed.
    ///
    /// Offsets from the payload's start would shift with every frame before the target whose
    /// size is a matter of timing: an ACK's delay takes one byte in one run and two in the next,
    /// and an ACK rides in front of the frames in one run and not in the next.
    fn offset_in_frame(&self, offset: usize) -> usize {
        match self.frames.frames.iter().rfind(|f| f.at as usize <= offset) {
            Some(frame) => offset - frame.at as usize,
            None => offset,
        }
    }

    /// One mutation: returns the operator's name (in two parts, so that field names need no
    /// table of their own), its offset and the new length.
    fn mutate_once<R: Rng>(
        &mut self,
        rng: &mut R,
        packet: &PacketInfo,
        buf: &mut [u8],
        len: usize,
    ) -> (&'static str, &'static str, usize, usize) {
        self.frames.parse(&buf[..len]);
        let hot = len - self.frames.trailing_padding(len);
        match packet.application {
            Application::H3 => h3::stream::targets(packet.role, &self.frames, &buf[..len], &mut self.h3_targets),
            Application::HqInterop => self.h3_targets.clear(),
        }
        let h3_targets = self.h3_targets.len();
        let family = if self.frames.frames.is_empty() {
            Family::Havoc
        } else if h3_targets > 0 {
            choose(rng, &WEIGHTS_H3)
        } else if self.tls.parse(&self.frames, &buf[..len]) {
            let hello = matches!(
                self.tls.msg_type,
                tls::msg::CLIENT_HELLO
                    | tls::msg::SERVER_HELLO
                    | tls::msg::ENCRYPTED_EXTENSIONS
                    | tls::msg::NEW_SESSION_TICKET
            );
            choose(rng, if hello { &WEIGHTS_HELLO } else { &WEIGHTS_MESSAGE })
        } else {
            choose(rng, &WEIGHTS)
        };
        let frames = &self.frames;
        let scratch = &mut self.scratch;
        if family == Family::Field {
            if let Some((name, at, new_len)) = field::mutate(rng, packet.role, frames, buf, len, scratch) {
                return ("field:", name, at, new_len);
            }
        }
        if let Family::H3 | Family::Qpack = family {
            let h3_family = if family == Family::H3 { h3::stream::Family::H3 } else { h3::stream::Family::Qpack };
            let k = rng.gen_range(0..h3_targets);
            let target = self.h3_targets[k];
            // The offset is the one in the stream data, counted from the STREAM frame's start
            // (see `offset_in_frame`): the header's width is the frame's, not the mutation's.
            if let Some((name, at, new_len)) =
                h3::stream::apply(rng, packet.role, h3_family, target, frames, buf, len, &mut self.h3)
            {
                let frame_at = frames.frames[target.frame].at as usize;
                return ("", name, frame_at + at, new_len);
            }
        }
        let applied = match family {
            Family::Field | Family::H3 | Family::Qpack => None,
            Family::Insert => structure::insert(rng, packet.role, frames, buf, len, scratch),
            Family::Remove => structure::remove(rng, frames, buf, len),
            Family::Duplicate => structure::duplicate(rng, frames, buf, len, scratch),
            Family::Reorder => structure::reorder(rng, frames, buf, len, scratch),
            Family::Flip => structure::flip(rng, frames, buf, len),
            Family::Tls => tls::mutate(rng, packet.role, &self.tls, frames, buf, len, scratch),
            Family::Havoc => None,
        };
        let (name, at, new_len) = match applied {
            Some(a) => a,
            None => havoc::apply(rng, buf, len, hot),
        };
        ("", name, at, new_len)
    }
}

/// A weighted choice; the weights are constants, so the draw never depends on the payload.
fn choose<R: Rng, T: Copy>(rng: &mut R, weights: &[(T, u32)]) -> T {
    let total: u32 = weights.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0..total);
    for (item, w) in weights {
        if x < *w {
            return *item;
        }
        x -= w;
    }
    weights[weights.len() - 1].0
}

pub use crate::content::closes_connection;
