//! The crash capture: the flight recorder's datagrams as a pcapng file (`<log>.crash.pcap`), and
//! reading one back for `replay --pcap`.
//!
//! Writing: every connection is one UDP flow. On the wire all connections share the client's one
//! socket; in the capture each gets a client port of its own, `10000 + seq mod 50000` (probes:
//! `60000 + n`), so that Wireshark's "Follow UDP stream" and `udp.port == P` show one connection.
//! The server's address is the real one; the client's IP is the socket's when it is bound to one,
//! otherwise the server's own IP for a loopback server and the documentation address 192.0.2.1
//! (2001:db8::1) for any other. Packets carry their real timestamps (nanoseconds, RFC 3339 in
//! Wireshark) and comments: the first packet of each connection says who it is (`seq=`, `cid=`,
//! plan state, mode, and its mutation decisions as JSON), every other one `seq=... cid=...`. The
//! section header's comment describes the capture and, when the run had a single connection, names
//! it as the culprit (`culprit seq=N cid=X`). Link type RAW (IPv4 or IPv6 headers, built with
//! `etherparse`, checksums included): `tshark` decodes the QUIC inside, Initial packets in full
//! (their keys come from the client's DCID, RFC 9001 §5.2).
//!
//! Reading accepts any pcapng whose link type is raw IP, IPv4, IPv6, Ethernet or Linux cooked
//! capture: a flow is a pair of UDP endpoints, its client the sender of its first datagram, and its
//! connection ID the Destination Connection ID of the client's first Initial packet (RFC 9000
//! §7.2), so captures from other tools select by `--cid` too, as long as their connections do not
//! share one client socket (then the flow is named by its first connection).
//!
//! Which connection and which datagrams to replay ([`select`]) is pure and unit-tested.

use crate::quic::flight::{Datagram, Direction};
use fuzz_shared::initial::parse_v1_initial;
use fuzz_shared::{Cid, FuzzState, Mode};
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::{Block, PcapNgReader, PcapNgWriter};
use pcap_file::DataLink;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime};

/// Chain connections get client port `CHAIN_PORTS + seq % CHAIN_PORT_SPAN` in the capture.
const CHAIN_PORTS: u16 = 10_000;
const CHAIN_PORT_SPAN: u64 = 50_000;
/// Probes get `PROBE_PORTS + n % PROBE_PORT_SPAN`, n counting the capture's probes.
const PROBE_PORTS: u16 = 60_000;
const PROBE_PORT_SPAN: u64 = 5_000;
/// A pcapng option holds at most 65535 bytes; the decisions of a connection stay well below.
const MAX_COMMENT: usize = 32_000;
/// TTL / hop limit of the IP headers made up for the capture.
const TTL: u8 = 64;
/// Every comment this program writes starts so.
const TAG: &str = "quic-cid-fuzz";

/// Who a recorded connection is, for its comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowLabel {
    /// Its place in the chain; `None` for a probe.
    pub seq: Option<u64>,
    pub cid: Cid,
    pub fuzz_state: FuzzState,
    pub mode: Mode,
    /// Its mutation decisions, one JSON value each.
    pub decisions: Vec<String>,
}

/// One connection to write.
#[derive(Clone, Debug)]
pub struct CaptureFlow {
    pub label: FlowLabel,
    pub server: SocketAddr,
    /// The client socket's IP as s2n-quic reported it (often unspecified: bound to any).
    pub local_ip: IpAddr,
    pub datagrams: Vec<Datagram>,
    /// Datagrams between the first and the last ones kept that the recorder did not keep.
    pub skipped: u64,
}

/// The client address of flow `label` in the capture; `used` holds the ports already given.
fn client_addr(flow: &CaptureFlow, probes: &mut u64, used: &mut HashSet<u16>) -> SocketAddr {
    let mut port = match flow.label.seq {
        Some(seq) => CHAIN_PORTS + (seq % CHAIN_PORT_SPAN) as u16,
        None => {
            *probes += 1;
            PROBE_PORTS + ((*probes - 1) % PROBE_PORT_SPAN) as u16
        }
    };
    // Two connections of a capture never share a flow, whatever their numbers.
    while !used.insert(port) {
        port = port.checked_add(1).unwrap_or(1024);
    }
    SocketAddr::new(client_ip(flow.local_ip, flow.server.ip()), port)
}

