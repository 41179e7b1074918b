//! Crash signatures of real sanitizer and libc reports: tiny C programs with one bug each,
//! compiled here (`clang`, `gcc` or `cc`, the first that builds the program with the sanitizer)
//! and run twice with different input, so that addresses, sizes and PIDs differ between the
//! runs; their stderr goes through `fuzz_shared::signature::signature` as the campaign's does.
//!
//! - `asan_use_after_free`: `asan:heap-use-after-free` in the named function, the same id for
//!   two runs and for a rebuild with the lines shifted, another id for a heap-buffer-overflow of
//!   the same program.
//! - `ubsan_signed_overflow`: `ubsan:signed-integer-overflow` (`-fno-sanitize-recover`), without
//!   and with `print_stacktrace=1`.
//! - `lsan_leak`: `lsan:leak` allocated in the named function.
//! - `glibc_assertion`: `assertion`, the function and the expression.
//! - `different_bugs_differ`: the four bugs have four ids.
//!
//! A bug no compiler here can build (no sanitizer runtime), or whose report is not symbolised
//! (clang without llvm-symbolizer), is skipped with a loud `!!! SKIPPED` line.

use fuzz_e2e::scratch_dir;
use fuzz_shared::signature::{signature, Signature};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

const UAF_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) int use_after_free(int n) {
    char *p = malloc(n);
    memset(p, 1, n);
    free(p);
    return p[n / 2];
}

__attribute__((noinline)) int overflow(int n) {
    char *p = malloc(n);
    memset(p, 1, n);
    int v = p[n + 3];
    free(p);
    return v;
}

int main(int argc, char **argv) {
    int n = atoi(argv[2]);
    printf("%d\n", strcmp(argv[1], "uaf") == 0 ? use_after_free(n) : overflow(n));
    return 0;
}
"#;

const UB_C: &str = r#"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) int add_counts(int a, int b) { return a + b; }

int main(int argc, char **argv) {
    printf("%d\n", add_counts(INT_MAX, atoi(argv[1])));
    return 0;
}
"#;

const LEAK_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The only pointer to the buffer, dropped before exit: nothing on the stack or in a register
   may keep it reachable, or LeakSanitizer sees no leak. */
void *volatile kept;

__attribute__((noinline)) void leak_buffer(int n) {
    kept = malloc(n);
    memset(kept, 1, n);
}

__attribute__((noinline)) void scrub_stack(void) {
    volatile char junk[4096];
    memset((char *)junk, 0, sizeof junk);
}

int main(int argc, char **argv) {
    leak_buffer(atoi(argv[1]));
    kept = 0;
    scrub_stack();
    return 0;
}
"#;

const ASSERT_C: &str = r#"
#include <assert.h>
#include <stdlib.h>

__attribute__((noinline)) void check_seq(int seq) { assert(seq == 0); }

int main(int argc, char **argv) {
    check_seq(atoi(argv[1]));
    return 0;
}
"#;

/// The compilers to try, in order.
const COMPILERS: &[&str] = &["clang", "gcc", "cc"];

/// Compiles `source` (written as `name.c` in `dir`) with `flags`, by the first compiler that can;
/// None, said loudly, when none can.
fn build(test: &str, dir: &Path, name: &str, source: &str, flags: &[&str]) -> Option<PathBuf> {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).expect("write the C source");
    let exe = dir.join(name);
    for cc in COMPILERS {
        let ok = Command::new(cc)
            .args(["-g", "-O1", "-fno-omit-frame-pointer"])
            .args(flags)
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(exe);
        }
    }
    eprintln!("\n!!! SKIPPED {test}: no compiler of {COMPILERS:?} builds a program with {flags:?} !!!\n");
    None
}

/// Runs `exe args`, and returns its cause in the words of the campaign's supervisor
/// (`describe_exit` in fuzz-client) and its stderr lines.
fn run(exe: &Path, args: &[&str], env: &[(&str, &str)]) -> (String, Vec<String>) {
    let out = Command::new(exe)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run the test program");
    let stderr = String::from_utf8_lossy(&out.stderr).lines().map(str::to_string).collect();
    (describe(out.status), stderr)
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(6)) => "killed by signal 6 (SIGABRT)".into(),
        (None, Some(11)) => "killed by signal 11 (SIGSEGV)".into(),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => format!("{status}"),
    }
}

