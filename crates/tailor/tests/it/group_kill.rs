//! Two `tailor` processors in one consumer group (`live.assignment = "group"`) share a
//! stream; one is killed with SIGKILL mid-stream; the survivor takes over its partitions from
//! their checkpoints. The features an API replica serves and the lake's rows equal those of
//! one `tailor serve` that took the same events alone: nothing lost, nothing counted twice.
//!
//! The test broker is tansu 0.6.0 built with `scripts/tansu-group-expiry.patch`
//! (`scripts/kafka-broker.sh`): unpatched, its group coordinator removes a member that
//! stopped heartbeating without starting a new generation, so the group keeps the dead
//! member's assignment (and, when the dead member led the group, no one can change it) and
//! the survivor never gets its partitions. Kafka expires a dead member and rebalances; so
//! does the patched broker. The graceful hand-over (a processor leaving, one joining) is
//! tested in `tailor-server/tests/it/group.rs`.

use crate::common::{free_port, get_json, wait_ready, Server};

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

const PARTITIONS: u64 = 4;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the test command (make test), which starts the services")
    })
}

/// `tailor serve --roles ROLES` with `config`, on a free port; returns it and its URL.
fn serve(config: &Path, roles: &str, log: &Path) -> (Child, String) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(["serve", "--config"])
        .arg(config)
        .args(["--roles", roles, "--listen", &format!("127.0.0.1:{port}")])
        .env("TAILOR_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("spawn tailor serve");
    (child, format!("http://127.0.0.1:{port}"))
}

/// 1 600 views, clicks and add-to-carts of 16 items in 4 categories by 50 users.
fn events() -> Vec<Value> {
    let names = [
        "Product Viewed",
        "Product Viewed",
        "Product Clicked",
        "Product Added",
    ];
    (0..1_600u32)
        .map(|i| {
            let item = (i + i / 50) % 16;
            let category = ["shoes", "hats", "bags", "belts"][(item % 4) as usize];
            json!({"type": "track", "event": names[(i % 4) as usize],
                   "userId": format!("k{}", (i * 17) % 50), "messageId": format!("kill-{i}"),
                   "timestamp": format!("2026-01-15T10:{:02}:{:02}Z", (i / 60) % 60, i % 60),
                   "properties": {"product_id": format!("i{item}"),
                                  "category": category,
                                  "price": 10 + item}})
        })
        .collect()
}

async fn post(http: &reqwest::Client, url: &str, batch: &[Value]) {
    let resp = http
        .post(format!("{url}/v1/batch"))
        .json(&json!({ "batch": batch }))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
}

/// The features served for every id the events name.
async fn rows(http: &reqwest::Client, url: &str) -> Vec<(String, Value)> {
    let mut ids: Vec<String> = (0..50).map(|u| format!("user/k{u}")).collect();
    ids.extend((0..16).map(|i| format!("item/i{i}")));
    ids.push("global/global".into());
    let mut out = Vec::new();
    for id in ids {
        let (code, row) = get_json(http, &format!("{url}/v1/features/{id}")).await;
        assert!(code == 200 || code == 404, "{id}: {code} {row}");
        out.push((id, row));
    }
    out
}

/// Every lake row, in message id order.
async fn lake(http: &reqwest::Client, url: &str) -> Value {
    let resp = http
        .post(format!("{url}/v1/sql"))
        .json(
            &json!({"sql": "SELECT message_id, user_id, event, item_id, event_time \
                              FROM events ORDER BY message_id"}),
        )
        .send()
        .await
        .expect("sql");
    let body: Value = resp.json().await.expect("json");
    body["rows"].clone()
}