/// The client's IP in the capture: see the module documentation.
pub fn client_ip(local: IpAddr, server: IpAddr) -> IpAddr {
    if !local.is_unspecified() && local.is_ipv4() == server.is_ipv4() {
        return local;
    }
    match server {
        s if s.is_loopback() => s,
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    }
}

/// The comment of a connection's first packet.
fn first_comment(flow: &CaptureFlow) -> String {
    let l = &flow.label;
    let mut s = format!(
        "{TAG} connection {} fuzz_state={} mode={} decisions={} not_kept={}\ndecisions=[",
        short_comment(l),
        l.fuzz_state.as_str(),
        l.mode.as_str(),
        l.decisions.len(),
        flow.skipped
    );
    let mut written = 0;
    for d in &l.decisions {
        if s.len() + d.len() + 64 > MAX_COMMENT {
            break;
        }
        if written > 0 {
            s.push(',');
        }
        s.push_str(d);
        written += 1;
    }
    s.push(']');
    if written < l.decisions.len() {
        s.push_str(&format!(" (the first {written} of {})", l.decisions.len()));
    }
    s
}

fn short_comment(l: &FlowLabel) -> String {
    match l.seq {
        Some(seq) => format!("seq={seq} cid={}", l.cid),
        None => format!("seq=probe cid={}", l.cid),
    }
}

/// The culprit line of a section comment.
pub fn culprit_line(seq: u64, cid: &Cid) -> String {
    format!("culprit seq={seq} cid={cid}")
}

/// Writes `flows` as a pcapng capture whose section comment is `header`; returns the number of
/// packets written.
pub fn write_capture<W: Write>(out: W, header: &str, flows: &[CaptureFlow]) -> std::io::Result<usize> {
    let err = |e: pcap_file::PcapError| std::io::Error::other(e.to_string());
    let section = SectionHeaderBlock {
        options: vec![
            SectionHeaderOption::Comment(Cow::Owned(format!("{TAG} crash capture\n{header}"))),
            SectionHeaderOption::UserApplication(Cow::Owned(format!("fuzz-client {}", fuzz_shared::VERSION))),
        ],
        ..Default::default()
    };
    let mut w = PcapNgWriter::with_section_header(out, section).map_err(err)?;
    let interface = InterfaceDescriptionBlock {
        linktype: DataLink::RAW,
        snaplen: 0,
        options: vec![
            InterfaceDescriptionOption::IfTsResol(9), // nanoseconds: what EnhancedPacketBlock writes
            InterfaceDescriptionOption::IfName(Cow::Borrowed("flight-recorder")),
        ],
    };
    w.write_pcapng_block(interface).map_err(err)?;
    let mut used = HashSet::new();
    let mut probes = 0;
    let clients: Vec<SocketAddr> = flows.iter().map(|f| client_addr(f, &mut probes, &mut used)).collect();
    // All datagrams in time order, each flow's in its own order.
    let mut order: Vec<(SystemTime, usize, usize)> = flows
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.datagrams.iter().enumerate().map(move |(k, d)| (d.at, i, k)))
        .collect();
    order.sort();
    let mut commented = vec![false; flows.len()];
    let mut packet = Vec::with_capacity(1600);
    for &(at, i, k) in &order {
        let flow = &flows[i];
        let d = &flow.datagrams[k];
        let (src, dst) = match d.direction {
            Direction::ToServer => (clients[i], flow.server),
            Direction::FromServer => (flow.server, clients[i]),
        };
        packet.clear();
        ip_udp(src, dst, &d.bytes, &mut packet)?;
        let comment = if commented[i] { short_comment(&flow.label) } else { first_comment(flow) };
        commented[i] = true;
        let block = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default(),
            original_len: packet.len() as u32,
            data: Cow::Borrowed(&packet),
            options: vec![EnhancedPacketOption::Comment(Cow::Owned(comment))],
        };
        w.write_pcapng_block(block).map_err(err)?;
    }
    w.into_inner().flush()?;
    Ok(order.len())
}

