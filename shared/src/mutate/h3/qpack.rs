//! The `qpack` family: QPACK (RFC 9204) field sections and instructions rewritten as what they
//! are.
//!
//! A field section (§4.5) is a prefix (Required Insert Count, then a sign bit and Delta Base)
//! and field lines: indexed (§4.5.2, §4.5.3), literal with a name reference (§4.5.4, §4.5.5),
//! literal with a literal name (§4.5.6). Integers have an N-bit prefix and strings a Huffman
//! flag and a length, as in HPACK (RFC 7541 §5.1, §5.2, which RFC 9204 §4.1 takes over).
//!
//! Operator names (`qpack:<op>`):
//! - `qpack:required_insert_count`, `qpack:base`: the prefix refers to a dynamic table the
//!   decoder never allowed (§4.5.1.1: with a capacity of 0 any encoded Required Insert Count
//!   but 0 is QPACK_DECOMPRESSION_FAILED), or a Base below zero (§4.5.1.2);
//! - `qpack:static_index`: a static reference beyond the 99 entries of Appendix A (§3.1: "it
//!   MUST treat this as a connection error of type QPACK_DECOMPRESSION_FAILED");
//! - `qpack:dynamic_ref`: a static reference made dynamic, into a table that holds nothing
//!   (§2.2.3);
//! - `qpack:huffman`: a string's Huffman flag flipped, its padding made invalid or longer than
//!   7 bits, or the EOS symbol appended (RFC 7541 §5.2: each "MUST be treated as a decoding
//!   error");
//! - `qpack:string_length`: a string's length made 0, shorter, longer, or far longer than the
//!   section;
//! - `qpack:field_line`: a field line repeated, removed, moved first or last (§4.3 of RFC 9114:
//!   "All pseudo-header fields MUST appear in the header section before regular header
//!   fields"), or a new one: an uppercase name (RFC 9114 §4.2), a connection-specific field, an
//!   undefined pseudo-header, `:status` in a request, an empty `:path` (§4.3.1), a value with a
//!   NUL or a CR LF (§4.1.2: malformed);
//! - `qpack:encoder_stream`, `qpack:decoder_stream`: instructions on a QPACK stream of the
//!   sender's ([`instructions`]), a new STREAM frame the caller appends.

use super::frames::ty;
use super::{spliced, Layout};
use crate::mutate::varint;
use rand::Rng;

/// Decodes an integer with an `n`-bit prefix (RFC 7541 §5.1) at `buf[at..]`: its value and the
/// bytes it takes. `None` when it is cut short or overflows 62 bits.
pub fn decode_int(buf: &[u8], at: usize, n: u8) -> Option<(u64, usize)> {
    let mask = ((1u16 << n) - 1) as u8;
    let first = *buf.get(at)? & mask;
    if first < mask {
        return Some((u64::from(first), 1));
    }
    let mut value = u64::from(mask);
    let mut shift = 0;
    for (i, b) in buf.get(at + 1..)?.iter().enumerate() {
        if shift > 56 {
            return None;
        }
        value = value.checked_add(u64::from(b & 0x7f) << shift)?;
        shift += 7;
        if b & 0x80 == 0 {
            return Some((value, i + 2));
        }
    }
    None
}

/// Appends `value` with an `n`-bit prefix whose first byte carries the bits `flags` above the
/// prefix (RFC 7541 §5.1).
pub fn push_int(flags: u8, n: u8, value: u64, out: &mut Vec<u8>) {
    let mask = ((1u16 << n) - 1) as u8;
    if value < u64::from(mask) {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask);
    let mut rest = value - u64::from(mask);
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Where one string literal lies (RFC 7541 §5.2): its length prefix and its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Str {
    pub at: u32,
    /// The prefix's width in bits; the Huffman flag is the bit just above it.
    pub prefix: u8,
    pub huffman: bool,
    pub bytes_at: u32,
    pub len: u32,
}

/// The representation of a field line (RFC 9204 §4.5.2-§4.5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    Indexed,
    IndexedPostBase,
    NameRef,
    PostBaseNameRef,
    LiteralName,
}

