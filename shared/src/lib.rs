//! # fuzz-shared: the connection ID is the state
//!
//! The pure, deterministic core of a QUIC fuzzer whose every connection is a function of its
//! initial (client-chosen) connection ID. No networking and no clocks beyond log timestamps: every
//! decision a fuzzed connection makes is computed here, from the CID, and tested without sockets.
//!
//! - [`cid`]: connection IDs, 8 to 20 bytes, parsed from and printed as hex.
//! - [`application`]: the application protocol a connection speaks (hq-interop, HTTP/3).
//! - [`initial`]: the cleartext long header of QUIC v1 packets (Initial packets above all).
//! - [`chain`]: each connection's CID derived from the one before it, and the probe CIDs.
//! - [`seed`]: from a CID to the generators of its plan and of each content its packets carry.
//! - [`content`]: what a packet carries (its content key), as opposed to when it was sent.
//! - [`handshake`]: what a client learns from the server's handshake (a resumption accepted).
//! - [`plan`]: what a connection does besides mutating: where fuzzing starts, requests, resumption.
//! - [`mutate`]: the mutation engine over the cleartext frames of one packet, and its digest.
//! - [`fuzzer`]: one end's fuzzing of one connection: which packets are mutated, the decisions.
//! - [`checkpoint`]: which connections have finished, so checkpoints are exact.
//! - [`log`]: the JSON-lines run log both binaries write.
//! - [`resume`]: where to restart a campaign, read from an earlier run log.
//! - [`bisect`]: narrowing a crashing stretch of the chain down to its culprit connection.
//! - [`leak`]: when a supervised server's resident memory growth is a leak finding.
//! - [`minimize`]: shrinking a culprit connection's mutated contents to a 1-minimal set (ddmin).
//! - [`shard`]: one campaign split into disjoint chains (shards) of one root CID.
//! - [`oracle`]: what the RFCs say a server must do with what a connection's decisions sent it.
//! - [`transport_error`]: QUIC's transport error codes by name.
//! - [`coverage`]: the server's edge coverage (AFL++ maps): buckets, what a map adds.

pub mod application;
pub mod bisect;
pub mod chain;
pub mod checkpoint;
pub mod cid;
pub mod content;
pub mod coverage;
pub mod fuzzer;
pub mod handshake;
pub mod initial;
pub mod knobs;
pub mod leak;
pub mod log;
pub mod minimize;
pub mod mutate;
pub mod oracle;
pub mod plan;
pub mod resume;
pub mod seed;
pub mod shard;
pub mod signature;
pub mod transport_error;

pub use cid::{Cid, CidError};
pub use content::{ContentId, ContentKey};
pub use fuzzer::ConnectionFuzzer;
pub use knobs::ClientKnobs;
pub use log::{Event, LogLine, LogWriter, Mode, Outcome, Pacing};
pub use plan::{ConnectionPlan, FuzzState, Request, ResumeRate};
pub use seed::{ConnectionSeed, PacketSpace, Role};

/// The version of this crate, logged in `run_start` by both binaries.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
