//! The Segment-compatible collector, driven over HTTP.

use crate::common;

use base64::Engine;
use common::{config, start, track};
use serde_json::{json, Value};

const FIXTURES: [&str; 4] = [
    "segment-python.json",
    "segment-node.json",
    "rudder-python.json",
    "rudder-node.json",
];

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/segment-wire/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture json")
}

/// Replays a captured SDK request byte for byte (headers as captured, Content-Length fixed).
async fn replay(url: &str, fx: &Value) -> (u16, Value) {
    let body = match fx["body_b64"].as_str() {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("b64"),
        None => serde_json::to_vec(&fx["body_json"]).expect("json"),
    };
    let mut req =
        reqwest::Client::new().post(format!("{url}{}", fx["path"].as_str().expect("path")));
    for h in fx["headers"].as_array().expect("headers") {
        let (k, v) = (h[0].as_str().expect("k"), h[1].as_str().expect("v"));
        if !k.eq_ignore_ascii_case("host") && !k.eq_ignore_ascii_case("content-length") {
            req = req.header(k, v);
        }
    }
    let resp = req.body(body).send().await.expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn real_sdk_requests_are_accepted_with_their_write_key() {
    for name in FIXTURES {
        let dir = tempfile::tempdir().expect("tmp");
        let mut cfg = config(dir.path());
        cfg.collector.write_keys = vec!["wk_test".into()];
        let s = start(cfg).await;
        let fx = fixture(name);
        let n = fx["body_json"]["batch"].as_array().expect("batch").len();
        let (status, body) = replay(&s.url, &fx).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["success"], true, "{name}");
        assert_eq!(body["accepted"], n, "{name}: {body}");
        assert_eq!(body["rejected"], json!([]), "{name}");
        // The same request again: every event is a duplicate, still 200.
        let (status, body) = replay(&s.url, &fx).await;
        assert_eq!(
            (status, body["accepted"].clone(), body["duplicates"].clone()),
            (200, json!(0), json!(n))
        );
        let status = s.wait_processed().await;
        assert_eq!(status["live"]["events_processed"], n, "{name}");
        s.server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test]
async fn write_keys_are_checked_when_configured() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.collector.write_keys = vec!["good".into()];
    let s = start(cfg).await;
    let batch =
        json!({"batch": [track("u1", "Signed Up", json!({}), "m1", "2026-01-01T00:00:00Z")]});
    let post = |key: Option<&str>, body: &Value| {
        let mut req = s.http.post(format!("{}/v1/batch", s.url)).json(body);
        if let Some(k) = key {
            req = req.basic_auth(k, Some(""));
        }
        req.send()
    };
    let resp = post(Some("bad"), &batch).await.expect("send");
    assert_eq!(resp.status().as_u16(), 401);
    let err: Value = resp.json().await.expect("json");
    assert_eq!(err["code"], "unauthorized");
    assert!(err["message"]
        .as_str()
        .expect("message")
        .contains("write key"));
    assert_eq!(
        post(None, &batch).await.expect("send").status().as_u16(),
        401
    );
    let mut with_body_key = batch.clone();
    with_body_key["writeKey"] = json!("good");
    assert_eq!(
        post(None, &with_body_key)
            .await
            .expect("send")
            .status()
            .as_u16(),
        200
    );
    // Unparseable body without a key: 401, not stored.
    let resp = s
        .http
        .post(format!("{}/v1/batch", s.url))
        .body("{nope")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 401);
    s.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn batch_with_valid_invalid_and_duplicate_events_gets_per_event_answers() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = start(config(dir.path())).await;
    let ts = "2026-01-15T10:00:00Z";
    let (status, first) = s
        .post("/v1/batch", json!({"batch": [track("u1", "Product Viewed", json!({"product_id": "P1"}), "dup-1", ts)]}))
        .await;
    assert_eq!((status, first["accepted"].clone()), (200, json!(1)));
    let (status, body) = s
        .post(
            "/v1/batch",
            json!({"batch": [
                track("u1", "Product Viewed", json!({"product_id": "P2"}), "ok-1", ts),
                track("u1", "Product Viewed", json!({"price": 3}), "bad-1", ts),
                track("u1", "Product Viewed", json!({"product_id": "P1"}), "dup-1", ts),
                {"type": "track", "event": "Signed Up", "messageId": "bad-2"},
                track("u1", "Product Viewed", json!({"product_id": "P3"}), "ok-2", ts),
                track("u1", "Product Viewed", json!({"product_id": "P3"}), "ok-2", ts),
            ]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], true);
    assert_eq!(body["accepted"], 2, "{body}");
    assert_eq!(body["duplicates"], 2, "{body}");
    let rejected = body["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["index"], 1);
    assert_eq!(rejected[0]["messageId"], "bad-1");
    assert!(rejected[0]["reason"]
        .as_str()
        .expect("reason")
        .contains("product_id"));
    assert_eq!(rejected[1]["index"], 3);
    assert!(rejected[1]["reason"]
        .as_str()
        .expect("reason")
        .contains("userId or anonymousId"));

    let (status, dl) = s.get("/v1/dead-letters").await;
    assert_eq!(status, 200);
    let letters = dl["dead_letters"].as_array().expect("letters");
    assert_eq!(letters.len(), 2, "{dl}");
    assert_eq!(letters[0]["message_id"], "bad-1");
    assert!(letters[0]["raw"]
        .as_str()
        .expect("raw")
        .contains("\"price\":3"));
    assert!(letters[0]["reason"]
        .as_str()
        .expect("reason")
        .contains("product_id"));
    assert!(letters[1]["received_at"].as_str().is_some());
    let (status, _) = s.get("/v1/dead-letters?limit=zero").await;
    assert_eq!(status, 400);

    let status = s.wait_processed().await;
    assert_eq!(status["live"]["events_processed"], 3);
    s.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn single_event_endpoints_content_types_and_gzip() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tmp");
    let s = start(config(dir.path())).await;
    for (path, body) in [
        (
            "/v1/track",
            json!({"event": "Signed Up", "userId": "u", "messageId": "t1"}),
        ),
        (
            "/v1/page",
            json!({"name": "Home", "anonymousId": "a", "messageId": "p1"}),
        ),
        (
            "/v1/screen",
            json!({"name": "Cart", "anonymousId": "a", "messageId": "s1"}),
        ),
        (
            "/v1/identify",
            json!({"userId": "u", "traits": {"email": null}, "messageId": "i1"}),
        ),
        (
            "/v1/group",
            json!({"userId": "u", "groupId": "g", "messageId": "g1"}),
        ),
        (
            "/v1/alias",
            json!({"userId": "u", "previousId": "a", "messageId": "a1"}),
        ),
    ] {
        let (status, answer) = s.post(path, body).await;
        assert_eq!(
            (status, answer["accepted"].clone()),
            (200, json!(1)),
            "{path}: {answer}"
        );
    }
    let payload =
        json!({"batch": [{"type": "track", "event": "E", "anonymousId": "a", "messageId": "gz1",
        "originalTimestamp": "2026-01-01T00:00:00.123456Z", "sentAt": "2026-01-01T00:00:01Z"}]})
        .to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(payload.as_bytes()).expect("gz");
    let gz = gz.finish().expect("gz");
    for (ct, body, enc) in [
        (
            "application/x-www-form-urlencoded",
            gz.clone(),
            Some("gzip"),
        ),
        (
            "text/plain",
            payload.clone().replace("gz1", "tp1").into_bytes(),
            None,
        ),
    ] {
        let mut req = s
            .http
            .post(format!("{}/v1/batch", s.url))
            .header("Content-Type", ct)
            .body(body);
        if let Some(e) = enc {
            req = req.header("Content-Encoding", e);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status().as_u16(), 200, "{ct}");
        let answer: Value = resp.json().await.expect("json");
        assert_eq!(answer["accepted"], 1, "{ct}: {answer}");
    }
    // A 4 MiB batch is fine; an event over 32 KB is dead-lettered, not a reason to fail.
    let big: Vec<Value> = (0..120)
        .map(|i| {
            json!({"type": "track", "event": "Blob", "userId": "u", "messageId": format!("big-{i}"),
            "properties": {"blob": "x".repeat(if i == 0 { 40_000 } else { 30_000 })}})
        })
        .collect();
    let (status, answer) = s.post("/v1/batch", json!({"batch": big})).await;
    assert_eq!(status, 200);
    assert_eq!(answer["accepted"], 119);
    assert_eq!(answer["rejected"][0]["index"], 0);
    // Unparseable: 400 with a reason, and kept as a dead letter.
    let resp = s
        .http
        .post(format!("{}/v1/batch", s.url))
        .body("{\"batch\": [")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 400);
    let err: Value = resp.json().await.expect("json");
    assert_eq!(err["code"], "bad_request");
    // Truly oversized: 413.
    let huge = "x".repeat(9 * 1024 * 1024);
    let resp = s
        .http
        .post(format!("{}/v1/batch", s.url))
        .body(huge)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 413);
    s.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn dedupe_survives_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let batch = json!({"batch": [
        track("u1", "Product Viewed", json!({"product_id": "P1"}), "r-1", "2026-01-15T10:00:00Z"),
        track("u2", "Product Viewed", json!({"product_id": "P2"}), "r-2", "2026-01-15T10:00:00Z"),
    ]});
    let s = start(config(dir.path())).await;
    let (_, a) = s.post("/v1/batch", batch.clone()).await;
    assert_eq!(a["accepted"], 2);
    s.wait_processed().await;
    s.server.shutdown().await.expect("shutdown");
    let s = start(config(dir.path())).await;
    let (status, a) = s.post("/v1/batch", batch).await;
    assert_eq!(
        (status, a["accepted"].clone(), a["duplicates"].clone()),
        (200, json!(0), json!(2))
    );
    let status = s.wait_processed().await;
    assert_eq!(
        status["live"]["events_processed"], 2,
        "restored from checkpoint, nothing counted twice"
    );
    s.server.shutdown().await.expect("shutdown");
}

