//! The command line. Every option is explained in `--help`; bad values are reported by clap on
//! stderr with exit status 2, like every other start-up error of the server.

use crate::planted::PlantedFault;
use clap::Parser;
use fuzz_shared::Mode;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The application protocols the server can speak.
pub const ALPN_HQ: &str = "hq-interop";
pub const ALPN_ECHO: &str = "echo";
pub use fuzz_shared::application::ALPN_H3;

#[derive(Parser, Debug)]
#[command(
    name = "fuzz-server",
    version,
    about = "A cooperating QUIC fuzz server: serves hq-interop and HTTP/3 (and echo), learns the connection ID each client \
             chose, and fuzzes its own packets to that client from it.",
    long_about = "A cooperating QUIC fuzz server in the style of picoquic's demo server.\n\n\
        It serves hq-interop requests (`GET /path\\r\\n`: a file from --www, or a generated body of N bytes for \
        `/N`; unknown paths get a stream reset), the same over HTTP/3 (h3: GET requests, status 200 with the body, \
        404, 413 or 400 for the rest) and an `echo` protocol that echoes every stream back. For every \
        connection it learns the initial Destination Connection ID the client chose and derives the connection's \
        plan and per-packet generators from it (role \"server\"), so that a fuzz-client campaign replays \
        identically from any checkpoint on both ends.\n\n\
        Exit status: 0 after SIGINT or SIGTERM (the run log is finished first); 2 for bad input (options, \
        certificate or key, listen address); 1 if the server fails while running.",
    after_help = "Planted faults (--planted-fault) are TEST AIDS ONLY: they make the server crash, hang or leak on \
        purpose so that the harness's crash, hang and leak handling can be tested. Never use them for a real fuzzing campaign."
)]
pub struct Args {
    /// Write a man page (`man`) or a shell completion script (`complete-bash`, `complete-zsh`,
    /// ...), made from these very options, on stdout, and exit:
    /// `fuzz-server --generate man > fuzz-server.1`.
    #[arg(long, value_enum, value_name = "KIND")]
    pub generate: Option<fuzz_cli_generate::Kind>,
    /// UDP address to listen on. Port 0 picks a free port; the run log's `run_start` names the
    /// address actually bound.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4433")]
    pub listen: SocketAddr,

    /// Certificate chain (PEM). Without --cert and --key, a self-signed certificate for localhost
    /// (and 127.0.0.1, ::1) is generated at start-up.
    #[arg(long, value_name = "PEM", requires = "key")]
    pub cert: Option<PathBuf>,

    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Write the certificate the server uses (generated or from --cert) to this file, so that a
    /// client can trust it.
    #[arg(long, value_name = "PEM")]
    pub write_cert: Option<PathBuf>,

    /// Directory of files to serve: `GET /a/b` returns `<DIR>/a/b`. Paths that name no file but
    /// are a number N (`/1000`) get a generated body of N bytes (at most 1 GiB), as with
    /// picoquic's demo server; anything else gets a stream reset. Without --www only `/N` works.
    #[arg(long, value_name = "DIR")]
    pub www: Option<PathBuf>,

    /// `fuzz` mutates the server's own packets as each connection's plan says; `clean` mutates
    /// nothing (the plans are still derived and logged).
    #[arg(long, value_name = "MODE", default_value = "fuzz", value_parser = parse_mode)]
    pub mode: Mode,

    /// The JSON-lines run log (role "server"): run_start, cid_start and cid_end for every
    /// connection, run_end. Appended to; flushed line by line.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Application protocols to offer, in order of preference, comma-separated: `hq-interop`
    /// (HTTP/0.9 over QUIC), `h3` (HTTP/3) and `echo` (each stream is echoed back). A client
    /// offering one of them gets it.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "hq-interop,h3,echo", value_parser = parse_alpn)]
    pub alpn: Vec<String>,

    /// Idle timeout in seconds: connections silent for longer are closed and freed.
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub idle_timeout: u64,

    /// The most connections open at once (closing ones included, until s2n-quic frees them);
    /// further connection attempts are refused with CONNECTION_REFUSED (RFC 9000 §5.2.2): a
    /// busy server, for testing clients' back-off.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub max_connections: usize,

