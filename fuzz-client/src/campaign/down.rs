//! The server found down: how it died, the finding's window, the crash capture of the flight
//! recorder, `server_down` with the commands that restart and bisect, and the finding recorded.

use super::{CampaignConfig, CampaignEnd, CampaignResult, Log, ServerWatch, PROBE_SEQ};
use crate::findings::store::{self, FindingStore};
use crate::findings::{Occurrence, Recorded};
use crate::quic::conn_state::ConnShared;
use crate::quic::flight::{Bounds, Flight};
use crate::triage::capture::{self, CaptureFlow, FlowLabel};
use crate::triage::repro;
use fuzz_shared::{Cid, Event, Mode};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// [`StartDeath::killed_by_clean_traffic`]: `answered` (the server sent the probes something),
/// `cause` how it died ([`super::supervise::describe_exit`]).
pub(super) fn clean_traffic_killed(answered: bool, cause: Option<&str>) -> bool {
    answered || cause.is_some_and(|c| c.starts_with("killed by signal"))
}

/// A server that died of a clean start-up probe: clean traffic kills it.
pub struct StartDeath {
    /// The probe that was running when it died (from the probe domain, never fuzzed).
    pub probe_cid: Cid,
    /// The flight recorder's connections at that moment (the start-up probes), for the crash
    /// capture, and how many received datagrams it could attribute to none.
    pub flights: (Vec<Flight<Arc<ConnShared>>>, u64),
}

impl StartDeath {
    /// Whether the probes' traffic is what killed the server, rather than a server that never
    /// started (a bad option, a busy port): it answered a probe before it died, or it died of a
    /// signal (a crash on the first ClientHello it received) rather than with an exit status.
    pub fn killed_by_clean_traffic(&self, cause: Option<&str>) -> bool {
        let answered = self.flights.0.iter().any(|f| f.meta.stats.lock().expect("stats").received > 0);
        clean_traffic_killed(answered, cause)
    }

    /// What the probe's own stack did that the server may have tripped on, as a knob that
    /// avoids it: a probe whose last exchange was its handshake CID rotation (a NEW_CONNECTION_ID
    /// with Retire Prior To > 0, RFC 9000 §5.1.2), after which the server sent nothing. Read
    /// from the client's own events (what it sent, and when it last heard from the server), not
    /// by decrypting the capture.
    pub fn hint(&self) -> Option<String> {
        let probe = self.flights.0.iter().find(|f| f.meta.cid == self.probe_cid)?;
        let (seq, rpt) = probe.meta.stats.lock().expect("stats").silent_after_retiring()?;
        Some(format!(
            "the last thing the probe sent before the server fell silent was its handshake connection ID rotation \
             (NEW_CONNECTION_ID sequence {seq} with Retire Prior To {rpt}, RFC 9000 §5.1.2): try \
             --handshake-cid-rotation off"
        ))
    }
}

/// How the server died, as far as the client knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Death {
    /// Exit status or signal, in words (`killed by signal 6 (SIGABRT)`).
    pub cause: Option<String>,
    /// The last lines of its stderr.
    pub stderr_tail: Vec<String>,
    /// Its stderr as far as the supervisor kept it (the last [`super::REPORT_LINES`] lines): a whole
    /// sanitizer report, for the finding's signature and folder.
    pub report: Vec<String>,
    /// A server alive but not answering: its CPU use while the client waited for it to exit,
    /// in percent of one core. Near 100: hung in a loop; near 0: deadlocked or stopped.
    pub cpu_percent: Option<u32>,
}

/// A death of the server as recorded: `server_down` (and `finding`) logged, the crash capture
/// written, the finding counted.
pub(super) struct DownRecord {
    pub(super) repro: String,
    pub(super) bisect: Option<String>,
    pub(super) death: Death,
    pub(super) crash_pcap: Option<PathBuf>,
    pub(super) finding: Option<Recorded>,
}

/// Where the server went down: the last checkpoint (or the fresh server's start) and the next
/// seq to launch; connections between them are the finding's window.
#[derive(Clone, Copy, Debug)]
pub(super) struct Window {
    pub(super) from: (u64, Cid),
    pub(super) end: u64,
    /// The first connection the server that went down saw: where the history of a death that
    /// needs accumulated state starts.
    pub(super) server_from: (u64, Cid),
}

