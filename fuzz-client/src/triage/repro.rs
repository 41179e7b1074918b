//! The command lines printed for the user: pure, and unit-tested.
//!
//! - [`restart_command`] restarts a campaign at a checkpoint. It is the original command line,
//!   program path first, with every original option kept except `--start-cid`, `--start-seq`,
//!   `--resume-from` and `--count`: the restart begins at the checkpoint's CID with the
//!   checkpoint's sequence number (so the numbering, and thus the checkpoint schedule, stays the
//!   same), and a `--count` shrinks by the connections already done. `--server-cmd` is kept, so
//!   the restart starts a fresh server itself.
//! - [`bisect_command`] narrows a crash down: `bisect` from the last checkpoint over every
//!   connection started since, with the campaign's connection and server options and its
//!   concurrency (the timing the crash happened under).
//! - [`replay_command`] and [`window_command`] turn a `bisect` command line into the command that
//!   reproduces its verdict: `replay` of the culprit, or a campaign over the window that needs
//!   its history; [`pcap_replay_command`] resends the culprit's captured Initial datagrams. They
//!   keep the connection and server options and drop bisect's own.
//! - [`replay_only_command`] turns a `minimize` command line into the `replay --only` of the
//!   contents it kept: the culprit mutating those alone.
//!
//! Arguments are quoted for a POSIX shell, so every line can be pasted as it is.

use fuzz_shared::Cid;

/// Options whose values the restart replaces. A shard's restart spells its shard as `--shard I/N`
/// (never `--shards N`, which takes the index from the environment).
const REPLACED: [&str; 6] = ["--start-cid", "--start-seq", "--resume-from", "--count", "--shard", "--shards"];
/// Options of a campaign that `bisect` does not take, or sets itself (all take a value;
/// `--no-progress` is a flag, dropped separately). `--log` stays: bisect's trial logs go next to
/// the run's (`<log>.trial-N`).
const CAMPAIGN_ONLY: [&str; 17] = [
    "--only-seqs",
    "--shard",
    "--shards",
    "--start-cid",
    "--start-seq",
    "--resume-from",
    "--count",
    "--duration",
    "--checkpoint-every",
    "--failure-streak",
    "--concurrency",
    "--findings",
    "--max-findings",
    "--down-wait",
    "--leak-limit",
    "--leak-per-conn",
    "--coverage",
];
/// A campaign's own flags (no value), dropped with [`CAMPAIGN_ONLY`].
const CAMPAIGN_FLAGS: [&str; 3] = ["--no-progress", "--no-triage", "--no-guidance"];
/// Options of `bisect` that mean nothing to the command reproducing its verdict (all take a
/// value). `--log` is dropped too: the reproduction should not append to bisect's trial logs.
const BISECT_ONLY: [&str; 6] = ["--from", "--from-seq", "--until", "--tries", "--log", "--leak"];

/// Splits `args` (the command line without its program) into the arguments kept (all but the
/// options in `drop`, with their values, in both `--opt v` and `--opt=v` forms) and the
/// arguments from a `--` on, which are positional whatever they look like.
fn strip(args: &[String], drop: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut kept = Vec::with_capacity(args.len());
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            let tail = std::iter::once(arg).chain(rest).cloned().collect();
            return (kept, tail);
        }
        if drop.contains(&arg.as_str()) {
            rest.next(); // its value
            continue;
        }
        if drop.iter().any(|opt| arg.starts_with(&format!("{opt}="))) {
            continue;
        }
        kept.push(arg.clone());
    }
    (kept, Vec::new())
}

/// `--corpus-from LOG` for a command derived from a `--coverage` campaign's command line `args`
/// (without its program): the campaign's children are drawn from the corpus its run log holds,
/// and a restart, bisect or replay of them needs it. `None` when the campaign ran blind, or
/// names its corpus itself (`--corpus-from` is kept like any connection option).
fn corpus_of_campaign(args: &[String]) -> Option<[String; 2]> {
    let (mut coverage, mut named, mut log) = (false, false, None);
    let mut rest = args.iter().take_while(|a| *a != "--");
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--coverage" => coverage = true,
            // Measured, not guided: every connection blind, no corpus.
            "--no-guidance" => named = true,
            "--corpus-from" => named = true,
            "--log" => log = rest.next().cloned(),
            a if a.starts_with("--coverage=") => coverage = true,
            a if a.starts_with("--corpus-from=") => named = true,
            a => {
                if let Some(v) = a.strip_prefix("--log=") {
                    log = Some(v.to_string());
                }
            }
        }
    }
    match (coverage && !named, log) {
        (true, Some(log)) => Some(["--corpus-from".into(), log]),
        _ => None,
    }
}

