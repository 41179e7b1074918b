//! `--qlog-dir DIR` on the server: one qlog file per connection whose client-chosen CID the
//! server learnt, named `<seq>-<cid>.sqlog` by the server's own connection number and that CID
//! (a client's retransmitted Initials can open several server connections for one CID; the
//! number tells them apart), with the server's plan as the log's description and its mutation
//! decisions as events. The files, their bound and their events are the glue's
//! (`fuzz_s2n_glue::qlog`), shared with fuzz-client.
//!
//! The server's culprits, whose files outlive the bound: connections the client closed with
//! INTERNAL_ERROR ([`fuzz_shared::log::is_internal_error`]): the server's mutations broke the
//! client it fuzzes.

use crate::registry::Shared;
use fuzz_s2n_glue::qlog::{QlogDir, QlogFile, QlogSource, QlogSubscriber};
use fuzz_shared::mutate::Decision;
use s2n_quic::provider::event::{events, ConnectionInfo, ConnectionMeta};
use std::sync::Arc;

/// The subscriber, writing into `dir` if there is one. It must come after the registry's
/// subscriber, which registers each connection (and its CID) first.
pub fn subscriber(dir: Option<Arc<QlogDir>>, registry: Shared) -> QlogSubscriber<ServerConnections> {
    QlogSubscriber::new(
        dir,
        "fuzz-server",
        fuzz_s2n_glue::qlog::VantagePointType::Server,
        ServerConnections { registry },
    )
}

/// The server's connections, found in the registry by s2n-quic's connection id.
pub struct ServerConnections {
    registry: Shared,
}

impl QlogSource for ServerConnections {
    /// s2n-quic's connection id (`meta.id`), the registry's key.
    type Conn = u64;

    fn open(&mut self, meta: &ConnectionMeta, _info: &ConnectionInfo) -> Option<(u64, QlogFile)> {
        let reg = self.registry.lock();
        let conn = reg.conns.get(&meta.id)?;
        let cid = conn.cid?;
        let title = format!("server seq {} cid {cid}", conn.seq);
        let description =
            conn.fuzzer.as_ref().map(|f| format!("plan: {}", serde_json::to_string(f.plan()).unwrap_or_default()));
        let name = QlogDir::file_name(conn.seq, &cid.to_hex());
        Some((meta.id, QlogFile { name, key: conn.seq, title, description }))
    }

    fn decisions_since(&self, id: &u64, since: usize) -> Vec<Decision> {
        let reg = self.registry.lock();
        let Some(fuzzer) = reg.conns.get(id).and_then(|c| c.fuzzer.as_ref()) else { return Vec::new() };
        fuzzer.decisions().get(since..).unwrap_or_default().to_vec()
    }

    fn is_culprit(&self, _id: &u64, closed: &events::ConnectionClosed) -> bool {
        use s2n_quic::connection::Error as E;
        matches!(closed.error, E::Transport { code, initiator, .. }
            if initiator.is_remote() && fuzz_shared::log::is_internal_error(code.as_u64()))
    }
}
