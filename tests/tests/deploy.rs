//! The Kubernetes manifests of deploy/k8s/: they validate against the Kubernetes schemas
//! (scripts/k8s-validate.sh, with kubernetes-validate from PyPI, which `.ci/run` installs), broken
//! copies of them do not, and the fuzz-client arguments of job.yaml run a shard as its pod would
//! (the last index, `JOB_COMPLETION_INDEX=31`), against a fuzz-server on loopback instead of the
//! lab's Service, with the run log alone on stdout.

use fuzz_e2e::{bin, scratch_dir, workspace, Server};
use fuzz_shared::log::read_log;
use fuzz_shared::Event;
use std::process::{Command, Stdio};

fn validate(files: &[&std::path::Path]) -> (Option<i32>, String) {
    let out = Command::new("bash")
        .arg(workspace().join("scripts/k8s-validate.sh"))
        .args(files)
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/k8s-validate.sh");
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn have_validator() -> bool {
    let found =
        Command::new("sh").args(["-c", "command -v kubernetes-validate"]).output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!(
            "!!! SKIPPED: kubernetes-validate is not installed (pip install kubernetes-validate; .ci/run does) !!!"
        );
    }
    found
}

#[test]
fn manifests_validate_and_broken_ones_do_not() {
    if !have_validator() {
        return;
    }
    let (code, text) = validate(&[]);
    assert_eq!(code, Some(0), "deploy/k8s/*.yaml: {text}");

    let dir = scratch_dir("deploy-validate");
    let job = std::fs::read_to_string(workspace().join("deploy/k8s/job.yaml")).unwrap();
    let broken = [
        ("unknown-field.yaml", job.replace("completionMode: Indexed", "completionMode: Indexed\n  completionz: 3")),
        ("wrong-type.yaml", job.replace("parallelism: 32", "parallelism: all")),
        (
            "shards-mismatch.yaml",
            job.replace("completions: 32", "completions: 16").replace("parallelism: 32", "parallelism: 16"),
        ),
        ("log-to-file.yaml", job.replace("- \"-\"", "- run.jsonl")),
    ];
    for (name, text) in broken {
        assert_ne!(text, job, "{name}: the edit applies");
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let (code, out) = validate(&[&path]);
        assert_eq!(code, Some(1), "{name} was accepted: {out}");
        println!("{name}: {}", out.trim());
    }
}

/// The `args:` list of the fuzz-client container in job.yaml: `- value # comment` lines.
fn job_args(job: &str) -> Vec<String> {
    let section = job.split("          args:\n").nth(1).expect("an args list");
    section
        .lines()
        .take_while(|l| l.trim_start().starts_with("- "))
        .map(|l| {
            let v = l.trim_start().trim_start_matches("- ");
            let v = v.split(" #").next().unwrap().trim();
            v.trim_matches('"').to_string()
        })
        .collect()
}

#[test]
fn the_jobs_arguments_run_a_shard() {
    let job = std::fs::read_to_string(workspace().join("deploy/k8s/job.yaml")).unwrap();
    let mut args = job_args(&job);
    assert!(args.len() > 4 && args.contains(&"--shards".to_string()), "{args:?}");
    let dir = scratch_dir("deploy-args");
    let server = Server::start(&dir, &["--mode", "clean"]);
    // The lab's Service becomes the loopback server; a short run instead of a day.
    *args.last_mut().unwrap() = server.addr.to_string();
    let out = Command::new(bin("fuzz-client"))
        .env("JOB_COMPLETION_INDEX", "31")
        .args(&args)
        .args(["--count", "20"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    let log = read_log(&out.stdout[..]).expect("stdout is the run log alone");
    let shard = fuzz_shared::shard::shard_of_log(&log).expect("run_start names the shard");
    assert_eq!((shard.index, shard.count), (31, 32));
    assert!(matches!(log.last().map(|l| &l.event), Some(Event::RunEnd { connections: 20, .. })));
}