/// Where one field line lies, and what it refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    pub kind: LineKind,
    pub at: u32,
    pub end: u32,
    /// A reference to the static table (T bit set), or to the dynamic one.
    pub static_ref: bool,
    /// The index's prefix width, for the references.
    pub index_prefix: u8,
    pub name: Option<Str>,
    pub value: Option<Str>,
}

/// One field section inside a HEADERS frame's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section {
    pub at: u32,
    pub end: u32,
    /// Where the Base (sign bit, Delta Base) starts; the Required Insert Count is at `at`.
    pub base_at: u32,
    pub lines_at: u32,
    pub first_line: u32,
    pub line_count: u32,
}

/// The field sections of a stream's data: scratch space, refilled by every parse.
#[derive(Clone, Debug, Default)]
pub struct Sections {
    pub sections: Vec<Section>,
    pub lines: Vec<Line>,
}

impl Sections {
    pub fn clear(&mut self) {
        self.sections.clear();
        self.lines.clear();
    }

    pub fn lines_of(&self, s: &Section) -> &[Line] {
        &self.lines[s.first_line as usize..(s.first_line + s.line_count) as usize]
    }

    /// Parses the field section `data[at..end]`, keeping the lines that parse; a section whose
    /// prefix does not parse is left out.
    pub fn parse(&mut self, data: &[u8], at: usize, end: usize) {
        let data = &data[..end];
        let Some((_, ric_w)) = decode_int(data, at, 8) else { return };
        let base_at = at + ric_w;
        let Some((_, base_w)) = decode_int(data, base_at, 7) else { return };
        let first_line = self.lines.len();
        let mut pos = base_at + base_w;
        while pos < end {
            match parse_line(data, pos) {
                Some(line) => {
                    pos = line.end as usize;
                    self.lines.push(line);
                }
                None => break,
            }
        }
        self.sections.push(Section {
            at: at as u32,
            end: end as u32,
            base_at: base_at as u32,
            lines_at: (base_at + base_w) as u32,
            first_line: first_line as u32,
            line_count: (self.lines.len() - first_line) as u32,
        });
    }
}

fn parse_str(data: &[u8], at: usize, prefix: u8) -> Option<Str> {
    let (len, w) = decode_int(data, at, prefix)?;
    let bytes_at = at + w;
    if len > (data.len() - bytes_at) as u64 {
        return None;
    }
    Some(Str {
        at: at as u32,
        prefix,
        huffman: data[at] >> prefix & 1 == 1,
        bytes_at: bytes_at as u32,
        len: len as u32,
    })
}

fn str_end(s: &Str) -> usize {
    (s.bytes_at + s.len) as usize
}

fn parse_line(data: &[u8], at: usize) -> Option<Line> {
    let b = *data.get(at)?;
    let line = |kind, static_ref, index_prefix, name: Option<Str>, value: Option<Str>, end: usize| Line {
        kind,
        at: at as u32,
        end: end as u32,
        static_ref,
        index_prefix,
        name,
        value,
    };
    if b & 0x80 != 0 {
        // §4.5.2: 1 T index(6+)
        let (_, w) = decode_int(data, at, 6)?;
        Some(line(LineKind::Indexed, b & 0x40 != 0, 6, None, None, at + w))
    } else if b & 0xc0 == 0x40 {
        // §4.5.4: 01 N T index(4+), then the value with a 7-bit prefix.
        let (_, w) = decode_int(data, at, 4)?;
        let v = parse_str(data, at + w, 7)?;
        Some(line(LineKind::NameRef, b & 0x10 != 0, 4, None, Some(v), str_end(&v)))
    } else if b & 0xe0 == 0x20 {
        // §4.5.6: 001 N H name-length(3+), name, value with a 7-bit prefix.
        let n = parse_str(data, at, 3)?;
        let v = parse_str(data, str_end(&n), 7)?;
        Some(line(LineKind::LiteralName, false, 0, Some(n), Some(v), str_end(&v)))
    } else if b & 0xf0 == 0x10 {
        // §4.5.3: 0001 index(4+)
        let (_, w) = decode_int(data, at, 4)?;
        Some(line(LineKind::IndexedPostBase, false, 4, None, None, at + w))
    } else {
        // §4.5.5: 0000 N index(3+), then the value.
        let (_, w) = decode_int(data, at, 3)?;
        let v = parse_str(data, at + w, 7)?;
        Some(line(LineKind::PostBaseNameRef, false, 3, None, Some(v), str_end(&v)))
    }
}

