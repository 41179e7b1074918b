//! Planted faults: test aids that make the server really fail, the way real bugs do, so that the
//! harness's crash, hang and leak handling (and bisection) can be tested against a real process.
//! Off unless `--planted-fault` is given; when on, they are announced on stderr and listed in the
//! run log's `run_start` (`planted_faults`).
//!
//! - `abort-on-frame:<type>`: `std::process::abort()` as soon as a received packet carries a frame
//!   of that type (seen in the receive-side interceptor, before s2n-quic processes the frame).
//! - `hang-on-frame:<type>`: the same trigger, but the thread that runs the endpoint spins forever,
//!   as an infinite loop would: the process stays alive, burns a core and answers nothing.
//! - `abort-on-bad-key-share`: aborts when a ClientHello carries a key_share entry whose
//!   key_exchange length does not match its named group, or entries that overrun the extension
//!   (RFC 8446 §4.2.8), like a parser that copies keys into buffers sized by group. The ClientHello
//!   may span several Initial packets (post-quantum shares make it ~1.5 KB), so each connection's
//!   Initial crypto stream is reassembled ([`fuzz_s2n_glue::crypto_stream::FirstMessage`]) and checked once it holds the whole
//!   message ([`bad_key_share`]).
//! - `abort-after-frames:<type>:<N>`: aborts once N distinct connections have each sent a frame
//!   of that type, as a table that overflows after enough entries would: no single connection
//!   does it, only the accumulated state of N of them (the case bisect reports as needing
//!   history, and the triage shrinks to those N).
//! - `abort-on-retire-prior-to`: aborts when a received NEW_CONNECTION_ID frame has a Retire
//!   Prior To above 0 (RFC 9000 §19.15), like a server whose connection-ID bookkeeping asserts
//!   when its peer asks it to retire connection IDs (§5.1.2: "An endpoint can request that its
//!   peer retire connection IDs by sending a NEW_CONNECTION_ID frame with an increased Retire
//!   Prior To field"). Clean s2n-quic clients trip it: once the handshake is confirmed they
//!   rotate away from their handshake connection ID with Retire Prior To 1 (fuzz-client
//!   `--handshake-cid-rotation off` does not).
//! - `leak:<bytes>`: leak that much memory for every connection the server creates, written to so
//!   that it is resident (and shows in VmRSS), never freed.
//! - `leak-on-frame:<type>:<bytes>`: leak that much memory, the same way, every time a received
//!   packet carries a frame of that type: only the connections a mutation gives that frame leak,
//!   so that triage has culprits to find among connections that do not. The first such leak of a
//!   process says so on stderr (once: a line per packet would crowd out a real report).
//! - `close-code:<from>:<to>`: planted non-compliance, for the RFC oracle (`shared/src/oracle/`):
//!   the server's CONNECTION_CLOSE frames (RFC 9000 §19.19, type 0x1c) that carry the transport
//!   error code `from` go out with `to` instead, as a server that closes over the right error
//!   with the wrong code would. `close-code:0x0a:0x07` reports every PROTOCOL_VIOLATION as a
//!   FRAME_ENCODING_ERROR. The server stays up.

use fuzz_s2n_glue::crypto_stream::{first_frame_of, retiring_new_connection_id};
use fuzz_shared::mutate::tls::{ext, group, msg, read_be, Layout};
use std::fmt;
use std::str::FromStr;

/// One planted fault, as parsed from `--planted-fault`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlantedFault {
    AbortOnFrame(FrameTypes),
    HangOnFrame(FrameTypes),
    AbortOnBadKeyShare,
    AbortAfterFrames(FrameTypes, u32),
    AbortOnRetirePriorTo,
    Leak(usize),
    LeakOnFrame(FrameTypes, usize),
    CloseCode { from: u64, to: u64 },
}

/// A set of frame types: a named type covers all its wire values (`stream` is 0x08..=0x0f); a
/// number names exactly one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameTypes {
    pub name: Option<&'static str>,
    pub first: u64,
    pub last: u64,
}

impl FrameTypes {
    pub fn contains(&self, frame_type: u64) -> bool {
        (self.first..=self.last).contains(&frame_type)
    }
}

