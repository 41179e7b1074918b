//! Crash signatures: what a campaign calls a server's death, so that the same bug seen twice is
//! one finding seen twice and two bugs are two findings.
//!
//! [`signature`] reads the down cause (how the supervisor saw the server go: `killed by signal 6
//! (SIGABRT)`, `exit status 1`, `hung: ...`, `silent: ...`, `busy: ...`, or none) and the
//! server's kept stderr, and finds the report of the death in it. Only the lines after the last
//! `=== ... fuzz-client started the server ...` marker are read: the client writes that marker
//! into the server's stderr file at every start, so the lines before it belong to an earlier
//! server (an earlier death, an earlier report).
//!
//! # Kinds
//!
//! The first report found, in this order, decides the kind (a more specific report wins over a
//! generic one that the same death also printed):
//!
//! - `asan:<bug type>`, and likewise `msan:`, `tsan:`, `hwasan:`: `ERROR: AddressSanitizer:
//!   <bug type>` (the `SUMMARY:` line's type when there is one: it names `attempting double-free`
//!   `double-free`); failing any `ERROR:`, MemorySanitizer's and ThreadSanitizer's `WARNING:`. Frames: the first stack after the `ERROR:` line (the bad access, not the
//!   free or the allocation). An ASan `ABRT` (`handle_abort=1`) yields to an assertion, panic or
//!   abort message that says why the process aborted, keeping its stack.
//! - `lsan:leak`: `ERROR: LeakSanitizer: detected memory leaks`; frames: the first leak's
//!   allocation stack (LSan lists the largest direct leak first).
//! - `assertion`: glibc's `prog: file.c:12: func: Assertion `expr' failed.`, musl's
//!   `Assertion failed: expr (file.c: func: 12)`, BSD's `Assertion failed: (expr), function
//!   func, file file.c, line 12.`; frames: `func (file.c)`, then `expr`.
//! - `unreachable`: ngtcp2/nghttp3's `file.c:12 func: Unreachable.`, or a Rust panic from
//!   `unreachable!()`; frames as for an assertion or a panic.
//! - `rust-panic`: `thread '...' panicked at file.rs:12:5:` and its message on the next line
//!   (or the pre-1.73 one-line form); frames: the file, then the message's first line. The
//!   thread's name is left out (`tokio-runtime-worker` or not, the same bug).
//! - `abort-message`: a line a process prints just before it aborts, with no stack: glibc's
//!   heap checks (`free(): double free detected in tcache 2`, `malloc(): corrupted top size`),
//!   `*** stack smashing detected ***`, C++'s `terminate called after throwing ...` (with its
//!   `what():`), Rust's `fatal runtime error: ...` and `memory allocation of N bytes failed`,
//!   and fuzz-server's planted faults (`PLANTED FAULT: ...`); frame: the line.
//! - `ubsan:<check>`: `runtime error: ...`, the check from `SUMMARY: UndefinedBehaviorSanitizer:
//!   <check>` when it names one (clang's default `undefined-behavior` does not), else classified
//!   from the message (`signed-integer-overflow`, `null-pointer`, `shift`, `bounds`, ...). It
//!   comes after the others because UBSan recovers by default: an earlier runtime error is
//!   often not what killed the server, and when the server died of a signal other than SIGABRT
//!   (a fatal UBSan error exits or aborts) it is left out altogether. Frames: its stack
//!   (`print_stacktrace=1`), else the file and the message (gcc's UBSan names no function).
//! - From the cause when no report is found: `signal:<NAME>` (`signal:SIGABRT`, or the number
//!   when unnamed), `exit:<code>`, `hang`, `silent`, `busy`, `leak` (a supervised server whose
//!   resident memory grew past the campaign's rule, [`crate::leak`]); no cause at all is `silent` (an
//!   unsupervised server that stopped answering; it has no stderr, but a report given wins). Frames then: the last of the last 3 non-empty
//!   lines that read as an error (`error`, `fatal`, `panic`, `abort`, `failed`, ...), if any.
//!
//! A server that is still alive (`hang`, `silent`, `busy`, `leak`) keeps its kind from the cause: what
//! its stderr says did not kill it. Only a planted fault's line or a Rust panic (a panicked
//! thread can leave a server alive but deaf) give it frames, so a planted hang on one frame
//! type is not the same finding as one on another.
//!
//! # Normalisation
//!
//! Everything that varies between two deaths of the same bug is taken out of frames:
//!
//! - Stack frames are the function name and the source file's basename, without line and
//!   column: a rebuild with shifted lines is the same bug. An unsymbolised frame (`(bin+0x1234)`)
//!   is its module's basename: the offset moves with every rebuild. Rust's legacy symbol hash
//!   (`::h0123456789abcdef`) is dropped for the same reason. Frames in the sanitizer runtime,
//!   libc (`abort`, `raise`, `__assert_fail`, `__libc_start_main`, the allocator, ...) and Rust's
//!   panic machinery (`std::`, `core::`, `alloc::`, `rust_begin_unwind`) are skipped: they are
//!   how every bug dies, not where. Up to [`FRAMES`] remain.
//! - Messages (panic messages, UBSan's, abort messages, planted faults, fallback lines): `==PID==`
//!   prefixes and leading timestamps go; `0x` numbers of more than 4 hex digits (addresses)
//!   become `0x?`; bare hex runs of 8 or more with a digit (CIDs, hashes) become `H`; decimal
//!   numbers standing alone become `N` (`connection 5`, `index 10 but the len is 3`, sizes,
//!   PIDs). Short `0x` numbers stay: they are values that name what happened (a frame type
//!   `0x07`, a TLS group `0x001d`), and two planted faults that differ only there are two bugs.
//!   So does the `0` or `1` of `0-RTT` and `1-RTT` (QUIC's packet spaces, not counters).
//!   Digits inside words stay (`ngtcp2`, `h3`, `u64`), and so do numbers inside quotes (`'int
//!   [4]'`, a type).
//! - Assertion expressions are source code and stay as they are (`seq == 0`); the function an
//!   assertion names loses its return type and parameters (clang's `void check_seq(int)` is
//!   gcc's `check_seq`).
//!
//! # The id
//!
//! `id` is the first 8 bytes, in hex, of SHA-256 over the kind and the frames, each followed by a
//! newline (none contains one). Nothing else goes in: not the cause (an ASan report exits with
//! status 1, or with a signal under `abort_on_error=1`: the same bug), not the summary (it may
//! show sizes), not the access size (a `memcpy` overflow reads a different size every time),
//! not the thread. Two deaths of the same bug at different addresses, PIDs, line numbers or
//! connection numbers so give the same id, and a different top frame a different one.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How many stack frames a signature keeps: enough to tell two callers of a helper apart, few
/// enough that a deeper difference (which connection handler called it) does not split a bug.
pub const FRAMES: usize = 3;

/// The text of the line the client writes into the server's stderr file at each start.
const START_MARKER: &str = "fuzz-client started the server";

/// A death's signature (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The class: `asan:heap-use-after-free`, `assertion`, `rust-panic`, `signal:SIGABRT`, ...
    pub kind: String,
    /// Where, normalised: function (file) frames, or message lines.
    pub frames: Vec<String>,
    /// One line for people.
    pub summary: String,
    /// 16 hex digits over `kind` and `frames`.
    pub id: String,
}

