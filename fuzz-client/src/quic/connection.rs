//! One connection: from its CID and plan to its requests, answers and outcome.
//!
//! A connection ends when its requests are answered (`completed`, or `wrong_answer` when an
//! answer is not what was asked: module `answer`), the peer closes it
//! (`peer_closed`, or `handshake_failed` before the handshake completed, or `refused` for
//! CONNECTION_REFUSED), this end detects an error (`local_closed`), or it is silent for
//! `idle`, or for the shorter limit learnt from the campaign's handshakes (module `patience`)
//! (`timeout`). Whatever it abandons it closes with an application CONNECTION_CLOSE
//! (RFC 9000 §10.2) so that the server frees it at once instead of at its idle timeout.

use crate::quic::answer::{self, Received};
use crate::quic::conn_state::{ConnShared, Session};
use crate::quic::endpoint::{Attempt, ClientEndpoint};
use crate::quic::h3_requests;
use fuzz_shared::application::Application;
use fuzz_shared::mutate;
use fuzz_shared::{Cid, ConnectionFuzzer, FuzzState, Outcome, Request};
use s2n_quic::connection::Error as ConnError;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The application error code with which the fuzzer abandons a stalled connection.
pub const CLOSE_ABANDONED: u32 = 0x46_5a; // "FZ"

/// How long to wait for things.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Silence after which a connection is abandoned.
    pub idle: Duration,
    /// The hard cap on a connection's life.
    pub cap: Duration,
    /// Whether a silence shorter than `idle`, learnt from the endpoint's handshakes, abandons a
    /// connection that has mutated something (module `patience`): for the campaign's
    /// connections, not for probes, which must not fail because the server is busy.
    pub learnt: bool,
}

impl Timeouts {
    /// Timeouts that wait `idle` for every answer.
    pub fn new(idle: Duration, cap: Duration) -> Self {
        Self { idle, cap: cap.max(idle), learnt: false }
    }

    /// The same, but a silence of the endpoint's learnt limit (at most `idle`) is enough.
    pub fn learnt(self) -> Self {
        Self { learnt: true, ..self }
    }

    /// How long to wait now for the next sign of life from the server on `conn`.
    fn silence(&self, ep: &ClientEndpoint, conn: &ConnShared) -> Duration {
        if !self.learnt {
            return self.idle;
        }
        // The connection's lock is let go before the endpoint's is taken.
        let (mutated, handshake_done) = {
            let stats = conn.stats.lock().expect("stats");
            (stats.fuzzed.iter().any(|&n| n > 0), stats.handshake.is_some())
        };
        if mutated {
            ep.silence_limit(self.idle, handshake_done)
        } else {
            self.idle
        }
    }

    /// The whole handshake's budget: two idle periods.
    pub fn handshake(&self) -> Duration {
        (self.idle * 2).min(self.cap)
    }
}

/// How a connection went, for `cid_end` and the summary.
#[derive(Debug, Clone)]
pub struct ConnReport {
    pub seq: u64,
    pub cid: Cid,
    pub outcome: Outcome,
    pub error_code: Option<u64>,
    pub sent: [u64; 4],
    pub fuzzed: [u64; 4],
    pub mutation_digest: String,
    /// The operator families of its decisions ([`ConnectionFuzzer::operator_families`]).
    pub operators: Vec<String>,
    /// Its mutated contents with their operators ([`ConnectionFuzzer::mutated`]).
    pub mutated: fuzz_shared::log::MutatedContents,
    pub duration: Duration,
    pub detail: Option<String>,
    pub odcid_error: Option<String>,
    pub fuzz_state: FuzzState,
    /// Packets received from the server: a failed connection that received some still proves
    /// the server alive.
    pub received: u64,
    /// How the resumption of a resuming plan went (module [`crate::quic::resumption`]).
    pub resumption: Option<fuzz_shared::log::Resumption>,
    /// How long the handshake took, if it completed (for pacing).
    pub handshake: Option<Duration>,
    /// Whether its end points at a bug in the server: the server closed it with INTERNAL_ERROR
    /// ([`fuzz_shared::log::is_internal_error`]), or answered a request wrongly. Such a
    /// connection is a culprit of its own, whose qlog file is kept.
    pub server_fault: bool,
}

pub use fuzz_shared::chain::OFF_CHAIN_SEQ;

