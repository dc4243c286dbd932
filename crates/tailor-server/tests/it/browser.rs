//! `tailor.js` and the demo shop in a real browser: headless Chromium (Debian's `chromium`
//! and `chromium-driver`, installed by `make test`) driven by Python selenium from the test
//! venv. The shop browses products, adds one to the cart and clicks a recommendation; the
//! attribution stats must then count exactly the lists the page showed and the one click.
//! The last page is saved as `target/test-artifacts/demo-shop.png`.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{config, start, TestServer};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CATEGORIES: [&str; 3] = ["shoes", "hats", "bags"];
const STYLES: [&str; 10] = [
    "Classic", "Trail", "City", "Summer", "Winter", "Weekend", "Studio", "Canyon", "Harbor",
    "Alpine",
];

pub(crate) fn python() -> PathBuf {
    std::env::var("TAILOR_TEST_PYTHON").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"),
        PathBuf::from,
    )
}

/// `$CARGO_TARGET_DIR/test-artifacts`, else the workspace's `target/test-artifacts`.
pub(crate) fn artifacts_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("test-artifacts")
}

/// Fails (never skips) when the browser or the driver is missing.
pub(crate) fn check_browser(py: &Path) {
    for bin in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: run `make test` (scripts/test.sh installs Debian's chromium and \
             chromium-driver) or `apt-get install chromium chromium-driver`"
        );
    }
    let probe = Command::new(py).args(["-c", "import selenium"]).output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "{} cannot import selenium: run `make test` (scripts/test.sh installs selenium into \
         .venv) or set TAILOR_TEST_PYTHON",
        py.display()
    );
}

/// Runs `tests/browser/<script> URL SCREENSHOT` with the venv's Python.
async fn browser_script(py: PathBuf, script: &str, url: &str, shot: &Path) -> std::process::Output {
    let script = format!("{}/tests/browser/{script}", env!("CARGO_MANIFEST_DIR"));
    let (url, shot) = (url.to_owned(), shot.to_path_buf());
    tokio::task::spawn_blocking(move || Command::new(py).arg(script).arg(url).arg(shot).output())
        .await
        .expect("join")
        .expect("python runs")
}

/// 30 items over 3 categories, with titles and prices.
fn catalog() -> Vec<Value> {
    (0..30)
        .map(|i| {
            let cat = CATEGORIES[i % 3];
            json!({
                "id": format!("{}-{:02}", &cat[..cat.len() - 1], i / 3 + 1),
                "title": format!("{} {}", STYLES[i / 3], &cat[..cat.len() - 1]),
                "categories": [cat],
                "price": 15.0 + (i * 7 % 40) as f64 + 0.99,
            })
        })
        .collect()
}

/// A few hundred views and clicks of 20 shoppers, each mostly in one category, over the
/// last hours (so windowed features and trending see them).
fn history(items: &[Value]) -> Vec<Value> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let mut x: u64 = 42;
    let mut next = |n: usize| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) as usize % n
    };
    let mut events = Vec::new();
    for u in 0..20 {
        let home = u % 3;
        for e in 0..15 {
            let cat = if next(5) == 0 { next(3) } else { home };
            let item = &items[cat + 3 * next(10)];
            let event = if next(4) == 0 {
                "Product Clicked"
            } else {
                "Product Viewed"
            };
            let at = now - 3_600_000 + (u * 15 + e) as i64 * 5_000;
            events.push(json!({
                "type": "track", "event": event, "userId": format!("shopper-{u}"),
                "messageId": format!("hist-{u}-{e}"),
                "timestamp": tailor_event::time::format_ms(at),
                "properties": {"product_id": item["id"], "category": item["categories"][0],
                               "price": item["price"]},
            }));
        }
    }
    events
}