/// An IP (v4 or v6, as the addresses are) and UDP header around `payload`, appended to `out`.
fn ip_udp(src: SocketAddr, dst: SocketAddr, payload: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
    use etherparse::PacketBuilder;
    let err = |e: etherparse::err::packet::BuildWriteError| std::io::Error::other(e.to_string());
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), TTL)
            .udp(src.port(), dst.port())
            .write(out, payload)
            .map_err(err),
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            PacketBuilder::ipv6(v6(s).octets(), v6(d).octets(), TTL)
                .udp(src.port(), dst.port())
                .write(out, payload)
                .map_err(err)
        }
    }
}

/// One UDP datagram read from a capture.
#[derive(Clone, Debug)]
pub struct Packet {
    pub at: Duration,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
    pub comment: Option<String>,
}

/// A capture read back: its section comment and its UDP datagrams in file order.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    pub comment: String,
    pub packets: Vec<Packet>,
}

/// Reads a pcapng capture; an error says what is wrong with the file.
pub fn read_capture(bytes: &[u8]) -> Result<Capture, String> {
    let mut reader = PcapNgReader::new(bytes).map_err(|e| format!("not a pcapng capture ({e})"))?;
    let mut capture = Capture::default();
    let section_comment = |s: &SectionHeaderBlock| {
        s.options.iter().find_map(|o| match o {
            SectionHeaderOption::Comment(c) => Some(c.to_string()),
            _ => None,
        })
    };
    capture.comment = section_comment(reader.section()).unwrap_or_default();
    // (link type, timestamp units in nanoseconds) of each interface, in order.
    let mut interfaces: Vec<(DataLink, u64)> = Vec::new();
    while let Some(block) = reader.next_block() {
        match block.map_err(|e| format!("damaged pcapng block: {e}"))? {
            Block::SectionHeader(s) => {
                interfaces.clear();
                if let Some(c) = section_comment(&s) {
                    capture.comment = c;
                }
            }
            Block::InterfaceDescription(i) => {
                // if_tsresol: 10^-n seconds (high bit clear); absent means microseconds.
                let resol = i.options.iter().find_map(|o| match o {
                    InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
                    _ => None,
                });
                let unit = match resol.unwrap_or(6) {
                    r if r & 0x80 == 0 && r <= 9 => 10u64.pow(9 - r as u32),
                    _ => 1,
                };
                interfaces.push((i.linktype, unit));
            }
            Block::EnhancedPacket(p) => {
                let &(link, unit) = interfaces
                    .get(p.interface_id as usize)
                    .ok_or_else(|| format!("a packet names interface {}, which is not described", p.interface_id))?;
                // pcap-file reads the raw timestamp as nanoseconds whatever the resolution.
                let raw = p.timestamp.as_nanos() as u64;
                let Some((src, dst, payload)) = udp_of(link, &p.data) else { continue };
                let comment = p.options.iter().find_map(|o| match o {
                    EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                    _ => None,
                });
                capture.packets.push(Packet {
                    at: Duration::from_nanos(raw.saturating_mul(unit)),
                    src,
                    dst,
                    payload: payload.to_vec(),
                    comment,
                });
            }
            _ => {}
        }
    }
    Ok(capture)
}

/// The UDP datagram in a captured frame, if it is one.
fn udp_of(link: DataLink, frame: &[u8]) -> Option<(SocketAddr, SocketAddr, &[u8])> {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let sliced = match link {
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(frame),
        DataLink::ETHERNET => SlicedPacket::from_ethernet(frame),
        DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(frame),
        _ => return None,
    }
    .ok()?;
    let (src, dst) = match sliced.net? {
        NetSlice::Ipv4(ip) => (IpAddr::V4(ip.header().source_addr()), IpAddr::V4(ip.header().destination_addr())),
        NetSlice::Ipv6(ip) => (IpAddr::V6(ip.header().source_addr()), IpAddr::V6(ip.header().destination_addr())),
        _ => return None,
    };
    match sliced.transport? {
        TransportSlice::Udp(udp) => {
            Some((SocketAddr::new(src, udp.source_port()), SocketAddr::new(dst, udp.destination_port()), udp.payload()))
        }
        _ => None,
    }
}

