//! Triage after a crash: from "the server went down" to the one CID that does it.
//!
//! - [`repro`]: the command lines printed for the user (restart at a checkpoint, replay one CID,
//!   run a window of the chain);
//! - [`bisect`]: narrowing a crashing stretch of the chain down to its culprit, one fresh server
//!   per trial;
//! - [`minimize`]: shrinking the culprit's mutated contents to a 1-minimal set, one fresh server
//!   per trial;
//! - [`trial`]: what bisect and minimize share: a trial's runs against fresh servers;
//! - [`capture`]: the crash capture (pcapng) of the flight recorder, written and read back;
//! - [`initial_replay`]: `replay --pcap`, a connection's Initial datagrams resent byte for byte.

pub mod bisect;
pub mod capture;
pub mod initial_replay;
pub mod minimize;
pub mod repro;
pub mod trial;
