//! Layered configuration: embedded defaults → `tailor.toml` (or `--config FILE`) →
//! `TAILOR__SECTION__KEY=value` environment variables → command-line flags.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use tailor_server::Config;
use toml::Value;

/// Options every command that touches stored data takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DataArgs {
    /// Configuration file (default: ./tailor.toml when it exists).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory (overrides `data_dir`).
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Table(b), Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// A scalar from an environment variable: TOML syntax when it parses (`true`, `4`,
/// `["a", "b"]`), else the literal string.
fn env_value(raw: &str) -> Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_owned()))
}

/// The configuration file read: `--config`, else `./tailor.toml` when it exists.
pub fn file(args: &DataArgs) -> Option<PathBuf> {
    match &args.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from("tailor.toml")).filter(|p| p.exists()),
    }
}

/// Loads the layered configuration from `vars` (the process environment in practice).
pub fn load_with(
    args: &DataArgs,
    listen: Option<&str>,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Config> {
    let mut value = Value::try_from(Config::default()).context("embedding default config")?;
    if let Some(path) = &file(args) {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        // Parse into the typed config first: errors then name the line and field.
        toml::from_str::<Config>(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let table: Value =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        merge(&mut value, table);
    }
    for (k, v) in vars {
        let Some(rest) = k.strip_prefix("TAILOR__") else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if path.iter().any(String::is_empty) {
            bail!("environment variable {k}: empty path segment");
        }
        let mut over = env_value(&v);
        for seg in path.iter().rev() {
            let mut t = toml::Table::new();
            t.insert(seg.clone(), over);
            over = Value::Table(t);
        }
        merge(&mut value, over);
    }
    let mut cfg: Config = value
        .try_into()
        .map_err(|e| anyhow::anyhow!("invalid configuration (from TAILOR__* environment?): {e}"))?;
    if let Some(dir) = &args.data_dir {
        cfg.data_dir = dir.clone();
    }
    if let Some(listen) = listen {
        cfg.listen = listen.to_owned();
    }
    cfg.validate()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    Ok(cfg)
}

pub fn load(args: &DataArgs, listen: Option<&str>) -> Result<Config> {
    load_with(args, listen, std::env::vars())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn layers_defaults_file_env_flags() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("tailor.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[log]\npartitions = 8\n[live]\nsession_items = 7\n",
        )
        .expect("write");
        let args = DataArgs {
            config: Some(file.clone()),
            data_dir: None,
        };
        let cfg = load_with(
            &args,
            None,
            vars(&[("TAILOR__LOG__PARTITIONS", "2"), ("OTHER", "x")]),
        )
        .expect("cfg");
        assert_eq!(cfg.listen, "127.0.0.1:9000");
        assert_eq!(cfg.log.partitions, 2, "env beats file");
        assert_eq!(cfg.live.session_items, 7);
        assert_eq!(cfg.live.max_neighbours, 200, "default kept");
        let args = DataArgs {
            config: Some(file),
            data_dir: Some("/tmp/x".into()),
        };
        let cfg = load_with(
            &args,
            Some("127.0.0.1:1"),
            vars(&[("TAILOR__COLLECTOR__WRITE_KEYS", "[\"a\"]")]),
        )
        .expect("cfg");
        assert_eq!(cfg.listen, "127.0.0.1:1");
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(cfg.collector.write_keys, vec!["a".to_owned()]);
    }

    #[test]
    fn bad_values_name_the_field() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[log]\npartitons = 3\n").expect("write");
        let args = DataArgs {
            config: Some(file.clone()),
            data_dir: None,
        };
        let e = load_with(&args, None, vars(&[]))
            .expect_err("typo")
            .to_string();
        assert!(e.contains("partitons") && e.contains("line 2"), "{e}");
        std::fs::write(&file, "[log]\npartitions = \"many\"\n").expect("write");
        let e = load_with(&args, None, vars(&[]))
            .expect_err("type")
            .to_string();
        assert!(e.contains("partitions"), "{e}");
        // A public address without keys is refused at start, with the key file in view
        // (tailor-server's tests/it/keys.rs); bad key syntax already here.
        let e = load_with(
            &DataArgs::default(),
            None,
            vars(&[("TAILOR__COLLECTOR__SECRET_KEYS", "[\"sha256:nothex\"]")]),
        )
        .expect_err("bad hash")
        .to_string();
        assert!(e.contains("collector.secret_keys[0]"), "{e}");
        let e = load_with(
            &DataArgs::default(),
            None,
            vars(&[("TAILOR__LOG__NOPE", "1")]),
        )
        .expect_err("env")
        .to_string();
        assert!(e.contains("nope"), "{e}");
    }

    #[test]
    fn a_configured_blend_is_parsed_and_checked() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("tailor.toml");
        let args = DataArgs {
            config: Some(file.clone()),
            data_dir: None,
        };
        std::fs::write(
            &file,
            "[models.blend]\nname = \"mine\"\ncandidates = 50\nnormalization = \"rank\"\n\
             parts = [[{ model = \"item_knn\" }, 1.0], [{ model = \"trending\", half_life_hours = 6.0 }, 0.2]]\n",
        )
        .expect("write");
        let cfg = load_with(&args, None, vars(&[])).expect("valid blend");
        let b = cfg.models.blend_params();
        assert_eq!(
            (b.name.as_str(), b.parts.len(), b.candidates),
            ("mine", 2, 50)
        );
        std::fs::write(
            &file,
            "[models.blend]\nname = \"x\"\ncandidates = 5\nnormalization = \"max\"\n\
             parts = [[{ model = \"als\" }, -1.0]]\n",
        )
        .expect("write");
        let e = load_with(&args, None, vars(&[]))
            .expect_err("negative weight")
            .to_string();
        assert!(e.contains("models.blend.parts[0]"), "{e}");
    }
}

