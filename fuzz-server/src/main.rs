//! fuzz-server: a cooperating QUIC fuzz server. See `--help` and the README.
//!
//! - [`cli`]: the command line.
//! - [`tls`]: certificate (loaded or generated), ALPN, session tickets.
//! - [`interceptor`]: CID learning, mutation of the server's packets, receive-side faults.
//! - [`registry`]: the connections, their outcomes, and the run log.
//! - [`serve`]: hq-interop and echo; [`h3_serve`]: HTTP/3.
//! - [`qlog_files`]: `--qlog-dir`, one qlog file per connection.
//! - [`limits`]: idle timeout and connection cap.
//! - [`planted`]: planted faults (test aids).

mod cli;
mod h3_serve;
mod interceptor;
mod limits;
mod planted;
mod qlog_files;
mod registry;
mod serve;
mod tls;

use anyhow::{anyhow, Context, Result};
use clap::Parser;
use fuzz_s2n_glue::qlog::QlogDir;
use fuzz_shared::{Event, LogWriter, Role};
use registry::{Registry, Shared};
use s2n_quic::Server;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};

/// Start-up failures caused by the user's input: exit status 2.
struct BadInput(anyhow::Error);

fn main() -> ExitCode {
    let args = cli::Args::parse();
    if let Some(kind) = args.generate {
        use clap::CommandFactory;
        return match fuzz_cli_generate::generate(kind, cli::Args::command(), &mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: cannot write to stdout: {e}");
                ExitCode::from(1)
            }
        };
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fuzz-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    // Tasks still serving streams are abandoned, not awaited: the log is already finished.
    runtime.shutdown_background();
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(BadInput(e))) => {
            eprintln!("fuzz-server: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("fuzz-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the server until SIGINT or SIGTERM. The outer error is a failure while running, the
/// inner one bad input found at start-up.
async fn run(args: cli::Args) -> Result<Result<(), BadInput>> {
    let faults = planted::Faults::new(&args.planted_fault);
    let planted: Vec<String> = args.planted_fault.iter().map(ToString::to_string).collect();
    for fault in &planted {
        eprintln!("fuzz-server: !!! PLANTED FAULT ENABLED: {fault} (test aid: this server fails on purpose) !!!");
    }

    let (server, shared, qlog_dir) = match start(&args, faults) {
        Ok(started) => started,
        Err(e) => return Ok(Err(BadInput(e))),
    };
    let local = server.local_addr().context("cannot read the bound address")?;
    let started = Instant::now();
    shared.lock().write(Event::RunStart {
        start_cid: None,
        start_seq: 0,
        target: local.to_string(),
        mode: args.mode,
        derivation: fuzz_shared::chain::DERIVATION.into(),
        version: fuzz_shared::VERSION.into(),
        args: std::env::args().collect(),
        planted_faults: planted,
        resume_rate: None,
        shard: None,
        pacing: None,
        client_knobs: None,
        alpn: None,
        corpus_every: None,
    });
    let delays: String = [(args.delay_ms, "handshakes"), (args.answer_delay_ms, "answers")]
        .into_iter()
        .filter(|&(ms, _)| ms > 0)
        .map(|(ms, what)| format!(", {what} delayed {ms} ms"))
        .collect();
    eprintln!(
        "fuzz-server: listening on {local} (mode {}, ALPN {}, log {}{delays})",
        args.mode.as_str(),
        args.alpn.join(","),
        args.log.as_ref().map_or("none".into(), |p| p.display().to_string()),
    );

    serve_until_signal(
        server,
        Arc::new(serve::Config { www: args.www.clone(), answer_delay: Duration::from_millis(args.answer_delay_ms) }),
    )
    .await?;
    if let Some(dir) = &qlog_dir {
        dir.flush_open();
    }

    let mut reg = shared.lock();
    reg.finish(started);
    print_summary(&reg, started.elapsed(), &args);
    Ok(Ok(()))
}

/// Everything that depends on the user's input: certificate, log file, socket, endpoint.
fn start(args: &cli::Args, faults: planted::Faults) -> Result<(Server, Shared, Option<Arc<QlogDir>>)> {
    let pair = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => tls::CertPair::load(cert, key)?,
        _ => tls::CertPair::self_signed()?,
    };
    if let Some(path) = fuzz_s2n_glue::keylog::init(args.keylog.as_deref())? {
        eprintln!("fuzz-server: TLS key log (NSS format): {}", path.display());
    }
    let tls = tls::server(&pair, &args.alpn, Some(Duration::from_millis(args.delay_ms)))?;
    let qlog_dir = match &args.qlog_dir {
        Some(dir) => Some(QlogDir::create(dir, args.qlog_keep)?),
        None => None,
    };
    if let Some(path) = &args.write_cert {
        std::fs::write(path, &pair.cert_pem)
            .with_context(|| format!("cannot write the certificate to {}", path.display()))?;
    }
    if let Some(www) = &args.www {
        if !www.is_dir() {
            return Err(anyhow!("--www {}: not a directory", www.display()));
        }
    }
    let log = match &args.log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open the run log {}", path.display()))?;
            Some(LogWriter::new(file, Role::Server))
        }
        None => None,
    };
    // Binding here, rather than letting s2n-quic do it, gives a plain error for a bad or busy
    // address.
    let socket = std::net::UdpSocket::bind(args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
    let io = s2n_quic::provider::io::tokio::Builder::default()
        .with_rx_socket(socket)
        .and_then(|b| b.build())
        .context("cannot set up the UDP socket")?;

    let shared = Shared::new(log, faults.clone());
    let server = Server::builder()
        .with_tls(tls)
        .map_err(|e| anyhow!("TLS provider: {e}"))?
        .with_io(io)
        .map_err(|e| anyhow!("IO provider: {e}"))?
        .with_limits(limits::connection_limits(Duration::from_secs(args.idle_timeout))?)
        .map_err(|e| anyhow!("limits: {e}"))?
        .with_endpoint_limits(limits::ConnectionCap { max_connections: args.max_connections })
        .map_err(|e| anyhow!("endpoint limits: {e}"))?
        .with_event((
            registry::RegistrySubscriber { shared: shared.clone() },
            qlog_files::subscriber(qlog_dir.clone(), shared.clone()),
        ))
        .map_err(|e| anyhow!("event provider: {e}"))?
        .with_packet_interceptor(interceptor::FuzzInterceptor::new(shared.clone(), args.mode, faults))
        .map_err(|e| anyhow!("packet interceptor: {e}"))?
        .start()
        .map_err(|e| anyhow!("cannot start the QUIC endpoint: {e}"))?;
    Ok((server, shared, qlog_dir))
}

