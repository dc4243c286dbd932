//! Training data from the lake: the lake's events read back equal the log's, labels become
//! point-in-time rows with no future event leaking in, and bad label files get clear errors.

use crate::common;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use common::*;
use serde_json::json;
use tailor_features::engine::offline::{point_in_time, PointQuery};
use tailor_features::{EntityKind, FeatureEvent, FeatureSet, FeaturesConfig};
use tailor_lake::{training, Error, Lake, LakeSink, Warehouse};
use tailor_log::Log;

const T0: i64 = 1_768_471_200_000; // 2026-01-15T10:00:00Z
const MIN: i64 = 60_000;

fn viewed(id: &str, user: &str, item: &str, t: i64) -> tailor_event::Event {
    event(
        id,
        "Product Viewed",
        Some(user),
        None,
        t,
        json!({"product_id": item, "category": "shoes", "price": 20, "brand": "acme"}),
    )
}

/// u views P-past at 10:00; the log then holds P-future (10:03) before P-late (10:01):
/// a join on log position would leak P-future into a label at 10:02.
fn dataset() -> Vec<tailor_event::Event> {
    vec![
        viewed("m1", "u", "P-past", T0),
        viewed("m2", "u", "P-future", T0 + 3 * MIN),
        viewed("m3", "u", "P-late", T0 + MIN),
        viewed("m4", "v", "P-v", T0),
        event(
            "m5",
            "Order Completed",
            Some("v"),
            None,
            T0 + 2 * MIN,
            json!({"order_id": "o1", "products": [
                {"product_id": "P-v", "price": 20, "quantity": 1, "category": "shoes"},
                {"product_id": "P-w", "price": 5, "quantity": 2}]}),
        ),
    ]
}

async fn lake_with(events: &[tailor_event::Event]) -> (tempfile::TempDir, Warehouse, Vec<u64>) {
    let dir = tempfile::tempdir().expect("tmp");
    let log = open_log(&dir.path().join("log"));
    log.create_topic("events", 2).expect("topic");
    append(&*log, events).await;
    let ends = (0..2)
        .map(|p| log.end_offset("events", p).expect("end"))
        .collect();
    let lake = Lake::local(&dir.path().join("lake")).expect("lake");
    let sink = LakeSink::with_lake(lake.clone(), test_config())
        .await
        .expect("sink");
    sink.run_once(&*log).await.expect("run");
    (dir, Warehouse::new(lake).await.expect("warehouse"), ends)
}

#[tokio::test]
async fn the_lake_replays_exactly_what_the_log_holds() {
    let events = dataset();
    let (dir, wh, ends) = lake_with(&events).await;
    let replayed = tailor_lake::replay::logged_events(&wh, true, |_| {})
        .await
        .expect("replay");
    assert_eq!(
        tailor_lake::replay::committed_offsets(&wh)
            .await
            .expect("offsets"),
        ends
    );
    // The same events, decoded from the log records the way the stream processor does.
    let log = tailor_log::EmbeddedLog::open_read_only(&dir.path().join("log")).expect("log");
    let mut from_log = Vec::new();
    for p in 0..2 {
        for r in log.read("events", p, 0, 100).expect("read") {
            let e = FeatureEvent::decode(&r.value, true).expect("decode");
            from_log.push((p, r.offset, e));
        }
    }
    assert_eq!(replayed.len(), events.len());
    assert_eq!(from_log.len(), events.len());
    for (l, (p, off, e)) in replayed.iter().zip(&from_log) {
        assert_eq!((l.partition, l.offset), (*p, *off));
        assert_eq!(&l.event, e, "partition {p} offset {off}");
    }
    assert!(replayed.iter().any(|l| l.event.interactions.len() == 2));
}

