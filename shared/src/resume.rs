//! Where to restart a campaign, read from the run log of an earlier run.
//!
//! A `checkpoint` line says that every connection before `seq` finished and the server was still
//! up afterwards, so restarting at its CID, with its sequence number, repeats the tail of the run
//! from there with the original numbering. Without any checkpoint, the restart point is the
//! start of the first run in the log.
//!
//! The restart also keeps the run's [`ResumeRate`]: which plans resume is part of the derivation;
//! and its [`ClientKnobs`], which change what every connection sends.
//!
//! A log written under another derivation ([`crate::chain::DERIVATION`]) is refused: its CIDs
//! would run with other plans and decisions than the ones it logged, so the "restart" would not
//! repeat anything.

use crate::cid::Cid;
use crate::knobs::ClientKnobs;
use crate::log::{Event, LogLine};
use crate::plan::ResumeRate;
use crate::seed::Role;

/// A place in a chain to restart from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumePoint {
    pub seq: u64,
    pub cid: Cid,
    /// True when it comes from a checkpoint, false when it is the start of the logged run.
    pub from_checkpoint: bool,
    /// The resume rate of the run that reached it (its `run_start`; the default when absent).
    pub resume_rate: ResumeRate,
    /// The client knobs of the run that reached it (its `run_start`; the defaults when absent).
    pub knobs: ClientKnobs,
    /// The ALPN the run that reached it offered (its `run_start`), when it was logged.
    pub alpn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    #[error("the run log has no fuzz-client run_start line: it is not a client run log, or it is empty")]
    NoClientRun,
    #[error(
        "the run log was written under derivation {found:?}, this fuzz-client uses {ours:?}: its CIDs would make \
         other decisions here, so a restart would not repeat that run (use the fuzz-client version that wrote it)"
    )]
    OtherDerivation { found: String, ours: &'static str },
}