/// Records a death of the server: how it died (waiting a moment for a dying server's report),
/// the crash capture of the flight recorder's connections at that moment, `server_down` with
/// the commands that restart and bisect, and, for a campaign, the finding it is. `busy_down`:
/// why a server still alive was called down (busy, or a leak), its cause unless it exited.
#[allow(clippy::too_many_arguments)]
pub(super) async fn record_down(
    c: &CampaignConfig,
    log: &mut Log,
    watch: &mut dyn ServerWatch,
    store: Option<&mut FindingStore>,
    (flights, unattributed): (Vec<Flight<Arc<ConnShared>>>, u64),
    window: Window,
    concurrency: usize,
    busy_down: Option<String>,
) -> anyhow::Result<DownRecord> {
    let (seq, cid) = window.from;
    // A replay reproduces itself; a campaign restarts at its last checkpoint.
    let repro = if c.replay {
        repro::command_line(&c.argv)
    } else {
        match &c.shard {
            Some(shard) => repro::shard_restart_command(&c.argv, shard, c.start_seq, c.count, seq),
            None => repro::restart_command(&c.argv, c.start_seq, c.count, seq, &cid),
        }
    };
    // Bisect the connections started since the checkpoint, at the concurrency they ran at
    // (the one in force when the server went down: `auto`'s too is a number then).
    let bisect = (!c.replay && window.end > seq)
        .then(|| repro::bisect_command(&c.argv, seq, &cid, window.end - seq, concurrency));
    // A leak's bisect looks for the connections that grow a fresh server's memory.
    let leak_kb = busy_down.as_deref().and_then(fuzz_shared::leak::trial_threshold_of_cause);
    let bisect = match (bisect, leak_kb) {
        (Some(_), Some(kb)) => {
            let mut argv = repro::bisect_argv(&c.argv, seq, &cid, window.end - seq, concurrency);
            argv.splice(2..2, ["--leak".to_string(), format!("{kb}K")]);
            Some(repro::command_line(&argv))
        }
        (bisect, _) => bisect,
    };
    let mut death = watch.death().await;
    if let Some(why) = busy_down {
        // Alive but refusing: unless it exited meanwhile, that is the cause.
        let exited = death.cause.as_deref().is_some_and(|c| c.starts_with("exit") || c.starts_with("killed"));
        if !exited {
            death.cause = Some(why);
        }
    }
    let crash_pcap = c.crash_pcap.as_deref().and_then(|path| {
        let header = crash_header(c, &death, (seq, &cid), flights.len(), unattributed);
        match write_crash_pcap(path, &header, &flights) {
            Ok(()) => Some(path.to_path_buf()),
            Err(e) => {
                tracing::warn!("the crash capture {} could not be written: {e}", path.display());
                None
            }
        }
    });
    log.write(Event::ServerDown {
        last_checkpoint_seq: seq,
        last_checkpoint_cid: cid,
        repro: repro.clone(),
        bisect: bisect.clone(),
        cause: death.cause.clone(),
        cpu_percent: death.cpu_percent,
        stderr_tail: death.stderr_tail.clone(),
        crash_pcap: crash_pcap.as_ref().map(|p| p.display().to_string()),
    })?;
    let finding = match store {
        Some(store) => {
            let signature = fuzz_shared::signature::signature(death.cause.as_deref(), &death.report);
            let occurrence = Occurrence {
                at: fuzz_shared::log::timestamp(std::time::SystemTime::now()),
                cause: death.cause.clone(),
                window_seq: seq,
                window_cid: cid,
                window_end: window.end,
                server_seq: Some(window.server_from.0),
                server_cid: Some(window.server_from.1),
                concurrency,
            };
            let recorded = store
                .record(store::Death {
                    signature,
                    occurrence,
                    target: &c.target,
                    campaign: &c.argv,
                    restart: repro.clone(),
                    bisect: bisect.clone(),
                    stderr: &death.report,
                    crash_pcap: crash_pcap.as_deref(),
                })
                .map_err(|e| anyhow::anyhow!("recording the finding in {}: {e}", store.dir().display()))?;
            log.write(Event::Finding {
                id: recorded.id.clone(),
                kind: recorded.kind.clone(),
                summary: recorded.summary.clone(),
                new: recorded.new,
                count: recorded.count,
                dir: Some(recorded.dir.display().to_string()),
                window_seq: seq,
                window_cid: cid,
                window_end: window.end,
                cause: death.cause.clone(),
            })?;
            Some(recorded)
        }
        None => None,
    };
    Ok(DownRecord { repro, bisect, death, crash_pcap, finding })
}