#[cfg(test)]
mod reference {
    use toml::Value;

    /// The (key, default cell) rows of every table in docs/configuration.md.
    fn documented() -> Vec<(String, String)> {
        let page = include_str!("../../../docs/configuration.md");
        page.lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("| `")?;
                let (key, rest) = rest.split_once("` | ")?;
                let (default, _) = rest.split_once(" | ")?;
                Some((key.to_owned(), default.to_owned()))
            })
            .collect()
    }

    /// Every leaf of a TOML value as a dotted path (an empty table is a leaf).
    fn leaves(value: &Value, path: &str, out: &mut Vec<String>) {
        match value {
            Value::Table(t) if !t.is_empty() => {
                for (k, v) in t {
                    let child = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    leaves(v, &child, out);
                }
            }
            _ => out.push(path.to_owned()),
        }
    }

    fn insert(table: &mut toml::Table, path: &str, value: Value) {
        match path.split_once('.') {
            None => {
                table.insert(path.to_owned(), value);
            }
            Some((head, rest)) => {
                let child = table
                    .entry(head.to_owned())
                    .or_insert_with(|| Value::Table(toml::Table::new()));
                if let Value::Table(t) = child {
                    insert(t, rest, value);
                }
            }
        }
    }

    /// docs/configuration.md lists every key with its real default, and only real keys.
    #[test]
    fn the_reference_lists_every_key_with_its_default() {
        let rows = documented();
        assert!(rows.len() > 80, "only {} rows found", rows.len());
        let mut table = toml::Table::new();
        for (key, default) in &rows {
            if default == "unset" {
                // A real key: setting it fails on its type or value, never as unknown.
                let mut probe = toml::Table::new();
                insert(&mut probe, key, Value::Integer(1));
                let e = Value::Table(probe)
                    .try_into::<tailor_server::Config>()
                    .map(|_| String::new())
                    .unwrap_or_else(|e| e.to_string());
                assert!(!e.contains("unknown field"), "{key}: {e}");
                continue;
            }
            let literal = default
                .strip_prefix('`')
                .and_then(|d| d.strip_suffix('`'))
                .unwrap_or_else(|| panic!("{key}: default {default} is not `TOML`"));
            let parsed: toml::Table = toml::from_str(&format!("v = {literal}"))
                .unwrap_or_else(|e| panic!("{key}: default {literal}: {e}"));
            insert(&mut table, key, parsed["v"].clone());
        }
        let documented: tailor_server::Config = Value::Table(table)
            .try_into()
            .expect("documented defaults form a configuration");
        assert_eq!(documented, tailor_server::Config::default());
        let mut keys = Vec::new();
        leaves(
            &Value::try_from(tailor_server::Config::default()).expect("defaults"),
            "",
            &mut keys,
        );
        for key in keys {
            assert!(
                // An empty table (`tls`, all of whose keys are unset) is covered by its keys.
                rows.iter()
                    .any(|(k, _)| *k == key || k.starts_with(&format!("{key}."))),
                "docs/configuration.md does not list `{key}`"
            );
        }
    }

    /// tailor.example.toml is a valid configuration whose values are the defaults it claims.
    #[test]
    fn the_example_file_is_valid_and_true() {
        let text = include_str!("../../../tailor.example.toml");
        let cfg: tailor_server::Config = toml::from_str(text).expect("tailor.example.toml parses");
        assert_eq!(cfg, tailor_server::Config::default());
        cfg.validate().expect("valid");
    }
}