/// The last checkpoint with the server up in a client run log, or the start of its first run.
pub fn resume_point(lines: &[LogLine]) -> Result<ResumePoint, ResumeError> {
    let client = lines.iter().filter(|l| l.role == Role::Client);
    let mut point = None;
    let mut rate = ResumeRate::DEFAULT;
    let mut knobs = ClientKnobs::default();
    let mut offered: Option<String> = None;
    for line in client {
        match &line.event {
            Event::RunStart { derivation, .. } if derivation != crate::chain::DERIVATION => {
                return Err(ResumeError::OtherDerivation { found: derivation.clone(), ours: crate::chain::DERIVATION });
            }
            Event::RunStart { start_cid: Some(cid), start_seq, resume_rate, client_knobs, alpn, .. } => {
                rate = resume_rate.unwrap_or_default();
                knobs = client_knobs.unwrap_or_default();
                offered.clone_from(alpn);
                if point.is_none() {
                    point = Some(ResumePoint {
                        seq: *start_seq,
                        cid: *cid,
                        from_checkpoint: false,
                        resume_rate: rate,
                        knobs,
                        alpn: offered.clone(),
                    });
                }
            }
            Event::Checkpoint { seq, cid, server_up: true, .. } => {
                point = Some(ResumePoint {
                    seq: *seq,
                    cid: *cid,
                    from_checkpoint: true,
                    resume_rate: rate,
                    knobs,
                    alpn: offered.clone(),
                });
            }
            _ => {}
        }
    }
    point.ok_or(ResumeError::NoClientRun)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{read_log, LogWriter, Mode};

    fn cid(s: &str) -> Cid {
        s.parse().unwrap()
    }

    fn run_start(start: Cid) -> Event {
        run_start_at(start, None)
    }

    fn run_start_at(start: Cid, resume_rate: Option<ResumeRate>) -> Event {
        Event::RunStart {
            start_cid: Some(start),
            start_seq: 0,
            target: "127.0.0.1:4433".into(),
            mode: Mode::Fuzz,
            derivation: crate::chain::DERIVATION.into(),
            version: "0".into(),
            args: vec![],
            planted_faults: vec![],
            resume_rate,
            shard: None,
            pacing: None,
            client_knobs: None,
            alpn: None,
            corpus_every: None,
        }
    }

    #[test]
    fn last_good_checkpoint_wins() {
        let start = cid("0123456789abcdef");
        let mut w = LogWriter::new(Vec::new(), Role::Client);
        w.write(run_start(start)).unwrap();
        assert_eq!(
            resume_point(&read_log(&w.into_inner()[..]).unwrap()).unwrap(),
            ResumePoint {
                seq: 0,
                cid: start,
                from_checkpoint: false,
                resume_rate: ResumeRate::DEFAULT,
                knobs: ClientKnobs::default(),
                alpn: None,
            }
        );

        let mut w = LogWriter::new(Vec::new(), Role::Client);
        w.write(run_start(start)).unwrap();
        let c50 = crate::chain::nth(start, 50);
        w.write(Event::Checkpoint {
            seq: 50,
            cid: c50,
            server_up: true,
            probe_ms: 1,
            server_rss_kb: None,
            pacing: None,
            edges: None,
            corpus: None,
        })
        .unwrap();
        w.write(Event::Checkpoint {
            seq: 100,
            cid: crate::chain::nth(start, 100),
            server_up: false,
            probe_ms: 1,
            server_rss_kb: None,
            pacing: None,
            edges: None,
            corpus: None,
        })
        .unwrap();
        let lines = read_log(&w.into_inner()[..]).unwrap();
        assert_eq!(
            resume_point(&lines).unwrap(),
            ResumePoint {
                seq: 50,
                cid: c50,
                from_checkpoint: true,
                resume_rate: ResumeRate::DEFAULT,
                knobs: ClientKnobs::default(),
                alpn: None,
            }
        );
    }

    #[test]
    fn the_restart_keeps_the_resume_rate_of_its_run() {
        let start = cid("0123456789abcdef");
        let mut w = LogWriter::new(Vec::new(), Role::Client);
        let rate: ResumeRate = "0.6".parse().unwrap();
        w.write(run_start_at(start, Some(rate))).unwrap();
        let c50 = crate::chain::nth(start, 50);
        w.write(Event::Checkpoint {
            seq: 50,
            cid: c50,
            server_up: true,
            probe_ms: 1,
            server_rss_kb: None,
            pacing: None,
            edges: None,
            corpus: None,
        })
        .unwrap();
        let point = resume_point(&read_log(&w.into_inner()[..]).unwrap()).unwrap();
        assert_eq!(point.resume_rate, rate);
    }

    #[test]
    fn the_restart_keeps_the_client_knobs_of_its_run_and_old_logs_have_the_defaults() {
        let start = cid("0123456789abcdef");
        let knobs = ClientKnobs { handshake_cid_rotation: false, cid_len: 8, path_mtu_probing: true };
        let mut w = LogWriter::new(Vec::new(), Role::Client);
        let mut first = run_start(start);
        if let Event::RunStart { client_knobs, alpn, .. } = &mut first {
            *client_knobs = Some(knobs);
            *alpn = Some("h3".into());
        }
        w.write(first).unwrap();
        let lines = read_log(&w.into_inner()[..]).unwrap();
        assert_eq!(resume_point(&lines).unwrap().knobs, knobs);
        assert_eq!(resume_point(&lines).unwrap().alpn.as_deref(), Some("h3"), "and its ALPN");
        // A line without `client_knobs` and `alpn`, as logs before they were written.
        let old = format!(
            r#"{{"ts":"2026-01-01T00:00:00.000Z","role":"client","event":"run_start","start_cid":"0123456789abcdef","target":"t","mode":"fuzz","derivation":"{}","version":"0","args":[]}}"#,
            crate::chain::DERIVATION
        );
        let lines = read_log(old.as_bytes()).unwrap();
        assert_eq!(resume_point(&lines).unwrap().knobs, ClientKnobs::default());
        assert_eq!(resume_point(&lines).unwrap().alpn, None);
    }

    #[test]
    fn a_server_log_is_refused() {
        let mut w = LogWriter::new(Vec::new(), Role::Server);
        w.write(run_start(cid("0123456789abcdef"))).unwrap();
        assert_eq!(resume_point(&read_log(&w.into_inner()[..]).unwrap()), Err(ResumeError::NoClientRun));
    }

    #[test]
    fn a_log_of_another_derivation_is_refused() {
        let mut w = LogWriter::new(Vec::new(), Role::Client);
        let mut start = run_start(cid("0123456789abcdef"));
        if let Event::RunStart { derivation, .. } = &mut start {
            *derivation = "v1".into();
        }
        w.write(start).unwrap();
        let err = resume_point(&read_log(&w.into_inner()[..]).unwrap()).unwrap_err();
        assert_eq!(err, ResumeError::OtherDerivation { found: "v1".into(), ours: crate::chain::DERIVATION });
        assert!(err.to_string().contains("derivation \"v1\""), "{err}");
    }
}
