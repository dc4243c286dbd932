//! `tailor serve`: every role (or those of `--roles`) in one process until SIGTERM / Ctrl-C.

use anyhow::Result;
use tailor_server::roles::{Role, Roles};

use crate::config::{load, DataArgs};

pub const EXAMPLES: &str = "Examples:
  tailor serve
  tailor serve --data-dir /var/lib/tailor --listen 127.0.0.1:9000 --log-format json
  # one role per process: tailor.toml names a kafka:// log and a redis:// online store
  tailor serve --config tailor.toml --roles collector,lake,api
  tailor serve --config tailor.toml --roles processor";

/// A `--roles` value (ADR 0016).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    /// Every role below.
    All,
    /// The Segment-compatible ingest endpoints and the schema registry's writes.
    Collector,
    /// The live processor: features, live model, checkpoints.
    Processor,
    /// The lake sink: Parquet files, manifests, quality checks, maintenance.
    Lake,
    /// Scheduled retraining and `POST /v1/admin/train`.
    Trainer,
    /// Recommendations, features, SQL, experiments and their statistics.
    Api,
}

/// The roles `--roles` names (`all` among them means every role).
pub fn roles(args: &[RoleArg]) -> Result<Roles> {
    let mut names = Vec::new();
    for arg in args {
        let role = match arg {
            RoleArg::All => return Ok(Roles::default()),
            RoleArg::Collector => Role::Collector,
            RoleArg::Processor => Role::Processor,
            RoleArg::Lake => Role::Lake,
            RoleArg::Trainer => Role::Trainer,
            RoleArg::Api => Role::Api,
        };
        names.push(role.name().to_owned());
    }
    Roles::try_from(names).map_err(|e| anyhow::anyhow!("--{e}"))
}

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

/// `roles`: the `--roles` flag's values; none keeps the configured roles.
pub async fn run(data: &DataArgs, listen: Option<&str>, roles_arg: &[RoleArg]) -> Result<()> {
    let mut cfg = load(data, listen)?;
    if !roles_arg.is_empty() {
        cfg.roles = roles(roles_arg)?;
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
