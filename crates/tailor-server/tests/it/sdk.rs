//! The official SDKs, installed from the package registries by `scripts/test.sh`, send to the
//! collector unchanged, and every event each sends must be stored: Segment's Python SDK
//! (PyPI, into `.venv`), Segment's and RudderStack's Node SDKs (npm, into `.npm-sdks`, the
//! versions of `tests/sdk/package.json`). `docs/sdks.md` cites these tests. The browser SDKs
//! are driven in `browser_sdk.rs`.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{config, start, TestServer};
use serde_json::{json, Value};

/// The Python that has `segment-analytics-python`: `$TAILOR_TEST_PYTHON`, else the
/// workspace's `.venv` made by `scripts/test.sh`.
fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TAILOR_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
}

/// The `node_modules` holding the npm SDKs: `$TAILOR_TEST_NODE_MODULES`, else the
/// workspace's `.npm-sdks/node_modules` made by `scripts/test.sh`. Fails (never skips) when
/// Node or one of `packages` is missing, naming the command that installs them.
pub(crate) fn node_modules(packages: &[&str]) -> PathBuf {
    let dir = std::env::var("TAILOR_TEST_NODE_MODULES").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.npm-sdks/node_modules"),
        PathBuf::from,
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "node is not on PATH: run `make test` (scripts/test.sh installs Debian's nodejs and npm \
         when missing)"
    );
    for p in packages {
        assert!(
            dir.join(p).join("package.json").exists(),
            "{p} is not in {}: run `make test` (scripts/test.sh installs the SDKs of \
             crates/tailor-server/tests/sdk/package.json into .npm-sdks) or set \
             TAILOR_TEST_NODE_MODULES",
            dir.display()
        );
    }
    dir
}

