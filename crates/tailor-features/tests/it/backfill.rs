//! `tailor features backfill`: state rebuilt from a recorded history (the lake) and saved as
//! the checkpoint resumes exactly like a processor that read the whole log itself.

use std::sync::Arc;

use serde_json::{json, value::RawValue};
use tailor_event::{Event, EventType};
use tailor_features::engine::offline::LoggedEvent;
use tailor_features::online::OnlineBackend;
use tailor_features::{
    rebuild_checkpoint, FeatureEvent, FeaturesConfig, LiveConfig, Processor, ProcessorOptions,
};
use tailor_log::{EmbeddedLog, EmbeddedOptions, Log, Record};

const T0: i64 = 1_768_471_200_000;

fn event(i: usize) -> Event {
    let user = format!("u{}", i % 7);
    let (name, props) = if i % 5 == 4 {
        (
            "Order Completed",
            json!({"order_id": format!("o{i}"), "products": [
                {"product_id": format!("P{}", i % 11), "price": 3, "quantity": 1, "category": "c1"},
                {"product_id": format!("P{}", (i + 3) % 11), "price": 4, "quantity": 2}]}),
        )
    } else {
        (
            "Product Viewed",
            json!({"product_id": format!("P{}", i % 11), "category": format!("c{}", i % 3), "price": 9}),
        )
    };
    let raw = json!({"type": "track", "event": name, "userId": user, "properties": props});
    Event {
        message_id: format!("m{i}"),
        kind: EventType::Track,
        event: Some(name.into()),
        user_id: Some(user),
        anonymous_id: None,
        // Mostly in order, some a little late.
        event_time_ms: T0 + (i as i64) * 20_000 - if i.is_multiple_of(9) { 50_000 } else { 0 },
        received_at_ms: T0 + (i as i64) * 20_000,
        interactions: tailor_event::ecommerce::interactions(name, &props),
        raw: RawValue::from_string(raw.to_string()).expect("raw"),
    }
}

fn options(checkpoint: std::path::PathBuf) -> ProcessorOptions {
    ProcessorOptions {
        topic: "events".into(),
        group: "live".into(),
        live: LiveConfig::default(),
        features: FeaturesConfig::default(),
        online: OnlineBackend::Live,
        checkpoint: tailor_features::CheckpointStore::File(checkpoint),
        sharing: None,
    }
}

#[tokio::test]
async fn a_rebuilt_checkpoint_resumes_like_a_processor_that_never_stopped() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = EmbeddedLog::open(
        &dir.path().join("log"),
        EmbeddedOptions {
            fsync: false,
            ..EmbeddedOptions::default()
        },
    )
    .expect("log");
    log.create_topic("events", 2).expect("topic");
    let events: Vec<Event> = (0..300).map(event).collect();
    let mut records: Vec<Record> = events
        .iter()
        .map(|e| Record::new(e.partition_key().to_owned(), e.to_json(), e.received_at_ms))
        .collect();
    records.insert(100, Record::new("u3", b"not an event".to_vec(), T0));
    log.append("events", records).await.expect("append");
    let log: Arc<dyn Log> = log;

    // The reference: a processor that read the whole log.
    let full = Processor::open(log.clone(), options(dir.path().join("a.ckpt"))).expect("open");
    full.catch_up().expect("catch up");

    // "The lake" covers the first part of each partition (plus one undecodable record,
    // which the lake keeps as a dead letter: its offset counts as covered).
    let mut history = Vec::new();
    let mut covered = Vec::new();
    let mut undecodable = 0;
    for p in 0..2u32 {
        let end = log.end_offset("events", p).expect("end");
        let upto = end * 2 / 3;
        for r in log.read("events", p, 0, upto as usize).expect("read") {
            match FeatureEvent::decode(&r.value, false) {
                Ok(event) => history.push(LoggedEvent {
                    partition: p,
                    offset: r.offset,
                    event,
                }),
                Err(_) => undecodable += 1,
            }
        }
        covered.push(upto);
    }
    let path = dir.path().join("b.ckpt");
    let rebuilt = rebuild_checkpoint(
        &history,
        &covered,
        &LiveConfig::default(),
        &FeaturesConfig::default(),
        &tailor_features::CheckpointStore::File(path.clone()),
    )
    .expect("rebuild");
    assert_eq!(undecodable, 1, "the bad record is in the covered part");
    assert_eq!(rebuilt.offsets, covered);
    assert_eq!(rebuilt.events, history.len() as u64);

    let resumed = Processor::open(log.clone(), options(path)).expect("open rebuilt");
    let applied = resumed.catch_up().expect("resume");
    assert_eq!(applied as usize, events.len() - history.len());

    let (a, b) = (full.engine(), resumed.engine());
    let (a, b) = (a.read(), b.read());
    let entities = a.entities();
    assert_eq!(entities, b.entities());
    assert!(entities.len() >= 15, "{} entities", entities.len());
    for e in &entities {
        assert_eq!(a.read(&e.kind, &e.id), b.read(&e.kind, &e.id), "{e:?}");
    }
    let (sa, sb) = (full.state(), resumed.state());
    let (sa, sb) = (sa.read(), sb.read());
    assert_eq!(sa.offsets, sb.offsets);
    assert_eq!(sa.events_processed, sb.events_processed);
    let mut ia: Vec<&String> = sa.item_index.keys().collect();
    let mut ib: Vec<&String> = sb.item_index.keys().collect();
    ia.sort();
    ib.sort();
    assert_eq!(ia, ib);
}