/// The signature of a death from its cause and the server's kept stderr lines.
pub fn signature(cause: Option<&str>, stderr: &[String]) -> Signature {
    let start = stderr.iter().rposition(|l| is_start_marker(l)).map_or(0, |i| i + 1);
    let lines: Vec<&str> = stderr[start..].iter().map(|l| l.trim_end()).collect();
    let from_cause = cause.map_or(Cause::Silent, parse_cause);
    // No cause is an unsupervised server: no stderr, so `silent`, unless a report says more.
    let (kind, frames, summary) = if cause.is_some() && from_cause.alive() {
        let kind = from_cause.kind();
        let report = planted(&lines).or_else(|| rust_panic(&lines));
        match report {
            Some(r) => {
                let summary = format!("{kind} after {}", r.summary);
                (kind, r.frames, summary)
            }
            None => {
                let summary = format!("{kind} (no stack)");
                (kind, vec![], summary)
            }
        }
    } else {
        match report(&lines, from_cause.ubsan_may_kill()) {
            Some(r) => (r.kind, r.frames, r.summary),
            None => {
                let kind = from_cause.kind();
                let frames = error_lines(&lines);
                let summary = match frames.last() {
                    Some(f) => format!("{kind} after: {f}"),
                    None => format!("{kind} (no stack)"),
                };
                (kind, frames, summary)
            }
        }
    };
    let id = id(&kind, &frames);
    Signature { kind, frames, summary, id }
}

/// The hash of a signature: see "The id" in the module documentation.
fn id(kind: &str, frames: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update(b"\n");
    for f in frames {
        h.update(f.as_bytes());
        h.update(b"\n");
    }
    h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn is_start_marker(line: &str) -> bool {
    line.starts_with("===") && line.contains(START_MARKER)
}

/// The down cause, parsed.
#[derive(Debug, PartialEq, Eq)]
enum Cause {
    Signal(String),
    Exit(String),
    Hang,
    Silent,
    Busy,
    Leak,
    Other(String),
}

impl Cause {
    fn alive(&self) -> bool {
        matches!(self, Cause::Hang | Cause::Silent | Cause::Busy | Cause::Leak)
    }

    /// Whether a UBSan report may be what ended the process: a fatal one exits (status 1) or, with
    /// `abort_on_error=1`, aborts; one before a SIGSEGV was recovered from, and is not the crash.
    fn ubsan_may_kill(&self) -> bool {
        match self {
            Cause::Signal(s) => s == "SIGABRT",
            _ => true,
        }
    }

    fn kind(&self) -> String {
        match self {
            Cause::Signal(s) => format!("signal:{s}"),
            Cause::Exit(c) => format!("exit:{c}"),
            Cause::Hang => "hang".into(),
            Cause::Silent => "silent".into(),
            Cause::Busy => "busy".into(),
            Cause::Leak => "leak".into(),
            Cause::Other(o) => o.clone(),
        }
    }
}

/// Parses the supervisor's words (`describe_exit`, `describe_silence` and the busy verdict of
/// fuzz-client's campaign), with or without an `exited: ` in front, and Rust's own `ExitStatus`
/// display (`exit status: 1`, `signal: 6 (SIGABRT)`), its fallback.
fn parse_cause(cause: &str) -> Cause {
    let c = cause.trim();
    let c = c.strip_prefix("exited:").map_or(c, str::trim_start);
    let first = c.split(|ch: char| !ch.is_ascii_alphanumeric()).next().unwrap_or("");
    match first {
        "hung" | "hang" => return Cause::Hang,
        "silent" => return Cause::Silent,
        "busy" => return Cause::Busy,
        "leak" => return Cause::Leak,
        _ => {}
    }
    if let Some(rest) = after(c, "signal") {
        let rest = rest.trim_start_matches([':', ' ']);
        let number: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Some(name) = rest.split(['(', ')']).nth(1).filter(|n| n.starts_with("SIG")) {
            return Cause::Signal(name.to_string());
        }
        if let Ok(n) = number.parse::<u32>() {
            return Cause::Signal(signal_name(n).map_or_else(|| n.to_string(), str::to_string));
        }
    }
    if let Some(rest) = after(c, "exit status").or_else(|| after(c, "exit code")) {
        let code: String = rest.trim_start_matches([':', ' ']).chars().take_while(|ch| ch.is_ascii_digit()).collect();
        if !code.is_empty() {
            return Cause::Exit(code);
        }
    }
    let word: String = first.to_ascii_lowercase();
    Cause::Other(if word.is_empty() { "silent".into() } else { word })
}

fn after<'a>(s: &'a str, what: &str) -> Option<&'a str> {
    s.find(what).map(|i| &s[i + what.len()..])
}

fn signal_name(n: u32) -> Option<&'static str> {
    Some(match n {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        31 => "SIGSYS",
        _ => return None,
    })
}

/// A report found in stderr.
#[derive(Debug)]
struct Report {
    kind: String,
    frames: Vec<String>,
    summary: String,
}

impl Report {
    /// `<kind> in <top frame>`, or `<kind> (no stack)`.
    fn in_frame(kind: String, frames: Vec<String>) -> Report {
        let summary = match frames.first() {
            Some(f) => format!("{kind} in {f}"),
            None => format!("{kind} (no stack)"),
        };
        Report { kind, frames, summary }
    }
}

/// The report of the death: see "Kinds" in the module documentation for the order.
fn report(lines: &[&str], ubsan_may_kill: bool) -> Option<Report> {
    let sanitizer = sanitizer(lines);
    if let Some(r) = sanitizer.as_ref().filter(|r| !r.kind.ends_with(":ABRT")) {
        return Some(Report { kind: r.kind.clone(), frames: r.frames.clone(), summary: r.summary.clone() });
    }
    let why = assertion(lines)
        .or_else(|| unreachable(lines))
        .or_else(|| rust_panic(lines))
        .or_else(|| planted(lines))
        .or_else(|| abort_message(lines));
    why.or(sanitizer).or_else(|| if ubsan_may_kill { ubsan(lines) } else { None })
}

/// `ERROR: <Name>Sanitizer: <type>` and the first stack after it.
fn sanitizer(lines: &[&str]) -> Option<Report> {
    sanitizer_after(lines, "ERROR: ").or_else(|| sanitizer_after(lines, "WARNING: "))
}

/// The first report whose line has `lead` before `<Name>Sanitizer: `: `ERROR: ` first, then the
/// `WARNING: ` of MemorySanitizer (fatal) and ThreadSanitizer (a data race; fatal or not, the
/// best clue when nothing else is found).
fn sanitizer_after(lines: &[&str], lead: &str) -> Option<Report> {
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = after(line, lead) else { continue };
        let Some((name, what)) = rest.split_once("Sanitizer: ") else { continue };
        let prefix = match name {
            "Address" => "asan",
            "Leak" => "lsan",
            "Memory" => "msan",
            "Thread" => "tsan",
            "HWAddress" => "hwasan",
            _ => continue,
        };
        if lead == "WARNING: " && !matches!(prefix, "msan" | "tsan") {
            continue;
        }
        let stack = first_stack(&lines[i + 1..]);
        if prefix == "lsan" || what.starts_with("detected memory leaks") {
            let kind = "lsan:leak".to_string();
            let summary = match stack.first() {
                Some(f) => format!("{kind} allocated in {f}"),
                None => format!("{kind} (no stack)"),
            };
            return Some(Report { kind, frames: stack, summary });
        }
        let summary_line = format!("SUMMARY: {name}Sanitizer: ");
        let bug = lines[i + 1..]
            .iter()
            .find_map(|l| after(l, &summary_line))
            .and_then(|s| s.split_whitespace().next())
            .map(str::to_string)
            .unwrap_or_else(|| bug_type(what));
        return Some(Report::in_frame(format!("{prefix}:{bug}"), stack));
    }
    None
}

