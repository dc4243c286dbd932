//! Results of the checks, and their rows in the `quality` table.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use serde::{Deserialize, Serialize};

use crate::schema::quality_schema;
use crate::{Error, Result};

/// Outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// Not judged (too few rows, no baseline yet, nothing to compare with).
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub status: Status,
    /// What was measured (a share, a z-score, a count).
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    pub detail: String,
}

impl CheckResult {
    pub(super) fn new(
        check: &str,
        column: Option<&str>,
        status: Status,
        value: f64,
    ) -> CheckResult {
        CheckResult {
            check: check.into(),
            column: column.map(Into::into),
            status,
            value,
            threshold: None,
            detail: String::new(),
        }
    }

    pub(super) fn threshold(mut self, t: f64) -> CheckResult {
        self.threshold = Some(t);
        self
    }

    pub(super) fn detail(mut self, d: impl Into<String>) -> CheckResult {
        self.detail = d.into();
        self
    }

    /// `check` or `check:column`: what identifies it across reports.
    pub fn key(&self) -> String {
        match &self.column {
            Some(c) => format!("{}:{c}", self.check),
            None => self.check.clone(),
        }
    }
}

/// The checks of one commit or job run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// `lake_commit` or the job that ran them (`training`).
    pub source: String,
    pub checked_at_ms: i64,
    /// The manifest version that committed the rows (and this report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lake_version: Option<u64>,
    /// Rows judged.
    pub rows: u64,
    pub checks: Vec<CheckResult>,
}

impl QualityReport {
    pub fn failing(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }

    /// The report as rows of the `quality` table.
    pub fn to_batch(reports: &[QualityReport]) -> Result<RecordBatch> {
        let mut at = TimestampMillisecondBuilder::new().with_timezone("UTC");
        let mut source = StringBuilder::new();
        let mut version = Int64Builder::new();
        let mut check = StringBuilder::new();
        let mut column = StringBuilder::new();
        let mut status = StringBuilder::new();
        let mut value = Float64Builder::new();
        let mut threshold = Float64Builder::new();
        let mut rows = Int64Builder::new();
        let mut detail = StringBuilder::new();
        for r in reports {
            for c in &r.checks {
                at.append_value(r.checked_at_ms);
                source.append_value(&r.source);
                version.append_option(r.lake_version.map(|v| v as i64));
                check.append_value(&c.check);
                column.append_option(c.column.as_deref());
                status.append_value(c.status.as_str());
                value.append_value(if c.value.is_finite() {
                    c.value
                } else {
                    c.value.signum() * f64::MAX
                });
                threshold.append_option(c.threshold);
                rows.append_value(r.rows as i64);
                detail.append_value(&c.detail);
            }
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(at.finish()),
            Arc::new(source.finish()),
            Arc::new(version.finish()),
            Arc::new(check.finish()),
            Arc::new(column.finish()),
            Arc::new(status.finish()),
            Arc::new(value.finish()),
            Arc::new(threshold.finish()),
            Arc::new(rows.finish()),
            Arc::new(detail.finish()),
        ];
        RecordBatch::try_new(quality_schema(), cols)
            .map_err(|e| Error::Config(format!("quality rows: {e}")))
    }
}

/// A value column of a training or job report: `value` judged against `limit` (`None`:
/// informational).
pub fn job_check(
    check: &str,
    value: f64,
    limit: Option<(f64, bool)>,
    detail: impl Into<String>,
) -> CheckResult {
    let status = match limit {
        None => Status::Pass,
        // (threshold, fail when above)
        Some((t, above)) => {
            if (above && value > t) || (!above && value < t) {
                Status::Fail
            } else {
                Status::Pass
            }
        }
    };
    let mut c = CheckResult::new(check, None, status, value).detail(detail);
    c.threshold = limit.map(|(t, _)| t);
    c
}
