//! Realistic payloads, built by code: what s2n-quic's interceptor hands out for the packets a
//! fuzzed connection sends. Tests and the benchmark mutate them.
//!
//! `seed` fills the bytes TLS randomizes (random, key shares, CIDs, tokens, stream content), so
//! two seeds give payloads of equal structure and different bytes, as two runs of one connection
//! do.

use super::frame::Frame;
use super::varint;
use super::PacketInfo;
use crate::seed::{PacketSpace, Role};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// The size of a client Initial's payload once padded: 1200 bytes of datagram (RFC 9000 §14.1)
/// less the long header, CIDs, token length, length, packet number and AEAD tag.
pub const INITIAL_PAYLOAD_LEN: usize = 1162;

/// One payload to mutate, in a buffer of `capacity` bytes.
#[derive(Clone, Debug)]
pub struct Sample {
    pub name: &'static str,
    pub packet: PacketInfo,
    pub payload: Vec<u8>,
    pub capacity: usize,
}

impl Sample {
    /// The payload in a buffer of its capacity, as the interceptor hands it out.
    pub fn buffer(&self) -> Vec<u8> {
        let mut buf = self.payload.clone();
        buf.resize(self.capacity.max(self.payload.len()), 0);
        buf
    }
}

/// The samples' packets are named by a CRYPTO offset standing for their content key: the engine
/// only copies the key into its decisions.
fn packet(role: Role, space: PacketSpace, n: u64) -> PacketInfo {
    PacketInfo { role, space, content: crate::content::ContentKey::new(0x06, 0, n), application: Default::default() }
}

/// All the samples for one seed.
pub fn all(seed: u64) -> Vec<Sample> {
    vec![
        client_initial(seed),
        client_initial_split(seed).0,
        client_initial_split(seed).1,
        server_initial(seed),
        server_handshake(seed),
        client_handshake(seed),
        client_stream(seed),
        server_stream(seed),
        server_ready(seed),
        server_ticket(seed),
        closing(seed),
    ]
}

/// Appends a TLS vector: its length in `width` bytes (1, 2 or 3), then the body `fill` appends.
fn vector(out: &mut Vec<u8>, width: usize, fill: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.resize(at + width, 0);
    fill(out);
    let n = (out.len() - at - width) as u32;
    out[at..at + width].copy_from_slice(&n.to_be_bytes()[4 - width..]);
}

/// Appends an extension (RFC 8446 §4.2): type, then a 2-byte-length body.
fn extension(out: &mut Vec<u8>, ext_type: u16, fill: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(&ext_type.to_be_bytes());
    vector(out, 2, fill);
}

fn random<const N: usize>(rng: &mut Pcg64) -> [u8; N] {
    let mut b = [0u8; N];
    rng.fill(&mut b[..]);
    b
}

/// Appends one transport parameter (RFC 9000 §18): id, length, value.
fn tp(out: &mut Vec<u8>, id: u64, value: &[u8]) {
    varint::push(id, out);
    varint::push(value.len() as u64, out);
    out.extend_from_slice(value);
}

fn tp_int(out: &mut Vec<u8>, id: u64, value: u64) {
    let mut v = Vec::with_capacity(8);
    varint::push(value, &mut v);
    tp(out, id, &v);
}

/// A client's transport parameters, like s2n-quic's (RFC 9000 §18.2).
pub fn client_transport_parameters(rng: &mut Pcg64) -> Vec<u8> {
    let mut out = Vec::new();
    tp_int(&mut out, 0x01, 30_000); // max_idle_timeout
    tp_int(&mut out, 0x03, 65_527); // max_udp_payload_size
    tp_int(&mut out, 0x04, 1 << 24); // initial_max_data
    tp_int(&mut out, 0x05, 1 << 20); // initial_max_stream_data_bidi_local
    tp_int(&mut out, 0x06, 1 << 20); // initial_max_stream_data_bidi_remote
    tp_int(&mut out, 0x07, 1 << 20); // initial_max_stream_data_uni
    tp_int(&mut out, 0x08, 100); // initial_max_streams_bidi
    tp_int(&mut out, 0x09, 100); // initial_max_streams_uni
    tp_int(&mut out, 0x0b, 25); // max_ack_delay
    tp_int(&mut out, 0x0e, 8); // active_connection_id_limit
    tp(&mut out, 0x0f, &random::<8>(rng)); // initial_source_connection_id
    tp_int(&mut out, 0x20, 65_535); // max_datagram_frame_size (RFC 9221 §3)
    out
}

/// A TLS 1.3 ClientHello as a QUIC client sends it (RFC 8446 §4.1.2, RFC 9001 §8).
pub fn client_hello(seed: u64) -> Vec<u8> {
    hello_with_shares(seed, false)
}

