//! The h3 and qpack operators against layouts written by hand from RFC 9114 and RFC 9204.

use super::frames::{self, ty, TRAILER_SECTION};
use super::qpack::{self, decode_int, push_int, LineKind};
use super::*;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

/// A client's control stream: type 0x00, then SETTINGS with MAX_FIELD_SECTION_SIZE = 16384.
fn control() -> Vec<u8> {
    let mut d = vec![0x00, ty::SETTINGS as u8, 0x03, 0x06];
    varint::push(100, &mut d);
    d[2] = (d.len() - 3) as u8;
    d
}

/// A request: HEADERS with `:method GET` (static 17), `:scheme https` (static 23) and
/// `:path /x` (name reference to static 1), then DATA "ab".
fn request() -> Vec<u8> {
    let section = [0x00, 0x00, 0xd1, 0xd7, 0x51, 0x02, b'/', b'x'];
    let mut d = vec![ty::HEADERS as u8, section.len() as u8];
    d.extend_from_slice(&section);
    d.extend_from_slice(&[ty::DATA as u8, 2, b'a', b'b']);
    d
}

#[test]
fn prefix_integers_follow_rfc_7541() {
    // RFC 7541 C.1.2: 1337 with a 5-bit prefix is 1f 9a 0a.
    let mut out = Vec::new();
    push_int(0, 5, 1337, &mut out);
    assert_eq!(out, [0x1f, 0x9a, 0x0a]);
    assert_eq!(decode_int(&out, 0, 5), Some((1337, 3)));
    // C.1.1: 10 fits the prefix.
    out.clear();
    push_int(0xe0, 5, 10, &mut out);
    assert_eq!(out, [0xea]);
    assert_eq!(decode_int(&out, 0, 5), Some((10, 1)));
    assert_eq!(decode_int(&[0x1f, 0x80], 0, 5), None, "cut short");
}

#[test]
fn layouts_of_control_and_request_streams() {
    let mut l = Layout::default();
    assert!(l.parse(Role::Client, 2, &control()));
    assert_eq!(l.kind, Some(StreamKind::Control));
    assert_eq!(l.stream_type, Some((0, 1)));
    assert_eq!(l.frames.len(), 1);
    assert_eq!(l.frames[0].ty, ty::SETTINGS);

    assert!(l.parse(Role::Client, 0, &request()));
    assert_eq!(l.kind, Some(StreamKind::Request));
    assert_eq!(l.frames.iter().map(|f| f.ty).collect::<Vec<_>>(), [ty::HEADERS, ty::DATA]);
    let s = l.sections.sections[0];
    let kinds: Vec<_> = l.sections.lines_of(&s).iter().map(|x| (x.kind, x.static_ref)).collect();
    assert_eq!(kinds, [(LineKind::Indexed, true), (LineKind::Indexed, true), (LineKind::NameRef, true)]);

    // A server's unidirectional stream is id 3 mod 4; the client's are not the server's to write.
    assert!(!l.parse(Role::Server, 2, &control()));
    assert!(!l.parse(Role::Client, 1, &request()), "server-initiated bidi streams carry no HTTP/3");
}

#[test]
fn the_trailer_section_is_one_literal_field_line() {
    let mut l = Layout::default();
    let mut d = vec![ty::HEADERS as u8, TRAILER_SECTION.len() as u8];
    d.extend_from_slice(TRAILER_SECTION);
    assert!(l.parse(Role::Client, 0, &d));
    let lines = l.sections.lines_of(&l.sections.sections[0]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].kind, LineKind::LiteralName);
    let name = lines[0].name.unwrap();
    assert_eq!(&d[name.bytes_at as usize..][..name.len as usize], b"x-fuzz");
}