/// Runs `program args…` with `env`, killed after `limit`; its stdout must be the JSON list of
/// the message ids it sent.
pub(crate) async fn run_sender(
    program: &Path,
    args: &[&str],
    env: &[(&str, &Path)],
    limit: Duration,
) -> Vec<String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(limit, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} ran over {limit:?}", program.display()))
        .unwrap_or_else(|e| panic!("{} does not run: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} {args:?} failed: {stdout}\n{}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// `sql` against the lake, as JSON rows.
async fn sql_rows(s: &TestServer, sql: &str) -> Vec<Value> {
    let (status, r) = s.post("/v1/sql", json!({ "sql": sql })).await;
    assert_eq!(status, 200, "{sql}: {r}");
    r["rows"].as_array().cloned().unwrap_or_default()
}

/// Every message id in `sent` reached the live processor and the lake (polled for 30 s), and
/// nothing was dead-lettered; returns the number of stored events per call type.
pub(crate) async fn assert_all_stored(s: &TestServer, sent: &[String]) -> BTreeMap<String, u64> {
    let status = s.wait_processed().await;
    assert_eq!(
        status["live"]["events_processed"],
        sent.len(),
        "every SDK event processed: {status}"
    );
    let (_, dl) = s.get("/v1/dead-letters").await;
    assert_eq!(
        dl["dead_letters"],
        Value::Array(vec![]),
        "no SDK event rejected: {dl}"
    );
    let mut want: Vec<&str> = sent.iter().map(String::as_str).collect();
    want.sort_unstable();
    want.dedup();
    assert_eq!(
        want.len(),
        sent.len(),
        "the SDK sent distinct ids: {sent:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = sql_rows(
            s,
            "SELECT DISTINCT message_id FROM events ORDER BY message_id",
        )
        .await;
        let got: Vec<&str> = rows
            .iter()
            .filter_map(|r| r["message_id"].as_str())
            .collect();
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lake holds {got:?}, not every id sent {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sql_rows(
        s,
        "SELECT type, count(DISTINCT message_id) AS n FROM events GROUP BY type",
    )
    .await
    .iter()
    .map(|r| {
        (
            r["type"].as_str().expect("type").to_owned(),
            r["n"].as_u64().expect("n"),
        )
    })
    .collect()
}

/// A server whose collector takes one write key, with a lake that commits every second.
async fn server(dir: &Path, write_key: &str) -> TestServer {
    let mut cfg = config(dir);
    cfg.collector.write_keys = vec![write_key.into()];
    cfg.lake.roll_secs = 1;
    start(cfg).await
}

#[tokio::test]
async fn official_segment_python_sdk_is_accepted() {
    let py = python();
    let probe = Command::new(&py)
        .args(["-c", "import segment.analytics"])
        .output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "{} cannot import segment.analytics: run `make test` (scripts/test.sh installs \
         segment-analytics-python into .venv) or set TAILOR_TEST_PYTHON",
        py.display()
    );
    let dir = tempfile::tempdir().expect("tmp");
    let s = server(dir.path(), "sdk-key").await;
    let script = format!("{}/tests/sdk/segment_send.py", env!("CARGO_MANIFEST_DIR"));
    let sent = run_sender(
        &py,
        &[&script, &s.url, "sdk-key"],
        &[],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(sent.len(), 35);
    let per_type = assert_all_stored(&s, &sent).await;
    assert_eq!(
        per_type,
        [("identify", 5), ("page", 5), ("track", 25)]
            .into_iter()
            .map(|(t, n)| (t.to_owned(), n))
            .collect()
    );
    // The purchases were understood: the bought item is not recommended back.
    let (_, recs) = s.get("/v1/recommendations?user_id=sdk-user-0").await;
    assert!(
        recs["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["item_id"] != "SDK-P0"),
        "{recs}"
    );
    s.server.shutdown().await.expect("shutdown");
}

/// Runs `tests/sdk/<script> ORIGIN WRITE_KEY` with Node, the SDKs on `NODE_PATH`, and checks
/// what a Node sender script sends (3 users, each: an anonymous view, alias, identify, three
/// views, page, screen, group, a purchase) all arrived and was understood.
async fn node_sdk_sends_every_call(script: &str, package: &str, user_prefix: &str) {
    let modules = node_modules(&[package]);
    let dir = tempfile::tempdir().expect("tmp");
    let s = server(dir.path(), "node-key").await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(script);
    let sent = run_sender(
        Path::new("node"),
        &[script.to_str().expect("utf-8 path"), &s.url, "node-key"],
        &[("NODE_PATH", &modules)],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(sent.len(), 30, "{sent:?}");
    let per_type = assert_all_stored(&s, &sent).await;
    let want: BTreeMap<String, u64> = [
        ("alias", 3),
        ("group", 3),
        ("identify", 3),
        ("page", 3),
        ("screen", 3),
        ("track", 15),
    ]
    .into_iter()
    .map(|(t, n)| (t.to_owned(), n))
    .collect();
    assert_eq!(per_type, want);
    // The views and the purchase were read as interactions with their items.
    let rows = sql_rows(
        &s,
        &format!(
            "SELECT interaction, count(*) AS n FROM events WHERE user_id = '{user_prefix}-user-0' \
             AND interaction IS NOT NULL GROUP BY interaction ORDER BY interaction"
        ),
    )
    .await;
    assert_eq!(
        rows,
        vec![
            json!({"interaction": "purchase", "n": 1}),
            json!({"interaction": "view", "n": 3})
        ]
    );
    s.wait_processed().await;
    let (_, f) = s
        .get(&format!("/v1/features/user/{user_prefix}-user-0"))
        .await;
    let recent = f["values"]["user_last_items"].as_array().expect("recent");
    assert!(!recent.is_empty(), "{f}");
    s.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn official_segment_node_sdk_is_accepted() {
    node_sdk_sends_every_call("segment_node_send.js", "@segment/analytics-node", "node").await;
}

#[tokio::test]
async fn rudderstack_node_sdk_is_accepted() {
    node_sdk_sends_every_call("rudder_node_send.js", "@rudderstack/rudder-sdk-node", "rs").await;
}
