//! Data-quality checks on lake commits: injected bad data (a burst of unknown items, a
//! schema drift, a volume drop, duplicates, future timestamps) trips the right check, clean
//! commits pass, and every result lands in the `quality` table with the commit it judged.

use crate::common;

use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::json;
use tailor_event::Event;
use tailor_lake::quality::{QualityConfig, QualityMonitor, QualityReport, Status};
use tailor_lake::{LakeSink, Warehouse};
use tailor_log::Log;

use common::{append, event, open_log, test_config};

const MINUTE: i64 = 60_000;
/// 2026-03-02T10:00:00Z.
const T0: i64 = 1_772_445_600_000;

fn config() -> QualityConfig {
    QualityConfig {
        min_rows: 20,
        drift_min_events: 100,
        volume_bucket_secs: 60,
        volume_baseline: 10,
        volume_min_baseline: 3,
        ..QualityConfig::default()
    }
}

/// `n` product views in minute `minute`, on catalog items `sku-*` (or `ghost-*`).
fn views(
    tag: &str,
    minute: i64,
    n: usize,
    item_prefix: &str,
    props: impl Fn(usize) -> serde_json::Value,
) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let mut p = props(i);
            p["product_id"] = json!(format!("{item_prefix}-{}", i % 10));
            event(
                &format!("{tag}-{i}"),
                "Product Viewed",
                Some(&format!("u{}", i % 7)),
                None,
                T0 + minute * MINUTE + (i as i64 * 997) % MINUTE,
                p,
            )
        })
        .collect()
}

fn normal(i: usize) -> serde_json::Value {
    json!({"price": 10.0 + i as f64, "category": "shoes", "currency": "EUR"})
}

fn check<'a>(r: &'a QualityReport, name: &str) -> &'a tailor_lake::quality::CheckResult {
    r.checks
        .iter()
        .find(|c| c.check == name)
        .unwrap_or_else(|| panic!("no {name} check in {r:?}"))
}

fn failing(r: &QualityReport) -> Vec<String> {
    let mut v: Vec<String> = r.failing().map(|c| c.check.clone()).collect();
    v.dedup();
    v
}

