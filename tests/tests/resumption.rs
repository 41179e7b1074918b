//! Session resumption as a function of the CID, against a fuzz-server (which issues session
//! tickets and resumes any of them for its lifetime): a resuming plan's ticket comes from its own
//! clean priming connection, so the same CID resumes the same way in a campaign, run alone with
//! `replay`, and after a restart.
//!
//! - `resuming_plans_prime_offer_and_are_accepted`: a clean campaign of 300 at `--resume-rate
//!   0.5`: the connections that resume are exactly the plans that say so (about half), each
//!   offered its priming connection's ticket and the server accepted it.
//! - `a_resuming_cid_resumes_alike_in_a_campaign_alone_and_after_a_restart`: a fuzzed campaign
//!   at the same rate; resuming CIDs run alone with `replay` resume as they did in it, with the
//!   same digest; a restart from its checkpoint (`--resume-from`, which takes the rate from the
//!   log) resumes the tail's connections as the original did.

use fuzz_e2e::{client, run_client, scratch_dir, Server};
use fuzz_shared::application::Application;
use fuzz_shared::log::Resumption;
use fuzz_shared::plan::Inputs;
use fuzz_shared::{chain, Cid, ConnectionPlan, Event, FuzzState, LogLine, ResumeRate, Role};
use std::collections::BTreeMap;

const START: &str = "0123456789abcdef";
const RATE: &str = "0.5";

/// seq -> (cid, resumption, digest, fuzzed packets) of every cid_end.
type Ends = BTreeMap<u64, (Cid, Option<Resumption>, String, u64)>;

fn ends(log: &[LogLine]) -> Ends {
    log.iter()
        .filter_map(|l| match &l.event {
            Event::CidEnd { seq, cid, resumption, mutation_digest, fuzzed_packets, .. } => {
                Some((*seq, (*cid, resumption.clone(), mutation_digest.clone(), *fuzzed_packets)))
            }
            _ => None,
        })
        .collect()
}

fn rate() -> ResumeRate {
    RATE.parse().unwrap()
}

fn plan(cid: &Cid) -> ConnectionPlan {
    ConnectionPlan::from_cid_at(cid, Role::Client, Inputs::new(rate(), Application::HqInterop))
}

fn campaign(server: &Server, log: &std::path::Path, mode: &str, count: &str) -> Vec<LogLine> {
    let addr = server.addr.to_string();
    let run = run_client(
        log,
        &[
            "--start-cid",
            START,
            "--count",
            count,
            "--mode",
            mode,
            "--resume-rate",
            RATE,
            "--checkpoint-every",
            "100",
            "--concurrency",
            "16",
            "--no-progress",
            &addr,
        ],
    );
    assert_eq!(run.status.code(), Some(0), "campaign ({mode}); stderr:\n{}", run.stderr);
    assert!(run.stderr.contains("resumption: "), "the summary counts resumptions:\n{}", run.stderr);
    run.log
}

#[test]
fn resuming_plans_prime_offer_and_are_accepted() {
    let dir = scratch_dir("resumption-clean");
    let server = Server::start(&dir, &["--mode", "clean"]);
    let log = campaign(&server, &dir.join("clean.jsonl"), "clean", "300");
    assert!(log.iter().any(|l| matches!(&l.event, Event::RunStart { resume_rate: Some(r), .. } if *r == rate())));
    let ends = ends(&log);
    assert_eq!(ends.len(), 300);
    let mut resumed = 0;
    for (seq, (cid, resumption, _, _)) in &ends {
        assert_eq!(*cid, chain::nth(START.parse().unwrap(), *seq));
        match (plan(cid).resume_session, resumption) {
            (false, None) => {}
            (true, Some(r)) => {
                resumed += 1;
                assert_eq!(r.prime_cid, chain::prime(cid));
                assert!(r.offered && r.accepted == Some(true), "#{seq} {cid}: clean resumption not accepted: {r:?}");
            }
            (planned, got) => panic!("#{seq} {cid}: plan resumes: {planned}, but cid_end says {got:?}"),
        }
    }
    let share = resumed as f64 / 300.0;
    println!("resuming connections: {resumed}/300 = {share:.2} at --resume-rate {RATE}");
    assert!((share - 0.5).abs() < 0.1, "share {share} far from the rate");
}

