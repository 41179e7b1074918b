//! `--qlog-dir DIR`: one qlog file per connection, `<seq>-<cid>.sqlog`, in the qlog main schema
//! (version 0.3, JSON-SEQ: what qvis reads), written by the `qlog` crate's streamer from
//! s2n-quic's event subscriber, plus the fuzzer's decisions as events of their own.
//!
//! - `transport:packet_sent` and `transport:packet_received` with their header (type, number) and
//!   frames. s2n-quic reports a packet's frames (`on_frame_sent`, `on_frame_received`) before
//!   (sent) or after (received) the packet itself: sent frames wait for their `packet_sent`,
//!   received ones are added to the last `packet_received`, which is written when the next
//!   packet arrives or the connection ends.
//! - `quic_cid_fuzz:mutation` (a custom event, as the qlog schema allows: `name` is
//!   `category:event`): one per mutation decision, right after the `packet_sent` of the packet it
//!   changed, with the packet's type and number, the content key, the operator and the offset.
//!   The interceptor mutates a packet's payload after its frames were encoded and before it is
//!   sent, so `packet_sent`'s frames are what s2n-quic wrote, and the event says what the fuzzer
//!   then changed: the bytes on the wire are the crash capture's.
//!
//! Off by default: it costs a file and a JSON line per packet. Bounded: only the files of the last
//! `--qlog-keep` connections started are kept (probes count too); when a newer one starts, the
//! oldest file is deleted, or, if that connection is still open, deleted when it closes. A crash's
//! culprit is among the last connections started when the server dies, so its file is kept
//! whenever the bound is well above the campaign's concurrency. A file is finished (flushed) when
//! its connection closes (`on_connection_closed`) or is freed, whichever comes first.

use super::connection::ConnShared;
use fuzz_shared::mutate::Decision;
use qlog::events::quic::{PacketHeader, PacketReceived, PacketSent, PacketType, QuicFrame, StreamType};
use qlog::events::{EventData, EventImportance, JsonEvent};
use qlog::streamer::QlogStreamer;
use s2n_quic::provider::event::{events, ConnectionInfo, ConnectionMeta};
use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// The event name of a mutation decision.
pub const MUTATION_EVENT: &str = "quic_cid_fuzz:mutation";

/// The qlog directory and its bound, shared by every connection.
pub struct QlogDir {
    dir: PathBuf,
    keep: usize,
    files: Mutex<Files>,
}

/// The bound's bookkeeping.
#[derive(Default)]
struct Files {
    /// The files kept, in the order their connections started.
    kept: VecDeque<PathBuf>,
    /// Files still being written.
    open: HashSet<PathBuf>,
    /// Files past the bound whose connections are still open: deleted when they close.
    doomed: HashSet<PathBuf>,
}

impl QlogDir {
    /// Creates `dir` if needed.
    pub fn create(dir: &Path, keep: usize) -> std::io::Result<Arc<QlogDir>> {
        std::fs::create_dir_all(dir)?;
        Ok(Arc::new(QlogDir { dir: dir.to_path_buf(), keep: keep.max(1), files: Mutex::new(Files::default()) }))
    }

    /// The file of connection `seq` with CID `cid`. Probes (seq `u64::MAX`) are named `probe-`.
    pub fn file_name(seq: u64, cid: &str) -> String {
        if seq == u64::MAX {
            format!("probe-{cid}.sqlog")
        } else {
            format!("{seq}-{cid}.sqlog")
        }
    }

    /// A connection started writing `path`: the oldest file beyond the bound goes (now, or when
    /// its connection closes).
    fn started(&self, path: &Path) {
        let mut f = self.files.lock().expect("qlog files");
        f.kept.push_back(path.to_path_buf());
        f.open.insert(path.to_path_buf());
        while f.kept.len() > self.keep {
            let Some(old) = f.kept.pop_front() else { break };
            if f.open.contains(&old) {
                f.doomed.insert(old);
            } else {
                let _ = std::fs::remove_file(old);
            }
        }
    }

