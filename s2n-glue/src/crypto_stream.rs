//! A peer's Initial crypto stream, as far as both binaries need it: the frames of a received
//! packet, walked with s2n-quic's own decoder, and the first handshake message of the stream
//! reassembled from them: the ClientHello a server receives (RFC 9001 §4.1.3), or the ServerHello
//! a client receives. The fuzz-server's planted key-share fault reads the first; the client reads
//! the second to see whether the server resumed its session.

use fuzz_shared::mutate::tls::read_be;
use s2n_codec::DecoderBufferMut;
use s2n_quic_core::buffer::Reassembler;
use s2n_quic_core::frame::FrameMut;
use s2n_quic_core::varint::VarInt;

/// The type of the first frame in `payload` for which `wanted` holds. The type of each frame is
/// read before decoding it, so a frame type s2n-quic cannot decode (ACK_FREQUENCY, say) is
/// still seen.
pub fn first_frame_of(payload: &mut [u8], wanted: impl Fn(u64) -> bool) -> Option<u64> {
    walk_frames(payload, |t, _| wanted(t).then_some(t))
}

/// The first NEW_CONNECTION_ID frame in `payload` whose Retire Prior To is above 0: its
/// sequence number and Retire Prior To. RFC 9000 §19.15: "Retire Prior To: A variable-length
/// integer indicating which connection IDs should be retired"; §5.1.2: "An endpoint can request
/// that its peer retire connection IDs by sending a NEW_CONNECTION_ID frame with an increased
/// Retire Prior To field." s2n-quic's client does so once the handshake is confirmed, to retire
/// the connection ID it used during the handshake.
pub fn retiring_new_connection_id(payload: &mut [u8]) -> Option<(u64, u64)> {
    walk_frames(payload, |_, frame| match frame {
        Some(FrameMut::NewConnectionId(f)) if f.retire_prior_to.as_u64() > 0 => {
            Some((f.sequence_number.as_u64(), f.retire_prior_to.as_u64()))
        }
        _ => None,
    })
}

