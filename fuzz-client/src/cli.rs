//! The command line: parsing with clap, then validation into a [`CampaignConfig`].
//!
//! Parsing and validation are separate so that every bad input gets one clear message and exit
//! status 2 ([`UsageError`]), and so validation is unit-tested without a network: the only
//! effectful step is resolving the server's host name.

use crate::campaign::pacing::{self, ConcurrencySetting};
use crate::campaign::watch::ServerCmd;
use crate::campaign::{self, resume};
use crate::campaign::{CampaignConfig, ProbePolicy};
use crate::quic::connection::Timeouts;
use crate::report::merge::MergeJob;
use crate::triage::bisect::{self, BisectJob};
use crate::triage::initial_replay::{self, InitialReplayJob};
use crate::triage::minimize::MinimizeJob;
use crate::usage::UsageError;
use clap::{Parser, Subcommand, ValueEnum};
use fuzz_shared::{cid, Cid, ClientKnobs, Mode, ResumeRate};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

const EXIT_CODES: &str = "\
Exit status:
  0  the campaign ended and the server is up
  1  internal error of the fuzzer (e.g. a connection whose initial CID is not the chosen one)
  2  bad input or usage: malformed CID, unresolvable host, missing CA file, --count 0, ...
  3  findings: the server went down at least once (a campaign with --server-cmd keeps going past
     each death; its findings, their triage and the restart command are printed); replay,
     minimize: the run killed it; merge: a shard saw it; differential: the servers reacted
     differently to some CID
  4  bisect, minimize: the crash did not reproduce (the whole window, or the connection with all its
     mutations, ran against a fresh server, which survived)
  130  interrupted (Ctrl-C or SIGTERM): connections in flight are closed and logged first";

/// A CID-seeded QUIC fuzzing client: every connection is a function of its initial connection
/// ID, and each next CID is derived from the previous one.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "fuzz-client",
    version,
    after_help = EXIT_CODES,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub campaign: Args,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Replay one connection of a chain by its CID, printing each mutation decision on stderr
    /// (and logging it like a campaign of one connection); or, with --pcap, resend a captured
    /// connection's Initial datagrams byte for byte.
    Replay(ReplayArgs),
    /// Narrow a stretch of the chain that kills the server down to the shortest run that still
    /// kills a fresh server, ideally a single CID; print the command that reproduces it.
    Bisect(BisectArgs),
    /// Shrink one connection's mutations (bisect's culprit) to the fewest contents that still
    /// kill a fresh server: delta debugging over its content ids, one fresh server per trial;
    /// print them and the `replay --only` command that reproduces the crash with them alone.
    Minimize(MinimizeArgs),
    /// One view of a sharded campaign from its shards' run logs: per shard, connections,
    /// checkpoints, outcomes, whether it saw the server go down and the command that restarts
    /// it alone; which shards saw the server die; chains that merged. Exit status 3 when a
    /// shard saw the server go down, 0 otherwise.
    Merge(MergeArgs),
    /// Read run logs (a campaign's, the same file after restarts, a bisect's trial logs) and
    /// write a self-contained HTML page with plots (connections/s with checkpoints and crashes,
    /// outcomes per fuzz state and per operator family, the server's RSS per checkpoint), the
    /// slowest connections and those the server closed with an error code, each with the
    /// command that replays it; or, with --text, a terminal summary.
    Report(ReportArgs),
    /// Compare the run logs of one chain (the same --start-cid) against several servers: print
    /// where the servers reacted differently to the same CID (completed, closed with code X,
    /// silent, handshake failed, wrong answer), grouped by the decisions that led to it, with
    /// the command that replays each group's first CID against each server, and flag the
    /// reactions the RFC oracle calls deviations. Only CIDs that made the same decisions against
    /// every server are compared. Exit status 0 when every compared CID got the same reactions,
    /// 3 when some did not (a finding), 2 for bad input. scripts/differential.sh runs the campaigns and this.
    Differential(DifferentialArgs),
    /// Write a man page or a shell completion script, made from these very options, on stdout:
    /// `fuzz-client generate man > fuzz-client.1`,
    /// `fuzz-client generate complete-bash > /etc/bash_completion.d/fuzz-client`.
    Generate(GenerateArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct GenerateArgs {
    /// What to write.
    #[arg(value_enum)]
    pub kind: fuzz_cli_generate::Kind,
}

/// `merge`: the run logs of a campaign's shards (any number, any order).
#[derive(clap::Args, Debug, Clone)]
pub struct MergeArgs {
    /// Run logs, one per shard as a rule (`kubectl logs` output is fine: lines that are not
    /// run-log lines are skipped and counted).
    #[arg(value_name = "LOG", required = true)]
    pub logs: Vec<PathBuf>,

    /// Say which shard ran this CID, at which seq, and how to replay it: for a CID named by the
    /// server's crash report or a qlog file name.
    #[arg(long, value_name = "HEX")]
    pub cid: Option<String>,
}

/// `report`: run logs to an HTML page or a terminal summary.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// Client run logs (JSON lines), in any number: a file holding restarts is read as one run
    /// per `run_start`.
    #[arg(value_name = "LOG", required = true, num_args = 1..)]
    pub logs: Vec<PathBuf>,

    /// Write the HTML page here (default: report.html, unless --text is given).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Print a terminal summary on stdout (and write the HTML page only with -o).
    #[arg(long)]
    pub text: bool,
}

/// `differential`: one chain's run logs against several servers.
#[derive(clap::Args, Debug, Clone)]
pub struct DifferentialArgs {
    /// A server's client run log, as NAME=LOG (fuzz-server=fs.jsonl ngtcp2=ng.jsonl), or LOG
    /// alone, named by its file stem; logs given under one name are read together. At least two
    /// servers.
    #[arg(value_name = "NAME=LOG", required = true, num_args = 1..)]
    pub logs: Vec<String>,

    /// Also write every CID that got different reactions here, as JSON lines (its decisions,
    /// and per server the reaction, the oracle's deviation and the replay command).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// A campaign (the default command).
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The first initial CID of the chain (16 hex digits: 8 bytes). Random when absent; always
    /// logged in `run_start`.
    #[arg(long, value_name = "HEX")]
    pub start_cid: Option<String>,

    /// The sequence number of --start-cid, so that a restarted run keeps an earlier numbering.
    /// With --shard: where to start in the shard's chain (seq 0 is the shard's first CID).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub start_seq: u64,

    /// Restart where an earlier run (its run log) left off: at its last checkpoint with the
    /// server up (or its start, when it has none), keeping its numbering. Replaces --start-cid
    /// and --start-seq; --count counts the connections of this run. The log of a shard restarts
    /// that shard.
    #[arg(long, value_name = "LOG", conflicts_with_all = ["start_cid", "start_seq", "shard", "shards"])]
    pub resume_from: Option<PathBuf>,

    /// Run shard I of a campaign of N shards (0 <= I < N): --start-cid is then the campaign's
    /// root (required), the shard's chain starts at a CID derived from the root and I, and
    /// --start-seq counts along the shard's own chain. Shards are disjoint chains, with odds the
    /// README gives (over billions of CIDs, two chains may merge).
    #[arg(long, value_name = "I/N", conflicts_with = "shards")]
    pub shard: Option<String>,

    /// Like --shard I/N, with I from $JOB_COMPLETION_INDEX, which a Kubernetes Indexed Job sets
    /// in each pod.
    #[arg(long, value_name = "N")]
    pub shards: Option<u64>,

    /// Stop after N connections (whichever of --count and --duration comes first).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// Stop starting connections after SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,

    /// Connections in flight at once: a number, the most in flight (halved when the server
    /// refuses a connection, then raised by one per round: a quarter of it in finished
    /// connections, at least 8), or `auto`: search for the level that finishes the most
    /// connections per second (from 16, doubling while the rate grows, then probing a quarter
    /// up and down; up to 512), halved on refusals and lowered when handshakes queue. The
    /// concurrency in force is logged at each checkpoint.
    #[arg(long, value_name = "N|auto", default_value = "16")]
    pub concurrency: ConcurrencySetting,

