//! Harness for the end-to-end tests: build the release binaries once, start a fuzz-server on a
//! free loopback port, run fuzz-client against it, and read both run logs back.
//!
//! End-to-end tests always use release builds: s2n-quic is slow in debug builds, and its debug
//! assertions fire on what a fuzzer does on purpose.

use fuzz_shared::log::{read_log, LogLine};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// The path of a release binary of this workspace, built once per test process.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(workspace())
            .args(["build", "--release", "--quiet", "-p", "fuzz-client", "-p", "fuzz-server"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the release binaries failed");
    });
    let dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("target"));
    dir.join("release").join(name)
}

/// A fresh, empty directory for one test's files, under the target directory.
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = workspace().join("target").join("e2e").join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A loopback UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("bind loopback").port()
}

/// Reads a run log; an absent file is an empty log.
pub fn log_lines(path: &Path) -> Vec<LogLine> {
    match std::fs::File::open(path) {
        Ok(f) => read_log(std::io::BufReader::new(f)).expect("run log parses"),
        Err(_) => Vec::new(),
    }
}

/// (seq, cid, plan) of every `cid_start` of a run log, in log order.
pub fn cid_starts(log: &[LogLine]) -> Vec<(u64, fuzz_shared::Cid, fuzz_shared::ConnectionPlan)> {
    log.iter()
        .filter_map(|l| match &l.event {
            fuzz_shared::Event::CidStart { seq, cid, plan } => Some((*seq, *cid, plan.clone())),
            _ => None,
        })
        .collect()
}

/// seq -> (mutation digest, detail) of every `cid_end` of a run log.
pub fn cid_ends(log: &[LogLine]) -> std::collections::BTreeMap<u64, (String, String)> {
    log.iter()
        .filter_map(|l| match &l.event {
            fuzz_shared::Event::CidEnd { seq, mutation_digest, detail, .. } => {
                Some((*seq, (mutation_digest.clone(), detail.clone().unwrap_or_default())))
            }
            _ => None,
        })
        .collect()
}

/// A running fuzz-server, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
    pub stderr: PathBuf,
}

