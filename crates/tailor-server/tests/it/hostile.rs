//! The hostile-input catalog: malformed, oversized, deeply nested, wrongly typed and
//! abusive requests against the collector and the other endpoints. Each gets its documented
//! status (a 4xx with a reason, never a 5xx); nothing hostile is stored; slow clients and
//! header floods do not stall anyone else; the server answers normally afterwards.

use crate::common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{config, start};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

/// One hostile request and what it must get.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Acceptable statuses.
    status: &'static [u16],
    /// For collector calls answered 200: every event in it must be rejected (none stored).
    none_stored: bool,
}

fn case(
    name: &'static str,
    method: &'static str,
    path: &str,
    body: impl Into<Vec<u8>>,
    status: &'static [u16],
) -> Case {
    Case {
        name,
        method,
        path: path.into(),
        headers: vec![("content-type", "application/json".into())],
        body: body.into(),
        status,
        none_stored: false,
    }
}

/// A collector batch whose every event must be refused (a 400 for the request, or a 200
/// that rejects each event).
fn refused(name: &'static str, body: impl Into<Vec<u8>>) -> Case {
    Case {
        none_stored: true,
        ..case(name, "POST", "/v1/batch", body, &[200, 400, 413, 422])
    }
}

fn batch_of(event: Value) -> Vec<u8> {
    json!({ "batch": [event] }).to_string().into_bytes()
}

