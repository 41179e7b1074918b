//! HTTP/3 on s2n-quic: hyperium's `h3` crate over s2n-quic's streams.
//!
//! `h3` implements HTTP/3 (RFC 9114: control stream, SETTINGS, QPACK, request and response
//! framing) over any QUIC stack that implements its `quic` traits. The s2n-quic project's own
//! adapter (`s2n-quic-h3`) is not published on crates.io, so this module is ours: a
//! [`Connection`] wraps an established `s2n_quic::Connection` and hands `h3` its streams. Both
//! binaries use it: fuzz-client's `--alpn h3` requests and fuzz-server's h3 answers.
//!
//! The fuzzer works below, on the QUIC frames that carry these streams: its HTTP/3 and QPACK
//! operators rewrite STREAM data (`fuzz_shared::mutate::h3`), never this adapter's calls.
//! `h3`'s GREASE (reserved stream types, frames and settings, RFC 9114 §7.2.8, §6.2.3) is
//! random: the builders here turn it off ([`client_builder`], [`server_builder`]) so that what a
//! connection sends on its streams, and so its contents' keys, are the same on every run of its
//! CID.

use bytes::{Buf, Bytes};
use futures::ready;
use fuzz_shared::application::H3_NO_ERROR;
use h3::quic::{self, ConnectionErrorIncoming, StreamErrorIncoming, StreamId, WriteBuf};
use s2n_quic::connection::{BidirectionalStreamAcceptor, Handle, ReceiveStreamAcceptor};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// An `h3` client builder that sends no GREASE (see the module documentation).
pub fn client_builder() -> h3::client::Builder {
    let mut b = h3::client::builder();
    b.send_grease(false);
    b
}

/// An `h3` server builder that sends no GREASE (see the module documentation).
pub fn server_builder() -> h3::server::Builder {
    let mut b = h3::server::builder();
    b.send_grease(false);
    b
}

/// An application error code as s2n-quic takes it; a code beyond QUIC's varints (2^62) cannot be
/// sent, and becomes the largest one.
pub fn app_error(code: u64) -> s2n_quic::application::Error {
    s2n_quic::application::Error::new(code.min((1 << 62) - 1)).unwrap_or(s2n_quic::application::Error::UNKNOWN)
}

fn stream_id(id: u64) -> StreamId {
    StreamId::try_from(id).expect("s2n-quic stream ids are QUIC varints")
}

/// The first s2n-quic connection error the adapter passed to `h3`, which keeps only its code:
/// who closed the connection, and how, is in the original (fuzz-client classifies it).
#[derive(Clone, Default)]
pub struct ConnectionEnd(Arc<Mutex<Option<s2n_quic::connection::Error>>>);

impl ConnectionEnd {
    pub fn get(&self) -> Option<s2n_quic::connection::Error> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, e: s2n_quic::connection::Error) -> ConnectionErrorIncoming {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
        connection_error(e)
    }
}

/// A connection error as `h3` sees it.
fn connection_error(e: s2n_quic::connection::Error) -> ConnectionErrorIncoming {
    use s2n_quic::connection::Error as E;
    match e {
        E::Application { error, .. } => ConnectionErrorIncoming::ApplicationClose { error_code: error.into() },
        E::IdleTimerExpired { .. } => ConnectionErrorIncoming::Timeout,
        other => ConnectionErrorIncoming::Undefined(Arc::new(other)),
    }
}

/// A stream error as `h3` sees it: a reset (or STOP_SENDING) with its code, the connection's end,
/// or something else.
fn stream_error(end: &ConnectionEnd, e: s2n_quic::stream::Error) -> StreamErrorIncoming {
    use s2n_quic::stream::Error as E;
    match e {
        E::StreamReset { error, .. } => StreamErrorIncoming::StreamTerminated { error_code: error.into() },
        E::ConnectionError { error, .. } => opening_error(end, error),
        other => StreamErrorIncoming::Unknown(Box::new(other)),
    }
}

/// A stream that could not be opened: the connection ended.
fn opening_error(end: &ConnectionEnd, e: s2n_quic::connection::Error) -> StreamErrorIncoming {
    StreamErrorIncoming::ConnectionErrorIncoming { connection_error: end.record(e) }
}

/// The end of the connection when s2n-quic says it closed without an error: `h3` wants an error.
fn closed() -> ConnectionErrorIncoming {
    ConnectionErrorIncoming::ApplicationClose { error_code: H3_NO_ERROR }
}

/// An established s2n-quic connection, as `h3` drives it.
pub struct Connection {
    opener: Opener,
    bidi: BidirectionalStreamAcceptor,
    recv: ReceiveStreamAcceptor,
}

