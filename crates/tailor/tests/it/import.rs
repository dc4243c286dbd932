//! `tailor import`: NDJSON and CSV files with bad lines go through the collector's checks
//! into the embedded log (accepted and rejected counts exact, rejects dead-lettered with
//! their line number and reason), re-importing is de-duplicated, the dataset presets map
//! tiny inline samples of each format, bad flags are named, and a log held by a running
//! server points to `--url`, which then imports through that server.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common;

fn run<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(args)
        .env("TAILOR_LOG", "warn")
        .output()
        .expect("run tailor")
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "tailor {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "tailor {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A summary figure: the number after `name` at the start of a line.
fn figure(summary: &str, name: &str) -> u64 {
    summary
        .lines()
        .find_map(|l| {
            l.strip_prefix(name)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {name:?} in:\n{summary}"))
}

/// (accepted, duplicates, rejected) of an import summary.
fn counts(summary: &str) -> (u64, u64, u64) {
    (
        figure(summary, "accepted"),
        figure(summary, "duplicates"),
        figure(summary, "rejected "),
    )
}

/// Record values of a topic, via `tailor log dump` (the log opened read-only).
fn dump(data: &str, topic: &str) -> Vec<Value> {
    ok(&["log", "dump", "--topic", topic, "--data-dir", data])
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("dump line is JSON");
            v["value"].clone()
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write input");
    p.to_str().expect("utf-8 path").to_owned()
}

/// A temporary directory holding the input file `name`, its path, and a data directory in it.
fn setup(name: &str, text: &str) -> (tempfile::TempDir, String, String) {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = write(tmp.path(), name, text);
    let data = data_dir(tmp.path(), "data");
    (tmp, file, data)
}

/// `tailor import FILE --format segment-ndjson --data-dir DATA`.
fn ndjson_import<'a>(file: &'a str, data: &'a str) -> [&'a str; 6] {
    [
        "import",
        file,
        "--format",
        "segment-ndjson",
        "--data-dir",
        data,
    ]
}

fn data_dir(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().expect("utf-8 path").to_owned()
}

/// Dead letters as (index, reason), sorted by index.
fn dead_letters(data: &str) -> Vec<(u64, String)> {
    let mut d: Vec<(u64, String)> = dump(data, "events.dead-letter")
        .iter()
        .map(|v| {
            (
                v["index"].as_u64().expect("index"),
                v["reason"].as_str().expect("reason").to_owned(),
            )
        })
        .collect();
    d.sort();
    d
}

const NDJSON: &str = r#"{"type":"track","event":"Product Viewed","userId":"u1","messageId":"m1","timestamp":"2026-01-15T10:00:00Z","properties":{"product_id":"p1"}}
{"type":"page","name":"Home","anonymousId":"a1","timestamp":"2026-01-15T10:01:00Z"}
{"type":"track","event":
   
{"type":"track","event":"Product Viewed","timestamp":"2026-01-15T10:02:00Z","properties":{"product_id":"p2"}}
{"type":"identify","userId":"u2","traits":{"plan":"pro"}}
{"type":"track","event":"Product Viewed","userId":"u3","timestamp":"yesterday","properties":{"product_id":"p3"}}"#;

#[test]
fn ndjson_rejects_bad_lines_by_number_and_reimport_is_deduplicated() {
    let (_tmp, file, data) = setup("events.ndjson", NDJSON);
    let args = ndjson_import(&file, &data);
    let first = ok(&args);
    assert_eq!(counts(&first), (3, 0, 3), "{first}");
    assert_eq!(figure(&first, "lines read"), 7, "{first}");
    assert!(first.contains("line 3: not JSON"), "{first}");

    let events = dump(&data, "events");
    assert_eq!(events.len(), 3);
    let mut ids: Vec<&str> = events
        .iter()
        .map(|e| e["message_id"].as_str().expect("id"))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids[2], "m1", "a messageId in the line is kept: {ids:?}");
    assert!(
        ids[0].starts_with("import:events.ndjson:2:")
            && ids[1].starts_with("import:events.ndjson:6:"),
        "missing ids are derived from file and line: {ids:?}"
    );

    let dead = dead_letters(&data);
    assert_eq!(dead.len(), 3, "{dead:?}");
    assert_eq!(dead[0].0, 3);
    assert!(dead[0].1.starts_with("line 3: not JSON"), "{dead:?}");
    assert_eq!(dead[1].0, 5);
    assert_eq!(dead[1].1, "line 5: userId or anonymousId is required");
    assert_eq!(dead[2].0, 7);
    assert!(dead[2].1.starts_with("line 7: timestamp:"), "{dead:?}");
    let endpoints: Vec<Value> = dump(&data, "events.dead-letter")
        .iter()
        .map(|v| v["endpoint"].clone())
        .collect();
    assert!(
        endpoints.iter().all(|e| e == "import:events.ndjson"),
        "{endpoints:?}"
    );

    let again = ok(&args);
    assert_eq!(counts(&again), (0, 3, 3), "{again}");
    assert_eq!(
        dump(&data, "events").len(),
        3,
        "re-import stores nothing twice"
    );
}

const CSV: &str = "ts,who,sku,action,cat,price
2026-01-15T10:00:00Z,u1,p1,view,c1,9.5
2026-01-15T10:01:00Z,u1,p1,Purchase,c1,9.5
2026-01-15T10:02:00Z,,p2,view,c2,1
not-a-time,u2,p2,view,c2,1
2026-01-15T10:03:00Z,u2,p3,like,c3,2
2026-01-15T10:04:00Z,u2,p3,zap,c3,2
\"2026-01-15T10:05:00Z\",\"u3\",\"p,4\",cart,c4,abc
2026-01-15T10:06:00Z,u3,\"p,4\",cart,c4,3
";

#[test]
fn csv_mapping_counts_rows_exactly_and_reimport_is_deduplicated() {
    let (_tmp, file, data) = setup("shop.csv", CSV);
    let args = [
        "import",
        &file,
        "--format",
        "csv",
        "--time-col",
        "ts",
        "--time-format",
        "rfc3339",
        "--user-col",
        "who",
        "--item-col",
        "3",
        "--event-col",
        "action",
        "--category-col",
        "cat",
        "--price-col",
        "price",
        "--event-map",
        "like=Product Added to Wishlist",
        "--data-dir",
        &data,
    ];
    let first = ok(&args);
    assert_eq!(counts(&first), (4, 0, 4), "{first}");

    let events = dump(&data, "events");
    let mut names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().expect("event"))
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "Order Completed",
            "Product Added",
            "Product Added to Wishlist",
            "Product Viewed"
        ]
    );
    let order = events
        .iter()
        .find(|e| e["event"] == "Order Completed")
        .expect("order");
    assert_eq!(order["interactions"][0]["kind"], "purchase");
    assert_eq!(order["interactions"][0]["item_id"], "p1");
    assert_eq!(order["interactions"][0]["price"], 9.5);
    let cart = events
        .iter()
        .find(|e| e["event"] == "Product Added")
        .expect("cart");
    assert_eq!(cart["interactions"][0]["item_id"], "p,4", "quoted field");
    assert_eq!(cart["event_time_ms"], 1_768_471_560_000_i64);

    let dead = dead_letters(&data);
    let lines: Vec<u64> = dead.iter().map(|d| d.0).collect();
    assert_eq!(lines, [4, 5, 7, 8], "{dead:?}");
    assert!(
        dead[0].1.contains("userId or anonymousId is required"),
        "{dead:?}"
    );
    assert!(dead[1].1.contains("--time-col (column 1)"), "{dead:?}");
    assert!(dead[2].1.contains("\"zap\" is not mapped"), "{dead:?}");
    assert!(dead[3].1.contains("--price-col (column 6)"), "{dead:?}");

    let again = ok(&args);
    assert_eq!(counts(&again), (0, 4, 4), "{again}");
    assert_eq!(dump(&data, "events").len(), 4);
}