/// Frame types by name: RFC 9000 §19 (Table 3 of §12.4), DATAGRAM (RFC 9221 §4), the
/// ACK_FREQUENCY / IMMEDIATE_ACK frames of draft-ietf-quic-ack-frequency-14, RESET_STREAM_AT of
/// draft-ietf-quic-reliable-stream-reset-09 and the frames of draft-ietf-quic-multipath-18 §4:
/// the frames the mutation engine inserts (`shared/src/mutate/frame/`).
const FRAME_NAMES: &[(&str, u64, u64)] = &[
    ("padding", 0x00, 0x00),
    ("ping", 0x01, 0x01),
    ("ack", 0x02, 0x03),
    ("reset_stream", 0x04, 0x04),
    ("stop_sending", 0x05, 0x05),
    ("crypto", 0x06, 0x06),
    ("new_token", 0x07, 0x07),
    ("stream", 0x08, 0x0f),
    ("max_data", 0x10, 0x10),
    ("max_stream_data", 0x11, 0x11),
    ("max_streams", 0x12, 0x13),
    ("data_blocked", 0x14, 0x14),
    ("stream_data_blocked", 0x15, 0x15),
    ("streams_blocked", 0x16, 0x17),
    ("new_connection_id", 0x18, 0x18),
    ("retire_connection_id", 0x19, 0x19),
    ("path_challenge", 0x1a, 0x1a),
    ("path_response", 0x1b, 0x1b),
    ("connection_close", 0x1c, 0x1d),
    ("handshake_done", 0x1e, 0x1e),
    ("immediate_ack", 0x1f, 0x1f),
    ("reset_stream_at", 0x24, 0x24),
    ("datagram", 0x30, 0x31),
    ("path_ack", 0x3e, 0x3f),
    ("ack_frequency", 0xaf, 0xaf),
    ("path_abandon", 0x3e75, 0x3e75),
    ("path_status", 0x3e76, 0x3e77),
    ("path_new_connection_id", 0x3e78, 0x3e78),
    ("path_retire_connection_id", 0x3e79, 0x3e79),
    ("max_path_id", 0x3e7a, 0x3e7a),
    ("paths_blocked", 0x3e7b, 0x3e7b),
    ("path_cids_blocked", 0x3e7c, 0x3e7c),
];

/// The largest varint (RFC 9000 §16): frame types are varints.
const MAX_VARINT: u64 = (1 << 62) - 1;
/// A bound on `leak:` so that a typo does not exhaust the machine on the first connection.
const MAX_LEAK: usize = 1 << 30;

impl fmt::Display for FrameTypes {
    /// The name, or the number in hex: what `--planted-fault` accepts back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            Some(name) => f.write_str(name),
            None => write!(f, "{:#04x}", self.first),
        }
    }
}

impl FromStr for FrameTypes {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase().replace('-', "_");
        if let Some(&(name, first, last)) = FRAME_NAMES.iter().find(|(n, _, _)| *n == lower) {
            return Ok(FrameTypes { name: Some(name), first, last });
        }
        let number = match lower.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => lower.parse::<u64>().ok(),
        };
        match number {
            Some(n) if n <= MAX_VARINT => Ok(FrameTypes { name: None, first: n, last: n }),
            _ => Err(format!(
                "unknown frame type {s:?}: use a name ({}) or a number such as 0x07",
                FRAME_NAMES.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

/// The fault specs, for error messages.
const FAULT_SPECS: &str = "abort-on-frame:<type>, hang-on-frame:<type>, abort-after-frames:<type>:<N>, \
                           abort-on-bad-key-share, abort-on-retire-prior-to, leak:<bytes>, \
                           leak-on-frame:<type>:<bytes> or close-code:<from>:<to>";

impl FromStr for PlantedFault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, arg) = match s.split_once(':') {
            Some((kind, arg)) => (kind.trim(), Some(arg)),
            None => (s.trim(), None),
        };
        let needs = |what: &str| format!("{kind} needs {what}: {kind}:<{what}>");
        match (kind, arg) {
            ("abort-on-frame", Some(arg)) => Ok(PlantedFault::AbortOnFrame(arg.parse()?)),
            ("hang-on-frame", Some(arg)) => Ok(PlantedFault::HangOnFrame(arg.parse()?)),
            ("abort-on-frame" | "hang-on-frame", None) => Err(needs("type")),
            ("abort-on-bad-key-share", None) => Ok(PlantedFault::AbortOnBadKeyShare),
            ("abort-on-bad-key-share", Some(arg)) => {
                Err(format!("abort-on-bad-key-share takes no argument (got {arg:?})"))
            }
            ("abort-on-retire-prior-to", None) => Ok(PlantedFault::AbortOnRetirePriorTo),
            ("abort-on-retire-prior-to", Some(arg)) => {
                Err(format!("abort-on-retire-prior-to takes no argument (got {arg:?})"))
            }
            ("abort-after-frames", Some(arg)) => {
                let (types, n) = arg.rsplit_once(':').ok_or_else(|| needs("type>:<N"))?;
                let n = n.trim().parse::<u32>().ok().filter(|&n| n > 0).ok_or_else(|| {
                    format!("abort-after-frames: bad count {n:?}: a number of connections, 1 or more")
                })?;
                Ok(PlantedFault::AbortAfterFrames(types.parse()?, n))
            }
            ("abort-after-frames", None) => Err(needs("type>:<N")),
            ("leak", Some(arg)) => Ok(PlantedFault::Leak(leak_size(arg, "per connection")?)),
            ("leak", None) => Err(needs("bytes")),
            ("leak-on-frame", Some(arg)) => {
                let (frame, bytes) = arg.split_once(':').ok_or_else(|| {
                    format!("leak-on-frame needs a type and a size: leak-on-frame:<type>:<bytes> (got {arg:?})")
                })?;
                Ok(PlantedFault::LeakOnFrame(frame.parse()?, leak_size(bytes, "per packet")?))
            }
            ("close-code", Some(arg)) => {
                let bad =
                    || format!("close-code needs two transport error codes: close-code:<from>:<to> (got {arg:?})");
                let (from, to) = arg.split_once(':').ok_or_else(bad)?;
                let (from, to) = (error_code(from).ok_or_else(bad)?, error_code(to).ok_or_else(bad)?);
                // Rewritten in place: the new code must fit the old one's encoding.
                if fuzz_shared::mutate::varint::encoded_len(to) > fuzz_shared::mutate::varint::encoded_len(from) {
                    return Err(format!("close-code: {to:#x} does not fit the encoding of {from:#x}"));
                }
                Ok(PlantedFault::CloseCode { from, to })
            }
            ("close-code", None) => Err(needs("from>:<to")),
            ("leak-on-frame", None) => {
                Err("leak-on-frame needs a type and a size: leak-on-frame:<type>:<bytes>".into())
            }
            _ => Err(format!("unknown fault {s:?}: expected {FAULT_SPECS}")),
        }
    }
}