/// What `replay --pcap` sends: a connection's client-to-server datagrams whose first packet is
/// an Initial, with their times relative to the first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// The connection's initial CID: the DCID of its client's first Initial packet.
    pub cid: Cid,
    /// Its sequence number, when the capture's comments say it.
    pub seq: Option<u64>,
    /// Where the capture had it (the server it was sent to).
    pub server: SocketAddr,
    /// Why this connection: the one asked for, the capture's culprit, or the last one.
    pub why: String,
    pub datagrams: Vec<(Duration, Vec<u8>)>,
    /// How many of them still carry the CID as their DCID: the ones a fresh server can decrypt
    /// (later Initials are addressed to the server's own connection ID, RFC 9000 §7.2).
    pub with_cid: usize,
    /// The client-to-server datagrams of the connection that were not Initials (not sent).
    pub others: usize,
}

/// One UDP flow of a capture, by its packets' indexes.
struct Flow {
    client: SocketAddr,
    server: SocketAddr,
    packets: Vec<usize>,
    cid: Option<Cid>,
    seq: Option<u64>,
    probe: bool,
}

fn flows(capture: &Capture) -> Vec<Flow> {
    let mut out: Vec<Flow> = Vec::new();
    let mut by_pair: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    for (i, p) in capture.packets.iter().enumerate() {
        let key = if p.src <= p.dst { (p.src, p.dst) } else { (p.dst, p.src) };
        let n = *by_pair.entry(key).or_insert_with(|| {
            out.push(Flow { client: p.src, server: p.dst, packets: Vec::new(), cid: None, seq: None, probe: false });
            out.len() - 1
        });
        let flow = &mut out[n];
        flow.packets.push(i);
        if let Some(c) = p.comment.as_deref() {
            if flow.seq.is_none() && !flow.probe {
                flow.probe = c.contains("seq=probe");
                flow.seq = token(c, "seq=").and_then(|s| s.parse().ok());
            }
        }
        if flow.cid.is_none() && p.src == flow.client {
            flow.cid = parse_v1_initial(&p.payload).and_then(|h| Cid::from_slice(h.dcid).ok());
        }
    }
    out
}

/// The value of `key` in a comment (`seq=12 cid=ab` → `key "cid="` gives `ab`).
fn token<'a>(comment: &'a str, key: &str) -> Option<&'a str> {
    comment.split_whitespace().find_map(|w| w.strip_prefix(key))
}

/// The culprit the section comment names, if any.
fn culprit(capture: &Capture) -> Option<Cid> {
    let line = capture.comment.lines().find(|l| l.starts_with("culprit "))?;
    token(line, "cid=")?.parse().ok()
}

