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

use crate::usage::UsageError;
use analysis::Analysis;
use std::path::{Path, PathBuf};

/// `fuzz-client report`, its logs read and checked.
pub struct ReportJob {
    pub analysis: Analysis,
    /// Where the HTML page goes, if anywhere.
    pub html: Option<PathBuf>,
    pub text: bool,
}

impl ReportJob {
    /// Reads every log in `paths`; an unreadable or malformed one, or one that is no client run
    /// log, is bad input. The page goes to `output`, or to `report.html` unless `text` asks for
    /// the terminal summary only.
    pub fn load(paths: &[PathBuf], output: Option<PathBuf>, text: bool) -> Result<ReportJob, UsageError> {
        let mut analysis = Analysis::from_logs(&read_logs(paths)?).map_err(UsageError)?;
        for finding in &mut analysis.findings {
            finding.record = read_record(finding.dir.as_deref(), paths);
        }
        let html = output.or_else(|| (!text).then(|| PathBuf::from("report.html")));
        Ok(ReportJob { analysis, html, text })
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

/// Reads run logs whole, each as (its name as given, its lines); one that cannot be read or holds
/// a line that is no run-log line is bad input.
pub fn read_logs(paths: &[PathBuf]) -> Result<Vec<(String, Vec<fuzz_shared::LogLine>)>, UsageError> {
    let mut logs = Vec::with_capacity(paths.len());
    for path in paths {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| UsageError(format!("{name}: {e}")))?;
        let lines = fuzz_shared::log::read_log(std::io::BufReader::new(file))
            .map_err(|e| UsageError(format!("{name}: {e}")))?;
        logs.push((name, lines));
    }
    Ok(logs)
}

/// A finding's `finding.json`: in its folder as the campaign named it (relative to where the
/// campaign ran), or else in the same folder under a log's default findings directory
/// (`<log>.findings/`), for a report made from somewhere else. A finding whose record cannot be
/// read is still listed, from the log alone.
fn read_record(dir: Option<&str>, logs: &[PathBuf]) -> Option<crate::findings::record::Finding> {
    let dir = Path::new(dir?);
    let mut candidates = vec![dir.to_path_buf()];
    if let Some(folder) = dir.file_name() {
        candidates.extend(logs.iter().map(|log| crate::findings::store::default_dir(Some(log)).join(folder)));
    }
    candidates.iter().find_map(|c| crate::findings::store::read_record(c))
}
