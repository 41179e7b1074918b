//! The run log: JSON lines, one event a line, appended and flushed as each event happens.
//!
//! A crash of the fuzzer, of the server, or a `kill -9` leaves every line written before it whole,
//! so the log is always usable to find the last checkpoint. The schema is documented in the
//! README; every line has `ts` (RFC 3339, UTC, milliseconds), `event` and `role`.

use crate::cid::Cid;
use crate::plan::ConnectionPlan;
use crate::seed::Role;
use serde::{Deserialize, Serialize};
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
        }
    }
}

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
        /// A human-readable reason for the outcome, where there is more to say.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
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
    RunEnd {
        connections: u64,
        fuzzed_connections: u64,
        elapsed_s: f64,
        conn_per_s: f64,
        server_up: bool,
    },
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
    fn lines_round_trip_and_have_common_fields() {
        let cid: Cid = "0123456789abcdef".parse().unwrap();
        let mut w = LogWriter::new(Vec::new(), Role::Client);
        w.write(Event::CidStart { seq: 0, cid, plan: ConnectionPlan::from_cid(&cid, Role::Client) }).unwrap();
        w.write(Event::Checkpoint { seq: 50, cid, server_up: true, probe_ms: 3, server_rss_kb: None }).unwrap();
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
    fn a_torn_last_line_is_skipped_but_a_torn_middle_line_is_an_error() {
        let good = r#"{"ts":"2026-01-01T00:00:00.000Z","role":"server","event":"run_end","connections":1,"fuzzed_connections":0,"elapsed_s":1.0,"conn_per_s":1.0,"server_up":true}"#;
        let torn = format!("{good}\n{}", &good[..40]);
        assert_eq!(read_log(torn.as_bytes()).unwrap().len(), 1);
        let middle = format!("{}\n{good}\n", &good[..40]);
        assert!(read_log(middle.as_bytes()).unwrap_err().to_string().contains("line 1"));
    }
}
