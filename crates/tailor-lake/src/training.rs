//! Training data: a label file (one row per example: an entity id, a timestamp, any other
//! columns) joined with the declared features' values as of each row's timestamp, computed
//! point-in-time from the lake by the stream engine itself
//! (`tailor_features::engine::offline`), written as Parquet.
//!
//! Labels are CSV (with a header) or Parquet, by file extension. The timestamp column may
//! be a Parquet timestamp, epoch milliseconds (integers) or RFC 3339 text. Output: the
//! label columns unchanged, then one column per feature of the entity kind, typed by its
//! values (integers Int64; other numbers Float64; text Utf8; last-N lists List<Utf8>;
//! group-by maps JSON text), null where the entity had no event before the timestamp.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, Float64Builder, Int64Builder, ListBuilder,
    RecordBatch, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit, TimestampMillisecondType};
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionContext};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tailor_features::{FeatureRow, FeatureValue};

use crate::warehouse::query_error;
use crate::{Error, Result};

/// A label file read into memory.
#[derive(Debug)]
pub struct Labels {
    /// All label rows, columns as in the file.
    pub batch: RecordBatch,
    /// Per row: the entity id and the time (epoch ms) the features must be as of.
    pub keys: Vec<(String, i64)>,
}

/// Reads `path` (CSV with a header, or Parquet) and finds the id and time columns.
pub async fn read_labels(path: &Path, id_col: &str, time_col: &str) -> Result<Labels> {
    let name = path.display().to_string();
    if !path.is_file() {
        return Err(Error::Input(format!("labels file {name} does not exist")));
    }
    let ctx = SessionContext::new();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let df = match ext.to_ascii_lowercase().as_str() {
        "parquet" => ctx.read_parquet(&name, ParquetReadOptions::default()).await,
        "csv" => {
            ctx.read_csv(&name, CsvReadOptions::new().has_header(true))
                .await
        }
        other => {
            return Err(Error::Input(format!(
            "labels file {name}: unknown extension {other:?}; use .csv (with a header) or .parquet"
        )))
        }
    }
    .map_err(|e| Error::Input(format!("labels file {name}: {}", e.strip_backtrace())))?;
    let batches = df.collect().await.map_err(query_error)?;
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => return Err(Error::Input(format!("labels file {name} has no rows"))),
    };
    let batch = arrow::compute::concat_batches(&schema, &batches)
        .map_err(|e| Error::arrow("joining label batches", e))?;
    let find = |col: &str, flag: &str| {
        schema.index_of(col).map_err(|_| {
            let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            Error::Input(format!(
                "labels file {name} has no column {col:?} (choose it with {flag}); columns: {}",
                have.join(", ")
            ))
        })
    };
    let (id_i, time_i) = (find(id_col, "--id-col")?, find(time_col, "--time-col")?);
    let ids = arrow::compute::cast(batch.column(id_i), &DataType::Utf8)
        .map_err(|e| Error::Input(format!("labels file {name}: column {id_col:?}: {e}")))?;
    let ids = ids.as_string::<i32>();
    let times = times_ms(batch.column(time_i))
        .map_err(|why| Error::Input(format!("labels file {name}: column {time_col:?}: {why}")))?;
    let mut keys = Vec::with_capacity(batch.num_rows());
    for (r, t) in times.into_iter().enumerate() {
        let line = r + 2;
        if ids.is_null(r) || ids.value(r).is_empty() {
            return Err(Error::Input(format!(
                "labels file {name}, row {line}: {id_col:?} is empty"
            )));
        }
        let Some(t) = t else {
            return Err(Error::Input(format!(
                "labels file {name}, row {line}: {time_col:?} is empty or not a time (RFC 3339 text, epoch milliseconds or a timestamp)"
            )));
        };
        keys.push((ids.value(r).to_owned(), t));
    }
    Ok(Labels { batch, keys })
}