/// A ClientHello that also offers the hybrid post-quantum group X25519MLKEM768 (0x11ec, a
/// 1216-byte share): too long for one Initial packet.
pub fn client_hello_pq(seed: u64) -> Vec<u8> {
    hello_with_shares(seed, true)
}

fn hello_with_shares(seed: u64, pq: bool) -> Vec<u8> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut out = vec![0x01]; // msg_type client_hello
    vector(&mut out, 3, |b| {
        b.extend_from_slice(&[0x03, 0x03]); // legacy_version
        b.extend_from_slice(&random::<32>(&mut rng));
        // RFC 9001 §8.4: no middlebox compatibility mode, so an empty legacy_session_id.
        vector(b, 1, |_| {});
        vector(b, 2, |b| b.extend_from_slice(&[0x13, 0x01, 0x13, 0x02, 0x13, 0x03]));
        vector(b, 1, |b| b.push(0)); // legacy_compression_methods: null
        vector(b, 2, |b| {
            extension(b, 0, |b| {
                // server_name (RFC 6066 §3): a list of (name_type, HostName).
                vector(b, 2, |b| {
                    b.push(0);
                    vector(b, 2, |b| b.extend_from_slice(b"localhost"));
                })
            });
            extension(b, 10, |b| vector(b, 2, |b| b.extend_from_slice(&[0x00, 0x1d, 0x00, 0x17, 0x00, 0x18])));
            extension(b, 13, |b| {
                vector(b, 2, |b| {
                    for s in [0x0403u16, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601] {
                        b.extend_from_slice(&s.to_be_bytes());
                    }
                })
            });
            extension(b, 51, |b| {
                // key_share: x25519 (32 bytes) and secp256r1 (65 bytes, uncompressed point).
                let x25519 = random::<32>(&mut rng);
                let mut p256 = random::<65>(&mut rng);
                p256[0] = 0x04;
                let mut mlkem = vec![0u8; 1216];
                rng.fill(&mut mlkem[..]);
                vector(b, 2, |b| {
                    if pq {
                        b.extend_from_slice(&[0x11, 0xec]);
                        vector(b, 2, |b| b.extend_from_slice(&mlkem));
                    }
                    b.extend_from_slice(&[0x00, 0x1d]);
                    vector(b, 2, |b| b.extend_from_slice(&x25519));
                    b.extend_from_slice(&[0x00, 0x17]);
                    vector(b, 2, |b| b.extend_from_slice(&p256));
                })
            });
            extension(b, 43, |b| vector(b, 1, |b| b.extend_from_slice(&[0x03, 0x04])));
            extension(b, 16, |b| vector(b, 2, |b| vector(b, 1, |b| b.extend_from_slice(b"hq-interop"))));
            extension(b, 45, |b| vector(b, 1, |b| b.push(1))); // psk_dhe_ke
            let params = client_transport_parameters(&mut rng);
            extension(b, 57, |b| b.extend_from_slice(&params));
        });
    });
    out
}

/// A ServerHello (RFC 8446 §4.1.3) choosing TLS 1.3 and x25519.
pub fn server_hello(seed: u64) -> Vec<u8> {
    let mut rng = Pcg64::seed_from_u64(seed ^ 0x5e);
    let mut out = vec![0x02];
    vector(&mut out, 3, |b| {
        b.extend_from_slice(&[0x03, 0x03]);
        b.extend_from_slice(&random::<32>(&mut rng));
        vector(b, 1, |_| {});
        b.extend_from_slice(&[0x13, 0x01, 0x00]);
        vector(b, 2, |b| {
            extension(b, 43, |b| b.extend_from_slice(&[0x03, 0x04]));
            extension(b, 51, |b| {
                b.extend_from_slice(&[0x00, 0x1d]);
                vector(b, 2, |b| b.extend_from_slice(&random::<32>(&mut rng)));
            });
        });
    });
    out
}

/// EncryptedExtensions (RFC 8446 §4.3.1) with ALPN and the server's transport parameters,
/// followed by the start of a Certificate message cut by the end of the packet.
pub fn encrypted_extensions(seed: u64) -> Vec<u8> {
    let mut rng = Pcg64::seed_from_u64(seed ^ 0xee);
    let mut out = vec![0x08];
    vector(&mut out, 3, |b| {
        vector(b, 2, |b| {
            extension(b, 16, |b| vector(b, 2, |b| vector(b, 1, |b| b.extend_from_slice(b"hq-interop"))));
            extension(b, 57, |b| {
                tp(b, 0x00, &random::<8>(&mut rng)); // original_destination_connection_id
                tp_int(b, 0x01, 30_000);
                tp(b, 0x02, &random::<16>(&mut rng)); // stateless_reset_token
                tp_int(b, 0x03, 65_527);
                tp_int(b, 0x04, 1 << 24);
                tp_int(b, 0x05, 1 << 20);
                tp_int(b, 0x06, 1 << 20);
                tp_int(b, 0x07, 1 << 20);
                tp_int(b, 0x08, 100);
                tp_int(b, 0x09, 100);
                tp_int(b, 0x0e, 8);
                tp(b, 0x0f, &random::<8>(&mut rng)); // initial_source_connection_id
            });
        });
    });
    out
}

