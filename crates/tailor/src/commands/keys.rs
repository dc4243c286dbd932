//! `tailor keys add|list|revoke`: API keys in `<data_dir>/keys.json`. A running server
//! picks changes up within `auth.reload_ms`; the key itself is printed once, at `add`.

use anyhow::Result;
use tailor_server::auth::{KeyStore, Kind, NewKey};

use crate::commands::train::format_ms;
use crate::config::{load, DataArgs};

pub const EXAMPLES: &str = "Examples:
  tailor keys add --kind write --name website
  tailor keys add --kind write --name widget --recommend --rate 50 --burst 100
  tailor keys add --kind secret --name backend
  tailor keys list
  tailor keys revoke w_3fK9aQ2z";

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    /// Send events only; safe in a web page.
    Write,
    /// Every endpoint.
    Secret,
}

impl From<KindArg> for Kind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Write => Kind::Write,
            KindArg::Secret => Kind::Secret,
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (it cannot be shown again).
    Add {
        /// What the key may do.
        #[arg(long, value_enum)]
        kind: KindArg,
        /// What the key is for (shown in lists).
        #[arg(long)]
        name: String,
        /// Requests per second (default: the `[auth]` default of the kind; 0: unlimited).
        #[arg(long, value_name = "N")]
        rate: Option<f64>,
        /// Burst size in requests (default: the `[auth]` default of the kind).
        #[arg(long, value_name = "N")]
        burst: Option<f64>,
        /// A write key that may also read recommendations and catalog items (the
        /// `tailor.js` widget).
        #[arg(long)]
        recommend: bool,
    },
    /// Every key (id, kind, name, limits, created, revoked); never the keys themselves.
    List,
    /// Revoke the key with this id (`tailor keys list` shows ids).
    Revoke {
        /// The key's id (e.g. `w_3fK9aQ2z`), not the key itself.
        id: String,
    },
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
            let kind = Kind::from(kind);
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
