//! Human output on stderr: tracing lines, and a live progress bar when stderr is a terminal.
//!
//! The bar and the log lines share stderr: while a bar is shown, every tracing line is written
//! through `ProgressBar::suspend`, so lines never tear through the bar. Under the bar, a status
//! block in the spirit of AFL++'s status screen ([`super::status`]), refreshed at most 4 times a
//! second.

use crate::quic::connection::ConnReport;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::status::Status;
use fuzz_shared::Cid;

static BAR: OnceLock<ProgressBar> = OnceLock::new();

/// The campaign's progress display.
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    /// The status block's counters and when it was last drawn.
    status: Mutex<(Status, Duration)>,
}

impl Progress {
    /// A bar when `wanted` and stderr is a terminal; otherwise nothing but log lines.
    pub fn new(wanted: bool, count: Option<u64>) -> Self {
        let status = Mutex::new((Status::default(), Duration::ZERO));
        if !wanted || !std::io::stderr().is_terminal() {
            return Self { bar: None, started: Instant::now(), status };
        }
        let bar = match count {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        let template = if count.is_some() {
            "{elapsed_precise} [{bar:30}] {pos}/{len} conns\n{msg}"
        } else {
            "{elapsed_precise} {spinner} {pos} conns\n{msg}"
        };
        bar.set_style(ProgressStyle::with_template(template).expect("template").progress_chars("=> "));
        let _ = BAR.set(bar.clone());
        Self { bar: Some(bar), started: Instant::now(), status }
    }

    pub fn inc(&self, report: &ConnReport) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            let now = self.started.elapsed();
            let mut status = self.status.lock().expect("status");
            status.0.on_end(now, report.outcome, report.fuzzed_packets() > 0);
            self.redraw(bar, &mut status, now, false);
        }
    }

    /// A checkpoint was reached (with the supervised server's RSS when known).
    pub fn checkpoint(&self, seq: u64, cid: Cid, rss_kb: Option<u64>) {
        if let Some(bar) = &self.bar {
            let now = self.started.elapsed();
            let mut status = self.status.lock().expect("status");
            status.0.on_checkpoint(now, seq, cid, rss_kb);
            self.redraw(bar, &mut status, now, true);
        }
    }

    fn redraw(&self, bar: &ProgressBar, status: &mut (Status, Duration), now: Duration, force: bool) {
        if force || now.saturating_sub(status.1) >= Duration::from_millis(250) {
            status.1 = now;
            bar.set_message(status.0.render(now));
        }
    }

    /// One line for a human (a checkpoint), above the bar.
    pub fn println(&self, line: &str) {
        tracing::info!("{line}");
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// stderr for tracing, suspending the progress bar (if any) around each write.
pub struct StderrWriter;

impl Write for StderrWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BAR.get() {
            Some(bar) if !bar.is_finished() => bar.suspend(|| std::io::stderr().write_all(buf)).map(|_| buf.len()),
            _ => std::io::stderr().write_all(buf).map(|_| buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
