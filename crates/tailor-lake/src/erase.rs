//! Erasing a user from the lake (a GDPR erasure request).
//!
//! The sink stops writing the user's records as soon as the erasure is in the shared
//! [`ErasureList`](tailor_log::ErasureList) (they are read past). [`LakeSink::erase`] then
//! waits until every record the erasure covers has been through the sink (a flush is asked
//! for), rewrites each committed file holding the user's rows without them, commits the
//! switch like a compaction, and deletes the replaced files at once: unlike compaction, no
//! grace period keeps them for readers, since the point is that nobody can read them again.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Int32Type, Int64Type};
use futures::TryStreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::ObjectStoreExt;
use parquet::arrow::async_reader::ParquetRecordBatchStream;
use parquet::arrow::{AsyncArrowWriter, ParquetRecordBatchStreamBuilder};
use serde::Serialize;
use tailor_log::erasure::Erasure;

use crate::layout::{erased_file, HivePartition, Table, DEAD_LETTER_TOPIC, EVENTS_TOPIC};
use crate::maintenance::StoreReader;
use crate::manifest::{self, DataFile};
use crate::metrics as m;
use crate::schema::file_schema;
use crate::sink::LakeSink;
use crate::{Error, Result};

/// Longest wait for the sink to have read every record an erasure covers.
const CATCH_UP: Duration = Duration::from_secs(120);

/// What erasing one user did to the lake.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LakeErasure {
    /// `events` rows removed.
    pub event_rows: u64,
    /// `dead_letters` rows removed.
    pub dead_letter_rows: u64,
    /// Files rewritten without the rows (or dropped, when nothing else was in them).
    pub files_rewritten: u64,
    /// Replaced files deleted from storage.
    pub files_deleted: u64,
    /// The manifest version that no longer lists the user's rows (`None`: nothing to do).
    pub lake_version: Option<u64>,
}

/// Which rows of a table an erasure removes.
struct Matcher<'a> {
    id: &'a str,
    /// `id` as a JSON string, as it appears in raw payloads.
    quoted: String,
    erasure: &'a Erasure,
}

impl Matcher<'_> {
    fn before(&self, partition: i32) -> u64 {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.erasure.events_before.get(p))
            .copied()
            .unwrap_or(0)
    }

    /// `true` for the rows to keep.
    fn keep(&self, table: Table, batch: &arrow::array::RecordBatch) -> Result<BooleanArray> {
        let col = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| Error::Manifest {
                path: String::new(),
                reason: format!("a {} file has no column {name}", table.name()),
            })
        };
        let partition = col("log_partition")?.as_primitive::<Int32Type>();
        let offset = col("log_offset")?.as_primitive::<Int64Type>();
        let keep = match table {
            Table::Events => {
                let (user, anon) = (
                    col("user_id")?.as_string::<i32>(),
                    col("anonymous_id")?.as_string::<i32>(),
                );
                (0..batch.num_rows())
                    .map(|i| {
                        let actor = (user.is_valid(i) && user.value(i) == self.id)
                            || (anon.is_valid(i) && anon.value(i) == self.id);
                        let covered = (offset.value(i) as u64) < self.before(partition.value(i));
                        Some(!(actor && covered))
                    })
                    .collect()
            }
            Table::DeadLetters => {
                let topic = col("log_topic")?.as_string::<i32>();
                let raw = col("raw")?.as_string::<i32>();
                let listed: HashSet<(u32, u64)> =
                    self.erasure.dead_letters.iter().copied().collect();
                (0..batch.num_rows())
                    .map(|i| {
                        let (p, off) = (partition.value(i), offset.value(i) as u64);
                        let erased = match topic.value(i) {
                            DEAD_LETTER_TOPIC => listed.contains(&(p as u32, off)),
                            // Records of the events topic that could not be decoded.
                            EVENTS_TOPIC => {
                                off < self.before(p)
                                    && raw.is_valid(i)
                                    && raw.value(i).contains(&self.quoted)
                            }
                            _ => false,
                        };
                        Some(!erased)
                    })
                    .collect()
            }
            Table::Quality => (0..batch.num_rows()).map(|_| Some(true)).collect(),
        };
        Ok(keep)
    }
}

