//! `[quality]`: the checks' thresholds and where failing ones are reported.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Thresholds of the checks and where failing ones are reported (`[quality]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    /// Run the checks at all.
    pub enabled: bool,
    /// Rate checks only judge a commit with at least this many rows.
    pub min_rows: u64,
    /// `nulls` fails when a column's null rate exceeds its trailing median by this much
    /// (absolute, 0..1).
    pub null_rate_increase: f64,
    /// `unknown_items` fails above this share of interaction rows.
    pub unknown_item_rate: f64,
    /// `schema_drift` judges an event name once this many of its events were seen.
    pub drift_min_events: u64,
    /// Width of a `volume` bucket, in seconds of event time.
    pub volume_bucket_secs: u64,
    /// Closed buckets a new bucket is compared with.
    pub volume_baseline: usize,
    /// Fewest closed buckets before `volume` judges.
    pub volume_min_baseline: usize,
    /// `volume` fails beyond this robust z-score (either way).
    pub volume_z: f64,
    /// An event this many seconds after its receipt is from the future.
    pub future_secs: u64,
    /// An event older than this many days at receipt is very old.
    pub max_age_days: u64,
    /// `timestamps` fails above this share of events.
    pub bad_time_rate: f64,
    /// `duplicates` fails above this share of rows.
    pub duplicate_rate: f64,
    /// `dead_letters` fails above this share of records.
    pub dead_letter_rate: f64,
    /// Failing checks are POSTed here as JSON (none: only the log and metrics).
    pub webhook_url: Option<String>,
    /// Timeout of one webhook request, in milliseconds.
    pub webhook_timeout_ms: u64,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            enabled: true,
            min_rows: 50,
            null_rate_increase: 0.25,
            unknown_item_rate: 0.05,
            drift_min_events: 200,
            volume_bucket_secs: 300,
            volume_baseline: 24,
            volume_min_baseline: 6,
            volume_z: 4.0,
            future_secs: 300,
            max_age_days: 7,
            bad_time_rate: 0.01,
            duplicate_rate: 0.01,
            dead_letter_rate: 0.05,
            webhook_url: None,
            webhook_timeout_ms: 5000,
        }
    }
}

fn field_err(field: &str, msg: impl std::fmt::Display) -> Error {
    Error::Config(format!("quality.{field}: {msg}"))
}

impl QualityConfig {
    /// Checks every field; the error names it (`quality.volume_z: ...`).
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("null_rate_increase", self.null_rate_increase),
            ("unknown_item_rate", self.unknown_item_rate),
            ("bad_time_rate", self.bad_time_rate),
            ("duplicate_rate", self.duplicate_rate),
            ("dead_letter_rate", self.dead_letter_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(field_err(name, format!("{v} is not a share: use 0 to 1")));
            }
        }
        if !(self.volume_z.is_finite() && self.volume_z > 0.0) {
            return Err(field_err(
                "volume_z",
                format!("{} must be a positive number", self.volume_z),
            ));
        }
        if !(1..=86_400).contains(&self.volume_bucket_secs) {
            return Err(field_err(
                "volume_bucket_secs",
                format!(
                    "{} is out of range: use 1 to 86400",
                    self.volume_bucket_secs
                ),
            ));
        }
        if !(2..=1000).contains(&self.volume_baseline) {
            return Err(field_err(
                "volume_baseline",
                format!("{} is out of range: use 2 to 1000", self.volume_baseline),
            ));
        }
        if self.volume_min_baseline < 2 || self.volume_min_baseline > self.volume_baseline {
            return Err(field_err(
                "volume_min_baseline",
                format!(
                    "{} is out of range: use 2 to volume_baseline ({})",
                    self.volume_min_baseline, self.volume_baseline
                ),
            ));
        }
        if let Some(url) = &self.webhook_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(field_err(
                    "webhook_url",
                    format!("{url:?} is not an http:// or https:// URL"),
                ));
            }
        }
        if !(100..=120_000).contains(&self.webhook_timeout_ms) {
            return Err(field_err(
                "webhook_timeout_ms",
                format!(
                    "{} is out of range: use 100 to 120000",
                    self.webhook_timeout_ms
                ),
            ));
        }
        Ok(())
    }
}