    /// `path` is complete.
    fn closed(&self, path: &Path) {
        let mut f = self.files.lock().expect("qlog files");
        f.open.remove(path);
        if f.doomed.remove(path) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The process's qlog directory, once [`init`] set one (like the key log, one per process:
/// `--qlog-dir` applies to every endpoint a command starts, bisect trials included).
static DIR: OnceLock<Arc<QlogDir>> = OnceLock::new();

/// Sets up `--qlog-dir` (creating the directory) for every endpoint started afterwards.
pub fn init(dir: &Path, keep: usize) -> std::io::Result<()> {
    let q = QlogDir::create(dir, keep)
        .map_err(|e| std::io::Error::new(e.kind(), format!("--qlog-dir {}: {e}", dir.display())))?;
    let _ = DIR.set(q);
    Ok(())
}

/// The qlog subscriber: inert (no context, no cost beyond a call per event) without a directory.
pub struct QlogSubscriber(Option<Arc<QlogDir>>);

impl QlogSubscriber {
    /// Writes to the directory [`init`] set, if any.
    pub fn from_init() -> Self {
        QlogSubscriber(DIR.get().cloned())
    }
}

/// One connection's qlog.
pub struct ConnQlog {
    streamer: QlogStreamer,
    path: PathBuf,
    dir: Arc<QlogDir>,
    conn: Arc<ConnShared>,
    /// Frames sent since the last `packet_sent`.
    tx_frames: Vec<QuicFrame>,
    /// The last received packet, gathering its frames, and when it arrived.
    rx: Option<(PacketReceived, Instant)>,
    /// Decisions already written.
    decisions: usize,
    finished: bool,
}

impl Drop for ConnQlog {
    fn drop(&mut self) {
        self.finish();
    }
}

impl ConnQlog {
    /// Writes what is pending and flushes the file; once (later events are not written).
    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.flush_rx();
        let _ = self.streamer.finish_log();
        self.dir.closed(&self.path);
    }

    fn flush_rx(&mut self) {
        if let Some((packet, at)) = self.rx.take() {
            let _ = self.streamer.add_event_data_with_instant(EventData::PacketReceived(packet), at);
        }
    }

    fn mutations(&mut self, header: &PacketHeader) {
        let stats = self.conn.stats.lock().expect("stats");
        let Some(fuzzer) = stats.fuzzer.as_ref() else { return };
        let new: Vec<Decision> = fuzzer.decisions()[self.decisions..].to_vec();
        self.decisions = fuzzer.decisions().len();
        drop(stats);
        for d in new {
            let event = JsonEvent {
                time: 0.0,
                importance: EventImportance::Core,
                name: MUTATION_EVENT.into(),
                data: mutation_data(&d, header),
            };
            let _ = self.streamer.add_event_now(event);
        }
    }
}

/// A decision as a custom event's data: which packet (type and number, and the content it
/// carried), which operator, where.
pub fn mutation_data(d: &Decision, header: &PacketHeader) -> serde_json::Value {
    serde_json::json!({
        "packet_type": header.packet_type,
        "packet_number": header.packet_number,
        "space": format!("{:?}", d.space),
        "content": d.content.to_string(),
        "operator": d.operator,
        "offset": d.offset,
    })
}

/// s2n-quic's packet header as qlog's (RFC 9000 §17: the long header types and 1-RTT).
pub fn header(h: &events::PacketHeader) -> PacketHeader {
    use events::PacketHeader as H;
    let (packet_type, number) = match h {
        H::Initial { number, .. } => (PacketType::Initial, Some(*number)),
        H::Handshake { number, .. } => (PacketType::Handshake, Some(*number)),
        H::ZeroRtt { number, .. } => (PacketType::ZeroRtt, Some(*number)),
        H::OneRtt { number, .. } => (PacketType::OneRtt, Some(*number)),
        H::Retry { .. } => (PacketType::Retry, None),
        H::VersionNegotiation { .. } => (PacketType::VersionNegotiation, None),
        _ => (PacketType::Unknown, None),
    };
    PacketHeader { packet_type, packet_number: number, ..Default::default() }
}

fn stream_type(t: &events::StreamType) -> StreamType {
    match t {
        events::StreamType::Bidirectional { .. } => StreamType::Bidirectional,
        _ => StreamType::Unidirectional,
    }
}

/// s2n-quic's frame summary as qlog's frame (RFC 9000 §19); fields s2n-quic does not report
/// (tokens, connection IDs, reasons) are left empty.
pub fn frame(f: &events::Frame) -> QuicFrame {
    use events::Frame as F;
    match f {
        F::Padding { len, .. } => QuicFrame::Padding { length: None, payload_length: *len as u32 },
        F::Ping { .. } => QuicFrame::Ping { length: None, payload_length: None },
        F::Ack { ecn_counts, .. } => QuicFrame::Ack {
            ack_delay: None,
            acked_ranges: None,
            ect1: ecn_counts.as_ref().map(|e| e.ect_1_count),
            ect0: ecn_counts.as_ref().map(|e| e.ect_0_count),
            ce: ecn_counts.as_ref().map(|e| e.ce_count),
            length: None,
            payload_length: None,
        },
        F::ResetStream { id, error_code, final_size, .. } => QuicFrame::ResetStream {
            stream_id: *id,
            error_code: *error_code,
            final_size: *final_size,
            length: None,
            payload_length: None,
        },
        F::StopSending { id, error_code, .. } => {
            QuicFrame::StopSending { stream_id: *id, error_code: *error_code, length: None, payload_length: None }
        }
        F::Crypto { offset, len, .. } => QuicFrame::Crypto { offset: *offset, length: *len as u64 },
        F::NewToken { .. } => QuicFrame::NewToken { token: qlog::Token { ty: None, details: None, raw: None } },
        F::Stream { id, offset, len, is_fin, .. } => {
            QuicFrame::Stream { stream_id: *id, offset: *offset, length: *len as u64, fin: Some(*is_fin), raw: None }
        }
        F::MaxData { value, .. } => QuicFrame::MaxData { maximum: *value },
        F::MaxStreamData { id, value, .. } => QuicFrame::MaxStreamData { stream_id: *id, maximum: *value },
        F::MaxStreams { stream_type: t, value, .. } => {
            QuicFrame::MaxStreams { stream_type: stream_type(t), maximum: *value }
        }
        F::DataBlocked { data_limit, .. } => QuicFrame::DataBlocked { limit: *data_limit },
        F::StreamDataBlocked { stream_id, stream_data_limit, .. } => {
            QuicFrame::StreamDataBlocked { stream_id: *stream_id, limit: *stream_data_limit }
        }
        F::StreamsBlocked { stream_type: t, stream_limit, .. } => {
            QuicFrame::StreamsBlocked { stream_type: stream_type(t), limit: *stream_limit }
        }
        F::NewConnectionId { sequence_number, retire_prior_to, .. } => QuicFrame::NewConnectionId {
            sequence_number: *sequence_number as u32,
            retire_prior_to: *retire_prior_to as u32,
            connection_id_length: None,
            connection_id: String::new(),
            stateless_reset_token: None,
        },
        F::RetireConnectionId { .. } => QuicFrame::RetireConnectionId { sequence_number: 0 },
        F::PathChallenge { .. } => QuicFrame::PathChallenge { data: None },
        F::PathResponse { .. } => QuicFrame::PathResponse { data: None },
        F::ConnectionClose { .. } => QuicFrame::ConnectionClose {
            error_space: None,
            error_code: None,
            error_code_value: None,
            reason: None,
            trigger_frame_type: None,
        },
        F::HandshakeDone { .. } => QuicFrame::HandshakeDone,
        F::Datagram { len, .. } => QuicFrame::Datagram { length: *len as u64, raw: None },
        _ => QuicFrame::Unknown { raw_frame_type: 0, frame_type_value: None, raw: None },
    }
}

impl s2n_quic::provider::event::Subscriber for QlogSubscriber {
    type ConnectionContext = Option<ConnQlog>;