/// Every h3 and qpack operator leaves stream data whose frames still parse to the data's end
/// (lengths aside, which `h3:frame_length` breaks on purpose), and the same generator makes the
/// same decision.
#[test]
fn operators_are_deterministic_and_keep_frames_parseable() {
    let (mut out, mut tmp) = (Vec::new(), Vec::new());
    let mut names = std::collections::BTreeSet::new();
    for (id, data) in [(2u64, control()), (0, request())] {
        let mut l = Layout::default();
        assert!(l.parse(Role::Client, id, &data));
        for seed in 0..400u64 {
            let mut rng = Pcg64Mcg::seed_from_u64(seed);
            let r = if seed % 2 == 0 {
                frames::mutate(&mut rng, Role::Client, &l, &data, &mut out, &mut tmp)
            } else {
                qpack::mutate_section(&mut rng, &l, &data, &mut out, &mut tmp)
            };
            let Some((name, at)) = r else { continue };
            assert!(at <= data.len(), "{name} at {at}");
            let again = out.clone();
            let mut rng = Pcg64Mcg::seed_from_u64(seed);
            let r2 = if seed % 2 == 0 {
                frames::mutate(&mut rng, Role::Client, &l, &data, &mut out, &mut tmp)
            } else {
                qpack::mutate_section(&mut rng, &l, &data, &mut out, &mut tmp)
            };
            assert_eq!(r2, Some((name, at)));
            assert_eq!(out, again, "{name}");
            assert_ne!(out, data, "{name} changed nothing");
            names.insert(name);
            if name != "h3:frame_length" {
                let mut m = Layout::default();
                m.parse(Role::Client, id, &out);
                if let Some(last) = m.frames.last() {
                    assert!(!last.truncated || name.starts_with("h3:stream_type"), "{name}: {out:02x?}");
                }
            }
        }
    }
    for want in [
        "h3:frame_type",
        "h3:insert.settings",
        "h3:settings",
        "h3:stream_type",
        "qpack:static_index",
        "qpack:field_line.insert",
    ] {
        assert!(names.contains(want), "{want} never drawn: {names:?}");
    }
}

#[test]
fn a_static_index_beyond_the_table_is_written_as_such() {
    let data = request();
    let mut l = Layout::default();
    l.parse(Role::Client, 0, &data);
    let (mut out, mut tmp) = (Vec::new(), Vec::new());
    for seed in 0..2000u64 {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        if let Some(("qpack:static_index", _)) = qpack::mutate_section(&mut rng, &l, &data, &mut out, &mut tmp) {
            let mut m = Layout::default();
            assert!(m.parse(Role::Client, 0, &out));
            let lines = m.sections.lines_of(&m.sections.sections[0]).to_vec();
            let beyond = lines
                .iter()
                .any(|x| x.static_ref && decode_int(&out, x.at as usize, x.index_prefix).is_some_and(|(i, _)| i >= 99));
            assert!(beyond, "{out:02x?}");
            return;
        }
    }
    panic!("qpack:static_index never drawn");
}

#[test]
fn instructions_open_the_right_stream_type() {
    let mut rng = Pcg64Mcg::seed_from_u64(7);
    let mut out = Vec::new();
    assert_eq!(qpack::instructions(&mut rng, true, 0, &mut out), "qpack:encoder_stream");
    assert_eq!(out[0], stream_type::QPACK_ENCODER as u8);
    assert_eq!(qpack::instructions(&mut rng, false, 0, &mut out), "qpack:decoder_stream");
    assert_eq!(out[0], stream_type::QPACK_DECODER as u8);
    assert_eq!(uni_stream_id(Role::Client, 1), 6);
    assert_eq!(uni_stream_id(Role::Server, 2), 11);
    assert!(is_reserved(reserved(3)) && !is_reserved(0x20));
}

/// A payload of one STREAM frame (type 0x0a: LEN, no OFF) on stream `id` carrying `data`, with
/// room to grow.
fn stream_payload(id: u64, data: &[u8]) -> (Vec<u8>, usize) {
    let mut p = vec![0x0a];
    varint::push(id, &mut p);
    varint::push(data.len() as u64, &mut p);
    p.extend_from_slice(data);
    let len = p.len();
    p.resize(len + 512, 0);
    (p, len)
}