/// A transport error code, in hex (`0x0a`) or decimal, at most the largest varint.
fn error_code(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let v = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => s.parse().ok()?,
    };
    (v <= MAX_VARINT).then_some(v)
}

/// A leak's size, 1 byte to [`MAX_LEAK`]; `per` says per what, for the error. Sizes are read
/// as the client's options read them ([`fuzz_shared::leak::parse_size`]).
fn leak_size(arg: &str, per: &str) -> Result<usize, String> {
    let bytes = fuzz_shared::leak::parse_size(arg).ok_or_else(|| {
        format!("bad leak size {arg:?}: expected bytes, e.g. 1048576 or 1M (K, M, G are powers of 1024)")
    })?;
    if bytes == 0 || bytes > MAX_LEAK as u64 {
        return Err(format!("leak size {bytes} out of range: 1 byte to 1G {per}"));
    }
    Ok(bytes as usize)
}

impl fmt::Display for PlantedFault {
    /// The canonical form logged in `run_start`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlantedFault::AbortOnFrame(t) => write!(f, "abort-on-frame:{t}"),
            PlantedFault::HangOnFrame(t) => write!(f, "hang-on-frame:{t}"),
            PlantedFault::AbortOnBadKeyShare => write!(f, "abort-on-bad-key-share"),
            PlantedFault::AbortAfterFrames(t, n) => write!(f, "abort-after-frames:{t}:{n}"),
            PlantedFault::AbortOnRetirePriorTo => write!(f, "abort-on-retire-prior-to"),
            PlantedFault::Leak(bytes) => write!(f, "leak:{bytes}"),
            PlantedFault::LeakOnFrame(t, bytes) => write!(f, "leak-on-frame:{t}:{bytes}"),
            PlantedFault::CloseCode { from, to } => write!(f, "close-code:{from:#04x}:{to:#04x}"),
        }
    }
}

/// The faults of one run, split by where they act.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    pub abort_on: Vec<FrameTypes>,
    pub hang_on: Vec<FrameTypes>,
    pub abort_on_bad_key_share: bool,
    pub abort_on_retire_prior_to: bool,
    pub leak_per_connection: usize,
    /// `abort-after-frames`: the frame types, the count, and the connections seen so far.
    pub abort_after: Vec<(FrameTypes, u32, std::collections::HashSet<u64>)>,
    /// `leak-on-frame`: bytes leaked for each received packet carrying a frame of the type.
    pub leak_on: Vec<(FrameTypes, usize)>,
    /// `close-code`: the transport error codes the server's closes misreport, and as what.
    pub close_code: Vec<(u64, u64)>,
}

impl Faults {
    pub fn new(faults: &[PlantedFault]) -> Self {
        let mut out = Faults::default();
        for fault in faults {
            match fault {
                PlantedFault::AbortOnFrame(t) => out.abort_on.push(t.clone()),
                PlantedFault::HangOnFrame(t) => out.hang_on.push(t.clone()),
                PlantedFault::AbortOnBadKeyShare => out.abort_on_bad_key_share = true,
                PlantedFault::AbortAfterFrames(t, n) => out.abort_after.push((t.clone(), *n, Default::default())),
                PlantedFault::AbortOnRetirePriorTo => out.abort_on_retire_prior_to = true,
                PlantedFault::Leak(bytes) => out.leak_per_connection += bytes,
                PlantedFault::LeakOnFrame(t, bytes) => out.leak_on.push((t.clone(), *bytes)),
                PlantedFault::CloseCode { from, to } => out.close_code.push((*from, *to)),
            }
        }
        out
    }

