//! The run log: JSON lines, one event a line, appended and flushed as each event happens.
//!
//! A crash of the fuzzer, of the server, or a `kill -9` leaves every line written before it whole,
//! so the log is always usable to find the last checkpoint. The schema is documented in the
//! README; every line has `ts` (RFC 3339, UTC, milliseconds), `event` and `role`.

use crate::cid::Cid;
use crate::content::ContentId;
use crate::plan::{ConnectionPlan, ResumeRate};
use crate::seed::Role;
use crate::shard::ShardInfo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::time::SystemTime;

/// Whether a run mutates packets. A clean run makes the same connections with the same plans
/// and requests, and mutates nothing: a baseline for speed, and a check that failures are ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Fuzz,
    Clean,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Fuzz => "fuzz",
            Mode::Clean => "clean",
        }
    }
}

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything planned happened, and the connection was closed by the end that logs this.
    Completed,
    /// The peer closed the connection (with `error_code`), or reset it.
    PeerClosed,
    /// This end closed the connection because of an error it detected (with `error_code`).
    LocalClosed,
    /// The handshake did not complete.
    HandshakeFailed,
    /// The peer fell silent for longer than the idle limit.
    Timeout,
    /// The peer refused the connection before any handshake (for example an ICMP error).
    Refused,
    /// Every request got an answer, but one was not what was asked: a reset stream, a truncated
    /// or oversized body, an HTTP/3 response without a status or a malformed one (the client's
    /// answer checks, fuzz-client/src/quic/answer.rs). It can be a server bug.
    WrongAnswer,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::PeerClosed => "peer_closed",
            Self::LocalClosed => "local_closed",
            Self::HandshakeFailed => "handshake_failed",
            Self::Timeout => "timeout",
            Self::Refused => "refused",
            Self::WrongAnswer => "wrong_answer",
        }
    }

    /// Whether the server answered every request, rightly or not: what a probe asks of it (a
    /// wrong answer, such as a reset for a path it does not have, still shows it up).
    pub fn answered(self) -> bool {
        matches!(self, Self::Completed | Self::WrongAnswer)
    }
}

/// How a `cid_end`'s detail starts when the client itself closed the connection, on an error it
/// detected in what the server sent (fuzz-client's connection classifier writes it). A
/// `handshake_failed` with a code and another detail is the server's close.
pub const LOCAL_ERROR: &str = "local error";

/// How a connection ended, as its `cid_end` says it: what the RFC oracle and the differential
/// table judge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ending<'a> {
    pub outcome: Outcome,
    pub error_code: Option<u64>,
    pub detail: Option<&'a str>,
}

impl Ending<'_> {
    /// The code the server closed the connection with, when the server closed it: after the
    /// handshake (`peer_closed`), during it (`handshake_failed` without [`LOCAL_ERROR`]), or
    /// before it (`refused`, CONNECTION_REFUSED).
    pub fn peer_close_code(&self) -> Option<u64> {
        match self.outcome {
            Outcome::PeerClosed | Outcome::Refused => self.error_code,
            Outcome::HandshakeFailed if !self.detail.unwrap_or_default().starts_with(LOCAL_ERROR) => self.error_code,
            _ => None,
        }
    }
}

/// Whether a peer's close code says the peer itself broke: RFC 9000 §20.1, "INTERNAL_ERROR
/// (0x01): The endpoint encountered an internal error and cannot continue with the connection",
/// and its TLS twin, the internal_error alert (80) as a CRYPTO_ERROR (RFC 9001 §4.8: 0x0100 +
/// the alert). Other codes answer what the fuzzer sent (a PROTOCOL_VIOLATION for a mangled
/// frame is the peer doing its job); these point at a bug in the peer.
pub fn is_internal_error(transport_code: u64) -> bool {
    transport_code == 0x01 || transport_code == 0x0100 + 80
}

