//! `--qlog-dir DIR` on both binaries: one qlog file per connection, `<seq>-<cid>.sqlog`, in the
//! qlog main schema (version 0.3, JSON-SEQ: what qvis reads), written by the `qlog` crate's
//! streamer from s2n-quic's event subscriber, plus the fuzzer's decisions as events of their own.
//! Each binary says which connections are logged, and under which name, through a
//! [`QlogSource`]; the files, their bound and the events are the same on both ends.
//!
//! - `transport:packet_sent` and `transport:packet_received` with their header (type, number) and
//!   frames. s2n-quic reports a packet's frames (`on_frame_sent`, `on_frame_received`) before
//!   (sent) or after (received) the packet itself: sent frames wait for their `packet_sent`,
//!   received ones are added to the last `packet_received`, which is written when the next
//!   packet arrives or the connection ends. A server connection's first Initial has no
//!   `on_packet_received`: s2n-quic's endpoint decrypts it before the connection (and its
//!   subscriber context) exists, then hands its frames to the new connection. Frames of a packet
//!   not announced make a `packet_received` of their own (header from the frame event, no length).
//! - `quic_cid_fuzz:mutation` (a custom event, as the qlog schema allows: `name` is
//!   `category:event`): one per mutation decision, right after the `packet_sent` of the packet it
//!   changed, with the packet's type and number, the content key, the operator and the offset.
//!   The interceptor mutates a packet's payload after its frames were encoded and before it is
//!   sent, so `packet_sent`'s frames are what s2n-quic wrote, and the event says what the fuzzer
//!   then changed.
//!
//! Off by default: it costs a file and a JSON line per packet. Bounded ([`QlogDir`]): only the
//! files of the last `--qlog-keep` connections are kept, and besides them every culprit's: on
//! the client every file since the last checkpoint (a crash's culprit is among them), and on
//! both ends a file [`QlogDir::pin`]ned (one that ended in the peer's INTERNAL_ERROR, or a wrong
//! answer). A file is finished (flushed) when its connection closes (`on_connection_closed`) or
//! is freed, whichever comes first, and by [`QlogDir::flush_open`] at shutdown.

use fuzz_shared::chain::OFF_CHAIN_SEQ;
use fuzz_shared::mutate::Decision;
use qlog::events::quic::{PacketHeader, PacketReceived, PacketSent, PacketType, QuicFrame, StreamType};
use qlog::events::{EventData, EventImportance, JsonEvent};
use qlog::streamer::QlogStreamer;
use s2n_quic::provider::event::{events, ConnectionInfo, ConnectionMeta};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

pub use ::qlog::VantagePointType;

/// The fewest culprits' files ([`QlogDir::pin`]) kept whatever `--qlog-keep` is.
pub const MIN_PINS: usize = 300;

/// The most files a holding directory holds for a checkpoint, unless `--qlog-keep` is larger:
/// beyond, the oldest are let go (a checkpoint period this long is unusual).
pub const MIN_HELD: usize = 10_000;

/// The event name of a mutation decision.
pub const MUTATION_EVENT: &str = "quic_cid_fuzz:mutation";

/// The qlog directory and its bound, shared by every connection of a process.
///
/// The bound keeps the files of the last `keep` connections started. A *holding* directory (the
/// client's) bounds only the files that a checkpoint cleared ([`QlogDir::release`]): a
/// checkpoint says that every connection before it ran and the server is still up, so no crash
/// culprit is among them, and every file since the last checkpoint stays, the culprit's with
/// them. Besides the bound, culprits that did not crash the server are [`QlogDir::pin`]ned.
pub struct QlogDir {
    dir: PathBuf,
    keep: usize,
    /// The most files pinned.
    pins: usize,
    /// Whether files wait for [`QlogDir::release`] before the bound applies to them.
    hold: bool,
    files: Mutex<Files>,
}

/// The bound's bookkeeping.
#[derive(Default)]
struct Files {
    /// Files not released yet (holding only): their connection's key and path, in start order.
    held: VecDeque<(u64, PathBuf)>,
    /// The files within the bound, in the order they were started (or released).
    kept: VecDeque<PathBuf>,
    /// Files still being written, and their writers (for [`QlogDir::flush_open`]).
    open: HashMap<PathBuf, Weak<Mutex<BufWriter<File>>>>,
    /// Files past the bound whose connections are still open: deleted when they close.
    doomed: HashSet<PathBuf>,
    /// Culprits' files, kept whatever the bound.
    pinned: HashSet<PathBuf>,
    /// Whether the warnings that the pins, or the held files, are full were given.
    pins_full_reported: bool,
    held_full_reported: bool,
}