    /// Rewrites the error code of the CONNECTION_CLOSE frames in `payload` (the cleartext frames
    /// of a packet the server sends) that `close-code` faults name; whether it rewrote one.
    pub fn misreport_close(&self, payload: &mut [u8]) -> bool {
        use fuzz_shared::mutate::{frame, varint};
        if self.close_code.is_empty() {
            return false;
        }
        let mut frames = frame::Frames::default();
        frames.parse(payload);
        let mut rewrote = false;
        for f in &frames.frames {
            if f.ty != frame::ty::CONNECTION_CLOSE {
                continue;
            }
            let Some(code) = frames.fields_of(f).first().copied() else { continue };
            let Some((value, width)) = varint::decode(payload, code.at as usize) else { continue };
            if let Some(&(_, to)) = self.close_code.iter().find(|(from, _)| *from == value) {
                rewrote |= varint::write_with_width(to, width, &mut payload[code.at as usize..]);
            }
        }
        rewrote
    }

    /// Whether any fault looks at received packets.
    pub fn inspects_received(&self) -> bool {
        !self.abort_on.is_empty()
            || !self.hang_on.is_empty()
            || self.abort_on_bad_key_share
            || !self.abort_after.is_empty()
            || !self.leak_on.is_empty()
            || self.abort_on_retire_prior_to
    }

    /// Counts connection `conn` for each `abort-after-frames` fault whose frame type `payload`
    /// carries, and aborts the process once a fault has counted its N connections.
    pub fn count_received(&mut self, conn: u64, payload: &mut [u8]) {
        for (types, n, seen) in &mut self.abort_after {
            if first_frame_of(payload, |t| types.contains(t)).is_some() && seen.insert(conn) && seen.len() as u32 >= *n
            {
                eprintln!(
                    "fuzz-server: PLANTED FAULT: {n} connections have sent a frame of type {types}, aborting on purpose"
                );
                std::process::abort();
            }
        }
    }

    /// Aborts the process, or hangs the calling thread forever, if `payload` (the cleartext
    /// frames of one received packet) carries a frame of a planted type. The caller must hold
    /// no lock the rest of the process needs (the registry's): a hung endpoint must still let the
    /// server shut down on SIGTERM.
    pub fn check_received(&self, payload: &mut [u8]) {
        self.leak_on_received(payload);
        if self.abort_on_retire_prior_to {
            if let Some((seq, retire_prior_to)) = retiring_new_connection_id(payload) {
                eprintln!(
                    "fuzz-server: PLANTED FAULT: received NEW_CONNECTION_ID (sequence {seq}) with Retire Prior To \
                     {retire_prior_to}, aborting on purpose"
                );
                std::process::abort();
            }
        }
        if self.abort_on.is_empty() && self.hang_on.is_empty() {
            return;
        }
        let planted = |t: u64, sets: &[FrameTypes]| sets.iter().any(|set| set.contains(t));
        let Some(t) = first_frame_of(payload, |t| planted(t, &self.abort_on) || planted(t, &self.hang_on)) else {
            return;
        };
        if planted(t, &self.abort_on) {
            eprintln!("fuzz-server: PLANTED FAULT: received a frame of type {t:#04x}, aborting on purpose");
            std::process::abort();
        }
        eprintln!(
            "fuzz-server: PLANTED FAULT: received a frame of type {t:#04x}, hanging on purpose (the endpoint spins \
             forever and answers nothing)"
        );
        hang_forever()
    }

    /// Aborts the process if `hello` (a whole ClientHello) has a bad key_share, when that fault
    /// is planted.
    pub fn check_client_hello(&self, hello: &[u8], cid: Option<fuzz_shared::Cid>) {
        if !self.abort_on_bad_key_share {
            return;
        }
        if let Some(bad) = bad_key_share(hello) {
            let of = cid.map(|c| format!(" of connection {c}")).unwrap_or_default();
            eprintln!("fuzz-server: PLANTED FAULT: ClientHello{of} with {bad}, aborting on purpose");
            std::process::abort();
        }
    }

    /// Leaks `leak_per_connection` bytes, every page written so that it counts as resident.
    pub fn leak_for_connection(&self) {
        if self.leak_per_connection > 0 {
            leak_resident(self.leak_per_connection);
        }
    }

    /// `leak-on-frame`: the bytes to leak for one received packet (`payload`, its cleartext
    /// frames), and the frame type that first tripped (of the first fault, in the order given);
    /// each planted type counts once per packet however many of its frames the packet has.
    pub fn leak_of_packet(&self, payload: &mut [u8]) -> Option<(u64, usize)> {
        let mut found = None;
        for (types, bytes) in &self.leak_on {
            if let Some(t) = first_frame_of(payload, |t| types.contains(t)) {
                let (first, total) = found.unwrap_or((t, 0));
                found = Some((first, total + bytes));
            }
        }
        found
    }