    /// A checkpoint every N connections (at sequence numbers that are multiples of N).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub checkpoint_every: u64,

    /// Probe the server early after this many consecutive connections that failed to handshake,
    /// timed out or were refused.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub failure_streak: u32,

    /// No progress bar even when stderr is a terminal.
    #[arg(long)]
    pub no_progress: bool,

    /// Where findings go: one folder per distinct bug (`finding.json`, the server's stderr
    /// report, the crash capture, after triage `reproduce.sh`). Default: `<LOG>.findings`, or
    /// `fuzz-client-<pid>.findings` in the temporary directory without --log.
    #[arg(long, value_name = "DIR")]
    pub findings: Option<PathBuf>,

    /// Stop after N distinct findings met by this run (new ones, or ones the findings directory
    /// already holds). Without it the campaign KEEPS GOING after every death of
    /// the server, to --count or --duration: it records the finding, brings up a fresh server
    /// (--server-cmd starts its command again; without it, the client waits --down-wait for
    /// someone else to) and goes on along the chain after the connections that were in flight
    /// (the finding's window, not run again). `--max-findings 1` stops at the first death.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_findings: Option<u32>,

    /// Without --server-cmd: how long to wait after a death for the server to answer a clean
    /// probe again (someone else may restart it) before the campaign stops.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub down_wait: f64,

    /// Do not triage new findings. By default each new finding (with --server-cmd) is bisected
    /// to its culprit CID against fresh servers of its own while the campaign goes on (one
    /// finding at a time; the campaign waits for the last before it ends) and the culprit's
    /// decisions minimized; the verdict and its command go into the finding's folder.
    #[arg(long)]
    pub no_triage: bool,

    /// With --server-cmd: read the server's own coverage and log it with each checkpoint
    /// (`edges`: the edges of its code covered so far). `afl`: a server built with AFL++'s
    /// instrumentation (afl-cc, afl-clang-fast; scripts/interop/install.sh ngtcp2-afl builds
    /// ngtcp2's so), run without afl-fuzz: the client creates the shared memory and gives the
    /// command __AFL_SHM_ID and AFL_MAP_SIZE. A server command that is not instrumented, or whose
    /// server writes no coverage, is bad input (exit status 2), never a blind run.
    ///
    /// Coverage guides the chain: a connection that reaches new coverage joins the corpus
    /// (logged as `corpus_entry`), and about half of the later connections are children of an
    /// entry: its decisions first, then their own (docs/coverage.md). The corpus changes only
    /// at checkpoints and lives in the run log (--log is needed), so a restart by CID still
    /// repeats the tail; the restart, bisect and replay commands printed read it back
    /// (--corpus-from).
    #[arg(long, value_enum, value_name = "SOURCE")]
    pub coverage: Option<crate::coverage::CoverageKind>,

    /// With --coverage: measure the server's coverage and derive no children, every connection
    /// blind (the baseline scripts/bench-coverage.sh compares guidance with).
    #[arg(long, requires = "coverage")]
    pub no_guidance: bool,

    /// Run only these connections of the chain (sequence numbers, comma-separated, within
    /// --start-seq..--start-seq + --count), in chain order; the others' places pass and nothing
    /// runs for them. What a triage of accumulated state prints: "these connections, in this
    /// order, take a fresh server down".
    #[arg(long, value_name = "SEQS")]
    pub only_seqs: Option<String>,

    /// With --server-cmd: a LEAK FINDING when the server's resident memory (VmRSS at each
    /// checkpoint) stays more than SIZE above its baseline (the least of checkpoints 2 to 4 after
    /// it started) at two checkpoints in a row; the server is restarted as after a death and the
    /// campaign goes on. SIZE: bytes with K, M, G (powers of 1024), or `off`. The default, 1G,
    /// is the case (36 MB to 1.2 GB) and stays clear of what is not a leak: a server
    /// built with AddressSanitizer holds freed memory in its quarantine (256 MB by default on
    /// 64-bit) and its shadow grows with it; caches and allocators' retained pages plateau.
    #[arg(long, value_name = "SIZE|off", default_value = "1G")]
    pub leak_limit: String,

    /// With --server-cmd: also a leak finding when the server's RSS grew by more than SIZE per
    /// connection in each of three checkpoint intervals in a row (and by at least 4 MiB in all):
    /// a steady leak found long before --leak-limit. Off by default: a server that is still
    /// filling a cache grows the same way for a while.
    #[arg(long, value_name = "SIZE")]
    pub leak_per_conn: Option<String>,

    #[command(flatten)]
    pub conn: ConnArgs,

    #[command(flatten)]
    pub server: ServerArgs,
}

/// `replay`: one connection.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = PCAP_REPLAY_HELP)]
pub struct ReplayArgs {
    /// The connection's initial CID (16 hex digits). With --pcap: which connection of the
    /// capture to resend (default: the culprit the capture names, or else its last connection).
    #[arg(long, value_name = "HEX", required_unless_present = "pcap")]
    pub cid: Option<String>,

    /// Resend the client's Initial datagrams of one connection of this capture (a crash capture,
    /// `<log>.crash.pcap`, or any pcapng) byte for byte from a fresh UDP socket, instead of
    /// making the connection again; then judge the server as replay does (exit status 3 when it
    /// died). See below for what cannot be replayed this way.
    #[arg(long, value_name = "FILE", conflicts_with = "seq")]
    pub pcap: Option<PathBuf>,

    /// Its sequence number in its campaign, for the log.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seq: u64,

    /// Mutate only these contents of the connection (comma-separated content ids as `cid_end`'s
    /// `mutated` and `minimize` name them, e.g. `initial/crypto@0,application_data/stream:0@0`);
    /// each makes exactly the decisions it makes in the full connection, every other content is
    /// sent untouched.
    #[arg(long, value_name = "LIST", conflicts_with = "pcap")]
    pub only: Option<String>,

    #[command(flatten)]
    pub conn: ConnArgs,

    #[command(flatten)]
    pub server: ServerArgs,
}

/// `minimize`: shrink a culprit connection's mutated contents against fresh servers.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = MINIMIZE_HELP)]
pub struct MinimizeArgs {
    /// The culprit's initial CID (16 hex digits; bisect's verdict names it).
    #[arg(long, value_name = "HEX")]
    pub cid: String,

    /// Its sequence number in its campaign (bisect's verdict names it).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seq: u64,

    /// Runs of each trial; a trial kills the server if any of its runs does. When its runs
    /// disagree, the trial gets as many runs again.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub tries: u32,

    #[command(flatten)]
    pub conn: ConnArgs,

    #[command(flatten)]
    pub server: ServerArgs,
}

const MINIMIZE_HELP: &str = "\
The first trial runs the connection with all its mutations against a fresh server; its cid_end
(`mutated`) names the contents mutated. Then delta debugging (ddmin) runs it mutating subsets of them
only, until no content of the set can be left out: a 1-minimal set. With --log FILE, trial N logs to
FILE.min-trial-N (FILE.min-trial-N.R with several --tries); without, to a temporary directory.
Exit status 0 with a verdict, 4 when the full connection does not kill a fresh server.";

const PCAP_REPLAY_HELP: &str = "\
replay --pcap resends only Initial packets: their keys come from the client's first Destination
Connection ID alone (RFC 9001 §5.2), so a fresh server decrypts the very frames the original server
saw. Handshake and 1-RTT packets cannot be replayed byte for byte: their keys come from the TLS key
exchange, which depends on both ends' randomness, so a fresh server cannot decrypt them. A crash
caused by a Handshake or 1-RTT packet needs `replay --cid` (same decisions, new bytes).";

/// `bisect`: find the culprit of a crash by running stretches of the chain against fresh servers.
#[derive(clap::Args, Debug, Clone)]
pub struct BisectArgs {
    /// The first CID of the window (usually `last_checkpoint_cid` of `server_down`).
    #[arg(long, value_name = "HEX")]
    pub from: String,

