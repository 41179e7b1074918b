//! Connection limits: a short idle timeout so that connections a fuzzing client abandons are
//! freed quickly, and a cap on open connections instead of s2n-quic's Retry logic (a Retry would
//! change the client's DCID, RFC 9000 §17.2.5, and the server would no longer see the CID the
//! client chose). Attempts beyond the cap are refused the way RFC 9000 §5.2.2 says a server
//! should: "If a server refuses to accept a new connection, it SHOULD send an Initial packet
//! containing a CONNECTION_CLOSE frame with error code CONNECTION_REFUSED." That makes
//! `--max-connections N` the test double of a busy server (a full connection table), which a
//! fuzzing client must tell from a dead one.

use s2n_quic::provider::endpoint_limits::{ConnectionAttempt, Limiter, Outcome};
use s2n_quic::provider::limits::Limits;
use std::time::Duration;

/// Per-connection limits.
pub fn connection_limits(idle_timeout: Duration) -> anyhow::Result<Limits> {
    Limits::new().with_max_idle_timeout(idle_timeout).map_err(|e| anyhow::anyhow!("bad idle timeout: {e}"))
}

/// Endpoint limits: refuse attempts beyond `max_connections` (CONNECTION_REFUSED), drop those
/// from the ports s2n-quic always refuses (port 0 and well-known reflection-attack ports, which
/// get no answer at all); never send Retry.
pub struct ConnectionCap {
    pub max_connections: usize,
}

impl Limiter for ConnectionCap {
    fn on_connection_attempt(&mut self, attempt: &ConnectionAttempt) -> Outcome {
        if s2n_quic_core::path::remote_port_blocked(attempt.remote_address.port()) {
            Outcome::drop()
        } else if attempt.connection_count >= self.max_connections {
            Outcome::close()
        } else {
            Outcome::allow()
        }
    }
}
