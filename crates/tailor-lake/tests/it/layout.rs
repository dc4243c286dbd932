//! Files land in the hive partition of their rows' event time and carry the documented
//! schema, zstd-compressed.

use crate::common;

use arrow::array::AsArray;
use arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use common::*;
use serde_json::json;
use tailor_lake::{LakeSink, Table};
use tailor_log::Log;

const T0: i64 = 1_768_521_599_000; // 2026-01-15T23:59:59Z

#[tokio::test]
async fn hive_partitions_match_event_times_and_schema_is_documented() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = open_log(&dir.path().join("log"));
    log.create_topic("events", 2).expect("topic");
    let times = [
        T0 - 3_600_000,
        T0,
        T0 + 999,
        T0 + 1_000,
        T0 + 1_000 + 3_600_000 * 5,
    ];
    let events: Vec<_> = times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            event(
                &format!("m{i}"),
                "Product Viewed",
                Some(&format!("u{i}")),
                None,
                *t,
                json!({"product_id": format!("p{i}"), "price": 3, "category": "c"}),
            )
        })
        .collect();
    append(&*log, &events).await;
    let lake_dir = dir.path().join("lake");
    let sink = LakeSink::with_lake(
        tailor_lake::Lake::local(&lake_dir).expect("lake"),
        test_config(),
    )
    .await
    .expect("sink");
    sink.run_once(&*log).await.expect("run");

    let m = manifest(&lake_dir).await;
    let mut dirs: Vec<String> = m
        .files_of(Table::Events)
        .map(|f| f.path.rsplit_once('/').expect("dir").0.to_owned())
        .collect();
    dirs.sort();
    assert_eq!(
        dirs,
        [
            "events/dt=2026-01-15/hour=22",
            "events/dt=2026-01-15/hour=23",
            "events/dt=2026-01-16/hour=00",
            "events/dt=2026-01-16/hour=05",
        ]
    );
    let mut rows = 0;
    for f in m.files_of(Table::Events) {
        let (dt, hour) = (f.dt.clone(), f.hour.expect("hourly"));
        assert!(f
            .path
            .starts_with(&format!("events/dt={dt}/hour={hour:02}/f-")));
        let start = chrono::NaiveDate::parse_from_str(&dt, "%Y-%m-%d")
            .expect("dt")
            .and_hms_opt(u32::from(hour), 0, 0)
            .expect("hour")
            .and_utc()
            .timestamp_millis();
        let path = lake_dir.join(&f.path);
        let file = std::fs::File::open(&path).expect("file");
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet");
        for col in builder.metadata().row_group(0).columns() {
            assert!(
                matches!(col.compression(), parquet::basic::Compression::ZSTD(_)),
                "{}: {:?}",
                col.column_path(),
                col.compression()
            );
        }
        let schema = builder.schema().clone();
        let got: Vec<(String, DataType, bool)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
            .collect();
        let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let s = |n: &str, null| (n.to_owned(), DataType::Utf8, null);
        assert_eq!(
            got,
            vec![
                s("message_id", false),
                s("type", false),
                s("user_id", true),
                s("anonymous_id", true),
                s("event", true),
                s("interaction", true),
                ("interaction_index".into(), DataType::Int32, false),
                s("item_id", true),
                s("category", true),
                ("price".into(), DataType::Float64, true),
                ("quantity".into(), DataType::Float64, true),
                s("currency", true),
                s("order_id", true),
                s("rec_id", true),
                ("event_time".into(), ts.clone(), false),
                ("received_at".into(), ts, false),
                s("properties", true),
                s("context", true),
                ("log_partition".into(), DataType::Int32, false),
                ("log_offset".into(), DataType::Int64, false),
            ]
        );
        for b in builder.build().expect("reader") {
            let b = b.expect("batch");
            let t = b
                .column_by_name("event_time")
                .expect("event_time")
                .as_primitive::<TimestampMillisecondType>();
            for r in 0..b.num_rows() {
                let v = t.value(r);
                assert!(
                    (start..start + 3_600_000).contains(&v),
                    "{v} outside {}",
                    f.path
                );
                rows += 1;
            }
            let props = b
                .column_by_name("properties")
                .expect("props")
                .as_string::<i32>();
            let v: serde_json::Value = serde_json::from_str(props.value(0)).expect("json text");
            assert_eq!(v["category"], "c");
            let ctx = b
                .column_by_name("context")
                .expect("context")
                .as_string::<i32>();
            assert!(ctx.value(0).contains("203.0.113.9"));
        }
    }
    assert_eq!(rows, times.len());
}
