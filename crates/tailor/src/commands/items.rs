//! `tailor items import FILE [--format ndjson|csv]`: loads catalog items into the data
//! directory's log (the `catalog` topic a server replays on start), checked as
//! `POST /v1/items` checks them. Stop the server first: the log has one writer.
//!
//! NDJSON: one item object per line (`id`, `title`, `categories`, `price`, `available`,
//! `properties`, `created_at`). CSV: a header row; the columns `id`, `title`, `categories`
//! (`|`-separated), `price`, `available` (true/false) and `created_at` fill those fields,
//! any other column becomes a string property.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value};
use tailor_log::Log;
use tailor_server::catalog::{Catalog, Item, ItemInput, MAX_BATCH};

use crate::commands::import::fields::split_fields;
use crate::config::{load, DataArgs};

pub const EXAMPLES: &str = "Examples:
  tailor items import products.ndjson
  tailor items import products.csv
  tailor items import catalog.txt --format csv --data-dir /var/lib/tailor";

/// Catalog file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ItemFormat {
    /// One item object per line.
    Ndjson,
    /// A header row naming the columns; one item per row.
    Csv,
}

#[derive(Debug, clap::Subcommand)]
pub enum ItemsCommand {
    /// Load items from a file into the catalog (all lines checked before any is stored).
    Import {
        /// The file of items.
        file: PathBuf,
        /// File format (default: from the extension, .csv → csv, else ndjson).
        #[arg(long, value_enum)]
        format: Option<ItemFormat>,
    },
}

/// One CSV row as an item (fields named by the header).
fn csv_item(header: &[String], fields: Vec<String>) -> Result<ItemInput, String> {
    if fields.len() != header.len() {
        return Err(format!(
            "{} fields, the header has {}",
            fields.len(),
            header.len()
        ));
    }
    let mut obj = Map::new();
    let mut props = Map::new();
    for (name, v) in header.iter().zip(fields) {
        if v.is_empty() {
            continue;
        }
        let value = match name.as_str() {
            "id" | "title" | "created_at" => Value::String(v),
            "categories" => Value::Array(
                v.split('|')
                    .map(|c| Value::String(c.trim().to_owned()))
                    .collect(),
            ),
            "price" => {
                let p: f64 = v
                    .parse()
                    .map_err(|_| format!("price: {v:?} is not a number"))?;
                serde_json::Number::from_f64(p)
                    .map(Value::Number)
                    .ok_or_else(|| format!("price: {v:?} is not a finite number"))?
            }
            "available" => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Value::Bool(true),
                "false" | "0" | "no" => Value::Bool(false),
                _ => return Err(format!("available: {v:?} is not true or false")),
            },
            other => {
                props.insert(other.to_owned(), Value::String(v));
                continue;
            }
        };
        obj.insert(name.clone(), value);
    }
    obj.insert("properties".into(), Value::Object(props));
    serde_json::from_value(Value::Object(obj)).map_err(|e| e.to_string())
}

fn read_items(file: &PathBuf, format: ItemFormat) -> Result<Vec<Item>> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut items = Vec::new();
    let mut header: Option<Vec<String>> = None;
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let n = i + 1;
        let line = line.with_context(|| format!("{}:{n}: cannot read the line", file.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let input = match format {
            ItemFormat::Ndjson => {
                serde_json::from_str::<ItemInput>(&line).map_err(|e| e.to_string())
            }
            ItemFormat::Csv => {
                let fields = split_fields(&line, ',')
                    .map_err(|e| anyhow::anyhow!("{}:{n}: {e}", file.display()))?;
                match &header {
                    None => {
                        if !fields.iter().any(|f| f == "id") {
                            bail!("{}:{n}: the header row has no id column", file.display());
                        }
                        header = Some(fields);
                        continue;
                    }
                    Some(h) => csv_item(h, fields),
                }
            }
        };
        let item = input
            .and_then(|it| it.into_item(None, ""))
            .map_err(|e| anyhow::anyhow!("{}:{n}: {e}; nothing was imported", file.display()))?;
        items.push(item);
    }
    Ok(items)
}

pub async fn run(cmd: ItemsCommand, data: &DataArgs) -> Result<()> {
    let ItemsCommand::Import { file, format } = cmd;
    let format = format.unwrap_or(if file.extension().is_some_and(|e| e == "csv") {
        ItemFormat::Csv
    } else {
        ItemFormat::Ndjson
    });
    let items = read_items(&file, format)?;
    if items.is_empty() {
        bail!("{}: no items", file.display());
    }
    let cfg = load(data, None)?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
    let log = tailor_server::open_log(&cfg).with_context(|| {
        format!(
            "opening the log in {} (stop a running server first: the log has one writer)",
            cfg.data_dir.display()
        )
    })?;
    let dyn_log: Arc<dyn Log> = log.clone();
    let catalog = Catalog::open(dyn_log)?;
    let pb = ProgressBar::new(items.len() as u64);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} importing items [{bar:30}] {pos}/{len} [{elapsed}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let total = items.len();
    let mut items = items;
    while !items.is_empty() {
        let rest = items.split_off(items.len().min(MAX_BATCH));
        let n = items.len() as u64;
        catalog.put(items).await?;
        pb.inc(n);
        items = rest;
    }
    pb.finish_and_clear();
    log.close()?;
    println!(
        "imported {total} items from {} into {} (catalog: {} items)",
        file.display(),
        cfg.data_dir.display(),
        catalog.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_ndjson_lines_become_items_and_errors_name_the_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let csv = dir.path().join("items.csv");
        std::fs::write(
            &csv,
            "id,title,categories,price,available,brand\nP1,Runner,shoes|sale,59.5,true,Acme\nP2,,hats,,false,\n",
        )
        .expect("write");
        let items = read_items(&csv, ItemFormat::Csv).expect("csv");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].categories, vec!["shoes", "sale"]);
        assert_eq!(items[0].price, Some(59.5));
        assert_eq!(items[0].properties["brand"], "Acme");
        assert!(!items[1].available);
        std::fs::write(&csv, "id,price\nP1,cheap\n").expect("write");
        let e = read_items(&csv, ItemFormat::Csv)
            .expect_err("bad price")
            .to_string();
        assert!(e.contains("items.csv:2") && e.contains("price"), "{e}");

        let nd = dir.path().join("items.ndjson");
        std::fs::write(
            &nd,
            "{\"id\": \"P1\", \"price\": 3}\n\n{\"id\": \"P2\", \"price\": -3}\n",
        )
        .expect("write");
        let e = read_items(&nd, ItemFormat::Ndjson)
            .expect_err("bad price")
            .to_string();
        assert!(e.contains("items.ndjson:3") && e.contains("price"), "{e}");
    }
}
