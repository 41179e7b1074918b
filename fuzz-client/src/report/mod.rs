//! What a person reads: the live progress display on a terminal and the summary at the end.

pub mod merge;
pub mod progress;
pub mod summary;
