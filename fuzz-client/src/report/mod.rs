//! What a person reads: the live progress display on a terminal, the summary at the end, and
//! `fuzz-client report` (a campaign's logs as an HTML page with plots, or a terminal summary).

pub mod analysis;
pub mod html;
pub mod merge;
pub mod plots;
pub mod progress;
pub mod status;
pub mod summary;
pub mod text;

use crate::cli::{ReportArgs, UsageError};
use analysis::Analysis;
use std::path::PathBuf;

/// `fuzz-client report`, its logs read and checked.
pub struct ReportJob {
    pub analysis: Analysis,
    /// Where the HTML page goes, if anywhere.
    pub html: Option<PathBuf>,
    pub text: bool,
}

impl ReportJob {
    /// Reads every log; an unreadable or malformed one, or one that is no client run log, is bad
    /// input.
    pub fn load(args: ReportArgs) -> Result<ReportJob, UsageError> {
        let mut logs = Vec::with_capacity(args.logs.len());
        for path in &args.logs {
            let name = path.display().to_string();
            let file = std::fs::File::open(path).map_err(|e| UsageError(format!("{name}: {e}")))?;
            let lines = fuzz_shared::log::read_log(std::io::BufReader::new(file))
                .map_err(|e| UsageError(format!("{name}: {e}")))?;
            logs.push((name, lines));
        }
        let analysis = Analysis::from_logs(&logs).map_err(UsageError)?;
        let html = args.output.or_else(|| (!args.text).then(|| PathBuf::from("report.html")));
        Ok(ReportJob { analysis, html, text: args.text })
    }

    /// Prints the summary and writes the page, as asked.
    pub fn write(&self) -> Result<(), UsageError> {
        if self.text {
            print!("{}", text::render(&self.analysis));
        }
        if let Some(path) = &self.html {
            std::fs::write(path, html::render(&self.analysis))
                .map_err(|e| UsageError(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("report: {}", path.display());
        }
        Ok(())
    }
}