/// The bug type of an `ERROR:` line with no `SUMMARY:` (a report cut short).
fn bug_type(what: &str) -> String {
    if let Some(rest) = what.strip_prefix("attempting ") {
        if rest.starts_with("double-free") {
            return "double-free".into();
        }
        if rest.starts_with("free on address which was not malloc") {
            return "bad-free".into();
        }
    }
    what.split_whitespace().next().unwrap_or("unknown").trim_end_matches(':').to_string()
}

/// The interesting frames of the first stack (`#0 0x... in func file:line`) in `lines`.
fn first_stack(lines: &[&str]) -> Vec<String> {
    let mut frames = Vec::new();
    let mut started = false;
    for line in lines {
        let t = line.trim_start();
        if !t.starts_with('#') || !t[1..].starts_with(|c: char| c.is_ascii_digit()) {
            if started {
                break;
            }
            continue;
        }
        started = true;
        if let Some(f) = frame(t) {
            if frames.len() < FRAMES {
                frames.push(f);
            }
        }
    }
    frames
}

/// One sanitizer stack frame, normalised, or None when it is not interesting.
fn frame(line: &str) -> Option<String> {
    // `#N 0xADDR in FUNC LOCATION`, `#N 0xADDR (MODULE+0xOFF)`; LOCATION is a `file:line:col`
    // or a `(module+0xoff)`, optionally followed by `(BuildId: ...)`.
    let mut rest = line.split_once(' ')?.1.trim_start();
    rest = rest.split_once(' ').map_or("", |(_, r)| r).trim_start();
    if let Some(i) = rest.find(" (BuildId:") {
        rest = &rest[..i];
    }
    let rest = rest.trim_end();
    let (func, location) = match rest.strip_prefix("in ") {
        Some(r) => match r.rsplit_once(' ') {
            Some((f, l)) => (f.trim(), l),
            None => (r, ""),
        },
        None => ("", rest),
    };
    let (file, module) = if let Some(m) = location.strip_prefix('(') {
        let m = m.trim_end_matches(')');
        let m = m.rsplit_once('+').map_or(m, |(m, _)| m);
        (None, Some(m))
    } else if location.is_empty() {
        (None, None)
    } else {
        (Some(strip_line(location)), None)
    };
    let path = file.or(module).unwrap_or("");
    if runtime_path(path) || runtime_function(func) {
        return None;
    }
    let func = strip_rust_hash(func);
    let base = basename(path);
    Some(match (func.is_empty(), base.is_empty()) {
        (false, false) => format!("{func} ({base})"),
        (false, true) => func.to_string(),
        (true, false) => format!("({base})"),
        (true, true) => return None,
    })
}

/// `path:12:5` → `path`, `path:12` → `path`.
fn strip_line(location: &str) -> &str {
    let mut s = location;
    for _ in 0..2 {
        match s.rsplit_once(':') {
            Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => s = head,
            _ => break,
        }
    }
    s
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A Rust source path without what varies between checkouts: from its last `src/` on (the module
/// path inside the crate, for a registry crate without its version), else the basename.
fn rust_file(path: &str) -> &str {
    if let Some(i) = path.rfind("/src/") {
        return &path[i + 5..];
    }
    if let Some(rest) = path.strip_prefix("src/") {
        return rest;
    }
    basename(path)
}

/// `mod::func::h0123456789abcdef` → `mod::func` (the hash changes with every build).
fn strip_rust_hash(func: &str) -> &str {
    match func.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => head,
        _ => func,
    }
}

/// Whether a frame's file or module is the sanitizer runtime, libc, the loader or the C++ runtime.
fn runtime_path(path: &str) -> bool {
    let base = basename(path);
    path.contains("compiler-rt/")
        || path.contains("libsanitizer/")
        || path.contains("sanitizer_common/")
        || ["libc.so", "libc-", "libm.so", "ld-linux", "libpthread", "libasan", "libubsan", "liblsan", "libtsan"]
            .iter()
            .any(|p| base.starts_with(p))
        || base.starts_with("libclang_rt")
        || base.starts_with("libstdc++")
        || base.starts_with("libgcc_s")
}

/// Whether a function is how every bug dies rather than where: the sanitizer runtime, libc's
/// abort path and allocator, Rust's panic machinery.
fn runtime_function(func: &str) -> bool {
    const NAMES: &[&str] = &[
        "abort",
        "raise",
        "gsignal",
        "pthread_kill",
        "__pthread_kill_implementation",
        "__pthread_kill_internal",
        "__assert_fail",
        "__assert_fail_base",
        "__assert_perror_fail",
        "__libc_start_main",
        "__libc_start_call_main",
        "__libc_start_main_impl",
        "_start",
        "__libc_message",
        "__libc_fatal",
        "__fortify_fail",
        "__chk_fail",
        "__stack_chk_fail",
        "malloc_printerr",
        "malloc",
        "free",
        "calloc",
        "realloc",
        "posix_memalign",
        "aligned_alloc",
        "memalign",
        "start_thread",
        "clone",
        "clone3",
        "rust_begin_unwind",
        "rust_panic",
    ];
    const PREFIXES: &[&str] = &[
        "__asan",
        "__lsan",
        "__ubsan",
        "__msan",
        "__tsan",
        "__hwasan",
        "__sanitizer",
        "__interceptor_",
        "___interceptor_",
        "__interception::",
        "__GI_",
        "__rust_",
        "std::",
        "core::",
        "alloc::",
        "<std::",
        "<core::",
        "<alloc::",
        "panic_abort::",
        "panic_unwind::",
        "operator new",
        "operator delete",
    ];
    NAMES.contains(&func) || PREFIXES.iter().any(|p| func.starts_with(p))
}

/// An assertion message: glibc's, musl's or BSD's (see the module documentation).
fn assertion(lines: &[&str]) -> Option<Report> {
    lines.iter().find_map(|l| glibc_assertion(l).or_else(|| musl_assertion(l)).or_else(|| bsd_assertion(l)))
}

fn assertion_report(func: &str, file: &str, expr: &str) -> Report {
    let func = bare_function(func);
    let at = match (func.is_empty(), file.is_empty()) {
        (false, false) => format!("{func} ({file})"),
        (false, true) => func.to_string(),
        (true, _) => format!("({file})"),
    };
    let summary = format!("assertion `{expr}' failed in {at}");
    Report { kind: "assertion".into(), frames: vec![at, expr.to_string()], summary }
}

/// A function as an assertion names it, without its return type and parameters: clang (and any
/// C++ compiler) gives glibc `__PRETTY_FUNCTION__` (`void check_seq(int)`, `ngtcp2_ssize
/// conn_write_pkt(ngtcp2_conn *, ...)`), gcc compiling C the bare name (`check_seq`), and one
/// bug built by both must get one signature.
fn bare_function(func: &str) -> &str {
    let head = func.split('(').next().unwrap_or(func).trim_end();
    match head.rsplit([' ', '*', '&']).next() {
        Some(name) if !name.is_empty() => name,
        _ => func,
    }
}

/// `prog: file.c:123: func: Assertion `expr' failed.`
fn glibc_assertion(line: &str) -> Option<Report> {
    let (head, tail) = line.split_once(": Assertion `")?;
    let expr = tail.strip_suffix("' failed.").or_else(|| tail.rsplit_once("' failed").map(|(e, _)| e))?;
    let (place, func) = head.rsplit_once(": ")?;
    let file = place.rsplit(": ").next().unwrap_or(place);
    Some(assertion_report(func.trim(), basename(strip_line(file.trim())), expr))
}

/// `Assertion failed: expr (file.c: func: 123)`
fn musl_assertion(line: &str) -> Option<Report> {
    let rest = after(line, "Assertion failed: ")?;
    if rest.starts_with('(') && rest.contains(", function ") {
        return None;
    }
    let (expr, place) = rest.rsplit_once(" (")?;
    let mut parts = place.trim_end_matches(')').split(": ");
    let file = parts.next()?;
    let func = parts.next()?;
    Some(assertion_report(func, basename(file), expr))
}

/// `Assertion failed: (expr), function func, file file.c, line 123.`
fn bsd_assertion(line: &str) -> Option<Report> {
    let rest = after(line, "Assertion failed: (")?;
    let (expr, place) = rest.split_once("), function ")?;
    let (func, place) = place.split_once(", file ")?;
    let file = place.split(", line").next()?;
    Some(assertion_report(func, basename(file), expr))
}

/// ngtcp2's and nghttp3's `file.c:123 func: Unreachable.`; Rust's `unreachable!()` is a panic
/// (`rust_panic` gives it this kind).
fn unreachable(lines: &[&str]) -> Option<Report> {
    lines.iter().find_map(|l| {
        let head = l.trim().strip_suffix(": Unreachable.")?;
        let (place, func) = head.rsplit_once(' ')?;
        let file = basename(strip_line(place.rsplit(": ").next().unwrap_or(place)));
        let at = format!("{func} ({file})");
        Some(Report { kind: "unreachable".into(), summary: format!("unreachable in {at}"), frames: vec![at] })
    })
}

/// `thread 'NAME' panicked at FILE:L:C:` and the message on the next line, or the older
/// `thread 'NAME' panicked at 'MESSAGE', FILE:L:C`.
fn rust_panic(lines: &[&str]) -> Option<Report> {
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = after(line, "' panicked at ") else { continue };
        if !line.contains("thread '") {
            continue;
        }
        let (message, location) = if let Some(old) = rest.strip_prefix('\'') {
            match old.rsplit_once("', ") {
                Some((m, l)) => (m.to_string(), l),
                None => (old.to_string(), ""),
            }
        } else {
            let location = rest.trim_end().trim_end_matches(':');
            let message = lines.get(i + 1).map_or("", |m| m.trim());
            (message.to_string(), location)
        };
        let file = rust_file(strip_line(location.trim()));
        let message = normalise(&message);
        let unreachable = message.contains("entered unreachable code");
        let kind = if unreachable { "unreachable" } else { "rust-panic" }.to_string();
        let summary = format!("{kind} at {file}: {message}");
        return Some(Report { kind, frames: vec![file.to_string(), message], summary });
    }
    None
}

