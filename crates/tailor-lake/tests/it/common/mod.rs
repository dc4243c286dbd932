//! Helpers shared by the lake's scenario tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path as FsPath;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int32Type;
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, value::RawValue, Value};
use tailor_event::{Event, EventType};
use tailor_lake::{Lake, LakeConfig, Manifest, Table};
use tailor_log::{EmbeddedLog, EmbeddedOptions, Log, Record};

pub fn open_log(dir: &FsPath) -> Arc<EmbeddedLog> {
    EmbeddedLog::open(
        dir,
        EmbeddedOptions {
            fsync: false,
            ..EmbeddedOptions::default()
        },
    )
    .expect("open log")
}

/// A stored event as the collector builds it.
pub fn event(
    message_id: &str,
    name: &str,
    user: Option<&str>,
    anon: Option<&str>,
    time_ms: i64,
    props: Value,
) -> Event {
    let raw = json!({
        "type": "track",
        "event": name,
        "messageId": message_id,
        "userId": user,
        "anonymousId": anon,
        "properties": props,
        "context": {"ip": "203.0.113.9", "library": {"name": "test"}},
    });
    Event {
        message_id: message_id.into(),
        kind: EventType::Track,
        event: Some(name.into()),
        user_id: user.map(str::to_owned),
        anonymous_id: anon.map(str::to_owned),
        event_time_ms: time_ms,
        received_at_ms: time_ms + 100,
        interactions: tailor_event::ecommerce::interactions(name, &props),
        raw: RawValue::from_string(raw.to_string()).expect("raw"),
    }
}

pub fn record(e: &Event) -> Record {
    Record {
        key: Bytes::from(e.partition_key().to_owned()),
        value: Bytes::from(e.to_json()),
        timestamp_ms: e.received_at_ms,
        headers: vec![("message_id".into(), Bytes::from(e.message_id.clone()))],
    }
}

pub async fn append(log: &dyn Log, events: &[Event]) {
    for chunk in events.chunks(500) {
        log.append("events", chunk.iter().map(record).collect())
            .await
            .expect("append");
    }
}

/// `(message_id, interaction_index)` of every row an event should become.
pub fn expected_keys(events: &[Event]) -> BTreeMap<(String, i32), usize> {
    let mut m = BTreeMap::new();
    for e in events {
        for i in 0..e.interactions.len().max(1) {
            *m.entry((e.message_id.clone(), i as i32)).or_default() += 1;
        }
    }
    m
}

/// Reads a local Parquet file.
pub fn read_parquet(path: &FsPath) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).expect("open parquet");
    ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet footer")
        .build()
        .expect("reader")
        .map(|b| b.expect("batch"))
        .collect()
}

/// The newest manifest of a local lake.
pub async fn manifest(dir: &FsPath) -> Manifest {
    let lake = Lake::local(dir).expect("lake");
    tailor_lake::manifest::load(&lake)
        .await
        .expect("load")
        .manifest
}

/// `(message_id, interaction_index)` multiset of the committed `events` rows.
pub async fn committed_keys(dir: &FsPath) -> BTreeMap<(String, i32), usize> {
    let m = manifest(dir).await;
    let mut out = BTreeMap::new();
    for f in m.files_of(Table::Events) {
        for b in read_parquet(&dir.join(&f.path)) {
            let ids = b
                .column_by_name("message_id")
                .expect("message_id")
                .as_string::<i32>();
            let idx = b
                .column_by_name("interaction_index")
                .expect("interaction_index")
                .as_primitive::<Int32Type>();
            for r in 0..b.num_rows() {
                *out.entry((ids.value(r).to_owned(), idx.value(r)))
                    .or_default() += 1;
            }
        }
    }
    out
}

/// Every `*.parquet` file under `dir/table`, relative to `dir`.
pub fn parquet_files(dir: &FsPath, table: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join(table)];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(
                    p.strip_prefix(dir)
                        .expect("under dir")
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

pub fn test_config() -> LakeConfig {
    LakeConfig {
        gc_grace_secs: 0,
        compact_min_files: 0,
        ..LakeConfig::default()
    }
}

/// A local store whose manifest puts fail after `allowed` successes (a crash between the
/// data files and the commit point). `allowed < 0`: never fail.
#[derive(Debug)]
pub struct FailingStore {
    inner: LocalFileSystem,
    pub allowed: AtomicI64,
}

impl FailingStore {
    pub fn lake(dir: &FsPath, allowed: i64) -> (Lake, Arc<FailingStore>) {
        std::fs::create_dir_all(dir).expect("dir");
        let store = Arc::new(FailingStore {
            inner: LocalFileSystem::new_with_prefix(dir).expect("local"),
            allowed: AtomicI64::new(allowed),
        });
        (Lake::from_store(store.clone(), "failing"), store)
    }
}

impl fmt::Display for FailingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FailingStore")
    }
}

#[async_trait]
impl ObjectStore for FailingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if location.as_ref().starts_with("_manifest/") {
            let left = self.allowed.load(Ordering::SeqCst);
            if left == 0 {
                return Err(object_store::Error::Generic {
                    store: "failing",
                    source: "injected crash before the manifest commit".into(),
                });
            }
            if left > 0 {
                self.allowed.store(left - 1, Ordering::SeqCst);
            }
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