/// Picks the connection to replay: the one whose initial CID is `cid`, or without it the culprit
/// the capture names, or else the chain connection (not a probe) that started last.
pub fn select(capture: &Capture, cid: Option<&Cid>) -> Result<Selected, String> {
    let all = flows(capture);
    let with_initials: Vec<&Flow> = all.iter().filter(|f| f.cid.is_some()).collect();
    if with_initials.is_empty() {
        return Err(format!(
            "no client Initial packet in the capture ({} UDP datagrams in {} flows): nothing to replay byte for byte",
            capture.packets.len(),
            all.len()
        ));
    }
    let named = culprit(capture);
    let (flow, why) = match (cid, named) {
        (Some(cid), _) => {
            let flow = with_initials.iter().rev().find(|f| f.cid.as_ref() == Some(cid)).ok_or_else(|| {
                let cids: Vec<String> = with_initials.iter().filter_map(|f| f.cid.map(|c| c.to_hex())).collect();
                let shown = cids.iter().rev().take(8).cloned().collect::<Vec<_>>().join(", ");
                format!(
                    "no connection with initial CID {cid} in the capture (it has {}; the last: {shown})",
                    cids.len()
                )
            })?;
            (*flow, "the connection asked for".to_string())
        }
        (None, Some(c)) => match with_initials.iter().rev().find(|f| f.cid == Some(c)) {
            Some(flow) => (*flow, "the culprit the capture names".to_string()),
            None => return Err(format!("the capture names culprit {c}, but holds no Initial packet of it")),
        },
        (None, None) => {
            let flow =
                with_initials.iter().rev().find(|f| !f.probe).unwrap_or(with_initials.last().expect("not empty"));
            (*flow, "no --cid and no culprit named: the connection that started last".to_string())
        }
    };
    let cid = flow.cid.expect("flows with initials have a CID");
    let first = flow.packets.first().map(|&i| capture.packets[i].at).unwrap_or_default();
    let mut datagrams = Vec::new();
    let mut with_cid = 0;
    let mut others = 0;
    for &i in &flow.packets {
        let p = &capture.packets[i];
        if p.src != flow.client {
            continue;
        }
        match parse_v1_initial(&p.payload) {
            Some(h) => {
                if h.dcid == cid.as_bytes() {
                    with_cid += 1;
                }
                datagrams.push((p.at.saturating_sub(first), p.payload.clone()));
            }
            None => others += 1,
        }
    }
    Ok(Selected { cid, seq: flow.seq, server: flow.server, why, datagrams, with_cid, others })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(s: &str) -> Cid {
        s.parse().unwrap()
    }

    /// A v1 Initial datagram to `dcid`, padded like a client's.
    fn initial(dcid: &Cid, fill: u8) -> Vec<u8> {
        let mut p = vec![0xc3, 0, 0, 0, 1, dcid.len() as u8];
        p.extend_from_slice(dcid.as_bytes());
        p.extend_from_slice(&[4, 0xee, 0xee, 0xee, 0xee]);
        p.resize(1200, fill);
        p
    }

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
    }

    fn flow(seq: Option<u64>, c: &Cid, datagrams: Vec<Datagram>) -> CaptureFlow {
        CaptureFlow {
            label: FlowLabel {
                seq,
                cid: *c,
                fuzz_state: FuzzState::Initial,
                mode: Mode::Fuzz,
                decisions: vec![r#"{"operator":"insert:new_token","offset":0}"#.into()],
            },
            server: "127.0.0.1:4433".parse().unwrap(),
            local_ip: "0.0.0.0".parse().unwrap(),
            datagrams,
            skipped: 0,
        }
    }

    fn dg(ms: u64, direction: Direction, bytes: Vec<u8>) -> Datagram {
        Datagram { at: at(ms), direction, bytes }
    }

    fn sample() -> (Vec<CaptureFlow>, Cid, Cid) {
        let a = cid("0123456789abcdef");
        let b = cid("cac106eb3b28bca3");
        let server_cid = cid("5555555555555555");
        let flows = vec![
            flow(
                Some(7),
                &a,
                vec![
                    dg(0, Direction::ToServer, initial(&a, 1)),
                    dg(3, Direction::FromServer, vec![0xc0, 0, 0, 0, 1, 0, 0, 9, 9]),
                    // The client's second flight: an Initial to the server's CID, then 1-RTT.
                    dg(5, Direction::ToServer, initial(&server_cid, 2)),
                    dg(9, Direction::ToServer, vec![0x41, 1, 2, 3, 4]),
                ],
            ),
            flow(Some(8), &b, vec![dg(1, Direction::ToServer, initial(&b, 3))]),
            flow(
                None,
                &cid("9999999999999999"),
                vec![dg(2, Direction::ToServer, initial(&cid("9999999999999999"), 4))],
            ),
        ];
        (flows, a, b)
    }

    fn round_trip(header: &str, flows: &[CaptureFlow]) -> Capture {
        let mut out = Vec::new();
        let n = write_capture(&mut out, header, flows).unwrap();
        assert_eq!(n, flows.iter().map(|f| f.datagrams.len()).sum::<usize>());
        read_capture(&out).unwrap()
    }

    #[test]
    fn one_flow_per_connection_in_time_order_with_comments() {
        let (flows, a, _) = sample();
        let capture = round_trip("server 127.0.0.1:4433", &flows);
        assert!(capture.comment.starts_with("quic-cid-fuzz crash capture\nserver 127.0.0.1:4433"));
        let ports: Vec<u16> =
            capture.packets.iter().map(|p| if p.dst.port() == 4433 { p.src.port() } else { p.dst.port() }).collect();
        assert_eq!(ports, [10_007, 10_008, 60_000, 10_007, 10_007, 10_007], "time order; ports from seq");
        let ms: Vec<u128> = capture.packets.iter().map(|p| p.at.as_millis() - 1_700_000_000_000).collect();
        assert_eq!(ms, [0, 1, 2, 3, 5, 9], "real timestamps, to the nanosecond unit");
        let first = capture.packets[0].comment.as_deref().unwrap();
        assert!(
            first.starts_with(&format!("quic-cid-fuzz connection seq=7 cid={a} fuzz_state=initial mode=fuzz")),
            "{first}"
        );
        assert!(first.contains(r#"decisions=[{"operator":"insert:new_token","offset":0}]"#), "{first}");
        assert_eq!(capture.packets[3].comment.as_deref(), Some(format!("seq=7 cid={a}").as_str()));
        assert!(capture.packets[2].comment.as_deref().unwrap().contains("seq=probe"));
        // Loopback server: the client is on loopback too; the bytes are the datagram's.
        assert_eq!(capture.packets[0].src.ip().to_string(), "127.0.0.1");
        assert_eq!(capture.packets[0].payload, flows[0].datagrams[0].bytes);
        assert_eq!(capture.packets[3].src, "127.0.0.1:4433".parse().unwrap());
    }

    #[test]
    fn selects_the_initials_of_a_connection() {
        let (flows, a, b) = sample();
        let capture = round_trip("", &flows);
        let s = select(&capture, Some(&a)).unwrap();
        assert_eq!((s.cid, s.seq, s.with_cid, s.others), (a, Some(7), 1, 1));
        assert_eq!(s.datagrams.len(), 2, "both Initials, not the 1-RTT datagram");
        assert_eq!(s.datagrams[0], (Duration::ZERO, initial(&a, 1)));
        assert_eq!(s.datagrams[1].0, Duration::from_millis(5));
        assert_eq!(s.server, "127.0.0.1:4433".parse().unwrap());
        // Without --cid or a culprit: the chain connection that started last (not the probe).
        let s = select(&capture, None).unwrap();
        assert_eq!((s.cid, s.seq), (b, Some(8)));
        assert!(s.why.contains("started last"));
        let err = select(&capture, Some(&cid("0000000000000000"))).unwrap_err();
        assert!(err.contains("no connection with initial CID 0000000000000000") && err.contains("it has 3"), "{err}");
    }

    #[test]
    fn the_named_culprit_is_the_default() {
        let (flows, a, _) = sample();
        let capture = round_trip(&format!("server x\n{}", culprit_line(7, &a)), &flows);
        let s = select(&capture, None).unwrap();
        assert_eq!(s.cid, a);
        assert!(s.why.contains("culprit"));
    }

    #[test]
    fn nothing_to_replay_is_said() {
        let (mut flows, _, _) = sample();
        flows.truncate(1);
        flows[0].datagrams.retain(|d| d.bytes[0] & 0x80 == 0);
        let capture = round_trip("", &flows);
        assert!(select(&capture, None).unwrap_err().contains("no client Initial packet"));
        assert!(read_capture(b"not a capture at all").unwrap_err().contains("not a pcapng"));
    }

    #[test]
    fn client_addresses() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        let remote: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(client_ip(any, lo), lo);
        assert_eq!(client_ip(any, remote).to_string(), "192.0.2.1");
        assert_eq!(client_ip("10.0.0.2".parse().unwrap(), remote).to_string(), "10.0.0.2");
        assert_eq!(client_ip("::".parse().unwrap(), "::1".parse().unwrap()).to_string(), "::1");
        assert_eq!(client_ip("::".parse().unwrap(), "2001:db8::9".parse().unwrap()).to_string(), "2001:db8::1");
        // Ports: the same seq modulo the span never shares a flow.
        let (flows, a, _) = sample();
        let twins =
            vec![flow(Some(3), &a, flows[0].datagrams.clone()), flow(Some(50_003), &a, flows[1].datagrams.clone())];
        let capture = round_trip("", &twins);
        let mut ports: Vec<u16> =
            capture.packets.iter().filter(|p| p.dst.port() == 4433).map(|p| p.src.port()).collect();
        ports.dedup();
        ports.sort();
        ports.dedup();
        assert_eq!(ports, [10_003, 10_004]);
    }

    #[test]
    fn long_decision_lists_are_cut() {
        let (mut flows, _, _) = sample();
        flows[1].label.decisions = vec!["x".repeat(1000); 100];
        let capture = round_trip("", &flows);
        let c = capture.packets[1].comment.as_deref().unwrap();
        assert!(c.len() <= MAX_COMMENT && c.ends_with("of 100)"), "{}", &c[c.len() - 40..]);
    }
}