    fn create_connection_context(&mut self, _meta: &ConnectionMeta, info: &ConnectionInfo) -> Option<ConnQlog> {
        let dir = self.0.clone()?;
        let conn = info.application.and_then(|a| a.downcast_ref::<Arc<ConnShared>>()).cloned()?;
        let path = dir.dir.join(QlogDir::file_name(conn.seq, &conn.cid.to_hex()));
        let file = match std::fs::File::create(&path) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("qlog: cannot create {}: {e}", path.display());
                return None;
            }
        };
        let vantage =
            qlog::VantagePoint { name: Some("fuzz-client".into()), ty: qlog::VantagePointType::Client, flow: None };
        let title = format!("seq {} cid {}", conn.seq, conn.cid);
        let trace = qlog::TraceSeq::new(vantage, Some(title.clone()), None, Some(qlog::Configuration::default()), None);
        let mut streamer = QlogStreamer::new(
            qlog::QLOG_VERSION.to_string(),
            Some(format!("quic-cid-fuzz {title}")),
            Some(format!("plan: {}", serde_json::to_string(&conn.plan).unwrap_or_default())),
            None,
            Instant::now(),
            trace,
            EventImportance::Extra,
            Box::new(std::io::BufWriter::new(file)),
        );
        streamer.start_log().ok()?;
        dir.started(&path);
        Some(ConnQlog { streamer, path, dir, conn, tx_frames: Vec::new(), rx: None, decisions: 0, finished: false })
    }

    fn on_connection_closed(
        &mut self,
        context: &mut Self::ConnectionContext,
        _meta: &ConnectionMeta,
        _event: &events::ConnectionClosed,
    ) {
        if let Some(q) = context {
            q.finish();
        }
    }

    fn on_frame_sent(
        &mut self,
        context: &mut Self::ConnectionContext,
        _meta: &ConnectionMeta,
        event: &events::FrameSent,
    ) {
        if let Some(q) = context {
            q.tx_frames.push(frame(&event.frame));
        }
    }

    fn on_packet_sent(
        &mut self,
        context: &mut Self::ConnectionContext,
        _meta: &ConnectionMeta,
        event: &events::PacketSent,
    ) {
        let Some(q) = context.as_mut().filter(|q| !q.finished) else { return };
        let header = header(&event.packet_header);
        let packet = PacketSent {
            header: header.clone(),
            raw: Some(qlog::events::RawInfo {
                length: Some(event.packet_len as u64),
                payload_length: None,
                data: None,
            }),
            frames: Some(std::mem::take(&mut q.tx_frames).into()),
            ..Default::default()
        };
        let _ = q.streamer.add_event_data_now(EventData::PacketSent(packet));
        q.mutations(&header);
    }

    fn on_packet_received(
        &mut self,
        context: &mut Self::ConnectionContext,
        _meta: &ConnectionMeta,
        event: &events::PacketReceived,
    ) {
        let Some(q) = context.as_mut().filter(|q| !q.finished) else { return };
        q.flush_rx();
        let packet = PacketReceived {
            header: header(&event.packet_header),
            raw: Some(qlog::events::RawInfo {
                length: Some(event.packet_len as u64),
                payload_length: None,
                data: None,
            }),
            frames: Some(Vec::new()),
            ..Default::default()
        };
        q.rx = Some((packet, Instant::now()));
    }

    fn on_frame_received(
        &mut self,
        context: &mut Self::ConnectionContext,
        _meta: &ConnectionMeta,
        event: &events::FrameReceived,
    ) {
        let Some(q) = context.as_mut().filter(|q| !q.finished) else { return };
        if let Some((packet, _)) = &mut q.rx {
            if packet.header.packet_number == header(&event.packet_header).packet_number {
                packet.frames.get_or_insert_with(Vec::new).push(frame(&event.frame));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn left(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn names_and_bound() {
        assert_eq!(QlogDir::file_name(42, "0123456789abcdef"), "42-0123456789abcdef.sqlog");
        assert_eq!(QlogDir::file_name(u64::MAX, "0123456789abcdef"), "probe-0123456789abcdef.sqlog");
        let dir = std::env::temp_dir().join(format!("qlog-bound-{}", std::process::id()));
        let q = QlogDir::create(&dir, 2).unwrap();
        let path = |i: u32| dir.join(format!("{i}.sqlog"));
        for i in 0..4 {
            std::fs::write(path(i), b"x").unwrap();
            q.started(&path(i));
            if i != 1 {
                q.closed(&path(i)); // connection 1 stays open
            }
        }
        assert_eq!(left(&dir), ["1.sqlog", "2.sqlog", "3.sqlog"], "0 went; 1 goes when it closes");
        q.closed(&path(1));
        assert_eq!(left(&dir), ["2.sqlog", "3.sqlog"], "only the last two started");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
