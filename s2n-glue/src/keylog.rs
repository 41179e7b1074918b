//! The TLS key log (`SSLKEYLOGFILE`, `--keylog FILE`) of both binaries: every connection's
//! traffic secrets in the NSS key log format, so that Wireshark or tshark decrypts a capture of a
//! campaign, the client's crash capture (`<log>.crash.pcap`) included.
//!
//! s2n-quic's own `with_key_logging` reads only the `SSLKEYLOGFILE` environment variable, and the
//! client builds its s2n-tls configs itself (one with a session ticket offer, one without), so
//! both binaries install s2n-tls's key log callback (`s2n_config_set_key_log_cb`) here instead:
//! one process-wide file, chosen by `--keylog` or else by `SSLKEYLOGFILE`, opened once, appended
//! to, each line flushed as s2n-tls emits it (a crash loses none). The sink is a process-wide
//! static because s2n-tls keeps a raw pointer to it in every config (the callback's context must
//! outlive them all) and because a key log is one file per process, as `SSLKEYLOGFILE` is.
//!
//! s2n-tls emits, per connection, `CLIENT_HANDSHAKE_TRAFFIC_SECRET`,
//! `SERVER_HANDSHAKE_TRAFFIC_SECRET`, `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0` (and
//! `EXPORTER_SECRET`), keyed by the ClientHello random: what a QUIC decoder needs for the
//! Handshake and 1-RTT packets (RFC 9001 §5.1). Initial packets need no key log (RFC 9001 §5.2).
//! Key logging is for lab debugging only: anyone holding the file reads the traffic.

use s2n_quic::provider::tls::s2n_tls::{config, error::Error as TlsError, ffi};
use std::ffi::{c_int, c_void, OsString};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The environment variable browsers, curl and OpenSSL-based tools read.
pub const ENV: &str = "SSLKEYLOGFILE";

/// The process's key log, once [`init`] opened one.
static SINK: OnceLock<KeyLog> = OnceLock::new();

/// An open key log file.
struct KeyLog {
    path: PathBuf,
    file: Mutex<File>,
}

/// Which file to log keys to: `--keylog` when given, else a non-empty `SSLKEYLOGFILE`.
pub fn choose(flag: Option<&Path>, env: Option<OsString>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
}

/// Opens the process's key log (appending) at the path [`choose`] picks from `flag` and the
/// environment; returns it, or `None` when neither names one. An unwritable file is an error (bad
/// input, for the caller to report). Call it once, before any TLS config is built.
pub fn init(flag: Option<&Path>) -> io::Result<Option<&'static Path>> {
    let Some(path) = choose(flag, std::env::var_os(ENV)) else {
        return Ok(None);
    };
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("key log {}: {e}", path.display())))?;
    let log = SINK.get_or_init(|| KeyLog { path, file: Mutex::new(file) });
    Ok(Some(&log.path))
}

/// Installs the key log callback in an s2n-tls config when [`init`] opened a key log; otherwise
/// leaves the config alone (no callback, no cost).
pub fn install(builder: &mut config::Builder) -> Result<(), TlsError> {
    if let Some(log) = SINK.get() {
        // SAFETY: the context is a `&'static KeyLog`, so it outlives every config; `on_line`
        // casts it back to that type and copies the line before returning.
        unsafe { builder.set_key_log_callback(Some(on_line), log as *const KeyLog as *mut c_void)? };
    }
    Ok(())
}

/// s2n-tls's key log callback: one NSS key log line (without its newline) per secret.
unsafe extern "C" fn on_line(ctx: *mut c_void, _conn: *mut ffi::s2n_connection, line: *mut u8, len: usize) -> c_int {
    // SAFETY: `ctx` is the `&'static KeyLog` that `install` passed; s2n-tls hands a valid line of
    // `len` bytes, valid for this call.
    let (log, line) = unsafe { (&*(ctx as *const KeyLog), std::slice::from_raw_parts(line, len)) };
    log.append(line);
    0 // a failed write must not fail the handshake: the key log is a debugging aid
}

impl KeyLog {
    /// One line written whole (line and newline in one write, so that two connections' lines
    /// never interleave, even across processes appending to the same file).
    fn append(&self, line: &[u8]) {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        if let Ok(mut file) = self.file.lock() {
            let _ = file.write_all(&buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_over_the_environment_and_empty_means_unset() {
        let flag = Path::new("flag.keys");
        assert_eq!(choose(Some(flag), Some("env.keys".into())), Some(flag.to_path_buf()));
        assert_eq!(choose(None, Some("env.keys".into())), Some(PathBuf::from("env.keys")));
        assert_eq!(choose(None, Some("".into())), None);
        assert_eq!(choose(None, None), None);
    }
}