    /// The sequence number of --from, so that verdicts use the original numbering.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub from_seq: u64,

    /// The end of the window: a CID of the chain after --from (16 hex digits; the window ends
    /// with it), or a number of connections counted from --from.
    #[arg(long, value_name = "CID|N")]
    pub until: String,

    /// Runs of each trial; a trial kills the server if any of its runs does. When its runs
    /// disagree (some kill, some do not), the trial gets as many runs again, and the verdict
    /// says how often the server died ("killed in 2 of 4 runs").
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub tries: u32,

    /// Connections in flight at once in each trial: keep the crashed campaign's (the `bisect`
    /// command of `server_down` spells it out), because timing decides what a server sees too.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: usize,

    /// Bisect a LEAK instead of a crash: a trial "kills" when the fresh server's resident memory
    /// (VmRSS, after its start-up probe and after the trial's connections) grew by more than
    /// SIZE (K, M, G: powers of 1024). Needs --server-cmd. The `bisect` command of a leak
    /// finding sets it (an eighth of the leak's growth, at least 4M).
    #[arg(long, value_name = "SIZE")]
    pub leak: Option<String>,

    #[command(flatten)]
    pub conn: ConnArgs,

    #[command(flatten)]
    pub server: ServerArgs,
}

/// Supervision of the target server, for every command.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Start the server under test with this shell command line, watch it, and stop it
    /// (SIGTERM) at the end. Its death (exit status or signal, last stderr lines) goes into
    /// `server_down`, its resident memory into each `checkpoint` (`server_rss_kb`), and all of
    /// its stderr next to the run log (`<LOG>.server-stderr`). It must listen on SERVER. A
    /// campaign keeps going past its deaths: each is a finding, and the command starts a fresh
    /// server (see --max-findings). `{port}` in SERVER and here becomes a free UDP port, the
    /// same in both, each time a command runs (triage's own servers, a reproduction).
    #[arg(long, value_name = "COMMAND")]
    pub server_cmd: Option<String>,

    /// How long the server command may take to answer a first clean probe.
    #[arg(long, value_name = "SECS", default_value_t = 20.0)]
    pub server_start_timeout: f64,
}

/// What every command needs to make connections.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnArgs {
    /// The QUIC v1 server to fuzz, as host:port (required; optional only in clap's eyes, which
    /// cannot mix a required positional with subcommands).
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,

    /// The JSON-lines run log (appended to). `-` writes it to stdout (only the log goes there;
    /// everything for people goes to stderr), as a container's log collector wants.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// The corpus of a --coverage campaign, read from its run log: connections that campaign
    /// made children of corpus entries are made so again, with their parents' decisions first
    /// (docs/coverage.md). The commands a coverage campaign prints (restart, bisect, replay)
    /// carry it; with --coverage, the campaign goes on building the corpus from it.
    #[arg(long, value_name = "LOG")]
    pub corpus_from: Option<PathBuf>,

    /// `clean` makes the same connections with the same plans and requests, and mutates nothing.
    #[arg(long, value_enum, default_value_t = ModeArg::Fuzz)]
    pub mode: ModeArg,

    /// The ALPN to offer; it also chooses the protocol of the requests: `h3` is HTTP/3 (control
    /// stream and SETTINGS, QPACK, a GET of each path), anything else hq-interop
    /// (`GET /path\r\n`). A request is `completed` only with a checked answer: the stream's end
    /// after the body (h3: after a response with a status); otherwise `wrong_answer`. An input
    /// of the derivation: an HTTP/3 campaign fuzzes its established connections more often, and
    /// its STREAM data as HTTP/3 and QPACK; `--resume-from` keeps the log's [default:
    /// hq-interop].
    #[arg(long, value_name = "ALPN")]
    pub alpn: Option<String>,

    /// The share of connections whose plan resumes a TLS session (0 to 1; default 0.25, the
    /// plans' own). Each runs a clean priming connection first for its session ticket. An input
    /// of the derivation like --start-cid: a restart must keep it (restart commands do, and
    /// --resume-from takes it from the log).
    #[arg(long, value_name = "SHARE")]
    pub resume_rate: Option<ResumeRate>,
    /// The server answers `/N` with exactly N bytes (fuzz-server does, and so do the peers of
    /// scripts/interop/): a shorter or longer body, or in h3 a status other than 200, is a
    /// `wrong_answer`.
    #[arg(long)]
    pub expect_sizes: bool,

    /// The TLS server name (SNI). Default: the host of SERVER, or `localhost` for an IP address.
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,

    /// Verify the server's certificate against this PEM CA. Without it the certificate is not
    /// verified, as fuzzers against lab servers expect.
    #[arg(long, value_name = "PEM")]
    pub ca: Option<PathBuf>,

    /// A connection silent for this long is abandoned (and closed, so the server frees it); a
    /// handshake gets at most twice this. A connection that mutated something is abandoned sooner
    /// once handshakes completed: after four probe timeouts computed from their durations
    /// (at least 50 ms).
    #[arg(long, value_name = "MS", default_value_t = 400)]
    pub idle_ms: u64,

    /// The RTT assumed before the first RTT sample (RFC 9002 §6.2.2 default: 333 ms). Short by
    /// default for lab servers: a silently dropped (fuzzed) Initial is retransmitted soon.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    pub initial_rtt_ms: u64,

    /// The hard cap on one connection's life.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub max_conn_ms: u64,

    /// Use --idle-ms as the idle limit as it is. Without it --idle-ms is the floor: the limit is
    /// three probe timeouts (RFC 9002 §6.2.1) of the clean probes' handshake times when that is
    /// more, so that a slow but healthy server is not reported silent (at most the transport's
    /// idle timeout, 4 x --idle-ms and at least 2 s). The limit in force is logged in run_start
    /// and at each checkpoint (`pacing`).
    #[arg(long)]
    pub fixed_idle: bool,

    /// How long a server may stay busy (refusing connections with CONNECTION_REFUSED, or
    /// answering clean probes only with a close) before it counts as down. A busy server
    /// pauses the campaign (`server_busy` ... `server_ready` in the log); refused connections
    /// run again with the same CID.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub busy_timeout: f64,
    /// Append every connection's TLS secrets to FILE in the NSS key log format, so that
    /// Wireshark or tshark decrypts a capture (the crash capture too). Default: the file
    /// SSLKEYLOGFILE names, if set. Lab use only: the file decrypts the traffic.
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<PathBuf>,

    /// Write one qlog file per connection into DIR (`<seq>-<cid>.sqlog`, qlog 0.3 JSON-SEQ, as
    /// qvis reads): packets sent and received with their frames, and each mutation decision as
    /// a `quic_cid_fuzz:mutation` event. Off by default (it costs); see --qlog-keep.
    #[arg(long, value_name = "DIR")]
    pub qlog_dir: Option<PathBuf>,

    /// With --qlog-dir: keep only the files of the last N connections before the last
    /// checkpoint (probes count), and besides them every culprit's: all connections since the
    /// last checkpoint (a crash's culprit is among them), and those that ended in the server's
    /// INTERNAL_ERROR or a wrong answer (at most max(N, 300) of these).
    #[arg(long, value_name = "N", default_value_t = 1000, requires = "qlog_dir")]
    pub qlog_keep: usize,

    /// Client knob (default on, as s2n-quic does): once the handshake is confirmed, retire the
    /// connection ID used during the handshake with a NEW_CONNECTION_ID whose Retire Prior To is
    /// 1 (RFC 9000 §5.1.2). `off` keeps it, for a server that trips on every clean connection's
    /// rotation. Changes what every connection sends: restarts keep it, --resume-from takes it
    /// from the log.
    #[arg(long, value_enum, value_name = "on|off")]
    pub handshake_cid_rotation: Option<OnOff>,

    /// Client knob (default 16, s2n-quic's): the length of the connection IDs the client issues
    /// (its Source Connection ID and its NEW_CONNECTION_ID frames; RFC 9000 §5.1), 4 to 20. The
    /// ODCID stays the chain's 8-byte CID.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u8).range(4..=20))]
    pub client_cid_len: Option<u8>,

    /// Client knob (default off): path MTU discovery (RFC 9000 §14.3, DPLPMTUD of RFC 8899),
    /// PING+PADDING probes up to 1500-byte packets after the handshake. Off keeps every
    /// datagram at the 1200-byte minimum; on, the probes take packet numbers at times that depend
    /// on timing, so replays agree less.
    #[arg(long, value_enum, value_name = "on|off")]
    pub path_mtu_probing: Option<OnOff>,
}