impl QlogDir {
    /// Creates `dir` if needed; keeps the last `keep` files, and as many culprits' (at least
    /// [`MIN_PINS`]).
    pub fn create(dir: &Path, keep: usize) -> std::io::Result<Arc<QlogDir>> {
        Self::new(dir, keep, keep.max(MIN_PINS), false)
    }

    /// Like [`Self::create`], but holding every file until a checkpoint releases it.
    pub fn holding(dir: &Path, keep: usize) -> std::io::Result<Arc<QlogDir>> {
        Self::new(dir, keep, keep.max(MIN_PINS), true)
    }

    fn new(dir: &Path, keep: usize, pins: usize, hold: bool) -> std::io::Result<Arc<QlogDir>> {
        std::fs::create_dir_all(dir)
            .map_err(|e| std::io::Error::new(e.kind(), format!("--qlog-dir {}: {e}", dir.display())))?;
        let files = Mutex::new(Files::default());
        Ok(Arc::new(QlogDir { dir: dir.to_path_buf(), keep: keep.max(1), pins, hold, files }))
    }

    /// The file of connection `seq` with CID `cid`. Connections outside the chain (the client's
    /// probes and priming connections, seq [`OFF_CHAIN_SEQ`]) are named `probe-`.
    pub fn file_name(seq: u64, cid: &str) -> String {
        if seq == OFF_CHAIN_SEQ {
            format!("probe-{cid}.sqlog")
        } else {
            format!("{seq}-{cid}.sqlog")
        }
    }

    fn files(&self) -> std::sync::MutexGuard<'_, Files> {
        self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A connection (`key`: its seq) started writing `path` through `writer`: the oldest file
    /// beyond the bound goes (now, or when its connection closes).
    fn started(&self, path: &Path, key: u64, writer: Weak<Mutex<BufWriter<File>>>) {
        let mut f = self.files();
        f.open.insert(path.to_path_buf(), writer);
        if self.hold {
            f.held.push_back((key, path.to_path_buf()));
            let most = self.keep.max(MIN_HELD);
            while f.held.len() > most {
                let Some((_, old)) = f.held.pop_front() else { break };
                f.kept.push_back(old);
                if !f.held_full_reported {
                    f.held_full_reported = true;
                    tracing::warn!("--qlog-dir: {most} files since the last checkpoint; the oldest follow the bound");
                }
            }
        } else {
            f.kept.push_back(path.to_path_buf());
        }
        self.trim(&mut f);
    }

    /// Deletes the oldest files beyond the bound, or dooms them while they are written.
    fn trim(&self, f: &mut Files) {
        while f.kept.len() > self.keep {
            let Some(old) = f.kept.pop_front() else { break };
            if f.open.contains_key(&old) {
                f.doomed.insert(old);
            } else {
                let _ = std::fs::remove_file(old);
            }
        }
    }

    /// A checkpoint at chain position `before`: the files of connections before it, and those
    /// off the chain (clean probes and priming connections), come under the bound.
    pub fn release(&self, before: u64) {
        let mut f = self.files();
        let (cleared, still): (VecDeque<_>, VecDeque<_>) =
            std::mem::take(&mut f.held).into_iter().partition(|(key, _)| *key < before || *key == OFF_CHAIN_SEQ);
        f.held = still;
        f.kept.extend(cleared.into_iter().map(|(_, path)| path));
        self.trim(&mut f);
    }

    /// `path` is complete.
    fn closed(&self, path: &Path) {
        let mut f = self.files();
        f.open.remove(path);
        if f.doomed.remove(path) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Writes out what the files of connections still open hold so far: at shutdown, when the
    /// connections' own ends (which finish their files) may never come.
    pub fn flush_open(&self) {
        let writers: Vec<_> = self.files().open.values().filter_map(Weak::upgrade).collect();
        for w in writers {
            let _ = w.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).flush();
        }
    }

    /// Keeps the file `name` (a [`Self::file_name`]) whatever the bound: a culprit's. Does
    /// nothing if it is gone already or if the most files are pinned already (said once on
    /// stderr).
    pub fn pin(&self, name: &str) {
        let path = self.dir.join(name);
        let mut f = self.files();
        let kept = f.kept.iter().position(|p| *p == path);
        let held = f.held.iter().position(|(_, p)| *p == path);
        if f.pinned.contains(&path) || (kept.is_none() && held.is_none() && !f.doomed.contains(&path)) {
            return;
        }
        if f.pinned.len() >= self.pins {
            if !f.pins_full_reported {
                f.pins_full_reported = true;
                tracing::warn!(
                    "--qlog-dir: {} culprits' files are kept already; later ones follow the bound",
                    self.pins
                );
            }
            return;
        }
        if let Some(i) = kept {
            f.kept.remove(i);
        }
        if let Some(i) = held {
            f.held.remove(i);
        }
        f.doomed.remove(&path);
        f.pinned.insert(path);
    }
}

