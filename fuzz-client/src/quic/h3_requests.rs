//! A connection's requests in HTTP/3 (`--alpn h3`): hyperium's `h3` client over the connection's
//! s2n-quic streams (`fuzz_s2n_glue::h3`).
//!
//! The `h3` client opens the control stream and sends SETTINGS (RFC 9114 §6.2.1, §7.2.4), then
//! each of the plan's requests is a GET of its path on a bidirectional stream of its own, opened
//! in the plan's order (so requests use the same stream IDs, 0, 4, 8..., as in hq-interop, and
//! their STREAM frames the same content keys), with QPACK-encoded headers
//! (`:method GET`, `:scheme https`, `:authority` the SNI, `:path`) and no body. Each answer is a
//! response with a status, then the body up to the stream's end; [`super::answer`] checks it.
//! The `h3` connection driver runs alongside, reading the server's control stream.

use super::answer::Received;
use super::conn_state::ConnShared;
use super::connection::{until_silent, Answer, End, Timeouts};
use super::endpoint::ClientEndpoint;
use bytes::{Buf, Bytes};
use fuzz_s2n_glue::h3::{self as glue, ConnectionEnd};
use fuzz_shared::{Outcome, Request};
use tokio::sync::watch;

type Stream = h3::client::RequestStream<glue::BidiStream<Bytes>, Bytes>;

/// Sends the requests on `conn` and waits for their answers, one per request (or fewer, when
/// the connection ended before every request went out: the last answer says how).
pub async fn requests(
    (ep, shared, t): (&ClientEndpoint, &ConnShared, Timeouts),
    conn: s2n_quic::Connection,
    requests: &[Request],
    cancel: &mut watch::Receiver<bool>,
) -> Vec<Answer> {
    let conn = glue::Connection::new(conn);
    let end = conn.end();
    let built =
        until_silent(glue::client_builder().build::<_, _, Bytes>(conn), ep, shared, t, || 0, None, cancel).await;
    let (mut driver, mut sender) = match built {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return vec![connection_answer(&end, &e)],
        Err("cancelled") => return vec![Answer::Cancelled],
        Err(_) => return vec![Answer::Silent],
    };
    let mut streams: Vec<Stream> = Vec::with_capacity(requests.len());
    for r in requests {
        let uri = format!("https://{}{}", ep.server_name(), r.path);
        let request = match http::Request::get(uri).body(()) {
            Ok(request) => request,
            Err(e) => return vec![Answer::Malformed(format!("cannot make the request: {e}"))],
        };
        match until_silent(sender.send_request(request), ep, shared, t, || 0, None, cancel).await {
            Ok(Ok(stream)) => streams.push(stream),
            Ok(Err(e)) => return vec![stream_answer(&end, e)],
            Err("cancelled") => return vec![Answer::Cancelled],
            Err(_) => return vec![Answer::Silent],
        }
    }
    let answers = futures::future::join_all(streams.into_iter().map(|s| {
        let (mut cancel, end) = (cancel.clone(), end.clone());
        async move { answer((ep, shared, t), s, &end, &mut cancel).await }
    }));
    tokio::pin!(answers);
    let driven = futures::future::poll_fn(|cx| driver.poll_close(cx));
    tokio::pin!(driven);
    // The driver ends when the connection does; the streams then end too, with its error.
    let answers = tokio::select! {
        a = &mut answers => a,
        _ = &mut driven => answers.await,
    };
    drop(sender);
    answers
}

/// One request's answer: its stream finished on our side, the response's status, the body.
async fn answer(
    (ep, shared, t): (&ClientEndpoint, &ConnShared, Timeouts),
    mut stream: Stream,
    end: &ConnectionEnd,
    cancel: &mut watch::Receiver<bool>,
) -> Answer {
    macro_rules! wait {
        ($fut:expr) => {
            match until_silent($fut, ep, shared, t, || 0, None, cancel).await {
                Ok(Ok(out)) => out,
                Ok(Err(e)) => return stream_answer(end, e),
                Err("cancelled") => return Answer::Cancelled,
                Err(_) => return Answer::Silent,
            }
        };
    }
    wait!(stream.finish());
    let response = wait!(stream.recv_response());
    let mut bytes = 0u64;
    while let Some(chunk) = wait!(stream.recv_data()) {
        bytes += chunk.remaining() as u64;
    }
    Answer::Done(Received { status: Some(response.status().as_u16()), bytes })
}

/// What a stream error means for the request: the server reset it, the response was malformed,
/// or the connection ended.
fn stream_answer(end: &ConnectionEnd, e: h3::error::StreamError) -> Answer {
    use h3::error::StreamError as SE;
    match e {
        SE::RemoteTerminate { code, .. } => Answer::Reset { code: code.value() },
        SE::ConnectionError { 0: e, .. } => connection_answer(end, &e),
        SE::RemoteClosing { .. } => Answer::Malformed("the server is closing the connection (GOAWAY)".into()),
        other => Answer::Malformed(other.to_string()),
    }
}

/// The connection's end: the s2n-quic error when the adapter saw one (classified as in
/// hq-interop), else what `h3` says, which is then this end closing on an HTTP/3 error it
/// detected (RFC 9114 §8: a connection error such as H3_FRAME_UNEXPECTED).
fn connection_answer(end: &ConnectionEnd, e: &h3::error::ConnectionError) -> Answer {
    use h3::error::{ConnectionError as CE, LocalError};
    if let Some(error) = end.get() {
        return Answer::Error(error);
    }
    match e {
        CE::Local { error: LocalError::Application { code, reason, .. }, .. } => {
            Answer::Closed(End::new(Outcome::LocalClosed, Some(code.value()), format!("HTTP/3 error: {code} {reason}")))
        }
        other => Answer::Closed(End::new(Outcome::LocalClosed, None, format!("HTTP/3: {other}"))),
    }
}