/// The next batch of a file being read.
async fn next_batch(
    stream: &mut ParquetRecordBatchStream<StoreReader>,
    path: &str,
) -> Result<Option<arrow::array::RecordBatch>> {
    stream
        .try_next()
        .await
        .map_err(|e| Error::parquet(format!("reading {path}"), e))
}

/// A committed file to replace: the new file (`None`: no rows left) and the rows removed.
struct Rewrite {
    input: DataFile,
    output: Option<DataFile>,
    removed: u64,
}

impl LakeSink {
    /// Removes the rows `erasure` covers for the user or anonymous id `id` from the
    /// committed files (see the module documentation). Call after the erasure is in the
    /// list given to [`LakeSink::with_erasures`]; safe while the sink runs.
    pub async fn erase(&self, id: &str, erasure: &Erasure) -> Result<LakeErasure> {
        self.wait_past(erasure).await?;
        let _one_at_a_time = self.compaction.lock().await;
        let (files, base) = {
            let st = self.state.lock().await;
            (st.manifest.files.clone(), st.manifest.version)
        };
        let matcher = Matcher {
            id,
            quoted: serde_json::to_string(id).unwrap_or_default(),
            erasure,
        };
        let mut rewrites = Vec::new();
        for f in files {
            if f.table == Table::Quality {
                continue;
            }
            if let Some(r) = self.rewrite(&matcher, f, base, rewrites.len()).await? {
                rewrites.push(r);
            }
        }
        let mut done = LakeErasure::default();
        if rewrites.is_empty() {
            return Ok(done);
        }
        let now = (self.clock)();
        let mut st = self.state.lock().await;
        let mut next = st.manifest.clone();
        let mut orphans = Vec::new();
        let mut replaced = Vec::new();
        for r in rewrites {
            // Retention may have dropped the file meanwhile: nothing left to erase there.
            let Some(at) = next.files.iter().position(|f| f.path == r.input.path) else {
                orphans.extend(r.output.map(|o| o.path));
                continue;
            };
            match r.input.table {
                Table::DeadLetters => done.dead_letter_rows += r.removed,
                _ => done.event_rows += r.removed,
            }
            done.files_rewritten += 1;
            match r.output {
                Some(out) => next.files[at] = out,
                None => {
                    next.files.remove(at);
                }
            }
            replaced.push(r.input.path);
        }
        if !replaced.is_empty() {
            next.committed_at_ms = now;
            let version = st.next_version;
            manifest::commit(&self.lake, &mut next, version).await?;
            st.manifest = next;
            st.next_version = version + 1;
            done.lake_version = Some(version);
            metrics::counter!(m::COMMITS_TOTAL).increment(1);
        }
        drop(st);
        for path in orphans.into_iter().chain(replaced) {
            match self.lake.delete(&Path::from(path.as_str())).await {
                Ok(()) => done.files_deleted += 1,
                Err(e) => {
                    // Not listed by any manifest any more: the next start deletes it as an
                    // orphan.
                    tracing::error!(error = %e, "could not delete a lake file an erasure replaced; it is deleted on the next start")
                }
            }
        }
        tracing::info!(
            erasure = %erasure.id,
            event_rows = done.event_rows,
            dead_letter_rows = done.dead_letter_rows,
            files = done.files_rewritten,
            "lake erasure committed"
        );
        Ok(done)
    }

