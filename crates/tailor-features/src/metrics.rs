//! Metrics of the live processor.

pub const EVENTS: &str = "tailor_live_events_processed_total";
pub const UNDECODABLE: &str = "tailor_live_undecodable_events_total";
pub const LATENCY: &str = "tailor_live_processing_latency_seconds";
pub const WATERMARK: &str = "tailor_live_watermark_seconds";
pub const LAG: &str = "tailor_live_consumer_lag_records";
pub const CHECKPOINT_SECONDS: &str = "tailor_live_checkpoint_duration_seconds";
pub const CHECKPOINT_BYTES: &str = "tailor_live_checkpoint_size_bytes";

pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(EVENTS, Unit::Count, "Events applied to the live state.");
    describe_counter!(
        UNDECODABLE,
        Unit::Count,
        "Log records that could not be decoded as events (skipped)."
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
}
