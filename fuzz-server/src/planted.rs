//! Planted faults: test aids that make the server really fail, so the harness's crash and leak
//! handling can be tested against a real process. Off unless `--planted-fault` is given; when on,
//! they are announced on stderr and listed in the run log's `run_start` (`planted_faults`).
//!
//! - `abort-on-frame:<type>`: `std::process::abort()` as soon as a received packet carries a frame
//!   of that type (seen in the receive-side interceptor, before s2n-quic processes the frame).
//! - `leak:<bytes>`: leak that much memory for every connection the server creates, written to so
//!   that it is resident (and shows in VmRSS), never freed.

use s2n_codec::DecoderBufferMut;
use s2n_quic_core::frame::FrameMut;
use std::fmt;
use std::str::FromStr;

/// One planted fault, as parsed from `--planted-fault`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlantedFault {
    AbortOnFrame(FrameTypes),
    Leak(usize),
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

/// Frame types by name: RFC 9000 §19 (Table 3 of §12.4), DATAGRAM (RFC 9221 §4) and the
/// ACK_FREQUENCY / IMMEDIATE_ACK frames of draft-ietf-quic-ack-frequency.
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
    ("datagram", 0x30, 0x31),
    ("ack_frequency", 0xaf, 0xaf),
];

/// The largest varint (RFC 9000 §16): frame types are varints.
const MAX_VARINT: u64 = (1 << 62) - 1;
/// A bound on `leak:` so that a typo does not exhaust the machine on the first connection.
const MAX_LEAK: usize = 1 << 30;

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

impl FromStr for PlantedFault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, arg) = s
            .split_once(':')
            .ok_or_else(|| format!("bad fault {s:?}: expected abort-on-frame:<type> or leak:<bytes>"))?;
        match kind.trim() {
            "abort-on-frame" => Ok(PlantedFault::AbortOnFrame(arg.parse()?)),
            "leak" => {
                let bytes = parse_size(arg).ok_or_else(|| {
                    format!("bad leak size {arg:?}: expected bytes, e.g. 1048576 or 1M (K, M, G are powers of 1024)")
                })?;
                if bytes == 0 || bytes > MAX_LEAK {
                    return Err(format!("leak size {bytes} out of range: 1 byte to 1G per connection"));
                }
                Ok(PlantedFault::Leak(bytes))
            }
            other => Err(format!("unknown fault kind {other:?}: expected abort-on-frame or leak")),
        }
    }
}

/// `123`, `64K`, `1M`, `1G` (binary multiples; a trailing `B`/`iB` is accepted).
fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim().to_ascii_uppercase();
    let s = s.strip_suffix("IB").or_else(|| s.strip_suffix('B')).unwrap_or(&s);
    let (digits, shift) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 10),
        b'M' => (&s[..s.len() - 1], 20),
        b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    digits.parse::<usize>().ok()?.checked_mul(1 << shift)
}

impl fmt::Display for PlantedFault {
    /// The canonical form logged in `run_start`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlantedFault::AbortOnFrame(t) => match t.name {
                Some(name) => write!(f, "abort-on-frame:{name}"),
                None => write!(f, "abort-on-frame:{:#04x}", t.first),
            },
            PlantedFault::Leak(bytes) => write!(f, "leak:{bytes}"),
        }
    }
}

/// The faults of one run, split by where they act.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    pub abort_on: Vec<FrameTypes>,
    pub leak_per_connection: usize,
}

impl Faults {
    pub fn new(faults: &[PlantedFault]) -> Self {
        let mut out = Faults::default();
        for fault in faults {
            match fault {
                PlantedFault::AbortOnFrame(t) => out.abort_on.push(t.clone()),
                PlantedFault::Leak(bytes) => out.leak_per_connection += bytes,
            }
        }
        out
    }

    /// Aborts the process if `payload` (the cleartext frames of one received packet) carries a
    /// frame of a planted type.
    pub fn check_received(&self, payload: &mut [u8]) {
        if self.abort_on.is_empty() {
            return;
        }
        if let Some(t) = first_frame_of(payload, |t| self.abort_on.iter().any(|set| set.contains(t))) {
            eprintln!("fuzz-server: PLANTED FAULT: received a frame of type {t:#04x}, aborting on purpose");
            std::process::abort();
        }
    }

