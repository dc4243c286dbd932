//! Metrics of the server: collector, API and the Prometheus endpoint itself.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const EVENTS_ACCEPTED: &str = "tailor_collector_events_accepted_total";
pub const EVENTS_REJECTED: &str = "tailor_collector_events_rejected_total";
pub const EVENTS_DUPLICATE: &str = "tailor_collector_events_duplicate_total";
pub const EVENT_NAME_WARNINGS: &str = "tailor_collector_event_name_warnings_total";
pub const REQUESTS_REJECTED: &str = "tailor_collector_requests_rejected_total";
pub const BATCH_SIZE: &str = "tailor_collector_batch_events";
pub const REQUEST_BYTES: &str = "tailor_collector_request_bytes";
pub const DEDUPE_EVICTED: &str = "tailor_collector_dedupe_evicted_total";
pub const DEDUPE_ENTRIES: &str = "tailor_collector_dedupe_entries";
pub const HTTP_DURATION: &str = "tailor_http_request_duration_seconds";
pub const HTTP_REQUESTS: &str = "tailor_http_requests_total";
pub const CATALOG_LEARNED: &str = "tailor_catalog_learned_total";
pub const CATALOG_FORGOTTEN: &str = "tailor_catalog_forgotten_total";
pub const AUTH_DENIED: &str = "tailor_auth_denied_total";
pub const AUTH_RATE_LIMITED: &str = "tailor_auth_rate_limited_total";
pub const RECS_SERVED: &str = "tailor_recommendations_served_total";
pub const REC_EVENTS: &str = "tailor_recommendation_events_total";
pub const LOG_FRESHNESS: &str = "tailor_log_freshness_seconds";
pub const PROCESS_RESIDENT: &str = "process_resident_memory_bytes";
pub const PROCESS_VIRTUAL: &str = "process_virtual_memory_bytes";
pub const PROCESS_OPEN_FDS: &str = "process_open_fds";
pub const PROCESS_START: &str = "process_start_time_seconds";
pub const QUALITY_CHECKS_TOTAL: &str = "tailor_quality_checks_total";
pub const QUALITY_CHECK_FAILING: &str = "tailor_quality_check_failing";
pub const QUALITY_WEBHOOK_TOTAL: &str = "tailor_quality_webhook_alerts_total";

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        crate::tls::HANDSHAKE_FAILURES,
        Unit::Count,
        "TLS handshakes that failed or timed out (10 s), by reason."
    );
    describe_gauge!(
        LOG_FRESHNESS,
        Unit::Seconds,
        "Now minus the newest event time this server stored in the events log (the log stage's freshness)."
    );
    describe_gauge!(
        PROCESS_RESIDENT,
        Unit::Bytes,
        "Resident memory size of the process."
    );
    describe_gauge!(
        PROCESS_VIRTUAL,
        Unit::Bytes,
        "Virtual memory size of the process."
    );
    describe_gauge!(
        PROCESS_OPEN_FDS,
        Unit::Count,
        "Open file descriptors of the process."
    );
    describe_gauge!(
        PROCESS_START,
        Unit::Seconds,
        "Start time of the process since the Unix epoch."
    );
    describe_counter!(
        QUALITY_CHECKS_TOTAL,
        Unit::Count,
        "Data-quality check results (lake commits and training runs), by check and status (pass, fail, skip)."
    );
    describe_gauge!(
        QUALITY_CHECK_FAILING,
        Unit::Count,
        "1 while the latest result of a data-quality check failed, else 0; training checks under check=\"training\"."
    );
    describe_counter!(
        QUALITY_WEBHOOK_TOTAL,
        Unit::Count,
        "Data-quality alerts sent to quality.webhook_url, by result (ok, error after retries, dropped)."
    );
    describe_counter!(
        EVENTS_ACCEPTED,
        Unit::Count,
        "Events durably appended to the events log."
    );
    describe_counter!(
        EVENT_NAME_WARNINGS,
        Unit::Count,
        "Events stored under a name that looks like a misspelled e-commerce spec name (no feature or model reads it), by the name meant."
    );
    describe_counter!(
        EVENTS_REJECTED,
        Unit::Count,
        "Events rejected as invalid and written to the dead-letter log, by reason."
    );
    describe_counter!(
        RECS_SERVED,
        Unit::Count,
        "Recommendation lists served, by model, variant and surface."
    );
    describe_counter!(
        REC_EVENTS,
        Unit::Count,
        "Impressions, clicks, carts and purchases attributed to served lists, by model, variant, surface, kind (impression, click, add_to_cart, purchase) and join (rec_id or follow)."
    );
    describe_counter!(
        CATALOG_LEARNED,
        Unit::Count,
        "Catalog changes learned from events (a category or price the catalog lacked)."
    );
    describe_counter!(
        CATALOG_FORGOTTEN,
        Unit::Count,
        "Items only events introduced, forgotten past catalog.max_learned_items (earliest first)."
    );
    describe_counter!(
        AUTH_DENIED,
        Unit::Count,
        "Requests refused for their API key, by reason (missing, unknown, revoked, forbidden)."
    );
    describe_counter!(
        AUTH_RATE_LIMITED,
        Unit::Count,
        "Requests answered 429 because their key was over its rate limit, by key kind."
    );
    describe_counter!(
        EVENTS_DUPLICATE,
        Unit::Count,
        "Events dropped because their messageId was already stored."
    );
    describe_counter!(
        REQUESTS_REJECTED,
        Unit::Count,
        "Collector requests refused as a whole, by reason."
    );
    describe_histogram!(BATCH_SIZE, Unit::Count, "Events per collector request.");
    describe_histogram!(
        REQUEST_BYTES,
        Unit::Bytes,
        "Decoded collector request body size."
    );
    describe_counter!(
        DEDUPE_EVICTED,
        Unit::Count,
        "messageIds forgotten before the end of the dedupe window because of the memory bound."
    );
    describe_gauge!(
        DEDUPE_ENTRIES,
        Unit::Count,
        "messageIds held for de-duplication."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency by route and status."
    );
    describe_counter!(
        HTTP_REQUESTS,
        Unit::Count,
        "HTTP requests by route and status."
    );
}

