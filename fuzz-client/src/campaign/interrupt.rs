//! What interrupts a campaign: Ctrl-C (SIGINT) at a terminal, and SIGTERM, which is how
//! Kubernetes (and systemd, and `docker stop`) ask a process to stop: a deleted Job, a pod past
//! its deadline, a drained node. Either way the campaign closes its connections in flight, logs
//! them and `run_end`, and exits with status 130, instead of dying between two log lines.

/// Resolves when the process receives SIGINT or SIGTERM. Where SIGTERM cannot be watched (not
/// Unix, or no handler could be installed), it waits for Ctrl-C alone.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => tracing::warn!("SIGTERM received"),
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