/// A switch of the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl From<OnOff> for bool {
    fn from(v: OnOff) -> bool {
        v == OnOff::On
    }
}

impl ConnArgs {
    /// The client knobs as given, each knob absent from the command line at its default.
    pub fn knobs(&self) -> ClientKnobs {
        let d = ClientKnobs::default();
        ClientKnobs {
            handshake_cid_rotation: self.handshake_cid_rotation.map_or(d.handshake_cid_rotation, bool::from),
            cid_len: self.client_cid_len.unwrap_or(d.cid_len),
            path_mtu_probing: self.path_mtu_probing.map_or(d.path_mtu_probing, bool::from),
        }
    }

    /// `--resume-from`: the knobs are the log's run's. A knob given on the command line must be
    /// the same (a restart that changed one would not repeat the run); the others are taken from
    /// the log and added to the logged command line, so that this run's restart keeps them.
    /// The ALPN of a restart: the log's, which `--alpn` may only repeat (what the connections
    /// speak is an input of the derivation). A log that did not record it leaves `--alpn` as
    /// given.
    fn take_alpn_from(
        &mut self,
        log: &std::path::Path,
        theirs: Option<&str>,
        argv: &mut Vec<String>,
    ) -> Result<(), UsageError> {
        let Some(theirs) = theirs else { return Ok(()) };
        match &self.alpn {
            Some(ours) if ours != theirs => {
                Err(usage(format!("--alpn {ours}: {} ran with --alpn {theirs}; a restart must keep it", log.display())))
            }
            Some(_) => Ok(()),
            None => {
                self.alpn = Some(theirs.to_string());
                // Kept in the logged command line, so that this run's restart keeps it.
                argv.extend(["--alpn".to_string(), theirs.to_string()]);
                Ok(())
            }
        }
    }

    fn take_knobs_from(
        &mut self,
        log: &std::path::Path,
        theirs: ClientKnobs,
        argv: &mut Vec<String>,
    ) -> Result<(), UsageError> {
        let ours = self.knobs();
        let given = [
            (self.handshake_cid_rotation.is_some(), ours.handshake_cid_rotation == theirs.handshake_cid_rotation),
            (self.client_cid_len.is_some(), ours.cid_len == theirs.cid_len),
            (self.path_mtu_probing.is_some(), ours.path_mtu_probing == theirs.path_mtu_probing),
        ];
        if given.iter().any(|&(given, same)| given && !same) {
            let words = |k: ClientKnobs| {
                let c = k.changed();
                if c.is_empty() {
                    "the default client knobs".to_string()
                } else {
                    c.join(", ")
                }
            };
            return Err(usage(format!(
                "the client knobs given ({}) are not those {} ran with ({}); a restart must keep them",
                words(ours),
                log.display(),
                words(theirs)
            )));
        }
        let missing =
            [self.handshake_cid_rotation.is_none(), self.client_cid_len.is_none(), self.path_mtu_probing.is_none()];
        let args = theirs.args();
        for (i, missing) in missing.into_iter().enumerate() {
            if missing {
                argv.extend(args[2 * i..2 * i + 2].iter().cloned());
            }
        }
        self.handshake_cid_rotation = Some(if theirs.handshake_cid_rotation { OnOff::On } else { OnOff::Off });
        self.client_cid_len = Some(theirs.cid_len);
        self.path_mtu_probing = Some(if theirs.path_mtu_probing { OnOff::On } else { OnOff::Off });
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Fuzz,
    Clean,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Fuzz => Mode::Fuzz,
            ModeArg::Clean => Mode::Clean,
        }
    }
}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError::new(msg)
}

/// The placeholder for a port in SERVER and --server-cmd.
pub const PORT_PLACEHOLDER: &str = "{port}";

/// Puts real ports where SERVER and --server-cmd say `{port}`: SERVER's is a free UDP port of
/// its host (so that several servers can run side by side: triage's beside a campaign's), and
/// --server-cmd's is SERVER's port. The command line logged keeps the placeholders, so every
/// command printed from it (restart, bisect, replay) picks a free port again.
fn place_ports(conn: &mut ConnArgs, server: &mut ServerArgs) -> Result<(), UsageError> {
    let Some(target) = conn.server.clone() else { return Ok(()) };
    let target = if target.contains(PORT_PLACEHOLDER) {
        let host = target.rsplit_once(':').map_or("", |(h, _)| h).trim_start_matches('[').trim_end_matches(']');
        let port = free_udp_port(host).map_err(|e| {
            usage(format!("SERVER {target:?}: no free UDP port on {host:?} for {PORT_PLACEHOLDER}: {e}"))
        })?;
        let placed = target.replace(PORT_PLACEHOLDER, &port.to_string());
        conn.server = Some(placed.clone());
        placed
    } else {
        target
    };
    if let Some(cmd) = server.server_cmd.as_mut().filter(|c| c.contains(PORT_PLACEHOLDER)) {
        let (addr, _) = resolve_server(&target)?;
        *cmd = cmd.replace(PORT_PLACEHOLDER, &addr.port().to_string());
    }
    Ok(())
}

/// A UDP port free on `host` now (the kernel's choice for a socket bound to port 0).
fn free_udp_port(host: &str) -> std::io::Result<u16> {
    let socket = std::net::UdpSocket::bind((host, 0))?;
    Ok(socket.local_addr()?.port())
}

/// `--only-seqs`: sequence numbers, comma-separated (at least one).
pub fn parse_seqs(list: &str) -> Result<std::collections::BTreeSet<u64>, UsageError> {
    let seqs = list
        .split(',')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().map_err(|_| usage(format!("--only-seqs {list:?}: {s:?} is not a sequence number"))))
        .collect::<Result<std::collections::BTreeSet<u64>, _>>()?;
    if seqs.is_empty() {
        return Err(usage("--only-seqs: no sequence number given"));
    }
    Ok(seqs)
}

/// Parses a start CID. s2n-quic always chooses 8-byte initial CIDs (RFC 9000 §7.2 allows 8 to
/// 20), so a chain of any other length could never be replayed by this client.
pub fn parse_start_cid(s: &str) -> Result<Cid, UsageError> {
    let cid: Cid = s.parse().map_err(|e| usage(format!("--start-cid {s:?}: {e}")))?;
    if cid.len() != cid::CLIENT_LEN {
        return Err(usage(format!(
            "--start-cid {s:?} is {} bytes; this client's initial CIDs are {} bytes (16 hex digits), the only length s2n-quic chooses",
            cid.len(),
            cid::CLIENT_LEN
        )));
    }
    Ok(cid)
}

/// Splits `host:port` (or `[v6]:port`) and resolves it; the first address wins.
pub fn resolve_server(server: &str) -> Result<(SocketAddr, String), UsageError> {
    let (host, port) = match server.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => (h.trim_start_matches('[').trim_end_matches(']'), p),
        _ => return Err(usage(format!("SERVER {server:?} must be host:port, e.g. 127.0.0.1:4433"))),
    };
    let port: u16 = port.parse().map_err(|_| usage(format!("SERVER {server:?}: {port:?} is not a port number")))?;
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| usage(format!("SERVER {server:?}: cannot resolve {host:?}: {e}")))?
        .next()
        .ok_or_else(|| usage(format!("SERVER {server:?}: {host:?} resolves to no address")))?;
    Ok((addr, host.to_string()))
}