/// A command line as given (program first), quoted for a shell.
pub fn command_line(argv: &[String]) -> String {
    join(argv.iter().cloned())
}

fn join(args: impl IntoIterator<Item = String>) -> String {
    args.into_iter().map(|a| shell_quote(&a)).collect::<Vec<_>>().join(" ")
}

/// The arguments of a `bisect` command line after `bisect` itself, without bisect's own options
/// and `drop`: (program, kept, tail from `--`).
fn from_bisect(argv: &[String], drop: &[&str]) -> (String, Vec<String>, Vec<String>) {
    let program = argv.first().cloned().unwrap_or_else(|| "fuzz-client".into());
    // Options cannot come before a subcommand (clap refuses them), so `bisect` is argv[1].
    let args = argv.get(2..).unwrap_or_default();
    let all: Vec<&str> = BISECT_ONLY.iter().chain(drop).copied().collect();
    let (kept, tail) = strip(args, &all);
    (program, kept, tail)
}

/// `fuzz-client replay --cid CID --seq SEQ <connection and server options> SERVER`, from the
/// command line of a `bisect` that found connection `seq` (`cid`) to kill the server alone.
pub fn replay_command(bisect_argv: &[String], seq: u64, cid: &Cid) -> String {
    // `replay` runs one connection: it has no --concurrency.
    let (program, kept, tail) = from_bisect(bisect_argv, &["--concurrency"]);
    let head = [program, "replay".into(), "--cid".into(), cid.to_hex(), "--seq".into(), seq.to_string()];
    join(head.into_iter().chain(kept).chain(tail))
}

/// `fuzz-client replay --cid CID --seq SEQ <connection and server options> SERVER` for connection
/// `seq` (`cid`) of any run, from its `run_start` command line (program first): a campaign's,
/// a `bisect`'s (its trials' logs) or a `replay`'s. The campaign's own options and `--log` are
/// dropped (the replay should not append to the run's log); the server command is kept.
pub fn replay_from_run(argv: &[String], seq: u64, cid: &Cid) -> String {
    match argv.get(1).map(String::as_str) {
        Some("bisect") => replay_command(argv, seq, cid),
        Some("replay") => {
            let (program, kept, tail) = from_bisect(argv, &["--cid", "--seq", "--pcap"]);
            let head = [program, "replay".into(), "--cid".into(), cid.to_hex(), "--seq".into(), seq.to_string()];
            join(head.into_iter().chain(kept).chain(tail))
        }
        _ => replay_from_campaign(argv, seq, cid),
    }
}

/// `fuzz-client replay --pcap FILE --cid CID <connection and server options> SERVER`, from the
/// command line of a `bisect` whose culprit's Initial datagrams are in the capture `pcap`.
pub fn pcap_replay_command(bisect_argv: &[String], pcap: &std::path::Path, cid: &Cid) -> String {
    // The capture replaces the connection: no --concurrency, and --mode means nothing to it.
    let (program, kept, tail) = from_bisect(bisect_argv, &["--concurrency", "--mode"]);
    let head = [program, "replay".into(), "--pcap".into(), pcap.display().to_string(), "--cid".into(), cid.to_hex()];
    join(head.into_iter().chain(kept).chain(tail))
}

/// `fuzz-client --start-cid CID --start-seq SEQ --count N --concurrency C <options> SERVER`,
/// from the command line of a `bisect` whose verdict is that the server dies only after that
/// whole window. The concurrency is always spelled out: bisect's default is not a campaign's.
pub fn window_command(bisect_argv: &[String], start_seq: u64, cid: &Cid, count: u64, concurrency: usize) -> String {
    window_seqs_command(bisect_argv, (start_seq, cid, count), concurrency, None)
}