#[tokio::test]
async fn labels_get_point_in_time_features_as_parquet() {
    let (dir, wh, _) = lake_with(&dataset()).await;
    let labels_path = dir.path().join("labels.csv");
    std::fs::write(
        &labels_path,
        "user_id,timestamp,converted\n\
         u,2026-01-15T10:02:00Z,1\n\
         u,2026-01-15T10:10:00Z,0\n\
         v,2026-01-15T10:02:00.001Z,1\n\
         nobody,2026-01-15T10:05:00Z,0\n\
         u,2026-01-15T09:00:00Z,0\n",
    )
    .expect("labels");
    let labels = training::read_labels(&labels_path, "user_id", "timestamp")
        .await
        .expect("labels");
    assert_eq!(labels.keys[0], ("u".to_owned(), T0 + 2 * MIN));
    let set = FeatureSet::compile(&FeaturesConfig::default()).expect("set");
    let events = tailor_lake::replay::logged_events(&wh, set.needs_properties(), |_| {})
        .await
        .expect("replay");
    let queries: Vec<PointQuery> = labels
        .keys
        .iter()
        .map(|(id, at_ms)| PointQuery {
            kind: EntityKind::User,
            id: id.clone(),
            at_ms: *at_ms,
        })
        .collect();
    let rows = point_in_time(set.clone(), 2, events, &queries, |_| {});
    let names: Vec<String> = set
        .feature_names(&EntityKind::User)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let batch = training::training_batch(&labels.batch, &names, &rows).expect("batch");
    let out = dir.path().join("train.parquet");
    training::write_parquet(&out, &batch).expect("write");

    let back = read_parquet(&out);
    let back = arrow::compute::concat_batches(&back[0].schema(), &back).expect("concat");
    assert_eq!(back.num_rows(), 5);
    let schema = back.schema();
    let cols: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(&cols[..3], ["user_id", "timestamp", "converted"]);
    assert_eq!(cols.len(), 3 + names.len());
    let col = |name: &str| back.column(schema.index_of(name).expect(name)).clone();
    let last = col("user_last_items");
    let last = last.as_list::<i32>();
    let items = |r: usize| -> Vec<String> {
        if last.is_null(r) {
            return Vec::new();
        }
        let v = last.value(r);
        v.as_string::<i32>()
            .iter()
            .map(|s| s.unwrap_or("").to_owned())
            .collect()
    };
    // At 10:02: P-late (10:01) and P-past, never P-future (10:03).
    assert_eq!(items(0), ["P-late", "P-past"]);
    assert_eq!(items(1), ["P-future", "P-late", "P-past"]);
    // v's order at 10:02:00.000 is before 10:02:00.001.
    let purchases = col("user_last_purchases");
    let purchases = purchases.as_list::<i32>();
    assert_eq!(purchases.value(2).len(), 2);
    // No event of "nobody", and none of u before 09:00: null features.
    assert!(last.is_null(3) && last.is_null(4));
    let length = col("user_session_length");
    let length = length.as_primitive::<Int64Type>();
    assert_eq!(length.value(0), 2);
    assert!(length.is_null(3));
}

#[tokio::test]
async fn bad_label_files_are_named_with_the_problem() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("l.csv");
    std::fs::write(&p, "user,ts\nu,2026-01-15T10:00:00Z\n").expect("w");
    let err = training::read_labels(&p, "user_id", "ts")
        .await
        .expect_err("no column");
    assert!(matches!(err, Error::Input(_)));
    assert!(
        err.to_string().contains("\"user_id\"") && err.to_string().contains("--id-col"),
        "{err}"
    );
    std::fs::write(&p, "user_id,ts\nu,2026-01-15T10:00:00Z\nv,yesterday\n").expect("w");
    let err = training::read_labels(&p, "user_id", "ts")
        .await
        .expect_err("bad time");
    assert!(err.to_string().contains("row 3"), "{err}");
    let err = training::read_labels(&dir.path().join("nope.csv"), "user_id", "ts")
        .await
        .expect_err("missing");
    assert!(err.to_string().contains("does not exist"), "{err}");
    std::fs::write(dir.path().join("l.txt"), "x").expect("w");
    let err = training::read_labels(&dir.path().join("l.txt"), "user_id", "ts")
        .await
        .expect_err("ext");
    assert!(err.to_string().contains(".csv"), "{err}");
    // Epoch milliseconds work too.
    std::fs::write(&p, format!("user_id,ts\nu,{T0}\n")).expect("w");
    let labels = training::read_labels(&p, "user_id", "ts")
        .await
        .expect("ms");
    assert_eq!(labels.keys, [("u".to_owned(), T0)]);
}
