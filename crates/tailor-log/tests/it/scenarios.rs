//! The backend-neutral scenarios of `common`, run against the embedded log.

use crate::common;

use std::sync::Arc;

use tailor_log::{EmbeddedOptions, Log};

fn embedded(dir: &tempfile::TempDir, opts: EmbeddedOptions) -> Arc<dyn Log> {
    common::open(dir.path(), opts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_segment_rolls() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Tiny segments: every partition rolls many times.
    let log = embedded(&dir, common::opts(1024));
    common::round_trip(Arc::clone(&log)).await;
    for p in 0..4 {
        assert!(
            common::segment_files(dir.path(), "events", p).len() > 3,
            "partition {p} rolled"
        );
    }
    log.close().expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_default_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::round_trip(embedded(&dir, EmbeddedOptions::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_from_many_tasks() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::concurrent_appends(embedded(&dir, common::opts(256 * 1024)), 4, 32, 20, 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_with_a_tiny_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = EmbeddedOptions {
        queue_capacity: 2,
        segment_bytes: 64 * 1024,
        ..EmbeddedOptions::default()
    };
    common::concurrent_appends(embedded(&dir, opts), 4, 16, 10, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_wakes_and_times_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::wait_for_wakes_and_times_out(embedded(&dir, EmbeddedOptions::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_bad_names_and_misuse() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::rejects_bad_names_and_misuse(embedded(&dir, EmbeddedOptions::default())).await;
    assert!(!dir.path().parent().expect("parent").join("etc").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::commits(embedded(&dir, EmbeddedOptions::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_over_many_partitions() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::concurrent_appends(embedded(&dir, common::opts(32 * 1024)), 37, 8, 10, 100).await;
}
