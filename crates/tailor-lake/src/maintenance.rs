//! Compaction, retention and the deletion of replaced files.
//!
//! Both compaction and retention change the file set of the manifest and nothing else, so
//! they commit like a flush: the new manifest version is the switch. Readers that loaded the
//! previous version may still be reading the replaced files, so those are only recorded as
//! removed and deleted `gc_grace_secs` later.

use std::collections::{BTreeMap, HashSet};

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::arrow::{AsyncArrowWriter, ParquetRecordBatchStreamBuilder};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::layout::{compacted_file, day_of, HivePartition, Table};
use crate::manifest::{self, DataFile, RemovedFile};
use crate::metrics as m;
use crate::schema::file_schema;
use crate::sink::LakeSink;
use crate::{Error, Result};

/// Largest row group a compaction buffers before writing it out.
const COMPACT_ROW_GROUP_BYTES: usize = 128 * 1024 * 1024;

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactStats {
    /// Hive partitions compacted.
    pub partitions: u64,
    /// Files merged away.
    pub files_in: u64,
    /// Files written.
    pub files_out: u64,
    /// Rows rewritten.
    pub rows: u64,
}

/// What retention did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionStats {
    /// Hive partitions dropped.
    pub partitions: u64,
    /// Files removed from the tables.
    pub files: u64,
    /// Rows removed from the tables.
    pub rows: u64,
}

type GroupKey = (Table, String, Option<u8>);

/// Reads a Parquet file of known size from the object store.
pub(crate) struct StoreReader {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) path: Path,
    pub(crate) size: u64,
}

impl AsyncFileReader for StoreReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let m = ParquetMetaDataReader::new()
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(m))
        }
        .boxed()
    }
}

impl LakeSink {
    /// Merges the files of every hive partition that has at least `compact_min_files` (at
    /// least 2) into one file, then commits the switch. Safe to run while the sink runs.
    pub async fn compact(&self) -> Result<CompactStats> {
        self.compact_closed_before(i64::MAX).await
    }

    /// [`Self::compact`] limited to hive partitions whose time span ended before `cutoff_ms`
    /// (the running sink leaves the partitions it is still writing alone, so a busy hour is
    /// merged once rather than after every few flushes).
    pub async fn compact_closed_before(&self, cutoff_ms: i64) -> Result<CompactStats> {
        let _one_at_a_time = self.compaction.lock().await;
        let min_files = self.config.compact_min_files.max(2);
        let (snapshot, base) = {
            let st = self.state.lock().await;
            (st.manifest.files.clone(), st.manifest.version)
        };
        let mut groups: BTreeMap<GroupKey, Vec<DataFile>> = BTreeMap::new();
        for f in snapshot {
            groups
                .entry((f.table, f.dt.clone(), f.hour))
                .or_default()
                .push(f);
        }
        let mut merged: Vec<(Vec<DataFile>, DataFile)> = Vec::new();
        for ((table, dt, hour), files) in groups {
            if files.len() < min_files {
                continue;
            }
            let part = HivePartition::parse(&dt, hour).ok_or_else(|| Error::Manifest {
                path: files[0].path.clone(),
                reason: format!("bad partition dt={dt} hour={hour:?}"),
            })?;
            if part.end_ms() > cutoff_ms {
                continue;
            }
            let out = compacted_file(table, part, base, merged.len());
            let output = self.merge(table, &files, &out, &dt, hour).await?;
            merged.push((files, output));
        }
        if merged.is_empty() {
            self.gc((self.clock)()).await;
            return Ok(CompactStats::default());
        }

        let now = (self.clock)();
        let mut stats = CompactStats::default();
        let mut st = self.state.lock().await;
        let live: HashSet<String> = st.manifest.files.iter().map(|f| f.path.clone()).collect();
        let mut next = st.manifest.clone();
        let mut orphans = Vec::new();
        for (inputs, output) in merged {
            // Retention may have dropped inputs meanwhile: then this merge is void.
            if !inputs.iter().all(|f| live.contains(&f.path)) {
                orphans.push(output.path);
                continue;
            }
            let gone: HashSet<&str> = inputs.iter().map(|f| f.path.as_str()).collect();
            next.files.retain(|f| !gone.contains(f.path.as_str()));
            next.removed.extend(inputs.iter().map(|f| RemovedFile {
                path: f.path.clone(),
                removed_at_ms: now,
            }));
            metrics::counter!(m::COMPACTED_FILES_TOTAL, "table" => output.table.name())
                .increment(inputs.len() as u64);
            stats.partitions += 1;
            stats.files_in += inputs.len() as u64;
            stats.files_out += 1;
            stats.rows += output.rows;
            next.files.push(output);
        }
        if stats.partitions > 0 {
            tailor_log::failpoint::hit("lake.compaction.before_commit");
            next.committed_at_ms = now;
            let version = st.next_version;
            manifest::commit(&self.lake, &mut next, version).await?;
            st.manifest = next;
            st.next_version = version + 1;
            metrics::counter!(m::COMMITS_TOTAL).increment(1);
        }
        drop(st);
        for path in orphans {
            self.lake.delete(&Path::from(path)).await?;
        }
        self.gc(now).await;
        tracing::info!(
            partitions = stats.partitions,
            files_in = stats.files_in,
            rows = stats.rows,
            "lake compaction committed"
        );
        Ok(stats)
    }