/// Epoch milliseconds of a timestamp, integer or RFC 3339 column (`None`: empty or bad).
fn times_ms(col: &ArrayRef) -> std::result::Result<Vec<Option<i64>>, String> {
    let rows = 0..col.len();
    match col.data_type() {
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => {
            let ms = arrow::compute::cast(col, &DataType::Timestamp(TimeUnit::Millisecond, None))
                .map_err(|e| e.to_string())?;
            let ms = ms.as_primitive::<TimestampMillisecondType>();
            Ok(rows
                .map(|r| (!ms.is_null(r)).then(|| ms.value(r)))
                .collect())
        }
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => {
            let v = arrow::compute::cast(col, &DataType::Int64).map_err(|e| e.to_string())?;
            let v = v.as_primitive::<arrow::datatypes::Int64Type>();
            Ok(rows.map(|r| (!v.is_null(r)).then(|| v.value(r))).collect())
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let v = arrow::compute::cast(col, &DataType::Utf8).map_err(|e| e.to_string())?;
            let v = v.as_string::<i32>();
            Ok(rows
                .map(|r| {
                    (!v.is_null(r))
                        .then(|| chrono::DateTime::parse_from_rfc3339(v.value(r).trim()).ok())
                        .flatten()
                        .map(|t| t.timestamp_millis())
                })
                .collect())
        }
        other => Err(format!(
            "type {other} is not a time; use RFC 3339 text, epoch milliseconds or a timestamp"
        )),
    }
}

/// The label columns followed by one column per feature (`names`, in order) built from
/// `rows` (one per label row, `None` where the entity had no event yet).
pub fn training_batch(
    labels: &RecordBatch,
    names: &[String],
    rows: &[Option<FeatureRow>],
) -> Result<RecordBatch> {
    let mut fields: Vec<Arc<Field>> = labels.schema().fields().iter().cloned().collect();
    let mut columns: Vec<ArrayRef> = labels.columns().to_vec();
    for name in names {
        if fields.iter().any(|f| f.name() == name) {
            return Err(Error::Input(format!(
                "labels already have a column {name:?}, the name of a feature; rename it"
            )));
        }
        let values: Vec<Option<&FeatureValue>> = rows
            .iter()
            .map(|r| r.as_ref().and_then(|r| r.get(name)))
            .collect();
        let array = feature_column(&values);
        fields.push(Arc::new(Field::new(name, array.data_type().clone(), true)));
        columns.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| Error::arrow("building the training set", e))
}

/// One feature's column, typed by its values.
fn feature_column(values: &[Option<&FeatureValue>]) -> ArrayRef {
    let present = || {
        values
            .iter()
            .copied()
            .flatten()
            .filter(|v| !matches!(v, FeatureValue::Null))
    };
    let all = |f: fn(&FeatureValue) -> bool| present().all(f);
    if present().next().is_none() {
        return new_null_array(&DataType::Float64, values.len());
    }
    if all(|v| matches!(v, FeatureValue::Int(_))) {
        let mut b = Int64Builder::with_capacity(values.len());
        for v in values {
            b.append_option(match v {
                Some(FeatureValue::Int(i)) => Some(*i),
                _ => None,
            });
        }
        return Arc::new(b.finish());
    }
    if all(|v| matches!(v, FeatureValue::Int(_) | FeatureValue::Float(_))) {
        let mut b = Float64Builder::with_capacity(values.len());
        for v in values {
            b.append_option(v.and_then(FeatureValue::as_f64));
        }
        return Arc::new(b.finish());
    }
    if all(|v| matches!(v, FeatureValue::List(_))) {
        let mut b = ListBuilder::new(StringBuilder::new());
        for v in values {
            match v {
                Some(FeatureValue::List(items)) => {
                    for item in items {
                        match item {
                            FeatureValue::Str(s) => b.values().append_value(s),
                            FeatureValue::Null => b.values().append_null(),
                            other => b.values().append_value(other.to_json().to_string()),
                        }
                    }
                    b.append(true);
                }
                _ => b.append(false),
            }
        }
        return Arc::new(b.finish());
    }
    // Text, maps and anything mixed: text (JSON for non-strings).
    let mut b = StringBuilder::new();
    for v in values {
        match v {
            None | Some(FeatureValue::Null) => b.append_null(),
            Some(FeatureValue::Str(s)) => b.append_value(s),
            Some(other) => b.append_value(other.to_json().to_string()),
        }
    }
    Arc::new(b.finish())
}

/// Writes `batch` to `path` as one zstd Parquet file (through a temporary file renamed into
/// place, so a crash never leaves half a file under the name).
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    let name = path.display().to_string();
    let tmp = path.with_extension("parquet.tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| Error::io(format!("creating {name}"), e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props))
        .map_err(|e| Error::parquet(format!("writing {name}"), e))?;
    w.write(batch)
        .map_err(|e| Error::parquet(format!("writing {name}"), e))?;
    w.close()
        .map_err(|e| Error::parquet(format!("writing {name}"), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("renaming into {name}"), e))?;
    Ok(())
}
