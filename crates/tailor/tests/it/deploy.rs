//! `deploy/local-cluster.sh --smoke`: the example topology of `deploy/README.md` (a
//! collector, an API replica and a processor with the lake and trainer, as three `tailor`
//! processes over a Kafka-protocol broker and Redis) starts, carries events from the
//! collector to the API replica's features and recommendations, and stops.

use std::path::Path;
use std::process::Command;

#[test]
fn the_example_topology_runs_end_to_end() {
    let kafka = std::env::var("TAILOR_TEST_KAFKA").unwrap_or_else(|_| {
        panic!("TAILOR_TEST_KAFKA is not set: run the test command (make test), which starts a Kafka-protocol broker")
    });
    let redis = std::env::var("TAILOR_TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!("TAILOR_TEST_REDIS_URL is not set: run the test command (make test), which finds or starts a Redis")
    });
    // Three free ports in a row, from a free one.
    let base = (0..50)
        .find_map(|_| {
            let p = std::net::TcpListener::bind("127.0.0.1:0")
                .ok()?
                .local_addr()
                .ok()?
                .port();
            let free = (0..3).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok());
            (free && p < 65_000).then_some(p)
        })
        .expect("three free ports");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local-cluster.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(["--smoke", "--base-port", &base.to_string()])
        .env("TAILOR_BIN", env!("CARGO_BIN_EXE_tailor"))
        .env("TAILOR_KAFKA", &kafka)
        .env("TAILOR_REDIS", &redis)
        .output()
        .expect("run deploy/local-cluster.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "local-cluster.sh --smoke failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("smoke: ok"), "{stdout}");
    assert!(
        stdout.contains("\"accepted\":20"),
        "the collector took the batch: {stdout}"
    );
    assert!(
        stdout.contains("\"items\""),
        "the api replica recommended: {stdout}"
    );
}
