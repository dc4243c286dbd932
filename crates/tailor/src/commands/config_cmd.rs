//! `tailor config check|show`: the effective configuration (embedded defaults, the file,
//! `TAILOR__*` variables and flags), checked as `serve` checks it, printed with secrets masked.

use anyhow::Result;
use reqwest::Url;
use toml::Value;

use crate::config::{load, DataArgs};

pub const EXAMPLES: &str = "Examples:
  tailor config check
  tailor config check --config /etc/tailor/tailor.toml
  TAILOR__LOG__PARTITIONS=8 tailor config show
  tailor config show --defaults > tailor.toml";

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration as `tailor serve` would (file, `TAILOR__*` variables,
    /// values); exits non-zero with the field named when something is wrong.
    Check,
    /// Print the effective configuration as TOML, every key with its value (defaults
    /// included), secrets masked.
    Show {
        /// Print only the embedded defaults, ignoring the file and the environment.
        #[arg(long)]
        defaults: bool,
    },
}

pub fn run(cmd: ConfigCommand, data: &DataArgs) -> Result<()> {
    match cmd {
        ConfigCommand::Check => {
            let cfg = load(data, None)?;
            let file = crate::config::file(data).map_or_else(
                || "no file (defaults and environment)".to_owned(),
                |p| p.display().to_string(),
            );
            let env = std::env::vars()
                .filter(|(k, _)| k.starts_with("TAILOR__"))
                .count();
            println!(
                "ok: {file}, {env} TAILOR__* variable(s); data_dir {}, listen {}, roles {}, log {}, lake {}, online {}",
                cfg.data_dir.display(),
                cfg.listen,
                serde_json::to_string(&cfg.roles).unwrap_or_default(),
                mask_url(&cfg.log.url),
                mask_url(&cfg.lake.url),
                mask_url(&cfg.online),
            );
        }
        ConfigCommand::Show { defaults } => {
            let cfg = if defaults {
                tailor_server::Config::default()
            } else {
                load(data, None)?
            };
            print!("{}", show(&cfg)?);
        }
    }
    Ok(())
}

/// The configuration as TOML with every secret masked.
pub fn show(cfg: &tailor_server::Config) -> Result<String> {
    let mut value = Value::try_from(cfg)?;
    mask(&mut value, "");
    Ok(toml::to_string(&value)?)
}

const REDACTED: &str = "<redacted>";

/// Key names whose values are secrets wherever they appear (librdkafka's `sasl.password`,
/// `ssl.key.password`, `sasl.jaas.config`, the lake's `secret_access_key`, …).
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["password", "secret", "jaas", "token", "credential"]
        .iter()
        .any(|s| n.contains(s))
        && n != "secret_keys"
}

fn mask(value: &mut Value, path: &str) {
    match value {
        Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if secret_name(k) && matches!(v, Value::String(_)) {
                    *v = Value::String(REDACTED.into());
                } else {
                    mask(v, &child);
                }
            }
        }
        Value::Array(items) => {
            let keys = path == "collector.write_keys" || path == "collector.secret_keys";
            for item in items {
                match item {
                    // A key given as its hash is no secret; the key itself is.
                    Value::String(s) if keys && !s.starts_with("sha256:") => {
                        *s = REDACTED.into();
                    }
                    other => mask(other, path),
                }
            }
        }
        Value::String(s) if path == "quality.webhook_url" => *s = mask_webhook(s),
        Value::String(s) => *s = mask_url(s),
        _ => {}
    }
}

/// A URL's password masked (`redis://user:<redacted>@host`); anything else unchanged.
fn mask_url(s: &str) -> String {
    match Url::parse(s)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
    {
        Some(password) => s.replacen(&format!(":{password}@"), &format!(":{REDACTED}@"), 1),
        None => s.to_owned(),
    }
}

/// A webhook URL's path and query often are its credential (Slack, Teams): only the origin
/// is shown.
fn mask_webhook(s: &str) -> String {
    match Url::parse(s) {
        Ok(url) if url.path() != "/" || url.query().is_some() => {
            format!("{}/{REDACTED}", url.origin().ascii_serialization())
        }
        _ => mask_url(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_the_rest_is_shown() {
        let mut cfg = tailor_server::Config::default();
        cfg.collector.write_keys = vec!["wk_plain".into(), format!("sha256:{}", "a".repeat(64))];
        cfg.collector.secret_keys = vec!["sk_plain".into()];
        cfg.online = "redis://app:hunter2@127.0.0.1:6379/0?prefix=t:".into();
        cfg.lake.access_key_id = Some("AKIAEXAMPLE".into());
        cfg.lake.secret_access_key = Some("s3cr3t".into());
        cfg.log
            .kafka
            .properties
            .insert("sasl.password".into(), "kpass".into());
        cfg.log
            .kafka
            .properties
            .insert("security.protocol".into(), "SASL_SSL".into());
        cfg.quality.webhook_url = Some("https://hooks.example.com/services/T0/B0/XYZ".into());
        let text = show(&cfg).expect("show");
        for secret in ["wk_plain", "sk_plain", "hunter2", "s3cr3t", "kpass", "XYZ"] {
            assert!(!text.contains(secret), "{secret} shown:\n{text}");
        }
        for shown in [
            "sha256:aaaa",
            "AKIAEXAMPLE",
            "SASL_SSL",
            "redis://app:<redacted>@127.0.0.1:6379/0?prefix=t:",
            "https://hooks.example.com/<redacted>",
            "max_k = 200",
        ] {
            assert!(text.contains(shown), "{shown} missing:\n{text}");
        }
        // What is shown without secrets is a configuration that loads as it is.
        let plain = show(&tailor_server::Config::default()).expect("show");
        let back: tailor_server::Config = toml::from_str(&plain).expect("parses");
        assert_eq!(back, tailor_server::Config::default());
    }
}
