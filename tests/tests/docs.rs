//! The documentation keeps up with the code: every relative link in README.md and docs/
//! resolves (the file, and its `#anchor` as GitHub renders heading anchors), and every long flag
//! in the `--help` of fuzz-client, of each of its subcommands and of fuzz-server is written
//! literally somewhere in README.md or docs/. Each test fails with the whole list of what is
//! missing, so one run says everything that needs writing.

use fuzz_e2e::{bin, workspace};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// README.md and every Markdown file under docs/, sorted.
fn doc_files() -> Vec<PathBuf> {
    let root = workspace();
    let mut files = vec![root.join("README.md")];
    let mut dirs = vec![root.join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The lines of a Markdown text outside fenced code blocks.
fn prose_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    text.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

/// A line with its inline code spans (`...`) removed: a link written in code is not a link.
fn without_code_spans(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join("")
}

/// The targets of the inline links `[text](target)` of a text, outside code.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    targets
}

/// The anchors GitHub gives a Markdown file's headings: the heading's text, lower-cased, without
/// punctuation (letters, digits, spaces, `-` and `_` stay), spaces turned into `-`; a repeated
/// anchor gets `-1`, `-2`, ... appended.
fn heading_anchors(text: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    for line in prose_lines(text) {
        let Some(heading) = line.strip_prefix('#') else { continue };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let rendered = rendered_text(heading.trim());
        let slug: String = rendered
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = slug.clone();
        let mut n = 0;
        while anchors.contains(&anchor) {
            n += 1;
            anchor = format!("{slug}-{n}");
        }
        anchors.insert(anchor);
    }
    anchors
}

/// A heading's text as rendered: links become their text, code and emphasis marks go.
fn rendered_text(markdown: &str) -> String {
    let mut out = String::new();
    let mut rest = markdown;
    while let Some(at) = rest.find("](") {
        let Some(end) = rest[at..].find(')') else { break };
        out.push_str(&rest[..at]);
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    out.chars().filter(|c| !matches!(c, '`' | '*' | '[' | ']')).collect()
}

/// What is wrong with one link target of `file`, if anything.
fn broken_link(file: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let resolved = if path.is_empty() { file.to_path_buf() } else { file.parent().expect("file in a dir").join(path) };
    if !resolved.exists() {
        return Some(format!("no such file: {}", resolved.display()));
    }
    let anchor = anchor?;
    if resolved.extension().is_none_or(|e| e != "md") {
        return Some(format!("an anchor into a file that is not Markdown: {}", resolved.display()));
    }
    if heading_anchors(&read(&resolved)).contains(anchor) {
        None
    } else {
        Some(format!("no heading with anchor #{anchor} in {}", resolved.display()))
    }
}

#[test]
fn every_relative_link_resolves() {
    let root = workspace();
    let mut broken = Vec::new();
    for file in doc_files() {
        for target in link_targets(&read(&file)) {
            if let Some(why) = broken_link(&file, &target) {
                let name = file.strip_prefix(&root).unwrap_or(&file).display().to_string();
                broken.push(format!("{name}: ({target}): {why}"));
            }
        }
    }
    assert!(broken.is_empty(), "{} broken link(s) in README.md and docs/:\n{}", broken.len(), broken.join("\n"));
}

fn help(binary: &str, args: &[&str]) -> String {
    let out = Command::new(bin(binary)).args(args).arg("--help").output().expect("run --help");
    assert!(out.status.success(), "{binary} {args:?} --help failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The subcommands a clap `--help` lists under `Commands:` (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A command's line starts at column 2; its description's wrapped lines further in.
        .filter(|l| !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every long flag (`--name`) a help text names, but `--help` and `--version`.
fn long_flags(help: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    let mut rest = help;
    while let Some(at) = rest.find("--") {
        let name: String = rest[at + 2..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        let before = help.len() - rest.len() + at;
        let starts_word = before == 0 || !help.as_bytes()[before - 1].is_ascii_alphanumeric();
        if starts_word && name.starts_with(|c: char| c.is_ascii_lowercase()) && name != "help" && name != "version" {
            flags.insert(format!("--{}", name.trim_end_matches('-')));
        }
        rest = &rest[at + 2 + name.len()..];
    }
    flags
}

/// Whether `flag` is written in `docs` as a whole word (`--idle` is not `--idle-ms`).
fn written(docs: &str, flag: &str) -> bool {
    docs.match_indices(flag).any(|(at, _)| {
        let next = docs[at + flag.len()..].chars().next();
        !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

#[test]
fn every_help_flag_is_documented() {
    let docs: String = doc_files().iter().map(|f| read(f)).collect::<Vec<_>>().join("\n");
    let top = help("fuzz-client", &[]);
    let mut helps = vec![("fuzz-client".to_string(), top.clone())];
    let commands = subcommands(&top);
    assert!(commands.iter().any(|c| c == "bisect"), "fuzz-client --help lists its subcommands: {commands:?}");
    for command in &commands {
        helps.push((format!("fuzz-client {command}"), help("fuzz-client", &[command])));
    }
    helps.push(("fuzz-server".to_string(), help("fuzz-server", &[])));
    let mut missing = Vec::new();
    for (who, text) in &helps {
        let flags = long_flags(text);
        // `generate` takes only its KIND; every other command has options.
        assert!(!flags.is_empty() || who == "fuzz-client generate", "{who} --help names no long flag");
        for flag in flags.iter().filter(|f| !written(&docs, f)) {
            missing.push(format!("{who}: {flag}"));
        }
    }
    assert!(
        missing.is_empty(),
        "{} flag(s) of --help written nowhere in README.md or docs/:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

/// What `generate KIND` (fuzz-client) or `--generate KIND` (fuzz-server) writes on stdout.
fn generated(binary: &str, kind: &str) -> String {
    let args: &[&str] = if binary == "fuzz-client" { &["generate", kind] } else { &["--generate", kind] };
    let out = Command::new(bin(binary)).args(args).output().expect("run generate");
    assert!(out.status.success(), "{binary} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("generated text is UTF-8")
}

/// docs/install.md: the man pages and completion scripts come from the options the binaries
/// parse (a flag of each is in them), bash accepts the completion script, and an unknown kind is
/// a usage error.
#[test]
fn man_pages_and_completions_are_generated_from_the_options() {
    for (binary, flag) in [("fuzz-client", "concurrency"), ("fuzz-server", "planted-fault")] {
        let man = generated(binary, "man");
        assert!(man.contains(&format!(".TH {binary}")), "{binary}: not a man page:\n{man}");
        // roff escapes the hyphens of option names.
        assert!(man.contains(&flag.replace('-', "\\-")), "{binary}'s man page lacks --{flag}");
        for kind in ["complete-bash", "complete-zsh", "complete-fish", "complete-powershell", "complete-elvish"] {
            let script = generated(binary, kind);
            // fish names options without their dashes (`concurrency=`).
            assert!(script.contains(flag), "{binary} {kind} lacks --{flag}:\n{script}");
        }
        let script = fuzz_e2e::scratch_dir(&format!("completion-{binary}")).join("completion.bash");
        std::fs::write(&script, generated(binary, "complete-bash")).expect("write script");
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("source '{}' && complete -p {binary}", script.display()))
            .output()
            .expect("run bash");
        assert!(out.status.success(), "bash rejects {binary}'s completion: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = Command::new(bin("fuzz-client")).args(["generate", "roff"]).output().expect("run generate");
    assert_eq!(out.status.code(), Some(2), "an unknown kind is a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("complete-bash"), "the error lists the kinds");
}

#[test]
fn anchors_are_githubs() {
    let anchors =
        heading_anchors("# Fuzzing all night: findings, restarts\n## `--shard` and `merge`\n## Leaks\n## Leaks\n");
    let expected = ["fuzzing-all-night-findings-restarts", "--shard-and-merge", "leaks", "leaks-1"];
    assert_eq!(anchors, expected.iter().map(|s| s.to_string()).collect());
}