#[tokio::test]
async fn bad_data_trips_the_right_check_and_results_are_committed() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = open_log(&dir.path().join("log"));
    log.create_topic("events", 1).expect("topic");
    log.create_topic("events.dead-letter", 1).expect("topic");
    let reports: Arc<Mutex<Vec<QualityReport>>> = Arc::default();
    let seen = reports.clone();
    let monitor = Arc::new(
        QualityMonitor::new(config(), Some(dir.path().join("quality.json")))
            .with_known_items(Arc::new(|id: &str| Some(id.starts_with("sku-"))))
            .with_listener(Arc::new(move |r: &QualityReport| {
                seen.lock().push(r.clone())
            })),
    );
    let sink = LakeSink::open(&test_config(), dir.path())
        .await
        .expect("sink")
        .with_quality(monitor.clone());
    let commit = |events: Vec<Event>| {
        let (log, sink, reports) = (log.clone(), &sink, reports.clone());
        async move {
            append(&*log, &events).await;
            sink.run_once(&*log).await.expect("commit");
            reports.lock().last().cloned().expect("a report per commit")
        }
    };

    // A steady baseline: 100 views a minute, all on catalog items, same properties.
    for m in 0..6 {
        let r = commit(views(&format!("base{m}"), m, 100, "sku", normal)).await;
        assert!(failing(&r).is_empty(), "clean commit {m} failed: {r:#?}");
        assert_eq!(r.source, "lake_commit");
        assert_eq!(r.rows, 100);
    }
    let r = reports.lock().last().cloned().expect("report");
    assert_eq!(check(&r, "volume").status, Status::Pass, "{r:#?}");
    assert_eq!(check(&r, "unknown_items").status, Status::Pass);
    assert_eq!(check(&r, "schema_drift").status, Status::Pass);
    assert_eq!(check(&r, "duplicates").status, Status::Pass);
    assert_eq!(check(&r, "timestamps").status, Status::Pass);

    // A burst of events on items the catalog does not know.
    let r = commit(views("ghosts", 6, 100, "ghost", normal)).await;
    assert_eq!(failing(&r), ["unknown_items"], "{r:#?}");
    let c = check(&r, "unknown_items");
    assert!(
        (c.value - 1.0).abs() < 1e-9 && c.detail.contains("ghost-"),
        "{c:?}"
    );

    // A schema drift: `price` disappears, `colour` appears.
    let r = commit(views(
        "drift",
        7,
        100,
        "sku",
        |_| json!({"category": "shoes", "currency": "EUR", "colour": "red"}),
    ))
    .await;
    assert!(failing(&r).contains(&"schema_drift".to_string()), "{r:#?}");
    let c = check(&r, "schema_drift");
    assert!(c.detail.contains("new properties [colour]"), "{c:?}");
    assert!(c.detail.contains("missing properties [price]"), "{c:?}");
    // Once seen, the new shape is no longer news... but the missing price stays missing.
    // The attribution fields tailor.js adds to events about a served list are not drift.
    let r = commit(views("back", 8, 100, "sku", |i| {
        let mut p = normal(i);
        p["rec_id"] = json!("r-1");
        p["list_id"] = json!("home");
        p["position"] = json!(1);
        p
    }))
    .await;
    assert!(!failing(&r).contains(&"schema_drift".to_string()), "{r:#?}");

    // A volume drop: minute 9 gets 5 events; minute 11's events close its bucket.
    commit(views("drop", 9, 5, "sku", normal)).await;
    commit(views("after", 10, 100, "sku", normal)).await;
    commit(views("after2", 11, 100, "sku", normal)).await;
    let all = reports.lock().clone();
    let volume_fail = all
        .iter()
        .map(|r| check(r, "volume"))
        .find(|c| c.status == Status::Fail)
        .unwrap_or_else(|| panic!("the drop was not flagged: {all:#?}"));
    assert!(volume_fail.value < -4.0, "{volume_fail:?}");
    assert!(
        volume_fail.detail.starts_with("5 events"),
        "{volume_fail:?}"
    );

    // Duplicates: the same views sent again under new message ids.
    let mut dup = views("dupa", 12, 60, "sku", normal);
    dup.extend(views("dupb", 12, 60, "sku", normal));
    let r = commit(dup).await;
    assert_eq!(failing(&r), ["duplicates"], "{r:#?}");

    // Timestamps a day in the future.
    let mut future = views("future", 13, 100, "sku", normal);
    for e in future.iter_mut().take(10) {
        e.event_time_ms += 86_400_000;
    }
    let r = commit(future).await;
    assert!(failing(&r).contains(&"timestamps".to_string()), "{r:#?}");

    // Every report is in the lake, stamped with the version that committed it.
    let wh = Warehouse::new(sink.lake().clone())
        .await
        .expect("warehouse");
    let batches = wh
        .query("SELECT \"check\", count(*) AS n FROM quality WHERE status = 'fail' GROUP BY \"check\" ORDER BY \"check\"")
        .await
        .expect("query");
    let csv = tailor_lake::to_csv(&batches).expect("csv");
    for name in [
        "duplicates",
        "schema_drift",
        "timestamps",
        "unknown_items",
        "volume",
    ] {
        assert!(
            csv.contains(name),
            "{name} missing from the quality table:\n{csv}"
        );
    }
    let batches = wh
        .query("SELECT count(DISTINCT lake_version) AS v, count(*) AS n FROM quality WHERE source = 'lake_commit'")
        .await
        .expect("query");
    let csv = tailor_lake::to_csv(&batches).expect("csv");
    let commits = reports.lock().len();
    let per = reports.lock()[0].checks.len();
    assert!(
        csv.contains(&format!("{commits},{}", commits * per)),
        "{csv}"
    );

    // A job's report waits for the next commit and is written with it.
    monitor.submit(QualityReport {
        source: "training".into(),
        checked_at_ms: T0,
        lake_version: None,
        rows: 7,
        checks: vec![tailor_lake::quality::job_check(
            "training_rows",
            7.0,
            Some((10.0, false)),
            "7 rows",
        )],
    });
    sink.run_once(&*log).await.expect("commit");
    let last = reports.lock().last().cloned().expect("report");
    assert_eq!(last.source, "training");
    assert_eq!(failing(&last), ["training_rows"]);
    assert!(last.lake_version.is_some());

    // Baselines survive a restart: a clean commit after reopening still passes.
    drop(sink);
    let monitor = Arc::new(
        QualityMonitor::new(config(), Some(dir.path().join("quality.json")))
            .with_known_items(Arc::new(|id: &str| Some(id.starts_with("sku-"))))
            .with_listener(Arc::new({
                let reports = reports.clone();
                move |r: &QualityReport| reports.lock().push(r.clone())
            })),
    );
    let sink = LakeSink::open(&test_config(), dir.path())
        .await
        .expect("sink")
        .with_quality(monitor);
    append(&*log, &views("restart", 14, 100, "sku", normal)).await;
    sink.run_once(&*log).await.expect("commit");
    let r = reports.lock().last().cloned().expect("report");
    assert!(failing(&r).is_empty(), "{r:#?}");
    assert_eq!(check(&r, "schema_drift").status, Status::Pass, "{r:#?}");
    assert_ne!(check(&r, "nulls").status, Status::Skip, "{r:#?}");
}

#[test]
fn robust_z_flags_outliers_and_tolerates_wobble() {
    use tailor_lake::quality::robust_z;
    let base = [100.0, 98.0, 103.0, 101.0, 99.0, 100.0];
    assert!(robust_z(5.0, &base).abs() > 10.0);
    assert!(robust_z(400.0, &base) > 10.0);
    assert!(robust_z(97.0, &base).abs() < 2.0);
    // A perfectly steady baseline: the scale floor (5 % of the median) keeps noise quiet.
    let flat = [100.0; 6];
    assert!(robust_z(104.0, &flat).abs() < 1.0);
    assert!(robust_z(50.0, &flat) < -4.0);
}

#[test]
fn config_errors_name_the_field() {
    let bad = QualityConfig {
        volume_z: -1.0,
        ..QualityConfig::default()
    };
    assert!(bad
        .validate()
        .expect_err("bad")
        .to_string()
        .contains("quality.volume_z"));
    let bad = QualityConfig {
        webhook_url: Some("ftp://x".into()),
        ..QualityConfig::default()
    };
    assert!(bad
        .validate()
        .expect_err("bad")
        .to_string()
        .contains("quality.webhook_url"));
    let bad = QualityConfig {
        duplicate_rate: 2.0,
        ..QualityConfig::default()
    };
    assert!(bad
        .validate()
        .expect_err("bad")
        .to_string()
        .contains("quality.duplicate_rate"));
    QualityConfig::default()
        .validate()
        .expect("defaults are valid");
}
