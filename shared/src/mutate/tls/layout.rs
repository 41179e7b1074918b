//! Where the parts of a handshake message lie in the payload (RFC 8446 §4, §4.1.2, §4.1.3,
//! §4.2, §4.2.8; RFC 9000 §18), and the one way to resize a part while keeping every enclosing
//! length consistent ([`Layout::resize`]).

use super::super::edit;
use super::super::frame::{ty, Frames};
use super::super::varint;
use super::{ext, msg};

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
    /// NewSessionTicket: where ticket_lifetime lies.
    pub ticket_at: Option<usize>,
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
        Some((at, self.buf[at..at + n].iter().fold(0usize, |v, b| v << 8 | usize::from(*b))))
    }
}

/// Reads the `n`-byte big-endian integer at `buf[at..]` (the caller checked the bounds).
pub fn read_be(buf: &[u8], at: usize, n: usize) -> usize {
    buf[at..at + n].iter().fold(0usize, |v, b| v << 8 | usize::from(*b))
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
        self.ticket_at = None;
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
        let start = frames.frames.iter().filter(|f| f.ty == ty::CRYPTO).find_map(|f| {
            let fields = frames.fields_of(f);
            let offset = varint::decode(payload, fields[0].at as usize)?.0;
            (offset == 0).then_some((fields[1], fields[2]))
        });
        let Some((len_field, data)) = start else {
            return false;
        };
        self.crypto_len = (len_field.at as usize, len_field.len as usize);
        self.parse_data(payload, data.at as usize, (data.at + data.len) as usize)
    }

    /// Parses a whole handshake message held in `message` (a reassembled crypto stream, say),
    /// as [`Layout::parse`] does the one a CRYPTO frame starts. Returns `false` without even the
    /// 4-byte message header. The layout locates parts only: with no CRYPTO frame around the
    /// message, it is no input to [`Layout::resize`].
    pub fn parse_message(&mut self, message: &[u8]) -> bool {
        self.clear();
        self.crypto_len = (0, 0);
        self.parse_data(message, 0, message.len())
    }

    /// Parses the message whose data this payload holds at `data_at..data_end`.
    fn parse_data(&mut self, payload: &[u8], data_at: usize, data_end: usize) -> bool {
        self.data_at = data_at;
        self.data_end = data_end;
        let mut r = Reader { buf: payload, pos: self.data_at, end: self.data_end };
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
            msg::NEW_SESSION_TICKET => self.parse_ticket(&mut r),
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

    /// RFC 8446 §4.6.1 NewSessionTicket: ticket_lifetime (4 bytes), ticket_age_add (4 bytes),
    /// ticket_nonce<0..255>, ticket<1..2^16-1>, extensions<0..2^16-2>.
    fn parse_ticket(&mut self, r: &mut Reader<'_>) -> Option<()> {
        self.ticket_at = Some(r.take(8)?);
        let (_, n) = r.uint(1)?;
        r.take(n)?;
        let (_, n) = r.uint(2)?;
        r.take(n)?;
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
            let e = Extension { ty: t as u16, at, data_at, end: data_at + n };
            self.extensions.push(e);
            let mut inner = Reader { buf: r.buf, pos: data_at, end: e.end.min(r.end) };
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
            self.shares.push(Share { at, key_at, end: key_at + n });
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
            self.params.push(Param { id, at, len_at, value_at, end });
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