impl ConnReport {
    /// The connection's `cid_end` line, with `detail` and the oracle's [`Self::verdict`].
    pub fn cid_end(&self, detail: Option<String>, verdict: Option<fuzz_shared::oracle::Verdict>) -> fuzz_shared::Event {
        fuzz_shared::Event::CidEnd {
            seq: self.seq,
            cid: self.cid,
            outcome: self.outcome,
            error_code: self.error_code,
            fuzzed_packets: self.fuzzed_packets(),
            sent_packets: Some(self.sent_packets()),
            mutation_digest: self.mutation_digest.clone(),
            duration_ms: self.duration.as_millis() as u64,
            operators: self.operators.clone(),
            mutated: self.mutated.clone(),
            detail,
            resumption: self.resumption.clone(),
            verdict,
        }
    }

    /// The RFC oracle's verdict on how the server took this connection's decisions.
    pub fn verdict(&self) -> Option<fuzz_shared::oracle::Verdict> {
        let end = fuzz_shared::log::Ending {
            outcome: self.outcome,
            error_code: self.error_code,
            detail: self.detail.as_deref(),
        };
        fuzz_shared::oracle::judge(&self.mutated, end)
    }

    pub fn fuzzed_packets(&self) -> u64 {
        self.fuzzed.iter().sum()
    }
    pub fn sent_packets(&self) -> u64 {
        self.sent.iter().sum()
    }
}

/// Where the connection ended, before the counters are added.
pub struct End {
    outcome: Outcome,
    error_code: Option<u64>,
    detail: Option<String>,
    /// The server closed it with a transport error that says the server broke.
    server_internal_error: bool,
}

impl End {
    pub fn new(outcome: Outcome, error_code: Option<u64>, detail: impl Into<String>) -> Self {
        let detail: String = detail.into();
        Self { outcome, error_code, detail: (!detail.is_empty()).then_some(detail), server_internal_error: false }
    }
}

/// Classifies a connection error. RFC 9000 §20.1: CONNECTION_REFUSED (0x2) is "the server
/// refused to accept a new connection".
fn classify(error: &ConnError, handshake_done: bool) -> End {
    use s2n_quic::connection::Error as E;
    let remote = |initiator: &s2n_quic_core::endpoint::Location| initiator.is_remote();
    match error {
        E::Transport { code, initiator, reason, .. } if remote(initiator) => {
            let code = code.as_u64();
            let mut end = if !handshake_done && code == 0x2 {
                End::new(Outcome::Refused, Some(code), "CONNECTION_REFUSED")
            } else if !handshake_done {
                End::new(
                    Outcome::HandshakeFailed,
                    Some(code),
                    format!("peer closed the handshake: {}{reason}", error_name(code)),
                )
            } else {
                End::new(Outcome::PeerClosed, Some(code), format!("peer closed: {}{reason}", error_name(code)))
            };
            end.server_internal_error = fuzz_shared::log::is_internal_error(code);
            end
        }
        E::Application { error, initiator, .. } if remote(initiator) => {
            let code: u64 = (*error).into();
            let outcome = if handshake_done { Outcome::PeerClosed } else { Outcome::HandshakeFailed };
            End::new(outcome, Some(code), "application close")
        }
        E::Closed { initiator, .. } if remote(initiator) => {
            let outcome = if handshake_done { Outcome::PeerClosed } else { Outcome::HandshakeFailed };
            End::new(outcome, None, "closed by peer")
        }
        E::StatelessReset { .. } => End::new(Outcome::PeerClosed, None, "stateless reset"),
        E::IdleTimerExpired { .. } => End::new(Outcome::Timeout, None, "transport idle timeout"),
        E::MaxHandshakeDurationExceeded { .. } => End::new(Outcome::Timeout, None, "handshake too long"),
        E::Transport { code, reason, .. } => {
            let outcome = if handshake_done { Outcome::LocalClosed } else { Outcome::HandshakeFailed };
            End::new(
                outcome,
                Some(code.as_u64()),
                format!("{}: {}{reason}", fuzz_shared::log::LOCAL_ERROR, error_name(code.as_u64())),
            )
        }
        other => {
            let outcome = if handshake_done { Outcome::LocalClosed } else { Outcome::HandshakeFailed };
            End::new(outcome, None, other.to_string())
        }
    }
}

/// The name of a QUIC transport error code ([`fuzz_shared::transport_error::name`], `error
/// 0x..` for one RFC 9000 does not name), followed by a space.
pub fn error_name(code: u64) -> String {
    match fuzz_shared::transport_error::name(code) {
        Some(name) => format!("{name} "),
        None => format!("error 0x{code:x} "),
    }
}