/// A store that refuses writes while `down` is set, and otherwise keeps rows in memory.
struct Flaky {
    down: std::sync::atomic::AtomicBool,
    rows: tailor_features::online::EmbeddedStore,
}

impl tailor_features::online::FeatureReader for Flaky {
    fn read_many(
        &self,
        entity: &str,
        ids: &[String],
    ) -> tailor_features::Result<Vec<Option<tailor_features::FeatureRow>>> {
        self.rows.read_many(entity, ids)
    }
}

impl tailor_features::online::OnlineStore for Flaky {
    fn write(&self, rows: Vec<tailor_features::FeatureRow>) -> tailor_features::Result<()> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(tailor_features::Error::OnlineStore {
                store: "flaky://".into(),
                reason: "down".into(),
            });
        }
        self.rows.write(rows)
    }

    fn delete(&self, entity: &str, ids: &[String]) -> tailor_features::Result<u64> {
        self.rows.delete(entity, ids)
    }
}

/// Rows of batches applied while the online store was down are written once it is back:
/// the store ends up equal to the engine's own state.
#[tokio::test]
async fn an_online_store_that_was_down_catches_up() {
    use tailor_features::online::FeatureReader;
    let dir = tempfile::tempdir().expect("tmp");
    let log = EmbeddedLog::open(
        &dir.path().join("log"),
        EmbeddedOptions {
            fsync: false,
            ..EmbeddedOptions::default()
        },
    )
    .expect("log");
    log.create_topic("events", 2).expect("topic");
    let append = |range: std::ops::Range<usize>| {
        let records: Vec<Record> = range
            .map(event)
            .map(|e| Record::new(e.partition_key().to_owned(), e.to_json(), e.received_at_ms))
            .collect();
        log.append("events", records)
    };
    append(0..100).await.expect("append");
    let log_dyn: Arc<dyn Log> = log.clone();
    let store = Arc::new(Flaky {
        down: std::sync::atomic::AtomicBool::new(true),
        rows: tailor_features::online::EmbeddedStore::new(),
    });
    let mut opts = options(dir.path().join("p.ckpt"));
    opts.online = OnlineBackend::Store(store.clone());
    // Down from the start: opening writes the (empty) restored state, which succeeds
    // only when up, so bring it up for the open and down for the first batches.
    store.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let p = Processor::open(log_dyn, opts).expect("open");
    store.down.store(true, std::sync::atomic::Ordering::SeqCst);
    p.catch_up().expect("applied while the store is down");
    assert!(store.rows.is_empty(), "nothing could be written");
    store.down.store(false, std::sync::atomic::Ordering::SeqCst);
    // The next batch after the retry pause writes every row, not only its own.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    append(100..101).await.expect("append");
    p.catch_up().expect("applied with the store back");
    let engine = p.engine();
    let engine = engine.read();
    let entities = engine.entities();
    assert!(!entities.is_empty());
    for key in entities {
        let want = engine.read(&key.kind, &key.id);
        let got = store.read(&key.kind.to_string(), &key.id).expect("read");
        assert_eq!(got, want, "{key:?}");
    }
}
