//! `--coverage`: the server's own coverage, read by the client at each checkpoint.
//!
//! The pure part (buckets, what a map adds to what was seen) is `fuzz_shared::coverage`; here
//! are the sources a map is read from, behind [`CoverageSource`], and a campaign's
//! [`Coverage`]. The one source so far is AFL++'s shared memory ([`afl`]): the client creates
//! it, the server command gets its id in its environment, the instrumented server writes its
//! edge map there. Restarted servers write into the same memory, so a campaign's coverage
//! carries over a crash. Other sources (LLVM SanitizerCoverage callbacks, fuzz-server built
//! with coverage) fit the same trait.

pub mod afl;

use fuzz_shared::coverage::{NewCoverage, Seen};

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
                Ok(Coverage { source: Box::new(shm), seen: Seen::new(size), map: Vec::with_capacity(size) })
            }
        }
    }

    pub fn server_env(&self) -> Vec<(String, String)> {
        self.source.server_env()
    }

    pub fn attached(&self) -> bool {
        self.source.attached()
    }

    /// Reads the map, merges it into what was seen, and zeroes it.
    pub fn update(&mut self) -> EdgesAt {
        self.source.take(&mut self.map);
        let new = self.seen.merge(&self.map);
        EdgesAt { edges: self.seen.edges(), new }
    }
}
