//! Metrics of the lake: names, units and help text in one place. [`describe`] registers the
//! descriptions with the installed `metrics` recorder (opening a sink calls it; repeating it
//! is harmless).

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// Counter with a `table` label: rows committed to the lake.
pub const ROWS_WRITTEN_TOTAL: &str = "tailor_lake_rows_written_total";
/// Counter with a `table` label: data files committed by flushes.
pub const FILES_WRITTEN_TOTAL: &str = "tailor_lake_files_written_total";
/// Counter with a `table` label: bytes of data files committed by flushes.
pub const BYTES_WRITTEN_TOTAL: &str = "tailor_lake_bytes_written_total";
/// Counter with a `topic` label: log records consumed and committed.
pub const RECORDS_CONSUMED_TOTAL: &str = "tailor_lake_records_consumed_total";
/// Counter with a `topic` label: records that were not decodable and went to `dead_letters`.
pub const UNDECODABLE_RECORDS_TOTAL: &str = "tailor_lake_undecodable_records_total";
/// Counter with a `topic` label: records the log deleted before the sink read them.
pub const SKIPPED_RECORDS_TOTAL: &str = "tailor_lake_skipped_records_total";
/// Counter: manifest versions committed.
pub const COMMITS_TOTAL: &str = "tailor_lake_commits_total";
/// Counter: flushes that failed (retried by the running sink).
pub const FLUSH_ERRORS_TOTAL: &str = "tailor_lake_flush_errors_total";
/// Counter: reads of the log that failed (retried by the running sink).
pub const READ_FAILURES_TOTAL: &str = "tailor_lake_read_failures_total";
/// Histogram: duration of one flush (encode, upload, commit).
pub const FLUSH_SECONDS: &str = "tailor_lake_flush_seconds";
/// Gauge: now minus the newest event time committed to the lake.
pub const COMMIT_LAG_SECONDS: &str = "tailor_lake_commit_lag_seconds";
/// Gauge with `topic`, `partition` labels: committed offset (next to consume).
pub const COMMITTED_OFFSET: &str = "tailor_lake_committed_offset";
/// Gauge: bytes of log records buffered and not yet committed.
pub const BUFFERED_BYTES: &str = "tailor_lake_buffered_bytes";
/// Counter with a `table` label: files merged away by compaction.
pub const COMPACTED_FILES_TOTAL: &str = "tailor_lake_compacted_files_total";
/// Counter with a `table` label: hive partitions dropped by retention.
pub const RETENTION_PARTITIONS_DROPPED_TOTAL: &str =
    "tailor_lake_retention_partitions_dropped_total";
/// Counter: uncommitted files of interrupted writes deleted at start.
pub const ORPHAN_FILES_DELETED_TOTAL: &str = "tailor_lake_orphan_files_deleted_total";
/// Gauge with a `name` label: 1 when the maintenance job's last run succeeded, else 0.
pub const JOB_LAST_SUCCESS: &str = "tailor_lake_job_last_success";
/// Counter with `name`, `status` labels: maintenance job runs.
pub const JOB_RUNS_TOTAL: &str = "tailor_lake_job_runs_total";
/// Histogram: time the data-quality checks of one commit took.
pub const QUALITY_CHECK_SECONDS: &str = "tailor_lake_quality_check_seconds";

/// Describe every metric of this crate to the installed recorder.
pub fn describe() {
    describe_gauge!(
        JOB_LAST_SUCCESS,
        Unit::Count,
        "1 when the lake maintenance job's last run (compaction, retention) succeeded, else 0."
    );
    describe_counter!(
        JOB_RUNS_TOTAL,
        Unit::Count,
        "Lake maintenance job runs (compaction, retention), by name and status."
    );
    describe_histogram!(
        QUALITY_CHECK_SECONDS,
        Unit::Seconds,
        "Time the data-quality checks of one lake commit took."
    );
    describe_counter!(
        ROWS_WRITTEN_TOTAL,
        Unit::Count,
        "Rows committed to the lake (one per interaction of an event), by table."
    );
    describe_counter!(
        FILES_WRITTEN_TOTAL,
        Unit::Count,
        "Parquet files committed to the lake by flushes, by table."
    );
    describe_counter!(
        BYTES_WRITTEN_TOTAL,
        Unit::Bytes,
        "Bytes of Parquet files committed to the lake by flushes, by table."
    );
    describe_counter!(
        RECORDS_CONSUMED_TOTAL,
        Unit::Count,
        "Log records consumed by the lake sink and committed, by topic."
    );
    describe_counter!(
        UNDECODABLE_RECORDS_TOTAL,
        Unit::Count,
        "Log records that could not be decoded and were kept in the dead_letters table, by topic."
    );
    describe_counter!(
        SKIPPED_RECORDS_TOTAL,
        Unit::Count,
        "Log records deleted by log retention before the lake sink read them, by topic."
    );
    describe_counter!(
        COMMITS_TOTAL,
        Unit::Count,
        "Lake manifest versions committed (flushes, compactions, retention)."
    );
    describe_counter!(
        FLUSH_ERRORS_TOTAL,
        Unit::Count,
        "Lake flushes that failed; the running sink retries them."
    );
    describe_counter!(
        READ_FAILURES_TOTAL,
        Unit::Count,
        "Reads of the log by the lake sink that failed (log unavailable); retried with backoff."
    );
    describe_histogram!(
        FLUSH_SECONDS,
        Unit::Seconds,
        "Duration of one lake flush: encode Parquet, upload, commit the manifest."
    );
    describe_gauge!(
        COMMIT_LAG_SECONDS,
        Unit::Seconds,
        "Now minus the newest event time committed to the lake."
    );
    describe_gauge!(
        COMMITTED_OFFSET,
        Unit::Count,
        "Next log offset the lake sink will consume, per topic and partition (committed)."
    );
    describe_gauge!(
        BUFFERED_BYTES,
        Unit::Bytes,
        "Bytes of log records the lake sink holds in memory, not yet committed."
    );
    describe_counter!(
        COMPACTED_FILES_TOTAL,
        Unit::Count,
        "Small lake files merged into larger ones by compaction, by table."
    );
    describe_counter!(
        RETENTION_PARTITIONS_DROPPED_TOTAL,
        Unit::Count,
        "Hive partitions dropped by lake retention, by table."
    );
    describe_counter!(
        ORPHAN_FILES_DELETED_TOTAL,
        Unit::Count,
        "Uncommitted lake files of interrupted writes deleted when the sink started."
    );
}