/// Walks the frames of a received packet's payload with s2n-quic's own decoder, calling `visit`
/// with each frame's type and the frame (`None` for the first frame that does not decode, where
/// the walk stops: s2n-quic will close the connection over it anyway). Stops at the first
/// `Some` that `visit` returns, and returns it.
fn walk_frames<T>(payload: &mut [u8], mut visit: impl FnMut(u64, Option<&FrameMut<'_>>) -> Option<T>) -> Option<T> {
    let mut offset = 0;
    while offset < payload.len() {
        let rest = &mut payload[offset..];
        let frame_type = read_varint(rest)?;
        let before = rest.len();
        let after = match DecoderBufferMut::new(rest).decode::<FrameMut>() {
            Ok((frame, remaining)) => {
                if let Some(found) = visit(frame_type, Some(&frame)) {
                    return Some(found);
                }
                remaining.len()
            }
            Err(_) => return visit(frame_type, None),
        };
        if after >= before {
            return None; // no progress: never loop forever
        }
        offset += before - after;
    }
    None
}

/// The most of a connection's Initial crypto stream kept to find its first message: more than
/// any real ClientHello (a post-quantum one is ~1.5 KB; s2n-tls accepts up to 64 KiB but clients
/// send nothing near it) or ServerHello, and a bound on what a fuzzed CRYPTO offset can make the
/// receiver hold.
pub const MAX_FIRST_MESSAGE: usize = 16 * 1024;

/// One connection's Initial-space crypto stream (RFC 9000 §19.6: CRYPTO frames carry it at any
/// offsets, in any order, repeated on retransmission), reassembled until the message it starts
/// is whole: the client's ClientHello (RFC 9001 §4.1.3) or the server's ServerHello. Data beyond
/// [`MAX_FIRST_MESSAGE`] is dropped; a message declared longer than that is never handed out.
#[derive(Debug, Default)]
pub struct FirstMessage {
    stream: Reassembler,
    /// The message was handed out, or can never be: nothing more to do.
    done: bool,
}

impl FirstMessage {
    /// Adds the CRYPTO frames of one received Initial packet's payload. Returns the whole
    /// message (its 4-byte header included) the first time it is complete, and never again.
    pub fn add(&mut self, payload: &mut [u8]) -> Option<Vec<u8>> {
        if self.done {
            return None;
        }
        walk_frames(payload, |_, frame| {
            if let Some(FrameMut::Crypto(crypto)) = frame {
                self.write(crypto.offset.as_u64(), crypto.data.as_less_safe_slice());
            }
            None::<()>
        });
        self.take_message()
    }

    /// Keeps the part of `data` (at stream `offset`) that lies below [`MAX_FIRST_MESSAGE`].
    fn write(&mut self, offset: u64, data: &[u8]) {
        let Ok(start) = usize::try_from(offset) else { return };
        let kept = MAX_FIRST_MESSAGE.saturating_sub(start).min(data.len());
        if kept > 0 {
            // Only a stream beyond 2^62 bytes fails, and offsets here are below the bound.
            let _ = self.stream.write_at(VarInt::from_u32(start as u32), &data[..kept]);
        }
    }

    /// The message at the start of the stream, once it is all there (RFC 8446 §4: a 1-byte
    /// type and a 3-byte length, then the body).
    fn take_message(&mut self) -> Option<Vec<u8>> {
        let have = self.stream.total_received_len() as usize;
        if have < 4 {
            return None;
        }
        let mut bytes: Vec<u8> = Vec::with_capacity(have);
        self.stream.iter().for_each(|chunk| bytes.extend_from_slice(chunk));
        let total = 4 + read_be(&bytes, 1, 3);
        if total > MAX_FIRST_MESSAGE {
            self.finish();
            return None;
        }
        if have < total {
            return None;
        }
        self.finish();
        bytes.truncate(total);
        Some(bytes)
    }

    fn finish(&mut self) {
        self.done = true;
        self.stream.reset();
    }
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
    use fuzz_shared::mutate::tls::msg;

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
    fn finds_a_retiring_new_connection_id() {
        // NEW_CONNECTION_ID (RFC 9000 §19.15): type 0x18, sequence, Retire Prior To, length,
        // connection ID, 16-byte stateless reset token.
        let ncid = |seq: u8, rpt: u8| [&[0x18, seq, rpt, 4][..], &[0xab; 4], &[0x5a; 16]].concat();
        // PING, an NCID retiring nothing, then one retiring sequence 0.
        let mut payload = [vec![0x01], ncid(1, 0), ncid(2, 1)].concat();
        assert_eq!(retiring_new_connection_id(&mut payload), Some((2, 1)));
        let mut payload = [vec![0x01], ncid(1, 0), ncid(2, 0)].concat();
        assert_eq!(retiring_new_connection_id(&mut payload), None);
        // Retire Prior To above the sequence number is a protocol violation s2n-quic's decoder
        // refuses: the walk stops there, without a verdict.
        let mut payload = ncid(1, 2);
        assert_eq!(retiring_new_connection_id(&mut payload), None);
    }

    #[test]
    fn varints() {
        assert_eq!(read_varint(&[0x25]), Some(37));
        assert_eq!(read_varint(&[0x7b, 0xbd]), Some(15293));
        assert_eq!(read_varint(&[0x9d, 0x7f, 0x3e, 0x7d]), Some(494878333));
        assert_eq!(read_varint(&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c]), Some(151288809941952652));
        assert_eq!(read_varint(&[0x40]), None);
    }

    /// A CRYPTO frame (RFC 9000 §19.6) with 4-byte varints.
    fn crypto_frame(offset: usize, data: &[u8]) -> Vec<u8> {
        let varint = |v: usize| ((v as u32) | 0x8000_0000).to_be_bytes();
        [&[0x06][..], &varint(offset), &varint(data.len()), data].concat()
    }

    #[test]
    fn client_hello_is_reassembled_from_frames_in_any_order() {
        let hello = fuzz_shared::mutate::corpus::client_hello_pq(5);
        assert!(hello.len() > 1200, "the PQ hello spans packets");
        let cuts = [0, 3, 700, 1100, 1101, hello.len()];
        let piece = |i: usize| crypto_frame(cuts[i], &hello[cuts[i]..cuts[i + 1]]);
        let mut assembly = FirstMessage::default();
        // Packets: the last piece with a PING and PADDING, then the second and third pieces, a
        // retransmission of the last, then the first and fourth, which complete it.
        let packets = [
            [vec![0x01], piece(4), vec![0; 20]].concat(),
            [piece(1), piece(2)].concat(),
            piece(4),
            [piece(0), piece(3), vec![0; 3]].concat(),
        ];
        let mut got = Vec::new();
        for (i, packet) in packets.iter().enumerate() {
            let mut packet = packet.clone();
            got.push((i, assembly.add(&mut packet)));
        }
        assert!(got[..3].iter().all(|(_, h)| h.is_none()));
        assert_eq!(got[3].1.as_deref(), Some(&hello[..]));
        // Handed out once: a later retransmission gives nothing.
        assert_eq!(assembly.add(&mut piece(0)), None);
        // Data after the message (none in practice) is not part of it.
        let mut assembly = FirstMessage::default();
        let mut packet = crypto_frame(0, &[hello.clone(), vec![9; 10]].concat());
        assert_eq!(assembly.add(&mut packet).as_deref(), Some(&hello[..]));
    }

    #[test]
    fn reassembly_is_bounded() {
        // A message declared longer than the bound is never checked, however much arrives.
        let mut header = vec![msg::CLIENT_HELLO];
        header.extend_from_slice(&(MAX_FIRST_MESSAGE as u32).to_be_bytes()[1..]);
        let mut assembly = FirstMessage::default();
        assert_eq!(assembly.add(&mut crypto_frame(0, &header)), None);
        assert_eq!(assembly.add(&mut crypto_frame(4, &vec![0; MAX_FIRST_MESSAGE])), None);
        // Data beyond the bound is dropped, not buffered.
        let mut assembly = FirstMessage::default();
        assert_eq!(assembly.add(&mut crypto_frame(1 << 29, &[1; 100])), None);
        assert_eq!(assembly.stream.total_received_len(), 0);
        // A frame straddling the bound keeps its part below it: a message of exactly the bound
        // is whole.
        let mut header = vec![msg::CLIENT_HELLO];
        header.extend_from_slice(&(MAX_FIRST_MESSAGE as u32 - 4).to_be_bytes()[1..]);
        assert_eq!(assembly.add(&mut crypto_frame(0, &header)), None);
        assert_eq!(assembly.add(&mut crypto_frame(4, &vec![2; MAX_FIRST_MESSAGE - 14])), None);
        let whole = assembly.add(&mut crypto_frame(MAX_FIRST_MESSAGE - 10, &[1; 100])).expect("whole at the bound");
        assert_eq!(whole.len(), MAX_FIRST_MESSAGE);
        assert_eq!(whole[MAX_FIRST_MESSAGE - 11..], [2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        // Garbage or no frames: nothing, no panic.
        assert_eq!(FirstMessage::default().add(&mut [0x06, 0xff]), None);
        assert_eq!(FirstMessage::default().add(&mut []), None);
    }
}
