//! Names and places in the lake: tables, the topics they are fed from, hive partitions and
//! file names.
//!
//! ```text
//! _manifest/00000000000000000042.json                      commit point (see manifest.rs)
//! events/dt=2026-01-15/hour=10/f-00000000000000000042-0003.parquet   written by a flush
//! events/dt=2026-01-15/hour=10/c-00000000000000000050-0000.parquet   written by compaction
//! dead_letters/dt=2026-01-15/f-00000000000000000042-0007.parquet
//! ```
//!
//! A flush file is named after the manifest version that commits it (`f-<version>-<seq>`);
//! a compaction output after the version it started from (`c-<base>-<seq>`). Names never
//! repeat across committed versions, so a file that exists but is not in the manifest is an
//! orphan of an interrupted write, and writing it again simply replaces it.

use chrono::{DateTime, NaiveDate};
use object_store::path::Path;
use serde::{Deserialize, Serialize};

/// The log topic of accepted events (as the collector names it).
pub const EVENTS_TOPIC: &str = "events";
/// The log topic of rejected events (as the collector names it).
pub const DEAD_LETTER_TOPIC: &str = "events.dead-letter";
/// Folder of the manifest versions.
pub const MANIFEST_DIR: &str = "_manifest";
/// Consumer group the sink reports its committed offsets under (informational: the
/// manifest is the source of truth).
pub const CONSUMER_GROUP: &str = "lake";

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// A table of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// Accepted events, one row per interaction, by event date and hour.
    Events,
    /// Rejected events and undecodable records, by received date.
    DeadLetters,
    /// Data-quality check results, one row per check, by check date.
    Quality,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::Events, Table::DeadLetters, Table::Quality];

    /// The table's name (and folder).
    pub fn name(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::DeadLetters => "dead_letters",
            Table::Quality => "quality",
        }
    }

    /// Whether the table is partitioned by hour under the day.
    pub fn hourly(self) -> bool {
        matches!(self, Table::Events)
    }
}

/// A hive partition: a UTC day (days since 1970-01-01) and, for hourly tables, the hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HivePartition {
    pub day: i32,
    pub hour: Option<u8>,
}

impl HivePartition {
    /// The partition of a time (ms since the epoch) in `table`; `None` outside the years
    /// chrono can represent.
    pub fn of(table: Table, ms: i64) -> Option<HivePartition> {
        DateTime::from_timestamp_millis(ms)?;
        let day = i32::try_from(ms.div_euclid(DAY_MS)).ok()?;
        let hour = table
            .hourly()
            .then(|| (ms.rem_euclid(DAY_MS) / HOUR_MS) as u8);
        Some(HivePartition { day, hour })
    }

    /// End of the partition's time span (exclusive), ms since the epoch.
    pub fn end_ms(&self) -> i64 {
        let day_start = i64::from(self.day) * DAY_MS;
        match self.hour {
            Some(h) => day_start + (i64::from(h) + 1) * HOUR_MS,
            None => day_start + DAY_MS,
        }
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        date_string(self.day)
    }

    /// The partition folder, e.g. `events/dt=2026-01-15/hour=07`.
    pub fn dir(&self, table: Table) -> String {
        match self.hour {
            Some(h) => format!("{}/dt={}/hour={h:02}", table.name(), self.date()),
            None => format!("{}/dt={}", table.name(), self.date()),
        }
    }

    /// Parses `dt` (`YYYY-MM-DD`) and the optional hour back.
    pub fn parse(dt: &str, hour: Option<u8>) -> Option<HivePartition> {
        let date = NaiveDate::parse_from_str(dt, "%Y-%m-%d").ok()?;
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
        let day = i32::try_from((date - epoch).num_days()).ok()?;
        if hour.is_some_and(|h| h > 23) {
            return None;
        }
        Some(HivePartition { day, hour })
    }
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01).
pub fn date_string(day: i32) -> String {
    DateTime::from_timestamp(i64::from(day) * 86_400, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| day.to_string())
}

/// The UTC day number of a time in ms.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// Path of a file written by the flush that commits manifest `version`.
pub fn flush_file(table: Table, part: HivePartition, version: u64, seq: usize) -> Path {
    Path::from(format!(
        "{}/f-{version:020}-{seq:04}.parquet",
        part.dir(table)
    ))
}

/// Path of a compaction output started from manifest `base`.
pub fn compacted_file(table: Table, part: HivePartition, base: u64, seq: usize) -> Path {
    Path::from(format!("{}/c-{base:020}-{seq:04}.parquet", part.dir(table)))
}

/// Path of a file an erasure rewrote, started from manifest `base`.
pub fn erased_file(table: Table, part: HivePartition, base: u64, seq: usize) -> Path {
    Path::from(format!("{}/e-{base:020}-{seq:04}.parquet", part.dir(table)))
}

/// Path of manifest `version`.
pub fn manifest_path(version: u64) -> Path {
    Path::from(format!("{MANIFEST_DIR}/{version:020}.json"))
}

/// The version of a manifest path, if it is one.
pub fn manifest_version(path: &Path) -> Option<u64> {
    let name = path.filename()?;
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20).then(|| digits.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_utc_time() {
        // 2026-01-15T10:59:59.999Z
        let ms = 1_768_474_799_999;
        let p = HivePartition::of(Table::Events, ms).expect("in range");
        assert_eq!(p.dir(Table::Events), "events/dt=2026-01-15/hour=10");
        assert_eq!(
            HivePartition::of(Table::Events, ms + 1)
                .expect("in range")
                .dir(Table::Events),
            "events/dt=2026-01-15/hour=11"
        );
        let d = HivePartition::of(Table::DeadLetters, ms).expect("in range");
        assert_eq!(d.dir(Table::DeadLetters), "dead_letters/dt=2026-01-15");
        assert_eq!(HivePartition::parse("2026-01-15", Some(10)), Some(p));
        assert_eq!(p.end_ms(), ms + 1);
        assert_eq!(d.end_ms(), ms + 1 + 13 * 3_600_000);
        assert_eq!(
            HivePartition::of(Table::Events, -1).map(|p| p.dir(Table::Events)),
            Some("events/dt=1969-12-31/hour=23".into())
        );
        assert_eq!(HivePartition::of(Table::Events, i64::MAX), None);
        assert_eq!(HivePartition::parse("2026-13-01", None), None);
    }

    #[test]
    fn manifest_names_round_trip() {
        let p = manifest_path(42);
        assert_eq!(p.as_ref(), "_manifest/00000000000000000042.json");
        assert_eq!(manifest_version(&p), Some(42));
        assert_eq!(manifest_version(&Path::from("_manifest/42.json")), None);
        assert_eq!(manifest_version(&Path::from("_manifest/x.tmp")), None);
    }
}