/// [`window_command`], running only the connections `seqs` of the window (`--only-seqs`) when
/// given: what a triage of accumulated state reproduces.
pub fn window_seqs_command(
    bisect_argv: &[String],
    (start_seq, cid, count): (u64, &Cid, u64),
    concurrency: usize,
    seqs: Option<&[u64]>,
) -> String {
    let (program, kept, tail) = from_bisect(bisect_argv, &["--concurrency"]);
    let only = seqs.map(|s| ["--only-seqs".to_string(), s.iter().map(u64::to_string).collect::<Vec<_>>().join(",")]);
    let head = [
        program,
        "--start-cid".into(),
        cid.to_hex(),
        "--start-seq".into(),
        start_seq.to_string(),
        "--count".into(),
        count.to_string(),
        "--concurrency".into(),
        concurrency.to_string(),
    ];
    join(head.into_iter().chain(only.into_iter().flatten()).chain(kept).chain(tail))
}

/// `fuzz-client replay --cid CID --seq SEQ --only LIST <connection and server options> SERVER`,
/// from the command line of a `minimize` (or a `bisect`) of connection `seq` (`cid`): the
/// connection mutating only the contents `only`. With none, it is `--mode clean` (nothing
/// mutated) instead. `minimize`'s own options (`--tries`, `--log`) are dropped like bisect's.
pub fn replay_only_command(argv: &[String], seq: u64, cid: &Cid, only: &[fuzz_shared::ContentId]) -> String {
    let (program, kept, tail) = from_bisect(argv, &["--concurrency", "--cid", "--seq", "--only", "--mode"]);
    let mut head = vec![program, "replay".into(), "--cid".into(), cid.to_hex(), "--seq".into(), seq.to_string()];
    if only.is_empty() {
        head.extend(["--mode".into(), "clean".into()]);
    } else {
        head.extend(["--only".into(), fuzz_shared::content::join_content_ids(only)]);
    }
    join(head.into_iter().chain(kept).chain(tail))
}

/// `fuzz-client replay --cid CID --seq SEQ <connection and server options> SERVER`, from a
/// campaign's command line (program first): for a connection `merge` found in a shard's log.
/// `--log` is dropped, so that the replay does not append to the campaign's log.
pub fn replay_from_campaign(argv: &[String], seq: u64, cid: &Cid) -> String {
    let program = argv.first().cloned().unwrap_or_else(|| "fuzz-client".into());
    let args = argv.get(1..).unwrap_or_default();
    let drop: Vec<&str> = CAMPAIGN_ONLY.iter().copied().chain(["--log"]).collect();
    let (kept, tail) = strip(args, &drop);
    let kept = kept.into_iter().filter(|a| !CAMPAIGN_FLAGS.contains(&a.as_str()));
    let corpus = corpus_of_campaign(args).into_iter().flatten();
    let head = [program, "replay".into(), "--cid".into(), cid.to_hex(), "--seq".into(), seq.to_string()];
    join(head.into_iter().chain(kept).chain(corpus).chain(tail))
}

/// The restart command: `argv` is the original command line (program first), `start_seq` the
/// original start sequence number, `count` the original `--count` if given, and
/// (`seq`, `cid`) the checkpoint to restart at.
pub fn restart_command(argv: &[String], start_seq: u64, count: Option<u64>, seq: u64, cid: &Cid) -> String {
    restart_at(argv, vec!["--start-cid".into(), cid.to_hex()], start_seq, count, seq)
}

/// The restart command of a shard: the campaign's root and `--shard I/N` (so the restart is
/// that shard alone, wherever it runs, whatever `$JOB_COMPLETION_INDEX` says) with the
/// checkpoint's `seq` in the shard's chain, which the restart walks to.
pub fn shard_restart_command(
    argv: &[String],
    shard: &fuzz_shared::shard::ShardInfo,
    start_seq: u64,
    count: Option<u64>,
    seq: u64,
) -> String {
    let start = vec!["--start-cid".into(), shard.root.to_hex(), "--shard".into(), shard.spec().to_string()];
    restart_at(argv, start, start_seq, count, seq)
}

/// `argv` without the options the restart replaces, then `start`, `--start-seq seq` and the
/// `--count` left.
fn restart_at(argv: &[String], start: Vec<String>, start_seq: u64, count: Option<u64>, seq: u64) -> String {
    let mut out: Vec<String> = Vec::with_capacity(argv.len() + 8);
    out.extend(argv.first().cloned());
    let args = argv.get(1..).unwrap_or_default();
    let (kept, tail) = strip(args, &REPLACED);
    out.extend(kept);
    out.extend(corpus_of_campaign(args).into_iter().flatten());
    out.extend(start);
    out.push("--start-seq".into());
    out.push(seq.to_string());
    if let Some(count) = count {
        let done = seq.saturating_sub(start_seq);
        out.push("--count".into());
        out.push(count.saturating_sub(done).max(1).to_string());
    }
    out.extend(tail);
    join(out)
}

