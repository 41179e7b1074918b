//! `--coverage`: the server's own coverage, read by the client as each connection ends.
//!
//! The pure part (buckets, what a map adds to what was seen) is `fuzz_shared::coverage`; here
//! are the sources a map is read from, behind [`CoverageSource`], and a campaign's
//! [`Coverage`]. The one source so far is AFL++'s shared memory ([`afl`]): the client creates
//! it, the server command gets its id in its environment, the instrumented server writes its
//! edge map there. Restarted servers write into the same memory, so a campaign's coverage
//! carries over a crash. Other sources (LLVM SanitizerCoverage callbacks, fuzz-server built
//! with coverage) fit the same trait.

pub mod afl;

use crate::campaign::CampaignConfig;
use crate::usage::UsageError;
use fuzz_shared::coverage::corpus::{Guide, LoggedCorpus};
use fuzz_shared::coverage::{NewCoverage, Seen};
use std::path::Path;

/// `--corpus-from LOG`: the corpus a coverage campaign's run log holds. A log no coverage
/// campaign wrote (no `corpus_every` in any `run_start`) is bad input: its connections were
/// blind, and a "corpus" of none would hide the mistake.
pub fn read_corpus(path: &Path) -> Result<Guide, UsageError> {
    let bad = |what: String| UsageError(format!("--corpus-from {}: {what}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let lines = fuzz_shared::log::read_log(std::io::BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
    let logged = LoggedCorpus::from_log(&lines);
    let Some(generations) = logged.generations else {
        return Err(bad("no coverage campaign wrote this log (no run_start with corpus_every)".into()));
    };
    tracing::info!(
        "corpus of {}: {} entries, generations of {} connections, decided below #{}",
        path.display(),
        logged.corpus.len(),
        generations.every,
        logged.decided_below
    );
    Ok(Guide::from_logged(logged, generations.every))
}

/// The corpus a `--coverage` campaign starts with: `--corpus-from`'s; else, resuming
/// (`--resume-from`), the resumed log's when it has one, so that the tail's connections get the
/// parents they had; else empty. The corpus lives in the run log, so the campaign needs one.
pub fn campaign_corpus(config: &CampaignConfig, resume_from: Option<&Path>) -> Result<Guide, UsageError> {
    if crate::campaign::log_file(config.log.as_deref()).is_none() {
        return Err(UsageError(
            "--coverage keeps its corpus in the run log, which restarts, bisect and replay read back: it needs \
             --log FILE"
                .into(),
        ));
    }
    if let Some(guide) = &config.corpus {
        return Ok(guide.clone());
    }
    let every = config.checkpoint_every;
    match resume_from {
        Some(log) => match read_corpus(log) {
            Ok(guide) => Ok(guide),
            Err(_) => Ok(Guide::new(every)),
        },
        None => Ok(Guide::new(every)),
    }
}

/// Where coverage comes from (`--coverage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CoverageKind {
    /// A server built with AFL++'s instrumentation (afl-cc, afl-clang-fast), run without
    /// afl-fuzz: it writes its edge map into shared memory the client creates.
    Afl,
}

/// A map the server writes its coverage into.
pub trait CoverageSource: Send {
    /// The environment the server command needs to write its map here.
    fn server_env(&self) -> Vec<(String, String)>;
    /// Whether a server process has attached the map (its alive marker is set).
    fn attached(&self) -> bool;
    /// Copies the map into `into` and zeroes it: what ran since the last take.
    fn take(&mut self, into: &mut Vec<u8>);
}

/// A campaign's coverage: its source and every edge seen so far.
pub struct Coverage {
    source: Box<dyn CoverageSource>,
    seen: Seen,
    map: Vec<u8>,
    /// What the reads since the last checkpoint added.
    since_checkpoint: NewCoverage,
}

/// The edges a checkpoint reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdgesAt {
    /// Edges covered since the campaign began.
    pub edges: u64,
    /// What the connections since the last checkpoint added.
    pub new: NewCoverage,
}

impl Coverage {
    /// The coverage of `kind` for the server `command` (with its ports placed): for AFL++, the
    /// map size the binary asks for and shared memory of that size. A command that is not
    /// instrumented is an error that says so.
    pub async fn prepare(kind: CoverageKind, command: &str) -> Result<Coverage, String> {
        match kind {
            CoverageKind::Afl => {
                let size = afl::map_size(command).await?;
                let shm = afl::AflShm::create(size)
                    .map_err(|e| format!("--coverage afl: creating the shared memory: {e}"))?;
                Ok(Coverage {
                    source: Box::new(shm),
                    seen: Seen::new(size),
                    map: Vec::with_capacity(size),
                    since_checkpoint: NewCoverage::default(),
                })
            }
        }
    }

    pub fn server_env(&self) -> Vec<(String, String)> {
        self.source.server_env()
    }

    pub fn attached(&self) -> bool {
        self.source.attached()
    }

    /// Reads the map, merges it into what was seen, and zeroes it: what ran since the last
    /// read added this. Read as each connection ends, it is that connection's credit
    /// ([`fuzz_shared::coverage::corpus`]); at concurrency 1 exactly its own, above that also
    /// whatever the connections beside it reached since the last read.
    pub fn credit(&mut self) -> NewCoverage {
        self.source.take(&mut self.map);
        let new = self.seen.merge(&self.map);
        self.since_checkpoint.edges += new.edges;
        self.since_checkpoint.buckets += new.buckets;
        new
    }

    /// The coverage at a checkpoint: the map read once more (the probe's share), the total, and
    /// what was added since the last checkpoint.
    pub fn at_checkpoint(&mut self) -> EdgesAt {
        self.credit();
        let new = std::mem::take(&mut self.since_checkpoint);
        EdgesAt { edges: self.seen.edges(), new }
    }
}
