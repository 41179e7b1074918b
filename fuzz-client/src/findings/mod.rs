//! Findings: one record per distinct bug, however often a campaign meets it.
//!
//! A campaign that supervises its server (`--server-cmd`) does not stop at the first death: it
//! records a *finding*, starts a fresh server and goes on along the chain (module
//! `crate::campaign`). Each death gets a signature from the server's stderr report and cause
//! ([`fuzz_shared::signature`]): the same bug twice is one finding seen twice. Each finding is a
//! folder of the findings directory ([`store`]): `finding.json` ([`record::Finding`]), the
//! server's stderr report, the crash capture, and once triaged ([`triage`]) the culprit, its
//! smallest set of decisions and a `reproduce.sh` that takes a fresh server down.
//!
//! A supervised server whose resident memory grows past the campaign's leak rule
//! ([`fuzz_shared::leak`]) is recorded the same way, as a death with the cause `leak: ...` (kind
//! `leak`), and restarted; its window is the checkpoints between which the memory grew, and
//! `crate::triage::bisect::run_leak` bisects it.
//!
//! - [`record`]: what a finding is, as `finding.json` holds it;
//! - [`store`]: the findings directory: dedupe by signature, folders, counts;
//! - [`triage`]: for each new finding, by itself: bisect the window to the culprit CID, then
//!   minimize its decisions; the verdict and the command go into the finding.

pub mod record;
pub mod store;
pub mod triage;

pub use record::Occurrence;
pub use store::{FindingStore, Recorded};
