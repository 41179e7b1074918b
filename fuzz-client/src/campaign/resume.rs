//! `--resume-from <LOG>`: restart where an earlier run left off.
//!
//! The restart point is [`fuzz_shared::resume::resume_point`]'s: the last checkpoint of the log
//! with the server up (every connection before it finished and a clean probe succeeded after
//! them), or the start of the logged run when it has none. The new run starts at that CID with
//! that sequence number, so its numbering, its checkpoints and its CIDs are the original's.
//! The log of a shard restarts that shard: the new run is the same shard of the same campaign
//! (its `run_start` says so, and so does its restart command). Anything wrong with the log is bad
//! input (exit status 2).

use crate::usage::UsageError;
use fuzz_shared::log::read_log;
use fuzz_shared::resume::{resume_point, ResumePoint};
use fuzz_shared::shard::{shard_of_log, ShardInfo};
use std::path::Path;

/// Reads the restart point out of the run log at `path`, and the shard the log is of (if any),
/// and says on stderr where it is.
pub fn resume_from(path: &Path) -> Result<(ResumePoint, Option<ShardInfo>), UsageError> {
    let bad = |what: String| UsageError(format!("--resume-from {}: {what}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let lines = read_log(std::io::BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
    let point = resume_point(&lines).map_err(|e| bad(e.to_string()))?;
    if point.from_checkpoint {
        tracing::info!("resuming {} at its last checkpoint: #{} cid {}", path.display(), point.seq, point.cid);
    } else {
        tracing::warn!(
            "{} has no checkpoint with the server up: restarting at the start of its run, #{} cid {}",
            path.display(),
            point.seq,
            point.cid
        );
    }
    let shard = shard_of_log(&lines);
    if let Some(s) = &shard {
        tracing::info!(
            "{} is shard {} of campaign {}: the run goes on as that shard",
            path.display(),
            s.spec(),
            s.root
        );
    }
    Ok((point, shard))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuzz_shared::{chain, Cid, Event, LogWriter, Mode, Role};

    #[test]
    fn reads_the_last_checkpoint_and_refuses_bad_logs() {
        let dir = std::env::temp_dir().join(format!("fuzz-client-resume-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let start: Cid = "0123456789abcdef".parse().unwrap();
        let path = dir.join("run.jsonl");
        let mut w = LogWriter::new(std::fs::File::create(&path).unwrap(), Role::Client);
        w.write(Event::RunStart {
            start_cid: Some(start),
            start_seq: 0,
            target: "127.0.0.1:4433".into(),
            mode: Mode::Fuzz,
            derivation: fuzz_shared::chain::DERIVATION.into(),
            version: "0".into(),
            args: vec![],
            planted_faults: vec![],
            resume_rate: None,
            shard: None,
            pacing: None,
            client_knobs: None,
            alpn: None,
            corpus_every: None,
        })
        .unwrap();
        let c50 = chain::nth(start, 50);
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
        drop(w);
        assert_eq!(
            resume_from(&path).unwrap(),
            (
                ResumePoint {
                    seq: 50,
                    cid: c50,
                    from_checkpoint: true,
                    resume_rate: Default::default(),
                    knobs: Default::default(),
                    alpn: None,
                },
                None
            )
        );

        assert!(resume_from(&dir.join("absent.jsonl")).unwrap_err().0.contains("absent.jsonl"));
        let garbage = dir.join("garbage.jsonl");
        std::fs::write(&garbage, "not json\n{}\n").unwrap();
        assert!(resume_from(&garbage).unwrap_err().0.contains("line 1"));
        let empty = dir.join("empty.jsonl");
        std::fs::write(&empty, "").unwrap();
        assert!(resume_from(&empty).unwrap_err().0.contains("no fuzz-client run_start"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
