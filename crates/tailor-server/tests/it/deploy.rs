//! The operator files in `deploy/`: the Grafana dashboard is valid JSON whose every query
//! is valid PromQL (checked by `promtool check rules` on the queries as recording rules),
//! and every metric the dashboard and the alert rules use is one the code emits.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn promtool() -> String {
    let tool = std::env::var("TAILOR_TEST_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    match Command::new(&tool).arg("--version").output() {
        Ok(o) if o.status.success() => tool,
        _ => panic!(
            "{tool} not found: run the test command (make test), which installs Debian's \
             prometheus package, or install promtool and set TAILOR_TEST_PROMTOOL"
        ),
    }
}

/// Every `expr` of the dashboard's panels.
fn dashboard_queries() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("deploy/grafana/tailor.json"))
        .expect("deploy/grafana/tailor.json");
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert_eq!(dash["uid"], "tailor-pipeline");
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push(target["expr"].as_str().expect("expr").to_owned());
        }
    }
    out
}

/// `tailor_…` names in a text (metric names in PromQL), without histogram suffixes.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("tailor_") {
        let start = i + at;
        let prev_ok =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'_')
        {
            end += 1;
        }
        if prev_ok {
            let name = &text[start..end];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            names.insert(base.to_owned());
        }
        i = end;
    }
    names
}

/// The text of every Rust source file under `crates/*/src`.
fn sources() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).expect("read source"));
            }
        }
    }
    let mut out = String::new();
    for krate in std::fs::read_dir(repo().join("crates"))
        .expect("crates")
        .flatten()
    {
        let src = krate.path().join("src");
        if src.is_dir() {
            walk(&src, &mut out);
        }
    }
    out
}

#[test]
fn every_metric_in_the_dashboard_and_alerts_is_emitted() {
    let code = sources();
    let alerts =
        std::fs::read_to_string(repo().join("deploy/prometheus/alerts.yml")).expect("alerts.yml");
    let mut used = metric_names(&alerts);
    for q in dashboard_queries() {
        used.extend(metric_names(&q));
    }
    assert!(used.len() > 20, "{used:?}");
    let missing: Vec<&String> = used
        .iter()
        .filter(|name| !code.contains(&format!("\"{name}\"")))
        .collect();
    assert!(missing.is_empty(), "used but never emitted: {missing:?}");
}

#[test]
fn every_dashboard_query_is_valid_promql() {
    let tool = promtool();
    let mut rules = String::from("groups:\n  - name: tailor-dashboard\n    rules:\n");
    for (i, q) in dashboard_queries().iter().enumerate() {
        let quoted = serde_json::to_string(q).expect("quote");
        rules.push_str(&format!(
            "      - record: tailor:dashboard_query_{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("dashboard-queries.yml");
    std::fs::write(&file, rules).expect("write rules");
    let out = Command::new(&tool)
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "a dashboard query is not valid PromQL:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