fn track(extra: Value) -> Value {
    let mut e = json!({"type": "track", "event": "Product Viewed", "userId": "u1",
                       "properties": {"product_id": "p1"}});
    for (k, v) in extra.as_object().expect("object") {
        e[k] = v.clone();
    }
    e
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn catalog() -> Vec<Case> {
    let mb = "x".repeat(1024 * 1024);
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut v = vec![
        case("empty body", "POST", "/v1/batch", "", &[400]),
        case("truncated JSON", "POST", "/v1/batch", r#"{"batch": [{"type": "track""#, &[400]),
        case("not JSON", "POST", "/v1/batch", "hello there", &[400]),
        case("top-level array", "POST", "/v1/batch", "[]", &[400]),
        case("batch is a number", "POST", "/v1/batch", r#"{"batch": 5}"#, &[400]),
        refused("deep nesting inside an event", format!(r#"{{"batch": {deep}}}"#)),
        case("invalid UTF-8", "POST", "/v1/batch", b"{\"batch\": [{\"type\": \"track\", \"event\": \"\xff\xfe\"}]}".to_vec(), &[400]),
        case("number beyond f64", "POST", "/v1/batch", br#"{"batch": [{"type": "track", "event": "Product Viewed", "userId": "u1", "properties": {"product_id": "p1", "price": 1e400}}]}"#.to_vec(), &[200, 400]),
        refused("batch of strings", r#"{"batch": ["x", "y"]}"#),
        refused("event without type", batch_of(json!({"event": "Product Viewed", "userId": "u1"}))),
        refused("type is a number", batch_of(track(json!({"type": 5})))),
        refused("unknown type", batch_of(track(json!({"type": "delete_everything"})))),
        refused("track without event name", batch_of(json!({"type": "track", "userId": "u1"}))),
        refused("event name is an object", batch_of(track(json!({"event": {"$gt": ""}})))),
        refused("1 MB event name", batch_of(track(json!({"event": mb})))),
        refused("1 MB user id", batch_of(track(json!({"userId": mb})))),
        refused("2 KB user id", batch_of(track(json!({"userId": "u".repeat(2048)})))),
        refused("no user id nor anonymous id", batch_of(json!({"type": "track", "event": "Product Viewed"}))),
        refused("user id is an array", batch_of(track(json!({"userId": ["a", "b"]})))),
        refused("2 KB message id", batch_of(track(json!({"messageId": "m".repeat(2048)})))),
        refused("properties is a string", batch_of(track(json!({"properties": "product_id=p1"})))),
        refused("deeply nested properties", batch_of(track(json!({"properties": serde_json::from_str::<Value>(&format!("{}1{}", "[".repeat(120), "]".repeat(120))).expect("nested")})))),
        refused("1 MB property", batch_of(track(json!({"properties": {"product_id": "p1", "blob": mb}})))),
        refused("timestamp not a date", batch_of(track(json!({"timestamp": "yesterday"})))),
        refused("timestamp is a number", batch_of(track(json!({"timestamp": 1_700_000_000})))),
        refused("duplicate keys", br#"{"batch": [{"type": "track", "type": "page", "event": "Product Viewed", "userId": "u1"}]}"#.to_vec()),
        case("oversized request (9 MB)", "POST", "/v1/batch", format!(r#"{{"batch": [{{"type": "track", "event": "{}", "userId": "u1"}}]}}"#, "x".repeat(9 * 1024 * 1024)), &[413]),
        Case {
            headers: vec![("content-type", "application/json".into()), ("content-encoding", "gzip".into())],
            ..case("gzip bomb (64 MB of zeros)", "POST", "/v1/batch", gzip(&vec![b' '; 64 * 1024 * 1024]), &[400, 413])
        },
        Case {
            headers: vec![("content-type", "application/json".into()), ("content-encoding", "gzip".into())],
            ..case("corrupt gzip", "POST", "/v1/batch", b"\x1f\x8b\x08\x00garbage".to_vec(), &[400])
        },
        Case {
            headers: vec![("content-type", "application/json".into()), ("content-encoding", "br".into())],
            ..case("unsupported encoding", "POST", "/v1/batch", b"\x00\x01".to_vec(), &[400, 415])
        },
        case("collector with GET", "GET", "/v1/batch", "", &[405]),
        case("unknown path", "GET", "/v1/../../etc/passwd", "", &[400, 404]),
        case("traversal in a feature id", "GET", "/v1/features/user/..%2F..%2Fetc%2Fpasswd", "", &[200, 400, 404]),
        case("unknown feature entity", "GET", "/v1/features/bank_account/1", "", &[400, 404]),
        case("traversal in an item id", "GET", "/v1/items/..%2F..%2Fkeys.json", "", &[400, 404]),
        case("item id with NUL", "PUT", "/v1/items/a%00b", r#"{"title": "x"}"#, &[400]),
        case("item with negative price", "PUT", "/v1/items/p1", r#"{"price": -1}"#, &[400]),
        case("item with unknown field", "PUT", "/v1/items/p1", r#"{"price": 1, "owner": "root"}"#, &[400]),
        case("SQL: DROP TABLE", "POST", "/v1/sql", r#"{"sql": "DROP TABLE events"}"#, &[400]),
        case("SQL: two statements", "POST", "/v1/sql", r#"{"sql": "SELECT 1; DELETE FROM events"}"#, &[400]),
        case("SQL: COPY TO a file", "POST", "/v1/sql", r#"{"sql": "COPY (SELECT 1) TO '/tmp/tailor-hostile.csv'"}"#, &[400]),
        case("SQL: CREATE EXTERNAL TABLE", "POST", "/v1/sql", r#"{"sql": "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'"}"#, &[400]),
        case("SQL: not a string", "POST", "/v1/sql", r#"{"sql": 5}"#, &[400, 422]),
        case("SQL-looking user id", "GET", "/v1/recommendations?user_id=%27%20OR%201%3D1%20--", "", &[200]),
        case("k far too large", "GET", "/v1/recommendations?user_id=u1&k=999999999999", "", &[400]),
        case("negative k", "GET", "/v1/recommendations?user_id=u1&k=-1", "", &[400]),
        case("dead-letter limit overflow", "GET", "/v1/dead-letters?limit=99999999999999999999999", "", &[400]),
        case("invalid JSON Schema", "POST", "/v1/schemas/Product%20Viewed", r#"{"schema": {"type": 12}}"#, &[400]),
        case("quality limit too large", "GET", "/v1/quality?limit=100000", "", &[400]),
    ];
    v.push(Case {
        headers: (0..300).map(|i| ("x-flood", format!("{i}"))).collect(),
        ..case(
            "header flood (300 headers)",
            "GET",
            "/health",
            "",
            &[400, 431],
        )
    });
    v.push(case(
        "60 KB user id in the URL",
        "GET",
        &format!("/v1/recommendations?user_id={}", "u".repeat(60_000)),
        "",
        &[400],
    ));
    v
}

async fn send(http: &reqwest::Client, url: &str, c: &Case) -> Result<(u16, String), String> {
    let method = reqwest::Method::from_bytes(c.method.as_bytes()).expect("method");
    let mut req = http
        .request(method, format!("{url}{}", c.path))
        .body(c.body.clone());
    for (k, v) in &c.headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await.unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_4xx_with_reasons_and_store_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = start(config(dir.path())).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let other = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");

    // Slow clients hold connections open, one byte every 200 ms; others must not notice.
    let mut slow = Vec::new();
    let addr = s.server.addr;
    for _ in 0..20 {
        slow.push(tokio::spawn(async move {
            let Ok(mut sock) = tokio::net::TcpStream::connect(addr).await else {
                return;
            };
            let head = "POST /v1/batch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n";
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for _ in 0..100 {
                if sock.write_all(b" ").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }

    let cases = catalog();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let started = Instant::now();
        match send(&http, &s.url, c).await {
            Ok((status, body)) => {
                let took = started.elapsed();
                if !c.status.contains(&status) {
                    failures.push(format!(
                        "{}: {status} (expected {:?}): {}",
                        c.name,
                        c.status,
                        body.chars().take(300).collect::<String>()
                    ));
                    continue;
                }
                if status >= 400 {
                    // A reason, as JSON with a message, unless the HTTP layer itself refused.
                    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let protocol =
                        matches!(status, 405 | 414 | 431) || c.path.starts_with("/v1/../");
                    if !protocol && v["message"].as_str().is_none_or(str::is_empty) {
                        failures.push(format!("{}: {status} without a reason: {body}", c.name));
                    }
                }
                if c.none_stored && status == 200 {
                    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    if v["accepted"] != 0 {
                        failures.push(format!("{}: stored something: {body}", c.name));
                    }
                    if v["rejected"].as_array().is_none_or(Vec::is_empty) {
                        failures.push(format!(
                            "{}: 200 without a rejection reason: {body}",
                            c.name
                        ));
                    }
                }
                if took > Duration::from_secs(10) {
                    failures.push(format!("{}: took {took:?}", c.name));
                }
            }
            // The server may close the connection on a protocol-level abuse.
            Err(e) if c.name.starts_with("header flood") || c.name.starts_with("60 KB user id") => {
                eprintln!(
                    "{}: the connection was refused ({})",
                    c.name,
                    e.chars().take(200).collect::<String>()
                );
            }
            Err(e) => failures.push(format!(
                "{}: no answer: {}",
                c.name,
                e.chars().take(300).collect::<String>()
            )),
        }
        // Everyone else (another client, with connections of its own: the hostile one's may
        // have been closed by the server) is still served promptly. The bound allows for
        // the other tests sharing the two cores; a stall would be the body deadline or more.
        let t = Instant::now();
        let health = other.get(format!("{}/health", s.url)).send().await;
        let took = t.elapsed();
        assert!(
            health.as_ref().is_ok_and(|r| r.status() == 200) && took < Duration::from_secs(5),
            "/health stalled after {:?}: {:?} in {took:?}",
            c.name,
            health.map(|r| r.status())
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        !std::path::Path::new("/tmp/tailor-hostile.csv").exists(),
        "SQL wrote a file"
    );

    // A good event is still accepted, and it is the only event stored (the "number beyond
    // f64" case may be refused or stored with a null price; count it if it was).
    let (status, a) = s
        .post(
            "/v1/batch",
            json!({"batch": [track(json!({"messageId": "good-1"}))]}),
        )
        .await;
    assert_eq!((status, &a["accepted"]), (200, &json!(1)), "{a}");
    let st = s.wait_processed().await;
    let stored = st["live"]["events_processed"].as_u64().expect("count");
    assert!(stored <= 2, "hostile events were stored: {st}");
    for t in slow {
        t.abort();
    }
    s.server.shutdown().await.expect("shutdown");
}

/// A body that trickles in slower than `collector.body_timeout_ms` gets `408` with a reason
/// when the deadline passes, not a connection held for as long as the client likes.
#[tokio::test]
async fn a_body_slower_than_the_deadline_gets_408() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.collector.body_timeout_ms = 1_000;
    let s = start(cfg).await;
    let mut sock = tokio::net::TcpStream::connect(s.server.addr)
        .await
        .expect("connect");
    let started = Instant::now();
    let head = "POST /v1/batch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"batch\":";
    sock.write_all(head.as_bytes()).await.expect("write head");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            // One more byte now and then, well under any per-read timeout.
            let _ = sock.write_all(b" ").await;
            match tokio::time::timeout(Duration::from_millis(300), sock.read(&mut buf)).await {
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                        break;
                    }
                }
                Ok(Err(_)) => break,
                Err(_) => {}
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer within 10 s to a body slower than 1 s"
    );
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "answered after {took:?}"
    );
    s.server.shutdown().await.expect("shutdown");
}