#[test]
fn a_resuming_cid_resumes_alike_in_a_campaign_alone_and_after_a_restart() {
    let dir = scratch_dir("resumption-fuzz");
    let server = Server::start(&dir, &["--mode", "clean"]);
    let path = dir.join("fuzz.jsonl");
    let log = campaign(&server, &path, "fuzz", "200");
    let original = ends(&log);
    let resuming: Vec<(u64, Cid, Resumption, String)> = original
        .iter()
        .filter_map(|(seq, (cid, r, digest, _))| r.clone().map(|r| (*seq, *cid, r, digest.clone())))
        .collect();
    assert!(resuming.len() >= 60, "{} resuming connections in 200", resuming.len());
    // The server is clean: a plan that fuzzes after the handshake resumes like a clean one.
    for (seq, cid, r, _) in &resuming {
        if matches!(plan(cid).fuzz_state, FuzzState::Ready | FuzzState::Closing) {
            assert!(r.offered && r.accepted == Some(true), "#{seq} {cid}: {r:?}");
        }
    }

    // Alone: the first resuming connections that fuzzed something, whatever the state.
    let alone: Vec<_> = resuming.iter().filter(|(seq, ..)| original[seq].3 > 0).take(4).collect();
    assert!(!alone.is_empty());
    for (seq, cid, r, digest) in alone {
        let replay_log = dir.join(format!("replay-{cid}.jsonl"));
        let out = client(&[
            "replay",
            "--cid",
            &cid.to_hex(),
            "--seq",
            &seq.to_string(),
            "--resume-rate",
            RATE,
            "--log",
            replay_log.to_str().unwrap(),
            &server.addr.to_string(),
        ]);
        assert_eq!(out.status.code(), Some(0), "replay {cid}: {}", out.stderr);
        let replayed = ends(&fuzz_e2e::log_lines(&replay_log));
        let (_, got, got_digest, _) = &replayed[seq];
        let got = got.as_ref().expect("the replay resumed too");
        println!("#{seq} {cid}: campaign {r:?} / replay {got:?}");
        assert_eq!((got.offered, got.accepted), (r.offered, r.accepted), "#{seq} {cid} resumes as in the campaign");
        assert_eq!(got_digest, digest, "#{seq} {cid}: same decisions alone");
    }

    // Restart at the checkpoint of #100 from a copy of the log cut there; the rate comes from it.
    let text = std::fs::read_to_string(&path).unwrap();
    let cut_at = text.find(r#""event":"checkpoint","seq":100"#).expect("checkpoint #100");
    let line_end = cut_at + text[cut_at..].find('\n').unwrap() + 1;
    let cut = dir.join("cut.jsonl");
    std::fs::write(&cut, &text[..line_end]).unwrap();
    let cut_log = cut.to_str().unwrap();
    let out = client(&[
        "--resume-from",
        cut_log,
        "--count",
        "100",
        "--log",
        cut_log,
        "--no-progress",
        &server.addr.to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "restart: {}", out.stderr);
    let lines = fuzz_e2e::log_lines(&cut);
    let restart_start = lines.iter().rposition(|l| matches!(l.event, Event::RunStart { .. })).unwrap();
    match &lines[restart_start].event {
        Event::RunStart { resume_rate, args, start_seq, .. } => {
            assert_eq!(*resume_rate, Some(rate()), "the restart keeps the log's rate");
            assert_eq!(*start_seq, 100, "restart stderr:\n{}", out.stderr);
            assert!(args.windows(2).any(|w| w[0] == "--resume-rate" && w[1] == RATE), "{args:?}");
        }
        _ => unreachable!(),
    }
    let tail = ends(&lines[restart_start..]);
    assert_eq!(tail.len(), 100);
    let (mut same, mut total) = (0, 0);
    for (seq, (cid, r, _, _)) in &tail {
        let (orig_cid, orig_r, _, _) = &original[seq];
        assert_eq!(cid, orig_cid);
        assert_eq!(r.is_some(), orig_r.is_some(), "#{seq}: the same plans resume");
        if let (Some(r), Some(o)) = (r, orig_r) {
            total += 1;
            same += ((r.offered, r.accepted) == (o.offered, o.accepted)) as usize;
            if matches!(plan(cid).fuzz_state, FuzzState::Ready | FuzzState::Closing) {
                assert_eq!((r.offered, r.accepted), (o.offered, o.accepted), "#{seq} {cid}");
            }
        }
    }
    println!("restart: {same}/{total} resuming connections of the tail resumed as in the original");
    assert!(same * 100 >= total * 95, "{same}/{total}");
    drop(server);
}
