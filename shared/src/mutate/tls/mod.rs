//! The TLS handshake message a CRYPTO frame carries (RFC 9001 §4: QUIC carries TLS handshake
//! messages in CRYPTO frames, without TLS records), and mutations of its structure.
//!
//! Only the message that starts the crypto stream of the packet's space is understood: the CRYPTO
//! frame whose offset is 0 begins it. That is the ClientHello in a client's Initial packet, the
//! ServerHello in a server's, and EncryptedExtensions (which carries the server's transport
//! parameters) in the server's first Handshake packet. A ClientHello can be longer than a packet
//! (post-quantum key shares make it so), so parsing goes as far as this packet holds the message
//! and stops without complaint where the data ends: operators only touch what is there.
//!
//! [`Layout`] records where each part lies; [`hello`] holds the operators on the message and its
//! extensions, [`params`] those on the QUIC transport parameters extension. Structural edits
//! that change a length keep every enclosing length consistent (the parameter's, the
//! extension's, the extension block's, the message's and the CRYPTO frame's), so the receiver's
//! deeper checks are reached rather than its framing checks; other operators break exactly one
//! length on purpose.

pub mod hello;
pub mod params;
#[cfg(test)]
mod tests;

use super::edit;
use super::frame::{ty, Frames};
use super::varint;
use crate::seed::Role;
use rand::Rng;

/// Handshake message types (RFC 8446 §4).
pub mod msg {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const ENCRYPTED_EXTENSIONS: u8 = 8;
}

/// Extension types (RFC 8446 §4.2, RFC 6066 §3, RFC 7301 §3.1, RFC 9001 §8.2).
pub mod ext {
    pub const SERVER_NAME: u16 = 0;
    pub const SUPPORTED_GROUPS: u16 = 10;
    pub const ALPN: u16 = 16;
    pub const SUPPORTED_VERSIONS: u16 = 43;
    pub const KEY_SHARE: u16 = 51;
    pub const QUIC_TRANSPORT_PARAMETERS: u16 = 0x39;
}

/// One extension: its type at `at`, its data from `data_at` to the declared `end` (which may lie
/// past the data this packet holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extension {
    pub ty: u16,
    pub at: usize,
    pub data_at: usize,
    pub end: usize,
}

/// One KeyShareEntry (RFC 8446 §4.2.8): group at `at`, key_exchange length at `at + 2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    pub at: usize,
    pub key_at: usize,
    pub end: usize,
}

/// One transport parameter (RFC 9000 §18): identifier at `at`, length varint at `len_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    pub id: u64,
    pub at: usize,
    pub len_at: usize,
    pub value_at: usize,
    pub end: usize,
}

/// Where the parts of the handshake message lie in the payload. Scratch space owned by the
/// mutator and refilled for every packet.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// The CRYPTO frame's Length field: offset and width.
    pub crypto_len: (usize, usize),
    /// The message data this packet holds: `data_at..data_end`.
    pub data_at: usize,
    pub data_end: usize,
    pub msg_type: u8,
    /// The declared end of the message (type, 3-byte length, body).
    pub msg_end: usize,
    /// ClientHello and ServerHello: legacy_version, legacy_session_id's length byte, the cipher
    /// suites (ClientHello: the vector's 2-byte length; ServerHello: the suite), the compression
    /// methods (ClientHello: the vector's length; ServerHello: the method).
    pub version_at: Option<usize>,
    pub session_id_at: Option<usize>,
    pub suites_at: Option<usize>,
    pub compression_at: Option<usize>,
    /// The extension block's 2-byte length.
    pub extensions_at: Option<usize>,
    pub extensions: Vec<Extension>,
    /// The key_share extension: ClientHello's client_shares length, and the entries.
    pub shares_list_at: Option<usize>,
    pub shares_ext: Option<usize>,
    pub shares: Vec<Share>,
    /// The transport parameters extension (by index) and its parameters.
    pub params_ext: Option<usize>,
    pub params: Vec<Param>,
}

/// Reads big-endian integers within `..end`.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<usize> {
        let at = self.pos;
        if self.end - at < n {
            return None;
        }
        self.pos += n;
        Some(at)
    }

    fn uint(&mut self, n: usize) -> Option<(usize, usize)> {
        let at = self.take(n)?;
        Some((
            at,
            self.buf[at..at + n]
                .iter()
                .fold(0usize, |v, b| v << 8 | usize::from(*b)),
        ))
    }
}

