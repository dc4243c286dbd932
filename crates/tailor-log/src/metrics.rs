//! Metrics of the log: names, units and help text in one place. [`describe`] registers the
//! descriptions with the installed `metrics` recorder (call it after installing one; opening
//! an [`crate::EmbeddedLog`] calls it too, which is harmless to repeat).

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// Counter: records durably appended.
pub const APPEND_RECORDS_TOTAL: &str = "tailor_log_append_records_total";
/// Histogram: duration of one fsync (`sync_data`) of a segment file.
pub const FSYNC_SECONDS: &str = "tailor_log_fsync_seconds";
/// Histogram: append requests committed together by one group commit.
pub const GROUP_COMMIT_REQUESTS: &str = "tailor_log_group_commit_requests";
/// Gauge with `topic`, `partition` labels: next offset to be written (durable end).
pub const END_OFFSET: &str = "tailor_log_end_offset";
/// Counter: segment tails truncated at open (torn or corrupt writes dropped).
pub const RECOVERED_TRUNCATIONS_TOTAL: &str = "tailor_log_recovered_truncations_total";
/// Gauge: append requests waiting in the writer queue.
pub const QUEUE_DEPTH: &str = "tailor_log_queue_depth";
/// Counter: appends refused because the writer queue was full.
pub const BACKPRESSURE_TOTAL: &str = "tailor_log_backpressure_total";
/// Counter: group commits that failed with an I/O error (all their requests failed).
pub const WRITE_ERRORS_TOTAL: &str = "tailor_log_write_errors_total";
/// Counter with `topic`, `partition` labels: reads refused because stored bytes were corrupt.
pub const CORRUPT_READS_TOTAL: &str = "tailor_log_corrupt_reads_total";
/// Counter with `topic`, `partition` labels: records in ranges quarantined as corrupt.
pub const QUARANTINED_RECORDS_TOTAL: &str = "tailor_log_quarantined_records_total";
/// Counter with an `op` label: Kafka requests that failed (connecting, producing,
/// delivering, reading, committing, ...).
pub const KAFKA_ERRORS_TOTAL: &str = "tailor_log_kafka_errors_total";
/// Counter: Kafka producers replaced after a fatal error (e.g. fenced by the cluster).
pub const PRODUCER_RESTARTS_TOTAL: &str = "tailor_log_kafka_producer_restarts_total";

/// Describe every metric of this crate to the installed recorder.
pub fn describe() {
    describe_counter!(
        APPEND_RECORDS_TOTAL,
        Unit::Count,
        "Records durably appended to the log (acknowledged after fsync)."
    );
    describe_histogram!(
        FSYNC_SECONDS,
        Unit::Seconds,
        "Duration of one fsync of a log segment file."
    );
    describe_histogram!(
        GROUP_COMMIT_REQUESTS,
        Unit::Count,
        "Append requests made durable together by one group commit."
    );
    describe_gauge!(
        END_OFFSET,
        Unit::Count,
        "Next offset to be written in a partition (records below it are durable and readable)."
    );
    describe_counter!(
        RECOVERED_TRUNCATIONS_TOTAL,
        Unit::Count,
        "Segment tails truncated when opening the log (torn or corrupt unacknowledged writes)."
    );
    describe_gauge!(
        QUEUE_DEPTH,
        Unit::Count,
        "Append requests waiting in the bounded writer queue."
    );
    describe_counter!(
        BACKPRESSURE_TOTAL,
        Unit::Count,
        "Appends refused because the writer queue was full."
    );
    describe_counter!(
        WRITE_ERRORS_TOTAL,
        Unit::Count,
        "Group commits failed by an I/O error; their appends were not acknowledged."
    );
    describe_counter!(
        CORRUPT_READS_TOTAL,
        Unit::Count,
        "Reads refused because stored bytes failed checksum or structure checks."
    );
    describe_counter!(
        QUARANTINED_RECORDS_TOTAL,
        Unit::Count,
        "Records of sealed segments quarantined as corrupt: readers get placeholders without data."
    );
    describe_counter!(
        KAFKA_ERRORS_TOTAL,
        Unit::Count,
        "Requests to the Kafka cluster that failed, by operation."
    );
    describe_counter!(
        PRODUCER_RESTARTS_TOTAL,
        Unit::Count,
        "Kafka producers replaced after a fatal error (fenced, lost sequence state)."
    );
}