/// The process-wide Prometheus recorder (installed once; later servers in the same process
/// share it).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let latency = [
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0,
            ];
            let sizes = [1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0];
            let bytes = [1e3, 1e4, 1e5, 5e5, 1e6, 4e6, 8e6];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BATCH_SIZE.into()), &sizes))
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), &bytes))
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("tailor_log_group_commit_requests".into()),
                        &sizes,
                    )
                });
            let handle = match builder.map(|b| b.install_recorder()) {
                Ok(Ok(h)) => h,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "metrics recorder already installed; /metrics will be empty");
                    PrometheusBuilder::new().build_recorder().handle()
                }
                Err(e) => {
                    tracing::warn!(error = %e, "bad metric buckets");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            };
            describe();
            handle
        })
        .clone()
}

/// Process gauges in the Prometheus convention (Linux `/proc/self`; elsewhere skipped).
pub fn refresh_process() {
    static START: OnceLock<f64> = OnceLock::new();
    let start = *START.get_or_init(|| crate::ingest::now_ms() as f64 / 1000.0);
    metrics::gauge!(PROCESS_START).set(start);
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        let mut f = statm
            .split_whitespace()
            .map(|v| v.parse::<f64>().unwrap_or(0.0));
        let (size, resident) = (f.next().unwrap_or(0.0), f.next().unwrap_or(0.0));
        // The page size is 4 KiB on every platform Tailor ships for.
        metrics::gauge!(PROCESS_VIRTUAL).set(size * 4096.0);
        metrics::gauge!(PROCESS_RESIDENT).set(resident * 4096.0);
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        metrics::gauge!(PROCESS_OPEN_FDS).set(dir.count() as f64);
    }
}