/// A supervised server that died of the clean start-up probe before any connection of the
/// campaign ran: clean traffic kills it. A finding like any other ([`record_down`] with an empty
/// window: the stderr report, the crash capture of the probes, `server_down` and `finding` in the
/// log), whose verdict is known without a triage: the probe's connection is the culprit and it
/// has no decisions. The verdict names the probe's CID and, when the client saw what the server
/// tripped on, the knob that avoids it ([`StartDeath::hint`]).
pub(super) async fn record_start_death(
    c: &CampaignConfig,
    log: &mut Log,
    watch: &mut dyn ServerWatch,
    dead: StartDeath,
) -> anyhow::Result<CampaignResult> {
    let started = Instant::now();
    let mut store = match &c.findings {
        Some(f) => Some(FindingStore::open(&f.dir)?),
        None => None,
    };
    let hint = dead.hint();
    let probe_cid = dead.probe_cid;
    let window = Window { from: (c.start_seq, c.start_cid), end: c.start_seq, server_from: (c.start_seq, c.start_cid) };
    let record = record_down(c, log, watch, store.as_mut(), dead.flights, window, c.concurrency, None).await?;
    let cause = record.death.cause.as_deref().unwrap_or("it stopped answering");
    let mut detail = format!(
        "clean traffic kills the server: it died ({cause}) of the clean start-up probe {probe_cid}, a connection \
         that mutates nothing, before the campaign ran a connection"
    );
    if let Some(hint) = &hint {
        detail.push_str("; ");
        detail.push_str(hint);
    }
    tracing::warn!("{detail}");
    if let (Some(store), Some(f)) = (store.as_mut(), record.finding.as_ref().filter(|f| f.new)) {
        // The campaign's own command reproduces it: its first probe kills a fresh server.
        let reproduce = record.repro.clone();
        store::write_reproduce_script(&f.dir, &format!("{}\n{detail}", f.summary), &reproduce)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", f.dir.display()))?;
        let triage = crate::findings::record::Triage {
            verdict: "clean_traffic_kills".into(),
            detail,
            culprit_seq: None,
            culprit_cid: Some(probe_cid),
            history_seq: None,
            history_count: None,
            history_seqs: Vec::new(),
            decisions: Vec::new(),
            reproduce: Some(reproduce),
            trials: 0,
            elapsed_s: started.elapsed().as_secs_f64(),
        };
        store
            .update(&f.id, |r| r.triage = Some(triage))
            .map_err(|e| anyhow::anyhow!("recording the finding in {}: {e}", store.dir().display()))?;
    }
    let elapsed = started.elapsed();
    log.write(Event::RunEnd {
        connections: 0,
        fuzzed_connections: 0,
        elapsed_s: elapsed.as_secs_f64(),
        conn_per_s: 0.0,
        server_up: false,
    })?;
    let DownRecord { repro, bisect, death, crash_pcap, finding } = record;
    Ok(CampaignResult {
        end: CampaignEnd::ServerDown { repro, bisect, death, crash_pcap },
        connections: 0,
        elapsed,
        findings: finding.into_iter().collect(),
        restarts: 0,
    })
}

/// The section comment of a crash capture: the run, the server's death, the bounds, and the
/// culprit when the run had a single connection (`replay`, a bisect trial of one).
pub(super) fn crash_header(
    c: &CampaignConfig,
    death: &Death,
    last_cp: (u64, &Cid),
    connections: usize,
    unattributed: u64,
) -> String {
    let b = Bounds::CLIENT;
    let mut lines = vec![
        format!("fuzz-client {}: {}", fuzz_shared::VERSION, repro::command_line(&c.argv)),
        format!(
            "server {} ({}): {}",
            c.target,
            c.server,
            death.cause.as_deref().unwrap_or("stopped answering clean probes")
        ),
        format!(
            "run from cid {} (seq {}), last checkpoint seq {} cid {}",
            c.start_cid, c.start_seq, last_cp.0, last_cp.1
        ),
        format!(
            "{connections} connections: those in flight and the last {} that ended; of each the first {} and the last {} \
             datagrams; received datagrams attributed to none: {unattributed}",
            b.ended, b.head, b.tail
        ),
        "client ports: 10000 + seq mod 50000, probes 60000 + n (on the wire all shared one socket)".to_string(),
    ];
    if c.count == Some(1) {
        lines.push(format!("{} (the only connection of the run)", capture::culprit_line(c.start_seq, &c.start_cid)));
    }
    lines.join("\n")
}

/// Writes the flight recorder's connections as a pcapng capture at `path`.
pub(super) fn write_crash_pcap(path: &Path, header: &str, flights: &[Flight<Arc<ConnShared>>]) -> std::io::Result<()> {
    let flows: Vec<CaptureFlow> = flights
        .iter()
        .map(|f| {
            let conn = &f.meta;
            let stats = conn.stats.lock().expect("stats");
            let fuzzer = stats.fuzzer.as_ref();
            let mode = if fuzzer.is_some() { Mode::Fuzz } else { Mode::Clean };
            let decisions = fuzzer
                .map_or(&[][..], |f| f.decisions())
                .iter()
                .map(|d| serde_json::to_string(d).unwrap_or_default())
                .collect();
            drop(stats);
            CaptureFlow {
                label: FlowLabel {
                    seq: (conn.seq != PROBE_SEQ).then_some(conn.seq),
                    cid: conn.cid,
                    fuzz_state: conn.plan.fuzz_state,
                    mode,
                    decisions,
                },
                server: f.server,
                local_ip: f.local.ip(),
                datagrams: f.datagrams().cloned().collect(),
                skipped: f.skipped,
            }
        })
        .collect();
    let file = std::io::BufWriter::new(File::create(path)?);
    capture::write_capture(file, header, &flows)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_never_started_is_not_killed_by_clean_traffic() {
        // It answered a probe, then died: the probes' traffic did it, however it died.
        assert!(clean_traffic_killed(true, Some("killed by signal 6 (SIGABRT)")));
        assert!(clean_traffic_killed(true, Some("exit status 1")));
        // Nothing answered: a crash on the first ClientHello, or a server that never started.
        assert!(clean_traffic_killed(false, Some("killed by signal 11 (SIGSEGV)")));
        assert!(!clean_traffic_killed(false, Some("exit status 2")), "a bad option or a busy port");
        assert!(!clean_traffic_killed(false, None));
    }
}