/// Segment's browser library: short paths, `text/plain` bodies with the write key inside,
/// CORS preflight and headers for the calling origin.
#[tokio::test]
async fn browser_library_paths_and_cors() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.collector.write_keys = vec!["wk_browser".into()];
    let s = start(cfg).await;
    let origin = "https://shop.example";
    let resp = s
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/t", s.url))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .expect("preflight");
    assert_eq!(resp.status(), 204);
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], origin);
    assert!(h["access-control-allow-methods"]
        .to_str()
        .expect("methods")
        .contains("POST"));
    assert_eq!(h["access-control-allow-headers"], "content-type");

    let post = |path: &str, body: Value| {
        s.http
            .post(format!("{}{path}", s.url))
            .header("Origin", origin)
            .header("Content-Type", "text/plain")
            .body(body.to_string())
            .send()
    };
    let mut t = track(
        "web-1",
        "Product Viewed",
        json!({"product_id": "P1"}),
        "b-1",
        "2026-01-15T10:00:00Z",
    );
    t["writeKey"] = json!("wk_browser");
    let resp = post("/v1/t", t.clone()).await.expect("track");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], origin);
    let mut p = json!({"type": "page", "name": "Home", "anonymousId": "anon-7", "messageId": "b-2",
        "timestamp": "2026-01-15T10:00:01Z", "writeKey": "wk_browser"});
    assert_eq!(post("/v1/p", p.clone()).await.expect("page").status(), 200);
    p["messageId"] = json!("b-3");
    let mut t2 = t.clone();
    t2["messageId"] = json!("b-4");
    let resp = post("/v1/b", json!({"batch": [p, t2], "writeKey": "wk_browser"}))
        .await
        .expect("batch");
    assert_eq!(resp.status(), 200);
    let a: Value = resp.json().await.expect("json");
    assert_eq!(a["accepted"], 2, "{a}");
    // A wrong key is refused, still readable by the page.
    t["writeKey"] = json!("wk_other");
    t["messageId"] = json!("b-5");
    let resp = post("/v1/t", t).await.expect("track");
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["access-control-allow-origin"], origin);
    s.server.shutdown().await.expect("shutdown");
}