async fn eventually<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Partitions a processor owns and whether it applied all of them.
async fn owned(http: &reqwest::Client, url: &str) -> (Vec<u64>, bool) {
    let (_, s) = get_json(http, &format!("{url}/v1/status")).await;
    let owned = s["live"]["owned_partitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    (owned, s["live"]["lag"] == 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_killed_mid_stream_loses_nothing_and_counts_nothing_twice() {
    let http = reqwest::Client::new();
    let all = events();

    // The reference: one process, embedded log, every role.
    let ref_dir = tempfile::tempdir().expect("tmp");
    let ref_config = ref_dir.path().join("tailor.toml");
    std::fs::write(
        &ref_config,
        format!(
            "data_dir = {:?}\n[log]\npartitions = {PARTITIONS}\n[lake]\nroll_secs = 1\n[models]\nretrain = false\n",
            ref_dir.path().join("data")
        ),
    )
    .expect("config");
    let (child, reference) = serve(&ref_config, "all", &ref_dir.path().join("ref.log"));
    let reference_server = Server(Some(child));
    wait_ready(&http, &reference).await;
    for chunk in all.chunks(100) {
        post(&http, &reference, chunk).await;
    }
    eventually("the reference processed everything", 60, async || {
        let (_, s) = get_json(&http, &format!("{reference}/v1/status")).await;
        (s["live"]["lag"] == 0 && s["live"]["events_processed"] == json!(all.len())).then_some(())
    })
    .await;
    let expected = rows(&http, &reference).await;
    let expected_lake = eventually("the reference lake", 60, async || {
        let rows = lake(&http, &reference).await;
        (rows.as_array().map_or(0, Vec::len) == all.len()).then_some(rows)
    })
    .await;
    drop(reference_server);

    // The group: a collector with the lake and the API, and two processors.
    let dir = tempfile::tempdir().expect("tmp");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let config = dir.path().join("tailor.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\nonline = \"{redis}/0?prefix=tailor-test-kill-{nanos:x}:&ttl_secs=600\"\n\
             [log]\nurl = \"kafka://{kafka}/kill{nanos:x}\"\npartitions = {PARTITIONS}\n\
             [log.kafka]\nreplication_factor = 1\nproperties = {{ \"batch.num.messages\" = \"1\" }}\n\
             [live]\nassignment = \"group\"\ngroup_session_timeout_ms = 10000\ncheckpoint_interval_secs = 1\n\
             [lake]\nroll_secs = 1\n[models]\nretrain = false\n",
            data = dir.path().join("data"),
            redis = env("TAILOR_TEST_REDIS_URL").trim_end_matches('/'),
            kafka = env("TAILOR_TEST_KAFKA"),
        ),
    )
    .expect("config");
    let logs = dir.path();
    let (child, front) = serve(&config, "collector,lake,api", &logs.join("front.log"));
    let _front = Server(Some(child));
    wait_ready(&http, &front).await;
    let (child, p1) = serve(&config, "processor", &logs.join("p1.log"));
    let mut victim = Some(child);
    wait_ready(&http, &p1).await;
    let (child, p2) = serve(&config, "processor", &logs.join("p2.log"));
    let _survivor = Server(Some(child));
    wait_ready(&http, &p2).await;
    // Both own partitions, and the group has settled (the same split for 3 s). (The test
    // broker, tansu 0.6, can keep a member killed in the middle of a rebalance assigned for
    // good; Kafka expires it after the session timeout whenever it dies.)
    let mut since: Option<(Vec<u64>, Instant)> = None;
    eventually("both processors own partitions, stably", 60, async || {
        let (a, _) = owned(&http, &p1).await;
        let (b, _) = owned(&http, &p2).await;
        if a.is_empty() || b.is_empty() || a.len() + b.len() != PARTITIONS as usize {
            since = None;
            return None;
        }
        match &since {
            Some((split, t)) if *split == a => (t.elapsed() > Duration::from_secs(3)).then_some(()),
            _ => {
                since = Some((a, Instant::now()));
                None
            }
        }
    })
    .await;

    // Mid-stream, the first processor is killed without warning.
    let (victim_partitions, _) = owned(&http, &p1).await;
    for (n, chunk) in all.chunks(100).enumerate() {
        post(&http, &front, chunk).await;
        if n == 7 {
            let mut child = victim.take().expect("victim");
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eventually(
        "the survivor took every partition over and caught up",
        90,
        async || {
            let (parts, caught_up) = owned(&http, &p2).await;
            (caught_up && parts.len() == PARTITIONS as usize).then_some(())
        },
    )
    .await;
    assert!(!victim_partitions.is_empty());

    // What the API replica serves, once the survivor's writes landed, equals the reference.
    let got = eventually(
        "the API replica serves the reference's rows",
        60,
        async || {
            let got = rows(&http, &front).await;
            (got == expected).then_some(got)
        },
    )
    .await;
    assert_eq!(got.len(), expected.len());
    let lake_rows = eventually("the lake holds every event once", 60, async || {
        let rows = lake(&http, &front).await;
        (rows.as_array().map_or(0, Vec::len) >= all.len()).then_some(rows)
    })
    .await;
    assert_eq!(
        lake_rows, expected_lake,
        "lake rows differ from the reference's"
    );
}