impl Connection {
    pub fn new(conn: s2n_quic::Connection) -> Self {
        let (handle, acceptor) = conn.split();
        let (bidi, recv) = acceptor.split();
        Self { opener: Opener { handle, end: ConnectionEnd::default() }, bidi, recv }
    }

    /// Where the connection's end is recorded, once one of its streams or acceptors saw it.
    pub fn end(&self) -> ConnectionEnd {
        self.opener.end.clone()
    }
}

/// Opens streams on a connection (a clone of its handle).
#[derive(Clone)]
pub struct Opener {
    handle: Handle,
    end: ConnectionEnd,
}

impl<B: Buf> quic::OpenStreams<B> for Opener {
    type BidiStream = BidiStream<B>;
    type SendStream = SendStream<B>;

    fn poll_open_bidi(&mut self, cx: &mut Context<'_>) -> Poll<Result<Self::BidiStream, StreamErrorIncoming>> {
        let stream = ready!(self.handle.poll_open_bidirectional_stream(cx)).map_err(|e| opening_error(&self.end, e))?;
        Poll::Ready(Ok(BidiStream::new(stream, &self.end)))
    }

    fn poll_open_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<Self::SendStream, StreamErrorIncoming>> {
        let stream = ready!(self.handle.poll_open_send_stream(cx)).map_err(|e| opening_error(&self.end, e))?;
        Poll::Ready(Ok(SendStream::new(stream, &self.end)))
    }

    fn close(&mut self, code: h3::error::Code, _reason: &[u8]) {
        // s2n-quic's application close carries no reason phrase.
        self.handle.close(app_error(code.value()));
    }
}

impl<B: Buf> quic::OpenStreams<B> for Connection {
    type BidiStream = BidiStream<B>;
    type SendStream = SendStream<B>;

    fn poll_open_bidi(&mut self, cx: &mut Context<'_>) -> Poll<Result<Self::BidiStream, StreamErrorIncoming>> {
        quic::OpenStreams::<B>::poll_open_bidi(&mut self.opener, cx)
    }

    fn poll_open_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<Self::SendStream, StreamErrorIncoming>> {
        quic::OpenStreams::<B>::poll_open_send(&mut self.opener, cx)
    }

    fn close(&mut self, code: h3::error::Code, reason: &[u8]) {
        quic::OpenStreams::<B>::close(&mut self.opener, code, reason)
    }
}

impl<B: Buf> quic::Connection<B> for Connection {
    type RecvStream = RecvStream;
    type OpenStreams = Opener;

    fn poll_accept_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Self::RecvStream, ConnectionErrorIncoming>> {
        match ready!(self.recv.poll_accept_receive_stream(cx)) {
            Ok(Some(stream)) => Poll::Ready(Ok(RecvStream { stream, end: self.opener.end.clone() })),
            Ok(None) => Poll::Ready(Err(closed())),
            Err(e) => Poll::Ready(Err(self.opener.end.record(e))),
        }
    }

    fn poll_accept_bidi(&mut self, cx: &mut Context<'_>) -> Poll<Result<Self::BidiStream, ConnectionErrorIncoming>> {
        match ready!(self.bidi.poll_accept_bidirectional_stream(cx)) {
            Ok(Some(stream)) => Poll::Ready(Ok(BidiStream::new(stream, &self.opener.end))),
            Ok(None) => Poll::Ready(Err(closed())),
            Err(e) => Poll::Ready(Err(self.opener.end.record(e))),
        }
    }

    fn opener(&self) -> Self::OpenStreams {
        self.opener.clone()
    }
}

/// The receiving half of a stream.
pub struct RecvStream {
    stream: s2n_quic::stream::ReceiveStream,
    end: ConnectionEnd,
}

impl quic::RecvStream for RecvStream {
    type Buf = Bytes;

    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        Poll::Ready(ready!(self.stream.poll_receive(cx)).map_err(|e| stream_error(&self.end, e)))
    }

    fn stop_sending(&mut self, error_code: u64) {
        let _ = self.stream.stop_sending(app_error(error_code));
    }

    fn recv_id(&self) -> StreamId {
        stream_id(self.stream.id())
    }
}

/// The sending half of a stream. `h3` hands it a buffer with `send_data`, then polls
/// `poll_ready` until the buffer is in s2n-quic's send queue; s2n-quic takes whole chunks, so the
/// buffer goes over chunk by chunk (`chunk` is the one s2n-quic has not taken yet).
pub struct SendStream<B: Buf> {
    stream: s2n_quic::stream::SendStream,
    pending: Option<WriteBuf<B>>,
    chunk: Bytes,
    end: ConnectionEnd,
}

