//! The lake on S3-compatible storage: the same sink, commits, compaction and SQL against a
//! real S3 API (moto's server, installed into `.venv` by `scripts/test.sh` and started here
//! on a free loopback port).

use crate::common;

use crate::moto::start_s3;
use common::*;
use serde_json::json;
use tailor_lake::{Lake, LakeConfig, LakeSink, Warehouse};
use tailor_log::Log;

fn s3_config(endpoint: &str) -> LakeConfig {
    LakeConfig {
        url: "s3://tailor-test/lakes/one".into(),
        endpoint: Some(endpoint.into()),
        region: Some("us-east-1".into()),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        allow_http: true,
        ..test_config()
    }
}

fn views(from: usize, n: usize) -> Vec<tailor_event::Event> {
    (from..from + n)
        .map(|i| {
            event(
                &format!("m{i}"),
                "Product Viewed",
                Some(&format!("u{}", i % 13)),
                None,
                1_768_471_200_000 + (i as i64) * 1_000,
                json!({"product_id": format!("P{}", i % 7), "price": 2.5}),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lake_on_s3_commits_compacts_and_answers_sql() {
    let (_moto, endpoint) = start_s3("tailor-test");
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = s3_config(&endpoint);
    let log = open_log(&dir.path().join("log"));
    log.create_topic("events", 2).expect("topic");

    let lake = Lake::open(&cfg, dir.path()).expect("s3 lake");
    let sink = LakeSink::with_lake(lake.clone(), cfg.clone())
        .await
        .expect("sink");
    // Three rounds: three commits, several files per hive partition.
    let mut sent = Vec::new();
    for round in 0..3 {
        let batch = views(round * 40, 40);
        append(&*log, &batch).await;
        sent.extend(batch);
        sink.run_once(&*log).await.expect("run");
    }
    let wh = Warehouse::new(Lake::open(&cfg, dir.path()).expect("lake"))
        .await
        .expect("warehouse");
    let q = "SELECT count(*) AS n, count(DISTINCT message_id) AS ids, sum(price) AS p FROM events";
    let before = tailor_lake::to_csv(&wh.query(q).await.expect("q")).expect("csv");
    assert_eq!(before, "n,ids,p\n120,120,300.0\n", "{before}");

    // Rerunning with nothing new commits nothing and duplicates nothing.
    sink.run_once(&*log).await.expect("rerun");
    let stats = sink.compact().await.expect("compact");
    assert!(stats.files_in > stats.files_out, "{stats:?}");
    let after = tailor_lake::to_csv(&wh.query(q).await.expect("q")).expect("csv");
    assert_eq!(after, before);
    let per_hour = tailor_lake::to_csv(
        &wh.query("SELECT dt, hour, count(*) AS n FROM events GROUP BY dt, hour ORDER BY hour")
            .await
            .expect("q"),
    )
    .expect("csv");
    assert_eq!(per_hour, "dt,hour,n\n2026-01-15,10,120\n", "{per_hour}");

    // A second sink (a restart) resumes from the manifest's offsets in the bucket.
    let more = views(120, 10);
    append(&*log, &more).await;
    let restarted = LakeSink::with_lake(Lake::open(&cfg, dir.path()).expect("lake"), cfg.clone())
        .await
        .expect("sink");
    restarted.run_once(&*log).await.expect("run");
    let total = tailor_lake::to_csv(&wh.query(q).await.expect("q")).expect("csv");
    assert_eq!(total, "n,ids,p\n130,130,325.0\n");
}
