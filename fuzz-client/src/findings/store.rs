//! The findings directory: one folder per distinct bug, named by its signature.
//!
//! A death whose signature is already a finding's counts again (`count`, `last`) instead of
//! making a folder; the store reads the folders already there when it opens, so a campaign
//! restarted into the same directory (`--resume-from`, or the same command the next night)
//! recognizes what it found before. Every write replaces `finding.json` whole (written to a
//! temporary name and renamed), so a crash of the client never leaves half a record.

use super::record::{Finding, Occurrence};
use fuzz_shared::signature::Signature;
use std::io;
use std::path::{Path, PathBuf};

/// The findings directory of a campaign without --findings: next to its log (`<LOG>.findings`),
/// or without one in the temporary directory (a finding is worth keeping even from an unlogged
/// run).
pub fn default_dir(log: Option<&Path>) -> PathBuf {
    match log {
        Some(log) => crate::campaign::next_to(log, ".findings"),
        None => std::env::temp_dir().join(format!("fuzz-client-{}.findings", std::process::id())),
    }
}

/// The name of the record in each finding's folder.
pub const FINDING_FILE: &str = "finding.json";
/// The server's stderr report of the first occurrence.
pub const STDERR_FILE: &str = "stderr.txt";
/// The crash capture of the first occurrence.
pub const CAPTURE_FILE: &str = "crash.pcap";
/// The script that reproduces a triaged finding.
pub const REPRODUCE_FILE: &str = "reproduce.sh";

/// What [`FindingStore::record`] did with a death.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub id: String,
    pub kind: String,
    pub summary: String,
    /// First seen now.
    pub new: bool,
    pub count: u64,
    pub dir: PathBuf,
}

/// One death, as the campaign saw it, to be recorded.
pub struct Death<'a> {
    pub signature: Signature,
    pub occurrence: Occurrence,
    pub target: &'a str,
    pub campaign: &'a [String],
    pub restart: String,
    pub bisect: Option<String>,
    /// The server's stderr as kept (the whole report, as far as the supervisor kept it).
    pub stderr: &'a [String],
    /// The crash capture written for this death, copied into a new finding's folder.
    pub crash_pcap: Option<&'a Path>,
}

/// The findings directory.
#[derive(Debug)]
pub struct FindingStore {
    dir: PathBuf,
    findings: Vec<(PathBuf, Finding)>,
}

impl FindingStore {
    /// Opens (and creates) `dir`, reading the findings already in it.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("creating the findings directory {}: {e}", dir.display())))?;
        let mut findings = Vec::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for folder in entries {
            if let Some(f) = read_record(&folder) {
                findings.push((folder, f));
            }
        }
        Ok(Self { dir: dir.to_path_buf(), findings })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The findings, each with its folder.
    pub fn findings(&self) -> impl Iterator<Item = (&Path, &Finding)> {
        self.findings.iter().map(|(p, f)| (p.as_path(), f))
    }

    /// The finding with signature id `id`.
    pub fn get(&self, id: &str) -> Option<(&Path, &Finding)> {
        self.findings().find(|(_, f)| f.signature.id == id)
    }

    /// Records one death: a new finding, or one more occurrence of the finding with its signature.
    pub fn record(&mut self, death: Death<'_>) -> io::Result<Recorded> {
        let id = death.signature.id.clone();
        if let Some((folder, finding)) = self.findings.iter_mut().find(|(_, f)| f.signature.id == id) {
            finding.count += 1;
            finding.last = death.occurrence;
            write_record(folder, finding)?;
            return Ok(recorded(folder, finding, false));
        }
        let folder = self.dir.join(folder_name(&death.signature));
        std::fs::create_dir_all(&folder)?;
        let stderr_file = if death.stderr.is_empty() {
            None
        } else {
            let mut text = death.stderr.join("\n");
            text.push('\n');
            std::fs::write(folder.join(STDERR_FILE), text)?;
            Some(STDERR_FILE.to_string())
        };
        let crash_pcap = match death.crash_pcap {
            Some(pcap) => match std::fs::copy(pcap, folder.join(CAPTURE_FILE)) {
                Ok(_) => Some(CAPTURE_FILE.to_string()),
                Err(e) => {
                    tracing::warn!("copying the crash capture {} into {}: {e}", pcap.display(), folder.display());
                    None
                }
            },
            None => None,
        };
        let finding = Finding {
            signature: death.signature,
            count: 1,
            first: death.occurrence.clone(),
            last: death.occurrence,
            target: death.target.to_string(),
            campaign: death.campaign.to_vec(),
            restart: death.restart,
            bisect: death.bisect,
            stderr_file,
            crash_pcap,
            triage: None,
        };
        write_record(&folder, &finding)?;
        let out = recorded(&folder, &finding, true);
        self.findings.push((folder, finding));
        Ok(out)
    }

    /// Replaces the record of finding `id` with `update(record)`, on disk too.
    pub fn update(&mut self, id: &str, update: impl FnOnce(&mut Finding)) -> io::Result<()> {
        let Some((folder, finding)) = self.findings.iter_mut().find(|(_, f)| f.signature.id == id) else {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("no finding {id} in {}", self.dir.display())));
        };
        update(finding);
        write_record(folder, finding)
    }
}