    fn leak_on_received(&self, payload: &mut [u8]) {
        if self.leak_on.is_empty() {
            return;
        }
        if let Some((t, bytes)) = self.leak_of_packet(payload) {
            static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
                eprintln!(
                    "fuzz-server: PLANTED FAULT: received a frame of type {t:#04x}, leaking {bytes} bytes on purpose \
                     (and as much for every packet that carries one; said once)"
                );
            }
            leak_resident(bytes);
        }
    }
}

/// Leaks `bytes`, written to so that they are resident.
fn leak_resident(bytes: usize) {
    // A non-zero fill writes every byte (a zeroed allocation could stay unmapped), and
    // black_box keeps the compiler from eliding an allocation nobody reads.
    let leaked: &'static mut [u8] = Vec::leak(vec![0xa5u8; bytes]);
    std::hint::black_box(leaked);
}

/// An infinite loop that keeps its core busy, as a real one would (no sleeping, no yielding).
fn hang_forever() -> ! {
    loop {
        std::hint::spin_loop();
    }
}

/// What is wrong with a ClientHello's key_share (RFC 8446 §4.2.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadKeyShare {
    /// A share of a group whose keys have one size, with another size.
    WrongLength { group: u16, len: usize, expected: usize },
    /// The entries (or the client_shares list) run past the end of the extension, or end in a
    /// piece of an entry.
    Overrun,
}

impl fmt::Display for BadKeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadKeyShare::WrongLength { group, len, expected } => {
                write!(
                    f,
                    "a key_share entry for group {group:#06x} with a {len}-byte key_exchange ({expected} expected)"
                )
            }
            BadKeyShare::Overrun => write!(f, "key_share entries overrunning the extension"),
        }
    }
}

