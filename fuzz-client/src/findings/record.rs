//! A finding as `finding.json` holds it: the signature, how often and where it was seen, the
//! commands around it, and its triage once done.

use fuzz_shared::signature::Signature;
use fuzz_shared::Cid;
use serde::{Deserialize, Serialize};

/// One distinct bug of a server (`<findings>/<kind>-<id>/finding.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub signature: Signature,
    /// How many times it was seen (each a death of the server).
    pub count: u64,
    /// The first time, and the last.
    pub first: Occurrence,
    pub last: Occurrence,
    /// SERVER as given to the campaign that found it.
    pub target: String,
    /// The command line of the campaign that first found it, program first.
    pub campaign: Vec<String>,
    /// The command that restarts that campaign at the checkpoint before the first occurrence
    /// (it repeats the tail, the window included).
    pub restart: String,
    /// The command that bisects the first occurrence's window by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bisect: Option<String>,
    /// The server's stderr at the first occurrence, as far as the client kept it (the whole
    /// sanitizer report), in the finding's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_file: Option<String>,
    /// The crash capture of the first occurrence (pcapng, what the server received last), in
    /// the finding's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_pcap: Option<String>,
    /// What the automatic triage found, once it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage: Option<Triage>,
}

/// One death of the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Occurrence {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// How the server died, in words (exit status, signal, hung, silent, busy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The window: connections `window_seq..window_end` (from `window_cid`) ran against this
    /// server since the checkpoint before the death (or since it started); not run again.
    pub window_seq: u64,
    pub window_cid: Cid,
    pub window_end: u64,
    /// The first connection the server that died saw (`server_seq`, from `server_cid`): a death
    /// the window alone does not reproduce may need the state all of them left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cid: Option<Cid>,
    /// The concurrency in force when the server went down: what its bisection runs at.
    pub concurrency: usize,
}

impl Occurrence {
    /// How many connections the window holds.
    pub fn window_len(&self) -> u64 {
        self.window_end.saturating_sub(self.window_seq)
    }
}

/// The automatic triage of a finding: the verdict, the culprit and the command that reproduces it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Triage {
    /// `single_culprit` (one connection kills a fresh server), `needs_history` (a stretch of
    /// connections together does), `not_reproduced` (the window against a fresh server did not),
    /// or `not_triaged` (why in `detail`).
    pub verdict: String,
    /// The verdict in words.
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub culprit_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub culprit_cid: Option<Cid>,
    /// `needs_history`: the stretch `history_seq..history_seq + history_count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_count: Option<u64>,
    /// `needs_history`: the connections of that stretch that, run alone in chain order, still
    /// take a fresh server down (delta debugging over the stretch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history_seqs: Vec<u64>,
    /// The culprit's smallest set of mutation decisions that still kills, each in words
    /// (operator, content, offset); empty when the culprit mutated nothing (clean traffic kills
    /// the server) or minimization did not run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<String>,
    /// The command that reproduces the verdict against a fresh server (also `reproduce.sh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproduce: Option<String>,
    /// Trials the triage ran against fresh servers (bisect's runs, minimize's trials), and how
    /// long it took.
    pub trials: u32,
    pub elapsed_s: f64,
}
