//! What a campaign is told: its [`CampaignConfig`], the probe policy, what to do with findings
//! (keep going and triage, [`FindingsPolicy`]) and how long a supervised server may take to start.

use super::Death;
use crate::quic::conn_state::{ContentSet, Fuzzing};
use crate::quic::connection::Timeouts;
use fuzz_shared::application::Application;
use fuzz_shared::plan::Inputs;
use fuzz_shared::shard::ShardInfo;
use fuzz_shared::{Cid, ClientKnobs, Mode, ResumeRate};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How the server is checked: `tries` clean probes, waiting `backoff[k]` before try k+1.
#[derive(Clone, Debug)]
pub struct ProbePolicy {
    pub backoff: Vec<Duration>,
    /// The idle limit of a probe: generous, a probe must not fail because the server is busy.
    pub idle: Duration,
}

impl Default for ProbePolicy {
    fn default() -> Self {
        Self { backoff: [200, 400, 800].map(Duration::from_millis).to_vec(), idle: Duration::from_millis(1000) }
    }
}

/// Everything a campaign needs; built from the command line by `cli`, or by other commands.
#[derive(Clone, Debug)]
pub struct CampaignConfig {
    pub server: SocketAddr,
    /// SERVER as given on the command line, for the log.
    pub target: String,
    pub server_name: String,
    pub start_cid: Cid,
    pub start_seq: u64,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    pub concurrency: usize,
    pub checkpoint_every: u64,
    pub log: Option<PathBuf>,
    /// Where the crash capture goes when the server goes down (`<log>.crash.pcap`).
    pub crash_pcap: Option<PathBuf>,
    pub mode: Mode,
    /// The share of plans that resume a session: an input of the derivation (`--resume-rate`).
    pub resume_rate: ResumeRate,
    /// What the client's own stack does on every connection (`--handshake-cid-rotation`, ...):
    /// like the resume rate, it changes what every connection sends (module
    /// [`fuzz_shared::knobs`]).
    pub knobs: ClientKnobs,
    pub alpn: String,
    /// `/N` must get exactly N bytes (`--expect-sizes`).
    pub expect_sizes: bool,
    pub ca: Option<Vec<u8>>,
    pub timeouts: Timeouts,
    /// The RTT assumed before the first sample (RFC 9002 §6.2.2).
    pub initial_rtt: Duration,
    pub probe: ProbePolicy,
    /// Consecutive failed connections (handshake_failed, timeout, refused) after which the
    /// server is probed early rather than burning the chain against a dead server.
    pub failure_streak: u32,
    pub progress: bool,
    /// `replay`: its `server_down` repro is its own command line.
    pub replay: bool,
    /// No summary and no start-up chatter: for `bisect`, which runs many short campaigns.
    pub quiet: bool,
    /// The shard of a campaign this run is (`--shard I/N`): logged in `run_start`, and its
    /// restart command names the shard.
    pub shard: Option<ShardInfo>,
    /// The original command line, program first: logged, and the base of the restart command.
    pub argv: Vec<String>,
    /// `--concurrency auto`: `concurrency` is where it starts, and it adapts (module `pacing`).
    pub auto_concurrency: bool,
    /// How long the server may stay busy (refusing connections, answering probes only with a
    /// close) before it counts as down.
    pub busy_timeout: Duration,
    /// `--fixed-idle`: `timeouts.idle` is the limit as it is, not the floor of a fitted one.
    pub fixed_idle: bool,
    /// What the start-up probes measured: the first samples the limits are fitted to.
    pub startup: StartupTimes,
    /// What a death of the server becomes (module [`crate::findings`]): a campaign records a
    /// finding and, within `max`, brings up a fresh server and goes on. `None` (replay, a
    /// bisect trial, a minimization trial): the campaign stops at the first death.
    pub findings: Option<FindingsPolicy>,
    /// Mutate only these contents of each connection (`replay --only`, a minimization trial);
    /// `None`: every content its plan targets.
    pub only: Option<ContentSet>,
    /// Launch only these connections of the chain (`--only-seqs`, a triage of accumulated
    /// state); `None`: every one.
    pub only_seqs: Option<std::collections::BTreeSet<u64>>,
    /// The corpus children are drawn from (`--coverage`, `--corpus-from`,
    /// [`fuzz_shared::coverage::corpus`]); `None`: every connection is blind.
    pub corpus: Option<fuzz_shared::coverage::corpus::Guide>,
}

impl CampaignConfig {
    /// What the connections speak, as `--alpn` names it.
    pub fn application(&self) -> Application {
        Application::of_alpn(self.alpn.as_bytes())
    }

    /// What the chain's client plans depend on besides their CIDs.
    pub fn plan_inputs(&self) -> Inputs {
        Inputs::new(self.resume_rate, self.application())
    }

    /// How the chain's connections are fuzzed.
    pub fn fuzzing(&self) -> Fuzzing {
        Fuzzing { mode: self.mode, application: self.application() }
    }
}

/// How a campaign keeps going after its server goes down.
#[derive(Clone, Debug)]
pub struct FindingsPolicy {
    /// The findings directory: one folder per distinct bug.
    pub dir: PathBuf,
    /// Stop after this many distinct findings of this run (`--max-findings`); `None`: never.
    pub max: Option<u32>,
    /// A server the client does not supervise: how long to wait for it to answer again (someone
    /// else may restart it) before the campaign stops (`--down-wait`).
    pub down_wait: Duration,
    /// Triage new findings while the campaign goes on (not `--no-triage`; only with `--server-cmd`).
    pub triage: bool,
    /// When the supervised server's memory growth is a finding (`--leak-limit`, `--leak-per-conn`).
    pub leak: fuzz_shared::leak::LeakRule,
}

/// What bringing the server back after a death gave.
#[derive(Debug)]
pub enum Restart {
    /// A fresh server answers clean probes; what the start-up probes measured.
    Serving(StartupTimes),
    /// It could not be brought back, in words: the campaign stops.
    NotServing(String),
    /// The fresh server died of the clean start-up probe: clean traffic kills it. A finding of
    /// its own (the probe's connection is the culprit; it has no decisions).
    CleanTrafficKills(Death),
}

/// What the start-up probes measured of a server found serving: the first samples of its speed,
/// for a campaign (and a `replay` or a `bisect` trial, campaigns of their own) that has run
/// nothing yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StartupTimes {
    /// The clean handshake time (the shorter of two, [`super::wait_until_serving_timed`]).
    pub handshake: Option<Duration>,
    /// How long the probes waited for their answers (their longest silence, module
    /// `patience`): a server slow to answer at rest is so for the first connections too.
    pub silence: Option<Duration>,
}