/// The signature of one run, printed.
fn sig(exe: &Path, args: &[&str], env: &[(&str, &str)]) -> (Signature, Vec<String>) {
    let (cause, stderr) = run(exe, args, env);
    let s = signature(Some(&cause), &stderr);
    eprintln!("{} {args:?}: {cause}: {} [{}] {:?}", exe.display(), s.id, s.kind, s.frames);
    (s, stderr)
}

/// Whether a report has symbolised stack frames (`#0 0x... in func`); says loudly when not.
/// A report without a stack at all is a failure: the program did not hit its bug.
fn symbolised(test: &str, stderr: &[String]) -> bool {
    let top: Vec<&String> = stderr.iter().filter(|l| l.trim_start().starts_with("#0 ")).collect();
    assert!(!top.is_empty(), "{test}: no sanitizer report with a stack: {stderr:#?}");
    let ok = top.iter().any(|l| l.contains(" in "));
    if !ok {
        eprintln!("\n!!! SKIPPED {test}: the report has no symbolised frames (llvm-symbolizer missing?) !!!\n");
        eprintln!("{}", stderr.join("\n"));
    }
    ok
}

const NO_LEAKS: &[(&str, &str)] = &[("ASAN_OPTIONS", "detect_leaks=0")];

/// A use-after-free: (first run, second run, rebuild with shifted lines, heap-buffer-overflow).
fn uaf(test: &str) -> Option<[Signature; 4]> {
    let dir = scratch_dir(test);
    let exe = build(test, &dir, "uaf", UAF_C, &["-fsanitize=address"])?;
    let (a, stderr) = sig(&exe, &["uaf", "16"], NO_LEAKS);
    if !symbolised(test, &stderr) {
        return None;
    }
    let (b, _) = sig(&exe, &["uaf", "300"], NO_LEAKS);
    let shifted = build(test, &dir, "uaf2", &format!("\n\n\n// shifted\n{UAF_C}"), &["-fsanitize=address"])?;
    let (c, _) = sig(&shifted, &["uaf", "40"], NO_LEAKS);
    let (d, _) = sig(&exe, &["overflow", "16"], NO_LEAKS);
    Some([a, b, c, d])
}

#[test]
fn asan_use_after_free() {
    let Some([a, b, c, d]) = uaf("asan_use_after_free") else { return };
    assert_eq!(a.kind, "asan:heap-use-after-free");
    assert_eq!(a.frames.first().map(String::as_str), Some("use_after_free (uaf.c)"), "{a:?}");
    assert_eq!(a.summary, "asan:heap-use-after-free in use_after_free (uaf.c)");
    assert_eq!(a.id, b.id, "two runs, other addresses and sizes: {a:?} {b:?}");
    // The rebuilt file is uaf2.c: the same bug in a renamed file is another finding, so compare
    // its frames with the file name put back.
    assert_eq!(c.kind, a.kind);
    let renamed: Vec<String> = c.frames.iter().map(|f| f.replace("uaf2.c", "uaf.c")).collect();
    assert_eq!(renamed, a.frames, "a rebuild with shifted lines");
    assert_eq!(d.kind, "asan:heap-buffer-overflow");
    assert_eq!(d.frames.first().map(String::as_str), Some("overflow (uaf.c)"), "{d:?}");
    assert_ne!(a.id, d.id);
}

fn ubsan(test: &str, env: &[(&str, &str)]) -> Option<(Signature, Signature)> {
    let dir = scratch_dir(test);
    let exe = build(test, &dir, "ub", UB_C, &["-fsanitize=undefined", "-fno-sanitize-recover=undefined"])?;
    let (a, _) = sig(&exe, &["3"], env);
    let (b, _) = sig(&exe, &["1000"], env);
    Some((a, b))
}

