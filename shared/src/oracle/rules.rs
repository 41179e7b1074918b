//! The rules of the oracle, each with the text of the RFC that fixes it.
//!
//! A rule covers a decision by what it sent and where: the operator's name (the frame an
//! `insert:` put in) and the content's packet number space. Covered are the operators whose
//! result is known from their name alone: insertions of whole frames (well formed, of a known
//! type, so the reaction the RFC requires is the one to the frame alone) and a transport
//! parameter sent twice.

use super::{in_handshake_spaces, Reaction, Rule};
use crate::content::ContentId;

/// PROTOCOL_VIOLATION, RFC 9000 §20.1.
const PROTOCOL_VIOLATION: u64 = 0x0a;
/// FRAME_ENCODING_ERROR, RFC 9000 §20.1.
const FRAME_ENCODING_ERROR: u64 = 0x07;
/// TRANSPORT_PARAMETER_ERROR, RFC 9000 §20.1.
const TRANSPORT_PARAMETER_ERROR: u64 = 0x08;

/// The frames a packet of the Initial or Handshake space may carry, RFC 9000 §12.4, Table 3
/// (types marked `I` and `H`): PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE. The
/// application's CONNECTION_CLOSE (0x1d) is left out: §12.5 lets an endpoint that receives one
/// in these spaces read it as it likes, which no rule can judge.
const HANDSHAKE_SPACE_INSERTS: &[&str] =
    &["insert:padding", "insert:ping", "insert:ack", "insert:ack_ecn", "insert:crypto", "insert:connection_close"];

/// The frames of extensions a connection speaks only when both ends offered them in a transport
/// parameter of their drafts, which s2n-quic's client never sends: reliable resets
/// (draft-ietf-quic-reliable-stream-reset-09, `reset_stream_at`) and multipath
/// (draft-ietf-quic-multipath-18, `initial_max_path_id`).
const UNNEGOTIATED_INSERTS: &[&str] = &[
    "insert:reset_stream_at",
    "insert:path_ack",
    "insert:path_ack_ecn",
    "insert:path_abandon",
    "insert:path_status_backup",
    "insert:path_status_available",
    "insert:path_new_connection_id",
    "insert:path_retire_connection_id",
    "insert:max_path_id",
    "insert:paths_blocked",
    "insert:path_cids_blocked",
];

/// Every rule, in the order `judge` tries them; a decision falls under one rule at most.
pub static RULES: [Rule; 5] = [
    // RFC 9000 §19.20: "A server MUST treat receipt of a HANDSHAKE_DONE frame as a connection
    // error of type PROTOCOL_VIOLATION." (In Initial and Handshake packets too: Table 3 allows
    // it in 1-RTT packets only, and that is PROTOCOL_VIOLATION as well.)
    Rule {
        name: "client_handshake_done",
        section: "RFC 9000 §19.20",
        covers: |_, op| op == "insert:handshake_done",
        allowed: &[Reaction::Closes(PROTOCOL_VIOLATION)],
    },
    // RFC 9000 §19.7: "Clients MUST NOT send NEW_TOKEN frames. A server MUST treat receipt of a
    // NEW_TOKEN frame as a connection error of type PROTOCOL_VIOLATION."
    Rule {
        name: "client_new_token",
        section: "RFC 9000 §19.7",
        covers: |_, op| op == "insert:new_token",
        allowed: &[Reaction::Closes(PROTOCOL_VIOLATION)],
    },
    // RFC 9000 §12.4: "An endpoint MUST treat receipt of a frame in a packet type that is not
    // permitted as a connection error of type PROTOCOL_VIOLATION."
    Rule {
        name: "frame_not_permitted_in_packet_type",
        section: "RFC 9000 §12.4",
        covers: frame_not_permitted,
        allowed: &[Reaction::Closes(PROTOCOL_VIOLATION)],
    },
    // RFC 9000 §12.4: "An endpoint MUST treat the receipt of a frame of unknown type as a
    // connection error of type FRAME_ENCODING_ERROR." The frame of an extension the client did
    // not offer is of a type the connection does not know. Implementations that know the frame
    // but not the connection's consent answer PROTOCOL_VIOLATION, a closing the rule accepts too:
    // what it flags is a server that goes on.
    Rule {
        name: "extension_frame_not_negotiated",
        section: "RFC 9000 §12.4",
        covers: |id, op| !in_handshake_spaces(id) && UNNEGOTIATED_INSERTS.contains(&op),
        allowed: &[Reaction::Closes(FRAME_ENCODING_ERROR), Reaction::Closes(PROTOCOL_VIOLATION)],
    },
    // RFC 9000 §7.4: "An endpoint SHOULD treat receipt of duplicate transport parameters as a
    // connection error of type TRANSPORT_PARAMETER_ERROR." A SHOULD: a server that goes on is
    // within the RFC too; what the rule flags is a server that does neither (falls silent,
    // closes with another code).
    Rule {
        name: "duplicate_transport_parameter",
        section: "RFC 9000 §7.4",
        covers: |_, op| op == "tls:tp.duplicate",
        allowed: &[Reaction::Closes(TRANSPORT_PARAMETER_ERROR), Reaction::Completes],
    },
];

/// An RFC 9000 frame (not HANDSHAKE_DONE or NEW_TOKEN, which have rules of their own, nor an
/// extension's) inserted into an Initial or Handshake packet that Table 3 does not permit there.
fn frame_not_permitted(id: &ContentId, op: &str) -> bool {
    in_handshake_spaces(id)
        && op.starts_with("insert:")
        && !HANDSHAKE_SPACE_INSERTS.contains(&op)
        && !matches!(
            op,
            "insert:handshake_done" | "insert:new_token" | "insert:connection_close_app" | "insert:unknown"
        )
        && !UNNEGOTIATED_INSERTS.contains(&op)
        && !matches!(op, "insert:ack_frequency" | "insert:immediate_ack" | "insert:datagram")
}