/// Reads the `n`-byte big-endian integer at `buf[at..]` (the caller checked the bounds).
pub fn read_be(buf: &[u8], at: usize, n: usize) -> usize {
    buf[at..at + n]
        .iter()
        .fold(0usize, |v, b| v << 8 | usize::from(*b))
}

/// Writes `value` as an `n`-byte big-endian integer at `buf[at..]`, truncating high bits.
pub fn write_be(buf: &mut [u8], at: usize, n: usize, value: usize) {
    for i in 0..n {
        buf[at + n - 1 - i] = (value >> (8 * i)) as u8;
    }
}

impl Layout {
    fn clear(&mut self) {
        self.msg_type = 0;
        self.version_at = None;
        self.session_id_at = None;
        self.suites_at = None;
        self.compression_at = None;
        self.extensions_at = None;
        self.extensions.clear();
        self.shares_list_at = None;
        self.shares_ext = None;
        self.shares.clear();
        self.params_ext = None;
        self.params.clear();
    }

    /// Finds the CRYPTO frame at crypto offset 0 and parses the message it starts. Returns
    /// `false` when there is none, or not even the 4-byte message header.
    pub fn parse(&mut self, frames: &Frames, payload: &[u8]) -> bool {
        self.clear();
        let start = frames
            .frames
            .iter()
            .filter(|f| f.ty == ty::CRYPTO)
            .find_map(|f| {
                let fields = frames.fields_of(f);
                let offset = varint::decode(payload, fields[0].at as usize)?.0;
                (offset == 0).then_some((fields[1], fields[2]))
            });
        let Some((len_field, data)) = start else {
            return false;
        };
        self.crypto_len = (len_field.at as usize, len_field.len as usize);
        self.data_at = data.at as usize;
        self.data_end = (data.at + data.len) as usize;
        let mut r = Reader {
            buf: payload,
            pos: self.data_at,
            end: self.data_end,
        };
        let Some((_, t)) = r.uint(1) else {
            return false;
        };
        let Some((_, body_len)) = r.uint(3) else {
            return false;
        };
        self.msg_type = t as u8;
        self.msg_end = r.pos + body_len;
        // Everything below stops quietly where the data ends.
        r.end = self.msg_end.min(self.data_end);
        let _ = match self.msg_type {
            msg::CLIENT_HELLO | msg::SERVER_HELLO => self.parse_hello(&mut r),
            msg::ENCRYPTED_EXTENSIONS => self.parse_extensions(&mut r),
            _ => None,
        };
        true
    }

    /// RFC 8446 §4.1.2 ClientHello: legacy_version, random (32 bytes),
    /// legacy_session_id<0..32>, cipher_suites<2..2^16-2>, legacy_compression_methods<1..2^8-1>,
    /// extensions<8..2^16-1>. §4.1.3 ServerHello: legacy_version, random (32 bytes),
    /// legacy_session_id_echo<0..32>, cipher_suite, legacy_compression_method,
    /// extensions<6..2^16-1>.
    fn parse_hello(&mut self, r: &mut Reader<'_>) -> Option<()> {
        let client = self.msg_type == msg::CLIENT_HELLO;
        self.version_at = Some(r.take(2)?);
        r.take(32)?;
        let (at, n) = r.uint(1)?;
        self.session_id_at = Some(at);
        r.take(n)?;
        if client {
            let (at, n) = r.uint(2)?;
            self.suites_at = Some(at);
            r.take(n)?;
            let (at, n) = r.uint(1)?;
            self.compression_at = Some(at);
            r.take(n)?;
        } else {
            self.suites_at = Some(r.take(2)?);
            self.compression_at = Some(r.take(1)?);
        }
        self.parse_extensions(r)
    }