#[test]
fn ubsan_signed_overflow() {
    let Some((a, b)) = ubsan("ubsan_signed_overflow", &[("UBSAN_OPTIONS", "print_stacktrace=0")]) else { return };
    assert_eq!(a.kind, "ubsan:signed-integer-overflow");
    assert_eq!(
        a.frames,
        ["ub.c", "signed integer overflow: N + N cannot be represented in type 'int'"],
        "without a stack: the file and the message"
    );
    assert_eq!(a.id, b.id);
    let Some((c, d)) = ubsan("ubsan_signed_overflow_stack", &[("UBSAN_OPTIONS", "print_stacktrace=1")]) else {
        return;
    };
    assert_eq!(c.kind, "ubsan:signed-integer-overflow");
    if c.frames.len() > 2 || c.frames.first().is_some_and(|f| f.contains('(')) {
        assert_eq!(c.frames.first().map(String::as_str), Some("add_counts (ub.c)"), "{c:?}");
    } else {
        eprintln!("\n!!! SKIPPED ubsan_signed_overflow (stack): no symbolised stack printed: {c:?} !!!\n");
    }
    assert_eq!(c.id, d.id);
}

fn leak(test: &str) -> Option<(Signature, Signature)> {
    let dir = scratch_dir(test);
    let exe = build(test, &dir, "leak", LEAK_C, &["-fsanitize=address"])?;
    let env = &[("ASAN_OPTIONS", "detect_leaks=1")];
    let (a, stderr) = sig(&exe, &["16"], env);
    if stderr.iter().any(|l| l.contains("LeakSanitizer has encountered a fatal error") || l.contains("ptrace")) {
        eprintln!("\n!!! SKIPPED {test}: LeakSanitizer does not run here: {} !!!\n", stderr.join(" | "));
        return None;
    }
    if !symbolised(test, &stderr) {
        return None;
    }
    let (b, _) = sig(&exe, &["4000"], env);
    Some((a, b))
}

#[test]
fn lsan_leak() {
    let Some((a, b)) = leak("lsan_leak") else { return };
    assert_eq!(a.kind, "lsan:leak");
    assert_eq!(a.frames.first().map(String::as_str), Some("leak_buffer (leak.c)"), "{a:?}");
    assert_eq!(a.id, b.id);
}

fn assertion(test: &str) -> Option<(Signature, Signature)> {
    let dir = scratch_dir(test);
    let exe = build(test, &dir, "check", ASSERT_C, &[])?;
    let (a, stderr) = sig(&exe, &["2"], &[]);
    if !stderr.iter().any(|l| l.contains("Assertion")) {
        eprintln!("\n!!! SKIPPED {test}: this libc's assert() message is not glibc's: {stderr:?} !!!\n");
        return None;
    }
    let (b, _) = sig(&exe, &["77"], &[]);
    Some((a, b))
}

#[test]
fn glibc_assertion() {
    let Some((a, b)) = assertion("glibc_assertion") else { return };
    assert_eq!(a.kind, "assertion");
    assert_eq!(a.frames, ["check_seq (check.c)", "seq == 0"]);
    assert_eq!(a.summary, "assertion `seq == 0' failed in check_seq (check.c)");
    assert_eq!(a.id, b.id);
}

#[test]
fn different_bugs_differ() {
    let mut ids = Vec::new();
    if let Some([a, _, _, d]) = uaf("different_bugs_differ_uaf") {
        ids.extend([a.id, d.id]);
    }
    if let Some((a, _)) = ubsan("different_bugs_differ_ub", &[]) {
        ids.push(a.id);
    }
    if let Some((a, _)) = leak("different_bugs_differ_leak") {
        ids.push(a.id);
    }
    if let Some((a, _)) = assertion("different_bugs_differ_assert") {
        ids.push(a.id);
    }
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ids.len(), "{ids:?}");
    if ids.len() < 5 {
        eprintln!("\n!!! different_bugs_differ compared only {} of 5 bugs (see the skips above) !!!\n", ids.len());
    }
}