impl<B: Buf> SendStream<B> {
    fn new(stream: s2n_quic::stream::SendStream, end: &ConnectionEnd) -> Self {
        Self { stream, pending: None, chunk: Bytes::new(), end: end.clone() }
    }
}

impl<B: Buf> quic::SendStream<B> for SendStream<B> {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        loop {
            if !self.chunk.is_empty() {
                ready!(self.stream.poll_send(&mut self.chunk, cx)).map_err(|e| stream_error(&self.end, e))?;
                continue;
            }
            match self.pending.as_mut() {
                Some(buf) if buf.has_remaining() => {
                    let len = buf.chunk().len();
                    self.chunk = buf.copy_to_bytes(len);
                }
                _ => {
                    self.pending = None;
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }

    fn send_data<T: Into<WriteBuf<B>>>(&mut self, data: T) -> Result<(), StreamErrorIncoming> {
        if self.pending.is_some() || !self.chunk.is_empty() {
            // `h3` polls `poll_ready` to the end before it sends more: this is a bug in the caller.
            return Err(StreamErrorIncoming::Unknown("send_data before the previous data was taken".into()));
        }
        self.pending = Some(data.into());
        Ok(())
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        ready!(quic::SendStream::<B>::poll_ready(self, cx))?;
        Poll::Ready(self.stream.finish().map_err(|e| stream_error(&self.end, e)))
    }

    fn reset(&mut self, reset_code: u64) {
        let _ = self.stream.reset(app_error(reset_code));
    }

    fn send_id(&self) -> StreamId {
        stream_id(self.stream.id())
    }
}

/// Both halves of a bidirectional stream (a request's).
pub struct BidiStream<B: Buf> {
    send: SendStream<B>,
    recv: RecvStream,
}

impl<B: Buf> BidiStream<B> {
    fn new(stream: s2n_quic::stream::BidirectionalStream, end: &ConnectionEnd) -> Self {
        let (recv, send) = stream.split();
        Self { send: SendStream::new(send, end), recv: RecvStream { stream: recv, end: end.clone() } }
    }
}

impl<B: Buf> quic::BidiStream<B> for BidiStream<B> {
    type SendStream = SendStream<B>;
    type RecvStream = RecvStream;

    fn split(self) -> (Self::SendStream, Self::RecvStream) {
        (self.send, self.recv)
    }
}

impl<B: Buf> quic::RecvStream for BidiStream<B> {
    type Buf = Bytes;

    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        self.recv.poll_data(cx)
    }

    fn stop_sending(&mut self, error_code: u64) {
        self.recv.stop_sending(error_code)
    }

    fn recv_id(&self) -> StreamId {
        self.recv.recv_id()
    }
}

impl<B: Buf> quic::SendStream<B> for BidiStream<B> {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.send.poll_ready(cx)
    }

    fn send_data<T: Into<WriteBuf<B>>>(&mut self, data: T) -> Result<(), StreamErrorIncoming> {
        self.send.send_data(data)
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.send.poll_finish(cx)
    }

    fn reset(&mut self, reset_code: u64) {
        self.send.reset(reset_code)
    }

    fn send_id(&self) -> StreamId {
        self.send.send_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_fit_quic_varints() {
        assert_eq!(u64::from(app_error(H3_NO_ERROR)), 0x100);
        assert_eq!(u64::from(app_error(u64::MAX)), (1 << 62) - 1);
    }

    #[test]
    fn resets_keep_their_code() {
        let end = ConnectionEnd::default();
        let e = s2n_quic::stream::Error::stream_reset(app_error(0x10c));
        assert!(matches!(stream_error(&end, e), StreamErrorIncoming::StreamTerminated { error_code: 0x10c }));
        let e = s2n_quic::stream::Error::non_writable();
        assert!(matches!(stream_error(&end, e), StreamErrorIncoming::Unknown(_)));
        assert!(end.get().is_none(), "a stream's own error is not the connection's end");
    }

    #[test]
    fn the_first_connection_error_is_kept() {
        let end = ConnectionEnd::default();
        let idle = s2n_quic::connection::Error::idle_timer_expired();
        assert!(matches!(end.record(idle), ConnectionErrorIncoming::Timeout));
        end.record(s2n_quic::connection::Error::stateless_reset());
        assert!(matches!(end.get(), Some(s2n_quic::connection::Error::IdleTimerExpired { .. })));
    }
}