/// The session resumption of a connection whose plan resumes (RFC 8446 §2.2): its priming
/// connection, whether it offered the ticket that one got, and whether the server took it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resumption {
    /// The clean priming connection's CID ([`crate::chain::prime`] of the connection's).
    pub prime_cid: Cid,
    /// How the priming connection ended (`completed` once it has a ticket).
    pub prime_outcome: Outcome,
    /// Whether the connection offered a session ticket: the priming connection got one.
    pub offered: bool,
    /// Whether the server's ServerHello accepted the ticket (RFC 8446 §4.2.11: it selects the
    /// offered PSK); `None` when the connection never received a whole ServerHello.
    pub accepted: Option<bool>,
}

/// A connection's mutated contents, each with the operators of its decisions
/// ([`crate::fuzzer::ConnectionFuzzer::mutated`]).
pub type MutatedContents = BTreeMap<ContentId, Vec<String>>;

/// One line of the run log, without the `ts` and `role` every line carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStart {
        /// The first CID of the chain (client); null on the server, which follows its clients.
        start_cid: Option<Cid>,
        /// The sequence number of `start_cid`: 0 unless a restart keeps an earlier numbering.
        #[serde(default)]
        start_seq: u64,
        /// The server address (client) or the listening address (server).
        target: String,
        mode: Mode,
        /// The version of the CID derivations ([`crate::chain::DERIVATION`]).
        derivation: String,
        /// The version of the program that wrote the log.
        version: String,
        /// The command line, program name first.
        args: Vec<String>,
        /// Faults planted in the server on purpose (test aids); empty for real runs.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        planted_faults: Vec<String>,
        /// The client's share of resuming plans (`--resume-rate`), an input of the derivation;
        /// absent on the server. Logs written before it existed ran at the default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume_rate: Option<ResumeRate>,
        /// The shard of a campaign this run is (`--shard I/N`): root, index, count, first CID.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shard: Option<ShardInfo>,
        /// The client's pacing at the start (absent on the server).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pacing: Option<Pacing>,
        /// What the client's own stack does on every connection (module [`crate::knobs`]);
        /// absent on the server, and in logs written before the knobs existed, which ran with
        /// the defaults.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_knobs: Option<crate::knobs::ClientKnobs>,
        /// The ALPN the client offers (`--alpn`), an input of the derivation: an HTTP/3
        /// client's plans differ ([`crate::plan::Inputs`]). Absent on the server, and in logs
        /// written before it was logged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alpn: Option<String>,
        /// With a corpus (`--coverage`, `--corpus-from`): the period of its generations, the
        /// campaign's checkpoint period ([`crate::coverage::corpus::Generations`]). A log's
        /// corpus is read with it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        corpus_every: Option<u64>,
    },
    CidStart {
        seq: u64,
        cid: Cid,
        plan: ConnectionPlan,
    },
    CidEnd {
        seq: u64,
        cid: Cid,
        outcome: Outcome,
        /// The QUIC or application error code of a close, when there was one.
        error_code: Option<u64>,
        /// Packets this end mutated.
        fuzzed_packets: u64,
        /// Packets this end sent (fuzzed or not), where known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sent_packets: Option<u64>,
        /// 16 hex digits over the mutation decisions (not the bytes); see [`crate::mutate::digest()`].
        mutation_digest: String,
        duration_ms: u64,
        /// The operator families of this end's mutation decisions (`field`, `insert`, `tls`,
        /// ...: an operator's name up to its `:`), each once, sorted; absent when it mutated
        /// nothing. A campaign report groups outcomes by them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        operators: Vec<String>,
        /// The contents this end mutated ([`crate::content::ContentId`], `initial/crypto@0`),
        /// each with its decisions' operators in the order applied: what `replay --only` and
        /// `minimize` name. Absent when it mutated nothing, and in logs written before it.
        #[serde(default, skip_serializing_if = "MutatedContents::is_empty")]
        mutated: MutatedContents,
        /// A human-readable reason for the outcome, where there is more to say.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// How the session resumption of a resuming plan went; absent for other plans.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resumption: Option<Resumption>,
        /// The RFC oracle's verdict on the server's reaction ([`crate::oracle`]), for a client's
        /// connection all of whose decisions fall under one rule; absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verdict: Option<crate::oracle::Verdict>,
    },
    Checkpoint {
        /// Every connection with a lower sequence number has finished...
        seq: u64,
        /// ... and restarting at this CID repeats the campaign from `seq` on.
        cid: Cid,
        /// A clean probe connection made after them succeeded.
        server_up: bool,
        probe_ms: u64,
        /// The supervised server's resident memory, when the client started the server itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server_rss_kb: Option<u64>,
        /// The client's pacing in force when the checkpoint was confirmed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pacing: Option<Pacing>,
        /// With `--coverage`: the edges of the server's code covered since the campaign began
        /// ([`crate::coverage`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        edges: Option<u64>,
        /// With `--coverage`: the corpus's size (entries joined since the campaign began).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        corpus: Option<u64>,
    },
    /// With `--coverage`: connection `seq` reached new coverage and joined the corpus
    /// ([`crate::coverage::corpus`]), logged when it is credited, so that the log holds every
    /// entry a later connection can be the child of.
    CorpusEntry {
        seq: u64,
        cid: Cid,
        /// Its ancestors, root first (empty: a blind connection).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        lineage: Vec<Cid>,
        new_edges: u64,
        new_counts: u64,
    },
    /// The server refused a connection (CONNECTION_REFUSED) or answered clean probes only with a
    /// close: it is alive but busy. Launching pauses until a clean probe completes.
    ServerBusy {
        /// What the client saw, in words.
        seen: String,
        /// The next sequence number to launch (launching paused before it).
        next_seq: u64,
        /// Connections in flight then.
        in_flight: u64,
        /// The concurrency in force from now on (lowered).
        concurrency: usize,
        /// How long the client waits before its next probe.
        wait_ms: u64,
    },
    /// A clean probe completed after a busy period: launching resumes.
    ServerReady {
        /// How long the server was busy.
        busy_ms: u64,
        /// Connections refused during the busy period (each is retried with the same CID).
        refused: u64,
        /// Probes made during the busy period (the successful one included).
        probes: u64,
        /// The concurrency in force from now on.
        concurrency: usize,
    },
    ServerDown {
        last_checkpoint_seq: u64,
        last_checkpoint_cid: Cid,
        /// The command line that restarts the campaign at the last checkpoint.
        repro: String,
        /// The command line that bisects the connections started since the last checkpoint down
        /// to the culprit, at the campaign's concurrency.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bisect: Option<String>,
        /// How the server died, when the client supervises it: exit status or signal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<String>,
        /// A supervised server alive but silent: its CPU use meanwhile, in percent of one core
        /// (a `hung` cause: near 100).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cpu_percent: Option<u32>,
        /// The last lines of the supervised server's stderr (sanitizer reports live there).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        stderr_tail: Vec<String>,
        /// The flight recorder's capture of the last connections (pcapng): what the server
        /// received just before it went down. Absent when it could not be written.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        crash_pcap: Option<String>,
    },
    /// The server went down and the death was recorded as a finding (a folder of the findings
    /// directory): a new bug, or one seen before (same signature), counted again.
    Finding {
        /// The finding's signature id (16 hex digits, [`crate::signature`]).
        id: String,
        /// The signature's class (`asan:heap-buffer-overflow`, `assertion`, `hang`, ...).
        kind: String,
        /// One line for people.
        summary: String,
        /// First seen now (`true`), or seen before.
        new: bool,
        /// How often it has been seen, this time included.
        count: u64,
        /// Its folder (`finding.json`, the server's stderr report, the crash capture).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dir: Option<String>,
        /// The window: connections `window_seq..window_end` (from the CID `window_cid`) ran
        /// against this server since the last checkpoint or its start; one of them, or all of
        /// them together, did it.
        window_seq: u64,
        window_cid: Cid,
        window_end: u64,
        /// How the server died, in words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<String>,
    },
    /// After a finding the client started a fresh server, which answered a clean probe: the
    /// campaign goes on at `seq` (`cid`). The connections in flight when the server went down
    /// were the finding's window and are not run again.
    ServerRestarted {
        seq: u64,
        cid: Cid,
        /// The finding that took the previous server down.
        finding: String,
        /// How many times the campaign has restarted the server so far.
        restarts: u64,
    },
    /// The chain runs into CIDs already run ([`crate::shard::RepeatDetector`]): the campaign
    /// stops starting connections, since every further one would repeat earlier work.
    ChainRepeat {
        seq: u64,
        cid: Cid,
        /// What it repeats, in words.
        detail: String,
        /// Its own cycle: the seq at which it ran this CID before.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_seq: Option<u64>,
        /// Another shard's start: that shard's index.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shard_start_of: Option<u32>,
    },
    RunEnd {
        connections: u64,
        fuzzed_connections: u64,
        elapsed_s: f64,
        conn_per_s: f64,
        server_up: bool,
    },
}