/// The rows of `GET /v1/stats/recommendations`, polled until `done` holds (or 15 s pass).
async fn stats_until(s: &TestServer, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, stats) = s.get("/v1/stats/recommendations").await;
        let rows = stats["rows"].as_array().cloned().unwrap_or_default();
        if done(&rows) || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn demo_shop_in_headless_chromium_reports_impressions_and_a_click() {
    let py = python();
    check_browser(&py);
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    // One model all along: a retrained version would be another arm.
    cfg.models.retrain = false;
    let s = start(cfg).await;

    // The assets are served.
    for (path, kind) in [
        ("/tailor.js", "application/javascript"),
        ("/demo/shop", "text/html"),
    ] {
        let resp = s
            .http
            .get(format!("{}{path}", s.url))
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status(), 200, "{path}");
        let ct = resp.headers()["content-type"].to_str().expect("ascii");
        assert!(ct.starts_with(kind), "{path}: {ct}");
    }

    let items = catalog();
    let (status, put) = s.post("/v1/items", json!({"items": items})).await;
    assert_eq!(status, 200, "{put}");
    let (status, ack) = s.post("/v1/batch", json!({"batch": history(&items)})).await;
    assert_eq!((status, &ack["accepted"]), (200, &json!(300)), "{ack}");
    s.wait_processed().await;

    let shot = artifacts_dir().join("demo-shop.png");
    std::fs::create_dir_all(shot.parent().expect("dir")).expect("artifacts dir");
    let _ = std::fs::remove_file(&shot);
    let out = browser_script(py, "shop.py", &s.url, &shot).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser script failed (screenshot: {}):\n{stdout}\n{}",
        shot.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shot.exists(), "no screenshot at {}", shot.display());
    let run: Value = serde_json::from_str(stdout.trim()).expect("script prints JSON");
    assert_eq!(run["console_errors"], json!([]), "{run}");

    // What the page showed: home twice, product pages three times, the cart once.
    let lists = run["lists"].as_array().expect("lists");
    let mut per_surface: BTreeMap<&str, u64> = BTreeMap::new();
    for l in lists {
        *per_surface
            .entry(l["surface"].as_str().expect("surface"))
            .or_default() += 1;
    }
    assert_eq!(
        per_surface,
        BTreeMap::from([("cart", 1), ("home", 2), ("product", 3)]),
        "{run}"
    );
    let clicked = &run["clicked"];
    let variant = clicked["variant"].as_str().expect("variant");
    assert_eq!(clicked["surface"], "cart");
    assert!(
        lists.iter().any(|l| l["rec_id"] == clicked["rec_id"]
            && l["items"]
                .as_array()
                .expect("items")
                .contains(&clicked["item_id"])),
        "the clicked item was in the cart list: {run}"
    );

    // Every list served was shown and reported once; the one click counts for the cart's
    // list only: that arm has exactly 1 impression and 1 click (CTR 1.0).
    let rows = stats_until(&s, |rows| {
        rows.iter()
            .any(|r| r["surface"] == "cart" && r["clicks"] == 1 && r["impressions"] == 1)
    })
    .await;
    for (surface, n) in &per_surface {
        let arm: Vec<&Value> = rows
            .iter()
            .filter(|r| r["surface"] == *surface && r["variant"] == variant)
            .collect();
        assert_eq!(arm.len(), 1, "one arm for {surface}: {rows:?}");
        let r = arm[0];
        let clicks = u64::from(*surface == "cart");
        let got = [
            "served",
            "impressions",
            "clicks",
            "add_to_carts",
            "purchases",
        ]
        .map(|k| r[k].as_u64().expect("count"));
        assert_eq!(got, [*n, *n, clicks, 0, 0], "{surface}: {r}");
        assert_eq!(r["ctr"].as_f64(), Some(clicks as f64 / *n as f64), "{r}");
    }
    assert_eq!(rows.len(), per_surface.len(), "no other arm: {rows:?}");

    // The browser's Product Viewed events reached the feature store under its anonymous id.
    s.wait_processed().await;
    let anon = run["anonymous_id"].as_str().expect("anonymous id");
    let (_, f) = s.get(&format!("/v1/features/user/{anon}")).await;
    let recent = f["values"]["user_last_items"].as_array().expect("recent");
    for v in run["viewed"].as_array().expect("viewed") {
        assert!(recent.contains(v), "{v} viewed: {f}");
    }
    assert_eq!(run["viewed"].as_array().map(Vec::len), Some(3), "{run}");
    s.server.shutdown().await.expect("shutdown");
}

/// `GET /v1/items`, which the shop lists products with: ordered by id, paged with `next`,
/// filtered by category, `limit` checked.
#[tokio::test]
async fn the_catalog_is_listed_by_id_in_pages() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = start(config(dir.path())).await;
    let (status, empty) = s.get("/v1/items").await;
    assert_eq!((status, empty), (200, json!({"items": [], "next": null})));
    let items = catalog();
    s.post("/v1/items", json!({"items": items})).await;
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let mut all: Vec<String> = items
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect();
    all.sort();
    let (_, first) = s.get("/v1/items?limit=12").await;
    assert_eq!(ids(&first), all[..12]);
    assert_eq!(first["next"], json!(all[11]));
    assert_eq!(first["items"][0]["title"], "Classic bag", "{first}");
    let (_, rest) = s
        .get(&format!("/v1/items?limit=100&after={}", all[11]))
        .await;
    assert_eq!(ids(&rest), all[12..]);
    assert_eq!(rest["next"], Value::Null, "a short page is the last");
    let (_, hats) = s.get("/v1/items?category=hats").await;
    assert_eq!(ids(&hats).len(), 10);
    assert!(ids(&hats).iter().all(|i| i.starts_with("hat-")), "{hats}");
    let (_, default) = s.get("/v1/items").await;
    assert_eq!(ids(&default).len(), 30);
    for bad in ["0", "1001", "x"] {
        let (status, e) = s.get(&format!("/v1/items?limit={bad}")).await;
        assert_eq!(status, 400, "limit={bad}: {e}");
        assert!(e["message"].as_str().expect("msg").contains("limit"), "{e}");
    }
    let (status, _) = s.get("/v1/items?colour=red").await;
    assert_eq!(status, 400, "unknown parameters are refused");
    s.server.shutdown().await.expect("shutdown");
}

