//! Serving HTTP/3 (ALPN `h3`, RFC 9114): hyperium's `h3` server over s2n-quic's streams
//! (`fuzz_s2n_glue::h3`), with GREASE off so that what the server sends on its streams is the
//! same on every run of a client's CID (its mutations are keyed to it).
//!
//! Each request stream gets what hq-interop would get for its `:path` ([`serve::resolve`]): a
//! file from `--www`, or a generated body of N bytes for `/N`, with status 200; where hq-interop
//! resets the stream, h3 answers with the status that code names (404, 413, 400) and no body.
//! Methods other than GET (and HEAD, answered without a body) get 405. A body that cannot be
//! read to its end (a file that vanished) stops the stream with H3_INTERNAL_ERROR, so that the
//! client never takes a short body for a whole one.

use crate::serve::{self, BodySink, Config, SendError, Target};
use bytes::Bytes;
use fuzz_s2n_glue::h3 as glue;
use http::{Method, StatusCode};
use s2n_quic::Connection;
use std::sync::Arc;

type RequestStream = h3::server::RequestStream<glue::BidiStream<Bytes>, Bytes>;

impl BodySink for RequestStream {
    async fn send_chunk(&mut self, chunk: Bytes) -> Result<(), ()> {
        self.send_data(chunk).await.map_err(|_| ())
    }
}

/// Serves one h3 connection until it closes.
pub async fn connection(conn: Connection, config: Arc<Config>) {
    let Ok(mut h3) = glue::server_builder().build::<_, Bytes>(glue::Connection::new(conn)).await else {
        return;
    };
    loop {
        match h3.accept().await {
            Ok(Some(resolver)) => {
                let config = config.clone();
                tokio::spawn(async move {
                    if let Ok((request, stream)) = resolver.resolve_request().await {
                        respond(request, stream, &config).await;
                    }
                });
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// What `request` gets: the target hq-interop would serve, or a status without a body.
fn target(request: &http::Request<()>, config: &Config) -> Target {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Target::Refuse(405);
    }
    serve::resolve(request.uri().path(), config.www.as_deref())
}

/// The status of a refusal code (the codes hq-interop resets streams with are HTTP statuses).
fn refusal_status(code: u32) -> StatusCode {
    u16::try_from(code).ok().and_then(|c| StatusCode::from_u16(c).ok()).unwrap_or(StatusCode::BAD_REQUEST)
}

async fn respond(request: http::Request<()>, mut stream: RequestStream, config: &Config) {
    let target = target(&request, config);
    tokio::time::sleep(config.answer_delay).await;
    let status = match &target {
        Target::Refuse(code) => refusal_status(*code),
        _ => StatusCode::OK,
    };
    let response = http::Response::builder().status(status).body(()).expect("a status alone is a valid response");
    if stream.send_response(response).await.is_err() {
        return;
    }
    let sent = match target {
        _ if request.method() == Method::HEAD => Ok(()),
        Target::Generated(n) => serve::send_generated(&mut stream, n).await,
        Target::File(path) => serve::send_file(&mut stream, &path).await,
        Target::Refuse(_) => Ok(()),
    };
    match sent {
        Ok(()) => {
            let _ = stream.finish().await;
        }
        Err(SendError::File) => stream.stop_stream(h3::error::Code::H3_INTERNAL_ERROR),
        Err(SendError::Stream) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::CODE_BAD_REQUEST;

    fn get(method: Method, uri: &str) -> http::Request<()> {
        http::Request::builder().method(method).uri(uri).body(()).unwrap()
    }

    #[test]
    fn targets_follow_hq_interop() {
        let config = Config { www: None, answer_delay: std::time::Duration::ZERO };
        assert_eq!(target(&get(Method::GET, "https://localhost/1000"), &config), Target::Generated(1000));
        assert_eq!(target(&get(Method::GET, "https://localhost/12?x=1"), &config), Target::Generated(12));
        assert_eq!(target(&get(Method::GET, "https://localhost/a"), &config), Target::Refuse(404));
        assert_eq!(target(&get(Method::POST, "https://localhost/1000"), &config), Target::Refuse(405));
        assert_eq!(target(&get(Method::HEAD, "https://localhost/1"), &config), Target::Generated(1));
    }

    #[test]
    fn refusals_are_statuses() {
        assert_eq!(refusal_status(404), StatusCode::NOT_FOUND);
        assert_eq!(refusal_status(413), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(refusal_status(CODE_BAD_REQUEST), StatusCode::BAD_REQUEST);
        assert_eq!(refusal_status(7), StatusCode::BAD_REQUEST, "not a status");
    }
}