/// The client's pacing in force: how many connections may be in flight and how long they wait
/// for the server. Timing only: the CIDs, plans and mutation decisions do not depend on it, but
/// when a connection gives up (and so which of its contents it gets to send) does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pacing {
    /// Connections allowed in flight at once.
    pub concurrency: usize,
    /// `--concurrency auto`: the client adapts `concurrency` to the server.
    #[serde(default)]
    pub auto: bool,
    /// The silence (ms) after which a connection is abandoned.
    pub idle_ms: u64,
    /// The longest a handshake may take (ms).
    pub handshake_ms: u64,
    /// The clean probes' smoothed handshake time (ms) the limits were fitted to, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_handshake_ms: Option<u64>,
    /// How long the server was lately silent in completed connections (ms; the 90th percentile
    /// of their longest waits between two packets), which the idle limit also fits, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence_ms: Option<u64>,
    /// The server's idle timeout (ms) from its transport parameters (RFC 9000 §18.2
    /// max_idle_timeout), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_idle_ms: Option<u64>,
}

/// A whole line: the event with its time and the role of the program that wrote it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub ts: String,
    pub role: Role,
    #[serde(flatten)]
    pub event: Event,
}

/// RFC 3339 in UTC with milliseconds, as every log line's `ts`.
pub fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// Writes events as JSON lines to any writer, flushing after each line.
pub struct LogWriter<W: Write> {
    out: W,
    role: Role,
    buf: Vec<u8>,
}

