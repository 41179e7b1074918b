//! Operators on the handshake message and its extensions: the message header, the ClientHello's
//! and ServerHello's fixed fields (RFC 8446 §4.1.2, §4.1.3), extension framing (§4.2), key shares
//! (§4.2.8), supported_versions (§4.2.1), ALPN (RFC 7301 §3.1), server_name (RFC 6066 §3) and
//! the NewSessionTicket's fields (§4.6.1).
//!
//! Values come from tables of what a TLS 1.3 stack inside QUIC must refuse or handle: versions
//! other than TLS 1.3, cipher suites QUIC forbids, GREASE code points (RFC 8701), groups that
//! were not offered, keys of the wrong size or at the edges of their group.

use super::{ext, msg, pick, read_be, write_be, Context, Op};
use rand::Rng;

/// GREASE values for versions, groups, suites and extension types (RFC 8701 §2): 0x?a?a.
fn grease<R: Rng>(rng: &mut R) -> u16 {
    let n = rng.gen_range(0..16u16);
    0x0a0a | n << 12 | n << 4
}

fn set_u16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// A 2-byte length made wrong: empty, one off either way, the largest, odd.
fn bad_len16<R: Rng>(rng: &mut R, old: usize) -> usize {
    [0, 1, old.wrapping_sub(1), old + 1, 0xffff, old | 1][rng.gen_range(0..6)] & 0xffff
}

