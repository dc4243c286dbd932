//! Writing a buffer's files and committing them with the offsets they cover.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use object_store::path::Path;

use super::buffer::{Part, Prepared};
use super::{LakeSink, SinkStats};
use crate::layout::flush_file;
use crate::manifest::{self, DataFile};
use crate::metrics as m;
use crate::quality::QualityReport;
use crate::{Error, HivePartition, Result, Table};

impl LakeSink {
    /// Writes and commits `prepared`; on failure nothing is committed and it may be retried.
    pub(crate) async fn flush(&self, prepared: &Prepared) -> Result<SinkStats> {
        let started = std::time::Instant::now();
        let mut st = self.state.lock().await;
        let version = st.next_version;
        let reports: Vec<QualityReport> = prepared
            .reports
            .iter()
            .cloned()
            .map(|mut r| {
                r.lake_version.get_or_insert(version);
                r
            })
            .collect();
        let mut parts = prepared.parts.clone();
        if let Some(p) = quality_part(&reports)? {
            parts.push(std::sync::Arc::new(p));
        }
        // Encode in parallel (one blocking task per file), then upload a few at a time.
        let encoded = futures::future::try_join_all(parts.iter().enumerate().map(|(seq, part)| {
            let part = part.clone();
            async move {
                let p = part.clone();
                let bytes = tokio::task::spawn_blocking(move || crate::encode::encode(&p.batch))
                    .await
                    .map_err(|e| Error::io("encoding a lake file", std::io::Error::other(e)))??;
                Ok::<_, Error>((
                    flush_file(part.table, part.partition, version, seq),
                    part,
                    bytes,
                ))
            }
        }))
        .await?;
        let files: Vec<DataFile> = futures::stream::iter(encoded)
            .map(|(path, part, bytes)| async move {
                let size = bytes.len() as u64;
                self.lake.put(&path, bytes).await?;
                Ok::<_, Error>(data_file(&path, &part, size))
            })
            .buffered(4)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_>>()?;

        let mut next = st.manifest.clone();
        next.committed_at_ms = (self.clock)();
        next.offsets.clone_from(&prepared.positions);
        if let Some(t) = prepared.newest_event_ms {
            next.newest_event_time_ms = Some(next.newest_event_time_ms.map_or(t, |n| n.max(t)));
        }
        next.files.extend(files.iter().cloned());
        tailor_log::failpoint::hit("lake.before_commit");
        manifest::commit(&self.lake, &mut next, version).await?;
        st.manifest = next;
        st.next_version = version + 1;
        drop(st);

        let mut stats = SinkStats {
            commits: 1,
            ..SinkStats::default()
        };
        for f in &files {
            let t = f.table.name();
            metrics::counter!(m::ROWS_WRITTEN_TOTAL, "table" => t).increment(f.rows);
            metrics::counter!(m::FILES_WRITTEN_TOTAL, "table" => t).increment(1);
            metrics::counter!(m::BYTES_WRITTEN_TOTAL, "table" => t).increment(f.bytes);
            match f.table {
                Table::Events => stats.event_rows += f.rows,
                Table::DeadLetters => stats.dead_letter_rows += f.rows,
                Table::Quality => {}
            }
            stats.files += 1;
            stats.bytes += f.bytes;
        }
        for (topic, n) in &prepared.records {
            metrics::counter!(m::RECORDS_CONSUMED_TOTAL, "topic" => topic.clone()).increment(*n);
            stats.records += n;
        }
        for (topic, n) in &prepared.undecodable {
            metrics::counter!(m::UNDECODABLE_RECORDS_TOTAL, "topic" => topic.clone()).increment(*n);
            stats.undecodable += n;
        }
        for (topic, n) in &prepared.skipped {
            metrics::counter!(m::SKIPPED_RECORDS_TOTAL, "topic" => topic.clone()).increment(*n);
            stats.skipped += n;
        }
        for (topic, parts) in &prepared.positions {
            for (p, off) in parts {
                metrics::gauge!(m::COMMITTED_OFFSET, "topic" => topic.clone(), "partition" => p.to_string())
                    .set(*off as f64);
            }
        }
        metrics::counter!(m::COMMITS_TOTAL).increment(1);
        if let Some(q) = &self.quality {
            q.publish(&reports);
        }
        metrics::histogram!(m::FLUSH_SECONDS).record(started.elapsed().as_secs_f64());
        self.report_lag().await;
        tracing::debug!(
            version,
            files = stats.files,
            records = stats.records,
            "lake commit"
        );
        Ok(stats)
    }

    /// [`Self::flush`], retried with backoff until it succeeds; `None` if `shutdown` came
    /// first. A conflict with another writer is not retried.
    pub(super) async fn flush_retrying(
        &self,
        prepared: &Prepared,
        mut shutdown: std::pin::Pin<&mut (impl Future<Output = ()> + Send)>,
    ) -> Result<Option<SinkStats>> {
        let mut backoff = Duration::from_millis(500);
        loop {
            match self.flush(prepared).await {
                Ok(s) => return Ok(Some(s)),
                Err(e @ (Error::Conflict { .. } | Error::Config(_))) => return Err(e),
                Err(e) => {
                    metrics::counter!(m::FLUSH_ERRORS_TOTAL).increment(1);
                    tracing::error!(error = %e, retry_in_ms = backoff.as_millis() as u64, "lake flush failed; retrying");
                    tokio::select! {
                        () = shutdown.as_mut() => return Ok(None),
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

/// The `quality` rows of `reports`, as one file of the partition of their check date.
fn quality_part(reports: &[QualityReport]) -> Result<Option<Part>> {
    let (Some(min), Some(max)) = (
        reports.iter().map(|r| r.checked_at_ms).min(),
        reports.iter().map(|r| r.checked_at_ms).max(),
    ) else {
        return Ok(None);
    };
    if reports.iter().all(|r| r.checks.is_empty()) {
        return Ok(None);
    }
    let partition = HivePartition::of(Table::Quality, max)
        .or_else(|| HivePartition::of(Table::Quality, 0))
        .unwrap_or(HivePartition { day: 0, hour: None });
    Ok(Some(Part {
        table: Table::Quality,
        partition,
        batch: QualityReport::to_batch(reports)?,
        min_time_ms: min,
        max_time_ms: max,
    }))
}

fn data_file(path: &Path, part: &Part, bytes: u64) -> DataFile {
    DataFile {
        table: part.table,
        path: path.to_string(),
        dt: part.partition.date(),
        hour: part.partition.hour,
        rows: part.batch.num_rows() as u64,
        bytes,
        min_time_ms: part.min_time_ms,
        max_time_ms: part.max_time_ms,
    }
}