/// The default SNI: the host name as given, but never an IP literal (RFC 6066 §3: "Literal
/// IPv4 and IPv6 addresses are not permitted in HostName").
pub fn default_sni(host: &str) -> String {
    if host.parse::<std::net::IpAddr>().is_ok() {
        "localhost".to_string()
    } else {
        host.to_string()
    }
}

/// What to run, checked and ready.
pub enum Job {
    /// A campaign (or `replay`, a campaign of one connection), with the server to start, if any.
    Campaign {
        config: CampaignConfig,
        server: Option<ServerCmd>,
    },
    Bisect(BisectJob),
    Minimize(MinimizeJob),
    /// `replay --pcap`.
    InitialReplay(InitialReplayJob),
    Merge(MergeJob),
    /// `generate`: the man page or a completion script.
    Generate(fuzz_cli_generate::Kind),
    /// `report`: (logs, HTML output, terminal summary).
    Report(crate::report::ReportJob),
    Differential(crate::differential::DifferentialJob),
}

impl Cli {
    /// `--qlog-dir` and `--qlog-keep` of whichever command was given.
    pub fn qlog(&self) -> Option<(&std::path::Path, usize)> {
        let conn = match &self.command {
            None => &self.campaign.conn,
            Some(Command::Replay(r)) => &r.conn,
            Some(Command::Bisect(b)) => &b.conn,
            Some(Command::Minimize(m)) => &m.conn,
            Some(Command::Report(_) | Command::Merge(_) | Command::Generate(_) | Command::Differential(_)) => {
                return None
            }
        };
        conn.qlog_dir.as_deref().map(|d| (d, conn.qlog_keep))
    }

    /// `--keylog` of whichever command was given.
    pub fn keylog(&self) -> Option<&std::path::Path> {
        match &self.command {
            None => self.campaign.conn.keylog.as_deref(),
            Some(Command::Replay(r)) => r.conn.keylog.as_deref(),
            Some(Command::Bisect(b)) => b.conn.keylog.as_deref(),
            Some(Command::Minimize(m)) => m.conn.keylog.as_deref(),
            Some(Command::Report(_) | Command::Merge(_) | Command::Generate(_) | Command::Differential(_)) => None,
        }
    }

    /// Checks every argument of whichever command was given. `argv` is the original command
    /// line (program first), kept for `run_start` and the commands printed for the user.
    pub fn into_job(mut self, argv: Vec<String>) -> Result<Job, UsageError> {
        match &mut self.command {
            None => place_ports(&mut self.campaign.conn, &mut self.campaign.server)?,
            Some(Command::Replay(r)) => place_ports(&mut r.conn, &mut r.server)?,
            Some(Command::Bisect(b)) => place_ports(&mut b.conn, &mut b.server)?,
            Some(Command::Minimize(m)) => place_ports(&mut m.conn, &mut m.server)?,
            Some(Command::Report(_) | Command::Merge(_) | Command::Generate(_) | Command::Differential(_)) => {}
        }
        match self.command {
            None => {
                let server = self.campaign.server.clone();
                let coverage = self.campaign.coverage;
                let guided = !self.campaign.no_guidance;
                let resume_from = self.campaign.resume_from.clone();
                let mut config = self.campaign.into_config(argv)?;
                let mut server = server.into_server(config.log.as_deref())?;
                match (coverage, server.as_mut()) {
                    (Some(kind), Some(server)) => {
                        server.coverage = Some(kind);
                        if guided {
                            config.corpus = Some(crate::coverage::campaign_corpus(&config, resume_from.as_deref())?);
                        } else if config.corpus.is_some() {
                            return Err(usage("--no-guidance with --corpus-from: a blind campaign has no children"));
                        }
                    }
                    (Some(_), None) => {
                        return Err(usage(
                            "--coverage reads the coverage of a server the client starts: it needs --server-cmd",
                        ))
                    }
                    (None, _) => {}
                }
                Ok(Job::Campaign { config, server })
            }
            Some(Command::Replay(r)) if r.pcap.is_some() => Ok(Job::InitialReplay(r.into_pcap_job(argv)?)),
            Some(Command::Replay(r)) => {
                let server = r.server.clone();
                let config = r.into_config(argv)?;
                let server = server.into_server(config.log.as_deref())?;
                Ok(Job::Campaign { config, server })
            }
            Some(Command::Bisect(b)) => Ok(Job::Bisect(b.into_job(argv)?)),
            Some(Command::Minimize(m)) => Ok(Job::Minimize(m.into_job(argv)?)),
            Some(Command::Merge(m)) => {
                let cid = m.cid.as_deref().map(parse_cid).transpose()?;
                Ok(Job::Merge(MergeJob { logs: m.logs, cid }))
            }
            Some(Command::Report(r)) => Ok(Job::Report(crate::report::ReportJob::load(&r.logs, r.output, r.text)?)),
            Some(Command::Generate(g)) => Ok(Job::Generate(g.kind)),
            Some(Command::Differential(d)) => {
                Ok(Job::Differential(crate::differential::DifferentialJob::load(&d.logs, d.json)?))
            }
        }
    }
}

/// What `--alpn` offers when it is not given.
const DEFAULT_ALPN: &str = "hq-interop";

const NO_ROOT: &str =
    "a shard needs --start-cid, the campaign's root: every shard of a campaign must be given the same";

impl Args {
    /// Checks every argument and builds the campaign's configuration. `argv` is the original
    /// command line (program first), kept for `run_start` and the restart command.
    pub fn into_config(mut self, mut argv: Vec<String>) -> Result<CampaignConfig, UsageError> {
        let index_env = std::env::var(campaign::shard::INDEX_ENV).ok();
        let shard = campaign::shard::resolve(self.shard.as_deref(), self.shards, index_env.as_deref())?;
        let mut resumed_shard = None;
        let (start_cid, start_seq) = match (&self.resume_from, &self.start_cid) {
            (Some(log), _) => {
                let (point, shard) = resume::resume_from(log)?;
                resumed_shard = shard;
                // The resume rate is part of the derivation: the log's, unless given (the same).
                match self.conn.resume_rate {
                    Some(rate) if rate != point.resume_rate => {
                        return Err(usage(format!(
                            "--resume-rate {rate}: {} ran at {}; a restart must keep it",
                            log.display(),
                            point.resume_rate
                        )))
                    }
                    Some(_) => {}
                    None => {
                        self.conn.resume_rate = Some(point.resume_rate);
                        // Kept in the logged command line, so that this run's restart keeps it.
                        argv.extend(["--resume-rate".to_string(), point.resume_rate.to_string()]);
                    }
                }
                self.conn.take_knobs_from(log, point.knobs, &mut argv)?;
                self.conn.take_alpn_from(log, point.alpn.as_deref(), &mut argv)?;
                (point.cid, point.seq)
            }
            (None, Some(s)) => (parse_start_cid(s)?, self.start_seq),
            (None, None) if shard.is_some() => return Err(usage(NO_ROOT)),
            (None, None) => {
                let bytes: [u8; cid::CLIENT_LEN] = rand::random();
                (Cid::from_slice(&bytes).expect("8 bytes is a valid CID length"), self.start_seq)
            }
        };
        // With a shard, --start-cid names the campaign (its root) and the run starts in the
        // shard's own chain.
        let (shard, start_cid) = match shard {
            Some(spec) => {
                let (info, at) = campaign::shard::locate(start_cid, spec, start_seq);
                (Some(info), at)
            }
            // The log of a shard: its restart point is already in the shard's chain.
            None => (resumed_shard, start_cid),
        };
        if self.count == Some(0) {
            return Err(usage("--count 0: a campaign needs at least one connection"));
        }
        if self.checkpoint_every == 0 {
            return Err(usage("--checkpoint-every 0: checkpoints need a period of at least 1 connection"));
        }
        let duration = match self.duration {
            None => None,
            Some(d) if d.is_finite() && d > 0.0 => Some(Duration::from_secs_f64(d)),
            Some(d) => return Err(usage(format!("--duration {d}: must be a positive number of seconds"))),
        };
        let mut config = self.conn.into_config(argv, start_cid, start_seq)?;
        config.count = self.count;
        config.duration = duration;
        (config.concurrency, config.auto_concurrency) = match self.concurrency {
            ConcurrencySetting::Fixed(n) => (n, false),
            ConcurrencySetting::Auto => (pacing::AUTO_START, true),
        };
        config.checkpoint_every = self.checkpoint_every;
        config.failure_streak = self.failure_streak.max(1);
        config.progress = !self.no_progress;
        config.shard = shard;
        let w = self.down_wait;
        if !(w.is_finite() && (0.0..=86_400.0).contains(&w)) {
            return Err(usage(format!("--down-wait {w}: must be a number of seconds from 0 to a day")));
        }
        let dir = match self.findings {
            Some(dir) => dir,
            None => crate::findings::store::default_dir(campaign::log_file(config.log.as_deref())),
        };
        if let Some(list) = &self.only_seqs {
            let seqs = parse_seqs(list)?;
            let end = config.count.map_or(u64::MAX, |n| start_seq.saturating_add(n));
            if let Some(out) = seqs.iter().find(|&&s| s < start_seq || s >= end) {
                return Err(usage(format!(
                    "--only-seqs: seq {out} is not among the campaign's connections (seq {start_seq}..{})",
                    if end == u64::MAX { "".to_string() } else { end.to_string() }
                )));
            }
            config.only_seqs = Some(seqs);
        }
        let leak = leak_rule(&self.leak_limit, self.leak_per_conn.as_deref())?;
        config.findings = Some(campaign::FindingsPolicy {
            dir,
            max: self.max_findings,
            down_wait: Duration::from_secs_f64(w),
            triage: !self.no_triage,
            leak,
        });
        Ok(config)
    }
}