/// A full write queue is the server's overload, not the client's quota: `503` with code
/// `backpressure` and `Retry-After`, nothing of the refused request stored, everything
/// acknowledged stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_queue_answers_503_with_retry_after_and_stores_only_what_it_acknowledged() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.log.queue_capacity = 1;
    let s = start(cfg).await;
    let (mut accepted, mut refused) = (0u64, Vec::new());
    // Rounds of concurrent single-event requests until the queue was seen full (bounded).
    for round in 0..30 {
        let sends = (0..64).map(|i| {
            let id = format!("bp-{round}-{i}");
            let body = json!({"batch": [track(&format!("u{i}"), "Product Viewed",
                json!({"product_id": "P1"}), &id, "2026-01-15T10:00:00Z")]});
            let req = s.http.post(format!("{}/v1/batch", s.url)).json(&body);
            async move { (body, req.send().await.expect("request")) }
        });
        for (body, resp) in futures::future::join_all(sends).await {
            match resp.status().as_u16() {
                200 => {
                    let a: Value = resp.json().await.expect("json");
                    accepted += a["accepted"].as_u64().expect("accepted");
                }
                503 => {
                    assert_eq!(
                        resp.headers()
                            .get("retry-after")
                            .map(|v| v.to_str().expect("ascii")),
                        Some("1")
                    );
                    let e: Value = resp.json().await.expect("json");
                    assert_eq!(e["code"], "backpressure", "{e}");
                    refused.push(body);
                }
                other => panic!("unexpected status {other}"),
            }
        }
        if !refused.is_empty() {
            break;
        }
    }
    assert!(
        !refused.is_empty(),
        "a queue of one never filled under 64 concurrent requests"
    );
    // A refused event's id was not kept as seen: its retry is stored, not a duplicate.
    for body in &refused {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (status, a) = s.post("/v1/batch", body.clone()).await;
            if status == 200 {
                assert_eq!(
                    (a["accepted"].clone(), a["duplicates"].clone()),
                    (json!(1), json!(0))
                );
                accepted += 1;
                break;
            }
            assert_eq!(status, 503, "{a}");
            assert!(
                std::time::Instant::now() < deadline,
                "retries kept being refused"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let status = s.wait_processed().await;
    assert_eq!(
        status["live"]["events_processed"],
        json!(accepted),
        "every acknowledged event reached the log once, the refused ones only by their retry"
    );
    s.server.shutdown().await.expect("shutdown");
}

/// A track event named like a misspelled e-commerce spec event is stored (it may be the
/// shop's own name) but the answer and a metric say what it was probably meant to be.
#[tokio::test]
async fn misspelled_event_names_are_stored_with_a_warning() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = common::start(common::config(dir.path())).await;
    let (status, a) = s
        .post(
            "/v1/batch",
            json!({"batch": [
                common::track("u1", "Product Viewed", json!({"product_id": "P1"}), "w1", &common::ts(1)),
                common::track("u1", "Product Viewd", json!({"product_id": "P1"}), "w2", &common::ts(2)),
                common::track("u1", "Order Complete", json!({"products": []}), "w3", &common::ts(3)),
                common::track("u1", "Video Played", json!({}), "w4", &common::ts(4)),
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["accepted"], 4, "{a}");
    let warnings = a["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 2, "{a}");
    assert_eq!(
        (
            warnings[0]["index"].clone(),
            warnings[0]["messageId"].clone()
        ),
        (json!(1), json!("w2"))
    );
    assert!(
        warnings[0]["warning"]
            .as_str()
            .expect("text")
            .contains("\"Product Viewed\""),
        "{a}"
    );
    assert!(
        warnings[1]["warning"]
            .as_str()
            .expect("text")
            .contains("\"Order Completed\""),
        "{a}"
    );
    let text = s.metrics_text().await;
    assert!(
        text.lines().any(
            |l| l.starts_with("tailor_collector_event_name_warnings_total")
                && l.contains("meant=\"Product Viewed\"")
        ),
        "{text}"
    );
    s.server.shutdown().await.expect("shutdown");
}
