//! Session resumption as a function of the CID (RFC 8446 §2.2).
//!
//! A plan that resumes (`resume_session`) first runs a clean *priming connection* with CID
//! [`chain::prime`] of its own: never fuzzed, not in the chain, made only to receive a session
//! ticket (RFC 8446 §4.6.1). The planned connection then offers that ticket. So the ticket never
//! comes from another connection of the chain, and a resuming CID does the same anywhere: in a
//! campaign, first after a restart, in `bisect` and in `replay`. A server that sends no tickets
//! (ngtcp2's example servers) leaves the planned connection with nothing to offer: it runs a full
//! handshake, and `cid_end`'s `resumption` says so (`offered: false`).
//!
//! Whether the server accepted the ticket is read from its ServerHello
//! ([`fuzz_shared::handshake::psk_accepted`]), which the interceptor reassembles for connections
//! that offer one.
//!
//! 0-RTT stays unsupported: s2n-quic and s2n-tls send no early data, so a plan's `attempt_0rtt`
//! resumes without it (the campaign counts those plans).

use crate::quic::conn_state::{ConnShared, ContentSet, Fuzzing, Session};
use crate::quic::connection::{self, ConnReport, Timeouts, OFF_CHAIN_SEQ};
use crate::quic::endpoint::ClientEndpoint;
use fuzz_shared::log::Resumption;
use fuzz_shared::{chain, ConnectionPlan};
use tokio::sync::watch;

/// The plan of a priming connection: clean, no resumption of its own, no requests (it closes
/// once it has a ticket, or after a silence without one).
fn prime_plan() -> ConnectionPlan {
    ConnectionPlan::unfuzzed(Vec::new())
}

/// Runs connection `seq` (CID `cid`, plan `plan`), primed first when its plan resumes; in fuzz
/// mode it mutates only the contents of `only`, when given (the priming connection is clean
/// anyway).
pub async fn run(
    ep: &ClientEndpoint,
    (seq, cid, plan): (u64, fuzz_shared::Cid, ConnectionPlan),
    (fuzzing, only): (Fuzzing, Option<&ContentSet>),
    t: Timeouts,
    cancel: watch::Receiver<bool>,
) -> ConnReport {
    if !plan.resume_session {
        let shared = ConnShared::new(seq, cid, plan, fuzzing);
        shared.restrict(only);
        return connection::run(ep, shared, t, cancel).await;
    }
    let prime_cid = chain::prime(&cid);
    let primer =
        ConnShared::with_session(OFF_CHAIN_SEQ, prime_cid, prime_plan(), Fuzzing::CLEAN, Session::Prime { of: seq });
    // Not `learnt`: a clean connection waits the whole idle limit, as probes do.
    let prime_report = connection::run(ep, primer.clone(), Timeouts::new(t.idle, t.cap), cancel.clone()).await;
    let ticket = primer.stats.lock().expect("stats").ticket.clone();
    tracing::debug!(
        target: "mutation",
        "#{seq} {cid}: priming connection {prime_cid} {}, {}",
        prime_report.outcome.as_str(),
        if ticket.is_some() { "ticket received" } else { "no ticket" }
    );
    let offered = ticket.is_some();
    let session = ticket.map_or(Session::Fresh, Session::Offer);
    let shared = ConnShared::with_session(seq, cid, plan, fuzzing, session);
    shared.restrict(only);
    let mut report = connection::run(ep, shared.clone(), t, cancel).await;
    let accepted = shared.stats.lock().expect("stats").psk_accepted;
    report.resumption = Some(Resumption { prime_cid, prime_outcome: prime_report.outcome, offered, accepted });
    report
}

/// Counts of resuming plans, for the summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResumptionCounts {
    /// Plans that resume (each ran a priming connection).
    pub planned: u64,
    /// Priming connections that got a ticket: the planned connection offered it.
    pub offered: u64,
    /// Offers the server's ServerHello accepted.
    pub accepted: u64,
    /// Offers the server's ServerHello declined (a full handshake instead).
    pub declined: u64,
}

impl ResumptionCounts {
    pub fn add(&mut self, r: &Resumption) {
        self.planned += 1;
        self.offered += r.offered as u64;
        match (r.offered, r.accepted) {
            (true, Some(true)) => self.accepted += 1,
            (true, Some(false)) => self.declined += 1,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuzz_shared::Outcome;

    #[test]
    fn counts_tell_offers_from_acceptances() {
        let prime_cid = "0123456789abcdef".parse().unwrap();
        let mut counts = ResumptionCounts::default();
        for (offered, accepted) in [(true, Some(true)), (true, Some(false)), (true, None), (false, None)] {
            counts.add(&Resumption { prime_cid, prime_outcome: Outcome::Completed, offered, accepted });
        }
        assert_eq!(counts, ResumptionCounts { planned: 4, offered: 3, accepted: 1, declined: 1 });
    }

    #[test]
    fn a_priming_plan_is_clean_and_asks_for_nothing() {
        let plan = prime_plan();
        assert!(!plan.resume_session && !plan.attempt_0rtt && plan.requests.is_empty());
        assert_eq!(plan.fuzz_packets, 0);
    }
}