/// Accepts connections and serves each on its own task, until SIGINT or SIGTERM.
async fn serve_until_signal(mut server: Server, config: Arc<serve::Config>) -> Result<()> {
    let mut stop = stop_signal()?;
    loop {
        tokio::select! {
            accepted = server.accept() => match accepted {
                Some(conn) => { tokio::spawn(serve::connection(conn, config.clone())); }
                None => return Err(anyhow!("the QUIC endpoint stopped")),
            },
            _ = &mut stop => break,
        }
    }
    Ok(())
}

/// Completes at the first SIGINT or SIGTERM. The signals are awaited on a thread with a runtime
/// of its own, not on the server's workers: an endpoint that hangs (a planted `hang-on-frame`,
/// or a real infinite loop) does so holding a connection's lock, and the workers serving that
/// connection block on the lock, so the server's runtime may never poll its signal driver
/// again. The channel wakes the main thread directly.
fn stop_signal() -> Result<tokio::sync::oneshot::Receiver<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // Registered (on that runtime's signal driver) before returning, so that no signal is
    // missed after.
    let (mut interrupt, mut terminate) = {
        let _on_runtime = runtime.enter();
        (
            signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        )
    };
    let (stop, stopped) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            });
            let _ = stop.send(());
        })
        .context("cannot start the signal thread")?;
    Ok(stopped)
}

fn print_summary(reg: &Registry, elapsed: Duration, args: &cli::Args) {
    let s = &reg.stats;
    let secs = elapsed.as_secs_f64();
    let outcomes: Vec<String> = s.outcomes.iter().map(|(o, n)| format!("{} {n}", o.as_str())).collect();
    eprintln!("fuzz-server: run summary");
    eprintln!(
        "  connections   {} in {secs:.1} s ({:.1}/s), {} fuzzed, peak {} open",
        s.connections,
        if secs > 0.0 { s.connections as f64 / secs } else { 0.0 },
        s.fuzzed_connections,
        s.peak_open
    );
    eprintln!("  outcomes      {}", if outcomes.is_empty() { "none".into() } else { outcomes.join(", ") });
    eprintln!("  packets       {} sent, {} fuzzed", s.sent_packets, s.fuzzed_packets);
    if s.unidentified + s.address_mismatches + s.engine_fallbacks > 0 {
        eprintln!(
            "  anomalies     {} connections without a parsed CID, {} address mismatches, {} engine fallbacks",
            s.unidentified, s.address_mismatches, s.engine_fallbacks
        );
    }
    if args.planted_fault.contains(&planted::PlantedFault::AbortOnBadKeyShare) {
        eprintln!(
            "  planted       {} ClientHellos checked for abort-on-bad-key-share, the longest {} bytes",
            s.client_hellos_checked, s.largest_client_hello
        );
    }
    if let Some(log) = &args.log {
        eprintln!("  run log       {}", log.display());
    }
}
