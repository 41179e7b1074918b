//! TLS set-up: the certificate (loaded, or generated self-signed for localhost), the ALPN list,
//! session tickets so that clients can resume (RFC 8446 §2.2), and the handshake delay of a slow
//! server (`--delay-ms`).

use anyhow::{anyhow, Context, Result};
use rand::RngCore;
use s2n_quic::provider::tls::s2n_tls;
use s2n_tls::callbacks::{ClientHelloCallback, ConnectionFuture};
use s2n_tls::connection::Connection;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, SystemTime};

/// A certificate chain and its private key, both PEM.
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
    /// Where it came from, for the start-up banner.
    pub origin: String,
}

impl CertPair {
    /// Reads `--cert` and `--key`.
    pub fn load(cert: &Path, key: &Path) -> Result<Self> {
        let cert_pem =
            std::fs::read_to_string(cert).with_context(|| format!("cannot read certificate {}", cert.display()))?;
        let key_pem =
            std::fs::read_to_string(key).with_context(|| format!("cannot read private key {}", key.display()))?;
        Ok(CertPair { cert_pem, key_pem, origin: cert.display().to_string() })
    }

    /// The self-signed certificate for localhost, 127.0.0.1 and ::1 (rcgen prints IP addresses
    /// as IP subject alternative names), generated at start-up from a fixed seed, so that every
    /// run of the server presents the same one.
    ///
    /// Why the same one: a replay restarts the server (it crashed), and the server's handshake
    /// flight is part of what both ends mutate. A certificate made anew each time would change
    /// the flight's length, and with it the crypto offsets that key the server's Handshake
    /// decisions (two runs of 300 connections agreed on 93% of server digests with a fresh
    /// certificate per run, 96% with the same one, under derivation v1).
    ///
    /// Why ECDSA P-256, not RSA: the handshake's signature is most of a clean connection's cost
    /// to the server, and a P-256 signature costs a fraction of an RSA-2048 one (clean campaigns
    /// at concurrency 32: about 1.4-2x the connections per second; README "Benchmarks"). Its DER
    /// encoding varies by a byte or two from signature to signature (RFC 3279 §2.2.3: two
    /// INTEGERs without leading zeros), which moves only the end of the flight: the server's
    /// digests of two runs agreed as often as with RSA's fixed-length signatures. The private
    /// key is as public as this source code: this is a lab certificate, for servers being
    /// fuzzed; use --cert and --key for anything else.
    pub fn self_signed() -> Result<Self> {
        use p256::pkcs8::EncodePrivateKey;
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::from_seed(*b"quic-cid-fuzz/v2/lab-certificate");
        let der = p256::SecretKey::random(&mut rng)
            .to_pkcs8_der()
            .map_err(|e| anyhow!("cannot encode the P-256 key: {e}"))?;
        let key_pair =
            rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der.as_bytes().into(), &rcgen::PKCS_ECDSA_P256_SHA256)
                .context("cannot load the P-256 key")?;
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
        let cert = rcgen::CertificateParams::new(names)
            .and_then(|params| params.self_signed(&key_pair))
            .context("cannot generate a certificate")?;
        Ok(CertPair {
            cert_pem: cert.pem(),
            key_pem: key_pair.serialize_pem(),
            origin: "self-signed lab certificate (ECDSA P-256) for localhost, the same on every run".into(),
        })
    }
}

/// How long tickets stay usable for encryption: the key is made at start-up and kept for the
/// server's whole life (s2n-tls would otherwise stop issuing tickets after two hours).
const TICKET_KEY_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// The s2n-tls server configuration: certificate, ALPN preference, session tickets, and a
/// handshake delay (`None` or zero: none).
pub fn server(pair: &CertPair, alpn: &[String], handshake_delay: Option<Duration>) -> Result<s2n_tls::Server> {
    let mut builder = s2n_tls::Server::builder()
        .with_certificate(pair.cert_pem.as_str(), pair.key_pem.as_str())
        .map_err(|e| anyhow!("certificate or key ({}) is not usable: {e}", pair.origin))?
        .with_application_protocols(alpn.iter().map(|p| p.as_bytes()))
        .map_err(|e| anyhow!("cannot set ALPN: {e}"))?;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    builder
        .config_mut()
        .set_ticket_key_encrypt_decrypt_lifetime(TICKET_KEY_LIFETIME)
        .and_then(|c| c.add_session_ticket_key(b"fuzz-server", &key, SystemTime::now()))
        .map_err(|e| anyhow!("cannot set up session tickets: {e}"))?;
    if let Some(delay) = handshake_delay.filter(|d| !d.is_zero()) {
        builder
            .config_mut()
            .set_client_hello_callback(DelayHandshake { delay })
            .map_err(|e| anyhow!("cannot set the ClientHello callback: {e}"))?;
    }
    fuzz_s2n_glue::keylog::install(builder.config_mut()).map_err(|e| anyhow!("cannot set up the key log: {e}"))?;
    builder.build().map_err(|e| anyhow!("cannot build the TLS configuration: {e}"))
}

/// A slow server: every handshake waits `delay` once s2n-tls has parsed the ClientHello, before
/// it answers. The wait is an async ClientHello callback (s2n-tls `s2n_config_set_client_hello_cb`
/// with a pending future): s2n-quic's TLS session returns `Pending` and polls it again when the
/// timer wakes the connection (s2n-quic-tls passes the connection's waker to s2n-tls), so one
/// connection waits without blocking the endpoint or any other connection. Meanwhile the
/// endpoint acknowledges the client's Initial packets but sends no ServerHello, so the client's
/// probe timeout (RFC 9002 §6.2.2.1: no Handshake keys yet) fires and it sends more Initials.
struct DelayHandshake {
    delay: Duration,
}

impl ClientHelloCallback for DelayHandshake {
    fn on_client_hello(
        &self,
        _: &mut Connection,
    ) -> Result<Option<Pin<Box<dyn ConnectionFuture>>>, s2n_tls::error::Error> {
        Ok(Some(Box::pin(Delayed { sleep: Box::pin(tokio::time::sleep(self.delay)) })))
    }
}

/// The wait of one handshake: on the tokio timer of the runtime the endpoint runs on.
struct Delayed {
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl ConnectionFuture for Delayed {
    fn poll(
        mut self: Pin<&mut Self>,
        _: &mut Connection,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Result<(), s2n_tls::error::Error>> {
        self.sleep.as_mut().poll(cx).map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_is_usable() {
        let pair = CertPair::self_signed().unwrap();
        assert!(pair.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        server(&pair, &["hq-interop".into()], None).unwrap();
        server(&pair, &["hq-interop".into()], Some(Duration::from_millis(100))).unwrap();
    }

    #[test]
    fn garbage_certificate_is_an_error() {
        let pair = CertPair { cert_pem: "nope".into(), key_pem: "nope".into(), origin: "test".into() };
        let Err(err) = server(&pair, &["hq-interop".into()], None) else { panic!("garbage accepted") };
        let err = err.to_string();
        assert!(err.contains("not usable"), "{err}");
    }
}
