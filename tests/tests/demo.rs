//! End-to-end test of `scripts/demo-crash.sh`, the crash demo the README points a new user at:
//! it runs whole (campaign, restart from the checkpoint, bisect, replay against fresh
//! fuzz-servers on loopback), exits 0, and each of its four steps printed what it proves, with
//! the culprit bisect named.

use fuzz_e2e::{bin, scratch_dir, workspace};
use std::process::Command;

#[test]
fn the_crash_demo_runs_from_crash_to_replay() {
    bin("fuzz-client"); // built once, as every end-to-end test does
    let dir = scratch_dir("demo");
    let out = Command::new(workspace().join("scripts/demo-crash.sh"))
        .env("OUT", dir.join("demo"))
        .output()
        .expect("run scripts/demo-crash.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo-crash.sh failed ({}):\n{stdout}\n{stderr}", out.status);
    assert_eq!(stdout.matches("-> proves:").count(), 4, "every step says what it proves:\n{stdout}");
    assert!(stdout.contains("checkpoint #20"), "the campaign logged checkpoints:\n{stdout}");
    assert!(stdout.contains("finding seen again"), "the restart reached the same bug:\n{stdout}");
    let culprit = stdout.lines().find(|l| l.starts_with("culprit after")).expect("bisect named a culprit");
    let cid = culprit.rsplit("cid ").next().unwrap().split(':').next().unwrap();
    assert!(
        stdout.contains(&format!("PLANTED FAULT: ClientHello of connection {cid}")),
        "the replay of {cid} alone killed the server:\n{stdout}"
    );
}