    /// Waits until the committed manifest covers every record the erasure covers (records
    /// read before the erasure was listed may sit in the buffer), asking for a flush.
    async fn wait_past(&self, erasure: &Erasure) -> Result<()> {
        let deadline = Instant::now() + CATCH_UP;
        let mut dead_before: Vec<(u32, u64)> = erasure.dead_letters.clone();
        dead_before.iter_mut().for_each(|(_, o)| *o += 1);
        loop {
            let behind = {
                let st = self.state.lock().await;
                let m = &st.manifest;
                let events = erasure.events_before.iter().enumerate().any(|(p, before)| {
                    *before > 0 && m.offset(EVENTS_TOPIC, p as u32).unwrap_or(0) < *before
                });
                let dead = dead_before
                    .iter()
                    .any(|(p, next)| m.offset(DEAD_LETTER_TOPIC, *p).unwrap_or(0) < *next);
                events || dead
            };
            if !behind {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Behind(format!(
                    "the lake sink has not read up to erasure {} within {}s; the erasure stays recorded and is finished on the next start or request",
                    erasure.id,
                    CATCH_UP.as_secs()
                )));
            }
            self.request_flush();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Reads `f` and, if the erasure covers any of its rows, writes a copy without them.
    async fn rewrite(
        &self,
        matcher: &Matcher<'_>,
        f: DataFile,
        base: u64,
        seq: usize,
    ) -> Result<Option<Rewrite>> {
        let store = self.lake.store().clone();
        let open = || async {
            let reader = StoreReader {
                store: store.clone(),
                path: Path::from(f.path.as_str()),
                size: f.bytes,
            };
            ParquetRecordBatchStreamBuilder::new(reader)
                .await
                .and_then(|b| b.with_batch_size(8192).build())
                .map_err(|e| Error::parquet(format!("reading {}", f.path), e))
        };
        // A first pass only counts: most files hold none of the user's rows.
        let mut removed = 0u64;
        let mut stream = open().await?;
        while let Some(batch) = next_batch(&mut stream, &f.path).await? {
            let keep = matcher.keep(f.table, &batch)?;
            removed += (keep.len() - keep.true_count()) as u64;
        }
        if removed == 0 {
            return Ok(None);
        }
        let rows = f.rows.saturating_sub(removed);
        if rows == 0 {
            return Ok(Some(Rewrite {
                input: f,
                output: None,
                removed,
            }));
        }
        let part = HivePartition::parse(&f.dt, f.hour).ok_or_else(|| Error::Manifest {
            path: f.path.clone(),
            reason: format!("bad partition dt={} hour={:?}", f.dt, f.hour),
        })?;
        let out = erased_file(f.table, part, base, seq);
        let sink = BufWriter::new(store.clone(), out.clone());
        let mut w = AsyncArrowWriter::try_new(
            sink,
            file_schema(f.table),
            Some(crate::encode::writer_properties()),
        )
        .map_err(|e| Error::parquet(format!("starting {out}"), e))?;
        let mut written = 0u64;
        let mut stream = open().await?;
        while let Some(batch) = next_batch(&mut stream, &f.path).await? {
            let keep = matcher.keep(f.table, &batch)?;
            let kept = filter_record_batch(&batch, &keep)
                .map_err(|e| Error::arrow(format!("filtering {}", f.path), e))?;
            written += kept.num_rows() as u64;
            w.write(&kept)
                .await
                .map_err(|e| Error::parquet(format!("writing {out}"), e))?;
        }
        w.close()
            .await
            .map_err(|e| Error::parquet(format!("finishing {out}"), e))?;
        if written != rows {
            return Err(Error::Manifest {
                path: f.path.clone(),
                reason: format!("the erasure kept {written} of its rows where {rows} were expected; the lake's files do not match its manifest"),
            });
        }
        self.lake.sync(&out).await?;
        let size = store
            .head(&out)
            .await
            .map_err(|e| Error::store(format!("reading the size of {out}"), e))?
            .size;
        let output = DataFile {
            path: out.to_string(),
            rows,
            bytes: size,
            ..f.clone()
        };
        Ok(Some(Rewrite {
            input: f,
            output: Some(output),
            removed,
        }))
    }
}