/// The stream data of the STREAM frames of `payload` on stream `id`, put together by offset.
fn reassembled(payload: &[u8], id: u64) -> Option<Vec<u8>> {
    let mut frames = crate::mutate::frame::Frames::default();
    frames.parse(payload);
    let mut pieces = Vec::new();
    for f in &frames.frames {
        if !crate::mutate::frame::ty::is_stream(f.ty) {
            continue;
        }
        let fields = frames.fields_of(f);
        if varint::decode(payload, fields[0].at as usize)?.0 != id {
            continue;
        }
        let off = if f.ty & 0x04 != 0 { varint::decode(payload, fields[1].at as usize)?.0 } else { 0 };
        let d = fields.last()?;
        pieces.push((off, payload[d.at as usize..(d.at + d.len) as usize].to_vec()));
    }
    pieces.sort();
    let mut out = Vec::new();
    for (off, bytes) in pieces {
        (off == out.len() as u64).then_some(())?;
        out.extend_from_slice(&bytes);
    }
    Some(out)
}

/// Through the engine: on an HTTP/3 connection the STREAM frames that start the client's
/// streams get mostly `h3` and `qpack` decisions, every one written back as a STREAM frame of
/// the same stream whose data are what the operator made (a split's two pieces put together
/// are the original data), and hq-interop connections never get them.
#[test]
fn the_engine_draws_h3_and_qpack_on_h3_streams_only() {
    use crate::application::Application;
    use crate::mutate::{Mutator, PacketInfo};
    use crate::seed::PacketSpace;

    let encoder = [stream_type::QPACK_ENCODER as u8];
    let streams: [(u64, &[u8]); 3] = [(0, &request()), (2, &control()), (6, &encoder)];
    let mut m = Mutator::new();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut total = 0;
    for application in [Application::H3, Application::HqInterop] {
        for (id, data) in streams {
            for seed in 0..300u64 {
                let packet = PacketInfo {
                    role: Role::Client,
                    space: PacketSpace::ApplicationData,
                    content: crate::content::ContentKey::new(0x08, id, 0),
                    application,
                };
                let (mut buf, len) = stream_payload(id, data);
                let mut again = buf.clone();
                let mut decisions = Vec::new();
                let new_len = m.mutate(&mut Pcg64Mcg::seed_from_u64(seed), &packet, &mut buf, len, &mut decisions);
                let mut repeat = Vec::new();
                let len2 = m.mutate(&mut Pcg64Mcg::seed_from_u64(seed), &packet, &mut again, len, &mut repeat);
                assert_eq!((decisions.clone(), &buf[..new_len]), (repeat, &again[..len2]), "seed {seed} repeats");
                let h3 = decisions.iter().filter(|d| matches!(d.family(), "h3" | "qpack")).count();
                if application == Application::HqInterop {
                    assert_eq!(h3, 0, "hq-interop never gets HTTP/3 decisions: {decisions:?}");
                    continue;
                }
                total += decisions.len();
                for d in &decisions {
                    *seen.entry(d.operator.clone()).or_default() += 1;
                }
                // One decision alone tells what the data must be.
                if let [d] = decisions.as_slice() {
                    let Some(after) = reassembled(&buf[..new_len], id) else {
                        // Only an operator on the QUIC frames may leave the stream unreadable.
                        assert!(!matches!(d.family(), "h3" | "qpack"), "seed {seed}: {d:?}");
                        continue;
                    };
                    match d.operator.as_str() {
                        "h3:split" => assert_eq!(after, data, "a split keeps the data"),
                        op if op.starts_with("h3:") || op.starts_with("qpack:") => {
                            assert_ne!(after, data, "seed {seed}: {op} changed the data")
                        }
                        _ => {}
                    }
                    if d.operator == "qpack:encoder_stream" {
                        assert_eq!(after[0], stream_type::QPACK_ENCODER as u8);
                        assert!(after.len() > 1, "instructions follow the stream type");
                    }
                }
            }
        }
    }
    let h3: usize =
        seen.iter().filter(|(op, _)| op.starts_with("h3:") || op.starts_with("qpack:")).map(|(_, n)| n).sum();
    assert!(h3 * 100 >= total * 60, "{h3} of {total} decisions are h3 or qpack: {seen:?}");
    for op in
        ["h3:split", "h3:frame_type", "h3:insert.", "qpack:encoder_stream", "qpack:static_index", "qpack:field_line."]
    {
        assert!(seen.keys().any(|k| k.starts_with(op)), "{op} is drawn: {seen:?}");
    }
}