/// Field lines the HTTP/3 rules make malformed, or that stress a decoder, each a literal with a
/// literal name (§4.5.6) or an indexed static reference (§4.5.2).
const ODD_LINES: [&[u8]; 8] = [
    // "X-Fuzz: 1": RFC 9114 §4.2, "A request or response containing uppercase characters in
    // field names MUST be treated as malformed".
    b"\x26X-Fuzz\x011",
    // "connection: close": §4.2, connection-specific fields make a message malformed.
    b"\x27\x0aconnection\x05close",
    // ":fuzz: 1": §4.3, "undefined or invalid pseudo-header fields".
    b"\x25:fuzz\x011",
    // ":status: 200" (static 25) in a request, or a second one in a response.
    b"\xd9",
    // ":path" (static 1) with an empty value: §4.3.1, "MUST NOT be empty".
    b"\x51\x00",
    // "x-fuzz: a NUL b": RFC 9114 §4.1.2 with RFC 9110 §5.5.
    b"\x26x-fuzz\x03a\x00b",
    // "x-fuzz: CR LF injection".
    b"\x26x-fuzz\x06a\r\nb:c",
    // "te: gzip": §4.2, TE may only be "trailers".
    b"\x22te\x04gzip",
];

/// Applies one `qpack` operator to a field section of the stream data, writing the new data in
/// `out` (with the HEADERS frame's Length made to match): its name and offset in the data, or
/// `None` when the data hold no section the operator can work on.
pub fn mutate_section<R: Rng>(
    rng: &mut R,
    layout: &Layout,
    data: &[u8],
    out: &mut Vec<u8>,
    tmp: &mut Vec<u8>,
) -> Option<(&'static str, usize)> {
    let sections = &layout.sections;
    if sections.sections.is_empty() {
        return None;
    }
    let s = sections.sections[rng.gen_range(0..sections.sections.len())];
    let lines = sections.lines_of(&s);
    // The new section in `tmp`: (offset within the old section's bytes where it applied, name).
    let old = &data[s.at as usize..s.end as usize];
    let rel = |x: u32| (x - s.at) as usize;
    tmp.clear();
    let (name, at): (&'static str, usize) = match rng.gen_range(0..7) {
        0 => {
            let (_, w) = decode_int(old, 0, 8)?;
            push_int(0, 8, [1, 2, 255, 1 << 32][rng.gen_range(0..4)], tmp);
            tmp.extend_from_slice(&old[w..]);
            ("qpack:required_insert_count", 0)
        }
        1 => {
            let b = rel(s.base_at);
            let (_, w) = decode_int(old, b, 7)?;
            tmp.extend_from_slice(&old[..b]);
            push_int(0x80, 7, [0, 1, 1 << 20][rng.gen_range(0..3)], tmp);
            tmp.extend_from_slice(&old[b + w..]);
            ("qpack:base", b)
        }
        2 | 3 => {
            let refs = || lines.iter().filter(|l| l.index_prefix > 0);
            let n = refs().count();
            if n == 0 {
                return None;
            }
            let l = *refs().nth(rng.gen_range(0..n))?;
            let la = rel(l.at);
            let (_, w) = decode_int(old, la, l.index_prefix)?;
            let mask = ((1u16 << l.index_prefix) - 1) as u8;
            let mut flags = old[la] & !mask;
            let (index, name) = if rng.gen_range(0..2) == 0 && matches!(l.kind, LineKind::Indexed | LineKind::NameRef) {
                // §3.1: Appendix A holds entries 0 to 98.
                if l.kind == LineKind::Indexed {
                    flags |= 0x40;
                } else {
                    flags |= 0x10;
                }
                ([99, 127, 1 << 14, 1 << 40][rng.gen_range(0..4)], "qpack:static_index")
            } else {
                // The T bit cleared: a relative index into the empty dynamic table.
                match l.kind {
                    LineKind::Indexed => flags &= !0x40,
                    LineKind::NameRef => flags &= !0x10,
                    _ => {}
                }
                ([0, 1, 98][rng.gen_range(0..3)], "qpack:dynamic_ref")
            };
            tmp.extend_from_slice(&old[..la]);
            push_int(flags, l.index_prefix, index, tmp);
            tmp.extend_from_slice(&old[la + w..]);
            (name, la)
        }
        4 => {
            let strs = || lines.iter().flat_map(|l| [l.name, l.value]).flatten();
            let n = strs().count();
            if n == 0 {
                return None;
            }
            let st = strs().nth(rng.gen_range(0..n))?;
            let sa = rel(st.at);
            let (_, w) = decode_int(old, sa, st.prefix)?;
            let h = 1u8 << st.prefix;
            let flags = old[sa] & !(h | (h - 1));
            let bytes = &old[rel(st.bytes_at)..rel(st.bytes_at) + st.len as usize];
            tmp.extend_from_slice(&old[..sa]);
            let name = match rng.gen_range(0..4) {
                0 => {
                    push_int(flags | if st.huffman { 0 } else { h }, st.prefix, u64::from(st.len), tmp);
                    tmp.extend_from_slice(bytes);
                    "qpack:huffman.flag"
                }
                1 if st.len > 0 => {
                    // The last byte's padding bits cleared: not the EOS prefix.
                    push_int(flags | h, st.prefix, u64::from(st.len), tmp);
                    tmp.extend_from_slice(bytes);
                    let last = tmp.len() - 1;
                    tmp[last] &= 0xfe;
                    "qpack:huffman.padding"
                }
                2 => {
                    // Eight bits of padding more: strictly longer than 7 bits.
                    push_int(flags | h, st.prefix, u64::from(st.len) + 1, tmp);
                    tmp.extend_from_slice(bytes);
                    tmp.push(0xff);
                    "qpack:huffman.overlong_padding"
                }
                _ => {
                    // EOS is 30 ones (RFC 7541 Appendix B).
                    push_int(flags | h, st.prefix, u64::from(st.len) + 4, tmp);
                    tmp.extend_from_slice(bytes);
                    tmp.extend_from_slice(&[0xff; 4]);
                    "qpack:huffman.eos"
                }
            };
            tmp.extend_from_slice(&old[sa + w + st.len as usize..]);
            (name, sa)
        }
        5 => {
            let strs = || lines.iter().flat_map(|l| [l.name, l.value]).flatten();
            let n = strs().count();
            if n == 0 {
                return None;
            }
            let st = strs().nth(rng.gen_range(0..n))?;
            let sa = rel(st.at);
            let (_, w) = decode_int(old, sa, st.prefix)?;
            let flags = old[sa] & !((1u8 << st.prefix) - 1);
            let len = u64::from(st.len);
            let new = [0, len.saturating_sub(1), len + 1, len + 1000, 1 << 40][rng.gen_range(0..5)];
            tmp.extend_from_slice(&old[..sa]);
            push_int(flags, st.prefix, new, tmp);
            tmp.extend_from_slice(&old[sa + w..]);
            ("qpack:string_length", sa)
        }
        _ => {
            let la = rel(s.lines_at);
            let op = rng.gen_range(0..5);
            if op == 0 || lines.is_empty() {
                // A new line at a line boundary.
                let k = rng.gen_range(0..=lines.len());
                let at = lines.get(k).map_or(old.len(), |l| rel(l.at));
                spliced(old, at, 0, ODD_LINES[rng.gen_range(0..ODD_LINES.len())], tmp);
                ("qpack:field_line.insert", at)
            } else {
                let l = lines[rng.gen_range(0..lines.len())];
                let (a, e) = (rel(l.at), rel(l.end));
                let line = &old[a..e];
                // Moving the first line first, or the last one last, would change nothing.
                let op = match op {
                    3 if a == la => 4,
                    _ => op,
                };
                let op = if op == 4 && e == old.len() {
                    if a == la {
                        1
                    } else {
                        3
                    }
                } else {
                    op
                };
                match op {
                    1 => {
                        spliced(old, e, 0, line, tmp);
                        ("qpack:field_line.duplicate", a)
                    }
                    2 => {
                        spliced(old, a, e - a, &[], tmp);
                        ("qpack:field_line.remove", a)
                    }
                    3 => {
                        // Moved first.
                        tmp.extend_from_slice(&old[..la]);
                        tmp.extend_from_slice(line);
                        tmp.extend_from_slice(&old[la..a]);
                        tmp.extend_from_slice(&old[e..]);
                        ("qpack:field_line.first", a)
                    }
                    _ => {
                        // Moved last.
                        tmp.extend_from_slice(&old[..a]);
                        tmp.extend_from_slice(&old[e..]);
                        tmp.extend_from_slice(line);
                        ("qpack:field_line.last", a)
                    }
                }
            }
        }
    };
    // The HEADERS frame around the section gets the new Length.
    let f = layout.frames.iter().find(|f| f.payload_at == s.at && f.ty == ty::HEADERS)?;
    out.clear();
    out.extend_from_slice(&data[..f.len_at as usize]);
    varint::push(tmp.len() as u64, out);
    out.extend_from_slice(tmp);
    out.extend_from_slice(&data[f.end as usize..]);
    Some((name, s.at as usize + at))
}