/// Waits for `fut`, at most `limit`, giving up early when the campaign is cancelled.
async fn bounded<F: Future>(
    fut: F,
    limit: Duration,
    cancel: &mut watch::Receiver<bool>,
) -> Result<F::Output, &'static str> {
    if *cancel.borrow() {
        return Err("cancelled");
    }
    tokio::select! {
        out = fut => Ok(out),
        _ = tokio::time::sleep(limit) => Err("silent"),
        _ = cancel.changed() => Err("cancelled"),
    }
}

/// Waits for `fut` until the server has been silent for [`Timeouts::silence`] (`progress` counts
/// its signs of life), or until `deadline`. The limit is evaluated again at least as often as the
/// learnt limit, so that it applies as soon as the connection's first mutation went out.
/// Errors: "cancelled", "deadline", "silent".
pub async fn until_silent<F: Future>(
    fut: F,
    ep: &ClientEndpoint,
    shared: &ConnShared,
    t: Timeouts,
    progress: impl Fn() -> u64,
    deadline: Option<Instant>,
    cancel: &mut watch::Receiver<bool>,
) -> Result<F::Output, &'static str> {
    tokio::pin!(fut);
    let mut heard = progress();
    let mut heard_at = Instant::now();
    loop {
        let now = Instant::now();
        let mut wait = (heard_at + t.silence(ep, shared)).saturating_duration_since(now);
        if t.learnt {
            wait = wait.min(ep.silence_limit(t.idle, false));
        }
        if let Some(deadline) = deadline {
            wait = wait.min(deadline.saturating_duration_since(now));
        }
        match bounded(&mut fut, wait, cancel).await {
            Ok(out) => return Ok(out),
            Err("cancelled") => return Err("cancelled"),
            Err(_) => {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    return Err("deadline");
                }
                let p = progress();
                if p != heard {
                    (heard, heard_at) = (p, now);
                } else if now.duration_since(heard_at) >= t.silence(ep, shared) {
                    return Err("silent");
                }
            }
        }
    }
}

/// The outcome of one request's stream.
pub enum Answer {
    /// The stream ended (FIN) after the body (and, in h3, a response with a status).
    Done(Received),
    /// The server reset the stream (or, in h3, stopped it) with this application error code.
    Reset {
        code: u64,
    },
    /// The answer broke the protocol on its stream (h3: a malformed response).
    Malformed(String),
    Error(ConnError),
    /// The connection ended as the HTTP/3 layer reports it (it closed the connection itself).
    Closed(End),
    Silent,
    Cancelled,
}

/// The requests in hq-interop (as in the QUIC interop runner): one bidirectional stream each,
/// opened in the plan's order and sent together; `GET /path\r\n`, then the stream's end.
async fn hq_requests(
    (ep, shared, t): (&ClientEndpoint, &ConnShared, Timeouts),
    conn: &mut s2n_quic::Connection,
    requests: &[Request],
    cancel: &mut watch::Receiver<bool>,
) -> Vec<Answer> {
    let mut streams = Vec::with_capacity(requests.len());
    for _ in requests {
        match until_silent(conn.open_bidirectional_stream(), ep, shared, t, || 0, None, cancel).await {
            Ok(Ok(s)) => streams.push(s),
            Ok(Err(e)) => return vec![Answer::Error(e)],
            Err("cancelled") => return vec![Answer::Cancelled],
            Err(_) => return vec![Answer::Silent],
        }
    }
    let futs = streams.into_iter().zip(requests.iter()).map(|(s, r)| {
        let mut cancel = cancel.clone();
        async move { request((ep, shared, t), s, r, &mut cancel).await }
    });
    futures::future::join_all(futs).await
}

