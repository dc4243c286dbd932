//! The `[lake]` section of `tailor.toml`: where the lake lives and how files roll, compact
//! and expire. [`LakeConfig::validate`] names the offending field in every error.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Configuration of the lake sink and warehouse.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LakeConfig {
    /// Where the lake lives: a path (relative paths are under the data directory; default
    /// `lake`), `file:///absolute/path`, or `s3://bucket/prefix` for S3-compatible storage.
    pub url: String,
    /// Roll (write and commit) once this many bytes of log records are buffered.
    pub roll_bytes: u64,
    /// Roll at least this often while records are buffered, in seconds.
    pub roll_secs: u64,
    /// The running sink compacts a hive partition once it has this many files and its hour
    /// (day, for dead letters) ended at least 2 × `roll_secs` ago (0: never on its own;
    /// [`crate::LakeSink::compact`] can still be called).
    pub compact_min_files: usize,
    /// Drop hive partitions whose day is more than this many days before today (0: keep all).
    pub retention_days: u32,
    /// How long files replaced by compaction or retention stay readable for queries that
    /// started before the change, in seconds.
    pub gc_grace_secs: u64,
    /// S3 endpoint for S3-compatible stores (MinIO, R2, ...); default AWS (`AWS_ENDPOINT`).
    pub endpoint: Option<String>,
    /// S3 region (default `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`).
    pub region: Option<String>,
    /// S3 access key id (default `AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// S3 secret access key (default `AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
    /// Allow a plain `http://` endpoint (local MinIO and tests only).
    pub allow_http: bool,
    /// A SQL query (`POST /v1/sql`, `tailor sql`) running longer is stopped (seconds).
    pub query_timeout_secs: u64,
    /// Memory one SQL query may hold for sorts, joins and aggregations (MiB); past it the
    /// query is stopped rather than taking the memory ingestion needs.
    pub query_memory_mb: u64,
}

impl Default for LakeConfig {
    fn default() -> Self {
        LakeConfig {
            url: "lake".into(),
            roll_bytes: 64 * 1024 * 1024,
            roll_secs: 60,
            compact_min_files: 8,
            retention_days: 0,
            gc_grace_secs: 600,
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
            query_timeout_secs: 60,
            query_memory_mb: 1024,
        }
    }
}

impl fmt::Debug for LakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LakeConfig")
            .field("url", &self.url)
            .field("roll_bytes", &self.roll_bytes)
            .field("roll_secs", &self.roll_secs)
            .field("compact_min_files", &self.compact_min_files)
            .field("retention_days", &self.retention_days)
            .field("gc_grace_secs", &self.gc_grace_secs)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// Where a lake lives, resolved from [`LakeConfig::url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeLocation {
    /// A local directory.
    Local(PathBuf),
    /// An S3 bucket and a key prefix inside it (without leading or trailing `/`).
    S3 { bucket: String, prefix: String },
}

fn field_err(field: &str, msg: impl fmt::Display) -> Error {
    Error::Config(format!("lake.{field}: {msg}"))
}

