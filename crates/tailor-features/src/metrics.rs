//! Metrics of the live processor and the feature engine.

pub const EVENTS: &str = "tailor_live_events_processed_total";
pub const UNDECODABLE: &str = "tailor_live_undecodable_events_total";
pub const LATENCY: &str = "tailor_live_processing_latency_seconds";
pub const WATERMARK: &str = "tailor_live_watermark_seconds";
pub const LAG: &str = "tailor_live_consumer_lag_records";
pub const CHECKPOINT_SECONDS: &str = "tailor_live_checkpoint_duration_seconds";
pub const CHECKPOINT_BYTES: &str = "tailor_live_checkpoint_size_bytes";
/// Gauge: partitions this processor owns (all of them unless processors share them).
pub const OWNED_PARTITIONS: &str = "tailor_live_owned_partitions";
/// Counter: partition assignments this processor received from its consumer group.
pub const REBALANCES: &str = "tailor_live_rebalances_total";

/// Counter, label `partition`: events older than the partition's watermark (not applied).
pub const FEATURE_LATE_EVENTS: &str = "tailor_features_late_events_total";
/// Gauge, label `partition`: wall-clock time minus the partition's watermark.
pub const FEATURE_WATERMARK_LAG: &str = "tailor_features_watermark_lag_seconds";
/// Gauge: entities held in feature state (all partitions).
pub const FEATURE_STATE_KEYS: &str = "tailor_features_state_keys";
/// Gauge: approximate bytes of feature state (all partitions).
pub const FEATURE_STATE_BYTES: &str = "tailor_features_state_bytes";
/// Histogram: event time → feature row visible in the online store.
pub const FEATURE_VISIBLE_LATENCY: &str = "tailor_features_visible_latency_seconds";
/// Histogram, label `backend`: time of one write of rows to a materialized online store.
pub const ONLINE_STORE_WRITE_SECONDS: &str = "tailor_online_store_write_duration_seconds";
/// Histogram, label `backend`: time of one read of rows from a materialized online store.
pub const ONLINE_STORE_READ_SECONDS: &str = "tailor_online_store_read_duration_seconds";
/// Counter, labels `backend` and `op` (`connect`, `read`, `write`, `decode`).
pub const ONLINE_STORE_ERRORS: &str = "tailor_online_store_errors_total";
/// Counter: batches whose feature rows could not be written to the online store (the
/// processor writes every row again once the store answers).
pub const STORE_WRITE_FAILURES: &str = "tailor_live_online_store_write_failures_total";

pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(EVENTS, Unit::Count, "Events applied to the live state.");
    describe_counter!(
        UNDECODABLE,
        Unit::Count,
        "Log records that could not be decoded as events (skipped)."
    );
    describe_counter!(
        STORE_WRITE_FAILURES,
        Unit::Count,
        "Batches whose feature rows the online store refused; every row is written again once it answers."
    );
    describe_histogram!(
        LATENCY,
        Unit::Seconds,
        "Time from collector receipt to the event being applied to live state."
    );
    describe_gauge!(
        WATERMARK,
        Unit::Seconds,
        "Highest event time applied to live state (Unix seconds)."
    );
    describe_gauge!(
        LAG,
        Unit::Count,
        "Records in the events topic not yet applied, per partition."
    );
    describe_histogram!(
        CHECKPOINT_SECONDS,
        Unit::Seconds,
        "Time to write a live-state checkpoint."
    );
    describe_gauge!(
        CHECKPOINT_BYTES,
        Unit::Bytes,
        "Size of the last live-state checkpoint."
    );
    describe_gauge!(
        OWNED_PARTITIONS,
        Unit::Count,
        "Partitions of the events topic this processor owns (with live.assignment = group, those its consumer group gave it)."
    );
    describe_counter!(
        REBALANCES,
        Unit::Count,
        "Partition assignments received from the consumer group (live.assignment = group)."
    );
    describe_counter!(
        FEATURE_LATE_EVENTS,
        Unit::Count,
        "Events older than their partition's watermark (highest event time minus allowed lateness); counted, not applied to features."
    );
    describe_gauge!(
        FEATURE_WATERMARK_LAG,
        Unit::Seconds,
        "Wall-clock time minus the feature watermark, per partition."
    );
    describe_gauge!(
        FEATURE_STATE_KEYS,
        Unit::Count,
        "Entities (users, items, categories, ...) held in feature state."
    );
    describe_gauge!(
        FEATURE_STATE_BYTES,
        Unit::Bytes,
        "Approximate memory of feature state."
    );
    describe_histogram!(
        FEATURE_VISIBLE_LATENCY,
        Unit::Seconds,
        "Time from an event's event time to its features being visible in the online store."
    );
    describe_histogram!(
        ONLINE_STORE_WRITE_SECONDS,
        Unit::Seconds,
        "Time to write one batch of feature rows to the online store, per backend."
    );
    describe_histogram!(
        ONLINE_STORE_READ_SECONDS,
        Unit::Seconds,
        "Time to read feature rows (one read_many) from the online store, per backend."
    );
    describe_counter!(
        ONLINE_STORE_ERRORS,
        Unit::Count,
        "Online store failures, per backend and operation (connect, read, write, decode: a stored value that is not a feature row, read as missing)."
    );
}