    /// TEST AID, off by default: plant a fault. `abort-on-frame:<type>` aborts the process
    /// (std::process::abort) when a received packet carries a frame of that type; the type is a
    /// name (new_token, ack_frequency, datagram, path_challenge, stream, ...; see RFC 9000 §19)
    /// or a number (0x07). `hang-on-frame:<type>`: on such a frame the endpoint's thread spins
    /// forever (the process stays alive and answers nothing). `abort-on-bad-key-share` aborts
    /// when a ClientHello's key_share has an entry whose length does not fit its group, or
    /// entries overrunning the extension (RFC 8446 §4.2.8). `abort-on-retire-prior-to` aborts
    /// when a client's NEW_CONNECTION_ID has a Retire Prior To above 0 (RFC 9000 §5.1.2; clean
    /// s2n-quic clients send one to rotate their handshake CID). `leak:<bytes>` leaks that much
    /// memory per connection, resident (suffixes K, M, G); `leak-on-frame:<type>:<bytes>` that
    /// much for every received packet carrying a frame of that type. `close-code:<from>:<to>`
    /// (planted non-compliance, for the RFC oracle): the server's CONNECTION_CLOSE frames with
    /// transport error code `from` go out with `to` (`close-code:0x0a:0x07`: every
    /// PROTOCOL_VIOLATION as FRAME_ENCODING_ERROR). Repeatable. Announced on stderr and
    /// in run_start's planted_faults.
    #[arg(long, value_name = "SPEC")]
    pub planted_fault: Vec<PlantedFault>,

    /// Hold each new connection's handshake this long before answering its ClientHello, as a
    /// slow server does: clients send PTO probes (retransmissions) of their Initial meanwhile.
    /// Other connections go on meanwhile. 0 (the default) answers at once.
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub delay_ms: u64,

    /// Hold each request's answer this long before sending it, as a loaded server whose
    /// requests queue does; handshakes are not delayed. Both ends stay silent meanwhile. 0 (the
    /// default) answers at once.
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub answer_delay_ms: u64,

    /// Append every connection's TLS secrets to FILE in the NSS key log format, so that
    /// Wireshark or tshark decrypts a capture of the server's traffic. Default: the file
    /// SSLKEYLOGFILE names, if set. Lab use only: the file decrypts the traffic.
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<PathBuf>,

    /// Write one qlog file per connection into DIR (`<seq>-<cid>.sqlog`: the server's connection
    /// number and the client-chosen CID; qlog 0.3 JSON-SEQ, as qvis reads), with packets sent and
    /// received and each of the server's mutations as a `quic_cid_fuzz:mutation` event. Off by
    /// default (it costs); see --qlog-keep.
    #[arg(long, value_name = "DIR")]
    pub qlog_dir: Option<PathBuf>,

    /// With --qlog-dir: keep only the files of the last N connections, and besides them those the
    /// client closed with INTERNAL_ERROR: the server's mutations broke it (at most max(N, 300)).
    #[arg(long, value_name = "N", default_value_t = 1000, requires = "qlog_dir")]
    pub qlog_keep: usize,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "fuzz" => Ok(Mode::Fuzz),
        "clean" => Ok(Mode::Clean),
        _ => Err("expected `fuzz` or `clean`".into()),
    }
}

fn parse_alpn(s: &str) -> Result<String, String> {
    match s.trim() {
        p @ (ALPN_HQ | ALPN_H3 | ALPN_ECHO) => Ok(p.to_string()),
        other => Err(format!("unsupported protocol {other:?}: expected {ALPN_HQ}, {ALPN_H3} or {ALPN_ECHO}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_options() {
        let a = Args::try_parse_from(["fuzz-server"]).unwrap();
        assert_eq!(a.listen.to_string(), "127.0.0.1:4433");
        assert_eq!(a.mode, Mode::Fuzz);
        assert_eq!(a.alpn, ["hq-interop", "h3", "echo"]);
        assert!(a.planted_fault.is_empty());
        assert_eq!(a.delay_ms, 0);
        let a = Args::try_parse_from([
            "fuzz-server",
            "--mode",
            "clean",
            "--alpn",
            "echo",
            "--planted-fault",
            "leak:1K",
            "--planted-fault",
            "abort-on-frame:0x07",
            "--planted-fault",
            "abort-on-bad-key-share",
            "--planted-fault",
            "hang-on-frame:ping",
            "--delay-ms",
            "100",
        ])
        .unwrap();
        assert_eq!(a.mode, Mode::Clean);
        assert_eq!(a.alpn, ["echo"]);
        assert_eq!(a.planted_fault.len(), 4);
        assert_eq!(a.delay_ms, 100);
    }

    #[test]
    fn bad_input_is_refused() {
        for args in [
            &["fuzz-server", "--listen", "nowhere"][..],
            &["fuzz-server", "--cert", "c.pem"],
            &["fuzz-server", "--mode", "loud"],
            &["fuzz-server", "--alpn", "h3-29"],
            &["fuzz-server", "--planted-fault", "leak:x"],
            &["fuzz-server", "--planted-fault", "hang-on-frame"],
            &["fuzz-server", "--delay-ms", "-1"],
            &["fuzz-server", "--delay-ms", "60001"],
            &["fuzz-server", "--delay-ms", "soon"],
        ] {
            assert!(Args::try_parse_from(args).is_err(), "{args:?}");
        }
    }
}