/// The `finding.json` of one finding's folder: none when the folder has no record (a warning
/// when it has one that does not parse, which is left alone).
pub fn read_record(folder: &Path) -> Option<Finding> {
    let file = folder.join(FINDING_FILE);
    let text = std::fs::read_to_string(&file).ok()?;
    serde_json::from_str(&text)
        .map_err(|e| tracing::warn!("{}: not a finding record ({e}); left alone", file.display()))
        .ok()
}

fn recorded(folder: &Path, f: &Finding, new: bool) -> Recorded {
    Recorded {
        id: f.signature.id.clone(),
        kind: f.signature.kind.clone(),
        summary: f.signature.summary.clone(),
        new,
        count: f.count,
        dir: folder.to_path_buf(),
    }
}

/// `<kind>-<id>`, the kind with anything but letters and digits made a `-`.
pub fn folder_name(s: &Signature) -> String {
    let kind: String =
        s.kind.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    format!("{}-{}", kind.trim_matches('-'), s.id)
}

fn write_record(folder: &Path, finding: &Finding) -> io::Result<()> {
    let tmp = folder.join(format!("{FINDING_FILE}.tmp"));
    let mut text = serde_json::to_string_pretty(finding).map_err(io::Error::other)?;
    text.push('\n');
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, folder.join(FINDING_FILE))
}

/// Writes `reproduce.sh` (executable) into a finding's folder: `command`, one line, after a
/// comment saying what it reproduces. The command's paths are the campaign's as typed (a
/// relative `target/release/fuzz-client`, a `--server-cmd` of `./server`), so the script first
/// goes to the directory the campaign ran in: it works from wherever it is started.
pub fn write_reproduce_script(folder: &Path, what: &str, command: &str) -> io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = folder.join(REPRODUCE_FILE);
    let comment: String = what.lines().map(|l| format!("# {l}\n")).collect();
    let cwd = std::env::current_dir()?;
    let cd = crate::triage::repro::shell_quote(&cwd.to_string_lossy());
    std::fs::write(&path, format!("#!/bin/sh\n{comment}cd {cd} || exit 2\nexec {command}\n"))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(kind: &str, id: &str) -> Signature {
        Signature { kind: kind.into(), frames: vec![], summary: format!("{kind} bug"), id: id.into() }
    }

    fn death<'a>(s: Signature, seq: u64, stderr: &'a [String]) -> Death<'a> {
        Death {
            signature: s,
            occurrence: Occurrence {
                at: "2026-01-01T00:00:00.000Z".into(),
                cause: Some("killed by signal 6 (SIGABRT)".into()),
                window_seq: seq,
                window_cid: "0123456789abcdef".parse().unwrap(),
                window_end: seq + 10,
                server_seq: None,
                server_cid: None,
                concurrency: 16,
            },
            target: "127.0.0.1:4433",
            campaign: &[],
            restart: "fuzz-client --start-seq 0".into(),
            bisect: None,
            stderr,
            crash_pcap: None,
        }
    }

    #[test]
    fn reproduce_script_runs_from_the_campaigns_directory() {
        let dir = std::env::temp_dir().join(format!("findings-reproduce-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = write_reproduce_script(&dir, "what it does", "pwd").unwrap();
        let out = std::process::Command::new("sh").arg(&script).current_dir("/").output().unwrap();
        let here = std::env::current_dir().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), here.to_string_lossy(), "started from /");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_same_signature_is_one_finding_seen_again_and_survives_a_reopen() {
        let dir = std::env::temp_dir().join(format!("findings-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = FindingStore::open(&dir).unwrap();
        let report = vec!["==1==ERROR: AddressSanitizer: heap-buffer-overflow".to_string()];
        let a = store.record(death(sig("asan:heap-buffer-overflow", "00000000000000aa"), 0, &report)).unwrap();
        assert!(a.new && a.count == 1);
        assert_eq!(a.dir, dir.join("asan-heap-buffer-overflow-00000000000000aa"));
        assert!(a.dir.join(STDERR_FILE).exists());
        let b = store.record(death(sig("assertion", "00000000000000bb"), 20, &[])).unwrap();
        assert!(b.new && !b.dir.join(STDERR_FILE).exists(), "no stderr, no file");
        let again = store.record(death(sig("asan:heap-buffer-overflow", "00000000000000aa"), 40, &[])).unwrap();
        assert!(!again.new && again.count == 2 && again.dir == a.dir);

        let reopened = FindingStore::open(&dir).unwrap();
        assert_eq!(reopened.findings().count(), 2);
        let (_, f) = reopened.get("00000000000000aa").unwrap();
        assert_eq!((f.count, f.first.window_seq, f.last.window_seq), (2, 0, 40));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn folder_names_are_safe() {
        assert_eq!(folder_name(&sig("signal:SIGABRT", "0123")), "signal-sigabrt-0123");
    }
}