/// The instructions of a QPACK stream the sender opens (type included), in `out`: for the
/// encoder stream (§4.3) a Set Dynamic Table Capacity beyond what the peer allowed ("The decoder
/// MUST treat a new dynamic table capacity value that exceeds this limit as a connection error
/// of type QPACK_ENCODER_STREAM_ERROR", §4.3.1), inserts that name a static entry past the
/// table or a dynamic one that does not exist (§4.3.2, §4.3.3), a Duplicate of nothing
/// (§4.3.4); for the decoder stream (§4.4) a Section Acknowledgment of a stream with nothing to
/// acknowledge (§4.4.1), a Stream Cancellation (§4.4.2), an Insert Count Increment of 0 or
/// beyond what was inserted (§4.4.3: QPACK_DECODER_STREAM_ERROR). Returns the operator's name.
pub fn instructions<R: Rng>(rng: &mut R, encoder: bool, request_stream: u64, out: &mut Vec<u8>) -> &'static str {
    out.clear();
    let count = rng.gen_range(1..=3);
    if encoder {
        varint::push(super::stream_type::QPACK_ENCODER, out);
        for _ in 0..count {
            match rng.gen_range(0..4) {
                // 001 capacity(5+)
                0 => push_int(0x20, 5, [1, 4096, 1 << 30][rng.gen_range(0..3)], out),
                // 1 T index(6+), value(7+)
                1 => {
                    let (t, index) = [(0x40, 0), (0x40, 99), (0x00, 0), (0x00, 1 << 20)][rng.gen_range(0..4)];
                    push_int(0x80 | t, 6, index, out);
                    push_int(0, 7, 1, out);
                    out.push(b'x');
                }
                // 01 H name-length(5+), name, value(7+)
                2 => {
                    push_int(0x40, 5, 6, out);
                    out.extend_from_slice(b"x-fuzz");
                    let n = [0usize, 1, 200][rng.gen_range(0..3)];
                    push_int(0, 7, n as u64, out);
                    out.resize(out.len() + n, b'v');
                }
                // 000 index(5+)
                _ => push_int(0x00, 5, [0, 1, 1 << 20][rng.gen_range(0..3)], out),
            }
        }
        "qpack:encoder_stream"
    } else {
        varint::push(super::stream_type::QPACK_DECODER, out);
        for _ in 0..count {
            match rng.gen_range(0..3) {
                // 1 stream-id(7+)
                0 => push_int(0x80, 7, [request_stream, request_stream + 4, 1 << 40][rng.gen_range(0..3)], out),
                // 01 stream-id(6+)
                1 => push_int(0x40, 6, [request_stream, 1 << 40][rng.gen_range(0..2)], out),
                // 00 increment(6+)
                _ => push_int(0x00, 6, [0, 1, 1 << 30][rng.gen_range(0..3)], out),
            }
        }
        "qpack:decoder_stream"
    }
}
