//! API keys (ADR 0011). Two kinds:
//!
//! - **write keys** send events (the collector endpoints) and nothing else; they are safe to
//!   embed in a page. A write key created with `recommend` may also read recommendations and
//!   catalog items, for the `tailor.js` widget.
//! - **secret keys** may call everything: recommendations, features, SQL, schemas, catalog
//!   writes, training, keys.
//!
//! Keys are random (`tk_w_…` / `tk_s_…`, 190 bits) and only their SHA-256 is stored, in
//! `keys.json` in the data directory; `tailor keys add|list|revoke` and `/v1/admin/keys`
//! change that file under a file lock and a running server picks changes up within
//! `auth.reload_ms` (no restart). Keys in the configuration (`collector.write_keys`,
//! `collector.secret_keys`) are accepted too, as plain text or as `sha256:HEX`.
//!
//! A presented key is hashed and compared with every known hash in constant time (no early
//! exit, no lookup keyed by the secret). Each key has a token bucket: `rate_per_sec`
//! requests per second with bursts of `burst`; beyond it the answer is 429 with
//! `Retry-After`.
//!
//! With no write key anywhere the collector is open; with no secret key the other endpoints
//! are. The server then refuses to listen on a non-loopback address.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::http::StatusCode;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::metrics as m;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Write,
    Secret,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Write => "write",
            Kind::Secret => "secret",
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "write" => Ok(Kind::Write),
            "secret" => Ok(Kind::Secret),
            other => Err(format!("kind: {other:?} is not write or secret")),
        }
    }
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Send events: write or secret keys.
    Write,
    /// Read recommendations and catalog items: secret keys, or write keys with `recommend`.
    Recommend,
    /// Everything else: secret keys.
    Secret,
}

/// `[auth]`: key storage and default rate limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How often a running server re-reads the key file, in ms.
    pub reload_ms: u64,
    /// Requests per second per write key, unless the key sets its own (0: unlimited).
    pub write_rate_per_sec: f64,
    /// Burst per write key, in requests.
    pub write_burst: f64,
    /// Requests per second per secret key, unless the key sets its own (0: unlimited).
    pub secret_rate_per_sec: f64,
    /// Burst per secret key, in requests.
    pub secret_burst: f64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            reload_ms: 1_000,
            write_rate_per_sec: 1_000.0,
            write_burst: 2_000.0,
            secret_rate_per_sec: 0.0,
            secret_burst: 1_000.0,
        }
    }
}

impl AuthConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.reload_ms == 0 {
            return Err("auth.reload_ms must be greater than 0".into());
        }
        for (name, v) in [
            ("auth.write_rate_per_sec", self.write_rate_per_sec),
            ("auth.secret_rate_per_sec", self.secret_rate_per_sec),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{name} must be a number >= 0 (0: unlimited)"));
            }
        }
        for (name, v) in [
            ("auth.write_burst", self.write_burst),
            ("auth.secret_burst", self.secret_burst),
        ] {
            if !v.is_finite() || v < 1.0 {
                return Err(format!("{name} must be a number >= 1"));
            }
        }
        Ok(())
    }
}

/// One stored key (never the key itself).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    /// Public identifier (`w_…`/`s_…`), shown in lists and used to revoke.
    pub id: String,
    pub kind: Kind,
    pub name: String,
    /// SHA-256 of the key, lowercase hex.
    pub sha256: String,
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_ms: Option<i64>,
    /// Requests per second (absent: the `[auth]` default of the kind; 0: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_sec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<f64>,
    /// A write key that may also read recommendations and catalog items.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recommend: bool,
}

/// What `add` needs besides the kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    #[serde(default)]
    pub rate_per_sec: Option<f64>,
    #[serde(default)]
    pub burst: Option<f64>,
    #[serde(default)]
    pub recommend: bool,
}

impl NewKey {
    fn validate(&self, kind: Kind) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err("name: give a name of 1 to 200 characters".into());
        }
        if let Some(r) = self.rate_per_sec {
            if !r.is_finite() || r < 0.0 {
                return Err("rate_per_sec must be a number >= 0 (0: unlimited)".into());
            }
        }
        if let Some(b) = self.burst {
            if !b.is_finite() || b < 1.0 {
                return Err("burst must be a number >= 1".into());
            }
        }
        if self.recommend && kind == Kind::Secret {
            return Err(
                "recommend: only write keys take it (secret keys may already read recommendations)"
                    .into(),
            );
        }
        Ok(())
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    version: u32,
    keys: Vec<KeyRecord>,
}