impl<W: Write> LogWriter<W> {
    pub fn new(out: W, role: Role) -> Self {
        Self { out, role, buf: Vec::with_capacity(512) }
    }

    /// Appends one event, stamped now, and flushes it. The line is built whole first and
    /// written with a single call, so a crash never leaves half a line behind a whole one.
    pub fn write(&mut self, event: Event) -> io::Result<()> {
        let line = LogLine { ts: timestamp(SystemTime::now()), role: self.role, event };
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, &line).map_err(io::Error::other)?;
        self.buf.push(b'\n');
        self.out.write_all(&self.buf)?;
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Reads a run log back. A last line cut short by a crash is skipped; any other line that does
/// not parse is an error naming its line number.
pub fn read_log<R: BufRead>(input: R) -> io::Result<Vec<LogLine>> {
    let lines: Vec<String> = input.lines().collect::<io::Result<_>>()?;
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<LogLine>(line) {
            Ok(l) => out.push(l),
            Err(_) if i + 1 == lines.len() => break,
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("run log line {}: {e}", i + 1))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Role;

    #[test]
    fn internal_errors_are_the_peers_own() {
        assert!(is_internal_error(0x01) && is_internal_error(0x150), "INTERNAL_ERROR, TLS internal_error");
        for answer in [0x00, 0x02, 0x0a, 0x128, 0x12f, 0x151] {
            assert!(!is_internal_error(answer), "{answer:#x} answers what was sent");
        }
    }

    #[test]
    fn lines_round_trip_and_have_common_fields() {
        let cid: Cid = "0123456789abcdef".parse().unwrap();
        let mut w = LogWriter::new(Vec::new(), Role::Client);
        w.write(Event::CidStart { seq: 0, cid, plan: ConnectionPlan::from_cid(&cid, Role::Client) }).unwrap();
        w.write(Event::Checkpoint {
            seq: 50,
            cid,
            server_up: true,
            probe_ms: 3,
            server_rss_kb: None,
            pacing: None,
            edges: None,
            corpus: None,
        })
        .unwrap();
        let bytes = w.into_inner();
        let text = String::from_utf8(bytes.clone()).unwrap();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["role"], "client");
            let ts = v["ts"].as_str().unwrap();
            assert!(ts.ends_with('Z') && ts.len() == "2026-01-01T00:00:00.000Z".len(), "{ts}");
        }
        assert!(text.contains(r#""event":"cid_start""#));
        assert!(!text.contains("server_rss_kb"), "absent optional fields are left out");
        let lines = read_log(&bytes[..]).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(matches!(lines[1].event, Event::Checkpoint { seq: 50, .. }));
    }

    #[test]
    fn cid_end_names_the_mutated_contents_and_old_lines_still_read() {
        let old = r#"{"ts":"2026-01-01T00:00:00.200Z","role":"client","event":"cid_end","seq":0,"cid":"0123456789abcdef","outcome":"completed","error_code":null,"fuzzed_packets":1,"mutation_digest":"0000000000000000","duration_ms":20,"operators":["tls"]}"#;
        let line: LogLine = serde_json::from_str(old).unwrap();
        let Event::CidEnd { mutated, .. } = &line.event else { panic!("cid_end") };
        assert!(mutated.is_empty(), "a log written before `mutated` reads as none");
        let mut event = line.event.clone();
        if let Event::CidEnd { mutated, .. } = &mut event {
            mutated.insert("initial/crypto@0".parse().unwrap(), vec!["tls:alpn".into(), "havoc:flip_bit".into()]);
        }
        let text = serde_json::to_string(&event).unwrap();
        assert!(text.contains(r#""mutated":{"initial/crypto@0":["tls:alpn","havoc:flip_bit"]}"#), "{text}");
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), event);
        let none = serde_json::to_string(&line.event).unwrap();
        assert!(!none.contains("mutated"), "{none}");
    }

    #[test]
    fn wrong_answers_have_a_name_of_their_own_and_show_the_server_up() {
        assert_eq!(serde_json::to_string(&Outcome::WrongAnswer).unwrap(), r#""wrong_answer""#);
        assert_eq!(Outcome::WrongAnswer.as_str(), "wrong_answer");
        assert!(Outcome::WrongAnswer.answered() && Outcome::Completed.answered());
        for silent in [Outcome::Timeout, Outcome::HandshakeFailed, Outcome::PeerClosed, Outcome::Refused] {
            assert!(!silent.answered(), "{silent:?}");
        }
    }

    #[test]
    fn a_torn_last_line_is_skipped_but_a_torn_middle_line_is_an_error() {
        let good = r#"{"ts":"2026-01-01T00:00:00.000Z","role":"server","event":"run_end","connections":1,"fuzzed_connections":0,"elapsed_s":1.0,"conn_per_s":1.0,"server_up":true}"#;
        let torn = format!("{good}\n{}", &good[..40]);
        assert_eq!(read_log(torn.as_bytes()).unwrap().len(), 1);
        let middle = format!("{}\n{good}\n", &good[..40]);
        assert!(read_log(middle.as_bytes()).unwrap_err().to_string().contains("line 1"));
    }
}
