//! run_endpoint.sh, the quic-interop-runner endpoint, run directly (no Docker here): its
//! environment is set as the runner sets it, with the contract's paths (/www, /certs, /logs,
//! port 443) moved into a scratch directory and loopback by the overrides the script documents.

use fuzz_e2e::{bin, free_udp_port, log_lines, scratch_dir, workspace, Server};
use fuzz_shared::Event;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn endpoint(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(workspace().join("run_endpoint.sh"))
        .env("FUZZ_BIN_DIR", bin("fuzz-client").parent().unwrap())
        .env("WWW_DIR", dir.join("www"))
        .env("DOWNLOADS_DIR", dir.join("downloads"))
        .env("CERTS_DIR", dir.join("certs"))
        .env("LOGS_DIR", dir.join("logs"))
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

#[test]
fn unknown_test_cases_exit_127() {
    let dir = scratch_dir("endpoint-127");
    for (role, testcase) in
        [("server", "zerortt"), ("client", "transfer"), ("client", "nosuchcase"), ("nobody", "fuzz")]
    {
        let out = endpoint(&dir, &[("ROLE", role), ("TESTCASE", testcase)]).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(127),
            "ROLE={role} TESTCASE={testcase}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn client_fuzz_runs_a_campaign() {
    let dir = scratch_dir("endpoint-client");
    let server = Server::start(&dir, &["--mode", "clean"]);
    let requests = format!("https://{}/1000 https://{}/2000", server.addr, server.addr);
    let out = endpoint(
        &dir,
        &[
            ("ROLE", "client"),
            ("TESTCASE", "fuzz"),
            ("REQUESTS", &requests),
            ("FUZZ_COUNT", "40"),
            ("FUZZ_START_CID", "0123456789abcdef"),
            ("QLOGDIR", dir.join("qlog").to_str().unwrap()),
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let log = log_lines(&dir.join("logs/fuzz-client.jsonl"));
    let ends = log.iter().filter(|l| matches!(l.event, Event::CidEnd { .. })).count();
    assert_eq!(ends, 40, "{stderr}");
    assert!(log.iter().any(|l| matches!(l.event, Event::RunEnd { server_up: true, .. })));
    assert!(dir.join("qlog/0-0123456789abcdef.sqlog").is_file(), "QLOGDIR holds the connections' qlog files");
    // Malformed REQUESTS: bad input.
    let out = endpoint(&dir, &[("ROLE", "client"), ("TESTCASE", "fuzz"), ("REQUESTS", "server4")]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn server_serves_www() {
    let dir = scratch_dir("endpoint-server");
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("hello.txt"), vec![b'x'; 3000]).unwrap();
    let port = free_udp_port();
    let listen = format!("127.0.0.1:{port}");
    // No /certs here: the server uses its lab certificate, which --write-cert gives the client.
    let cert = dir.join("lab-cert.pem");
    let extra = format!("--write-cert {}", cert.display());
    let qlog = dir.join("qlog");
    let mut child = endpoint(
        &dir,
        &[
            ("ROLE", "server"),
            ("TESTCASE", "transfer"),
            ("SERVER_LISTEN", &listen),
            ("FUZZ_SERVER_ARGS", &extra),
            ("QLOGDIR", qlog.to_str().unwrap()),
        ],
    )
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let log = dir.join("logs/fuzz-server.jsonl");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log_lines(&log).iter().any(|l| matches!(l.event, Event::RunStart { .. })) {
        assert!(Instant::now() < deadline, "run_endpoint.sh's server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new(bin("hq-get")).arg("--ca").arg(&cert).args([&listen, "/hello.txt"]).output().unwrap();
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    assert!(out.status.success(), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("get /hello.txt ok 3000 ")), "{lines:?}");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(child.wait().unwrap().success(), "the server stops cleanly on SIGTERM");
    let files = std::fs::read_dir(&qlog).map(|d| d.count()).unwrap_or(0);
    assert_eq!(files, 1, "QLOGDIR holds the server's file of hq-get's connection");
}