async fn request(
    (ep, shared, t): (&ClientEndpoint, &ConnShared, Timeouts),
    mut stream: s2n_quic::stream::BidirectionalStream,
    req: &Request,
    cancel: &mut watch::Receiver<bool>,
) -> Answer {
    use s2n_quic::stream::Error as SE;
    let to_answer = |e: SE| match e {
        SE::StreamReset { error, .. } => Answer::Reset { code: error.into() },
        SE::ConnectionError { error, .. } => Answer::Error(error),
        other => Answer::Malformed(other.to_string()),
    };
    let line = bytes::Bytes::from(format!("GET {}\r\n", req.path));
    match until_silent(stream.send(line), ep, shared, t, || 0, None, cancel).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return to_answer(e),
        Err("cancelled") => return Answer::Cancelled,
        Err(_) => return Answer::Silent,
    }
    if let Err(e) = stream.finish() {
        return to_answer(e);
    }
    let mut bytes = 0u64;
    loop {
        match until_silent(stream.receive(), ep, shared, t, || 0, None, cancel).await {
            Ok(Ok(Some(chunk))) => bytes += chunk.len() as u64,
            Ok(Ok(None)) => return Answer::Done(Received { status: None, bytes }),
            Ok(Err(e)) => return to_answer(e),
            Err("cancelled") => return Answer::Cancelled,
            Err(_) => return Answer::Silent,
        }
    }
}

/// Runs one connection to its end. Never panics on anything the network does.
pub async fn run(
    ep: &ClientEndpoint,
    shared: Arc<ConnShared>,
    t: Timeouts,
    mut cancel: watch::Receiver<bool>,
) -> ConnReport {
    let started = Instant::now();
    let end = match tokio::time::timeout(t.cap, drive(ep, &shared, t, &mut cancel)).await {
        Ok(end) => end,
        Err(_) => End::new(Outcome::Timeout, None, "hard per-connection cap reached"),
    };
    let duration = started.elapsed();
    let mut stats = shared.stats.lock().expect("stats");
    // A connection that made requests waited for answers: how long, the patience after later
    // handshakes learns from (a priming connection, which makes none, would teach nothing).
    if let (Outcome::Completed, Some((_, longest)), false) = (end.outcome, stats.heard, shared.plan.requests.is_empty())
    {
        ep.on_completed(longest);
    }
    let mut detail = end.detail;
    if stats.received == 0 && matches!(end.outcome, Outcome::Timeout | Outcome::HandshakeFailed) {
        detail = Some(format!("{}; nothing received from the server", detail.unwrap_or_default()));
    }
    ConnReport {
        seq: shared.seq,
        cid: shared.cid,
        outcome: end.outcome,
        error_code: end.error_code,
        sent: stats.sent,
        fuzzed: stats.fuzzed,
        mutation_digest: stats.fuzzer.as_ref().map_or_else(|| mutate::digest(&[]), ConnectionFuzzer::digest),
        operators: stats.fuzzer.as_ref().map_or_else(Vec::new, ConnectionFuzzer::operator_families),
        mutated: stats.fuzzer.as_ref().map(ConnectionFuzzer::mutated).unwrap_or_default(),
        duration,
        detail,
        odcid_error: stats.odcid_error.take(),
        fuzz_state: shared.plan.fuzz_state,
        received: stats.received,
        resumption: None,
        handshake: stats.handshake,
        server_fault: end.server_internal_error || end.outcome == Outcome::WrongAnswer,
    }
}

