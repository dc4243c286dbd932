//! Shared helpers for scenario tests that drive a real server over HTTP.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tailor_server::{Config, RunningServer};

pub struct TestServer {
    pub server: RunningServer,
    pub url: String,
    pub http: reqwest::Client,
    pub dir: std::path::PathBuf,
    /// Sent as a Bearer token by `get` and `post`: the first configured secret key.
    pub key: Option<String>,
}

pub fn config(dir: &std::path::Path) -> Config {
    let mut cfg = Config {
        data_dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".into(),
        ..Config::default()
    };
    cfg.live.checkpoint_interval_secs = 1;
    cfg
}

/// `cfg` for a process running only `roles` (e.g. `"collector,api"`).
pub fn with_roles(cfg: &Config, roles: &str) -> Config {
    Config {
        roles: tailor_server::roles::Roles::parse_list(roles).expect("roles"),
        ..cfg.clone()
    }
}

pub async fn start(cfg: Config) -> TestServer {
    let dir = cfg.data_dir.clone();
    let key = cfg.collector.secret_keys.first().cloned();
    let server = tailor_server::start(cfg).await.expect("server starts");
    TestServer {
        url: server.url(),
        server,
        http: reqwest::Client::new(),
        dir,
        key,
    }
}

impl TestServer {
    fn authorized(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.key {
            Some(k) => req.bearer_auth(k),
            None => req,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .authorized(self.http.post(format!("{}{path}", self.url)))
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path_and_query: &str) -> (u16, Value) {
        let resp = self
            .authorized(self.http.get(format!("{}{path_and_query}", self.url)))
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `GET /metrics` as text.
    pub async fn metrics_text(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// Polls `/v1/status` until the live processor has applied everything in the log.
    pub async fn wait_processed(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, status) = self.get("/v1/status").await;
            if status["live"]["lag"] == 0 {
                return status;
            }
            assert!(Instant::now() < deadline, "not processed in time: {status}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn track(user: &str, event: &str, props: Value, message_id: &str, ts: &str) -> Value {
    json!({
        "type": "track", "event": event, "userId": user, "messageId": message_id,
        "timestamp": ts, "properties": props,
    })
}

pub fn ts(min: u32) -> String {
    format!("2026-01-15T{:02}:{:02}:00Z", 8 + min / 60, min % 60)
}

/// 30 shoppers co-view shoes, 30 co-view hats; hats are the more popular category.
pub fn shop_events() -> Vec<Value> {
    let mut events = Vec::new();
    for u in 0..30 {
        for (i, item) in ["shoe-1", "shoe-2", "shoe-3", "shoe-4"].iter().enumerate() {
            events.push(track(
                &format!("s{u}"),
                "Product Viewed",
                json!({"product_id": item, "category": "shoes", "price": 50}),
                &format!("s{u}-{i}"),
                &ts(u + i as u32),
            ));
        }
        for (i, item) in ["hat-1", "hat-2", "hat-3"].iter().enumerate() {
            for rep in 0..2 {
                events.push(track(
                    &format!("h{u}"),
                    "Product Viewed",
                    json!({"product_id": item, "category": "hats", "price": 20}),
                    &format!("h{u}-{i}-{rep}"),
                    &ts(u + i as u32),
                ));
            }
        }
    }
    events
}

/// The item ids of a recommendations answer, in order.
pub fn item_ids(recs: &Value) -> Vec<String> {
    recs["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["item_id"].as_str().expect("id").to_owned())
        .collect()
}

/// A Redis online-store URL under a prefix of its own (`tag` and the time), rows expiring
/// after ten minutes. Redis comes from `TAILOR_TEST_REDIS_URL` (set by the test command).
pub fn redis_url(tag: &str) -> String {
    let base = std::env::var("TAILOR_TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "TAILOR_TEST_REDIS_URL is not set: run the test command (make test), which finds \
             or starts a Redis, or set it to e.g. redis://127.0.0.1:6379"
        )
    });
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!(
        "{}/0?prefix=tailor-test-{tag}-{nanos:x}:&ttl_secs=600",
        base.trim_end_matches('/')
    )
}