/// Checks the key_share extension of a whole ClientHello (`hello`, from its 4-byte header on):
///
/// ```text
/// struct { NamedGroup group; opaque key_exchange<1..2^16-1>; } KeyShareEntry;
/// struct { KeyShareEntry client_shares<0..2^16-1>; } KeyShareClientHello;
/// ```
///
/// "Clients MUST NOT offer any KeyShareEntry values for groups not listed in the client's
/// supported_groups extension", and each key_exchange has its group's format (§4.2.8.1,
/// §4.2.8.2), hence its size for the groups of [`group::key_exchange_len`]; shares of other
/// groups are not checked. Only the first key_share extension is looked at. `None` for a
/// message that is no ClientHello, has no key_share, or whose key_share is sound.
pub fn bad_key_share(hello: &[u8]) -> Option<BadKeyShare> {
    let mut layout = Layout::default();
    if !layout.parse_message(hello) || layout.msg_type != msg::CLIENT_HELLO {
        return None;
    }
    let extension = layout.extensions[layout.shares_ext?];
    debug_assert_eq!(extension.ty, ext::KEY_SHARE);
    // The extension ends where it says, unless the extension block or the message ends first.
    let block_end = layout.extensions_at.map_or(hello.len(), |at| at + 2 + read_be(hello, at, 2));
    let limit = extension.end.min(block_end).min(layout.msg_end).min(hello.len());
    // Not even room for the list's length: reading it overruns.
    let Some(list_at) = layout.shares_list_at else { return Some(BadKeyShare::Overrun) };
    let list_end = list_at + 2 + read_be(hello, list_at, 2);
    for share in &layout.shares {
        if share.end > list_end.min(limit) {
            return Some(BadKeyShare::Overrun);
        }
        let group = read_be(hello, share.at, 2) as u16;
        let len = share.end - share.key_at;
        match group::key_exchange_len(group) {
            Some(expected) if expected != len => return Some(BadKeyShare::WrongLength { group, len, expected }),
            _ => {}
        }
    }
    // The entries must fill the list exactly: what is left is a piece of an entry whose header
    // runs past the list.
    let covered = layout.shares.last().map_or(list_at + 2, |s| s.end);
    (list_end > limit || covered != list_end).then_some(BadKeyShare::Overrun)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `close-code` rewrites the code of the server's transport closes only, in place.
    #[test]
    fn close_code_misreports_the_named_code() {
        let f: PlantedFault = "close-code:0x0a:7".parse().unwrap();
        assert_eq!(f, PlantedFault::CloseCode { from: 0x0a, to: 0x07 });
        assert_eq!(f.to_string(), "close-code:0x0a:0x07");
        assert_eq!(f.to_string().parse::<PlantedFault>().unwrap(), f);
        assert!("close-code:0x0a:0x4000".parse::<PlantedFault>().unwrap_err().contains("does not fit"));
        assert!("close-code:0x0a".parse::<PlantedFault>().is_err());
        assert!("close-code:x:y".parse::<PlantedFault>().is_err());
        let faults = Faults::new(&[f]);
        // PING, then CONNECTION_CLOSE(PROTOCOL_VIOLATION, frame type 0x06, no reason).
        let mut payload = [0x01, 0x1c, 0x0a, 0x06, 0x00];
        assert!(faults.misreport_close(&mut payload));
        assert_eq!(payload, [0x01, 0x1c, 0x07, 0x06, 0x00]);
        let mut other = [0x1c, 0x03, 0x00, 0x00];
        assert!(!faults.misreport_close(&mut other), "another code stays");
        let mut app = [0x1d, 0x0a, 0x00];
        assert!(!faults.misreport_close(&mut app), "an application close stays");
        assert_eq!(app, [0x1d, 0x0a, 0x00]);
    }

    #[test]
    fn parses_fault_specs() {
        let f: PlantedFault = "abort-on-frame:new_token".parse().unwrap();
        assert_eq!(f, PlantedFault::AbortOnFrame(FrameTypes { name: Some("new_token"), first: 7, last: 7 }));
        assert_eq!(f.to_string(), "abort-on-frame:new_token");
        let f: PlantedFault = "abort-on-frame:path-status".parse().unwrap();
        assert_eq!(
            f,
            PlantedFault::AbortOnFrame(FrameTypes { name: Some("path_status"), first: 0x3e76, last: 0x3e77 })
        );
        let f: PlantedFault = "abort-on-frame:0x07".parse().unwrap();
        assert_eq!(f, PlantedFault::AbortOnFrame(FrameTypes { name: None, first: 7, last: 7 }));
        assert_eq!(f.to_string(), "abort-on-frame:0x07");
        let f: PlantedFault = "abort-on-frame:ACK-FREQUENCY".parse().unwrap();
        assert_eq!(f.to_string(), "abort-on-frame:ack_frequency");
        let PlantedFault::AbortOnFrame(stream) = "abort-on-frame:stream".parse().unwrap() else { panic!() };
        assert!(stream.contains(0x08) && stream.contains(0x0f) && !stream.contains(0x10));
        let PlantedFault::AbortOnFrame(dg) = "abort-on-frame:datagram".parse().unwrap() else { panic!() };
        assert!(dg.contains(0x30) && dg.contains(0x31));
        assert!("abort-on-frame:path_challenge".parse::<PlantedFault>().is_ok());
        assert_eq!("leak:1048576".parse::<PlantedFault>().unwrap(), PlantedFault::Leak(1 << 20));
        assert_eq!("leak:64K".parse::<PlantedFault>().unwrap(), PlantedFault::Leak(64 << 10));
        assert_eq!("leak:2MiB".parse::<PlantedFault>().unwrap(), PlantedFault::Leak(2 << 20));
        let f: PlantedFault = "hang-on-frame:new_token".parse().unwrap();
        assert_eq!(f, PlantedFault::HangOnFrame(FrameTypes { name: Some("new_token"), first: 7, last: 7 }));
        assert_eq!(f.to_string(), "hang-on-frame:new_token");
        assert_eq!("hang-on-frame:0x1a".parse::<PlantedFault>().unwrap().to_string(), "hang-on-frame:0x1a");
        let f: PlantedFault = "abort-on-bad-key-share".parse().unwrap();
        assert_eq!(f, PlantedFault::AbortOnBadKeyShare);
        assert_eq!(f.to_string(), "abort-on-bad-key-share");
        // Every canonical form parses back to the same fault.
        let f: PlantedFault = "abort-after-frames:new_token:3".parse().unwrap();
        assert_eq!(f, PlantedFault::AbortAfterFrames(FrameTypes { name: Some("new_token"), first: 7, last: 7 }, 3));
        assert!("abort-after-frames:new_token".parse::<PlantedFault>().is_err(), "a count is needed");
        assert!("abort-after-frames:new_token:0".parse::<PlantedFault>().is_err());
        assert!("abort-after-frames:nonsense:2".parse::<PlantedFault>().is_err());
        let f: PlantedFault = "leak-on-frame:new_token:4M".parse().unwrap();
        assert_eq!(f, PlantedFault::LeakOnFrame(FrameTypes { name: Some("new_token"), first: 7, last: 7 }, 4 << 20));
        assert_eq!(f.to_string(), "leak-on-frame:new_token:4194304");
        let f: PlantedFault = "abort-on-retire-prior-to".parse().unwrap();
        assert_eq!(f, PlantedFault::AbortOnRetirePriorTo);
        assert!(Faults::new(&[f]).inspects_received());
        for spec in [
            "abort-on-frame:stream",
            "hang-on-frame:0x07",
            "abort-on-bad-key-share",
            "abort-on-retire-prior-to",
            "leak:1024",
            "abort-after-frames:0x07:2",
            "leak-on-frame:0x1a:64K",
        ] {
            let f: PlantedFault = spec.parse().unwrap();
            assert_eq!(f.to_string().parse::<PlantedFault>().unwrap(), f, "{spec}");
        }
        // abort-after-frames counts connections, not frames: the same connection twice is one.
        let mut counting = Faults::new(&["abort-after-frames:ping:2".parse().unwrap()]);
        assert!(counting.inspects_received());
        let mut ping = [0x01u8];
        counting.count_received(1, &mut ping);
        counting.count_received(1, &mut ping);
        let mut padding = [0x00u8, 0x00];
        counting.count_received(2, &mut padding);
        assert_eq!(counting.abort_after[0].2.len(), 1, "one connection sent a ping");
        let faults = Faults::new(&[
            "hang-on-frame:ping".parse().unwrap(),
            "abort-on-bad-key-share".parse().unwrap(),
            "leak:1K".parse().unwrap(),
            "leak:1K".parse().unwrap(),
        ]);
        assert!(faults.abort_on.is_empty() && faults.hang_on.len() == 1 && faults.abort_on_bad_key_share);
        assert_eq!(faults.leak_per_connection, 2048);
        assert!(faults.inspects_received());
        assert!(!Faults::new(&[PlantedFault::Leak(1)]).inspects_received());
    }

    #[test]
    fn rejects_bad_specs_with_a_reason() {
        for bad in [
            "",
            "leak",
            "leak:",
            "leak:0",
            "leak:abc",
            "leak:2G",
            "leak-on-frame",
            "leak-on-frame:new_token",
            "leak-on-frame:new_token:",
            "leak-on-frame:nope:1M",
            "leak-on-frame:new_token:0",
            "leak-on-frame:new_token:2G",
            "leak-on-frame::1M",
            "abort-on-frame:",
            "abort-on-frame:nope",
            "abort-on-frame:0xzz",
            "abort-on-frame:0x4000000000000000",
            "abort-on-frame",
            "hang-on-frame",
            "hang-on-frame:",
            "hang-on-frame:nope",
            "abort-on-bad-key-share:",
            "abort-on-bad-key-share:x25519",
            "abort-on-bad-key-shares",
            "abort-on-retire-prior-to:1",
            "crash:now",
            "crash",
        ] {
            let err = bad.parse::<PlantedFault>().unwrap_err();
            assert!(!err.is_empty() && !err.contains('\n'), "{bad}: {err}");
        }
        assert!("abort-on-frame:bogus".parse::<PlantedFault>().unwrap_err().contains("new_token"));
        assert!("hang-on-frame:bogus".parse::<PlantedFault>().unwrap_err().contains("new_token"));
        assert!("hang-on-frame".parse::<PlantedFault>().unwrap_err().contains("hang-on-frame:<type>"));
        assert!("abort-on-bad-key-share:1".parse::<PlantedFault>().unwrap_err().contains("takes no argument"));
        assert!("crash".parse::<PlantedFault>().unwrap_err().contains("abort-on-bad-key-share"));
        assert!("leak-on-frame:new_token".parse::<PlantedFault>().unwrap_err().contains("<type>:<bytes>"));
        assert!("leak-on-frame:new_token:3G".parse::<PlantedFault>().unwrap_err().contains("per packet"));
    }

    #[test]
    fn leaks_on_packets_that_carry_the_frame_only() {
        let faults =
            Faults::new(&["leak-on-frame:new_token:1K".parse().unwrap(), "leak-on-frame:ping:2".parse().unwrap()]);
        assert!(faults.inspects_received());
        // PING, then NEW_TOKEN with a 2-byte token, twice: each type counts once per packet.
        let mut both = [0x01, 0x07, 0x02, 0xaa, 0xbb, 0x07, 0x01, 0xcc];
        assert_eq!(faults.leak_of_packet(&mut both), Some((0x07, 1024 + 2)));
        let mut token = [0x07, 0x02, 0xaa, 0xbb, 0x00, 0x00];
        assert_eq!(faults.leak_of_packet(&mut token), Some((0x07, 1024)));
        let mut neither = [0x00, 0x00, 0x00];
        assert_eq!(faults.leak_of_packet(&mut neither), None);
        assert_eq!(Faults::default().leak_of_packet(&mut token), None);
    }

    /// A TLS vector: `body` after its length in `width` bytes.
    fn vector(width: usize, body: &[u8]) -> Vec<u8> {
        let mut out = body.len().to_be_bytes()[8 - width..].to_vec();
        out.extend_from_slice(body);
        out
    }

    /// A minimal ClientHello whose only extension is key_share, with one entry of `len` bytes
    /// per `(group, len)`, every length consistent.
    fn hello_with_shares(shares: &[(u16, usize)]) -> Vec<u8> {
        let entries: Vec<u8> = shares
            .iter()
            .flat_map(|&(g, len)| [g.to_be_bytes().to_vec(), vector(2, &vec![0x42; len])].concat())
            .collect();
        let key_share = [ext::KEY_SHARE.to_be_bytes().to_vec(), vector(2, &vector(2, &entries))].concat();
        let body = [
            &[3, 3][..],
            &[7; 32],
            &vector(1, &[]),
            &vector(2, &[0x13, 0x01]),
            &vector(1, &[0]),
            &vector(2, &key_share),
        ]
        .concat();
        [vec![msg::CLIENT_HELLO], vector(3, &body)].concat()
    }

    /// The layout of a ClientHello, to find the fields to break.
    fn layout(hello: &[u8]) -> Layout {
        let mut l = Layout::default();
        assert!(l.parse_message(hello));
        l
    }

    #[test]
    fn sound_key_shares_pass() {
        for seed in 0..4 {
            assert_eq!(bad_key_share(&fuzz_shared::mutate::corpus::client_hello(seed)), None);
            assert_eq!(bad_key_share(&fuzz_shared::mutate::corpus::client_hello_pq(seed)), None);
        }
        assert_eq!(bad_key_share(&hello_with_shares(&[])), None);
        let all = [(0x1d, 32), (0x1e, 56), (0x17, 65), (0x18, 97), (0x19, 133), (0x11ec, 1216), (0x11eb, 1249)];
        assert_eq!(bad_key_share(&hello_with_shares(&all)), None);
        // Groups without a fixed size (FFDHE, GREASE, unknown) are not checked.
        assert_eq!(bad_key_share(&hello_with_shares(&[(0x0100, 256), (0x0a0a, 1), (0x1234, 7)])), None);
        // Not a ClientHello, no key_share, not even a header: nothing to say.
        let mut server_hello = hello_with_shares(&[(0x1d, 31)]);
        server_hello[0] = msg::SERVER_HELLO;
        assert_eq!(bad_key_share(&server_hello), None);
        assert_eq!(bad_key_share(&[1, 0]), None);
    }

    #[test]
    fn key_exchange_of_the_wrong_size_for_its_group() {
        let wrong = |group: u16, len: usize, expected: usize| Some(BadKeyShare::WrongLength { group, len, expected });
        assert_eq!(bad_key_share(&hello_with_shares(&[(0x1d, 33)])), wrong(0x1d, 33, 32));
        assert_eq!(bad_key_share(&hello_with_shares(&[(0x1d, 32), (0x17, 64)])), wrong(0x17, 64, 65));
        assert_eq!(bad_key_share(&hello_with_shares(&[(0x11ec, 1215)])), wrong(0x11ec, 1215, 1216));
        // A realistic hello whose x25519 share is relabelled secp384r1 (tls:key_share.group).
        let mut hello = fuzz_shared::mutate::corpus::client_hello_pq(1);
        let x25519 = layout(&hello).shares[1];
        hello[x25519.at..x25519.at + 2].copy_from_slice(&0x0018u16.to_be_bytes());
        assert_eq!(bad_key_share(&hello), wrong(0x18, 32, 97));
        let reason = bad_key_share(&hello).unwrap().to_string();
        assert!(reason.contains("0x0018") && reason.contains("32-byte key_exchange (97 expected)"), "{reason}");
    }

    #[test]
    fn entries_overrunning_the_extension() {
        let overrun = Some(BadKeyShare::Overrun);
        // One key_exchange length made longer (tls:key_share.length): the entry runs past the list.
        let mut hello = fuzz_shared::mutate::corpus::client_hello(3);
        let last = *layout(&hello).shares.last().unwrap();
        hello[last.at + 3] += 1;
        assert_eq!(bad_key_share(&hello), overrun);
        // Made shorter: a wrong size for the group, and the rest of the list is a piece of an
        // entry (which is what is left to see for a group of no fixed size).
        hello[last.at + 3] -= 2;
        assert_eq!(bad_key_share(&hello), Some(BadKeyShare::WrongLength { group: 0x17, len: 64, expected: 65 }));
        let mut hello = hello_with_shares(&[(0x1234, 10)]);
        let share = layout(&hello).shares[0];
        hello[share.at + 3] = 9;
        assert_eq!(bad_key_share(&hello), overrun);
        // The list's length (tls:key_share.list_length) longer or shorter than its entries.
        for delta in [1i32, -1, 200] {
            let mut hello = fuzz_shared::mutate::corpus::client_hello(3);
            let at = layout(&hello).shares_list_at.unwrap();
            let n = read_be(&hello, at, 2) as i32 + delta;
            hello[at..at + 2].copy_from_slice(&(n as u16).to_be_bytes());
            assert_eq!(bad_key_share(&hello), overrun, "list length {delta:+}");
        }
        // An extension too short to hold the list's length.
        let mut hello = hello_with_shares(&[]);
        let l = layout(&hello);
        let e = l.extensions[l.shares_ext.unwrap()];
        hello[e.at + 3] = 1;
        assert_eq!(bad_key_share(&hello), overrun);
    }
}