/// `--leak-limit` and `--leak-per-conn`, checked.
fn leak_rule(limit: &str, per_conn: Option<&str>) -> Result<fuzz_shared::leak::LeakRule, UsageError> {
    let size = |opt: &str, s: &str| {
        fuzz_shared::leak::parse_size(s)
            .filter(|&b| b > 0)
            .ok_or_else(|| usage(format!("{opt} {s:?}: expected a size such as 256M or 1G (K, M, G: powers of 1024)")))
    };
    let limit_kb = match limit.trim() {
        "off" | "none" => None,
        s => Some(size("--leak-limit", s)?.div_ceil(1024)),
    };
    let per_conn_bytes = per_conn.map(|s| size("--leak-per-conn", s)).transpose()?;
    Ok(fuzz_shared::leak::LeakRule { limit_kb, per_conn_bytes })
}

impl ReplayArgs {
    /// A campaign of exactly one connection: `--cid` at `--seq`, no checkpoint before its end.
    pub fn into_config(self, argv: Vec<String>) -> Result<CampaignConfig, UsageError> {
        let cid = parse_cid(self.cid.as_deref().unwrap_or_default())?;
        let only = match self.only.as_deref() {
            None => None,
            Some(list) => {
                let ids = fuzz_shared::content::parse_content_ids(list).map_err(|e| usage(format!("--only {e}")))?;
                Some(std::sync::Arc::new(ids.into_iter().collect()))
            }
        };
        if only.is_some() && self.conn.mode == ModeArg::Clean {
            return Err(usage("--only with --mode clean: a clean connection mutates nothing"));
        }
        let mut config = self.conn.into_config(argv, cid, self.seq)?;
        config.only = only;
        config.count = Some(1);
        config.concurrency = 1;
        config.checkpoint_every = u64::MAX / 2;
        config.progress = false;
        config.replay = true;
        Ok(config)
    }
}

fn parse_cid(s: &str) -> Result<Cid, UsageError> {
    parse_start_cid(s).map_err(|e| usage(e.0.replace("--start-cid", "--cid")))
}

impl ReplayArgs {
    /// `replay --pcap`: the capture is read and the connection picked here, so that a file
    /// without anything to replay is bad input like any other.
    pub fn into_pcap_job(self, argv: Vec<String>) -> Result<InitialReplayJob, UsageError> {
        let pcap = self.pcap.clone().expect("--pcap given");
        let cid = self.cid.as_deref().map(parse_cid).transpose()?;
        let selected = initial_replay::load(&pcap, cid.as_ref())?;
        let server = self.server.into_server(self.conn.log.as_deref())?;
        let mut config = self.conn.into_config(argv, selected.cid, selected.seq.unwrap_or(0))?;
        config.crash_pcap = None;
        config.progress = false;
        Ok(InitialReplayJob { config, server, pcap, selected })
    }
}

impl BisectArgs {
    /// Checks the window and the options every trial shares.
    pub fn into_job(self, argv: Vec<String>) -> Result<BisectJob, UsageError> {
        let from = parse_start_cid(&self.from).map_err(|e| usage(e.0.replace("--start-cid", "--from")))?;
        let count = bisect::parse_until(&self.until, &from)?;
        if self.tries == 0 {
            return Err(usage("--tries 0: each trial needs at least one run"));
        }
        if self.concurrency == 0 {
            return Err(usage("--concurrency 0: at least one connection must be in flight"));
        }
        if self.from_seq.checked_add(count).is_none() {
            return Err(usage("--from-seq is too large for the window"));
        }
        let log = campaign::log_file(self.conn.log.as_deref()).map(PathBuf::from);
        let server = self
            .server
            .into_server(None)?
            .ok_or_else(|| usage("bisect needs --server-cmd: every trial starts a fresh server"))?;
        let mut base = self.conn.into_config(argv.clone(), from, self.from_seq)?;
        base.concurrency = self.concurrency;
        // One trial is one stretch of connections: no checkpoint inside it, only the final probe.
        base.checkpoint_every = u64::MAX / 2;
        base.progress = false;
        base.quiet = true;
        base.log = None;
        let leak_kb = match self.leak.as_deref() {
            None => None,
            Some(s) => Some(
                fuzz_shared::leak::parse_size(s)
                    .filter(|&b| b > 0)
                    .ok_or_else(|| {
                        usage(format!("--leak {s:?}: expected a size such as 4M (K, M, G: powers of 1024)"))
                    })?
                    .div_ceil(1024),
            ),
        };
        Ok(BisectJob { base, from, from_seq: self.from_seq, count, tries: self.tries, server, log, argv, leak_kb })
    }
}

impl MinimizeArgs {
    /// Checks the culprit and the options every trial shares.
    pub fn into_job(self, argv: Vec<String>) -> Result<MinimizeJob, UsageError> {
        let cid = parse_cid(&self.cid)?;
        if self.tries == 0 {
            return Err(usage("--tries 0: each trial needs at least one run"));
        }
        if self.conn.mode == ModeArg::Clean {
            return Err(usage("minimize --mode clean: a clean connection has no mutations to minimize"));
        }
        let log = campaign::log_file(self.conn.log.as_deref()).map(PathBuf::from);
        let server = self
            .server
            .into_server(None)?
            .ok_or_else(|| usage("minimize needs --server-cmd: every trial starts a fresh server"))?;
        let mut base = self.conn.into_config(argv.clone(), cid, self.seq)?;
        base.count = Some(1);
        base.concurrency = 1;
        base.checkpoint_every = u64::MAX / 2;
        base.progress = false;
        base.quiet = true;
        base.log = None;
        Ok(MinimizeJob { base, server, seq: self.seq, cid, tries: self.tries, log, argv })
    }
}

impl ServerArgs {
    /// The server to start, if any; its stderr is kept next to `log`.
    pub fn into_server(self, log: Option<&std::path::Path>) -> Result<Option<ServerCmd>, UsageError> {
        let Some(command) = self.server_cmd else { return Ok(None) };
        if command.trim().is_empty() {
            return Err(usage("--server-cmd is empty"));
        }
        let t = self.server_start_timeout;
        if !(t.is_finite() && t > 0.0) {
            return Err(usage(format!("--server-start-timeout {t}: must be a positive number of seconds")));
        }
        Ok(Some(ServerCmd::new(command, Duration::from_secs_f64(t), campaign::log_file(log))))
    }
}