/// A file's writer, shared between its connection's streamer and the directory (which flushes
/// it at shutdown).
struct SharedFile(Arc<Mutex<BufWriter<File>>>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).flush()
    }
}

/// Which connections a binary logs, under which name, and with which decisions.
pub trait QlogSource: Send + 'static {
    /// What the subscriber holds of a logged connection.
    type Conn: Send + 'static;

    /// The connection being created, if it is logged: its handle and its file's description.
    fn open(&mut self, meta: &ConnectionMeta, info: &ConnectionInfo) -> Option<(Self::Conn, QlogFile)>;

    /// The mutation decisions made for `conn` from index `since` on.
    fn decisions_since(&self, conn: &Self::Conn, since: usize) -> Vec<Decision>;

    /// Whether the connection's close makes it a culprit whose file is [`QlogDir::pin`]ned.
    fn is_culprit(&self, _conn: &Self::Conn, _closed: &events::ConnectionClosed) -> bool {
        false
    }
}

/// A logged connection's file.
pub struct QlogFile {
    /// [`QlogDir::file_name`].
    pub name: String,
    /// The connection's seq ([`OFF_CHAIN_SEQ`] off the chain), for [`QlogDir::release`].
    pub key: u64,
    /// The trace's title (`seq 3 cid ...`).
    pub title: String,
    /// The log's description (the plan).
    pub description: Option<String>,
}

/// The qlog subscriber: inert (no context, no cost beyond a call per event) without a directory.
pub struct QlogSubscriber<S> {
    dir: Option<Arc<QlogDir>>,
    vantage: qlog::VantagePoint,
    source: S,
}

impl<S: QlogSource> QlogSubscriber<S> {
    /// Writes into `dir`, if any, as `vantage` (`fuzz-client` as a client, `fuzz-server` as a
    /// server).
    pub fn new(dir: Option<Arc<QlogDir>>, name: &str, ty: qlog::VantagePointType, source: S) -> Self {
        QlogSubscriber { dir, vantage: qlog::VantagePoint { name: Some(name.into()), ty, flow: None }, source }
    }
}

/// One connection's qlog.
pub struct ConnQlog<C> {
    streamer: QlogStreamer,
    path: PathBuf,
    dir: Arc<QlogDir>,
    conn: C,
    /// Frames sent since the last `packet_sent`.
    tx_frames: Vec<QuicFrame>,
    /// The last received packet, gathering its frames, and when it arrived.
    rx: Option<(PacketReceived, Instant)>,
    /// Decisions already written.
    decisions: usize,
    finished: bool,
}

impl<C> Drop for ConnQlog<C> {
    fn drop(&mut self) {
        self.finish();
    }
}

impl<C> ConnQlog<C> {
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

