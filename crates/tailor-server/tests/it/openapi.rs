//! The checked-in OpenAPI document matches the routes: every route the server defines is
//! documented and every documented path exists; it is valid OpenAPI 3 (checked with
//! `openapi-spec-validator` from the test command's venv) and served at `/openapi.json`.

use crate::common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use common::{config, start};
use serde_json::Value;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Paths in `.route("…")` calls and in the collector's route table, read from the sources.
fn routed_paths() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(crate_dir().join("src/routes")).expect("routes dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        for part in text.split('"').skip(1).step_by(2) {
            if part.starts_with("/v1/")
                || [
                    "/metrics",
                    "/health",
                    "/ready",
                    "/openapi.json",
                    "/tailor.js",
                    "/demo/shop",
                    "/sourceConfig",
                    "/sourceConfig/",
                ]
                .contains(&part)
            {
                out.insert(part.to_owned());
            }
        }
    }
    out
}

fn doc() -> Value {
    serde_json::from_str(tailor_server::routes::ops::OPENAPI).expect("openapi.json is JSON")
}

#[test]
fn every_route_is_documented_and_every_documented_path_is_routed() {
    let doc = doc();
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    // Paths mentioned in strings but not routes (messages, status URLs) are filtered by
    // keeping only those with a documented or routed shape.
    let routed: BTreeSet<String> = routed_paths()
        .into_iter()
        .filter(|p| !p.contains(' ') && (!p.ends_with('/') || p == "/sourceConfig/"))
        .collect();
    let missing: Vec<&String> = routed.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes missing from openapi.json: {missing:?}"
    );
    let stale: Vec<&String> = documented.difference(&routed).collect();
    assert!(
        stale.is_empty(),
        "documented paths with no route: {stale:?}"
    );
}

#[test]
fn the_document_is_valid_openapi() {
    // The venv `make test` fills (as the SDK test uses it), unless told otherwise.
    let py = std::env::var("TAILOR_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| crate_dir().join("../../.venv/bin/python"));
    let out = Command::new(&py)
        .args(["-m", "openapi_spec_validator"])
        .arg(crate_dir().join("openapi.json"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run `make test` (it installs openapi-spec-validator into .venv)",
                py.display()
            )
        });
    assert!(
        out.status.success(),
        "openapi.json is not valid OpenAPI:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn served_at_openapi_json() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = start(config(dir.path())).await;
    let (status, served) = s.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(served, doc());
    s.server.shutdown().await.expect("shutdown");
}