    /// Leaks `leak_per_connection` bytes, every page written so that it counts as resident.
    pub fn leak_for_connection(&self) {
        if self.leak_per_connection > 0 {
            // A non-zero fill writes every byte (a zeroed allocation could stay unmapped), and
            // black_box keeps the compiler from eliding an allocation nobody reads.
            let leaked: &'static mut [u8] = Vec::leak(vec![0xa5u8; self.leak_per_connection]);
            std::hint::black_box(leaked);
        }
    }
}

/// The type of the first frame in `payload` for which `wanted` holds. Frames are walked with
/// s2n-quic's own decoder; the type of each frame is read before decoding it, so a frame type
/// s2n-quic cannot decode (ACK_FREQUENCY, say) is still seen. Stops at the first frame that does
/// not decode: s2n-quic will close the connection over it anyway.
pub fn first_frame_of(payload: &mut [u8], wanted: impl Fn(u64) -> bool) -> Option<u64> {
    let mut offset = 0;
    while offset < payload.len() {
        let rest = &mut payload[offset..];
        let frame_type = read_varint(rest)?;
        if wanted(frame_type) {
            return Some(frame_type);
        }
        let before = rest.len();
        let after = match DecoderBufferMut::new(rest).decode::<FrameMut>() {
            Ok((_frame, remaining)) => remaining.len(),
            Err(_) => return None,
        };
        if after >= before {
            return None; // no progress: never loop forever
        }
        offset += before - after;
    }
    None
}

/// A QUIC variable-length integer (RFC 9000 §16): the two high bits of the first byte give the
/// length, 1, 2, 4 or 8 bytes.
fn read_varint(bytes: &[u8]) -> Option<u64> {
    let first = *bytes.first()?;
    let len = 1usize << (first >> 6);
    let raw = bytes.get(..len)?;
    Some(raw[1..].iter().fold((first & 0x3f) as u64, |acc, b| acc << 8 | *b as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fault_specs() {
        let f: PlantedFault = "abort-on-frame:new_token".parse().unwrap();
        assert_eq!(f, PlantedFault::AbortOnFrame(FrameTypes { name: Some("new_token"), first: 7, last: 7 }));
        assert_eq!(f.to_string(), "abort-on-frame:new_token");
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
            "abort-on-frame:",
            "abort-on-frame:nope",
            "abort-on-frame:0xzz",
            "abort-on-frame:0x4000000000000000",
            "crash:now",
        ] {
            let err = bad.parse::<PlantedFault>().unwrap_err();
            assert!(!err.is_empty() && !err.contains('\n'), "{bad}: {err}");
        }
        assert!("abort-on-frame:bogus".parse::<PlantedFault>().unwrap_err().contains("new_token"));
    }

    #[test]
    fn finds_frame_types_in_a_payload() {
        // PING, then STREAM (0x0a: id 0, with length 2), then NEW_TOKEN (length 1).
        let mut payload = vec![0x01, 0x0a, 0x00, 0x02, b'h', b'i', 0x07, 0x01, 0xaa];
        assert_eq!(first_frame_of(&mut payload, |t| t == 0x07), Some(0x07));
        assert_eq!(first_frame_of(&mut payload, |t| (0x08..=0x0f).contains(&t)), Some(0x0a));
        assert_eq!(first_frame_of(&mut payload, |t| t == 0x1e), None);
        // A two-byte varint type that s2n-quic does not decode is still seen.
        let mut payload = vec![0x01, 0x40, 0xaf, 0x00];
        assert_eq!(first_frame_of(&mut payload, |t| t == 0xaf), Some(0xaf));
        // Garbage stops the walk without panicking.
        let mut payload = vec![0x0a, 0xff];
        assert_eq!(first_frame_of(&mut payload, |t| t == 0x07), None);
        assert_eq!(first_frame_of(&mut [], |_| true), None);
    }

    #[test]
    fn varints() {
        assert_eq!(read_varint(&[0x25]), Some(37));
        assert_eq!(read_varint(&[0x7b, 0xbd]), Some(15293));
        assert_eq!(read_varint(&[0x9d, 0x7f, 0x3e, 0x7d]), Some(494878333));
        assert_eq!(read_varint(&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c]), Some(151288809941952652));
        assert_eq!(read_varint(&[0x40]), None);
    }
}
