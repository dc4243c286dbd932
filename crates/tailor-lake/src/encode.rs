//! Parquet encoding of lake files: zstd, statistics for pruning, no dictionary on the
//! columns that are mostly unique (ids, JSON text).

use arrow::array::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::schema::{JSON_COLUMNS, PLAIN_COLUMNS};
use crate::{Error, Result};

/// Rows per row group of lake files.
pub const ROW_GROUP_ROWS: usize = 256 * 1024;

/// Writer settings of every lake file.
pub fn writer_properties() -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("tailor-lake {}", env!("CARGO_PKG_VERSION")));
    for c in PLAIN_COLUMNS {
        b = b.set_column_dictionary_enabled(ColumnPath::from(c), false);
    }
    // Min/max of JSON text prunes nothing and costs comparisons of long strings.
    for c in JSON_COLUMNS {
        b = b.set_column_statistics_enabled(ColumnPath::from(c), EnabledStatistics::None);
    }
    b.build()
}

/// Encodes one batch as a complete Parquet file in memory.
pub fn encode(batch: &RecordBatch) -> Result<Bytes> {
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() / 4 + 1024);
    let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(writer_properties()))
        .map_err(|e| Error::parquet("starting a parquet file", e))?;
    w.write(batch)
        .map_err(|e| Error::parquet("encoding a parquet file", e))?;
    w.close()
        .map_err(|e| Error::parquet("finishing a parquet file", e))?;
    Ok(Bytes::from(buf))
}
