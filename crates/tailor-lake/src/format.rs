//! Query results as text: an aligned table, CSV (with a header) or a JSON array of objects.

use std::str::FromStr;

use arrow::array::RecordBatch;

use crate::{Error, Result};

/// An output format for query results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

impl FromStr for OutputFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "table" | "text" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" => Ok(OutputFormat::Json),
            other => Err(Error::Sql(format!(
                "unknown output format {other:?}: use table, csv or json"
            ))),
        }
    }
}

/// Formats `batches` as `format`.
pub fn format_batches(batches: &[RecordBatch], format: OutputFormat) -> Result<String> {
    match format {
        OutputFormat::Table => to_table(batches),
        OutputFormat::Csv => to_csv(batches),
        OutputFormat::Json => to_json(batches),
    }
}

/// An aligned text table (arrow's pretty printer).
pub fn to_table(batches: &[RecordBatch]) -> Result<String> {
    arrow::util::pretty::pretty_format_batches(batches)
        .map(|d| d.to_string())
        .map_err(|e| Error::arrow("formatting a table", e))
}

/// CSV with a header line (nothing for no batches).
pub fn to_csv(batches: &[RecordBatch]) -> Result<String> {
    let mut w = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(Vec::new());
    for b in batches {
        w.write(b).map_err(|e| Error::arrow("writing CSV", e))?;
    }
    String::from_utf8(w.into_inner()).map_err(|e| Error::Query(format!("CSV is not UTF-8: {e}")))
}

/// A JSON array of row objects (`[]` for no rows); NULLs are left out of the objects.
pub fn to_json(batches: &[RecordBatch]) -> Result<String> {
    let mut w = arrow::json::ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    w.write_batches(&refs)
        .map_err(|e| Error::arrow("writing JSON", e))?;
    w.finish().map_err(|e| Error::arrow("writing JSON", e))?;
    let out = String::from_utf8(w.into_inner())
        .map_err(|e| Error::Query(format!("JSON is not UTF-8: {e}")))?;
    Ok(if out.trim().is_empty() {
        "[]".into()
    } else {
        out
    })
}