impl LakeConfig {
    /// Checks every field; the error names the field (`lake.url: ...`).
    pub fn validate(&self) -> Result<()> {
        // The URL must resolve (the data directory does not change what is valid).
        let location = self.location(Path::new("."))?;
        const MIB: u64 = 1024 * 1024;
        if !(64 * 1024..=4096 * MIB).contains(&self.roll_bytes) {
            return Err(field_err(
                "roll_bytes",
                format!(
                    "{} is out of range: use 65536 (64 KiB) to 4294967296 (4 GiB)",
                    self.roll_bytes
                ),
            ));
        }
        if !(1..=86_400).contains(&self.query_timeout_secs) {
            return Err(field_err(
                "query_timeout_secs",
                format!(
                    "{} is out of range: use 1 to 86400 seconds",
                    self.query_timeout_secs
                ),
            ));
        }
        if !(16..=1_048_576).contains(&self.query_memory_mb) {
            return Err(field_err(
                "query_memory_mb",
                format!(
                    "{} is out of range: use 16 to 1048576 MiB",
                    self.query_memory_mb
                ),
            ));
        }
        if !(1..=86_400).contains(&self.roll_secs) {
            return Err(field_err(
                "roll_secs",
                format!("{} is out of range: use 1 to 86400 seconds", self.roll_secs),
            ));
        }
        if self.compact_min_files == 1 || self.compact_min_files > 10_000 {
            return Err(field_err(
                "compact_min_files",
                format!(
                    "{} makes no sense: use 0 (no automatic compaction) or 2 to 10000 files",
                    self.compact_min_files
                ),
            ));
        }
        if self.retention_days > 36_500 {
            return Err(field_err(
                "retention_days",
                format!(
                    "{} is out of range: use 0 (keep everything) to 36500 days",
                    self.retention_days
                ),
            ));
        }
        if self.gc_grace_secs > 7 * 86_400 {
            return Err(field_err(
                "gc_grace_secs",
                format!(
                    "{} is out of range: use 0 to 604800 seconds",
                    self.gc_grace_secs
                ),
            ));
        }
        let s3 = matches!(location, LakeLocation::S3 { .. });
        let s3_fields = [
            ("endpoint", self.endpoint.is_some()),
            ("region", self.region.is_some()),
            ("access_key_id", self.access_key_id.is_some()),
            ("secret_access_key", self.secret_access_key.is_some()),
            ("allow_http", self.allow_http),
        ];
        if !s3 {
            if let Some((name, _)) = s3_fields.iter().find(|(_, set)| *set) {
                return Err(field_err(
                    name,
                    format!(
                        "only used with an s3:// lake.url, but lake.url is {:?}; remove it or use s3://bucket/prefix",
                        self.url
                    ),
                ));
            }
            return Ok(());
        }
        if let Some(endpoint) = &self.endpoint {
            if endpoint.starts_with("http://") {
                if !self.allow_http {
                    return Err(field_err(
                        "endpoint",
                        format!("{endpoint:?} is plain http: set lake.allow_http = true to allow it (local MinIO and tests only)"),
                    ));
                }
            } else if !endpoint.starts_with("https://") {
                return Err(field_err(
                    "endpoint",
                    format!("{endpoint:?} is not a URL: use https://host[:port] (or http:// with lake.allow_http)"),
                ));
            }
        }
        if let Some(region) = &self.region {
            if region.is_empty()
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(field_err(
                    "region",
                    format!("{region:?} is not a region name such as \"us-east-1\""),
                ));
            }
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(_), None) => Err(field_err(
                "secret_access_key",
                "missing: set it together with lake.access_key_id (or use the AWS_* environment variables for both)",
            )),
            (None, Some(_)) => Err(field_err(
                "access_key_id",
                "missing: set it together with lake.secret_access_key (or use the AWS_* environment variables for both)",
            )),
            (Some(id), Some(_)) if id.is_empty() => {
                Err(field_err("access_key_id", "is empty"))
            }
            _ => Ok(()),
        }
    }

    /// Where the lake lives; relative paths resolve against `data_dir`.
    pub fn location(&self, data_dir: &Path) -> Result<LakeLocation> {
        let url = self.url.trim();
        if url.is_empty() {
            return Err(field_err(
                "url",
                "is empty: use a path such as \"lake\", file:///path or s3://bucket/prefix",
            ));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let ok = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !ok {
                return Err(field_err(
                    "url",
                    format!("{url:?} has no valid bucket name: use s3://bucket/prefix (3-63 characters from a-z, 0-9, '.', '-')"),
                ));
            }
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|s| s == "." || s == "..") || prefix.contains("//") {
                return Err(field_err(
                    "url",
                    format!("{url:?} has an invalid key prefix"),
                ));
            }
            return Ok(LakeLocation::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            });
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(field_err(
                    "url",
                    format!("{url:?} is not an absolute file URL: use file:///absolute/path, or a plain relative path"),
                ));
            }
            return Ok(LakeLocation::Local(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(field_err(
                "url",
                format!("unsupported scheme {scheme:?} in {url:?}: use a path, file:// or s3://"),
            ));
        }
        let path = Path::new(url);
        Ok(LakeLocation::Local(if path.is_absolute() {
            path.to_path_buf()
        } else {
            data_dir.join(path)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_resolve_under_the_data_dir() {
        let c = LakeConfig::default();
        c.validate().expect("defaults");
        assert_eq!(
            c.location(Path::new("/data")).expect("loc"),
            LakeLocation::Local(PathBuf::from("/data/lake"))
        );
    }

    #[test]
    fn urls() {
        let loc = |u: &str| {
            LakeConfig {
                url: u.into(),
                ..LakeConfig::default()
            }
            .location(Path::new("/d"))
        };
        assert_eq!(
            loc("/abs/x").expect("abs"),
            LakeLocation::Local("/abs/x".into())
        );
        assert_eq!(
            loc("file:///a/b").expect("file"),
            LakeLocation::Local("/a/b".into())
        );
        assert_eq!(
            loc("s3://my-bucket/some/prefix/").expect("s3"),
            LakeLocation::S3 {
                bucket: "my-bucket".into(),
                prefix: "some/prefix".into()
            }
        );
        assert_eq!(
            loc("s3://my-bucket").expect("s3"),
            LakeLocation::S3 {
                bucket: "my-bucket".into(),
                prefix: String::new()
            }
        );
        for bad in [
            "",
            "gs://b/p",
            "s3://",
            "s3://B/x",
            "file://rel",
            "s3://bucket/../x",
        ] {
            let e = loc(bad).expect_err(bad).to_string();
            assert!(e.starts_with("lake.url: "), "{bad}: {e}");
        }
    }

    #[test]
    fn validation_errors_name_the_field() {
        let s3 = || LakeConfig {
            url: "s3://bucket/lake".into(),
            ..LakeConfig::default()
        };
        let cases: Vec<(LakeConfig, &str)> = vec![
            (
                LakeConfig {
                    url: "ftp://x/y".into(),
                    ..LakeConfig::default()
                },
                "lake.url: ",
            ),
            (
                LakeConfig {
                    roll_bytes: 10,
                    ..LakeConfig::default()
                },
                "lake.roll_bytes: ",
            ),
            (
                LakeConfig {
                    roll_secs: 0,
                    ..LakeConfig::default()
                },
                "lake.roll_secs: ",
            ),
            (
                LakeConfig {
                    compact_min_files: 1,
                    ..LakeConfig::default()
                },
                "lake.compact_min_files: ",
            ),
            (
                LakeConfig {
                    retention_days: 100_000,
                    ..LakeConfig::default()
                },
                "lake.retention_days: ",
            ),
            (
                LakeConfig {
                    gc_grace_secs: 10_000_000,
                    ..LakeConfig::default()
                },
                "lake.gc_grace_secs: ",
            ),
            (
                LakeConfig {
                    endpoint: Some("http://minio:9000".into()),
                    ..LakeConfig::default()
                },
                "lake.endpoint: only used with an s3://",
            ),
            (
                LakeConfig {
                    endpoint: Some("http://minio:9000".into()),
                    ..s3()
                },
                "lake.endpoint: ",
            ),
            (
                LakeConfig {
                    endpoint: Some("minio:9000".into()),
                    ..s3()
                },
                "lake.endpoint: ",
            ),
            (
                LakeConfig {
                    region: Some("us east".into()),
                    ..s3()
                },
                "lake.region: ",
            ),
            (
                LakeConfig {
                    access_key_id: Some("id".into()),
                    ..s3()
                },
                "lake.secret_access_key: ",
            ),
            (
                LakeConfig {
                    secret_access_key: Some("s".into()),
                    ..s3()
                },
                "lake.access_key_id: ",
            ),
        ];
        for (c, prefix) in cases {
            let e = c.validate().expect_err(prefix).to_string();
            assert!(e.starts_with(prefix), "{prefix} -> {e}");
        }
        LakeConfig {
            endpoint: Some("http://127.0.0.1:9000".into()),
            allow_http: true,
            access_key_id: Some("id".into()),
            secret_access_key: Some("secret".into()),
            region: Some("us-east-1".into()),
            ..s3()
        }
        .validate()
        .expect("a complete MinIO setup");
    }

    #[test]
    fn unknown_fields_are_refused_and_secrets_not_printed() {
        let e = toml::from_str::<LakeConfig>("urll = \"x\"").expect_err("typo");
        assert!(e.to_string().contains("urll"), "{e}");
        let c = LakeConfig {
            secret_access_key: Some("hunter2".into()),
            ..LakeConfig::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