async fn drive(ep: &ClientEndpoint, shared: &Arc<ConnShared>, t: Timeouts, cancel: &mut watch::Receiver<bool>) -> End {
    // A connection whose turn came after the campaign stopped (a resuming plan whose priming
    // connection was still running, say) never connects: nothing reaches a server found down.
    if *cancel.borrow() {
        return End::new(Outcome::Timeout, None, "abandoned: campaign stopping before it connected");
    }
    let attempt = match ep.connect(shared.clone()).await {
        Attempt::Pending(a) => a,
        Attempt::Failed(e) => return classify(&e, false),
    };
    // The handshake may take two idle periods as long as the server keeps answering, but not
    // one idle period of silence, nor, once the connection mutated something, a silence of a
    // few probe timeouts (`patience`: learnt from the handshakes so far): a fuzzed handshake
    // often stalls with the server silent or only ACKing, and since derivation v2 the
    // retransmissions carry the same mutations, so waiting longer does not unstick it. Dropping the attempt makes s2n-quic close the
    // connection if its handshake completes later; until then the transport's idle timeout
    // (ours, and the server's, which is at most ours, RFC 9000 §10.1) bounds it.
    let started = Instant::now();
    let received = || shared.stats.lock().expect("stats").received;
    let conn = until_silent(attempt, ep, shared, t, received, Some(started + t.handshake()), cancel).await;
    let mut conn = match conn {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return classify(&e, false),
        Err("cancelled") => return End::new(Outcome::Timeout, None, "abandoned: campaign stopping"),
        Err("deadline") => return End::new(Outcome::Timeout, None, "handshake too slow"),
        Err(_) => return End::new(Outcome::Timeout, None, "handshake silent"),
    };
    let took = started.elapsed();
    ep.on_handshake(took);
    shared.stats.lock().expect("stats").handshake = Some(took);
    // Requests (or the close of a connection without any) wait for the handshake to be
    // confirmed (RFC 9001 §4.1.2), up to the same silence limit. Sent earlier, they race the
    // server's first 1-RTT packets: whether the server's packet 0 carries an ACK and the start
    // of a response, or whether it is sent at all before our close arrives, would then depend on
    // timing, and so would the server's mutation decisions for it. The wait ends at once when
    // the connection closes instead (the server rejected a fuzzed handshake); a confirmation
    // that never comes (our Finished was fuzzed, and the server stays silent) costs the silence
    // limit, after which the connection goes on.
    let handle = conn.handle();
    if let Err("cancelled") = bounded(shared.handshake_settled.notified(), t.silence(ep, shared), cancel).await {
        return abandon(&handle, shared, "abandoned: campaign stopping").await;
    }
    // A priming connection is for its session ticket (RFC 8446 §4.6.1: sent after the
    // handshake, at the server's discretion): it waits for one, up to the same silence, before
    // it goes on (a priming plan makes no requests, so it then closes).
    if matches!(shared.session, Session::Prime { .. }) && shared.stats.lock().expect("stats").ticket.is_none() {
        if let Err("cancelled") = bounded(shared.ticket_arrived.notified(), t.silence(ep, shared), cancel).await {
            return abandon(&handle, shared, "abandoned: campaign stopping").await;
        }
    }
    // After the handshake the same silence abandons the connection: a request or response whose
    // mutated frame the peer dropped is dropped again on every retransmission.
    let requests = shared.plan.requests.clone();
    let rules = ep.answer_rules();
    let answers = match rules.protocol {
        Application::HqInterop => hq_requests((ep, shared, t), &mut conn, &requests, cancel).await,
        Application::H3 => h3_requests::requests((ep, shared, t), conn, &requests, cancel).await,
    };
    let mut wrong = Vec::new();
    for (a, r) in answers.into_iter().zip(requests.iter()) {
        match a {
            Answer::Done(got) => {
                if let Err(w) = answer::check(rules, &r.path, got) {
                    wrong.push(w.to_string());
                }
            }
            Answer::Reset { code } => wrong.push(format!("{}: stream reset by the server (code {code})", r.path)),
            Answer::Malformed(why) => wrong.push(format!("{}: malformed answer: {why}", r.path)),
            Answer::Error(e) => return finish_error(shared, e).await,
            Answer::Closed(end) => {
                wait_close_sent(shared).await;
                return end;
            }
            Answer::Silent => return abandon(&handle, shared, "silent").await,
            Answer::Cancelled => return abandon(&handle, shared, "abandoned: campaign stopping").await,
        }
    }
    handle.close(fuzz_s2n_glue::h3::app_error(rules.protocol.close_code()));
    wait_close_sent(shared).await;
    if wrong.is_empty() {
        End::new(Outcome::Completed, None, "")
    } else {
        End::new(Outcome::WrongAnswer, None, format!("{} wrong answer(s): {}", wrong.len(), wrong.join("; ")))
    }
}

/// The connection failed after its handshake: classify, and make sure a close went out.
async fn finish_error(shared: &ConnShared, e: ConnError) -> End {
    let end = classify(&e, true);
    if end.outcome == Outcome::LocalClosed {
        // s2n-quic sends the CONNECTION_CLOSE itself; its mutation belongs to this connection.
        wait_close_sent(shared).await;
    }
    end
}

async fn abandon(handle: &s2n_quic::connection::Handle, shared: &ConnShared, why: &str) -> End {
    handle.close(CLOSE_ABANDONED.into());
    wait_close_sent(shared).await;
    End::new(Outcome::Timeout, Some(CLOSE_ABANDONED as u64), why)
}

/// After a local close, waits (briefly) for the CONNECTION_CLOSE packet to leave, so that its
/// mutation, if the plan fuzzes the closing state, is in this connection's decisions.
async fn wait_close_sent(shared: &ConnShared) {
    if shared.stats.lock().expect("stats").close_sent {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_millis(50), shared.close_sent.notified()).await;
}
