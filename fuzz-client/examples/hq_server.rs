//! A minimal, clean hq-interop server on s2n-quic: `GET /N\r\n` is answered with N bytes.
//! A development aid for the client (no fuzzing, no log): `cargo run --release -p fuzz-client
//! --example hq_server -- 127.0.0.1:4433`. The project's real target is `fuzz-server`.

use s2n_quic::provider::tls::s2n_tls;
use s2n_quic::Server;
use std::time::{Duration, SystemTime};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:4433".into());
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let mut tls = s2n_tls::Server::builder()
        .with_certificate(cert.cert.pem().as_str(), cert.key_pair.serialize_pem().as_str())?
        .with_application_protocols([b"hq-interop".as_slice()])?;
    tls.config_mut().set_ticket_key_encrypt_decrypt_lifetime(Duration::from_secs(86400))?.add_session_ticket_key(
        b"hq-server",
        &rand::random::<[u8; 32]>(),
        SystemTime::now(),
    )?;
    let mut server = Server::builder().with_io(listen.as_str())?.with_tls(tls.build()?)?.start()?;
    eprintln!("hq_server listening on {}", server.local_addr()?);
    while let Some(mut conn) = server.accept().await {
        tokio::spawn(async move {
            while let Ok(Some(mut stream)) = conn.accept_bidirectional_stream().await {
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    while let Ok(Some(chunk)) = stream.receive().await {
                        req.extend_from_slice(&chunk);
                        if req.ends_with(b"\r\n") || req.len() > 1024 {
                            break;
                        }
                    }
                    let text = String::from_utf8_lossy(&req);
                    let n: usize = text.trim().strip_prefix("GET /").and_then(|n| n.parse().ok()).unwrap_or(0);
                    let _ = stream.send(bytes::Bytes::from(vec![b'x'; n.min(1 << 20)])).await;
                    let _ = stream.finish();
                });
            }
        });
    }
    Ok(())
}