#[test]
fn presets_map_each_dataset_format() {
    let tmp = tempfile::tempdir().expect("tmp");
    // Taobao UserBehavior: no header, the sample's last row is truncated.
    let taobao = write(
        tmp.path(),
        "UserBehavior.csv",
        "543462,1715,1464116,pv,1511658000\n662867,2244074,1575622,buy,1511658001\n\
         561558,3611281,965809,cart,1511658002\n301780,543546,4181361,pv,15",
    );
    let data = data_dir(tmp.path(), "taobao");
    let out = ok(&["import", &taobao, "--preset", "taobao", "--data-dir", &data]);
    assert_eq!(counts(&out), (3, 0, 1), "{out}");
    let mut kinds: Vec<String> = dump(&data, "events")
        .iter()
        .map(|e| {
            e["interactions"][0]["kind"]
                .as_str()
                .expect("kind")
                .to_owned()
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["add_to_cart", "purchase", "view"]);
    assert_eq!(dead_letters(&data)[0].0, 4);

    // YooChoose (session-rec prepared): tab-separated with a header, fractional seconds.
    let yoo = write(
        tmp.path(),
        "clicks.txt",
        "SessionId\tItemId\tTime\n1\t214536502\t1396860669.277\n1\t214536506\t1396860886.998\n",
    );
    let data = data_dir(tmp.path(), "yoochoose");
    let out = ok(&["import", &yoo, "--preset", "yoochoose", "--data-dir", &data]);
    assert_eq!(counts(&out), (2, 0, 0), "{out}");
    let events = dump(&data, "events");
    assert!(events
        .iter()
        .all(|e| e["anonymous_id"] == "1" && e["event"] == "Product Viewed"));
    assert!(events
        .iter()
        .any(|e| e["event_time_ms"] == 1_396_860_669_277_i64));

    // MovieLens u.data: tab-separated, no header; the rating is kept.
    let ml = write(
        tmp.path(),
        "u.data",
        "196\t242\t3\t881250949\n186\t302\t5\t891717742\n",
    );
    let data = data_dir(tmp.path(), "movielens");
    let out = ok(&["import", &ml, "--preset", "movielens", "--data-dir", &data]);
    assert_eq!(counts(&out), (2, 0, 0), "{out}");
    let events = dump(&data, "events");
    let rated = events
        .iter()
        .find(|e| e["user_id"] == "186")
        .expect("user 186");
    assert_eq!(rated["raw"]["properties"]["rating"], 5.0);
    assert_eq!(rated["interactions"][0]["item_id"], "302");
}

#[test]
fn bad_flags_and_missing_columns_are_named() {
    let (_tmp, file, data) = setup("a.csv", "user,item\nu1,p1\n");
    let base = ["import", file.as_str(), "--data-dir", data.as_str()];
    let with = |extra: &[&'static str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| (*s).to_owned()).collect()
    };
    assert!(fails(&base).contains("--format is required"));
    let e = fails(&with(&["--format", "csv", "--user-col", "user"]));
    assert!(e.contains("--item-col"), "{e}");
    let e = fails(&with(&[
        "--format",
        "csv",
        "--user-col",
        "uid",
        "--item-col",
        "item",
    ]));
    assert!(
        e.contains("--user-col \"uid\"") && e.contains("columns: user, item"),
        "{e}"
    );
    let e = fails(&with(&["--format", "segment-ndjson", "--user-col", "user"]));
    assert!(e.contains("--user-col applies to --format csv only"), "{e}");
    let e = fails(&with(&["--preset", "taobao", "--delimiter", ";;"]));
    assert!(e.contains("--delimiter"), "{e}");
    let e = fails(&with(&[
        "--format",
        "csv",
        "--user-col",
        "1",
        "--item-col",
        "2",
        "--event-map",
        "pv",
    ]));
    assert!(e.contains("--event-map \"pv\""), "{e}");
    let e = fails(&[
        "import",
        "/nonexistent/x.csv",
        "--preset",
        "taobao",
        "--data-dir",
        &data,
    ]);
    assert!(e.contains("/nonexistent/x.csv"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_holds_the_log_and_url_imports_through_it() {
    let (_tmp, file, data) = setup("events.ndjson", NDJSON);
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = common::spawn_serve(&data, port);
    common::wait_ready(&reqwest::Client::new(), &url).await;
    let direct = ndjson_import(&file, &data);
    let e = fails(&direct);
    assert!(e.contains("locked") && e.contains("--url"), "{e}");
    let via = ["import", &file, "--format", "segment-ndjson", "--url", &url];
    let first = ok(&via);
    assert_eq!(counts(&first), (3, 0, 3), "{first}");
    assert!(
        first.contains("line 3: not JSON"),
        "local reason reported: {first}"
    );
    assert!(
        first.contains("line 5: userId or anonymousId is required"),
        "{first}"
    );
    let again = ok(&via);
    assert_eq!(counts(&again), (0, 3, 3), "{again}");
    // The server kept every reject, bad JSON included, in its dead-letter topic.
    assert_eq!(dump(&data, "events.dead-letter").len(), 6);
    assert_eq!(dump(&data, "events").len(), 3);
    server.kill().expect("stop server");
    let _ = server.wait();
}
