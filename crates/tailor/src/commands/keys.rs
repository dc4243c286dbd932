//! `tailor keys add|list|revoke`: API keys in `<data_dir>/keys.json`. A running server
//! picks changes up within `auth.reload_ms`; the key itself is printed once, at `add`.

use anyhow::Result;
use tailor_server::auth::{KeyStore, Kind, NewKey};

use crate::commands::train::format_ms;
use crate::config::{load, DataArgs};

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (it cannot be shown again).
    Add {
        /// `write` (send events only; safe in a web page) or `secret` (every endpoint).
        #[arg(long, value_parser = parse_kind)]
        kind: Kind,
        /// What the key is for (shown in lists).
        #[arg(long)]
        name: String,
        /// Requests per second (default: the `[auth]` default of the kind; 0: unlimited).
        #[arg(long)]
        rate: Option<f64>,
        /// Burst size in requests.
        #[arg(long)]
        burst: Option<f64>,
        /// A write key that may also read recommendations and catalog items (the
        /// `tailor.js` widget).
        #[arg(long)]
        recommend: bool,
    },
    /// Every key (id, kind, name, limits, created, revoked); never the keys themselves.
    List,
    /// Revoke the key with this id (`tailor keys list` shows ids).
    Revoke { id: String },
}

fn parse_kind(s: &str) -> Result<Kind, String> {
    s.parse()
}

pub fn run(cmd: KeysCommand, data: &DataArgs) -> Result<()> {
    let cfg = load(data, None)?;
    let store = KeyStore::new(&cfg.data_dir);
    let now = chrono::Utc::now().timestamp_millis();
    match cmd {
        KeysCommand::Add {
            kind,
            name,
            rate,
            burst,
            recommend,
        } => {
            let (key, record) = store.add(
                kind,
                &NewKey {
                    name,
                    rate_per_sec: rate,
                    burst,
                    recommend,
                },
                now,
            )?;
            eprintln!(
                "created {} key {} ({}); it is shown only now:",
                kind.as_str(),
                record.id,
                record.name
            );
            println!("{key}");
        }
        KeysCommand::List => {
            let keys = store.load()?;
            if keys.is_empty() {
                println!(
                    "no keys in {}; create one with `tailor keys add --kind write|secret --name NAME`",
                    store.path().display()
                );
                return Ok(());
            }
            println!(
                "{:<12} {:<7} {:<24} {:>10} {:>8}  {:<20}  revoked",
                "id", "kind", "name", "rate/s", "burst", "created"
            );
            for k in keys {
                let limit = |v: Option<f64>| v.map_or_else(|| "default".into(), |v| v.to_string());
                let kind = if k.recommend {
                    "write+r"
                } else {
                    k.kind.as_str()
                };
                println!(
                    "{:<12} {:<7} {:<24} {:>10} {:>8}  {:<20}  {}",
                    k.id,
                    kind,
                    k.name,
                    limit(k.rate_per_sec),
                    limit(k.burst),
                    format_ms(k.created_ms),
                    k.revoked_ms.map_or_else(|| "-".into(), format_ms)
                );
            }
        }
        KeysCommand::Revoke { id } => {
            let k = store.revoke(&id, now)?;
            println!(
                "revoked {} key {} ({}); running servers refuse it within their reload period",
                k.kind.as_str(),
                k.id,
                k.name
            );
        }
    }
    Ok(())
}
