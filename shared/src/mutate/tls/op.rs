//! The TLS operators: stable names, weights, and when each applies. Whether an operator
//! applies depends on the message's structure only, never on its random bytes.

use super::{ext, msg, Layout};

/// The TLS operators, their names and weights. Names are stable: they go into decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    MessageLength,
    MessageType,
    LegacyVersion,
    SessionId,
    CipherSuites,
    Compression,
    ExtensionsLength,
    ExtLength,
    ExtType,
    ExtDuplicate,
    ExtRemove,
    ExtReorder,
    ExtData,
    KeyShareGroup,
    KeyShareLength,
    KeyShareKey,
    KeyShareResize,
    KeyShareOrder,
    KeyShareDuplicate,
    KeyShareRemove,
    KeyShareListLength,
    SupportedVersions,
    Alpn,
    Ticket,
    Sni,
    TpValue,
    TpLength,
    TpId,
    TpDuplicate,
    TpAdd,
    TpRemove,
}

impl Op {
    pub const ALL: [Op; 31] = [
        Op::MessageLength,
        Op::MessageType,
        Op::LegacyVersion,
        Op::SessionId,
        Op::CipherSuites,
        Op::Compression,
        Op::ExtensionsLength,
        Op::ExtLength,
        Op::ExtType,
        Op::ExtDuplicate,
        Op::ExtRemove,
        Op::ExtReorder,
        Op::ExtData,
        Op::KeyShareGroup,
        Op::KeyShareLength,
        Op::KeyShareKey,
        Op::KeyShareResize,
        Op::KeyShareOrder,
        Op::KeyShareDuplicate,
        Op::KeyShareRemove,
        Op::KeyShareListLength,
        Op::SupportedVersions,
        Op::Alpn,
        Op::Ticket,
        Op::Sni,
        Op::TpValue,
        Op::TpLength,
        Op::TpId,
        Op::TpDuplicate,
        Op::TpAdd,
        Op::TpRemove,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::MessageLength => "tls:message.length",
            Op::MessageType => "tls:message.type",
            Op::LegacyVersion => "tls:legacy_version",
            Op::SessionId => "tls:session_id",
            Op::CipherSuites => "tls:cipher_suites",
            Op::Compression => "tls:compression",
            Op::ExtensionsLength => "tls:extensions.length",
            Op::ExtLength => "tls:ext.length",
            Op::ExtType => "tls:ext.type",
            Op::ExtDuplicate => "tls:ext.duplicate",
            Op::ExtRemove => "tls:ext.remove",
            Op::ExtReorder => "tls:ext.reorder",
            Op::ExtData => "tls:ext.data",
            Op::KeyShareGroup => "tls:key_share.group",
            Op::KeyShareLength => "tls:key_share.length",
            Op::KeyShareKey => "tls:key_share.key",
            Op::KeyShareResize => "tls:key_share.resize",
            Op::KeyShareOrder => "tls:key_share.order",
            Op::KeyShareDuplicate => "tls:key_share.duplicate",
            Op::KeyShareRemove => "tls:key_share.remove",
            Op::KeyShareListLength => "tls:key_share.list_length",
            Op::SupportedVersions => "tls:supported_versions",
            Op::Alpn => "tls:alpn",
            Op::Ticket => "tls:ticket",
            Op::Sni => "tls:sni",
            Op::TpValue => "tls:tp.value",
            Op::TpLength => "tls:tp.length",
            Op::TpId => "tls:tp.id",
            Op::TpDuplicate => "tls:tp.duplicate",
            Op::TpAdd => "tls:tp.add",
            Op::TpRemove => "tls:tp.remove",
        }
    }

    /// Relative weight: the key shares and the transport parameters are where the parsing
    /// and validation code is richest (and where crashes were found), so they get most.
    pub fn weight(self) -> u32 {
        match self {
            Op::TpValue | Op::TpAdd => 6,
            Op::KeyShareGroup | Op::KeyShareKey | Op::KeyShareResize | Op::TpId | Op::TpDuplicate => 4,
            Op::KeyShareLength | Op::KeyShareOrder | Op::KeyShareDuplicate | Op::TpLength | Op::TpRemove => 3,
            Op::MessageType | Op::Compression | Op::ExtensionsLength => 1,
            _ => 2,
        }
    }

    /// Whether the operator has something to work on in `l`. Depends on structure only.
    pub fn applies(self, l: &Layout) -> bool {
        let client = l.msg_type == msg::CLIENT_HELLO;
        let hello = matches!(l.msg_type, msg::CLIENT_HELLO | msg::SERVER_HELLO);
        let has_ext = |t: u16| l.extensions.iter().any(|e| e.ty == t && l.holds(e.end));
        match self {
            Op::MessageLength | Op::MessageType => true,
            Op::LegacyVersion => l.version_at.is_some(),
            Op::SessionId => client && l.session_id_at.is_some(),
            Op::CipherSuites => l.suites_at.is_some_and(|at| l.holds(at + 4)),
            Op::Compression => l.compression_at.is_some_and(|at| l.holds(at + 2)),
            Op::ExtensionsLength => l.extensions_at.is_some(),
            Op::ExtLength | Op::ExtType => !l.extensions.is_empty(),
            Op::ExtDuplicate | Op::ExtRemove => l.complete_extensions() > 0,
            Op::ExtReorder => l.complete_extensions() > 1,
            Op::ExtData => l.extensions.iter().any(|e| e.end > e.data_at && l.holds(e.end)),
            Op::KeyShareGroup | Op::KeyShareLength => !l.shares.is_empty(),
            Op::KeyShareKey | Op::KeyShareResize => l.shares.iter().any(|s| s.end > s.key_at && l.holds(s.end)),
            Op::KeyShareOrder => client && l.complete_shares() > 1,
            Op::KeyShareDuplicate | Op::KeyShareRemove => client && l.complete_shares() > 0,
            Op::KeyShareListLength => l.shares_list_at.is_some(),
            Op::SupportedVersions => hello && has_ext(ext::SUPPORTED_VERSIONS),
            Op::Alpn => has_ext(ext::ALPN),
            Op::Ticket => l.ticket_at.is_some(),
            Op::Sni => client && has_ext(ext::SERVER_NAME),
            Op::TpValue | Op::TpLength | Op::TpId | Op::TpDuplicate | Op::TpRemove => l.complete_params() > 0,
            Op::TpAdd => l.params_ext.is_some_and(|i| l.holds(l.extensions[i].end)),
        }
    }
}