fn frames(list: &[Frame<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in list {
        f.encode(&mut out);
    }
    out
}

/// Pads `payload` with PADDING frames to `len` bytes.
fn pad_to(mut payload: Vec<u8>, len: usize) -> Vec<u8> {
    if payload.len() < len {
        payload.resize(len, 0);
    }
    payload
}

/// The client's first Initial: CRYPTO(ClientHello), padded to the capacity.
pub fn client_initial(seed: u64) -> Sample {
    let hello = client_hello(seed);
    let payload = pad_to(frames(&[Frame::Crypto { offset: 0, data: &hello }]), INITIAL_PAYLOAD_LEN);
    Sample {
        name: "client_initial",
        packet: packet(Role::Client, PacketSpace::Initial, 0),
        capacity: payload.len(),
        payload,
    }
}

/// The client's first two Initials when the ClientHello spans them: the first packet's CRYPTO
/// frame holds as much of the message as fits (it ends inside the post-quantum key share), the
/// second the rest, padded.
pub fn client_initial_split(seed: u64) -> (Sample, Sample) {
    let hello = client_hello_pq(seed);
    // CRYPTO type, offset 0, a 2-byte length: 4 bytes of frame header.
    let first = INITIAL_PAYLOAD_LEN - 4;
    let one = frames(&[Frame::Crypto { offset: 0, data: &hello[..first] }]);
    let two = frames(&[Frame::Crypto { offset: first as u64, data: &hello[first..] }]);
    let two = pad_to(two, INITIAL_PAYLOAD_LEN);
    (
        Sample {
            name: "client_initial_split_1",
            packet: packet(Role::Client, PacketSpace::Initial, 0),
            capacity: one.len(),
            payload: one,
        },
        Sample {
            name: "client_initial_split_2",
            packet: packet(Role::Client, PacketSpace::Initial, 1),
            capacity: two.len(),
            payload: two,
        },
    )
}

/// The server's Initial: ACK, CRYPTO(ServerHello).
pub fn server_initial(seed: u64) -> Sample {
    let hello = server_hello(seed);
    let ack = Frame::Ack { largest: 0, delay: 0, first_range: 0, ranges: vec![], ecn: None };
    let payload = frames(&[ack, Frame::Crypto { offset: 0, data: &hello }]);
    Sample { name: "server_initial", packet: packet(Role::Server, PacketSpace::Initial, 0), capacity: 1100, payload }
}

/// The server's first Handshake packet: CRYPTO(EncryptedExtensions, Certificate...), full.
pub fn server_handshake(seed: u64) -> Sample {
    let mut data = encrypted_extensions(seed);
    // Certificate (RFC 8446 §4.4.2), 900 bytes of it in this packet.
    let mut rng = Pcg64::seed_from_u64(seed ^ 0xce);
    data.extend_from_slice(&[0x0b, 0x00, 0x03, 0x20, 0x00, 0x00, 0x03, 0x1c, 0x00, 0x03, 0x17, 0x30, 0x82]);
    let mut cert = vec![0u8; 900];
    rng.fill(&mut cert[..]);
    data.extend_from_slice(&cert);
    let payload = frames(&[Frame::Crypto { offset: 0, data: &data }]);
    Sample {
        name: "server_handshake",
        packet: packet(Role::Server, PacketSpace::Handshake, 0),
        capacity: payload.len(),
        payload,
    }
}

/// The client's Handshake packet: ACK, CRYPTO(Finished).
pub fn client_handshake(seed: u64) -> Sample {
    let mut rng = Pcg64::seed_from_u64(seed ^ 0xf1);
    let mut finished = vec![0x14, 0x00, 0x00, 0x20];
    finished.extend_from_slice(&random::<32>(&mut rng));
    let ack = Frame::Ack { largest: 2, delay: rng.gen_range(0..40), first_range: 2, ranges: vec![], ecn: None };
    let payload = frames(&[ack, Frame::Crypto { offset: 0, data: &finished }]);
    Sample {
        name: "client_handshake",
        packet: packet(Role::Client, PacketSpace::Handshake, 1),
        capacity: 1150,
        payload,
    }
}

/// A client 1-RTT packet: ACK, MAX_DATA, and an hq-interop request on stream 0, with room left.
pub fn client_stream(seed: u64) -> Sample {
    let mut rng = Pcg64::seed_from_u64(seed ^ 0xc5);
    let ack = Frame::Ack { largest: 3, delay: rng.gen_range(0..40), first_range: 1, ranges: vec![(0, 0)], ecn: None };
    let payload = frames(&[
        ack,
        Frame::MaxData { maximum: 1 << 24 },
        Frame::Stream { stream_id: 0, offset: None, data: b"GET /4096\r\n", explicit_len: true, fin: true },
    ]);
    Sample {
        name: "client_stream",
        packet: packet(Role::Client, PacketSpace::ApplicationData, 2),
        capacity: 1180,
        payload,
    }
}

/// A full server 1-RTT packet: ACK, then STREAM data on stream 0 up to the end of the packet.
pub fn server_stream(seed: u64) -> Sample {
    let mut rng = Pcg64::seed_from_u64(seed ^ 0x55);
    let ack = Frame::Ack { largest: 5, delay: rng.gen_range(0..40), first_range: 0, ranges: vec![], ecn: None };
    let mut head = frames(&[ack]);
    let mut body = vec![0u8; 1200 - head.len() - 8];
    rng.fill(&mut body[..]);
    Frame::Stream { stream_id: 0, offset: Some(2_400), data: &body, explicit_len: true, fin: false }.encode(&mut head);
    let payload = pad_to(head, 1200);
    Sample {
        name: "server_stream",
        packet: packet(Role::Server, PacketSpace::ApplicationData, 4),
        capacity: 1200,
        payload,
    }
}

/// The server's first 1-RTT packet: HANDSHAKE_DONE, NEW_CONNECTION_IDs, NEW_TOKEN, PING.
pub fn server_ready(seed: u64) -> Sample {
    let mut rng = Pcg64::seed_from_u64(seed ^ 0x4d);
    let cids: [[u8; 16]; 2] = [random(&mut rng), random(&mut rng)];
    let token = random::<48>(&mut rng);
    let payload = frames(&[
        Frame::HandshakeDone,
        Frame::NewConnectionId { sequence: 1, retire_prior_to: 0, cid: &cids[0], reset_token: random(&mut rng) },
        Frame::NewConnectionId { sequence: 2, retire_prior_to: 0, cid: &cids[1], reset_token: random(&mut rng) },
        Frame::NewToken { token: &token },
        Frame::Ping,
    ]);
    Sample {
        name: "server_ready",
        packet: packet(Role::Server, PacketSpace::ApplicationData, 0),
        capacity: 1200,
        payload,
    }
}

/// The server's session ticket (RFC 8446 §4.6.1) in a 1-RTT packet, as s2n-quic sends it when
/// resumption is enabled: the application data space's crypto stream starts with it.
pub fn server_ticket(seed: u64) -> Sample {
    let nst = new_session_ticket(seed);
    let payload = frames(&[Frame::Crypto { offset: 0, data: &nst }]);
    Sample {
        name: "server_ticket",
        packet: packet(Role::Server, PacketSpace::ApplicationData, 1),
        capacity: 1200,
        payload,
    }
}

/// A NewSessionTicket (RFC 8446 §4.6.1) with the early_data extension QUIC requires.
pub fn new_session_ticket(seed: u64) -> Vec<u8> {
    let mut rng = Pcg64::seed_from_u64(seed ^ 0x71);
    let mut nst = vec![0x04];
    vector(&mut nst, 3, |b| {
        b.extend_from_slice(&86_400u32.to_be_bytes()); // ticket_lifetime
        b.extend_from_slice(&random::<4>(&mut rng)); // ticket_age_add
        vector(b, 1, |b| b.extend_from_slice(&random::<8>(&mut rng)));
        vector(b, 2, |b| b.extend_from_slice(&random::<112>(&mut rng)));
        // RFC 9001 §4.6.1: early_data with max_early_data_size 0xffffffff.
        vector(b, 2, |b| extension(b, 42, |b| b.extend_from_slice(&u32::MAX.to_be_bytes())));
    });
    nst
}

/// A client closing the connection: CONNECTION_CLOSE (application, NO_ERROR).
pub fn closing(_seed: u64) -> Sample {
    let payload =
        frames(&[Frame::ConnectionClose { error_code: 0, frame_type: None, reason: b"" }, Frame::Padding { len: 2 }]);
    Sample { name: "closing", packet: packet(Role::Client, PacketSpace::ApplicationData, 7), capacity: 1200, payload }
}