/// Errors of the key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a key file: {message}")]
    Corrupt { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("no key with id {0:?}")]
    Unknown(String),
}

/// `keys.json` of a data directory.
#[derive(Debug, Clone)]
pub struct KeyStore {
    path: PathBuf,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Equal in time independent of where they differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new random key and its public id.
fn generate(kind: Kind) -> Result<(String, String), KeyError> {
    use ring::rand::SecureRandom;
    let mut raw = [0u8; 64];
    ring::rand::SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| KeyError::Invalid("the system random source failed".into()))?;
    // 248 is the largest multiple of 62 below 256: rejecting above it keeps the draw uniform.
    let body: String = raw
        .iter()
        .filter(|&&b| b < 248)
        .take(32)
        .map(|&b| ALPHABET[usize::from(b % 62)] as char)
        .collect();
    if body.len() < 32 {
        return Err(KeyError::Invalid(
            "the system random source gave too few usable bytes; try again".into(),
        ));
    }
    let tag = match kind {
        Kind::Write => 'w',
        Kind::Secret => 's',
    };
    Ok((format!("tk_{tag}_{body}"), format!("{tag}_{}", &body[..8])))
}

impl KeyStore {
    pub fn new(data_dir: &Path) -> Self {
        KeyStore {
            path: data_dir.join("keys.json"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> KeyError {
        KeyError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// The stored keys (none when the file does not exist).
    pub fn load(&self) -> Result<Vec<KeyRecord>, KeyError> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let file: KeyFile = serde_json::from_slice(&text).map_err(|e| KeyError::Corrupt {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        if file.version != 1 {
            return Err(KeyError::Corrupt {
                path: self.path.display().to_string(),
                message: format!("version {} is not 1", file.version),
            });
        }
        for k in &file.keys {
            if unhex(&k.sha256).is_none() {
                return Err(KeyError::Corrupt {
                    path: self.path.display().to_string(),
                    message: format!("key {}: sha256 is not 64 hex digits", k.id),
                });
            }
        }
        Ok(file.keys)
    }

    /// Read-modify-write under an exclusive lock on `keys.lock`, replaced atomically.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut Vec<KeyRecord>) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        let lock = File::create(dir.join("keys.lock")).map_err(|e| self.io(e))?;
        lock.lock().map_err(|e| self.io(e))?;
        let mut keys = self.load()?;
        let out = change(&mut keys)?;
        let text = serde_json::to_vec_pretty(&KeyFile { version: 1, keys })
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut f = File::create(&tmp).map_err(|e| self.io(e))?;
        f.write_all(&text).map_err(|e| self.io(e))?;
        f.sync_all().map_err(|e| self.io(e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(out)
    }

    /// Creates a key; the returned string is the only time the key itself is seen.
    pub fn add(
        &self,
        kind: Kind,
        new: &NewKey,
        now_ms: i64,
    ) -> Result<(String, KeyRecord), KeyError> {
        new.validate(kind).map_err(KeyError::Invalid)?;
        self.update(|keys| {
            let (key, id) = loop {
                let (key, id) = generate(kind)?;
                if !keys.iter().any(|k| k.id == id) {
                    break (key, id);
                }
            };
            let record = KeyRecord {
                id,
                kind,
                name: new.name.trim().to_owned(),
                sha256: hex(&sha256(key.as_bytes())),
                created_ms: now_ms,
                revoked_ms: None,
                rate_per_sec: new.rate_per_sec,
                burst: new.burst,
                recommend: new.recommend,
            };
            keys.push(record.clone());
            Ok((key, record))
        })
    }

    /// Revokes a key (kept in the file, marked revoked; revoking twice keeps the first time).
    pub fn revoke(&self, id: &str, now_ms: i64) -> Result<KeyRecord, KeyError> {
        self.update(|keys| {
            let k = keys
                .iter_mut()
                .find(|k| k.id == id)
                .ok_or_else(|| KeyError::Unknown(id.to_owned()))?;
            k.revoked_ms.get_or_insert(now_ms);
            Ok(k.clone())
        })
    }
}

/// A key as the guard holds it.
#[derive(Debug, Clone)]
struct Entry {
    id: String,
    kind: Kind,
    hash: [u8; 32],
    revoked: bool,
    recommend: bool,
    /// Tokens per second (0: unlimited) and bucket size.
    rate: f64,
    burst: f64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The keys in force, with their rate-limit buckets; reloaded when the file changes.
pub struct Auth {
    cfg: AuthConfig,
    store: KeyStore,
    from_config: Vec<Entry>,
    entries: RwLock<Arc<Vec<Entry>>>,
    /// The key file's modification time and length when last loaded.
    seen: Mutex<Option<(SystemTime, u64)>>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Denied {
    Missing,
    Unknown,
    Revoked,
    Forbidden,
}

fn config_entry(kind: Kind, i: usize, key: &str, cfg: &AuthConfig) -> Result<Entry, String> {
    let field = match kind {
        Kind::Write => "collector.write_keys",
        Kind::Secret => "collector.secret_keys",
    };
    if key.is_empty() {
        return Err(format!("{field}[{i}]: keys must not be empty strings"));
    }
    let hash = match key.strip_prefix("sha256:") {
        Some(h) => unhex(&h.to_ascii_lowercase())
            .ok_or_else(|| format!("{field}[{i}]: sha256: must be followed by 64 hex digits"))?,
        None => sha256(key.as_bytes()),
    };
    let (rate, burst) = defaults(kind, cfg);
    Ok(Entry {
        id: format!("config-{}-{i}", kind.as_str()),
        kind,
        hash,
        revoked: false,
        recommend: false,
        rate,
        burst,
    })
}

fn defaults(kind: Kind, cfg: &AuthConfig) -> (f64, f64) {
    match kind {
        Kind::Write => (cfg.write_rate_per_sec, cfg.write_burst),
        Kind::Secret => (cfg.secret_rate_per_sec, cfg.secret_burst),
    }
}

impl Auth {
    /// Checks the syntax of the configuration's keys; the error names the entry.
    pub fn check_config(write_keys: &[String], secret_keys: &[String]) -> Result<(), String> {
        let cfg = AuthConfig::default();
        for (i, k) in write_keys.iter().enumerate() {
            config_entry(Kind::Write, i, k, &cfg)?;
        }
        for (i, k) in secret_keys.iter().enumerate() {
            config_entry(Kind::Secret, i, k, &cfg)?;
        }
        Ok(())
    }

    /// The configuration's keys and the data directory's key file.
    pub fn open(
        cfg: &AuthConfig,
        write_keys: &[String],
        secret_keys: &[String],
        data_dir: &Path,
    ) -> Result<Auth, String> {
        let mut from_config = Vec::new();
        for (i, k) in write_keys.iter().enumerate() {
            from_config.push(config_entry(Kind::Write, i, k, cfg)?);
        }
        for (i, k) in secret_keys.iter().enumerate() {
            from_config.push(config_entry(Kind::Secret, i, k, cfg)?);
        }
        let auth = Auth {
            cfg: cfg.clone(),
            store: KeyStore::new(data_dir),
            entries: RwLock::new(Arc::new(from_config.clone())),
            from_config,
            seen: Mutex::new(None),
            buckets: Mutex::new(HashMap::new()),
        };
        auth.reload().map_err(|e| e.to_string())?;
        Ok(auth)
    }

    pub fn store(&self) -> &KeyStore {
        &self.store
    }

    fn stamp(&self) -> Option<(SystemTime, u64)> {
        let meta = std::fs::metadata(self.store.path()).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    }

    /// Loads the key file again.
    pub fn reload(&self) -> Result<(), KeyError> {
        let stamp = self.stamp();
        let stored = self.store.load()?;
        let mut entries = self.from_config.clone();
        for r in stored {
            let (rate, burst) = defaults(r.kind, &self.cfg);
            entries.push(Entry {
                hash: unhex(&r.sha256).unwrap_or([0; 32]),
                revoked: r.revoked_ms.is_some(),
                recommend: r.recommend,
                rate: r.rate_per_sec.unwrap_or(rate),
                burst: r.burst.unwrap_or(burst),
                id: r.id,
                kind: r.kind,
            });
        }
        *self.entries.write() = Arc::new(entries);
        *self.seen.lock() = stamp;
        Ok(())
    }

    /// Reloads when the key file changed since the last load; true when it did.
    pub fn refresh(&self) -> Result<bool, KeyError> {
        if self.stamp() == *self.seen.lock() {
            return Ok(false);
        }
        self.reload()?;
        Ok(true)
    }

    pub fn reload_every(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.cfg.reload_ms)
    }

    fn active(&self, kind: Kind) -> bool {
        self.entries
            .read()
            .iter()
            .any(|e| e.kind == kind && !e.revoked)
    }

    /// No write key is in force: the collector takes any key.
    pub fn collector_open(&self) -> bool {
        !self.active(Kind::Write)
    }

    /// Both kinds have a key in force (required off loopback).
    pub fn closed(&self) -> bool {
        self.active(Kind::Write) && self.active(Kind::Secret)
    }

    /// Checks a presented key for `need`: `Ok(Some(id))` for a known key within its rate,
    /// `Ok(None)` where the endpoint is open, else the answer to send.
    pub fn check(&self, need: Need, presented: Option<&str>) -> Result<Option<String>, ApiError> {
        let open = match need {
            Need::Write => self.collector_open(),
            Need::Recommend | Need::Secret => !self.active(Kind::Secret),
        };
        if open {
            return Ok(None);
        }
        let entries = self.entries.read().clone();
        let found = presented.filter(|k| !k.is_empty()).and_then(|k| {
            let h = sha256(k.as_bytes());
            // Every hash is compared, so the time does not tell which one matched.
            entries
                .iter()
                .fold(None, |hit, e| if same(&e.hash, &h) { Some(e) } else { hit })
        });
        let denied = match (presented.filter(|k| !k.is_empty()), found) {
            (None, _) => Denied::Missing,
            (Some(_), None) => Denied::Unknown,
            (Some(_), Some(e)) if e.revoked => Denied::Revoked,
            (Some(_), Some(e)) => {
                let allowed = match need {
                    Need::Write => true,
                    Need::Recommend => e.kind == Kind::Secret || e.recommend,
                    Need::Secret => e.kind == Kind::Secret,
                };
                if !allowed {
                    Denied::Forbidden
                } else {
                    self.take(e)?;
                    return Ok(Some(e.id.clone()));
                }
            }
        };
        metrics::counter!(m::AUTH_DENIED, "reason" => match denied {
            Denied::Missing => "missing",
            Denied::Unknown => "unknown",
            Denied::Revoked => "revoked",
            Denied::Forbidden => "forbidden",
        })
        .increment(1);
        Err(match (denied, need) {
            (Denied::Forbidden, _) => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this is a write key: it can only send events; use a secret key \
                 (Authorization: Bearer <key>)",
            ),
            (Denied::Revoked, _) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this key was revoked",
            ),
            (_, Need::Write) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or unknown write key: send it as the HTTP basic-auth user or as writeKey",
            ),
            (_, _) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this call needs a secret key: Authorization: Bearer <key>",
            ),
        })
    }

    /// One token from the key's bucket, or 429 with the seconds until one is back.
    fn take(&self, e: &Entry) -> Result<(), ApiError> {
        if e.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        let b = buckets.entry(e.id.clone()).or_insert(Bucket {
            tokens: e.burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * e.rate).min(e.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - b.tokens) / e.rate).ceil().max(1.0) as u64;
        metrics::counter!(m::AUTH_RATE_LIMITED, "kind" => e.kind.as_str()).increment(1);
        Err(ApiError {
            retry_after: Some(wait),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "key {} is over its rate limit of {} requests per second; retry after {wait} s",
                    e.id, e.rate
                ),
            )
        })
    }
}

/// What a request to `path` needs; `None`: public, or checked by its handler (the collector
/// reads `writeKey` from the body).
pub fn need_for(method: &axum::http::Method, path: &str) -> Option<Need> {
    if method == axum::http::Method::OPTIONS
        || matches!(
            path,
            "/" | "/health" | "/ready" | "/v1/status" | "/metrics" | "/openapi.json" | "/tailor.js"
        )
        || path.starts_with("/demo/")
        || crate::routes::collector::ROUTES
            .iter()
            .any(|(p, _)| *p == path)
        || crate::routes::sdk_config::is_public(path)
    {
        return None;
    }
    let reads_items = method == axum::http::Method::GET
        && (path == "/v1/recommendations" || path == "/v1/items" || path.starts_with("/v1/items/"));
    Some(if reads_items {
        Need::Recommend
    } else {
        Need::Secret
    })
}

/// The key a request presents: `Authorization: Bearer KEY`, or the basic-auth user.
pub fn presented(headers: &axum::http::HeaderMap) -> Option<String> {
    crate::body::bearer_token(headers).or_else(|| crate::body::basic_auth_user(headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(dir: &Path, write: &[&str], secret: &[&str]) -> Auth {
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        Auth::open(&AuthConfig::default(), &s(write), &s(secret), dir).expect("auth")
    }

    #[test]
    fn generated_keys_are_distinct_and_only_their_hash_is_stored() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = KeyStore::new(dir.path());
        let new = NewKey {
            name: "shop".into(),
            ..NewKey::default()
        };
        let (k1, r1) = store.add(Kind::Write, &new, 1).expect("add");
        let (k2, r2) = store.add(Kind::Secret, &new, 2).expect("add");
        assert!(k1.starts_with("tk_w_") && k1.len() == 37, "{k1}");
        assert!(k2.starts_with("tk_s_"), "{k2}");
        assert_ne!(r1.id, r2.id);
        let text = std::fs::read_to_string(store.path()).expect("file");
        assert!(!text.contains(&k1) && !text.contains(&k2[5..]), "{text}");
        assert_eq!(store.load().expect("load"), vec![r1, r2]);
    }

    #[test]
    fn scopes_revocation_and_open_modes() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = auth(dir.path(), &[], &[]);
        assert_eq!(a.check(Need::Secret, None).expect("open"), None);
        assert_eq!(a.check(Need::Write, Some("anything")).expect("open"), None);

        let store = KeyStore::new(dir.path());
        let name = |n: &str| NewKey {
            name: n.into(),
            ..NewKey::default()
        };
        let (w, wr) = store.add(Kind::Write, &name("page"), 1).expect("w");
        let (s, _) = store.add(Kind::Secret, &name("backend"), 1).expect("s");
        let (wr_key, _) = store
            .add(
                Kind::Write,
                &NewKey {
                    recommend: true,
                    ..name("widget")
                },
                1,
            )
            .expect("w+r");
        assert!(a.refresh().expect("refresh"), "file changed");
        assert!(!a.refresh().expect("refresh"), "unchanged");

        assert_eq!(
            a.check(Need::Write, Some(&w)).expect("ok"),
            Some(wr.id.clone())
        );
        assert!(
            a.check(Need::Write, Some(&s)).is_ok(),
            "secret keys may send"
        );
        let e = a.check(Need::Secret, Some(&w)).expect_err("write key");
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert_eq!(
            a.check(Need::Recommend, Some(&w)).expect_err("no").status,
            StatusCode::FORBIDDEN
        );
        assert!(a.check(Need::Recommend, Some(&wr_key)).is_ok());
        assert!(a.check(Need::Secret, Some(&s)).is_ok());
        for bad in [None, Some(""), Some("tk_s_nope")] {
            assert_eq!(
                a.check(Need::Secret, bad).expect_err("bad").status,
                StatusCode::UNAUTHORIZED
            );
        }

        store.revoke(&wr.id, 5).expect("revoke");
        a.reload().expect("reload");
        let e = a.check(Need::Write, Some(&w)).expect_err("revoked");
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        assert!(e.message.contains("revoked"), "{}", e.message);
        assert!(matches!(
            store.revoke("w_missing", 5),
            Err(KeyError::Unknown(_))
        ));
    }

    #[test]
    fn config_keys_plain_or_hashed() {
        let dir = tempfile::tempdir().expect("tmp");
        let hashed = format!("sha256:{}", hex(&sha256(b"second")));
        let a = auth(dir.path(), &["first"], &[hashed.as_str()]);
        assert!(a.closed());
        assert!(a.check(Need::Write, Some("first")).is_ok());
        assert!(a.check(Need::Secret, Some("second")).is_ok());
        assert_eq!(
            a.check(Need::Secret, Some("first")).expect_err("w").status,
            StatusCode::FORBIDDEN
        );
        let e = Auth::open(
            &AuthConfig::default(),
            &[],
            &["sha256:xyz".into()],
            dir.path(),
        )
        .err()
        .expect("bad hash");
        assert!(e.contains("collector.secret_keys[0]"), "{e}");
    }

    #[test]
    fn rate_limit_answers_429_with_retry_after() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = KeyStore::new(dir.path());
        let (k, _) = store
            .add(
                Kind::Write,
                &NewKey {
                    name: "slow".into(),
                    rate_per_sec: Some(0.5),
                    burst: Some(3.0),
                    recommend: false,
                },
                1,
            )
            .expect("add");
        let a = auth(dir.path(), &[], &[]);
        for _ in 0..3 {
            a.check(Need::Write, Some(&k)).expect("within burst");
        }
        let e = a.check(Need::Write, Some(&k)).expect_err("over");
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.retry_after, Some(2));
    }

    #[test]
    fn bad_key_files_are_named() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("keys.json"), "{").expect("write");
        let e = Auth::open(&AuthConfig::default(), &[], &[], dir.path())
            .err()
            .expect("corrupt");
        assert!(
            e.contains("keys.json") && e.contains("not a key file"),
            "{e}"
        );
    }
}
