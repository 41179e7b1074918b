//! Supervising the target server: start it, watch it, measure it, and say how it died.
//!
//! With `--server-cmd`, the client starts the server itself, so that when the server dies the
//! run log can say how (exit status or signal) and show the last lines of its stderr, where
//! AddressSanitizer and friends write their reports, and so that checkpoints can record the
//! server's resident memory: a leak then shows up between two checkpoints.

use std::collections::VecDeque;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// How many lines of the server's stderr the `server_down` record shows.
const STDERR_TAIL_LINES: usize = 40;
/// How many are kept: a finding keeps the whole report, and a sanitizer report with its
/// stacks is longer than the tail.
const STDERR_KEPT_LINES: usize = crate::campaign::REPORT_LINES;

/// A server process started from a shell command line.
pub struct Supervisor {
    child: Child,
    pid: u32,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// The task that reads stderr; it ends when the server's stderr closes (at its exit).
    reader: Option<tokio::task::JoinHandle<()>>,
    exit: Option<ExitStatus>,
}

impl Supervisor {
    /// Starts `command` with `sh -c 'exec <command>'`: `exec` makes the server the process we
    /// watch, not a shell around it. A command that starts with variable assignments
    /// (`ASAN_OPTIONS=... ./server`, which `exec` alone would take for the program) runs as
    /// `exec env <command>`, the same process with them in its environment. Its stderr is kept (the last lines in memory, all of it
    /// appended to `stderr_copy` when given, after a line naming the command, so that a restarted
    /// run adds to the file of the run it repeats); its stdout is discarded.
    /// `env` is added to the server's environment (`--coverage`'s shared memory).
    pub async fn start(command: &str, stderr_copy: Option<&Path>, env: &[(String, String)]) -> io::Result<Self> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(if starts_with_assignment(command) {
                format!("exec env {command}")
            } else {
                format!("exec {command}")
            })
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // A process group of its own: Ctrl-C in the terminal interrupts the client, which
            // closes its connections and then stops the server; were the server interrupted too,
            // its exit would race the interruption and be logged as `server_down`.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or_else(|| io::Error::other("the server exited at once"))?;
        let stderr_tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_KEPT_LINES)));
        let mut copy = match stderr_copy {
            Some(path) => {
                let mut file = tokio::fs::OpenOptions::new().create(true).append(true).open(path).await?;
                let stamp = fuzz_shared::log::timestamp(std::time::SystemTime::now());
                file.write_all(
                    format!("=== {stamp} fuzz-client started the server (pid {pid}): {command}\n").as_bytes(),
                )
                .await?;
                Some(file)
            }
            None => None,
        };
        let stderr = child.stderr.take().expect("stderr is piped");
        let tail = stderr_tail.clone();
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(file) = copy.as_mut() {
                    let _ = file.write_all(format!("{line}\n").as_bytes()).await;
                }
                let mut tail = tail.lock().expect("stderr tail lock");
                if tail.len() == STDERR_KEPT_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        Ok(Self { child, pid, stderr_tail, reader: Some(reader), exit: None })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status if the server has exited, without waiting.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Waits up to `limit` for the server to exit; a server that dies is often still writing
    /// its sanitizer report when the client notices it is unreachable.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = tokio::time::timeout(limit, self.child.wait()).await.ok().and_then(Result::ok);
        }
        if self.exit.is_some() {
            // Let the stderr reader drain the last lines of the report: it ends at the pipe's end.
            if let Some(reader) = self.reader.take() {
                let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
            }
        }
        self.exit
    }

    /// Waits for the server to exit, however long it takes. Cancel-safe (tokio's
    /// `Child::wait` keeps the status once it has it), so it can sit in a `select!` loop.
    pub async fn wait(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.wait().await.ok();
        }
        self.exit
    }

    /// The server's resident memory in KiB (`VmRSS` in /proc/PID/status), while it runs.
    pub fn rss_kb(&mut self) -> Option<u64> {
        if self.exited().is_some() {
            return None;
        }
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        parse_vm_rss_kb(&status)
    }

    /// The CPU time the server has used so far (user + system), while it runs.
    pub fn cpu_time(&mut self) -> Option<Duration> {
        if self.exited().is_some() {
            return None;
        }
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        parse_cpu_time(&stat)
    }

    /// The last lines the server wrote on stderr.
    pub fn stderr_tail(&self) -> Vec<String> {
        let kept = self.stderr_tail.lock().expect("stderr tail lock");
        kept.iter().skip(kept.len().saturating_sub(STDERR_TAIL_LINES)).cloned().collect()
    }

    /// The lines of its stderr kept (the last [`STDERR_KEPT_LINES`]).
    pub fn stderr_report(&self) -> Vec<String> {
        self.stderr_tail.lock().expect("stderr tail lock").iter().cloned().collect()
    }

    /// Stops the server: SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub async fn stop(mut self, grace: Duration) {
        self.terminate(grace).await;
    }

    /// [`Self::stop`] without giving the supervisor up: its exit is kept, its pid is gone.
    pub async fn terminate(&mut self, grace: Duration) {
        if self.exited().is_some() {
            return;
        }
        // `kill` runs as a command: one signal does not justify a libc binding.
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status().await;
        if tokio::time::timeout(grace, self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// Reads `VmRSS:   1234 kB` out of a /proc/PID/status text.
pub fn parse_vm_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Reads utime + stime out of a /proc/PID/stat line (fields 14 and 15, in clock ticks of
/// 1/100 s: USER_HZ is 100 on Linux's every architecture's ABI). The command name (field 2) is
/// in parentheses and may hold spaces, so fields are counted after its closing one.
pub fn parse_cpu_time(stat: &str) -> Option<Duration> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace().skip(11); // field 3 is the first after ')'
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// A server's death in words, for the log: `exit status 1`, `killed by signal 6 (SIGABRT)`.
pub fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(sig) => {
            let name = match sig {
                4 => " (SIGILL)",
                6 => " (SIGABRT)",
                7 => " (SIGBUS)",
                8 => " (SIGFPE)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            let core = if status.core_dumped() { ", core dumped" } else { "" };
            format!("killed by signal {sig}{name}{core}")
        }
        None => format!("{status}"),
    }
}

/// Whether a shell command line's first word is a variable assignment (`NAME=value`, POSIX
/// shell names: letters, digits and underscores, not starting with a digit).
fn starts_with_assignment(command: &str) -> bool {
    let word = command.trim_start().split(|c: char| c.is_whitespace()).next().unwrap_or("");
    let Some((name, _)) = word.split_once('=') else { return false };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_assignments_are_recognized() {
        assert!(starts_with_assignment("ASAN_OPTIONS=detect_leaks=0 ./server 4433"));
        assert!(starts_with_assignment("  _X=1 server"));
        assert!(!starts_with_assignment("./server --opt=1"));
        assert!(!starts_with_assignment("1X=2 server"));
        assert!(!starts_with_assignment("'a=b' server"));
        assert!(!starts_with_assignment(""));
    }

    #[tokio::test]
    async fn a_command_may_start_with_variable_assignments() {
        let mut server =
            Supervisor::start("MARK=seen OTHER=too sh -c 'echo $MARK $OTHER >&2; exit 3'", None, &[]).await.unwrap();
        let status = server.wait_exit(Duration::from_secs(10)).await.unwrap();
        assert_eq!(describe_exit(status), "exit status 3");
        assert_eq!(server.stderr_tail(), vec!["seen too".to_string()]);
    }

    #[test]
    fn cpu_time_is_read_from_proc_stat() {
        let stat = "4242 (fuzz server) R 1 4242 4242 0 -1 4194560 900 0 0 0 250 31 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_cpu_time(stat), Some(Duration::from_millis(2810)));
        assert_eq!(parse_cpu_time("4242 (x) R 1"), None);
    }

    #[test]
    fn vm_rss_is_read_from_proc_status() {
        let status = "Name:\tfuzz-server\nVmPeak:\t  200 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss_kb(status), Some(12345));
        assert_eq!(parse_vm_rss_kb("Name:\tx\n"), None);
    }

    #[tokio::test]
    async fn reports_signal_deaths_and_stderr() {
        let mut server =
            Supervisor::start("sh -c 'echo first >&2; echo ==ERROR: AddressSanitizer >&2; kill -ABRT $$'", None, &[])
                .await
                .unwrap();
        let status = server.wait_exit(Duration::from_secs(10)).await.expect("exits");
        assert_eq!(describe_exit(status), "killed by signal 6 (SIGABRT)");
        assert_eq!(server.stderr_tail(), vec!["first".to_string(), "==ERROR: AddressSanitizer".to_string()]);
        assert_eq!(server.rss_kb(), None);
    }

    #[tokio::test]
    async fn measures_a_running_server_and_stops_it() {
        let mut server = Supervisor::start("sleep 30", None, &[]).await.unwrap();
        assert!(server.exited().is_none());
        assert!(server.rss_kb().unwrap() > 0);
        server.stop(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn plain_exit_codes() {
        let mut server = Supervisor::start("sh -c 'exit 7'", None, &[]).await.unwrap();
        let status = server.wait_exit(Duration::from_secs(10)).await.unwrap();
        assert_eq!(describe_exit(status), "exit status 7");
    }
}
