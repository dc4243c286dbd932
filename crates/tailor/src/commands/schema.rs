//! `tailor schema list|show|add`. Reads `schemas.json` in the data directory; `add` goes
//! through the running server's API when one holds the data directory, else edits the file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tailor_event::{Compatibility, SchemaRegistry};
use tailor_server::registry_store;

use crate::config::{load, DataArgs};

pub const EXAMPLES: &str = "Examples:
  tailor schema list
  tailor schema show \"Order Completed\"
  tailor schema show \"Product Viewed\" --version 1
  tailor schema add \"Signup Completed\" signup.schema.json --compatibility BACKWARD";

/// How a new version must relate to the latest one (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompatibilityArg {
    /// The new schema reads every event valid under the latest one.
    #[value(name = "BACKWARD")]
    Backward,
    /// Events valid under the new schema are readable by the latest one.
    #[value(name = "FORWARD")]
    Forward,
    /// Both BACKWARD and FORWARD.
    #[value(name = "FULL")]
    Full,
    /// No check.
    #[value(name = "NONE")]
    None,
}

impl From<CompatibilityArg> for Compatibility {
    fn from(c: CompatibilityArg) -> Self {
        match c {
            CompatibilityArg::Backward => Compatibility::Backward,
            CompatibilityArg::Forward => Compatibility::Forward,
            CompatibilityArg::Full => Compatibility::Full,
            CompatibilityArg::None => Compatibility::None,
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum SchemaCommand {
    /// Subjects with their compatibility mode and versions.
    List,
    /// One subject's schema (latest version unless --version).
    Show {
        /// The subject: a track event name (e.g. "Order Completed") or `page`, `identify`, ...
        subject: String,
        /// This version instead of the latest.
        #[arg(long, value_name = "N")]
        version: Option<u32>,
    },
    /// Register FILE (a JSON Schema document) as the next version of SUBJECT.
    Add {
        /// The subject (a track event name, or a message type).
        subject: String,
        /// The JSON Schema document.
        file: PathBuf,
        /// Compatibility mode (default BACKWARD for a new subject; an existing subject keeps
        /// its mode unless given).
        #[arg(long, value_enum, ignore_case = true)]
        compatibility: Option<CompatibilityArg>,
        /// Register through this running server (e.g. http://127.0.0.1:8080; the secret key
        /// from TAILOR_API_KEY). Default: the server holding the data directory, at the
        /// configured `listen` address; with none running, the file is edited.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
}

/// Whether a server holds the data directory's log lock.
fn server_running(data_dir: &Path) -> bool {
    std::fs::File::open(data_dir.join("log").join("LOCK"))
        .map(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
        .unwrap_or(false)
}

pub async fn run(cmd: SchemaCommand, data: &DataArgs) -> Result<()> {
    let cfg = load(data, None)?;
    let path = cfg.data_dir.join("schemas.json");
    let load_registry = || -> Result<SchemaRegistry> {
        if !path.exists() {
            return Ok(SchemaRegistry::with_defaults());
        }
        Ok(registry_store::load_or_init(&path)?)
    };
    match cmd {
        SchemaCommand::List => {
            let r = load_registry()?;
            println!("{:<28} {:<9} {:>6}  versions", "subject", "mode", "latest");
            for s in r.subjects() {
                let versions: Vec<String> =
                    s.versions.iter().map(|v| v.version.to_string()).collect();
                println!(
                    "{:<28} {:<9} {:>6}  {}",
                    s.subject,
                    s.compatibility.to_string(),
                    s.latest().map_or(0, |v| v.version),
                    versions.join(",")
                );
            }
        }
        SchemaCommand::Show { subject, version } => {
            let r = load_registry()?;
            let s = r.subject(&subject).with_context(|| {
                format!("no schema subject {subject:?}; `tailor schema list` shows them")
            })?;
            let v = match version {
                Some(n) => s.versions.iter().find(|v| v.version == n),
                None => s.latest(),
            }
            .with_context(|| format!("subject {subject:?} has no version {version:?}"))?;
            println!("# {subject} v{} ({})", v.version, s.compatibility);
            println!("{}", serde_json::to_string_pretty(&v.schema)?);
        }
        SchemaCommand::Add {
            subject,
            file,
            compatibility,
            url,
        } => {
            let compatibility = compatibility.map(Compatibility::from);
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let schema: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let base = match url {
                Some(u) => {
                    let parsed = reqwest::Url::parse(&u)
                        .with_context(|| format!("--url: {u:?} is not a URL"))?;
                    Some(parsed.as_str().trim_end_matches('/').to_owned())
                }
                None if server_running(&cfg.data_dir) => Some(format!("http://{}", cfg.listen)),
                None => None,
            };
            if let Some(base) = base {
                let url = format!(
                    "{base}/v1/schemas/{}",
                    subject
                        .replace('%', "%25")
                        .replace(' ', "%20")
                        .replace('/', "%2F")
                        .replace('?', "%3F")
                        .replace('#', "%23")
                );
                let mut body = serde_json::json!({"schema": schema});
                if let Some(c) = compatibility {
                    body["compatibility"] = Value::String(c.to_string());
                }
                let mut req = reqwest::Client::new().post(&url).json(&body);
                if let Some(key) = std::env::var("TAILOR_API_KEY")
                    .or_else(|_| std::env::var("TAILOR_SECRET_KEY"))
                    .or_else(|_| std::env::var("TAILOR_ADMIN_KEY"))
                    .ok()
                    .or(cfg
                        .collector
                        .secret_keys
                        .iter()
                        .find(|k| !k.starts_with("sha256:"))
                        .cloned())
                {
                    req = req.bearer_auth(key);
                }
                let resp = req.send().await.with_context(|| {
                    format!(
                        "could not reach the server at {url}; if it listens elsewhere, pass \
                         --url http://HOST:PORT"
                    )
                })?;
                let status = resp.status();
                let answer: Value = resp.json().await.unwrap_or(Value::Null);
                if !status.is_success() {
                    bail!(
                        "{}",
                        answer["message"]
                            .as_str()
                            .unwrap_or("the server refused the schema")
                    );
                }
                println!(
                    "registered {subject} v{} (through the running server)",
                    answer["version"]
                );
            } else {
                std::fs::create_dir_all(&cfg.data_dir)?;
                let mut r = load_registry()?;
                let v = r.add(&subject, schema, compatibility)?;
                registry_store::save(&path, &r)?;
                println!("registered {subject} v{v}");
            }
        }
    }
    Ok(())
}
