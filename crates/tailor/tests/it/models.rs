//! CLI scenario: events stored by `tailor demo` → `tailor train` (v1, promoted) → a second
//! train (v2) → `tailor models rollback` back to v1. And `tailor eval` on a CSV file.

use std::path::Path;
use std::process::{Command, Output};

fn tailor(cwd: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(args)
        .current_dir(cwd)
        .env("TAILOR_LOG", "warn")
        .output()
        .expect("run tailor");
    assert!(
        out.status.success(),
        "tailor {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The version `models list` marks as served.
fn served(cwd: &Path, data: &str) -> String {
    let list = stdout(&tailor(cwd, &["models", "list", "--data-dir", data]));
    let line = list
        .lines()
        .find(|l| l.starts_with("* default"))
        .unwrap_or_else(|| panic!("no served version in:\n{list}"));
    line.split_whitespace()
        .nth(2)
        .expect("version column")
        .to_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[test]
fn train_promote_and_rollback() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cwd = tmp.path();
    let data = cwd.join("data");
    let data = data.to_str().expect("utf-8 path");
    let listen = format!("127.0.0.1:{}", free_port());
    tailor(
        cwd,
        &[
            "demo",
            "--data-dir",
            data,
            "--listen",
            &listen,
            "--exit",
            "--users",
            "150",
            "--items",
            "60",
            "--days",
            "3",
        ],
    );

    let first = stdout(&tailor(
        cwd,
        &["train", "--data-dir", data, "--holdout-eval"],
    ));
    assert!(first.contains("saved default v1"), "{first}");
    assert!(
        first.contains("HR@10"),
        "hold-out metrics printed:\n{first}"
    );
    assert_eq!(served(cwd, data), "v1");
    let meta =
        std::fs::read_to_string(cwd.join("data/models/default/v1/meta.json")).expect("meta.json");
    let meta: serde_json::Value = serde_json::from_str(&meta).expect("json");
    assert_eq!(meta["kind"], "blend");
    assert!(meta["data"]["rows"].as_u64().unwrap_or(0) > 0, "{meta}");
    assert!(meta["metrics"]["metrics"].is_array(), "{meta}");

    let second = stdout(&tailor(cwd, &["train", "--data-dir", data]));
    assert!(
        second.contains("saved default v2") && second.contains("was v1"),
        "{second}"
    );
    assert_eq!(served(cwd, data), "v2");

    let rb = stdout(&tailor(
        cwd,
        &["models", "rollback", "default", "--data-dir", data],
    ));
    assert!(rb.contains("rolled back to v1"), "{rb}");
    assert_eq!(served(cwd, data), "v1");
    tailor(
        cwd,
        &["models", "promote", "default", "2", "--data-dir", data],
    );
    assert_eq!(served(cwd, data), "v2");
}

/// `shop.csv` in `cwd`: 120 users, each viewing 8 items of one of eight overlapping
/// neighbourhoods of 7 items (drawn from `seed`), user `u` starting `u × spacing_secs` after
/// the first.
fn write_shop_csv(cwd: &Path, seed: u64, spacing_secs: u64) {
    let mut csv = String::from("user,item,ts,kind\n");
    let mut s = seed;
    for u in 0..120u64 {
        let base = u % 8 * 5;
        for j in 0..8u64 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let item = base + (s >> 33) % 7;
            csv += &format!(
                "u{u},i{item},{},view\n",
                1_700_000_000 + u * spacing_secs + j * 60
            );
        }
    }
    std::fs::write(cwd.join("shop.csv"), csv).expect("csv");
}

#[test]
fn eval_a_csv_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cwd = tmp.path();
    write_shop_csv(cwd, 11, 50);
    let out = stdout(&tailor(
        cwd,
        &[
            "eval",
            "--dataset",
            "shop.csv",
            "--quick",
            "--threads",
            "1",
            "--format",
            "json",
            "--svg",
        ],
    ));
    let report: serde_json::Value = serde_json::from_str(&out).expect("json report");
    let names: Vec<&str> = report["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["trending", "item-knn", "als", "ease", "sknn", "repeat", "blend"]
    );
    assert!(cwd.join("eval-shop-temporal.svg").is_file());

    let bad = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(["eval", "--dataset", "missing.csv"])
        .current_dir(cwd)
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--dataset missing.csv"));
}

#[test]
fn eval_replays_a_split_through_the_serving_path() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cwd = tmp.path();
    // 120 users over five days.
    write_shop_csv(cwd, 5, 3600);
    for protocol in ["temporal", "session"] {
        let out = stdout(&tailor(
            cwd,
            &[
                "eval",
                "--dataset",
                "shop.csv",
                "--protocol",
                protocol,
                "--replay",
                "--threads",
                "1",
                "--format",
                "json",
            ],
        ));
        let r: serde_json::Value = serde_json::from_str(&out).expect("json report");
        let first = if protocol == "session" {
            "HR@20"
        } else {
            "HR@10"
        };
        assert_eq!(r["library"][0][0], first, "{r}");
        assert_eq!(r["served"][0][0], first, "{r}");
        let served = r["served"][0][1].as_f64().expect("served figure");
        let library = r["library"][0][1].as_f64().expect("library figure");
        assert!(r["cases"].as_u64().expect("cases") > 10, "{r}");
        // 40 items, at most 8 seen per user: every answer holds its 20 items.
        assert_eq!(r["short_answers"], 0, "{r}");
        // Neighbourhoods are easy to learn: both paths find most next items.
        assert!(served > 0.5 && library > 0.5, "{r}");
    }
    // A configuration for the replay server: the trained model alone (no live share),
    // with keys the replay sets aside for its own client.
    std::fs::write(
        cwd.join("replay.toml"),
        "[recommend]\nlive_weight = 0.0\n[collector]\nwrite_keys = [\"wk_replay_test\"]\n",
    )
    .expect("config");
    let out = stdout(&tailor(
        cwd,
        &[
            "eval",
            "--dataset",
            "shop.csv",
            "--protocol",
            "temporal",
            "--replay",
            "--config",
            "replay.toml",
            "--threads",
            "1",
            "--format",
            "json",
        ],
    ));
    let r: serde_json::Value = serde_json::from_str(&out).expect("json report");
    assert!(r["served"][0][1].as_f64().expect("served") > 0.5, "{r}");
    std::fs::write(cwd.join("bad.toml"), "[recommend]\nlive_wieght = 0.0\n").expect("config");
    let bad = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args([
            "eval",
            "--dataset",
            "shop.csv",
            "--replay",
            "--config",
            "bad.toml",
        ])
        .current_dir(cwd)
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("live_wieght"));
    let bad = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args([
            "eval",
            "--dataset",
            "shop.csv",
            "--replay",
            "--surface",
            "Home!",
        ])
        .current_dir(cwd)
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--surface"));
}
