//! Tailor's data lake: the log's events as Parquet files, committed exactly once, and SQL
//! over them.
//!
//! - [`LakeSink`] consumes the `events` and `events.dead-letter` topics and writes zstd
//!   Parquet files, hive-partitioned by event date and hour (`events/dt=YYYY-MM-DD/hour=HH/`)
//!   and by received date (`dead_letters/dt=YYYY-MM-DD/`), through `object_store`: a local
//!   directory by default, or S3-compatible storage (`s3://bucket/prefix`). Files roll by
//!   size and time, small files are compacted, old partitions expire ([`maintenance`]).
//! - Every change is committed by writing one new [`manifest`] version that lists the data
//!   files and the log offsets they cover: a crash or rerun never loses or duplicates rows
//!   (`docs/adr/0005-lake-layout-and-commits.md`).
//! - [`Warehouse`] runs read-only SQL (DataFusion) over the committed files: tables `events`
//!   and `dead_letters` (columns in [`schema`]) and the views `item_daily_stats`,
//!   `funnel_daily` and `recommendation_ctr` ([`warehouse::views`]); [`format`] prints
//!   results as a table, CSV or JSON.
//! - [`replay`] reads the events back in log order for the feature engine, and
//!   [`training`] turns a label file into point-in-time training data with the stream's
//!   own feature definitions (`tailor features training-set`).
//! - [`bench`] measures write throughput and aggregation time (`tailor bench lake`,
//!   `examples/lake_bench.rs`).

pub mod bench;
pub mod blobs;
pub mod config;
mod encode;
pub mod erase;
mod error;
pub mod format;
pub mod jobs;
pub mod layout;
pub mod maintenance;
pub mod manifest;
pub mod metrics;
pub mod quality;
pub mod replay;
mod rows;
pub mod schema;
pub mod sink;
pub mod store;
pub mod training;
pub mod warehouse;

pub use blobs::ObjectBlobs;
pub use config::{LakeConfig, LakeLocation};
pub use erase::LakeErasure;
pub use error::{Error, Result};
pub use format::{format_batches, to_csv, to_json, to_table, OutputFormat};
pub use layout::{HivePartition, Table, DEAD_LETTER_TOPIC, EVENTS_TOPIC};
pub use maintenance::{CompactStats, RetentionStats};
pub use manifest::{DataFile, Manifest};
pub use quality::{QualityConfig, QualityMonitor, QualityReport};
pub use sink::{system_clock, Clock, LakeSink, SinkStats};
pub use store::Lake;
pub use warehouse::{QueryLimits, Warehouse};

/// Re-exported so callers use the same Arrow as this crate.
pub use arrow::array::RecordBatch;