    /// RFC 8446 §4.2: `Extension extensions<..2^16-1>`, each `extension_type` (2 bytes) and
    /// `extension_data<0..2^16-1>`.
    fn parse_extensions(&mut self, r: &mut Reader<'_>) -> Option<()> {
        let (at, n) = r.uint(2)?;
        self.extensions_at = Some(at);
        r.end = r.end.min(r.pos + n);
        while let Some((at, t)) = r.uint(2) {
            let (_, n) = r.uint(2)?;
            let data_at = r.pos;
            let e = Extension {
                ty: t as u16,
                at,
                data_at,
                end: data_at + n,
            };
            self.extensions.push(e);
            let mut inner = Reader {
                buf: r.buf,
                pos: data_at,
                end: e.end.min(r.end),
            };
            match e.ty {
                ext::KEY_SHARE if self.shares_ext.is_none() => {
                    self.shares_ext = Some(self.extensions.len() - 1);
                    self.parse_key_share(&mut inner);
                }
                ext::QUIC_TRANSPORT_PARAMETERS if self.params_ext.is_none() => {
                    self.params_ext = Some(self.extensions.len() - 1);
                    self.parse_params(&mut inner);
                }
                _ => {}
            }
            if r.take(n).is_none() {
                break;
            }
        }
        Some(())
    }

    /// RFC 8446 §4.2.8: the ClientHello has `KeyShareEntry client_shares<0..2^16-1>`, the
    /// ServerHello one `KeyShareEntry server_share`; each is `NamedGroup group` and
    /// `opaque key_exchange<1..2^16-1>`. (A HelloRetryRequest's holds only a group: it parses
    /// as no entry.)
    fn parse_key_share(&mut self, r: &mut Reader<'_>) {
        if self.msg_type == msg::CLIENT_HELLO {
            let Some((at, n)) = r.uint(2) else { return };
            self.shares_list_at = Some(at);
            r.end = r.end.min(r.pos + n);
        }
        while let Some((at, _)) = r.uint(2) {
            let Some((_, n)) = r.uint(2) else { return };
            let key_at = r.pos;
            self.shares.push(Share {
                at,
                key_at,
                end: key_at + n,
            });
            if r.take(n).is_none() || self.msg_type != msg::CLIENT_HELLO {
                return;
            }
        }
    }

    /// RFC 9000 §18: "a sequence of transport parameters", each `Transport Parameter ID (i)`,
    /// `Transport Parameter Length (i)`, `Transport Parameter Value (..)`.
    fn parse_params(&mut self, r: &mut Reader<'_>) {
        while r.pos < r.end {
            let Some((id, w)) = varint::decode(&r.buf[..r.end], r.pos) else {
                return;
            };
            let at = r.pos;
            let len_at = at + w;
            let Some((n, lw)) = varint::decode(&r.buf[..r.end], len_at) else {
                return;
            };
            let value_at = len_at + lw;
            let end = value_at.saturating_add(n as usize);
            self.params.push(Param {
                id,
                at,
                len_at,
                value_at,
                end,
            });
            if end > r.end {
                return;
            }
            r.pos = end;
        }
    }

    /// Whether `end` lies within the data this packet holds.
    pub fn holds(&self, end: usize) -> bool {
        end <= self.data_end
    }

    pub fn complete_shares(&self) -> usize {
        self.shares.iter().filter(|s| self.holds(s.end)).count()
    }

    pub fn complete_params(&self) -> usize {
        self.params.iter().filter(|p| self.holds(p.end)).count()
    }

    pub fn complete_extensions(&self) -> usize {
        self.extensions.iter().filter(|e| self.holds(e.end)).count()
    }

    /// Replaces `buf[at..at + remove]` with `insert` (the `edit`, through [`edit::grow`]) and
    /// moves every enclosing length by the difference: the CRYPTO frame's, the message's, the
    /// extension block's, the extension `ext`'s (by index) and the 2-byte list lengths in
    /// `lists`. Returns the new payload length, or `None` (nothing changed) when a length would
    /// not fit its field or the payload its buffer.
    pub fn resize(
        &self,
        buf: &mut [u8],
        len: usize,
        frames: &Frames,
        (at, remove, insert): (usize, usize, &[u8]),
        ext: Option<usize>,
        lists: &[usize],
    ) -> Option<usize> {
        let delta = insert.len() as i64 - remove as i64;
        if at + remove > self.data_end {
            return None;
        }
        // Every big-endian length to move, as (offset, width in bytes).
        let mut fix: [(usize, usize); 6] = [(0, 0); 6];
        let mut n = 0;
        let mut add = |at: usize, width: usize| {
            fix[n] = (at, width);
            n += 1;
        };
        add(self.data_at + 1, 3);
        if let Some(e) = self.extensions_at {
            if at >= e + 2 {
                add(e, 2);
            }
        }
        if let Some(e) = ext.and_then(|i| self.extensions.get(i)) {
            add(e.at + 2, 2);
        }
        for l in lists.iter().take(2) {
            add(*l, 2);
        }
        let mut values = [0usize; 6];
        for (i, (fat, width)) in fix[..n].iter().enumerate() {
            let new = read_be(buf, *fat, *width) as i64 + delta;
            if new < 0 || new >= 1 << (8 * width) {
                return None;
            }
            values[i] = new as usize;
        }
        let (clen_at, clen_w) = self.crypto_len;
        let crypto_len = varint::decode(buf, clen_at)?.0 as i64 + delta;
        if crypto_len < 0 || crypto_len as u64 > varint::max_for_width(clen_w) {
            return None;
        }
        let new_len = edit::grow(frames, buf, len, (at, remove, insert))?;
        // All the lengths lie before the edit: the splice did not move them.
        for (i, (fat, width)) in fix[..n].iter().enumerate() {
            write_be(buf, *fat, *width, values[i]);
        }
        // Read again: making room may have cut the end of this very CRYPTO frame.
        let crypto_len = (varint::decode(buf, clen_at)?.0 as i64 + delta).max(0);
        varint::write_with_width(crypto_len as u64, clen_w, &mut buf[clen_at..]);
        Some(new_len)
    }
}

