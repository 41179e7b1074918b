//! Which shard of a campaign this run is: `--shard I/N`, or `--shards N` with the index from
//! `JOB_COMPLETION_INDEX`, the variable a Kubernetes Indexed Job sets in each of its pods.
//!
//! The derivation itself (shard starts, repeats) is pure and lives in [`fuzz_shared::shard`];
//! this module only turns the command line and the environment into a [`ShardInfo`], so that
//! every bad combination is bad input (exit status 2) with a message that says what to do.
//! With a shard, `--start-cid` is the campaign's root and `--start-seq S` is seq S *of the
//! shard's chain*: the run starts `S` steps after the shard's start, so a restart command names
//! the shard and the checkpoint's seq and needs nothing else.

use crate::usage::UsageError;
use fuzz_shared::shard::{ShardInfo, ShardSpec};
use fuzz_shared::Cid;

/// The environment variable a Kubernetes Indexed Job sets to the pod's completion index.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// The shard from `--shard I/N`, or from `--shards N` and the index in [`INDEX_ENV`] (`env`,
/// passed in so that this is tested without touching the process's environment). Without
/// either option the variable is ignored: a run is sharded only when asked to be.
pub fn resolve(shard: Option<&str>, shards: Option<u64>, env: Option<&str>) -> Result<Option<ShardSpec>, UsageError> {
    let bad = |what: String| UsageError(what);
    match (shard, shards) {
        (Some(_), Some(_)) => {
            Err(bad("--shard and --shards: give one (--shard I/N, or --shards N with $JOB_COMPLETION_INDEX)".into()))
        }
        (Some(s), None) => s.parse().map(Some).map_err(|e| bad(format!("--shard {s:?}: {e}"))),
        (None, Some(n)) => {
            let index = env.ok_or_else(|| {
                bad(format!(
                    "--shards {n} needs the shard's index in ${INDEX_ENV} (a Kubernetes Indexed Job sets it), \
                     or give --shard I/{n}"
                ))
            })?;
            let i: u64 = index
                .trim()
                .parse()
                .map_err(|_| bad(format!("${INDEX_ENV}={index:?} is not a shard index (0, 1, 2, ...)")))?;
            ShardSpec::new(i, n).map(Some).map_err(|e| bad(format!("--shards {n} with ${INDEX_ENV}={index}: {e}")))
        }
        (None, None) => Ok(None),
    }
}

/// The shard of the campaign `root` and where this run starts in it: seq `start_seq` of the
/// shard's chain. Walking there costs a hash per step, said on stderr when it is long.
pub fn locate(root: Cid, spec: ShardSpec, start_seq: u64) -> (ShardInfo, Cid) {
    let info = ShardInfo::new(root, spec);
    if start_seq >= 1_000_000 {
        tracing::info!("shard {spec}: walking its chain to seq {start_seq} (a hash a step)");
    }
    (info, info.cid_at(start_seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(shard: Option<&str>, shards: Option<u64>, env: Option<&str>) -> String {
        resolve(shard, shards, env).expect_err("refused").0
    }

    #[test]
    fn from_the_option_or_the_indexed_job() {
        assert_eq!(resolve(Some("3/32"), None, Some("7")).unwrap(), Some(ShardSpec { index: 3, count: 32 }));
        assert_eq!(resolve(None, Some(4), Some("2")).unwrap(), Some(ShardSpec { index: 2, count: 4 }));
        assert_eq!(resolve(None, None, Some("2")).unwrap(), None, "the variable alone shards nothing");
    }

    #[test]
    fn bad_input_is_named() {
        assert!(err(Some("4/4"), None, None).contains("0 to 3"));
        assert!(err(Some("0/0"), None, None).contains("at least 1 shard"));
        assert!(err(Some("x"), None, None).contains("I/N"));
        assert!(err(None, Some(4), None).contains("JOB_COMPLETION_INDEX"));
        assert!(err(None, Some(4), Some("4")).contains("0 to 3"));
        assert!(err(None, Some(4), Some("two")).contains("not a shard index"));
        assert!(err(None, Some(0), Some("0")).contains("at least 1 shard"));
        assert!(err(Some("1/4"), Some(4), None).contains("give one"));
    }

    #[test]
    fn a_restart_starts_steps_into_its_shard() {
        let root: Cid = "0123456789abcdef".parse().unwrap();
        let spec = ShardSpec { index: 2, count: 4 };
        let (info, at0) = locate(root, spec, 0);
        assert_eq!(at0, info.start_cid);
        assert_eq!(locate(root, spec, 3).1, fuzz_shared::chain::nth(info.start_cid, 3));
    }
}