    fn mutations(&mut self, new: Vec<Decision>, header: &PacketHeader) {
        self.decisions += new.len();
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

/// A packet's length as qlog's raw info.
fn raw(packet_len: usize) -> Option<qlog::events::RawInfo> {
    Some(qlog::events::RawInfo { length: Some(packet_len as u64), payload_length: None, data: None })
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

impl<S: QlogSource> s2n_quic::provider::event::Subscriber for QlogSubscriber<S> {
    type ConnectionContext = Option<ConnQlog<S::Conn>>;

    fn create_connection_context(&mut self, meta: &ConnectionMeta, info: &ConnectionInfo) -> Self::ConnectionContext {
        let dir = self.dir.clone()?;
        let (conn, file) = self.source.open(meta, info)?;
        let path = dir.dir.join(&file.name);
        let out = match File::create(&path) {
            Ok(f) => Arc::new(Mutex::new(BufWriter::new(f))),
            Err(e) => {
                tracing::warn!("qlog: cannot create {}: {e}", path.display());
                return None;
            }
        };
        let trace = qlog::TraceSeq::new(
            self.vantage.clone(),
            Some(file.title.clone()),
            None,
            Some(qlog::Configuration::default()),
            None,
        );
        let mut streamer = QlogStreamer::new(
            qlog::QLOG_VERSION.to_string(),
            Some(format!("quic-cid-fuzz {}", file.title)),
            file.description,
            None,
            Instant::now(),
            trace,
            EventImportance::Extra,
            Box::new(SharedFile(out.clone())),
        );
        streamer.start_log().ok()?;
        dir.started(&path, file.key, Arc::downgrade(&out));
        Some(ConnQlog { streamer, path, dir, conn, tx_frames: Vec::new(), rx: None, decisions: 0, finished: false })
    }

    fn on_connection_closed(
        &mut self,
        context: &mut Self::ConnectionContext,
        _meta: &ConnectionMeta,
        event: &events::ConnectionClosed,
    ) {
        if let Some(q) = context {
            // Pinned before it is finished: finishing deletes a file already past the bound.
            if self.source.is_culprit(&q.conn, event) {
                if let Some(name) = q.path.file_name().and_then(|n| n.to_str()) {
                    q.dir.pin(name);
                }
            }
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
            raw: raw(event.packet_len),
            frames: Some(std::mem::take(&mut q.tx_frames).into()),
            ..Default::default()
        };
        let _ = q.streamer.add_event_data_now(EventData::PacketSent(packet));
        let new = self.source.decisions_since(&q.conn, q.decisions);
        q.mutations(new, &header);
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
            raw: raw(event.packet_len),
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
        let h = header(&event.packet_header);
        let same =
            |p: &PacketReceived| p.header.packet_number == h.packet_number && p.header.packet_type == h.packet_type;
        if !q.rx.as_ref().is_some_and(|(p, _)| same(p)) {
            // A packet whose own event never came: the server's first Initial (see the top).
            q.flush_rx();
            q.rx = Some((PacketReceived { header: h, frames: Some(Vec::new()), ..Default::default() }, Instant::now()));
        }
        if let Some((packet, _)) = &mut q.rx {
            packet.frames.get_or_insert_with(Vec::new).push(frame(&event.frame));
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

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("qlog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn names_and_bound() {
        assert_eq!(QlogDir::file_name(42, "0123456789abcdef"), "42-0123456789abcdef.sqlog");
        assert_eq!(QlogDir::file_name(OFF_CHAIN_SEQ, "0123456789abcdef"), "probe-0123456789abcdef.sqlog");
        let dir = scratch("bound");
        let q = QlogDir::create(&dir, 2).unwrap();
        let path = |i: u32| dir.join(format!("{i}.sqlog"));
        for i in 0..4 {
            std::fs::write(path(i), b"x").unwrap();
            q.started(&path(i), i.into(), Weak::new());
            if i != 1 {
                q.closed(&path(i)); // connection 1 stays open
            }
        }
        assert_eq!(left(&dir), ["1.sqlog", "2.sqlog", "3.sqlog"], "0 went; 1 goes when it closes");
        q.closed(&path(1));
        assert_eq!(left(&dir), ["2.sqlog", "3.sqlog"], "only the last two started");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_culprit_outlives_the_bound_and_pins_are_bounded_too() {
        let dir = scratch("pin");
        let q = QlogDir::new(&dir, 2, 2, false).unwrap();
        let name = |i: u32| format!("{i}.sqlog");
        let start = |i: u32| {
            std::fs::write(dir.join(name(i)), b"x").unwrap();
            q.started(&dir.join(name(i)), i.into(), Weak::new());
        };
        start(0);
        q.closed(&dir.join(name(0)));
        q.pin(&name(0)); // closed, within the bound
        start(1);
        start(2); // 1 open and beyond the bound once 3 starts
        start(3);
        q.pin(&name(1)); // doomed, rescued
        q.closed(&dir.join(name(1)));
        for i in [2, 3] {
            q.closed(&dir.join(name(i)));
        }
        for i in 4..8 {
            start(i);
            q.closed(&dir.join(name(i)));
        }
        q.pin(&name(3)); // gone already: nothing
        q.pin(&name(7));
        assert_eq!(left(&dir), ["0.sqlog", "1.sqlog", "6.sqlog", "7.sqlog"], "2 pins at most, plus the last 2");
        start(8);
        q.closed(&dir.join(name(8)));
        assert_eq!(left(&dir), ["0.sqlog", "1.sqlog", "7.sqlog", "8.sqlog"], "7 was not pinned: the pins were full");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_holding_directory_keeps_everything_since_the_last_checkpoint() {
        let dir = scratch("hold");
        let q = QlogDir::holding(&dir, 2).unwrap();
        let start = |key: u64, name: &str| {
            std::fs::write(dir.join(name), b"x").unwrap();
            q.started(&dir.join(name), key, Weak::new());
            q.closed(&dir.join(name));
        };
        for i in 0..5 {
            start(i, &format!("{i}.sqlog"));
        }
        start(OFF_CHAIN_SEQ, "probe-a.sqlog");
        assert_eq!(left(&dir).len(), 6, "nothing goes before a checkpoint");
        q.release(3); // 0, 1, 2 and the probe are cleared; the last 2 of them stay
        assert_eq!(left(&dir), ["2.sqlog", "3.sqlog", "4.sqlog", "probe-a.sqlog"]);
        for i in 5..8 {
            start(i, &format!("{i}.sqlog"));
        }
        q.release(8);
        assert_eq!(left(&dir), ["6.sqlog", "7.sqlog"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