/// The TLS operators, their names and weights. Names are stable: they go into decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    MessageLength,
    MessageType,
    LegacyVersion,
    SessionId,
    CipherSuites,
    Compression,
    ExtensionsLength,
    ExtLength,
    ExtType,
    ExtDuplicate,
    ExtRemove,
    ExtReorder,
    ExtData,
    KeyShareGroup,
    KeyShareLength,
    KeyShareKey,
    KeyShareResize,
    KeyShareOrder,
    KeyShareDuplicate,
    KeyShareRemove,
    KeyShareListLength,
    SupportedVersions,
    Alpn,
    Sni,
    TpValue,
    TpLength,
    TpId,
    TpDuplicate,
    TpAdd,
    TpRemove,
}

impl Op {
    pub const ALL: [Op; 30] = [
        Op::MessageLength,
        Op::MessageType,
        Op::LegacyVersion,
        Op::SessionId,
        Op::CipherSuites,
        Op::Compression,
        Op::ExtensionsLength,
        Op::ExtLength,
        Op::ExtType,
        Op::ExtDuplicate,
        Op::ExtRemove,
        Op::ExtReorder,
        Op::ExtData,
        Op::KeyShareGroup,
        Op::KeyShareLength,
        Op::KeyShareKey,
        Op::KeyShareResize,
        Op::KeyShareOrder,
        Op::KeyShareDuplicate,
        Op::KeyShareRemove,
        Op::KeyShareListLength,
        Op::SupportedVersions,
        Op::Alpn,
        Op::Sni,
        Op::TpValue,
        Op::TpLength,
        Op::TpId,
        Op::TpDuplicate,
        Op::TpAdd,
        Op::TpRemove,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::MessageLength => "tls:message.length",
            Op::MessageType => "tls:message.type",
            Op::LegacyVersion => "tls:legacy_version",
            Op::SessionId => "tls:session_id",
            Op::CipherSuites => "tls:cipher_suites",
            Op::Compression => "tls:compression",
            Op::ExtensionsLength => "tls:extensions.length",
            Op::ExtLength => "tls:ext.length",
            Op::ExtType => "tls:ext.type",
            Op::ExtDuplicate => "tls:ext.duplicate",
            Op::ExtRemove => "tls:ext.remove",
            Op::ExtReorder => "tls:ext.reorder",
            Op::ExtData => "tls:ext.data",
            Op::KeyShareGroup => "tls:key_share.group",
            Op::KeyShareLength => "tls:key_share.length",
            Op::KeyShareKey => "tls:key_share.key",
            Op::KeyShareResize => "tls:key_share.resize",
            Op::KeyShareOrder => "tls:key_share.order",
            Op::KeyShareDuplicate => "tls:key_share.duplicate",
            Op::KeyShareRemove => "tls:key_share.remove",
            Op::KeyShareListLength => "tls:key_share.list_length",
            Op::SupportedVersions => "tls:supported_versions",
            Op::Alpn => "tls:alpn",
            Op::Sni => "tls:sni",
            Op::TpValue => "tls:tp.value",
            Op::TpLength => "tls:tp.length",
            Op::TpId => "tls:tp.id",
            Op::TpDuplicate => "tls:tp.duplicate",
            Op::TpAdd => "tls:tp.add",
            Op::TpRemove => "tls:tp.remove",
        }
    }

    /// Relative weight: the key shares and the transport parameters are where the parsing
    /// and validation code is richest (and where crashes were found), so they get most.
    fn weight(self) -> u32 {
        match self {
            Op::TpValue | Op::TpAdd => 6,
            Op::KeyShareGroup
            | Op::KeyShareKey
            | Op::KeyShareResize
            | Op::TpId
            | Op::TpDuplicate => 4,
            Op::KeyShareLength
            | Op::KeyShareOrder
            | Op::KeyShareDuplicate
            | Op::TpLength
            | Op::TpRemove => 3,
            Op::MessageType | Op::Compression | Op::ExtensionsLength => 1,
            _ => 2,
        }
    }

    /// Whether the operator has something to work on in `l`. Depends on structure only.
    fn applies(self, l: &Layout) -> bool {
        let client = l.msg_type == msg::CLIENT_HELLO;
        let hello = matches!(l.msg_type, msg::CLIENT_HELLO | msg::SERVER_HELLO);
        let has_ext = |t: u16| l.extensions.iter().any(|e| e.ty == t && l.holds(e.end));
        match self {
            Op::MessageLength | Op::MessageType => true,
            Op::LegacyVersion => l.version_at.is_some(),
            Op::SessionId => client && l.session_id_at.is_some(),
            Op::CipherSuites => l.suites_at.is_some_and(|at| l.holds(at + 4)),
            Op::Compression => l.compression_at.is_some_and(|at| l.holds(at + 2)),
            Op::ExtensionsLength => l.extensions_at.is_some(),
            Op::ExtLength | Op::ExtType => !l.extensions.is_empty(),
            Op::ExtDuplicate | Op::ExtRemove => l.complete_extensions() > 0,
            Op::ExtReorder => l.complete_extensions() > 1,
            Op::ExtData => l
                .extensions
                .iter()
                .any(|e| e.end > e.data_at && l.holds(e.end)),
            Op::KeyShareGroup | Op::KeyShareLength => !l.shares.is_empty(),
            Op::KeyShareKey | Op::KeyShareResize => {
                l.shares.iter().any(|s| s.end > s.key_at && l.holds(s.end))
            }
            Op::KeyShareOrder => client && l.complete_shares() > 1,
            Op::KeyShareDuplicate | Op::KeyShareRemove => client && l.complete_shares() > 0,
            Op::KeyShareListLength => l.shares_list_at.is_some(),
            Op::SupportedVersions => hello && has_ext(ext::SUPPORTED_VERSIONS),
            Op::Alpn => has_ext(ext::ALPN),
            Op::Sni => client && has_ext(ext::SERVER_NAME),
            Op::TpValue | Op::TpLength | Op::TpId | Op::TpDuplicate | Op::TpRemove => {
                l.complete_params() > 0
            }
            Op::TpAdd => l.params_ext.is_some_and(|i| l.holds(l.extensions[i].end)),
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
    let total: u32 = Op::ALL
        .iter()
        .filter(|o| o.applies(layout))
        .map(|o| o.weight())
        .sum();
    let mut x = rng.gen_range(0..total.max(1));
    let op = *Op::ALL.iter().filter(|o| o.applies(layout)).find(|o| {
        let hit = x < o.weight();
        x = x.saturating_sub(o.weight());
        hit
    })?;
    let cx = Context {
        layout,
        buf,
        len,
        frames,
        role,
        scratch,
    };
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
    /// The payload's frames, for growth to find room (see [`edit::grow`]).
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
        self.layout.resize(
            self.buf,
            self.len,
            self.frames,
            (range.0, range.1, insert),
            ext,
            lists,
        )
    }
}

/// The `k`-th item among those `keep` accepts, chosen uniformly; `None` if none does.
pub fn pick<R: Rng, T: Copy>(
    rng: &mut R,
    items: &[T],
    keep: impl Fn(&T) -> bool,
) -> Option<(usize, T)> {
    let n = items.iter().filter(|i| keep(i)).count();
    if n == 0 {
        return None;
    }
    let k = rng.gen_range(0..n);
    items
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, i)| keep(i))
        .nth(k)
}