impl ConnArgs {
    fn into_config(self, argv: Vec<String>, start_cid: Cid, start_seq: u64) -> Result<CampaignConfig, UsageError> {
        if self.idle_ms == 0 || self.max_conn_ms == 0 {
            return Err(usage("--idle-ms and --max-conn-ms must be at least 1"));
        }
        let b = self.busy_timeout;
        if !(b.is_finite() && b > 0.0 && b <= 86_400.0) {
            return Err(usage(format!("--busy-timeout {b}: must be a positive number of seconds (at most a day)")));
        }
        let alpn = self.alpn.clone().unwrap_or_else(|| DEFAULT_ALPN.to_string());
        if alpn.is_empty() || alpn.len() > 255 {
            return Err(usage("--alpn must be 1 to 255 bytes (RFC 7301 §3.1)"));
        }
        let ca = match &self.ca {
            None => None,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| usage(format!("--ca {}: {e}", path.display())))?;
                if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                    return Err(usage(format!("--ca {}: no PEM certificate in it", path.display())));
                }
                Some(pem)
            }
        };
        let target = self
            .server
            .clone()
            .ok_or_else(|| usage("SERVER is missing: give the server as host:port, e.g. 127.0.0.1:4433"))?;
        let (server, host) = resolve_server(&target)?;
        let server_name = self.sni.clone().unwrap_or_else(|| default_sni(&host));
        Ok(CampaignConfig {
            server,
            target,
            server_name,
            start_cid,
            start_seq,
            count: None,
            duration: None,
            concurrency: 16,
            checkpoint_every: 1000,
            log: self.log.clone(),
            crash_pcap: Some(campaign::crash_pcap_path(campaign::log_file(self.log.as_deref()))),
            mode: self.mode.into(),
            resume_rate: self.resume_rate.unwrap_or_default(),
            knobs: self.knobs(),
            alpn,
            expect_sizes: self.expect_sizes,
            ca,
            timeouts: Timeouts::new(Duration::from_millis(self.idle_ms), Duration::from_millis(self.max_conn_ms))
                .learnt(),
            initial_rtt: Duration::from_millis(self.initial_rtt_ms.max(1)),
            probe: ProbePolicy::default(),
            failure_streak: 32,
            progress: true,
            quiet: false,
            replay: false,
            shard: None,
            argv,
            auto_concurrency: false,
            busy_timeout: Duration::from_secs_f64(self.busy_timeout),
            fixed_idle: self.fixed_idle,
            startup: Default::default(),
            findings: None,
            only: None,
            only_seqs: None,
            corpus: self.corpus_from.as_deref().map(crate::coverage::read_corpus).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Result<CampaignConfig, UsageError> {
        let mut argv = vec!["fuzz-client"];
        argv.extend_from_slice(extra);
        let parsed = Cli::try_parse_from(&argv).map_err(|e| UsageError(e.to_string()))?;
        let argv = argv.iter().map(|s| s.to_string()).collect();
        match parsed.into_job(argv)? {
            Job::Campaign { config, .. } => Ok(config),
            Job::Bisect(b) => Ok(b.base),
            Job::Minimize(m) => Ok(m.base),
            Job::InitialReplay(j) => Ok(j.config),
            Job::Merge(_) | Job::Generate(_) | Job::Differential(_) => panic!("no campaign"),
            Job::Report(_) => Err(UsageError("report makes no connections".into())),
        }
    }

    #[test]
    fn report_needs_readable_client_logs() {
        assert!(Cli::try_parse_from(["fuzz-client", "report"]).is_err(), "at least one LOG");
        let parsed = Cli::try_parse_from(["fuzz-client", "report", "--text", "no-such-run.jsonl"]).unwrap();
        let err = parsed.into_job(vec![]).err().expect("an unreadable log is bad input");
        assert!(err.0.contains("no-such-run.jsonl"), "{err}");
    }

    #[test]
    fn client_knobs_default_as_before_and_resume_from_takes_them_from_the_log() {
        let c = args(&["127.0.0.1:4433"]).unwrap();
        assert_eq!(c.knobs, ClientKnobs::default());
        assert!(c.knobs.handshake_cid_rotation && c.knobs.cid_len == 16 && !c.knobs.path_mtu_probing);
        let c = args(&["127.0.0.1:4433", "--handshake-cid-rotation", "off", "--client-cid-len", "8"]).unwrap();
        assert_eq!(c.knobs, ClientKnobs { handshake_cid_rotation: false, cid_len: 8, path_mtu_probing: false });
        assert!(args(&["127.0.0.1:4433", "--client-cid-len", "3"]).is_err(), "s2n-quic's minimum is 4");
        assert!(args(&["127.0.0.1:4433", "--client-cid-len", "21"]).is_err(), "RFC 9000 §17.2: at most 20");
        assert!(args(&["127.0.0.1:4433", "--path-mtu-probing", "maybe"]).is_err());

        // A log whose run turned rotation off: a --resume-from run does too, and says so in the
        // command line it logs (its own restarts keep it); a different knob is refused.
        let log = std::env::temp_dir().join(format!("knobs-resume-{}.jsonl", std::process::id()));
        let knobs = ClientKnobs { handshake_cid_rotation: false, ..Default::default() };
        let mut w = fuzz_shared::LogWriter::new(std::fs::File::create(&log).unwrap(), fuzz_shared::Role::Client);
        w.write(fuzz_shared::Event::RunStart {
            start_cid: Some("0123456789abcdef".parse().unwrap()),
            start_seq: 0,
            target: "127.0.0.1:4433".into(),
            mode: Mode::Fuzz,
            derivation: fuzz_shared::chain::DERIVATION.into(),
            version: "0".into(),
            args: vec![],
            planted_faults: vec![],
            resume_rate: None,
            shard: None,
            pacing: None,
            client_knobs: Some(knobs),
            alpn: Some("h3".into()),
            corpus_every: None,
        })
        .unwrap();
        drop(w);
        let path = log.to_str().unwrap();
        let c = args(&["127.0.0.1:4433", "--resume-from", path]).unwrap();
        assert_eq!(c.knobs, knobs);
        // So does its ALPN, an input of the derivation.
        assert_eq!((c.alpn.as_str(), c.application()), ("h3", fuzz_shared::application::Application::H3));
        assert!(c.argv.join(" ").contains("--alpn h3"), "{:?}", c.argv);
        assert!(args(&["127.0.0.1:4433", "--resume-from", path, "--alpn", "h3"]).is_ok());
        let err = args(&["127.0.0.1:4433", "--resume-from", path, "--alpn", "hq-interop"]).unwrap_err();
        assert!(err.0.contains("ran with --alpn h3") && err.0.contains("must keep it"), "{err}");
        assert_eq!(args(&["127.0.0.1:4433"]).unwrap().alpn, "hq-interop", "the default");
        let line = c.argv.join(" ");
        assert!(line.contains("--handshake-cid-rotation off") && line.contains("--client-cid-len 16"), "{line}");
        let c = args(&["127.0.0.1:4433", "--resume-from", path, "--handshake-cid-rotation", "off"]).unwrap();
        assert_eq!(c.knobs, knobs);
        let err = args(&["127.0.0.1:4433", "--resume-from", path, "--handshake-cid-rotation", "on"]).unwrap_err();
        assert!(err.0.contains("handshake CID rotation off") && err.0.contains("must keep them"), "{err}");
        let _ = std::fs::remove_file(&log);
    }

    #[test]
    fn good_arguments() {
        let c = args(&["127.0.0.1:4433", "--start-cid", "0123456789ABCDEF", "--count", "5"]).unwrap();
        assert_eq!(c.start_cid.to_hex(), "0123456789abcdef");
        assert_eq!(c.count, Some(5));
        assert_eq!(c.server_name, "localhost");
        assert_eq!(c.mode, Mode::Fuzz);
        let c = args(&["localhost:4433", "--sni", "example.org", "--mode", "clean"]).unwrap();
        assert_eq!(c.server_name, "example.org");
        assert_eq!(c.start_cid.len(), 8, "a random start CID has the client's length");
        assert_eq!(c.mode, Mode::Clean);
    }

    #[test]
    fn bad_arguments_are_named() {
        let msg = |extra: &[&str]| args(extra).expect_err("rejected").0;
        assert!(msg(&["127.0.0.1:4433", "--start-cid", "xyz"]).contains("non-hex"));
        assert!(msg(&["127.0.0.1:4433", "--start-cid", "000102030405060708090a0b"]).contains("12 bytes"));
        assert!(msg(&["127.0.0.1:4433", "--start-cid", "0011"]).contains("at least 8"));
        assert!(msg(&["127.0.0.1:4433", "--count", "0"]).contains("--count 0"));
        assert!(msg(&["127.0.0.1:4433", "--concurrency", "0"]).contains("--concurrency 0"));
        assert!(msg(&["127.0.0.1:4433", "--checkpoint-every", "0"]).contains("--checkpoint-every 0"));
        assert!(msg(&["127.0.0.1:4433", "--ca", "/nonexistent/ca.pem"]).contains("/nonexistent/ca.pem"));
        assert!(msg(&["no-such-host.invalid:4433"]).contains("cannot resolve"));
        assert!(msg(&["127.0.0.1"]).contains("host:port"));
        assert!(msg(&["--count", "5"]).contains("SERVER is missing"));
        assert!(msg(&["127.0.0.1:http"]).contains("not a port"));
        assert!(msg(&["127.0.0.1:4433", "--duration=0"]).contains("--duration"));
        assert!(msg(&["127.0.0.1:4433", "--concurrency", "many"]).contains("auto"));
        assert!(msg(&["127.0.0.1:4433", "--busy-timeout", "0"]).contains("--busy-timeout 0"));
        assert!(msg(&["127.0.0.1:4433", "--busy-timeout", "nan"]).contains("--busy-timeout"));
    }

    #[test]
    fn pacing_options() {
        let c = args(&["127.0.0.1:4433", "--concurrency", "auto", "--busy-timeout", "2.5", "--fixed-idle"]).unwrap();
        assert_eq!((c.concurrency, c.auto_concurrency), (pacing::AUTO_START, true));
        assert_eq!(c.busy_timeout, Duration::from_millis(2500));
        assert!(c.fixed_idle);
        let c = args(&["127.0.0.1:4433", "--concurrency", "64"]).unwrap();
        assert_eq!((c.concurrency, c.auto_concurrency, c.fixed_idle), (64, false, false));
        assert_eq!(c.busy_timeout, Duration::from_secs(60));
    }

    #[test]
    fn replay_is_one_connection() {
        let c =
            args(&["replay", "--cid", "cac106eb3b28bca3", "--seq", "1", "--mode", "clean", "127.0.0.1:4433"]).unwrap();
        assert_eq!(
            (c.start_cid.to_hex().as_str(), c.start_seq, c.count, c.concurrency),
            ("cac106eb3b28bca3", 1, Some(1), 1)
        );
        assert!(args(&["replay", "--cid", "01", "127.0.0.1:4433"]).unwrap_err().0.contains("--cid"));
        assert!(args(&["replay", "127.0.0.1:4433"]).is_err(), "--cid is required");
    }

    #[test]
    fn leak_options() {
        use fuzz_shared::leak::LeakRule;
        let rule = |extra: &[&str]| {
            let mut a = vec!["127.0.0.1:4433"];
            a.extend_from_slice(extra);
            args(&a).map(|c| c.findings.expect("a campaign keeps going").leak)
        };
        assert_eq!(rule(&[]).unwrap(), LeakRule { limit_kb: Some(1 << 20), per_conn_bytes: None }, "1G by default");
        assert_eq!(rule(&["--leak-limit", "256M"]).unwrap().limit_kb, Some(256 << 10));
        assert_eq!(rule(&["--leak-limit", "off"]).unwrap(), LeakRule::default());
        let both = rule(&["--leak-limit", "off", "--leak-per-conn", "16K"]).unwrap();
        assert_eq!(both, LeakRule { limit_kb: None, per_conn_bytes: Some(16 << 10) });
        for bad in [&["--leak-limit", "lots"][..], &["--leak-limit", "0"], &["--leak-per-conn", "1X"]] {
            let e = rule(bad).unwrap_err().0;
            assert!(e.contains(bad[0]) && e.contains("256M"), "{e}");
        }
        let bisect = |extra: &[&str]| {
            let mut argv = vec!["fuzz-client", "bisect", "--from", "cac106eb3b28bca3", "--until", "5"];
            argv.extend_from_slice(extra);
            argv.extend(["--server-cmd", "srv", "127.0.0.1:4433"]);
            let owned = argv.iter().map(|s| s.to_string()).collect();
            match Cli::try_parse_from(&argv).map_err(|e| UsageError(e.to_string()))?.into_job(owned)? {
                Job::Bisect(b) => Ok::<_, UsageError>(b.leak_kb),
                _ => panic!("a bisect"),
            }
        };
        assert_eq!(bisect(&[]).unwrap(), None);
        assert_eq!(bisect(&["--leak", "4M"]).unwrap(), Some(4096));
        assert!(bisect(&["--leak", "many"]).unwrap_err().0.contains("--leak"));
    }

    #[test]
    fn bisect_and_supervision_options() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["fuzz-client"];
            argv.extend_from_slice(extra);
            let owned = argv.iter().map(|s| s.to_string()).collect();
            Cli::try_parse_from(&argv).map_err(|e| UsageError(e.to_string()))?.into_job(owned)
        };
        let Ok(Job::Bisect(b)) = parse(&[
            "bisect",
            "--from",
            "cac106eb3b28bca3",
            "--from-seq",
            "1",
            "--until",
            "d92435637f25b264",
            "--server-cmd",
            "srv",
            "--log",
            "b.jsonl",
            "127.0.0.1:4433",
        ]) else {
            panic!("a good bisect command")
        };
        assert_eq!((b.from_seq, b.count, b.tries, b.base.concurrency), (1, 3, 2, 16));
        assert_eq!(b.base.log, None, "trials log to <log>.trial-N, not to the base log");
        assert_eq!(b.log.as_deref(), Some(std::path::Path::new("b.jsonl")));
        let err = |extra: &[&str]| match parse(extra) {
            Err(e) => e.0,
            Ok(_) => panic!("{extra:?} accepted"),
        };
        assert!(
            err(&["bisect", "--from", "cac106eb3b28bca3", "--until", "5", "127.0.0.1:4433"]).contains("--server-cmd")
        );
        assert!(err(&["bisect", "--from", "01", "--until", "5", "--server-cmd", "s", "h:1"]).contains("--from"));
        assert!(err(&["bisect", "--from", "cac106eb3b28bca3", "--until", "x", "--server-cmd", "s", "h:1"])
            .contains("--until"));
        assert!(err(&["127.0.0.1:4433", "--server-cmd", " "]).contains("--server-cmd is empty"));
        assert!(err(&["127.0.0.1:4433", "--server-cmd", "s", "--server-start-timeout", "0"]).contains("timeout"));
        assert!(err(&["127.0.0.1:4433", "--resume-from", "x.jsonl", "--start-cid", "0123456789abcdef"])
            .contains("cannot be used with"));
        let Ok(Job::Campaign { server: Some(server), .. }) =
            parse(&["127.0.0.1:4433", "--server-cmd", "srv --listen 127.0.0.1:4433", "--log", "r.jsonl"])
        else {
            panic!("a supervised campaign")
        };
        assert_eq!(server.stderr_copy.as_deref(), Some(std::path::Path::new("r.jsonl.server-stderr")));
    }

    #[test]
    fn ipv6_and_sni() {
        let (addr, host) = resolve_server("[::1]:4433").unwrap();
        assert_eq!(addr.port(), 4433);
        assert_eq!(host, "::1");
        assert_eq!(default_sni("::1"), "localhost");
        assert_eq!(default_sni("quic.example"), "quic.example");
    }
}