    /// Streams `inputs` into one new file at `out`, checking that every row arrived.
    async fn merge(
        &self,
        table: Table,
        inputs: &[DataFile],
        out: &Path,
        dt: &str,
        hour: Option<u8>,
    ) -> Result<DataFile> {
        let store = self.lake.store().clone();
        let props = crate::encode::writer_properties()
            .into_builder()
            .set_max_row_group_bytes(Some(COMPACT_ROW_GROUP_BYTES))
            .build();
        let sink = BufWriter::new(store.clone(), out.clone());
        let mut w = AsyncArrowWriter::try_new(sink, file_schema(table), Some(props))
            .map_err(|e| Error::parquet(format!("starting {out}"), e))?;
        let mut rows = 0u64;
        for f in inputs {
            let path = Path::from(f.path.as_str());
            let reader = StoreReader {
                store: store.clone(),
                path,
                size: f.bytes,
            };
            let mut stream = ParquetRecordBatchStreamBuilder::new(reader)
                .await
                .and_then(|b| b.with_batch_size(8192).build())
                .map_err(|e| Error::parquet(format!("reading {}", f.path), e))?;
            while let Some(batch) = stream
                .try_next()
                .await
                .map_err(|e| Error::parquet(format!("reading {}", f.path), e))?
            {
                rows += batch.num_rows() as u64;
                w.write(&batch)
                    .await
                    .map_err(|e| Error::parquet(format!("writing {out}"), e))?;
            }
        }
        w.close()
            .await
            .map_err(|e| Error::parquet(format!("finishing {out}"), e))?;
        let expected: u64 = inputs.iter().map(|f| f.rows).sum();
        if rows != expected {
            return Err(Error::Manifest {
                path: out.to_string(),
                reason: format!("compaction read {rows} rows where the manifest lists {expected}; the lake's files do not match its manifest"),
            });
        }
        self.lake.sync(out).await?;
        let size = store
            .head(out)
            .await
            .map_err(|e| Error::store(format!("reading the size of {out}"), e))?
            .size;
        Ok(DataFile {
            table,
            path: out.to_string(),
            dt: dt.to_owned(),
            hour,
            rows,
            bytes: size,
            min_time_ms: inputs.iter().map(|f| f.min_time_ms).min().unwrap_or(0),
            max_time_ms: inputs.iter().map(|f| f.max_time_ms).max().unwrap_or(0),
        })
    }

    /// Drops the hive partitions whose day is before `day(now) − retention_days` (all tables)
    /// and commits; no-op when `retention_days` is 0.
    pub async fn apply_retention(&self, now_ms: i64) -> Result<RetentionStats> {
        let mut stats = RetentionStats::default();
        if self.config.retention_days == 0 {
            return Ok(stats);
        }
        let cutoff = day_of(now_ms) - i64::from(self.config.retention_days);
        let mut st = self.state.lock().await;
        let mut next = st.manifest.clone();
        let mut dropped: HashSet<GroupKey> = HashSet::new();
        let mut removed = Vec::new();
        next.files.retain(|f| {
            let old =
                HivePartition::parse(&f.dt, f.hour).is_some_and(|p| i64::from(p.day) < cutoff);
            if old {
                dropped.insert((f.table, f.dt.clone(), f.hour));
                removed.push(RemovedFile {
                    path: f.path.clone(),
                    removed_at_ms: now_ms,
                });
                stats.files += 1;
                stats.rows += f.rows;
            }
            !old
        });
        if !removed.is_empty() {
            next.removed.extend(removed);
            next.committed_at_ms = now_ms;
            let version = st.next_version;
            manifest::commit(&self.lake, &mut next, version).await?;
            st.manifest = next;
            st.next_version = version + 1;
            metrics::counter!(m::COMMITS_TOTAL).increment(1);
            stats.partitions = dropped.len() as u64;
            for (table, _, _) in &dropped {
                metrics::counter!(m::RETENTION_PARTITIONS_DROPPED_TOTAL, "table" => table.name())
                    .increment(1);
            }
            tracing::info!(
                partitions = stats.partitions,
                rows = stats.rows,
                "lake retention dropped old partitions"
            );
        }
        drop(st);
        self.gc(now_ms).await;
        Ok(stats)
    }

    /// Deletes replaced files whose grace period is over (best effort; the list shrinks in
    /// the next committed manifest).
    pub(crate) async fn gc(&self, now_ms: i64) {
        let grace_ms = (self.config.gc_grace_secs as i64).saturating_mul(1000);
        let mut st = self.state.lock().await;
        let mut kept = Vec::new();
        for r in std::mem::take(&mut st.manifest.removed) {
            if r.removed_at_ms.saturating_add(grace_ms) > now_ms {
                kept.push(r);
                continue;
            }
            if let Err(e) = self.lake.delete(&Path::from(r.path.as_str())).await {
                tracing::warn!(error = %e, "could not delete a replaced lake file; will retry");
                kept.push(r);
            }
        }
        st.manifest.removed = kept;
    }
}
