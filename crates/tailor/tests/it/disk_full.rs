//! A full disk: `tailor serve` on a small tmpfs (mounted by the test; it runs as root, as the
//! test command does) answers `507` with a reason while no space is left, stores nothing of
//! the refused batches, keeps serving reads, and takes events again once space is freed.
//! Afterwards the log opens clean (no corrupt segment) and holds every acknowledged event
//! exactly once.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common;
use common::{free_port, stop_gracefully, wait_ready};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tailor-disk-full",
            ])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a {size} tmpfs at {} failed (the test needs root, as `make test` has): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn batch(tag: &str, n: usize) -> (Vec<String>, Value) {
    let ids: Vec<String> = (0..n).map(|i| format!("{tag}-{i}")).collect();
    let events: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"type": "track", "event": "Product Viewed", "userId": format!("u{}", i % 7),
                   "messageId": id, "timestamp": "2026-01-15T10:00:00Z",
                   "properties": {"product_id": format!("P{}", i % 11), "category": "c",
                                  "padding": "x".repeat(200)}})
        })
        .collect();
    (ids, json!({ "batch": events }))
}

/// Writes a file until the disk refuses more; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    let chunk = vec![7u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_with_507_and_recovers_when_space_returns() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mount = Tmpfs::mount(&tmp.path().join("disk"), "24m");
    let data = mount.0.join("data");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let child = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("TAILOR__LOG__SEGMENT_BYTES", "1048576")
        .env("TAILOR__LAKE__ROLL_SECS", "1")
        .env("TAILOR_LOG", "off")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn tailor serve");
    wait_ready(&http, &url).await;
    let post = |body: Value| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let r = http
                .post(format!("{url}/v1/batch"))
                .json(&body)
                .timeout(Duration::from_secs(20))
                .send()
                .await
                .expect("post");
            let status = r.status().as_u16();
            let retry = r.headers().get("retry-after").cloned();
            (
                status,
                retry,
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    let mut acked: Vec<String> = Vec::new();
    for b in 0..10 {
        let (ids, body) = batch(&format!("before-{b}"), 50);
        let (status, _, v) = post(body).await;
        assert_eq!(status, 200, "{v}");
        acked.extend(ids);
    }

    // No space left: refused with 507, a reason and Retry-After; reads still answer.
    let filler = fill(&mount.0);
    let mut refused: Vec<String> = Vec::new();
    let mut refusals = 0;
    for b in 0..10 {
        let (ids, body) = batch(&format!("full-{b}"), 50);
        let (status, retry, v) = post(body).await;
        match status {
            507 => {
                refusals += 1;
                assert_eq!(v["code"], "disk_full", "{v}");
                assert!(retry.is_some(), "507 without Retry-After");
                refused.extend(ids);
            }
            // What the page cache still took before the disk filled up.
            200 => acked.extend(ids),
            other => panic!("a full disk answered {other}: {v}"),
        }
    }
    assert!(
        refusals >= 8,
        "only {refusals} of 10 batches refused on a full disk"
    );
    let health = http
        .get(format!("{url}/health"))
        .send()
        .await
        .expect("health");
    assert!(health.status().is_success());

    // Space returns: events are taken again, without a restart.
    std::fs::remove_file(&filler).expect("free space");
    for b in 0..10 {
        let (ids, body) = batch(&format!("after-{b}"), 50);
        let (status, _, v) = post(body).await;
        assert_eq!(status, 200, "after space returned: {v}");
        acked.extend(ids);
    }
    stop_gracefully(child);

    // The log opens clean and holds exactly the acknowledged events.
    let dump = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(["log", "dump", "--topic", "events", "--data-dir"])
        .arg(&data)
        .output()
        .expect("log dump");
    assert!(
        dump.status.success(),
        "the log does not read back: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in String::from_utf8_lossy(&dump.stdout).lines() {
        let rec: Value = serde_json::from_str(line).expect("ndjson");
        *counts
            .entry(rec["value"]["message_id"].as_str().expect("id").to_owned())
            .or_default() += 1;
    }
    for id in &acked {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "acknowledged {id} not stored once"
        );
    }
    for id in &refused {
        assert!(!counts.contains_key(id), "refused {id} was stored");
    }
    assert_eq!(counts.len(), acked.len());
    drop(mount);
}