/// fuzz-server's planted fault: `fuzz-server: PLANTED FAULT: ...` (not the `PLANTED FAULT
/// ENABLED` line every start prints).
fn planted(lines: &[&str]) -> Option<Report> {
    lines.iter().find_map(|l| {
        let i = l.find("PLANTED FAULT: ")?;
        let frame = normalise(&l[i..]);
        Some(Report { kind: "abort-message".into(), summary: frame.clone(), frames: vec![frame] })
    })
}

/// A line a process prints just before it aborts (see the module documentation).
fn abort_message(lines: &[&str]) -> Option<Report> {
    const STARTS: &[&str] = &[
        "free(): ",
        "malloc(): ",
        "realloc(): ",
        "calloc(): ",
        "munmap_chunk(): ",
        "malloc_consolidate(): ",
        "double free or corruption",
        "corrupted size vs. prev_size",
        "corrupted double-linked list",
        "*** stack smashing detected ***",
        "*** buffer overflow detected ***",
        "Fatal glibc error: ",
        "terminate called ",
        "pure virtual method called",
        "fatal runtime error: ",
        "memory allocation of ",
    ];
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        let hit = STARTS.iter().any(|s| t.starts_with(s))
            || (t.starts_with("thread '") && t.ends_with("overflowed its stack"));
        if !hit {
            continue;
        }
        let mut frames = vec![normalise(t)];
        if t.starts_with("terminate called after throwing") {
            if let Some(what) = lines.get(i + 1).and_then(|l| l.trim().strip_prefix("what():")) {
                frames.push(normalise(what.trim()));
            }
        }
        if t.starts_with("thread '") {
            // The thread's name is not the bug.
            frames[0] = "thread overflowed its stack".into();
        }
        let summary = format!("abort-message: {}", frames.join(": "));
        return Some(Report { kind: "abort-message".into(), frames, summary });
    }
    None
}

/// `FILE:L:C: runtime error: MESSAGE`, with the stack after it when there is one.
fn ubsan(lines: &[&str]) -> Option<Report> {
    for (i, line) in lines.iter().enumerate() {
        let Some((place, message)) = line.split_once("runtime error: ") else { continue };
        let check = lines[i + 1..]
            .iter()
            .find_map(|l| after(l, "SUMMARY: UndefinedBehaviorSanitizer: "))
            .and_then(|s| s.split_whitespace().next())
            .filter(|c| *c != "undefined-behavior")
            .map_or_else(|| ubsan_class(message).to_string(), str::to_string);
        let kind = format!("ubsan:{check}");
        let mut frames = first_stack(&lines[i + 1..]);
        if frames.is_empty() {
            let place = place.trim().trim_end_matches(':').trim();
            let file = basename(strip_line(place.rsplit(' ').next().unwrap_or(place)));
            let message = normalise(message);
            let summary = format!("{kind} in {file}: {message}");
            let frames = if file.is_empty() { vec![message] } else { vec![file.to_string(), message] };
            return Some(Report { kind, frames, summary });
        }
        frames.truncate(FRAMES);
        return Some(Report::in_frame(kind, frames));
    }
    None
}

/// A short class of a UBSan message, after the names of the `-fsanitize=` checks.
fn ubsan_class(message: &str) -> &'static str {
    let m = message;
    let has = |s: &str| m.contains(s);
    if has("unsigned integer overflow") {
        "unsigned-integer-overflow"
    } else if has("signed integer overflow") || m.starts_with("negation of") {
        "signed-integer-overflow"
    } else if has("division by zero") || has("divide by zero") {
        "division-by-zero"
    } else if has("out of bounds") {
        "bounds"
    } else if m.starts_with("shift ") || has("shift of") {
        "shift"
    } else if has("misaligned address") {
        "alignment"
    } else if has("passed as argument") && has("never be null") {
        "nonnull-attribute"
    } else if has("null pointer returned") {
        "returns-nonnull-attribute"
    } else if has("applying") && has("offset") || has("pointer index expression") {
        "pointer-overflow"
    } else if has("null pointer") {
        "null-pointer"
    } else if has("unreachable") {
        "unreachable"
    } else if has("end of a value-returning function") {
        "missing-return"
    } else if has("is not a valid value for type") {
        "invalid-value"
    } else if has("implicit conversion") {
        "implicit-conversion"
    } else if has("outside the range of representable values") {
        "float-cast-overflow"
    } else if has("incorrect function type") {
        "function"
    } else if has("variable length array") {
        "vla-bound"
    } else if has("vptr") || has("dynamic type") {
        "vptr"
    } else {
        "undefined-behavior"
    }
}

/// The last of the last 3 non-empty lines that read as an error, normalised: a fallback frame
/// for a death without a report. One line only: the more lines, the more a counter or a log
/// line from another connection splits one bug into several.
fn error_lines(lines: &[&str]) -> Vec<String> {
    const WORDS: &[&str] =
        &["error", "fatal", "panic", "abort", "failed", "failure", "corrupt", "terminat", "exception", "segmentation"];
    lines
        .iter()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .find(|l| {
            let lower = l.to_ascii_lowercase();
            !lower.contains("planted fault enabled") && WORDS.iter().any(|w| lower.contains(w))
        })
        .map(|l| normalise(l.trim()))
        .into_iter()
        .collect()
}

