//! Roles on several machines share what they keep through the lake's object storage
//! (S3-compatible; moto here): the model registry (`_models/`) and the partition
//! checkpoints (`_checkpoints/`). The blob store and the registry pass the same checks on
//! S3 as on a directory, and an API replica with a data directory of its own serves the
//! version a trainer elsewhere trained and promoted.

use crate::common;
use crate::kafka::{for_test_broker, kafka_url};
use crate::moto;

use std::time::{Duration, Instant};

use common::{config, shop_events, start};
use serde_json::{json, Value};
use tailor_log::Blobs;

const KEY: &str = "sk_shared";

/// `cfg`'s lake in moto's bucket `bucket` under `prefix`.
pub(crate) fn lake_on_s3(cfg: &mut tailor_server::Config, endpoint: &str, bucket: &str) {
    cfg.lake.url = format!("s3://{bucket}/lake");
    cfg.lake.endpoint = Some(endpoint.into());
    cfg.lake.region = Some("us-east-1".into());
    cfg.lake.access_key_id = Some("test".into());
    cfg.lake.secret_access_key = Some("test".into());
    cfg.lake.allow_http = true;
}

/// A bucket `name` in moto, two machines' data directories, and the config of the first
/// (Kafka log, Redis store, lake in the bucket; no scheduled training).
fn two_machines(
    name: &str,
) -> (
    moto::Moto,
    tempfile::TempDir,
    tempfile::TempDir,
    tailor_server::Config,
) {
    let (moto, endpoint) = moto::start_s3(name);
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let mut cfg = config(dir_a.path());
    cfg.log.url = kafka_url();
    cfg.log.partitions = 2;
    for_test_broker(&mut cfg);
    cfg.online = common::redis_url(name);
    lake_on_s3(&mut cfg, &endpoint, name);
    cfg.models.retrain = false;
    (moto, dir_a, dir_b, cfg)
}

#[test]
fn blobs_and_the_registry_on_s3_behave_as_on_a_directory() {
    let (_moto, endpoint) = moto::start_s3("blobs");
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    lake_on_s3(&mut cfg, &endpoint, "blobs");
    let lake = tailor_lake::Lake::open(&cfg.lake, &cfg.data_dir).expect("lake");
    let blobs = tailor_lake::ObjectBlobs::new(&lake, "_conformance");
    tailor_log::blobs::conformance(&blobs);
    assert!(
        blobs
            .location("a/b")
            .starts_with("s3://blobs/lake/_conformance/"),
        "{}",
        blobs.location("a/b")
    );

    let registry = tailor_server::model_registry(&cfg).expect("registry");
    assert_eq!(registry.location(), "s3://blobs/lake/_models");
    tailor_rec::registry::conformance::run(&registry);
    // Nothing went to the local data directory.
    assert!(!dir.path().join("models").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_replica_on_another_machine_serves_the_model_trained_elsewhere() {
    let (_moto, dir_a, dir_b, mut cfg) = two_machines("models");
    cfg.models.poll_ms = 100;
    cfg.collector.secret_keys = vec![KEY.into()];
    let trainer = start(common::with_roles(&cfg, "collector,processor,lake,trainer")).await;
    let mut api_cfg = common::with_roles(&cfg, "api");
    api_cfg.data_dir = dir_b.path().to_path_buf();
    let api = start(api_cfg).await;

    let (code, a) = trainer
        .post("/v1/batch", json!({ "batch": shop_events() }))
        .await;
    assert_eq!(code, 200, "{a}");
    trainer.wait_processed().await;
    let (_, m) = api.get("/v1/models").await;
    assert_eq!(m["serving"], Value::Null, "{m}");

    let resp = trainer
        .http
        .post(format!("{}/v1/admin/train", trainer.url))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("train");
    let job: Value = resp.json().await.expect("json");
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["serving_version"], 1, "{job}");

    // The replica picks the promoted version up from the bucket and serves it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let m = loop {
        let (_, m) = api.get("/v1/models").await;
        if m["serving"]["version"] == 1 {
            break m;
        }
        assert!(Instant::now() < deadline, "never served v1: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(m["versions"], json!([1]), "{m}");
    let (code, recs) = api.get("/v1/recommendations?user_id=s1&k=3").await;
    assert_eq!(code, 200, "{recs}");
    let model = recs["model"].as_str().expect("model");
    assert!(model.starts_with("default@v1+"), "{recs}");
    // Neither machine keeps the registry on its own disk.
    for d in [&dir_a, &dir_b] {
        assert!(!d.path().join("models").exists());
    }
    for s in [api, trainer] {
        s.server.shutdown().await.expect("shutdown");
    }
}

/// A processor stops on one machine and starts on another (a data directory of its own):
/// it resumes from the checkpoint in the bucket, counting nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_moved_to_another_machine_resumes_from_the_bucket() {
    let (_moto, dir_a, dir_b, cfg) = two_machines("moved");
    let events = shop_events();
    let n = events.len();
    let a = start(common::with_roles(&cfg, "collector,processor,api")).await;
    let (code, r) = a.post("/v1/batch", json!({ "batch": events })).await;
    assert_eq!(code, 200, "{r}");
    a.wait_processed().await;
    let (_, before) = a.get("/v1/features/item/hat-1").await;
    a.server.shutdown().await.expect("shutdown");

    // The checkpoint is in the bucket, covering every event; no machine holds one.
    let checkpoint = tailor_server::live_checkpoint(&cfg).expect("store");
    assert_eq!(
        checkpoint.location(),
        "s3://moved/lake/_checkpoints/live.ckpt"
    );
    let snapshot = checkpoint.load().expect("load").expect("a checkpoint");
    assert_eq!(snapshot.live.offsets.iter().sum::<u64>(), n as u64);
    assert_eq!(snapshot.live.events_processed, n as u64);
    assert!(!dir_a.path().join("checkpoints/live.ckpt").exists());

    // The other machine reads that checkpoint: a corrupt one stops it at start, named.
    let lake = tailor_lake::Lake::open(&cfg.lake, &cfg.data_dir).expect("lake");
    let blobs = tailor_lake::ObjectBlobs::new(&lake, "_checkpoints");
    let good = blobs.get("live.ckpt").expect("get").expect("bytes");
    blobs.put("live.ckpt", b"TLCK garbage").expect("corrupt it");
    let mut moved = common::with_roles(&cfg, "collector,processor,api");
    moved.data_dir = dir_b.path().to_path_buf();
    let err = match tailor_server::start(moved.clone()).await {
        Ok(_) => panic!("started from a corrupt checkpoint"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("s3://moved/lake/_checkpoints/live.ckpt"),
        "{err}"
    );
    blobs.put("live.ckpt", &good).expect("restore it");
    let b = start(moved).await;
    let status = b.wait_processed().await;
    assert_eq!(status["live"]["events_processed"], json!(n), "{status}");
    let (code, after) = b.get("/v1/features/item/hat-1").await;
    assert_eq!(code, 200, "{after}");
    assert_eq!(after["values"], before["values"], "{after}");
    assert!(!dir_b.path().join("checkpoints/live.ckpt").exists());
    b.server.shutdown().await.expect("shutdown");
}
