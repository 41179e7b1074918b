//! Human output on stderr: tracing lines, and a live progress bar when stderr is a terminal.
//!
//! The bar and the log lines share stderr: while a bar is shown, every tracing line is written
//! through `ProgressBar::suspend`, so lines never tear through the bar.

use crate::quic::connection::ConnReport;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

static BAR: OnceLock<ProgressBar> = OnceLock::new();

/// The campaign's progress display.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar when `wanted` and stderr is a terminal; otherwise nothing but log lines.
    pub fn new(wanted: bool, count: Option<u64>) -> Self {
        if !wanted || !std::io::stderr().is_terminal() {
            return Self { bar: None };
        }
        let bar = match count {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        let template = if count.is_some() {
            "{elapsed_precise} [{bar:30}] {pos}/{len} conns {per_sec} {msg}"
        } else {
            "{elapsed_precise} {spinner} {pos} conns {per_sec} {msg}"
        };
        bar.set_style(ProgressStyle::with_template(template).expect("template").progress_chars("=> "));
        let _ = BAR.set(bar.clone());
        Self { bar: Some(bar) }
    }

    pub fn inc(&self, report: &ConnReport) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if report.seq.is_multiple_of(64) {
                bar.set_message(format!("#{} {}", report.seq, report.cid));
            }
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