/// `fuzz-client bisect --from CID --from-seq SEQ --until N --concurrency C <options> SERVER`, from
/// a campaign's command line (program first): the window is the `count` connections started
/// since the checkpoint (`seq`, `cid`), run at the campaign's `concurrency`.
pub fn bisect_command(argv: &[String], seq: u64, cid: &Cid, count: u64, concurrency: usize) -> String {
    join(bisect_argv(argv, seq, cid, count, concurrency))
}

/// [`bisect_command`] as arguments, program first: what the automatic triage runs.
pub fn bisect_argv(argv: &[String], seq: u64, cid: &Cid, count: u64, concurrency: usize) -> Vec<String> {
    let program = argv.first().cloned().unwrap_or_else(|| "fuzz-client".into());
    let args = argv.get(1..).unwrap_or_default();
    let (kept, tail) = strip(args, &CAMPAIGN_ONLY);
    let kept = kept.into_iter().filter(|a| !CAMPAIGN_FLAGS.contains(&a.as_str()));
    let kept = kept.chain(corpus_of_campaign(args).into_iter().flatten());
    let head = [
        program,
        "bisect".into(),
        "--from".into(),
        cid.to_hex(),
        "--from-seq".into(),
        seq.to_string(),
        "--until".into(),
        count.max(1).to_string(),
        "--concurrency".into(),
        concurrency.to_string(),
    ];
    head.into_iter().chain(kept).chain(tail).collect()
}

/// `fuzz-client minimize --cid CID --seq SEQ --tries N --log LOG <connection and server options>
/// SERVER`, from the command line of a `bisect` that found connection `seq` (`cid`) to kill the
/// server alone: what the automatic triage runs next.
pub fn minimize_argv(bisect_argv: &[String], seq: u64, cid: &Cid, tries: u32, log: &std::path::Path) -> Vec<String> {
    // `minimize` runs one connection: it has no --concurrency.
    let (program, kept, tail) = from_bisect(bisect_argv, &["--concurrency"]);
    let head = [
        program,
        "minimize".into(),
        "--cid".into(),
        cid.to_hex(),
        "--seq".into(),
        seq.to_string(),
        "--tries".into(),
        tries.to_string(),
        "--log".into(),
        log.display().to_string(),
    ];
    head.into_iter().chain(kept).chain(tail).collect()
}

/// `argv` (program first) without the options in `drop` and their values.
pub fn without_options(argv: &[String], drop: &[&str]) -> Vec<String> {
    let (kept, tail) = strip(argv.get(1..).unwrap_or_default(), drop);
    argv.first().cloned().into_iter().chain(kept).chain(tail).collect()
}