/// Applies `op`; returns its offset and the new payload length.
pub fn apply<R: Rng>(rng: &mut R, op: Op, mut cx: Context<'_>) -> Option<(usize, usize)> {
    let l = cx.layout;
    let len = cx.len;
    let buf = &mut *cx.buf;
    let holds = |end: usize| l.holds(end);
    match op {
        // RFC 8446 §4: `uint24 length` of the message body.
        Op::MessageLength => {
            let at = l.data_at + 1;
            let old = read_be(buf, at, 3);
            let new = [0, old.wrapping_sub(1), old + 1, 0xff_ffff, old + 0x1_0000, 0x4000][rng.gen_range(0..6)];
            write_be(buf, at, 3, new);
            Some((at, len))
        }
        // Another message type where this one belongs: a second ClientHello, a ServerHello from
        // a client, KeyUpdate (24) or EndOfEarlyData (5), which QUIC forbids (RFC 9001 §6, §8.3).
        Op::MessageType => {
            buf[l.data_at] = [1, 2, 4, 5, 8, 11, 20, 24, 0, 0xfe, 0xff][rng.gen_range(0..11)];
            Some((l.data_at, len))
        }
        // RFC 8446 §4.1.2: "legacy_version ... MUST be set to 0x0303".
        Op::LegacyVersion => {
            let at = l.version_at?;
            set_u16(buf, at, [0x0304, 0x0301, 0x0300, 0x0000, 0xffff, 0x0302][rng.gen_range(0..6)]);
            Some((at, len))
        }
        // RFC 9001 §8.4: QUIC does not use middlebox compatibility mode, so the session id is
        // empty. Filling it, or making its length lie, is worth trying.
        Op::SessionId => {
            let at = l.session_id_at?;
            if rng.gen() {
                let n = [32, 33, 255][rng.gen_range(0..3)];
                let old = usize::from(buf[at]);
                cx.scratch.clear();
                cx.scratch.push(n as u8);
                cx.scratch.extend((0..n).map(|i| i as u8));
                let new_len = cx.resize((at, 1 + old.min(l.data_end - at - 1)), true, None, &[])?;
                Some((at, new_len))
            } else {
                buf[at] = [1, 32, 33, 0xff][rng.gen_range(0..4)];
                Some((at, len))
            }
        }
        // RFC 9001 §5.3: TLS_AES_128_CCM_8_SHA256 (0x1305) "MUST NOT" be negotiated; 0x00ff is the
        // renegotiation SCSV, 0x1306 unassigned.
        Op::CipherSuites => {
            let at = l.suites_at?;
            let suite_at = if l.msg_type == msg::CLIENT_HELLO {
                if rng.gen_ratio(1, 3) {
                    let old = read_be(buf, at, 2);
                    write_be(buf, at, 2, bad_len16(rng, old));
                    return Some((at, len));
                }
                at + 2
            } else {
                at
            };
            let suite = [0x1305, 0x0000, 0x00ff, 0x1306, 0xc02f, grease(rng), 0x1302][rng.gen_range(0..7)];
            set_u16(buf, suite_at, suite);
            Some((suite_at, len))
        }
        // RFC 8446 §4.1.2: exactly one byte, null (0); anything else is illegal_parameter.
        Op::Compression => {
            let at = l.compression_at?;
            let target = if l.msg_type == msg::CLIENT_HELLO && rng.gen() {
                at
            } else {
                at + usize::from(l.msg_type == msg::CLIENT_HELLO)
            };
            buf[target] = [0, 1, 2, 0xff][rng.gen_range(0..4)];
            Some((target, len))
        }
        Op::ExtensionsLength => {
            let at = l.extensions_at?;
            let old = read_be(buf, at, 2);
            write_be(buf, at, 2, bad_len16(rng, old));
            Some((at, len))
        }
        Op::ExtLength => {
            let (_, e) = pick(rng, &l.extensions, |_| true)?;
            let old = read_be(buf, e.at + 2, 2);
            write_be(buf, e.at + 2, 2, bad_len16(rng, old));
            Some((e.at + 2, len))
        }
        // RFC 8446 §4.2: "There MUST NOT be more than one extension of the same type"; unknown
        // and GREASE types must be ignored; some types do not belong in this message.
        Op::ExtType => {
            let (i, e) = pick(rng, &l.extensions, |_| true)?;
            let other = l.extensions[(i + 1) % l.extensions.len()].ty;
            let t = match rng.gen_range(0..5) {
                0 => other,
                1 => grease(rng),
                // early_data, pre_shared_key (which must be last), cookie.
                2 => [42, 41, 44][rng.gen_range(0..3)],
                3 => 0xffff,
                _ => rng.gen(),
            };
            set_u16(buf, e.at, t);
            Some((e.at, len))
        }
        Op::ExtDuplicate => {
            let (_, e) = pick(rng, &l.extensions, |e| holds(e.end))?;
            cx.scratch.clear();
            cx.scratch.extend_from_slice(&buf[e.at..e.end]);
            let new_len = cx.resize((e.end, 0), true, None, &[])?;
            Some((e.end, new_len))
        }
        // A missing key_share, supported_versions or transport parameters extension must end the
        // handshake (RFC 8446 §9.2, RFC 9001 §8.2).
        Op::ExtRemove => {
            let (_, e) = pick(rng, &l.extensions, |e| holds(e.end))?;
            let new_len = cx.resize((e.at, e.end - e.at), false, None, &[])?;
            Some((e.at, new_len))
        }
        Op::ExtReorder => {
            let n = l.complete_extensions();
            let i = rng.gen_range(0..n - 1);
            let j = rng.gen_range(i + 1..n);
            let mut complete = l.extensions.iter().filter(|e| holds(e.end));
            let a = *complete.nth(i)?;
            let b = *complete.nth(j - i - 1)?;
            super::super::edit::swap_regions(buf, (a.at, a.end), (b.at, b.end), cx.scratch);
            Some((a.at, len))
        }
        // Inside any extension: most are lists of 2-byte code points after a length
        // (supported_groups, signature_algorithms), so an aligned code point is replaced by an
        // unassigned, GREASE or zero one; or a bit flips anywhere in the data.
        Op::ExtData => {
            let (_, e) = pick(rng, &l.extensions, |e| e.end > e.data_at && holds(e.end))?;
            let n = e.end - e.data_at;
            if n >= 4 && rng.gen() {
                let at = e.data_at + 2 + 2 * rng.gen_range(0..(n - 2) / 2);
                set_u16(buf, at, [0x0000, 0xffff, grease(rng), 0x0201, 0x0808][rng.gen_range(0..5)]);
                Some((at, len))
            } else {
                let at = e.data_at + rng.gen_range(0..n);
                buf[at] ^= 1 << rng.gen_range(0..8);
                Some((at, len))
            }
        }
        // RFC 8446 §4.2.8: groups must be among supported_groups, each at most once.
        Op::KeyShareGroup => {
            let (i, s) = pick(rng, &l.shares, |_| true)?;
            let other = l.shares[(i + 1) % l.shares.len()].at;
            let g = match rng.gen_range(0..4) {
                0 => read_be(buf, other, 2) as u16,
                1 => grease(rng),
                // secp384r1, secp521r1, x448, ffdhe2048, X25519MLKEM768, x25519, secp256r1, none.
                2 => [0x0018, 0x0019, 0x001e, 0x0100, 0x11ec, 0x001d, 0x0017, 0x0000][rng.gen_range(0..8)],
                _ => 0xffff,
            };
            set_u16(buf, s.at, g);
            Some((s.at, len))
        }
        // The key_exchange length alone made wrong: the entries after it misparse.
        Op::KeyShareLength => {
            let (_, s) = pick(rng, &l.shares, |_| true)?;
            let old = read_be(buf, s.at + 2, 2);
            write_be(buf, s.at + 2, 2, bad_len16(rng, old));
            Some((s.at + 2, len))
        }
        // Keys at the edges of their group: all zeros (the x25519 identity, whose shared secret
        // is zero), the point at infinity, compressed or hybrid EC point formats where RFC 8446
        // §4.2.8.2 requires uncompressed (0x04), all ones.
        Op::KeyShareKey => {
            let (_, s) = pick(rng, &l.shares, |s| s.end > s.key_at && holds(s.end))?;
            let key = &mut buf[s.key_at..s.end];
            match rng.gen_range(0..6) {
                0 => key.fill(0),
                1 => key.fill(0xff),
                2 => {
                    key.fill(0);
                    key[0] = 1;
                }
                3 => key[0] = [0x00, 0x02, 0x03, 0x05, 0x06, 0x07][rng.gen_range(0..6)],
                4 => {
                    let i = rng.gen_range(0..key.len());
                    key[i] ^= 1 << rng.gen_range(0..8);
                }
                _ => rng.fill(key),
            }
            Some((s.key_at, len))
        }
        // A key of the wrong size with every length consistent: x25519 wants exactly 32 bytes,
        // secp256r1 65.
        Op::KeyShareResize => {
            let (_, s) = pick(rng, &l.shares, |s| s.end > s.key_at && holds(s.end))?;
            let old = s.end - s.key_at;
            let new = [0, 1, old - 1, old + 1, 32, 65, 97, 1216][rng.gen_range(0..8)];
            cx.scratch.clear();
            cx.scratch.extend_from_slice(&((new as u16).to_be_bytes()));
            let keep = old.min(new);
            cx.scratch.extend_from_slice(&cx.buf[s.key_at..s.key_at + keep]);
            cx.scratch.resize(2 + new, 0x5a);
            let lists: &[usize] = l.shares_list_at.as_slice();
            let new_len = cx.resize((s.at + 2, 2 + old), true, l.shares_ext, lists)?;
            Some((s.at + 2, new_len))
        }
        Op::KeyShareOrder => {
            let n = l.complete_shares();
            let i = rng.gen_range(0..n - 1);
            let j = rng.gen_range(i + 1..n);
            let mut complete = l.shares.iter().filter(|s| holds(s.end));
            let a = *complete.nth(i)?;
            let b = *complete.nth(j - i - 1)?;
            super::super::edit::swap_regions(buf, (a.at, a.end), (b.at, b.end), cx.scratch);
            Some((a.at, len))
        }
        // "Clients MUST NOT offer multiple KeyShareEntry values for the same group" (§4.2.8).
        Op::KeyShareDuplicate => {
            let (_, s) = pick(rng, &l.shares, |s| holds(s.end))?;
            cx.scratch.clear();
            cx.scratch.extend_from_slice(&buf[s.at..s.end]);
            let new_len = cx.resize((s.end, 0), true, l.shares_ext, l.shares_list_at.as_slice())?;
            Some((s.end, new_len))
        }
        // With no share left the server must ask again (HelloRetryRequest, §4.1.4).
        Op::KeyShareRemove => {
            let (_, s) = pick(rng, &l.shares, |s| holds(s.end))?;
            let new_len = cx.resize((s.at, s.end - s.at), false, l.shares_ext, l.shares_list_at.as_slice())?;
            Some((s.at, new_len))
        }
        Op::KeyShareListLength => {
            let at = l.shares_list_at?;
            let old = read_be(buf, at, 2);
            write_be(buf, at, 2, bad_len16(rng, old));
            Some((at, len))
        }
        // RFC 8446 §4.2.1: the ClientHello lists versions<2..254> (1-byte length), the
        // ServerHello selects one. QUIC requires TLS 1.3 (RFC 9001 §4.2).
        Op::SupportedVersions => {
            let (_, e) = pick(rng, &l.extensions, |e| e.ty == ext::SUPPORTED_VERSIONS && holds(e.end))?;
            let version = [0x0303, 0x0302, 0x7f1c, 0xfefc, 0x0305, 0x0000, grease(rng)][rng.gen_range(0..7)];
            if l.msg_type == msg::CLIENT_HELLO {
                let list = e.end - e.data_at;
                if list == 0 {
                    return None;
                }
                if rng.gen_ratio(1, 3) {
                    buf[e.data_at] = [0, 1, 3, 0xfe, 0xff][rng.gen_range(0..5)];
                    return Some((e.data_at, len));
                }
                let entries = (list - 1) / 2;
                if entries == 0 {
                    return None;
                }
                let at = e.data_at + 1 + 2 * rng.gen_range(0..entries);
                set_u16(buf, at, version);
                Some((at, len))
            } else {
                if e.end - e.data_at < 2 {
                    return None;
                }
                set_u16(buf, e.data_at, version);
                Some((e.data_at, len))
            }
        }
        // RFC 8446 §4.6.1: "Servers MUST NOT use any value greater than 604800 seconds" for the
        // lifetime; the nonce and ticket lengths are framing; RFC 9001 §4.6.1: a QUIC server's
        // early_data extension must carry max_early_data_size 0xffffffff, any other value is a
        // PROTOCOL_VIOLATION.
        Op::Ticket => {
            let at = l.ticket_at?;
            match rng.gen_range(0..4) {
                0 => {
                    let lifetime = [0u32, 1, 604_800, 604_801, u32::MAX][rng.gen_range(0..5)];
                    buf[at..at + 4].copy_from_slice(&lifetime.to_be_bytes());
                    Some((at, len))
                }
                1 => {
                    let nonce_at = at + 8;
                    buf[nonce_at] = [0, buf[nonce_at].wrapping_add(1), 0xff][rng.gen_range(0..3)];
                    Some((nonce_at, len))
                }
                2 => {
                    let ticket_at = at + 9 + usize::from(buf[at + 8]);
                    if !holds(ticket_at + 2) {
                        return None;
                    }
                    let old = read_be(buf, ticket_at, 2);
                    write_be(buf, ticket_at, 2, bad_len16(rng, old));
                    Some((ticket_at, len))
                }
                _ => {
                    let (_, e) = pick(rng, &l.extensions, |e| {
                        e.ty == ext::EARLY_DATA && e.end - e.data_at == 4 && holds(e.end)
                    })?;
                    let size = [0u32, 1, 0xffff_fffe, 16_384][rng.gen_range(0..4)];
                    buf[e.data_at..e.data_at + 4].copy_from_slice(&size.to_be_bytes());
                    Some((e.data_at, len))
                }
            }
        }
        // RFC 7301 §3.1: `ProtocolName protocol_name_list<2..2^16-1>`, each
        // `opaque ProtocolName<1..2^8-1>`: "Empty strings MUST NOT be included".
        Op::Alpn => {
            let (_, e) = pick(rng, &l.extensions, |e| e.ty == ext::ALPN && holds(e.end))?;
            if e.end - e.data_at < 4 {
                return None;
            }
            let name_len_at = e.data_at + 2;
            match rng.gen_range(0..4) {
                0 => {
                    let old = read_be(buf, e.data_at, 2);
                    write_be(buf, e.data_at, 2, bad_len16(rng, old));
                    Some((e.data_at, len))
                }
                1 => {
                    buf[name_len_at] = [0, buf[name_len_at].wrapping_add(1), 0xff][rng.gen_range(0..3)];
                    Some((name_len_at, len))
                }
                _ => {
                    // Another protocol in the same number of bytes: "hq-interoq", "h3-interop".
                    let at = name_len_at + 1 + rng.gen_range(0..e.end - name_len_at - 1);
                    buf[at] = [0x00, b'h', b'3', 0xff, buf[at] ^ 0x01][rng.gen_range(0..5)];
                    Some((at, len))
                }
            }
        }
        // RFC 6066 §3: `ServerName server_name_list<1..2^16-1>`, each `NameType name_type`
        // (host_name(0)) and `HostName opaque<1..2^16-1>`, "represented as a byte string using
        // ASCII encoding without a trailing dot".
        Op::Sni => {
            let (_, e) = pick(rng, &l.extensions, |e| e.ty == ext::SERVER_NAME && holds(e.end))?;
            if e.end - e.data_at < 6 {
                return None;
            }
            let (type_at, name_len_at) = (e.data_at + 2, e.data_at + 3);
            match rng.gen_range(0..4) {
                0 => {
                    buf[type_at] = [1, 2, 0xff][rng.gen_range(0..3)];
                    Some((type_at, len))
                }
                1 => {
                    let old = read_be(buf, name_len_at, 2);
                    write_be(buf, name_len_at, 2, bad_len16(rng, old));
                    Some((name_len_at, len))
                }
                _ => {
                    let name_at = name_len_at + 2;
                    if e.end <= name_at {
                        return None;
                    }
                    let at = name_at + rng.gen_range(0..e.end - name_at);
                    buf[at] = [0x00, b'.', 0xff, b'*', b'%', 0x80][rng.gen_range(0..6)];
                    Some((at, len))
                }
            }
        }
        Op::TpValue | Op::TpLength | Op::TpId | Op::TpDuplicate | Op::TpAdd | Op::TpRemove => None,
    }
}