/// Live traffic for the dashboard: views, recommendation lists shown and clicked, and an
/// event the collector rejects, until `stop` is set.
async fn traffic(
    url: String,
    items: Vec<Value>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let http = reqwest::Client::new();
    let mut round = 0u64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let now = tailor_event::time::format_ms(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_millis() as i64,
        );
        let mut batch: Vec<Value> = (0..20)
            .map(|i| {
                let item = &items[(round as usize * 7 + i) % items.len()];
                json!({"type": "track", "event": "Product Viewed",
                       "userId": format!("dash-{}", i % 5), "timestamp": now,
                       "messageId": format!("dash-{round}-{i}"),
                       "properties": {"product_id": item["id"], "category": item["categories"][0]}})
            })
            .collect();
        if round.is_multiple_of(5) {
            // Rejected: a track call without an event name.
            batch.push(
                json!({"type": "track", "userId": "dash-0", "messageId": format!("bad-{round}")}),
            );
        }
        let _ = http
            .post(format!("{url}/v1/batch"))
            .json(&json!({ "batch": batch }))
            .send()
            .await;
        let user = format!("dash-{}", round % 5);
        if let Ok(resp) = http
            .get(format!(
                "{url}/v1/recommendations?user_id={user}&k=4&surface=home"
            ))
            .send()
            .await
        {
            if let Ok(recs) = resp.json::<Value>().await {
                let ids = common::item_ids(&recs);
                if let (Some(rec_id), Some(first)) = (recs["rec_id"].as_str(), ids.first()) {
                    let mut shown = vec![json!({"type": "track", "event": "Product List Viewed",
                        "userId": user, "messageId": format!("list-{round}"),
                        "properties": {"rec_id": rec_id, "list_id": "home",
                            "products": ids.iter().map(|i| json!({"product_id": i})).collect::<Vec<_>>()}})];
                    if round.is_multiple_of(2) {
                        shown.push(json!({"type": "track", "event": "Product Clicked",
                            "userId": user, "messageId": format!("click-{round}"),
                            "properties": {"rec_id": rec_id, "product_id": first}}));
                    }
                    let _ = http
                        .post(format!("{url}/v1/batch"))
                        .json(&json!({ "batch": shown }))
                        .send()
                        .await;
                }
            }
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A burst before the live traffic, as the demo or an import sends: 3,000 views at once.
async fn burst(s: &TestServer, items: &[Value]) {
    let now = tailor_event::time::format_ms(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64,
    );
    for b in 0..6 {
        let batch: Vec<Value> = (0..500)
            .map(|i| {
                let item = &items[(b * 500 + i) % items.len()];
                json!({"type": "track", "event": "Product Viewed",
                       "userId": format!("burst-{}", i % 50), "timestamp": now,
                       "messageId": format!("burst-{b}-{i}"),
                       "properties": {"product_id": item["id"], "category": item["categories"][0]}})
            })
            .collect();
        let (status, ack) = s.post("/v1/batch", json!({ "batch": batch })).await;
        assert_eq!(status, 200, "{ack}");
    }
}

/// The `N` of `… PREFIX N s ago`, when the age is in seconds.
fn seconds_after(text: &str, prefix: &str) -> Option<f64> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    let mut words = rest.split_whitespace();
    let n = words.next()?.parse().ok()?;
    (words.next()? == "s").then_some(n)
}

/// A count before `word` in `text` (`3 skipped` → 3).
fn count_before(text: &str, word: &str) -> Option<usize> {
    let at = text.find(&format!(" {word}"))?;
    text[..at].rsplit([' ', ',']).next()?.parse().ok()
}

/// The built-in dashboard at `/`, in headless Chromium, on a server with a burst and then
/// live traffic: every chart draws data, every stage has a status and says what it
/// measures, the throughput chart shows the live rate next to the burst, the quality tile
/// and card count skipped checks apart, the quality, dead-letter and model tables fill, and
/// nothing is fetched from another origin. Screenshot: `target/test-artifacts/dashboard.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium_draws_live_charts() {
    let py = python();
    check_browser(&py);
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.models.retrain = false;
    cfg.lake.roll_secs = 1;
    cfg.quality.min_rows = 5;
    let s = start(cfg).await;

    // The page is one self-contained document: no script, style or image from elsewhere.
    let resp = s.http.get(format!("{}/", s.url)).send().await.expect("get");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/html"));
    let page = resp.text().await.expect("text");
    for external in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!page.contains(external), "the dashboard loads {external}…");
    }

    let items = catalog();
    let (status, put) = s.post("/v1/items", json!({"items": items})).await;
    assert_eq!(status, 200, "{put}");
    let (status, ack) = s.post("/v1/batch", json!({"batch": history(&items)})).await;
    assert_eq!(status, 200, "{ack}");
    burst(&s, &items).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn(traffic(s.url.clone(), items.clone(), stop.clone()));

    let shot = artifacts_dir().join("dashboard.png");
    std::fs::create_dir_all(shot.parent().expect("dir")).expect("artifacts dir");
    let _ = std::fs::remove_file(&shot);
    let out = browser_script(py, "dashboard.py", &s.url, &shot).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.await.expect("traffic");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the dashboard script failed (screenshot: {}):\n{stdout}\n{}",
        shot.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shot.exists(), "no screenshot at {}", shot.display());
    let run: Value = serde_json::from_str(stdout.trim()).expect("script prints JSON");
    assert_eq!(run["console_errors"], json!([]), "{run}");
    for chart in [
        "throughput",
        "freshness",
        "latency",
        "errors",
        "ctr",
        "memory",
    ] {
        assert!(
            run["points"][chart].as_u64() > Some(0),
            "{chart} is empty: {run}"
        );
        assert!(
            run["paths"][chart].as_u64() > Some(0),
            "{chart} drew nothing: {run}"
        );
    }
    let stages = run["stages"].as_object().expect("stages");
    let mut names: Vec<&str> = stages.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "collector",
            "features",
            "lake",
            "models",
            "quality",
            "serving"
        ],
        "{run}"
    );
    for (name, status) in stages {
        assert!(
            ["green", "amber", "red", "grey"].contains(&status.as_str().expect("status")),
            "{name}: {status}"
        );
    }
    // Healthy traffic: the collector and the processor are green.
    assert_eq!(stages["collector"], "green", "{run}");
    assert_eq!(stages["features"], "green", "{run}");
    let dead = run["dead_letters"].as_array().expect("dead letters");
    assert!(
        dead.iter()
            .any(|r| r[2].as_str().is_some_and(|x| x.contains("event"))),
        "the rejected event's reason is listed: {run}"
    );
    let quality = run["quality"].as_array().expect("quality");
    assert!(!quality.is_empty(), "{run}");

    // The features tile: the processing lag in records, and the newest applied event's age
    // in event time (live events are stamped now: seconds, not the allowed lateness).
    let features = run["details"]["features"]
        .as_str()
        .expect("features detail");
    assert!(
        features.contains("records behind the log")
            || features.contains("all logged events applied"),
        "{features}"
    );
    let age = seconds_after(features, "newest applied event time ")
        .unwrap_or_else(|| panic!("no event-time age in {features:?}"));
    assert!(age < 60.0, "live events applied {age} s ago? {features}");
    let lake = run["details"]["lake"].as_str().expect("lake detail");
    assert!(
        lake.contains("newest committed event time") || lake.contains("nothing committed"),
        "{lake}"
    );

    // The live rate is drawn well above the baseline next to the burst (log scale), not as
    // a flat line under it.
    let t = &run["throughput"];
    assert_eq!(t["scale"], "log", "{run}");
    let (last, peak) = (
        t["last_lift"].as_f64().expect("last point"),
        t["peak_lift"].as_f64().expect("peak"),
    );
    assert!(peak > 0.8, "the burst reaches the top: {run}");
    assert!(
        last > 0.25,
        "live traffic drawn flat at {last:.2} of the height: {run}"
    );

    // Quality: passes, skips and failures counted apart, by the same checks as the table.
    let by_status = |st: &str| quality.iter().filter(|r| r[1] == st).count();
    let tile = run["details"]["quality"].as_str().expect("quality detail");
    assert!(!tile.contains("every check passes"), "{tile}");
    assert_eq!(
        count_before(tile, "pass"),
        Some(by_status("pass")),
        "{tile} {run}"
    );
    assert_eq!(
        count_before(tile, "skipped"),
        Some(by_status("skip")),
        "{tile} {run}"
    );
    assert!(
        tile.ends_with(&format!(", {} fail", by_status("fail"))),
        "{tile} {run}"
    );
    if by_status("skip") > 0 {
        assert!(tile.contains("skipped ("), "a skip says why: {tile}");
    }
    let summary = run["quality_summary"].as_str().expect("summary");
    assert!(
        summary.starts_with(&format!(
            "{} pass, {} skipped",
            by_status("pass"),
            by_status("skip")
        )),
        "{summary} {run}"
    );
    s.server.shutdown().await.expect("shutdown");
}
