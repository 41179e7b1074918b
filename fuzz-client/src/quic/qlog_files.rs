//! `--qlog-dir DIR` on the client: which connections are logged (every one, probes and priming
//! connections included), under which name (`<seq>-<cid>.sqlog`; off the chain
//! `probe-<cid>.sqlog`, and `prime-<cid>.sqlog` for a resuming plan's priming connection, whose
//! CID is `chain::prime` of the plan's), with the plan as the log's description. The files, their bound and their events are
//! the glue's (`fuzz_s2n_glue::qlog`), shared with fuzz-server.
//!
//! The client's culprits, whose files outlive the bound: every connection since the last
//! checkpoint (the campaign [`release`]s the files before a checkpoint to the bound; a crash's
//! culprit always comes after the last checkpoint), and those that ended in the server's
//! INTERNAL_ERROR or a wrong answer ([`pin_if_culprit`]).

use super::conn_state::{ConnShared, Session};
use super::connection::ConnReport;
use fuzz_s2n_glue::qlog::{QlogDir, QlogFile, QlogSource, QlogSubscriber};
use fuzz_shared::mutate::Decision;
use s2n_quic::provider::event::{ConnectionInfo, ConnectionMeta};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The process's qlog directory, once [`init`] set one (like the key log, one per process:
/// `--qlog-dir` applies to every endpoint a command starts, bisect trials included).
static DIR: OnceLock<Arc<QlogDir>> = OnceLock::new();

/// Sets up `--qlog-dir` (creating the directory) for every endpoint started afterwards.
pub fn init(dir: &Path, keep: usize) -> std::io::Result<()> {
    let _ = DIR.set(QlogDir::holding(dir, keep)?);
    Ok(())
}

/// Writes out what the qlog files of connections still open hold (at exit).
pub fn flush_open() {
    if let Some(dir) = DIR.get() {
        dir.flush_open();
    }
}

/// The subscriber for an endpoint: writes to the directory [`init`] set, if any.
pub fn subscriber() -> QlogSubscriber<ClientConnections> {
    QlogSubscriber::new(
        DIR.get().cloned(),
        "fuzz-client",
        fuzz_s2n_glue::qlog::VantagePointType::Client,
        ClientConnections,
    )
}

/// A checkpoint at `seq`: the files of the connections before it come under the bound.
pub fn release(seq: u64) {
    if let Some(dir) = DIR.get() {
        dir.release(seq);
    }
}

/// Keeps the file of a connection that ended in a sign of a server fault whatever the bound.
pub fn pin_if_culprit(report: &ConnReport) {
    if let Some(dir) = DIR.get().filter(|_| report.server_fault) {
        dir.pin(&QlogDir::file_name(report.seq, &report.cid.to_hex()));
    }
}

/// The client's connections, found through the application context every connection carries.
pub struct ClientConnections;

impl QlogSource for ClientConnections {
    type Conn = Arc<ConnShared>;

    fn open(&mut self, _meta: &ConnectionMeta, info: &ConnectionInfo) -> Option<(Arc<ConnShared>, QlogFile)> {
        let conn = info.application.and_then(|a| a.downcast_ref::<Arc<ConnShared>>()).cloned()?;
        let title = format!("seq {} cid {}", conn.seq, conn.cid);
        // A priming connection's file goes with its plan's: held until a checkpoint clears that.
        let (name, key) = match conn.session {
            Session::Prime { of } => (format!("prime-{}.sqlog", conn.cid.to_hex()), of),
            _ => (QlogDir::file_name(conn.seq, &conn.cid.to_hex()), conn.seq),
        };
        let file = QlogFile {
            name,
            key,
            title,
            description: Some(format!("plan: {}", serde_json::to_string(&conn.plan).unwrap_or_default())),
        };
        Some((conn, file))
    }

    fn decisions_since(&self, conn: &Arc<ConnShared>, since: usize) -> Vec<Decision> {
        let stats = conn.stats.lock().expect("stats");
        stats.fuzzer.as_ref().map_or_else(Vec::new, |f| f.decisions().get(since..).unwrap_or_default().to_vec())
    }
}
