//! QUIC's transport error codes by name (RFC 9000 §20.1), as the client's outcomes, the
//! summary and the RFC oracle say them. CRYPTO_ERROR is a range: 0x0100 plus the TLS alert
//! (RFC 9001 §4.8), named with its alert.

/// The name of a transport error code: `PROTOCOL_VIOLATION`, `CRYPTO_ERROR (TLS alert 40)`;
/// `None` for a code RFC 9000 does not name.
pub fn name(code: u64) -> Option<String> {
    let name = match code {
        0x00 => "NO_ERROR",
        0x01 => "INTERNAL_ERROR",
        0x02 => "CONNECTION_REFUSED",
        0x03 => "FLOW_CONTROL_ERROR",
        0x04 => "STREAM_LIMIT_ERROR",
        0x05 => "STREAM_STATE_ERROR",
        0x06 => "FINAL_SIZE_ERROR",
        0x07 => "FRAME_ENCODING_ERROR",
        0x08 => "TRANSPORT_PARAMETER_ERROR",
        0x09 => "CONNECTION_ID_LIMIT_ERROR",
        0x0a => "PROTOCOL_VIOLATION",
        0x0b => "INVALID_TOKEN",
        0x0c => "APPLICATION_ERROR",
        0x0d => "CRYPTO_BUFFER_EXCEEDED",
        0x0e => "KEY_UPDATE_ERROR",
        0x0f => "AEAD_LIMIT_REACHED",
        0x10 => "NO_VIABLE_PATH",
        0x0100..=0x01ff => return Some(format!("CRYPTO_ERROR (TLS alert {})", code - 0x100)),
        _ => return None,
    };
    Some(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc_9000_section_20_1() {
        assert_eq!(name(0x0a).as_deref(), Some("PROTOCOL_VIOLATION"));
        assert_eq!(name(0x03).as_deref(), Some("FLOW_CONTROL_ERROR"));
        assert_eq!(name(0x10).as_deref(), Some("NO_VIABLE_PATH"));
        assert_eq!(name(0x128).as_deref(), Some("CRYPTO_ERROR (TLS alert 40)"), "RFC 9001 §4.8");
        assert_eq!(name(0x11), None);
        assert_eq!(name(0x200), None);
    }
}
