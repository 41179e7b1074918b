//! The command line that restarts a campaign at a checkpoint: pure, and unit-tested.
//!
//! It is the original command line, program path first, with every original option kept except
//! `--start-cid`, `--start-seq` and `--count`: the restart begins at the checkpoint's CID with
//! the checkpoint's sequence number (so the numbering, and thus the checkpoint schedule, stays
//! the same), and a `--count` shrinks by the connections already done. Arguments are quoted for
//! a POSIX shell, so the line can be pasted as it is.

use fuzz_shared::Cid;

/// Options whose values the restart replaces.
const REPLACED: [&str; 3] = ["--start-cid", "--start-seq", "--count"];

/// The restart command: `argv` is the original command line (program first), `start_seq` the
/// original start sequence number, `count` the original `--count` if given, and
/// (`seq`, `cid`) the checkpoint to restart at.
pub fn restart_command(argv: &[String], start_seq: u64, count: Option<u64>, seq: u64, cid: &Cid) -> String {
    let mut out: Vec<String> = Vec::with_capacity(argv.len() + 6);
    let mut rest = argv.iter();
    if let Some(program) = rest.next() {
        out.push(program.clone());
    }
    let mut positional_only = false;
    let mut tail: Vec<String> = Vec::new();
    while let Some(arg) = rest.next() {
        if positional_only {
            tail.push(arg.clone());
            continue;
        }
        if arg == "--" {
            positional_only = true;
            tail.push(arg.clone());
            continue;
        }
        if REPLACED.contains(&arg.as_str()) {
            rest.next(); // its value
            continue;
        }
        if REPLACED.iter().any(|opt| arg.starts_with(&format!("{opt}="))) {
            continue;
        }
        out.push(arg.clone());
    }
    out.push("--start-cid".into());
    out.push(cid.to_hex());
    out.push("--start-seq".into());
    out.push(seq.to_string());
    if let Some(count) = count {
        let done = seq.saturating_sub(start_seq);
        out.push("--count".into());
        out.push(count.saturating_sub(done).max(1).to_string());
    }
    out.extend(tail);
    out.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
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
    fn quoting() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote("127.0.0.1:4433"), "127.0.0.1:4433");
    }
}
