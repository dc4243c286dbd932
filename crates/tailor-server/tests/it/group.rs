//! Processors sharing the log's partitions (`live.assignment = "group"`, ADR 0016): two
//! processors in one Kafka consumer group split the partitions, hand them over when one
//! joins or leaves, and an API replica reading the partition states they write to Redis
//! serves exactly the features of a single process that applied every event itself. The
//! processors have data directories of their own (machines of their own): the partition
//! checkpoints they hand over pass through the lake's object storage (moto's S3).

use crate::common;
use crate::kafka::{for_test_broker, kafka_url};
use crate::moto;
use crate::shared_storage::lake_on_s3;

use std::time::{Duration, Instant};

use common::{config, start, track, ts, TestServer};
use serde_json::{json, Value};

/// Views, clicks and add-to-carts of 12 items in 3 categories by 40 users, in order.
fn events(range: std::ops::Range<u32>) -> Vec<Value> {
    let names = [
        "Product Viewed",
        "Product Viewed",
        "Product Clicked",
        "Product Added",
    ];
    range
        .map(|i| {
            let item = (i + i / 40) % 12;
            let category = ["shoes", "hats", "bags"][(item % 3) as usize];
            track(
                &format!("g{}", (i * 13) % 40),
                names[(i % 4) as usize],
                json!({"product_id": format!("i{item}"),
                       "category": category,
                       "price": 10 + item}),
                &format!("grp-{i}"),
                &ts(i / 3),
            )
        })
        .collect()
}

/// Every feature row the two deployments serve for the ids the events name.
async fn rows(s: &TestServer) -> Vec<(String, Value)> {
    let mut ids: Vec<(String, String)> =
        (0..40).map(|u| ("user".into(), format!("g{u}"))).collect();
    ids.extend((0..12).map(|i| ("item".into(), format!("i{i}"))));
    ids.extend(["shoes", "hats", "bags"].map(|c| ("category".into(), c.to_owned())));
    ids.push(("global".into(), "global".into()));
    let mut out = Vec::new();
    for (kind, id) in ids {
        let (code, row) = s.get(&format!("/v1/features/{kind}/{id}")).await;
        assert!(code == 200 || code == 404, "{kind}/{id}: {code} {row}");
        out.push((format!("{kind}/{id}"), row));
    }
    out
}

/// Waits until every partition is owned by exactly one of `procs`, each of them owns some,
/// and each has applied its own.
async fn settled(procs: &[&TestServer], partitions: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut owned = Vec::new();
        let mut caught_up = true;
        for p in procs {
            let (_, status) = p.get("/v1/status").await;
            caught_up &= status["live"]["lag"] == 0;
            let mine: Vec<u64> = status["live"]["owned_partitions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .collect();
            caught_up &= !mine.is_empty();
            owned.extend(mine);
        }
        owned.sort_unstable();
        if caught_up && owned == (0..partitions as u64).collect::<Vec<_>>() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the group never settled: owned {owned:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn same_rows(api: &TestServer, reference: &[(String, Value)]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = rows(api).await;
        if got == reference {
            return;
        }
        if Instant::now() > deadline {
            for ((k, a), (_, b)) in got.iter().zip(reference) {
                assert_eq!(a, b, "{k}: the group's row differs from one process's");
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processors_share_partitions_and_serve_what_one_process_serves() {
    let all = events(0..600);
    // The reference: one process on the embedded log, features read in place.
    let ref_dir = tempfile::tempdir().expect("tmp");
    let mut ref_cfg = config(ref_dir.path());
    ref_cfg.log.partitions = 4;
    let reference = start(ref_cfg).await;
    for chunk in all.chunks(100) {
        let (code, a) = reference.post("/v1/batch", json!({ "batch": chunk })).await;
        assert_eq!(code, 200, "{a}");
    }
    reference.wait_processed().await;
    let expected = rows(&reference).await;
    let held: Vec<&String> = expected
        .iter()
        .filter(|(_, r)| r["values"].is_object())
        .map(|(k, _)| k)
        .collect();
    assert!(held.len() > 50, "users, items and the global row: {held:?}");
    reference.server.shutdown().await.expect("shutdown");

    let (_moto, endpoint) = moto::start_s3("group");
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("tmp")).collect();
    let mut cfg = config(dirs[0].path());
    lake_on_s3(&mut cfg, &endpoint, "group");
    cfg.log.url = kafka_url();
    cfg.log.partitions = 4;
    for_test_broker(&mut cfg);
    cfg.online = common::redis_url("group");
    cfg.live.assignment = tailor_features::Assignment::Group;
    cfg.live.group_session_timeout_ms = 6_000;
    cfg.models.retrain = false;
    let with_roles = |roles: &str| common::with_roles(&cfg, roles);
    let processor = |machine: usize| {
        let mut c = with_roles("processor");
        c.data_dir = dirs[machine].path().to_path_buf();
        c
    };
    let a = start(processor(1)).await;
    let collector = start(with_roles("collector")).await;
    let api = start(with_roles("api")).await;
    let send = async |range: std::ops::Range<usize>| {
        for chunk in all[range].chunks(100) {
            let (code, r) = collector.post("/v1/batch", json!({ "batch": chunk })).await;
            assert_eq!(code, 200, "{r}");
        }
    };

    // One processor owns everything.
    send(0..200).await;
    settled(&[&a], 4).await;
    // A second one joins: the partitions are split, each from the other's checkpoint.
    let b = start(processor(2)).await;
    send(200..400).await;
    settled(&[&a, &b], 4).await;
    let (_, sa) = a.get("/v1/status").await;
    let (_, sb) = b.get("/v1/status").await;
    let owned_a = sa["live"]["owned_partitions"]
        .as_array()
        .map_or(0, Vec::len);
    let owned_b = sb["live"]["owned_partitions"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(owned_a > 0 && owned_b > 0, "both own partitions: {sa} {sb}");
    // The first leaves: the second takes everything over.
    a.server.shutdown().await.expect("shutdown a");
    send(400..600).await;
    settled(&[&b], 4).await;

    // Nothing lost, nothing counted twice: the API replica serves the reference's rows.
    same_rows(&api, &expected).await;
    // Erasure needs one process holding every partition: refused, not half done.
    let resp = b
        .http
        .delete(format!("{}/v1/users/g1", b.url))
        .send()
        .await
        .expect("request");
    assert!(
        resp.status() == 501 || resp.status() == 421,
        "{}",
        resp.status()
    );
    for s in [api, collector, b] {
        s.server.shutdown().await.expect("shutdown");
    }
    // The checkpoints went to the bucket, not to a machine's disk.
    for d in &dirs {
        assert!(!d.path().join("checkpoints/partitions").exists());
    }
    let lake = tailor_lake::Lake::open(&cfg.lake, &cfg.data_dir).expect("lake");
    let keys = tailor_lake::ObjectBlobs::new(&lake, "_checkpoints");
    let keys = tailor_log::Blobs::list(&keys, "").expect("list");
    assert_eq!(
        keys,
        [
            "partitions/0.state",
            "partitions/1.state",
            "partitions/2.state",
            "partitions/3.state"
        ]
    );
}