impl Server {
    /// Starts `fuzz-server --listen 127.0.0.1:<free port> --log <dir>/server.jsonl <extra>` and
    /// waits until its `run_start` line shows it is listening.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
        Self::start_at(dir, addr, extra)
    }

    pub fn start_at(dir: &Path, addr: SocketAddr, extra: &[&str]) -> Server {
        let log = dir.join("server.jsonl");
        let stderr = dir.join("server.stderr");
        let _ = std::fs::remove_file(&log);
        let child = Command::new(bin("fuzz-server"))
            .args(["--listen", &addr.to_string(), "--log"])
            .arg(&log)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("server stderr file"))
            .spawn()
            .expect("start fuzz-server");
        let server = Server { child, addr, log, stderr };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !log_lines(&server.log).iter().any(|l| matches!(l.event, fuzz_shared::Event::RunStart { .. })) {
            assert!(Instant::now() < deadline, "fuzz-server did not start: {}", server.stderr_text());
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Asks the server to stop (SIGTERM) and waits for it.
    pub fn stop(mut self) -> ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().expect("wait for fuzz-server");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `hq-get --ca <cert> <args> <server> <paths>` (the small client that ships with
/// fuzz-server) and returns its status and output lines.
pub fn hq_get(server: &Server, ca: &Path, args: &[&str], paths: &[&str]) -> (ExitStatus, Vec<String>) {
    let out = Command::new(bin("hq-get"))
        .arg("--ca")
        .arg(ca)
        .args(args)
        .arg(server.addr.to_string())
        .args(paths)
        .stdin(Stdio::null())
        .output()
        .expect("run hq-get");
    let lines = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    (out.status, lines)
}

/// The command line `scripts/interop/peer.sh cmd` gives for `peer` on `port` (a number, or
/// `{port}` for fuzz-client to fill), or `None`, said loudly, when the peer is not installed
/// here (`scripts/interop/install.sh` builds it; `.ci/run` runs that).
pub fn peer_cmd_at(peer: &str, port: &str) -> Option<String> {
    let script = workspace().join("scripts/interop/peer.sh");
    let out = Command::new("bash").arg(&script).args(["cmd", peer, port]).output().expect("run peer.sh");
    if !out.status.success() {
        eprintln!(
            "SKIPPED: the {peer} peer is not installed (scripts/interop/install.sh {peer}): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The result of one fuzz-client run.
pub struct ClientRun {
    pub status: ExitStatus,
    pub stderr: String,
    pub log: Vec<LogLine>,
    /// Where the run log is, for the commands that read it (`report`, `bisect`).
    pub log_path: PathBuf,
}

/// Runs fuzz-client to completion with `args`, logging to `log`.
pub fn run_client(log: &Path, args: &[&str]) -> ClientRun {
    let _ = std::fs::remove_file(log);
    let out = Command::new(bin("fuzz-client"))
        .arg("--log")
        .arg(log)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run fuzz-client");
    ClientRun {
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        log: log_lines(log),
        log_path: log.to_path_buf(),
    }
}

/// A `fuzz-server` command line for fuzz-client's `--server-cmd`: listening on `addr`, with
/// `extra` options (each a plain word: no quoting is done for them).
pub fn server_cmd(addr: SocketAddr, extra: &[&str]) -> String {
    let path = bin("fuzz-server").to_string_lossy().into_owned();
    let safe = path.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    let path = if safe { path } else { format!("'{}'", path.replace('\'', r"'\''")) };
    let mut cmd = format!("{path} --listen {addr}");
    for e in extra {
        cmd.push(' ');
        cmd.push_str(e);
    }
    cmd
}

/// The result of a fuzz-client command run with exactly the arguments given.
pub struct Output {
    pub status: ExitStatus,
    pub stderr: String,
}

/// Runs fuzz-client with exactly `args` (no `--log` added, so subcommands work) to completion.
pub fn client(args: &[&str]) -> Output {
    let out = Command::new(bin("fuzz-client")).args(args).stdin(Stdio::null()).output().expect("run fuzz-client");
    Output { status: out.status, stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

/// Runs a command line printed by fuzz-client (a repro) with `sh -c`, to completion.
pub fn shell(command: &str) -> Output {
    let out = Command::new("sh").arg("-c").arg(command).stdin(Stdio::null()).output().expect("run a shell command");
    Output { status: out.status, stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

/// Whether nothing listens on the loopback UDP `port` any more (no server was left behind).
pub fn udp_port_free(port: u16) -> bool {
    UdpSocket::bind(("127.0.0.1", port)).is_ok()
}

/// `mutation_digest` by CID of the client's `cid_end` lines of a run log.
pub fn client_digests(log: &[LogLine]) -> std::collections::BTreeMap<fuzz_shared::Cid, String> {
    log.iter()
        .filter(|l| l.role == fuzz_shared::Role::Client)
        .filter_map(|l| match &l.event {
            fuzz_shared::Event::CidEnd { cid, mutation_digest, .. } => Some((*cid, mutation_digest.clone())),
            _ => None,
        })
        .collect()
}

/// How many of the CIDs two client run logs share have the same `mutation_digest`: (same, shared).
pub fn digest_agreement(a: &[LogLine], b: &[LogLine]) -> (usize, usize) {
    let (a, b) = (client_digests(a), client_digests(b));
    let shared: Vec<_> = a.keys().filter(|c| b.contains_key(c)).collect();
    (shared.iter().filter(|c| a[**c] == b[**c]).count(), shared.len())
}

/// Whether tshark (Debian package `tshark`, installed by `.ci/run`) runs here; says loudly when
/// it does not, for `test` to skip.
pub fn have_tshark(test: &str) -> bool {
    let ok = Command::new("tshark").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !ok {
        eprintln!("\n!!! SKIPPED {test}: tshark is not installed (Debian package tshark; .ci/run installs it) !!!\n");
    }
    ok
}

/// `tshark -r FILE -Y FILTER -T fields -e F...`: one row per packet, one column per field (each a
/// comma-separated list when the packet has several values).
pub fn tshark(pcap: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    tshark_with(pcap, &[], filter, fields)
}

/// [`tshark`] with more options first (`-o tls.keylog_file:FILE`, `-d udp.port==N,quic`, ...).
pub fn tshark_with(pcap: &Path, options: &[&str], filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap).args(options).args(["-Y", filter, "-T", "fields", "-E", "separator=/t"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.stdin(Stdio::null()).output().expect("run tshark");
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
}
