//! Connection limits: a short idle timeout so that connections a fuzzing client abandons are
//! freed quickly, and a generous cap on open connections instead of s2n-quic's Retry logic (a
//! Retry would change the client's DCID, RFC 9000 §17.2.5, and the server would no longer see
//! the CID the client chose).

use s2n_quic::provider::endpoint_limits::{ConnectionAttempt, Limiter, Outcome};
use s2n_quic::provider::limits::Limits;
use std::time::Duration;

/// Per-connection limits.
pub fn connection_limits(idle_timeout: Duration) -> anyhow::Result<Limits> {
    Limits::new().with_max_idle_timeout(idle_timeout).map_err(|e| anyhow::anyhow!("bad idle timeout: {e}"))
}

/// Endpoint limits: drop attempts beyond `max_connections`, and from the ports s2n-quic always
/// refuses (port 0 and well-known reflection-attack ports); never send Retry.
pub struct ConnectionCap {
    pub max_connections: usize,
}

impl Limiter for ConnectionCap {
    fn on_connection_attempt(&mut self, attempt: &ConnectionAttempt) -> Outcome {
        if s2n_quic_core::path::remote_port_blocked(attempt.remote_address.port())
            || attempt.connection_count >= self.max_connections
        {
            Outcome::drop()
        } else {
            Outcome::allow()
        }
    }
}
