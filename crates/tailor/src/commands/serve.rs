//! `tailor serve`: every role (or those of `--roles`) in one process until SIGTERM / Ctrl-C.

use anyhow::Result;

use crate::config::{load, DataArgs};

/// Resolves when the process receives SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub async fn run(data: &DataArgs, listen: Option<&str>, roles: Option<&str>) -> Result<()> {
    let mut cfg = load(data, listen)?;
    if let Some(r) = roles {
        cfg.roles =
            tailor_server::roles::Roles::parse_list(r).map_err(|e| anyhow::anyhow!("--{e}"))?;
    }
    let dir = cfg.data_dir.display().to_string();
    let server = tailor_server::start(cfg).await?;
    // The banner is for the person at the terminal (stdout); logs go to stderr.
    println!(
        "tailor serving on {url} (data in {dir}, roles {roles})\n  dashboard: {url}/\n  collector: POST {url}/v1/batch\n  recommendations: GET {url}/v1/recommendations?user_id=...\n  metrics: {url}/metrics",
        url = server.url(),
        roles = server.app.cfg.roles,
    );
    shutdown_signal().await;
    println!("shutting down: draining requests, checkpointing, closing the log");
    server.shutdown().await?;
    Ok(())
}