/// Takes out of a message what varies between two deaths of one bug (see "Normalisation" in the
/// module documentation).
fn normalise(message: &str) -> String {
    let mut s = message.trim();
    // `==12345==ERROR: ...` and sanitizers' `==12345==Hint: ...`.
    if let Some(rest) = s.strip_prefix("==") {
        if let Some((pid, tail)) = rest.split_once("==") {
            if pid.bytes().all(|b| b.is_ascii_digit()) {
                s = tail.trim_start();
            }
        }
    }
    let mut out = String::with_capacity(s.len());
    for (n, token) in s.split_whitespace().enumerate() {
        if n > 0 {
            out.push(' ');
        }
        if n == 0 && is_timestamp(token) {
            out.push_str("TIME");
            continue;
        }
        out.push_str(token);
    }
    numbers(&out)
}

/// `2024-05-01T10:00:00.123Z`, `10:00:00.123`: a log line's time stamp.
fn is_timestamp(token: &str) -> bool {
    let token = token.trim_start_matches('[').trim_end_matches(']');
    token.starts_with(|c: char| c.is_ascii_digit())
        && token.contains([':', '-'])
        && token.chars().all(|c| c.is_ascii_digit() || "-:.TZ+".contains(c))
}

/// The number rules of [`normalise`], outside quotes.
fn numbers(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        // A quote opens only at a word's start (`'int'`, not `it's`), and must close.
        if (c == '\'' || c == '"' || c == '`') && (i == 0 || !word(chars[i - 1])) {
            let close = if c == '`' { '\'' } else { c };
            if chars[i + 1..].contains(&close) || chars[i + 1..].contains(&c) {
                quote = Some(if chars[i + 1..].contains(&close) { close } else { c });
                out.push(c);
                i += 1;
                continue;
            }
        }
        let starts_word = i == 0 || !word(chars[i - 1]);
        if starts_word && c.is_ascii_alphanumeric() {
            let end = (i..chars.len()).find(|&j| !word(chars[j])).unwrap_or(chars.len());
            let token: String = chars[i..end].iter().collect();
            // `0-RTT` and `1-RTT` are two packet spaces of QUIC, not a counter.
            let rest: String = chars[end..].iter().take(4).collect::<String>().to_ascii_uppercase();
            let space = (token == "0" || token == "1") && (rest == "-RTT" || rest.starts_with("RTT"));
            out.push_str(&if space { token } else { number_token(&token) });
            i = end;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// One word: `0x7ffd1234` → `0x?`, `0x07` stays, `0123abcd4567ef89` → `H`, `42` → `N`.
fn number_token(token: &str) -> String {
    if let Some(hex) = token.strip_prefix("0x").or_else(|| token.strip_prefix("0X")) {
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return if hex.len() > 4 { "0x?".into() } else { token.into() };
        }
    }
    if token.bytes().all(|b| b.is_ascii_digit()) {
        return "N".into();
    }
    // What is left of a time stamp the rules above split (`01T10`, `00Z`).
    if token.starts_with(|c: char| c.is_ascii_digit())
        && token.bytes().all(|b| b.is_ascii_digit() || b == b'T' || b == b'Z')
    {
        return "N".into();
    }
    if token.len() >= 8 && token.bytes().all(|b| b.is_ascii_hexdigit()) && token.bytes().any(|b| b.is_ascii_digit()) {
        return "H".into();
    }
    token.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    fn sig(cause: Option<&str>, text: &str) -> Signature {
        signature(cause, &lines(text))
    }

    const ABRT: Option<&str> = Some("killed by signal 6 (SIGABRT)");
    const EXIT1: Option<&str> = Some("exit status 1");

    const UAF: &str = "\
=================================================================
==12507==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000018 at pc 0x563b82bd6222 bp 0x7ffd3d0d4aa0 sp 0x7ffd3d0d4a98
READ of size 8 at 0x602000000018 thread T0
    #0 0x563b82bd6221 in ngtcp2_conn_read_pkt /build/ngtcp2/lib/ngtcp2_conn.c:1234:5
    #1 0x563b82bd6236 in handle_packet /build/ngtcp2/examples/server.cc:811:12
    #2 0x563b82bd6236 in Server::on_read(Endpoint&) /build/ngtcp2/examples/server.cc:2001:7
    #3 0x563b82bd6236 in main /build/ngtcp2/examples/server.cc:3000:3
    #4 0x7f33cf245249 in __libc_start_call_main ../sysdeps/nptl/libc_start_call_main.h:58
    #5 0x563b82bd6100 in _start (/build/ngtcp2/examples/server+0x1100)

0x602000000018 is located 8 bytes inside of 16-byte region [0x602000000010,0x602000000020)
freed by thread T0 here:
    #0 0x7f33cf4b76a8 in __interceptor_free ../../../../src/libsanitizer/asan/asan_malloc_linux.cpp:52
    #1 0x563b82bd61e5 in ngtcp2_conn_del /build/ngtcp2/lib/ngtcp2_conn.c:900:3

previously allocated by thread T0 here:
    #0 0x7f33cf4b89cf in __interceptor_malloc ../../../../src/libsanitizer/asan/asan_malloc_linux.cpp:69
    #1 0x563b82bd61da in ngtcp2_conn_new /build/ngtcp2/lib/ngtcp2_conn.c:700:9

SUMMARY: AddressSanitizer: heap-use-after-free /build/ngtcp2/lib/ngtcp2_conn.c:1234:5 in ngtcp2_conn_read_pkt
Shadow bytes around the buggy address:
  0x0c047fff7fb0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
==12507==ABORTING";

    /// The UAF of another run: other PID, addresses and size, lines shifted by a rebuild.
    fn uaf_again() -> String {
        UAF.replace("12507", "98765")
            .replace("0x563b82bd", "0x55aa1234")
            .replace("0x602000000018", "0x6020000000f8")
            .replace("READ of size 8", "READ of size 4")
            .replace(":1234:5", ":1240:5")
            .replace(":811:12", ":815:9")
    }

    #[test]
    fn asan_use_after_free() {
        let s = sig(EXIT1, UAF);
        assert_eq!(s.kind, "asan:heap-use-after-free");
        assert_eq!(
            s.frames,
            [
                "ngtcp2_conn_read_pkt (ngtcp2_conn.c)",
                "handle_packet (server.cc)",
                "Server::on_read(Endpoint&) (server.cc)"
            ]
        );
        assert_eq!(s.summary, "asan:heap-use-after-free in ngtcp2_conn_read_pkt (ngtcp2_conn.c)");
        assert_eq!(s.id.len(), 16);
        assert!(s.id.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn same_bug_other_run_same_id() {
        let a = sig(EXIT1, UAF);
        let b = sig(ABRT, &uaf_again());
        assert_eq!(a, Signature { summary: a.summary.clone(), ..b.clone() });
        assert_eq!(a.id, b.id);
    }

    #[test]
    fn other_top_frame_other_id() {
        let a = sig(EXIT1, UAF);
        let b = sig(EXIT1, &UAF.replace("in ngtcp2_conn_read_pkt /build", "in ngtcp2_conn_write_pkt /build"));
        assert_eq!(b.frames[0], "ngtcp2_conn_write_pkt (ngtcp2_conn.c)");
        assert_ne!(a.id, b.id);
        let c = sig(EXIT1, &UAF.replace("heap-use-after-free", "heap-buffer-overflow"));
        assert_eq!(c.kind, "asan:heap-buffer-overflow");
        assert_ne!(a.id, c.id);
    }

    #[test]
    fn only_lines_after_the_last_start_marker() {
        let marker = "=== 2024-05-01T10:00:00.000Z fuzz-client started the server (pid 4242): ./server 4433";
        let text = format!("{UAF}\n{marker}\nserving on 4433\n{}", marker.replace("4242", "4343"));
        let s = sig(ABRT, &text);
        assert_eq!(s.kind, "signal:SIGABRT");
        assert!(s.frames.is_empty(), "{s:?}");
        assert_eq!(s.summary, "signal:SIGABRT (no stack)");
        // The report after the last marker counts.
        let s = sig(EXIT1, &format!("{PANIC}\n{marker}\n{UAF}"));
        assert_eq!(s, sig(EXIT1, UAF));
    }

    const SEGV: &str = "\
AddressSanitizer:DEADLYSIGNAL
=================================================================
==12532==ERROR: AddressSanitizer: SEGV on unknown address 0x000000000000 (pc 0x55eb2a82d198 bp 0x000000000002 sp 0x7ffe0fe0c5e8 T0)
==12532==The signal is caused by a READ memory access.
==12532==Hint: address points to the zero page.
    #0 0x55eb2a82d198 in nghttp3_qpack_decoder_read /src/nghttp3/lib/nghttp3_qpack.c:2871
    #1 0x55eb2a82d1b8  (/opt/server/lib/libnghttp3.so.9+0x41b8) (BuildId: 0123456789abcdef0123456789abcdef01234567)
    #2 0x7f0b27645249 in __libc_start_call_main ../sysdeps/nptl/libc_start_call_main.h:58
    #3 0x7f0b27645249  (/lib/x86_64-linux-gnu/libc.so.6+0x2724a) (BuildId: 3e...)

AddressSanitizer can not provide additional info.
SUMMARY: AddressSanitizer: SEGV /src/nghttp3/lib/nghttp3_qpack.c:2871 in nghttp3_qpack_decoder_read
==12532==ABORTING";

    #[test]
    fn asan_segv_and_unsymbolised_frames() {
        let s = sig(EXIT1, SEGV);
        assert_eq!(s.kind, "asan:SEGV");
        assert_eq!(s.frames, ["nghttp3_qpack_decoder_read (nghttp3_qpack.c)", "(libnghttp3.so.9)"]);
        let again = SEGV.replace("0x55eb2a82d", "0x5612345").replace("+0x41b8", "+0x4220").replace("12532", "7");
        assert_eq!(sig(Some("killed by signal 11 (SIGSEGV)"), &again).id, s.id);
    }

    #[test]
    fn asan_double_free_without_summary() {
        let text = "==1==ERROR: AddressSanitizer: attempting double-free on 0x602000000010 in thread T0:\n    \
                    #0 0x7f in __interceptor_free (/usr/lib/libasan.so.8+0xd76a8)\n    \
                    #1 0x55 in ngtcp2_mem_free /x/lib/ngtcp2_mem.c:40:3\n";
        let s = sig(EXIT1, text);
        assert_eq!(s.kind, "asan:double-free");
        assert_eq!(s.frames, ["ngtcp2_mem_free (ngtcp2_mem.c)"]);
    }

    const UBSAN: &str = "\
lib/ngtcp2_rtb.c:412:67: runtime error: signed integer overflow: 2147483647 + 3 cannot be represented in type 'int'
SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior lib/ngtcp2_rtb.c:412:67 in";

    #[test]
    fn ubsan_without_a_stack() {
        let s = sig(EXIT1, UBSAN);
        assert_eq!(s.kind, "ubsan:signed-integer-overflow");
        assert_eq!(s.frames, ["ngtcp2_rtb.c", "signed integer overflow: N + N cannot be represented in type 'int'"]);
        let again = UBSAN.replace("+ 3", "+ 17").replace(":412:67", ":415:67");
        assert_eq!(sig(EXIT1, &again).id, s.id);
    }

    #[test]
    fn ubsan_with_a_stack_and_a_named_check() {
        let text = "\
src/frame.c:10:5: runtime error: load of null pointer of type 'const uint8_t' (aka 'const unsigned char')
    #0 0x55 in decode_frame /b/src/frame.c:10:5
    #1 0x55 in read_packet /b/src/conn.c:99:2
    #2 0x7f in __libc_start_main (/lib/libc.so.6+0x1)
SUMMARY: UndefinedBehaviorSanitizer: null-pointer-use src/frame.c:10:5 in";
        let s = sig(EXIT1, text);
        assert_eq!(s.kind, "ubsan:null-pointer-use");
        assert_eq!(s.frames, ["decode_frame (frame.c)", "read_packet (conn.c)"]);
        let s = sig(EXIT1, &text.replace("null-pointer-use", "undefined-behavior"));
        assert_eq!(s.kind, "ubsan:null-pointer");
    }

    #[test]
    fn ubsan_classes() {
        for (message, class) in [
            ("shift exponent 40 is too large for 32-bit type 'int'", "shift"),
            ("left shift of negative value -1", "shift"),
            ("index 10 out of bounds for type 'int [4]'", "bounds"),
            ("division by zero", "division-by-zero"),
            ("member access within null pointer of type 'struct conn'", "null-pointer"),
            ("applying non-zero offset 8 to null pointer", "pointer-overflow"),
            ("load of misaligned address 0x55aa13 for type 'int', which requires 4 byte alignment", "alignment"),
            ("load of value 5, which is not a valid value for type 'bool'", "invalid-value"),
            ("execution reached an unreachable program point", "unreachable"),
            ("negation of -2147483648 cannot be represented in type 'int'", "signed-integer-overflow"),
            (
                "unsigned integer overflow: 0 - 1 cannot be represented in type 'unsigned int'",
                "unsigned-integer-overflow",
            ),
        ] {
            assert_eq!(ubsan_class(message), class, "{message}");
        }
    }

    const LEAK: &str = "\
=================================================================
==14173==ERROR: LeakSanitizer: detected memory leaks

Direct leak of 10 byte(s) in 1 object(s) allocated from:
    #0 0x7ff9560b89cf in __interceptor_malloc ../../../../src/libsanitizer/asan/asan_malloc_linux.cpp:69
    #1 0x55a7559bb1b1 in conn_new_token /b/server.c:3
    #2 0x55a7559bb1b1 in main /b/server.c:30

Indirect leak of 4 byte(s) in 1 object(s) allocated from:
    #0 0x7ff9560b89cf in __interceptor_malloc ../../../../src/libsanitizer/asan/asan_malloc_linux.cpp:69
    #1 0x55a7559bb1b1 in other /b/server.c:9

SUMMARY: AddressSanitizer: 14 byte(s) leaked in 2 allocation(s).";

    #[test]
    fn lsan_leak() {
        let s = sig(Some("exit status 23"), LEAK);
        assert_eq!(s.kind, "lsan:leak");
        assert_eq!(s.frames, ["conn_new_token (server.c)", "main (server.c)"]);
        assert_eq!(s.summary, "lsan:leak allocated in conn_new_token (server.c)");
        assert_eq!(sig(EXIT1, &LEAK.replace("10 byte", "99 byte").replace("14173", "1")).id, s.id);
    }

    #[test]
    fn glibc_assertion() {
        let text =
            "server: lib/ngtcp2_conn.c:12207: ngtcp2_conn_retire_dcid: Assertion `conn->dcid.current.seq == 0' failed.";
        let s = sig(ABRT, text);
        assert_eq!(s.kind, "assertion");
        assert_eq!(s.frames, ["ngtcp2_conn_retire_dcid (ngtcp2_conn.c)", "conn->dcid.current.seq == 0"]);
        assert_eq!(
            s.summary,
            "assertion `conn->dcid.current.seq == 0' failed in ngtcp2_conn_retire_dcid (ngtcp2_conn.c)"
        );
        let again = text.replace("12207", "12300").replace("server:", "/opt/bin/server:");
        assert_eq!(sig(ABRT, &again).id, s.id);
        assert_ne!(sig(ABRT, &text.replace("seq == 0", "seq == 1")).id, s.id);
    }

    #[test]
    fn other_assertion_forms() {
        // clang (and C++) name the function with its return type and parameters: the same frame.
        let clang = sig(
            ABRT,
            "server: lib/ngtcp2_conn.c:12207: int ngtcp2_conn_retire_dcid(ngtcp2_conn *, const ngtcp2_cid *): \
             Assertion `conn->dcid.current.seq == 0' failed.",
        );
        assert_eq!(clang.frames[0], "ngtcp2_conn_retire_dcid (ngtcp2_conn.c)");
        assert_eq!(bare_function("ngtcp2_ssize conn_write_pkt(ngtcp2_conn *, uint8_t)"), "conn_write_pkt");
        assert_eq!(bare_function("const char *ns::Conn::name() const"), "ns::Conn::name");
        assert_eq!(bare_function("check_seq"), "check_seq");
        let s = sig(ABRT, "Assertion failed: n > 0 (src/conn.c: conn_read: 42)");
        assert_eq!(
            (s.kind.as_str(), s.frames.clone()),
            ("assertion", vec!["conn_read (conn.c)".into(), "n > 0".into()])
        );
        let s = sig(ABRT, "Assertion failed: (n > 0), function conn_read, file src/conn.c, line 42.");
        assert_eq!(
            (s.kind.as_str(), s.frames.clone()),
            ("assertion", vec!["conn_read (conn.c)".into(), "n > 0".into()])
        );
    }

    #[test]
    fn asan_abrt_yields_to_the_assertion() {
        let text = "x: a.c:3: check_seq: Assertion `seq == 0' failed.\n\
                    ==5==ERROR: AddressSanitizer: ABRT on unknown address 0x000000001f (pc 0x7f bp 0x1 sp 0x2 T0)\n    \
                    #0 0x7f in __pthread_kill_implementation ./nptl/pthread_kill.c:44\n    \
                    #1 0x7f in raise ../sysdeps/posix/raise.c:26\n    \
                    #2 0x7f in abort ./stdlib/abort.c:79\n    \
                    #3 0x7f in __assert_fail ./assert/assert.c:101\n    \
                    #4 0x55 in check_seq /b/a.c:3\n\
                    SUMMARY: AddressSanitizer: ABRT ./nptl/pthread_kill.c:44 in __pthread_kill_implementation";
        let s = sig(ABRT, text);
        assert_eq!(s.kind, "assertion");
        assert_eq!(s.frames, ["check_seq (a.c)", "seq == 0"]);
        // Without the message, the stack still names where.
        let s = sig(ABRT, text.split_once('\n').unwrap().1);
        assert_eq!(s.kind, "asan:ABRT");
        assert_eq!(s.frames, ["check_seq (a.c)"]);
    }

    #[test]
    fn ngtcp2_unreachable() {
        let s = sig(ABRT, "lib/ngtcp2_pkt.c:2301 ngtcp2_pkt_encode_frame: Unreachable.");
        assert_eq!(s.kind, "unreachable");
        assert_eq!(s.frames, ["ngtcp2_pkt_encode_frame (ngtcp2_pkt.c)"]);
    }

    const PANIC: &str = "\
thread 'tokio-runtime-worker' panicked at fuzz-server/src/conn.rs:214:17:
index out of bounds: the len is 3 but the index is 10
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace";

    #[test]
    fn rust_panic() {
        let s = sig(ABRT, PANIC);
        assert_eq!(s.kind, "rust-panic");
        assert_eq!(s.frames, ["conn.rs", "index out of bounds: the len is N but the index is N"]);
        assert_eq!(s.summary, "rust-panic at conn.rs: index out of bounds: the len is N but the index is N");
        let again = PANIC.replace("214:17", "230:9").replace("is 10", "is 77").replace("tokio-runtime-worker", "main");
        assert_eq!(sig(ABRT, &again).id, s.id);
        let old = "thread 'main' panicked at 'index out of bounds: the len is 5 but the index is 9', src/conn.rs:20:5";
        assert_eq!(sig(ABRT, old).frames, s.frames);
        let registry = "thread 'main' panicked at /home/u/.cargo/registry/src/index.crates.io-6f17d22bba15001f/\
                        s2n-quic-transport-0.40.0/src/stream/manager.rs:88:13:\nassertion failed: id < 4";
        let r = sig(ABRT, registry);
        assert_eq!(r.frames, ["stream/manager.rs", "assertion failed: id < N"]);
        let u = sig(ABRT, "thread 'main' panicked at src/a.rs:1:1:\ninternal error: entered unreachable code: state 7");
        assert_eq!(u.kind, "unreachable");
        assert_eq!(u.frames, ["a.rs", "internal error: entered unreachable code: state N"]);
    }

    fn planted_run(frame_type: &str) -> String {
        format!(
            "fuzz-server: !!! PLANTED FAULT ENABLED: abort-on-frame:new_token (test aid: this server fails on purpose) !!!\n\
             fuzz-server: listening on 127.0.0.1:4433\n\
             fuzz-server: PLANTED FAULT: received a frame of type {frame_type}, aborting on purpose"
        )
    }

    #[test]
    fn planted_faults() {
        let new_token = sig(ABRT, &planted_run("0x07"));
        assert_eq!(new_token.kind, "abort-message");
        assert_eq!(new_token.frames, ["PLANTED FAULT: received a frame of type 0x07, aborting on purpose"]);
        assert_eq!(sig(ABRT, &planted_run("0x07").replace("4433", "5000")).id, new_token.id);
        let handshake_done = sig(ABRT, &planted_run("0x1e"));
        assert_ne!(handshake_done.id, new_token.id);
        let hello = |cid: &str, len: u32| {
            sig(
                ABRT,
                &format!(
                    "fuzz-server: PLANTED FAULT: ClientHello of connection {cid} with a key_share entry for group \
                     0x001d with a {len}-byte key_exchange (32 expected), aborting on purpose"
                ),
            )
        };
        let a = hello("0123456789abcdef", 33);
        assert_eq!(
            a.frames,
            ["PLANTED FAULT: ClientHello of connection H with a key_share entry for group 0x001d with a N-byte \
              key_exchange (N expected), aborting on purpose"]
        );
        assert_eq!(hello("fedcba9876543210", 31).id, a.id);
        assert_ne!(a.id, new_token.id);
    }

    #[test]
    fn planted_hang() {
        let text = "fuzz-server: PLANTED FAULT: received a frame of type 0x1e, hanging on purpose (the endpoint spins \
                    forever and answers nothing)";
        let cause = Some("hung: still running after 5 s, not answering clean probes, using 99% of a core");
        let s = sig(cause, text);
        assert_eq!(s.kind, "hang");
        assert_eq!(s.frames.len(), 1);
        assert_ne!(sig(cause, &text.replace("0x1e", "0x07")).id, s.id);
        let cause = Some("hung: still running after 5 s, not answering clean probes, using 97% of a core");
        assert_eq!(sig(cause, text).id, s.id);
    }

    #[test]
    fn leaks_by_rss_are_their_own_kind() {
        let cause = |from: u32, to: u32, a: u32, b: u32| {
            format!(
                "leak: RSS grew from {from} MB to {to} MB between checkpoints #{a} and #{b} (sustained above the \
                 baseline of {from} MB plus --leak-limit)"
            )
        };
        let noise = "fuzz-server: listening on 127.0.0.1:4433\nconnection 5 closed";
        let leak = sig(Some(&cause(36, 300, 2900, 3200)), noise);
        assert_eq!((leak.kind.as_str(), leak.summary.as_str()), ("leak", "leak (no stack)"));
        assert!(leak.frames.is_empty());
        // Other sizes and checkpoints: the same leak.
        assert_eq!(sig(Some(&cause(40, 900, 100, 700)), "").id, leak.id);
        // A report in stderr did not end a server that is alive: still a leak, not an ASan error.
        let asan = "==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010\n    #0 0x4 in f a.c:3";
        assert_eq!(sig(Some(&cause(36, 300, 0, 10)), asan).kind, "leak");
        // A planted leak names its frame: leaks on two frame types are two findings.
        let planted = |t: &str| {
            format!(
                "fuzz-server: PLANTED FAULT: received a frame of type {t}, leaking 4194304 bytes on purpose (and as \
                 much for every packet that carries one; said once)"
            )
        };
        let token = sig(Some(&cause(36, 300, 0, 10)), &planted("0x07"));
        assert_eq!(token.kind, "leak");
        assert_eq!(token.frames.len(), 1);
        assert_eq!(sig(Some(&cause(50, 90, 20, 30)), &planted("0x07")).id, token.id);
        assert_ne!(sig(Some(&cause(36, 300, 0, 10)), &planted("0x1a")).id, token.id);
        // An LSan report at exit is LSan's kind, not this one.
        assert_ne!(sig(Some("exit status 23"), "").kind, "leak");
    }

    #[test]
    fn causes_without_a_report() {
        let noise = "fuzz-server: listening on 127.0.0.1:4433\nconnection 5 closed";
        let hang = sig(Some("hung: still running after 5 s, not answering clean probes, using 99% of a core"), noise);
        assert_eq!((hang.kind.as_str(), hang.summary.as_str()), ("hang", "hang (no stack)"));
        assert!(hang.frames.is_empty());
        assert_eq!(sig(Some("silent: still running after 5 s, but not answering clean probes"), "").kind, "silent");
        assert_eq!(sig(Some("busy: refused or closed clean connections for 2.0 s, past ..."), "").kind, "busy");
        assert_eq!(sig(None, noise).kind, "silent");
        assert_eq!(sig(None, "").id, sig(None, noise).id);
        assert_eq!(sig(Some("exit status 3"), noise).kind, "exit:3");
        assert_eq!(sig(Some("exited: exit status 1"), noise).kind, "exit:1");
        assert_eq!(sig(Some("exited: killed by signal 6 (SIGABRT)"), noise).kind, "signal:SIGABRT");
        assert_eq!(sig(Some("killed by signal 11 (SIGSEGV), core dumped"), noise).kind, "signal:SIGSEGV");
        assert_eq!(sig(Some("killed by signal 10"), noise).kind, "signal:SIGUSR1");
        assert_eq!(sig(Some("killed by signal 40"), noise).kind, "signal:40");
        assert_eq!(sig(Some("signal: 9 (SIGKILL)"), noise).kind, "signal:SIGKILL");
        assert_eq!(sig(Some("exit status: 2"), noise).kind, "exit:2");
        // A hang is not a crash: a report-free hang and a signal differ.
        assert_ne!(hang.id, sig(ABRT, noise).id);
    }

    #[test]
    fn fallback_error_lines() {
        let text = "serving\n2024-05-01T10:00:00.123Z ERROR server: connection 17 failed: bad state 0x7ffd12345678\n\n";
        let s = sig(Some("exit status 1"), text);
        assert_eq!(s.frames, ["TIME ERROR server: connection N failed: bad state 0x?"]);
        assert_eq!(s.summary, "exit:1 after: TIME ERROR server: connection N failed: bad state 0x?");
        let again = text.replace("17", "3").replace("10:00:00.123Z", "11:12:13.000Z");
        assert_eq!(sig(Some("exit status 1"), &again).id, s.id);
        // An error line long before the end is not about the death.
        let old = format!("{text}a\nb\nc\n");
        assert!(sig(Some("exit status 1"), &old).frames.is_empty());
    }

    #[test]
    fn abort_messages() {
        let s = sig(ABRT, "free(): double free detected in tcache 2");
        assert_eq!(
            (s.kind.as_str(), s.frames.clone()),
            ("abort-message", vec!["free(): double free detected in tcache N".into()])
        );
        let s =
            sig(ABRT, "terminate called after throwing an instance of 'std::runtime_error'\n  what():  stream 12 gone");
        assert_eq!(s.frames, ["terminate called after throwing an instance of 'std::runtime_error'", "stream N gone"]);
        let s = sig(ABRT, "memory allocation of 123456 bytes failed");
        assert_eq!(s.frames, ["memory allocation of N bytes failed"]);
        let s =
            sig(ABRT, "\nthread 'tokio-runtime-worker' has overflowed its stack\nfatal runtime error: stack overflow");
        assert_eq!(s.frames, ["thread overflowed its stack"]);
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalise("==123==Hint: at 0xdeadbeef12"), "Hint: at 0x?");
        assert_eq!(normalise("type 0x07 group 0x001d"), "type 0x07 group 0x001d");
        // A version: its first part is a word (`v1`), the rest numbers.
        assert_eq!(normalise("ngtcp2 h3 u64 stream_3 v1.2"), "ngtcp2 h3 u64 stream_3 v1.N");
        assert_eq!(normalise("index 10 for type 'int [4]' it's 5"), "index N for type 'int [4]' it's N");
        assert_eq!(normalise("cid 0123abcd4567 len 8"), "cid H len N");
        assert_eq!(normalise("  spaced    out  "), "spaced out");
        assert_eq!(normalise("[2024-05-01T10:00:00Z ERROR x] at 2024-05-01T10:00:00Z"), "TIME ERROR x] at N-N-N:N:N");
        assert_eq!(
            normalise("bad frame in 0-RTT, not 1-RTT or 2 RTTs: 0rtt 1RTT"),
            "bad frame in 0-RTT, not 1-RTT or N RTTs: 0rtt 1RTT"
        );
    }

    #[test]
    fn sanitizer_warnings_and_recovered_ubsan() {
        let msan = "==9==WARNING: MemorySanitizer: use-of-uninitialized-value\n    \
                    #0 0x55 in parse_header /b/src/hdr.c:12:3\n\
                    SUMMARY: MemorySanitizer: use-of-uninitialized-value /b/src/hdr.c:12:3 in parse_header";
        let s = sig(EXIT1, msan);
        assert_eq!(
            (s.kind.as_str(), s.frames.clone()),
            ("msan:use-of-uninitialized-value", vec!["parse_header (hdr.c)".into()])
        );
        // A UBSan error the process recovered from is not what a later SIGSEGV was.
        let segv = sig(Some("killed by signal 11 (SIGSEGV)"), UBSAN);
        assert_eq!(segv.kind, "signal:SIGSEGV");
        assert_eq!(sig(ABRT, UBSAN).kind, "ubsan:signed-integer-overflow");
        // No cause (an unsupervised server) with a report: the report.
        assert_eq!(sig(None, UAF).kind, "asan:heap-use-after-free");
    }
}
