//! `tailor models list|promote|rollback`: the model registry under `<data_dir>/models`.

use anyhow::Result;

use crate::commands::train::format_ms;
use crate::config::{load, DataArgs};

pub const EXAMPLES: &str = "Examples:
  tailor models list
  tailor models promote default 3
  tailor models rollback default";

#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// Every model with its versions; `*` marks the served version.
    List,
    /// Serve VERSION of NAME (the served one is kept for rollback).
    Promote {
        /// The model's registry name (`default` unless `tailor train --model` named another).
        name: String,
        /// The version to serve: `3` or `v3` (`tailor models list` shows them).
        version: String,
    },
    /// Serve the previously served version of NAME again.
    Rollback {
        /// The model's registry name.
        name: String,
    },
}

fn parse_version(s: &str) -> Result<u32> {
    s.trim_start_matches('v')
        .parse()
        .map_err(|_| anyhow::anyhow!("VERSION {s:?} is not a version number (e.g. 3 or v3)"))
}

pub fn run(cmd: ModelsCommand, data: &DataArgs) -> Result<()> {
    let cfg = load(data, None)?;
    let reg = tailor_server::model_registry(&cfg)?;
    match cmd {
        ModelsCommand::List => {
            let entries = reg.list()?;
            if entries.is_empty() {
                println!("no models in {}; run `tailor train`", reg.location());
                return Ok(());
            }
            println!(
                "  {:<12} {:>4}  {:<8} {:>9} {:>7} {:>7}  {:<42}  {:<14}  trained at",
                "name", "ver", "kind", "rows", "users", "items", "data from .. to", "metric"
            );
            for e in entries {
                let current = e.current.as_ref().map(|p| p.version);
                let previous = e.current.as_ref().and_then(|p| p.history.last().copied());
                for m in &e.versions {
                    let mark = if current == Some(m.version) {
                        "*"
                    } else if previous == Some(m.version) {
                        "-"
                    } else {
                        " "
                    };
                    let metric = m
                        .metrics
                        .as_ref()
                        .and_then(|x| x.metrics.first())
                        .map(|(k, v)| format!("{k} {v:.4}"))
                        .unwrap_or_else(|| "-".into());
                    println!(
                        "{mark} {:<12} {:>4}  {:<8} {:>9} {:>7} {:>7}  {} .. {}  {:<14}  {}",
                        m.name,
                        format!("v{}", m.version),
                        m.kind,
                        m.data.rows,
                        m.data.users,
                        m.data.items,
                        format_ms(m.data.first_event_ms),
                        format_ms(m.data.last_event_ms),
                        metric,
                        format_ms(m.trained_at_ms)
                    );
                }
            }
            println!("(* served, - previous: `tailor models rollback NAME` returns to it)");
        }
        ModelsCommand::Promote { name, version } => {
            let v = parse_version(&version)?;
            let before = reg.current(&name)?.map(|p| p.version);
            let p = reg.promote(&name, v)?;
            match before {
                Some(b) if b != p.version => println!("{name}: serving v{} (was v{b})", p.version),
                _ => println!("{name}: serving v{}", p.version),
            }
        }
        ModelsCommand::Rollback { name } => {
            let before = reg.current(&name)?.map(|p| p.version);
            let p = reg.rollback(&name)?;
            match before {
                Some(b) => println!("{name}: rolled back to v{} (was v{b})", p.version),
                None => println!("{name}: serving v{}", p.version),
            }
        }
    }
    Ok(())
}
