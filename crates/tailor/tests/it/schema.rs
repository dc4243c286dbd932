//! `tailor schema add` against a running server: `--url` names it (the server listens on a
//! port the config does not know), the key comes from `TAILOR_API_KEY` as for `tailor
//! forget`, and without `--url` a server it cannot reach is named with the way out.

use std::process::Command;

use crate::common::{free_port, spawn_serve, stop_gracefully, wait_ready};

#[tokio::test]
async fn schema_add_reaches_the_running_server_given_by_url() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let data = data.to_str().expect("utf-8 path");
    let port = free_port();
    let child = spawn_serve(data, port);
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_ready(&http, &url).await;
    let file = tmp.path().join("signup.json");
    std::fs::write(
        &file,
        r#"{"type": "object", "properties": {"plan": {"type": "string"}}}"#,
    )
    .expect("schema file");
    let file = file.to_str().expect("utf-8 path");
    let add = |extra: &[&str]| {
        let mut args = vec!["schema", "add", "Signed Up", file, "--data-dir", data];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_tailor"))
            .args(&args)
            .env("TAILOR_LOG", "warn")
            .env("TAILOR_API_KEY", "not-needed-on-an-open-server")
            .output()
            .expect("run tailor")
    };
    let out = add(&["--url", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("through the running server"));
    let (status, latest): (u16, serde_json::Value) = {
        let r = http
            .get(format!("{url}/v1/schemas/Signed%20Up/versions/latest"))
            .send()
            .await
            .expect("get");
        (r.status().as_u16(), r.json().await.expect("json"))
    };
    assert_eq!(status, 200, "{latest}");
    assert_eq!(
        latest["schema"]["properties"]["plan"]["type"], "string",
        "{latest}"
    );
    // Without --url the configured address (8080) is not this server: the error says what to do.
    let out = add(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        assert!(err.contains("--url"), "{err}");
    }
    let out = add(&["--url", "not a url"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--url"));
    stop_gracefully(child);
}
