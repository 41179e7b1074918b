//! What a client learns from the server's side of the TLS handshake, read from the cleartext
//! handshake messages (QUIC carries them in CRYPTO frames without TLS records, RFC 9001 §4).
//!
//! - [`psk_accepted`]: whether a ServerHello accepted the session ticket the client offered.
//!   The client's TLS library knows too, but tells only through callbacks that fire when the
//!   server happens to send a new ticket; the ServerHello says it for every server, whether it
//!   issues tickets or not.

use crate::mutate::tls::{ext, msg, Layout};

/// The `random` of a HelloRetryRequest, which is a ServerHello with this value (RFC 8446
/// §4.1.3): SHA-256("HelloRetryRequest").
const HELLO_RETRY_REQUEST: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11,
    0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Whether the ServerHello `message` (a whole handshake message, from its 4-byte header on)
/// accepted a pre-shared key, that is resumed the session: RFC 8446 §4.2.11, "in order to
/// accept PSK key establishment, the server sends a "pre_shared_key" extension indicating the
/// selected identity"; a full handshake's ServerHello has none. `None` when `message` is not a
/// whole ServerHello, or is a HelloRetryRequest (the real ServerHello comes later).
pub fn psk_accepted(message: &[u8]) -> Option<bool> {
    let mut layout = Layout::default();
    if !layout.parse_message(message) || layout.msg_type != msg::SERVER_HELLO || layout.msg_end > message.len() {
        return None;
    }
    let random_at = layout.version_at? + 2;
    if message.get(random_at..random_at + 32)? == HELLO_RETRY_REQUEST {
        return None;
    }
    // The extension block must have parsed to its end: a cut message says nothing.
    layout.extensions_at?;
    Some(layout.extensions.iter().any(|e| e.ty == ext::PRE_SHARED_KEY))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(width: usize, body: &[u8]) -> Vec<u8> {
        let mut v = body.len().to_be_bytes()[8 - width..].to_vec();
        v.extend_from_slice(body);
        v
    }

    /// A ServerHello (RFC 8446 §4.1.3) with the given random and extensions (type, body).
    fn server_hello(random: [u8; 32], extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&random);
        body.extend(vector(1, &[7; 32]));
        body.extend_from_slice(&[0x13, 0x01, 0x00]);
        let mut block = Vec::new();
        for (ty, data) in extensions {
            block.extend_from_slice(&ty.to_be_bytes());
            block.extend(vector(2, data));
        }
        body.extend(vector(2, &block));
        let mut message = vec![msg::SERVER_HELLO];
        message.extend(vector(3, &body));
        message
    }

    fn supported_versions() -> (u16, Vec<u8>) {
        (ext::SUPPORTED_VERSIONS, vec![0x03, 0x04])
    }

    fn key_share() -> (u16, Vec<u8>) {
        let mut share = 0x001du16.to_be_bytes().to_vec();
        share.extend(vector(2, &[9; 32]));
        (ext::KEY_SHARE, share)
    }

    #[test]
    fn a_resumed_server_hello_selects_the_psk_and_a_full_one_does_not() {
        let resumed = server_hello([1; 32], &[supported_versions(), key_share(), (ext::PRE_SHARED_KEY, vec![0, 0])]);
        assert_eq!(psk_accepted(&resumed), Some(true));
        let full = server_hello([1; 32], &[supported_versions(), key_share()]);
        assert_eq!(psk_accepted(&full), Some(false));
    }

    #[test]
    fn retry_requests_cut_messages_and_other_messages_say_nothing() {
        let hrr = server_hello(HELLO_RETRY_REQUEST, &[supported_versions(), (ext::KEY_SHARE, vec![0x00, 0x1d])]);
        assert_eq!(psk_accepted(&hrr), None);
        let whole = server_hello([1; 32], &[supported_versions(), key_share(), (ext::PRE_SHARED_KEY, vec![0, 0])]);
        for cut in [0, 3, 4, 40, whole.len() - 1] {
            assert_eq!(psk_accepted(&whole[..cut]), None, "cut at {cut}");
        }
        let mut client_hello = whole.clone();
        client_hello[0] = msg::CLIENT_HELLO;
        assert_eq!(psk_accepted(&client_hello), None);
    }
}
