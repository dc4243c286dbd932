//! `tailor items import`: a CSV of items into a data directory, served by the next
//! `tailor serve`; a bad line stores nothing.

use crate::common;

use std::process::Command;

fn tailor(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(args)
        .env("TAILOR_LOG", "warn")
        .output()
        .expect("run tailor")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_items_are_served() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let data = data.to_str().expect("utf-8");
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "id,price\nP9,1\nP8,free\n").expect("write");
    let out = tailor(&[
        "items",
        "import",
        bad.to_str().expect("utf-8"),
        "--data-dir",
        data,
    ]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("bad.csv:3") && e.contains("price") && e.contains("nothing was imported"),
        "{e}"
    );

    let file = tmp.path().join("items.csv");
    std::fs::write(
        &file,
        "id,title,categories,price,available,brand\nP1,Runner,shoes|sale,59.5,true,Acme\nP2,Cap,hats,12,false,\n",
    )
    .expect("write");
    let out = tailor(&[
        "items",
        "import",
        file.to_str().expect("utf-8"),
        "--data-dir",
        data,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 2 items"));

    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let server = common::spawn_serve(data, port);
    let http = reqwest::Client::new();
    common::wait_ready(&http, &url).await;
    let (_, p1) = common::get_json(&http, &format!("{url}/v1/items/P1")).await;
    assert_eq!(
        p1["categories"],
        serde_json::json!(["shoes", "sale"]),
        "{p1}"
    );
    assert_eq!(p1["properties"]["brand"], "Acme", "{p1}");
    let (_, p2) = common::get_json(&http, &format!("{url}/v1/items/P2")).await;
    assert_eq!(p2["available"], false, "{p2}");
    let (status, _) = common::get_json(&http, &format!("{url}/v1/items/P9")).await;
    assert_eq!(status, 404, "the bad file stored nothing");
    common::stop_gracefully(server);
}
