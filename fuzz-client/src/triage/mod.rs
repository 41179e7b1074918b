//! Triage after a crash: from "the server went down" to the one CID that does it.
//!
//! - [`repro`]: the command lines printed for the user (restart at a checkpoint, replay one CID,
//!   run a window of the chain);
//! - [`bisect`]: narrowing a crashing stretch of the chain down to its culprit, one fresh server
//!   per trial.

pub mod bisect;
pub mod repro;