/// Quotes one argument for a POSIX shell: left bare when it only has safe characters,
/// otherwise in single quotes (a single quote itself becomes `'\''`).
pub fn shell_quote(arg: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !arg.is_empty() && arg.chars().all(safe) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn replay_only_keeps_connection_options_and_names_the_contents() {
        let cid: Cid = "de62710ead78d644".parse().unwrap();
        let a = argv(&[
            "fuzz-client",
            "minimize",
            "--cid",
            "de62710ead78d644",
            "--seq",
            "206",
            "--tries=3",
            "--log",
            "m.jsonl",
            "--idle-ms",
            "300",
            "--server-cmd",
            "fuzz-server --listen 127.0.0.1:4433",
            "127.0.0.1:4433",
        ]);
        let only: Vec<fuzz_shared::ContentId> = ["application_data/stream:0@0", "application_data/new_connection_id:1"]
            .map(|s| s.parse().unwrap())
            .to_vec();
        assert_eq!(
            replay_only_command(&a, 206, &cid, &only),
            "fuzz-client replay --cid de62710ead78d644 --seq 206 --only \
             application_data/stream:0@0,application_data/new_connection_id:1 --idle-ms 300 --server-cmd \
             'fuzz-server --listen 127.0.0.1:4433' 127.0.0.1:4433"
        );
        let clean = replay_only_command(&a, 206, &cid, &[]);
        assert!(
            clean.starts_with("fuzz-client replay --cid de62710ead78d644 --seq 206 --mode clean --idle-ms"),
            "{clean}"
        );
    }

    /// A coverage campaign's children come from the corpus in its run log: every command made
    /// from its command line reads it back (`--corpus-from`), and none measures coverage again.
    #[test]
    fn commands_of_a_coverage_campaign_read_its_corpus() {
        let cid: Cid = "cac106eb3b28bca3".parse().unwrap();
        let a = argv(&[
            "fuzz-client",
            "--coverage",
            "afl",
            "--log=run.jsonl",
            "--server-cmd",
            "srv {port}",
            "127.0.0.1:{port}",
        ]);
        let restart = restart_command(&a, 0, None, 100, &cid);
        assert_eq!(
            restart,
            "fuzz-client --coverage afl --log=run.jsonl --server-cmd 'srv {port}' '127.0.0.1:{port}' --corpus-from \
             run.jsonl --start-cid cac106eb3b28bca3 --start-seq 100"
        );
        let bisect = bisect_argv(&a, 100, &cid, 7, 16);
        assert!(!bisect.contains(&"--coverage".to_string()), "{bisect:?}");
        let at = bisect.iter().position(|x| x == "--corpus-from").expect("--corpus-from");
        assert_eq!(bisect[at + 1], "run.jsonl");
        let replay = replay_command(&bisect, 103, &cid);
        assert!(replay.contains("--corpus-from run.jsonl") && !replay.contains("--coverage"), "{replay}");
        assert!(replay_from_campaign(&a, 3, &cid).contains("--corpus-from run.jsonl"));
        // Named already: kept once. Blind: none.
        let named = argv(&["fuzz-client", "--coverage", "afl", "--corpus-from", "old.jsonl", "--log", "r", "srv"]);
        assert_eq!(restart_command(&named, 0, None, 100, &cid).matches("--corpus-from").count(), 1);
        let blind = argv(&["fuzz-client", "--log", "run.jsonl", "127.0.0.1:4433"]);
        assert!(!bisect_command(&blind, 100, &cid, 7, 16).contains("--corpus-from"));
        let measured = argv(&["fuzz-client", "--coverage", "afl", "--no-guidance", "--log", "r", "srv"]);
        assert!(!restart_command(&measured, 0, None, 100, &cid).contains("--corpus-from"));
        assert!(!bisect_command(&measured, 100, &cid, 7, 16).contains("--no-guidance"));
    }

    #[test]
    fn replaces_start_and_shrinks_count() {
        let cid: Cid = "cac106eb3b28bca3".parse().unwrap();
        let a = argv(&[
            "/opt/bin/fuzz-client",
            "--start-cid",
            "0123456789abcdef",
            "--count",
            "300",
            "--concurrency",
            "16",
            "--log",
            "/tmp/run log.jsonl",
            "127.0.0.1:4433",
        ]);
        assert_eq!(
            restart_command(&a, 0, Some(300), 100, &cid),
            "/opt/bin/fuzz-client --concurrency 16 --log '/tmp/run log.jsonl' 127.0.0.1:4433 \
             --start-cid cac106eb3b28bca3 --start-seq 100 --count 200"
        );
    }

    #[test]
    fn equals_forms_and_earlier_numbering() {
        let cid: Cid = "282508f198836bcc".parse().unwrap();
        let a = argv(&["fuzz-client", "--start-cid=0123456789abcdef", "--start-seq=1000", "--count=50", "h:1"]);
        assert_eq!(
            restart_command(&a, 1000, Some(50), 1020, &cid),
            "fuzz-client h:1 --start-cid 282508f198836bcc --start-seq 1020 --count 30"
        );
    }

    #[test]
    fn without_count_or_start_cid() {
        let cid: Cid = "d92435637f25b264".parse().unwrap();
        let a = argv(&["fuzz-client", "--duration", "60", "--sni", "it's", "h:1"]);
        assert_eq!(
            restart_command(&a, 0, None, 0, &cid),
            r"fuzz-client --duration 60 --sni 'it'\''s' h:1 --start-cid d92435637f25b264 --start-seq 0"
        );
    }

    #[test]
    fn resume_from_and_server_cmd() {
        // A run started with --resume-from restarts in the plain --start-cid/--start-seq form,
        // and keeps --server-cmd, so the restart starts a fresh server itself.
        let cid: Cid = "282508f198836bcc".parse().unwrap();
        let a = argv(&[
            "fuzz-client",
            "--resume-from",
            "old.jsonl",
            "--server-cmd",
            "fuzz-server --listen 127.0.0.1:4433",
            "--count",
            "100",
            "127.0.0.1:4433",
        ]);
        assert_eq!(
            restart_command(&a, 150, Some(100), 200, &cid),
            "fuzz-client --server-cmd 'fuzz-server --listen 127.0.0.1:4433' 127.0.0.1:4433 \
             --start-cid 282508f198836bcc --start-seq 200 --count 50"
        );
    }

    #[test]
    fn bisect_from_a_campaign_keeps_its_options_and_concurrency() {
        let cid: Cid = "cac106eb3b28bca3".parse().unwrap();
        let a = argv(&[
            "fuzz-client",
            "--start-cid",
            "0123456789abcdef",
            "--count=5000",
            "--concurrency",
            "64",
            "--checkpoint-every",
            "50",
            "--no-progress",
            "--log",
            "run.jsonl",
            "--idle-ms",
            "800",
            "--leak-limit",
            "256M",
            "--leak-per-conn=4K",
            "--server-cmd",
            "srv --port 1",
            "127.0.0.1:4433",
        ]);
        assert_eq!(
            bisect_command(&a, 100, &cid, 37, 64),
            "fuzz-client bisect --from cac106eb3b28bca3 --from-seq 100 --until 37 --concurrency 64 --log run.jsonl \
             --idle-ms 800 --server-cmd 'srv --port 1' 127.0.0.1:4433"
        );
    }

    #[test]
    fn replay_of_any_connection_of_a_run() {
        let cid: Cid = "cac106eb3b28bca3".parse().unwrap();
        let campaign = argv(&[
            "fuzz-client",
            "--start-cid",
            "0123456789abcdef",
            "--count=300",
            "--concurrency",
            "16",
            "--log",
            "run.jsonl",
            "--no-progress",
            "--mode",
            "fuzz",
            "--server-cmd",
            "srv --listen 127.0.0.1:4433",
            "127.0.0.1:4433",
        ]);
        let want = "fuzz-client replay --cid cac106eb3b28bca3 --seq 42 --mode fuzz --server-cmd 'srv --listen 127.0.0.1:4433' \
                    127.0.0.1:4433";
        assert_eq!(replay_from_run(&campaign, 42, &cid), want);
        let replay = argv(&[
            "fuzz-client",
            "replay",
            "--cid",
            "0123456789abcdef",
            "--seq",
            "7",
            "--log",
            "r.jsonl",
            "127.0.0.1:4433",
        ]);
        assert_eq!(
            replay_from_run(&replay, 42, &cid),
            "fuzz-client replay --cid cac106eb3b28bca3 --seq 42 127.0.0.1:4433"
        );
        let bisect = argv(&[
            "fuzz-client",
            "bisect",
            "--from",
            "0123456789abcdef",
            "--until",
            "9",
            "--log",
            "b",
            "127.0.0.1:4433",
        ]);
        assert_eq!(replay_from_run(&bisect, 42, &cid), replay_command(&bisect, 42, &cid));
    }

    #[test]
    fn bisect_verdict_commands() {
        let cid: Cid = "cac106eb3b28bca3".parse().unwrap();
        let a = argv(&[
            "/bin/fuzz-client",
            "bisect",
            "--from",
            "0123456789abcdef",
            "--from-seq=100",
            "--until",
            "300",
            "--leak",
            "4M",
            "--tries",
            "2",
            "--concurrency",
            "8",
            "--log",
            "b.jsonl",
            "--server-cmd",
            "srv --listen 127.0.0.1:4433",
            "--idle-ms",
            "300",
            "127.0.0.1:4433",
        ]);
        assert_eq!(
            replay_command(&a, 187, &cid),
            "/bin/fuzz-client replay --cid cac106eb3b28bca3 --seq 187 --server-cmd 'srv --listen 127.0.0.1:4433' \
             --idle-ms 300 127.0.0.1:4433"
        );
        assert_eq!(
            pcap_replay_command(&a, std::path::Path::new("b.jsonl.trial-7.crash.pcap"), &cid),
            "/bin/fuzz-client replay --pcap b.jsonl.trial-7.crash.pcap --cid cac106eb3b28bca3 \
             --server-cmd 'srv --listen 127.0.0.1:4433' --idle-ms 300 127.0.0.1:4433"
        );
        assert_eq!(
            window_command(&a, 140, &cid, 48, 8),
            "/bin/fuzz-client --start-cid cac106eb3b28bca3 --start-seq 140 --count 48 --concurrency 8 \
             --server-cmd 'srv --listen 127.0.0.1:4433' --idle-ms 300 127.0.0.1:4433"
        );
    }

    #[test]
    fn a_shard_restarts_alone_with_its_numbering() {
        let root: Cid = "0123456789abcdef".parse().unwrap();
        let shard = fuzz_shared::shard::ShardInfo::new(root, "2/4".parse().unwrap());
        // From an Indexed Job's pod: --shards 4 and the index in the environment.
        let a = argv(&[
            "fuzz-client",
            "--start-cid",
            "0123456789abcdef",
            "--shards",
            "4",
            "--count",
            "500",
            "--log",
            "-",
            "lab:4433",
        ]);
        assert_eq!(
            shard_restart_command(&a, &shard, 0, Some(500), 200),
            "fuzz-client --log - lab:4433 --start-cid 0123456789abcdef --shard 2/4 --start-seq 200 --count 300"
        );
        let b = argv(&["fuzz-client", "--shard=2/4", "--start-cid=0123456789abcdef", "--concurrency", "8", "lab:4433"]);
        let cp = shard.cid_at(200);
        assert_eq!(
            bisect_command(&b, 200, &cp, 40, 8),
            format!("fuzz-client bisect --from {cp} --from-seq 200 --until 40 --concurrency 8 lab:4433"),
            "bisect runs the shard's window as a plain stretch of chain"
        );
    }

    /// The client knobs change what every connection sends: every command built from a
    /// campaign's command line (restart, bisect, and from bisect the replay, the window, the
    /// pcap replay, the minimized replay) keeps them, and parses back to the same knobs.
    #[test]
    fn every_command_keeps_the_client_knobs() {
        use crate::cli::{Cli, Job};
        use clap::Parser;
        let knobs = fuzz_shared::ClientKnobs { handshake_cid_rotation: false, cid_len: 8, path_mtu_probing: true };
        let cid: Cid = "cac106eb3b28bca3".parse().unwrap();
        let mut campaign = argv(&["fuzz-client", "--count", "100", "--concurrency", "4", "--server-cmd", "srv"]);
        campaign.extend(knobs.args());
        campaign.push("127.0.0.1:4433".into());
        let parse = |line: &str| -> fuzz_shared::ClientKnobs {
            let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            let cli = Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{line}: {e}"));
            match cli.into_job(words).unwrap_or_else(|e| panic!("{line}: {e}")) {
                Job::Campaign { config, .. } => config.knobs,
                Job::Bisect(b) => b.base.knobs,
                Job::Minimize(m) => m.base.knobs,
                Job::InitialReplay(j) => j.config.knobs,
                _ => panic!("{line}: no connections"),
            }
        };
        let bisect = bisect_argv(&campaign, 40, &cid, 20, 4);
        let only: Vec<fuzz_shared::ContentId> =
            fuzz_shared::content::parse_content_ids("application_data/stream:4@0").unwrap();
        let pcap = std::path::Path::new("t.crash.pcap");
        for line in [
            command_line(&campaign),
            restart_command(&campaign, 0, Some(100), 40, &cid),
            join(bisect.clone()),
            replay_command(&bisect, 47, &cid),
            window_command(&bisect, 40, &cid, 8, 4),
            pcap_replay_command(&bisect, pcap, &cid),
            replay_only_command(&replay_from_campaign_argv(&campaign, 47, &cid), 47, &cid, &only),
            replay_from_run(&campaign, 47, &cid),
            replay_from_campaign(&campaign, 47, &cid),
        ] {
            for arg in knobs.args() {
                assert!(line.split_whitespace().any(|w| w == arg), "{line}: {arg} lost");
            }
            if line.contains("--pcap") {
                continue; // replay --pcap resends bytes: the knobs are kept but unused
            }
            assert_eq!(parse(&line), knobs, "{line}");
        }
    }

    /// A `replay` command line as arguments, as `minimize` would be given one.
    fn replay_from_campaign_argv(campaign: &[String], seq: u64, cid: &Cid) -> Vec<String> {
        let mut words: Vec<String> =
            replay_from_campaign(campaign, seq, cid).split_whitespace().map(str::to_string).collect();
        words[1] = "minimize".into();
        words
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote("127.0.0.1:4433"), "127.0.0.1:4433");
    }
}
