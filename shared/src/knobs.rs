//! Client knobs: what the client's own QUIC stack does on every connection by default, made a
//! choice, each named for the RFC behaviour it changes.
//!
//! A server may trip on something every connection of a stock client does, before any mutation:
//! then clean traffic kills it and no campaign can get past it. The knobs turn such default
//! behaviours off (or on), so that the campaign reaches the rest of the server. Like
//! `--resume-rate` they change what every connection sends, so a run records them in
//! `run_start` (`client_knobs`), restart and bisect commands keep them (they are options of the
//! command line they are built from), and `--resume-from` takes them from the log. Their
//! defaults are what the client always did; a log written before they existed ran with them.
//!
//! - [`ClientKnobs::handshake_cid_rotation`]: RFC 9000 §5.1.1 "Connection IDs that are issued and
//!   not retired are considered active"; §5.1.2 "An endpoint can request that its peer retire
//!   connection IDs by sending a NEW_CONNECTION_ID frame with an increased Retire Prior To
//!   field". s2n-quic's client, once the handshake is confirmed, issues a NEW_CONNECTION_ID with
//!   Retire Prior To 1, retiring the connection ID it used during the handshake (less
//!   linkability between the handshake and what follows). Off: it keeps that CID.
//! - [`ClientKnobs::cid_len`]: the length of the connection IDs the client issues (its Source
//!   Connection ID and those of its NEW_CONNECTION_ID frames; RFC 9000 §5.1: "Each connection ID
//!   has an associated sequence number", §17.2: at most 20 bytes). Not the ODCID, which is the
//!   chain's 8-byte CID.
//! - [`ClientKnobs::path_mtu_probing`]: RFC 9000 §14.3 "Datagram Packetization Layer PMTU
//!   Discovery" (RFC 8899): PING + PADDING probes of growing sizes once the handshake is done.
//!   Off by default in this client: the probes take packet numbers at times that depend on
//!   timing.

use serde::{Deserialize, Serialize};

/// The shortest connection ID the client's stack issues (s2n-quic's `LocalId::MIN_LEN`).
pub const MIN_CID_LEN: u8 = 4;
/// The longest connection ID QUIC v1 allows (RFC 9000 §17.2).
pub const MAX_CID_LEN: u8 = 20;

/// The client stack's default behaviours, as chosen for a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientKnobs {
    /// Retire the handshake connection ID once the handshake is confirmed (NEW_CONNECTION_ID
    /// with Retire Prior To 1; RFC 9000 §5.1.2). Default: on, as s2n-quic does.
    pub handshake_cid_rotation: bool,
    /// The length of the connection IDs the client issues. Default: 16, s2n-quic's.
    pub cid_len: u8,
    /// Path MTU discovery (RFC 9000 §14.3). Default: off.
    pub path_mtu_probing: bool,
}

impl Default for ClientKnobs {
    fn default() -> Self {
        Self { handshake_cid_rotation: true, cid_len: 16, path_mtu_probing: false }
    }
}

/// `on` or `off`, as the command line spells a switch.
pub fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

impl ClientKnobs {
    /// The command-line options that give these knobs (program options of fuzz-client): every
    /// knob, so that a command built from them runs the same connections.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--handshake-cid-rotation".into(),
            on_off(self.handshake_cid_rotation).into(),
            "--client-cid-len".into(),
            self.cid_len.to_string(),
            "--path-mtu-probing".into(),
            on_off(self.path_mtu_probing).into(),
        ]
    }

    /// The knobs that differ from the defaults, in words (`handshake CID rotation off`), for
    /// people; empty when all are defaults.
    pub fn changed(&self) -> Vec<String> {
        let d = Self::default();
        let mut out = Vec::new();
        if self.handshake_cid_rotation != d.handshake_cid_rotation {
            out.push(format!("handshake CID rotation {}", on_off(self.handshake_cid_rotation)));
        }
        if self.cid_len != d.cid_len {
            out.push(format!("client CID length {}", self.cid_len));
        }
        if self.path_mtu_probing != d.path_mtu_probing {
            out.push(format!("path MTU probing {}", on_off(self.path_mtu_probing)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_logs_and_partial_records_get_the_defaults() {
        let k: ClientKnobs = serde_json::from_str("{}").unwrap();
        assert_eq!(k, ClientKnobs::default());
        let k: ClientKnobs = serde_json::from_str(r#"{"handshake_cid_rotation":false}"#).unwrap();
        assert_eq!(k, ClientKnobs { handshake_cid_rotation: false, ..Default::default() });
        let text = serde_json::to_string(&k).unwrap();
        assert_eq!(serde_json::from_str::<ClientKnobs>(&text).unwrap(), k);
    }

    #[test]
    fn args_and_words() {
        let k = ClientKnobs { handshake_cid_rotation: false, cid_len: 8, path_mtu_probing: true };
        assert_eq!(k.args().join(" "), "--handshake-cid-rotation off --client-cid-len 8 --path-mtu-probing on");
        assert_eq!(k.changed(), ["handshake CID rotation off", "client CID length 8", "path MTU probing on"]);
        assert!(ClientKnobs::default().changed().is_empty());
    }
}
