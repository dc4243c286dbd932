//! The item catalog: title, categories, price, availability and custom properties per item,
//! kept in memory and made durable as changes in the log's `catalog` topic (one partition,
//! keyed by item id), which is replayed on start. Recommendation rules read it: items marked
//! unavailable or deleted are never recommended; items the catalog does not know are (the
//! catalog is optional, and events alone introduce items). A deleted item stays out until it
//! is put through the API again: later events that name it do not bring it back.
//!
//! Items also learn from e-commerce events: a stored event whose product carries a
//! `category` or `price` the catalog lacks (or learned differently before) becomes a `learn`
//! change in the same topic, creating the item if needed. Values set through the API win:
//! a field learned from events is listed in `learned` and only those fields keep following
//! the events.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tailor_log::{Log, Record};

use crate::ingest::now_ms;
use crate::{Error, Result};

pub const CATALOG_TOPIC: &str = "catalog";
/// Longest item id, in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Items per `POST /v1/items`.
pub const MAX_BATCH: usize = 1000;

/// An item as a client sends it (`PUT /v1/items/{id}`, an entry of `POST /v1/items`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemInput {
    /// Required in a batch; must match the path in a PUT when given.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub price: Option<f64>,
    /// Default: available.
    #[serde(default)]
    pub available: Option<bool>,
    #[serde(default)]
    pub properties: Map<String, Value>,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// An item in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub categories: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    pub available: bool,
    pub properties: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    pub updated_at_ms: i64,
    /// Fields taken from events rather than set through the API (`categories`, `price`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub learned: Vec<String>,
    /// The item exists only because events named it (never put through the API).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_events: bool,
}

/// What an event said about an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Learned {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    pub at_ms: i64,
}

impl Learned {
    /// `item` with what this observation adds (`None`: nothing new).
    fn apply_to(&self, item: Option<&Item>) -> Option<Item> {
        let mut next = item.cloned().unwrap_or_else(|| Item {
            id: self.id.clone(),
            title: None,
            categories: Vec::new(),
            price: None,
            available: true,
            properties: Map::new(),
            created_at: None,
            updated_at_ms: self.at_ms,
            learned: Vec::new(),
            from_events: true,
        });
        let mut changed = item.is_none();
        let follows =
            |it: &Item, field: &str, unset: bool| unset || it.learned.iter().any(|f| f == field);
        if let Some(c) = &self.category {
            if follows(&next, "categories", next.categories.is_empty())
                && next.categories != [c.clone()]
            {
                next.categories = vec![c.clone()];
                mark(&mut next.learned, "categories");
                changed = true;
            }
        }
        if let Some(p) = self.price.filter(|p| p.is_finite() && *p >= 0.0) {
            if follows(&next, "price", next.price.is_none()) && next.price != Some(p) {
                next.price = Some(p);
                mark(&mut next.learned, "price");
                changed = true;
            }
        }
        changed.then(|| {
            next.updated_at_ms = self.at_ms;
            next
        })
    }
}

fn mark(learned: &mut Vec<String>, field: &str) {
    if !learned.iter().any(|f| f == field) {
        learned.push(field.to_owned());
    }
}

/// One change as stored in the `catalog` topic.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Change {
    Put(Item),
    Delete { id: String },
    Learn(Learned),
}

/// An item's `created_at` in Unix milliseconds.
fn created_ms(item: &Item) -> Option<i64> {
    let c = item.created_at.as_deref()?;
    chrono::DateTime::parse_from_rfc3339(c)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Checks an id from a path or a body; the error names `field`.
pub fn check_id(id: &str, field: &str) -> std::result::Result<(), String> {
    if id.trim().is_empty() {
        return Err(format!("{field}: an item id must not be empty"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "{field}: an item id is at most {MAX_ID_BYTES} bytes"
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(format!(
            "{field}: an item id must not contain control characters"
        ));
    }
    Ok(())
}

impl ItemInput {
    /// The item, or an error naming the field (`at` prefixes it, e.g. `items[3]`).
    pub fn into_item(self, path_id: Option<&str>, at: &str) -> std::result::Result<Item, String> {
        let id = match (path_id, self.id) {
            (Some(p), Some(b)) if p != b => {
                return Err(format!(
                    "{at}id: {b:?} does not match the id in the path ({p:?})"
                ))
            }
            (Some(p), _) => p.to_owned(),
            (None, Some(b)) => b,
            (None, None) => return Err(format!("{at}id: required")),
        };
        check_id(&id, &format!("{at}id"))?;
        if let Some(p) = self.price {
            if !p.is_finite() || p < 0.0 {
                return Err(format!("{at}price: must be a number >= 0, got {p}"));
            }
        }
        if self
            .title
            .as_ref()
            .is_some_and(|t| t.chars().count() > 1000)
        {
            return Err(format!("{at}title: at most 1000 characters"));
        }
        if self.categories.len() > 32 {
            return Err(format!("{at}categories: at most 32"));
        }
        if let Some(i) = self
            .categories
            .iter()
            .position(|c| c.is_empty() || c.len() > 256)
        {
            return Err(format!("{at}categories[{i}]: 1 to 256 bytes"));
        }
        if let Some(c) = &self.created_at {
            chrono::DateTime::parse_from_rfc3339(c)
                .map_err(|e| format!("{at}created_at: {c:?} is not an RFC 3339 time ({e})"))?;
        }
        Ok(Item {
            id,
            title: self.title,
            categories: self.categories,
            price: self.price,
            available: self.available.unwrap_or(true),
            properties: self.properties,
            created_at: self.created_at,
            updated_at_ms: now_ms(),
            learned: Vec::new(),
            from_events: false,
        })
    }
}

/// The catalog of a server.
pub struct Catalog {
    log: Arc<dyn Log>,
    items: RwLock<FxHashMap<String, Arc<Item>>>,
    /// (created time, id) of items with a `created_at`: the newest, for exploration.
    by_created: RwLock<BTreeSet<(i64, String)>>,
    /// Items marked unavailable (rules skip the check when none is and none is deleted).
    unavailable: AtomicUsize,
    /// Ids deleted through the API and not put again since: never recommended, and not
    /// recreated by events.
    deleted: RwLock<rustc_hash::FxHashSet<String>>,
    /// Items put through the API (the catalog feed), as opposed to learned from events.
    fed: AtomicUsize,
    /// Ids of items events created, oldest first (entries of items deleted or put through
    /// the API since are skipped when met), and the most kept ([`Catalog::with_capacity`]).
    learned_order: parking_lot::Mutex<VecDeque<String>>,
    max_learned: usize,
    /// Serializes this process's changes.
    write: tokio::sync::Mutex<()>,
    /// The next offset of the topic to apply: changes are applied in the log's order only,
    /// whoever wrote them, so every process's catalog goes through the same states.
    next: parking_lot::Mutex<u64>,
}

impl Catalog {
    /// Opens the catalog: creates the topic if needed and replays it.
    pub fn open(log: Arc<dyn Log>) -> Result<Catalog> {
        Self::with_capacity(
            log,
            crate::config::CatalogConfig::default().max_learned_items,
        )
    }

    /// [`Catalog::open`], keeping at most `max_learned` items that only events introduced
    /// (`catalog.max_learned_items`): past it by an eighth, the earliest created are
    /// forgotten. Deterministic in the topic's order, so a replay forgets the same ones.
    pub fn with_capacity(log: Arc<dyn Log>, max_learned: usize) -> Result<Catalog> {
        log.create_topic(CATALOG_TOPIC, 1)?;
        let catalog = Catalog {
            log,
            items: RwLock::new(FxHashMap::default()),
            by_created: RwLock::new(BTreeSet::new()),
            unavailable: AtomicUsize::new(0),
            deleted: RwLock::new(rustc_hash::FxHashSet::default()),
            fed: AtomicUsize::new(0),
            learned_order: parking_lot::Mutex::new(VecDeque::new()),
            max_learned: max_learned.max(1),
            write: tokio::sync::Mutex::new(()),
            next: parking_lot::Mutex::new(0),
        };
        *catalog.next.lock() = catalog.log.start_offset(CATALOG_TOPIC, 0)?;
        catalog.sync()?;
        Ok(catalog)
    }

    /// Applies the changes stored since the last call (by this process or any other);
    /// returns how many. Run on open, after each change, and every second by
    /// [`Catalog::follow`].
    pub fn sync(&self) -> Result<usize> {
        let mut next = self.next.lock();
        let mut n = 0;
        loop {
            let recs = self.log.read(CATALOG_TOPIC, 0, *next, 1000)?;
            let Some(last) = recs.last() else {
                return Ok(n);
            };
            *next = last.offset + 1;
            n += recs.len();
            for r in &recs {
                match serde_json::from_slice::<Change>(&r.value) {
                    Ok(c) => self.apply(c),
                    Err(e) => {
                        tracing::warn!(offset = r.offset, error = %e, "skipping an unreadable catalog change")
                    }
                }
            }
        }
    }

    /// Applies changes other processes store (`roles` split over processes), as they come.
    pub async fn follow(self: Arc<Self>) {
        loop {
            let next = *self.next.lock();
            self.log
                .wait_for(CATALOG_TOPIC, 0, next, std::time::Duration::from_secs(1))
                .await;
            let me = self.clone();
            match tokio::task::spawn_blocking(move || me.sync()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot read the catalog topic; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                Err(e) => tracing::warn!(error = %e, "catalog follow task failed"),
            }
        }
    }

    fn apply(&self, change: Change) {
        let mut items = self.items.write();
        // Under the items lock, so the count and the index always match the map.
        let mut by_created = self.by_created.write();
        let (old, new) = self.change(&mut items, change);
        let created = match (&old, &new) {
            (None, Some(n)) if n.from_events => Some(n.id.clone()),
            _ => None,
        };
        self.account(&mut by_created, old, new);
        if let Some(id) = created {
            let mut order = self.learned_order.lock();
            order.push_back(id);
            if self.learned_in(&items) > tailor_features::eviction_point(self.max_learned) {
                self.forget_learned(&mut items, &mut by_created, &mut order);
            }
        }
    }

    /// Drops the earliest created items that only events introduced until `max_learned`
    /// remain, then drops stale entries of the order once they outnumber the live ones.
    fn forget_learned(
        &self,
        items: &mut FxHashMap<String, Arc<Item>>,
        by_created: &mut BTreeSet<(i64, String)>,
        order: &mut VecDeque<String>,
    ) {
        let mut forgotten = 0u64;
        while self.learned_in(items) > self.max_learned {
            let Some(id) = order.pop_front() else { break };
            if items.get(&id).is_some_and(|i| i.from_events) {
                let old = items.remove(&id);
                self.account(by_created, old, None);
                forgotten += 1;
            }
        }
        if order.len() > 2 * self.learned_in(items) + 1024 {
            let mut seen = rustc_hash::FxHashSet::default();
            let kept: Vec<String> = order
                .drain(..)
                .rev()
                .filter(|id| items.get(id).is_some_and(|i| i.from_events))
                .filter(|id| seen.insert(id.clone()))
                .collect();
            order.extend(kept.into_iter().rev());
        }
        metrics::counter!(crate::metrics::CATALOG_FORGOTTEN).increment(forgotten);
    }

    /// The item a change replaces and the one it stores.
    fn change(
        &self,
        items: &mut FxHashMap<String, Arc<Item>>,
        change: Change,
    ) -> (Option<Arc<Item>>, Option<Arc<Item>>) {
        match change {
            Change::Put(item) => {
                self.deleted.write().remove(&item.id);
                let item = Arc::new(item);
                (items.insert(item.id.clone(), item.clone()), Some(item))
            }
            Change::Delete { id } => {
                let old = items.remove(&id);
                self.deleted.write().insert(id);
                (old, None)
            }
            Change::Learn(l) if self.deleted.read().contains(&l.id) => (None, None),
            Change::Learn(l) => match l.apply_to(items.get(&l.id).map(|i| &**i)) {
                Some(item) => {
                    let item = Arc::new(item);
                    (items.insert(item.id.clone(), item.clone()), Some(item))
                }
                None => (None, None),
            },
        }
    }

    /// Keeps the created-time index and the counters in step with a replacement.
    fn account(
        &self,
        by_created: &mut BTreeSet<(i64, String)>,
        old: Option<Arc<Item>>,
        new: Option<Arc<Item>>,
    ) {
        if let Some(o) = old {
            if let Some(t) = created_ms(&o) {
                by_created.remove(&(t, o.id.clone()));
            }
            if !o.available {
                self.unavailable.fetch_sub(1, Ordering::Relaxed);
            }
            if !o.from_events {
                self.fed.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if let Some(n) = new {
            if let Some(t) = created_ms(&n) {
                by_created.insert((t, n.id.clone()));
            }
            if !n.available {
                self.unavailable.fetch_add(1, Ordering::Relaxed);
            }
            if !n.from_events {
                self.fed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Up to `n` items created at or after `since_ms` that `keep` accepts, drawn from the 100
    /// newest such items, pseudo-randomly by `seed`.
    pub fn pick_new(
        &self,
        since_ms: i64,
        n: usize,
        seed: u64,
        keep: impl Fn(&Item) -> bool,
    ) -> Vec<Arc<Item>> {
        if n == 0 {
            return Vec::new();
        }
        let mut pool: Vec<Arc<Item>> = {
            let items = self.items.read();
            let by_created = self.by_created.read();
            by_created
                .range((since_ms, String::new())..)
                .rev()
                .filter_map(|(_, id)| items.get(id))
                .filter(|it| keep(it))
                .take(100)
                .cloned()
                .collect()
        };
        // Partial Fisher–Yates with splitmix64.
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            crate::mix::mix64(x)
        };
        let n = n.min(pool.len());
        for i in 0..n {
            let j = i + (next() % (pool.len() - i) as u64) as usize;
            pool.swap(i, j);
        }
        pool.truncate(n);
        pool
    }

    async fn append(&self, changes: Vec<Change>) -> Result<()> {
        let _order = self.write.lock().await;
        let at = now_ms();
        let records = changes
            .iter()
            .map(|c| {
                let id = match c {
                    Change::Put(i) => i.id.as_str(),
                    Change::Delete { id } => id.as_str(),
                    Change::Learn(l) => l.id.as_str(),
                };
                let value = serde_json::to_vec(c).map_err(|e| Error::Model(e.to_string()))?;
                Ok(Record::new(id.to_owned(), value, at))
            })
            .collect::<Result<Vec<_>>>()?;
        let appended = self.log.append(CATALOG_TOPIC, records).await?;
        let Some(last) = appended.iter().map(|a| a.offset).max() else {
            return Ok(());
        };
        // Applied from the log, in its order, so this process reads its own change when
        // the call returns.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            self.sync()?;
            if *self.next.lock() > last {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::Catalog(format!(
                    "the change stored at offset {last} of the catalog topic did not become readable within 10 s"
                )));
            }
            self.log
                .wait_for(
                    CATALOG_TOPIC,
                    0,
                    last,
                    std::time::Duration::from_millis(100),
                )
                .await;
        }
    }

    /// Stores items (durably: answered after the log's fsync).
    pub async fn put(&self, items: Vec<Item>) -> Result<()> {
        self.append(items.into_iter().map(Change::Put).collect())
            .await
    }

    /// Removes an item; `false` when it was not in the catalog.
    pub async fn delete(&self, id: &str) -> Result<bool> {
        if !self.items.read().contains_key(id) {
            return Ok(false);
        }
        self.append(vec![Change::Delete { id: id.to_owned() }])
            .await?;
        Ok(true)
    }

    /// Stores what events said about items, where it adds to the catalog: observations
    /// that change nothing cost one read lock and are not written.
    pub async fn learn(&self, seen: Vec<Learned>) -> Result<usize> {
        let news: Vec<Change> = {
            let items = self.items.read();
            let deleted = self.deleted.read();
            let mut batch: FxHashMap<&str, Item> = FxHashMap::default();
            let mut news = Vec::new();
            for l in seen.iter().filter(|l| !deleted.contains(&l.id)) {
                let current = batch
                    .get(l.id.as_str())
                    .or_else(|| items.get(&l.id).map(|i| &**i));
                if let Some(next) = l.apply_to(current) {
                    batch.insert(l.id.as_str(), next);
                    news.push(Change::Learn(l.clone()));
                }
            }
            news
        };
        if news.is_empty() {
            return Ok(0);
        }
        let n = news.len();
        self.append(news).await?;
        metrics::counter!(crate::metrics::CATALOG_LEARNED).increment(n as u64);
        Ok(n)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Item>> {
        self.items.read().get(id).cloned()
    }

    /// Up to `limit` items ordered by id, with ids after `after` (exclusive) and, with
    /// `category`, only items of that category.
    pub fn list(
        &self,
        limit: usize,
        category: Option<&str>,
        after: Option<&str>,
    ) -> Vec<Arc<Item>> {
        let mut out: Vec<Arc<Item>> = self
            .items
            .read()
            .values()
            .filter(|it| after.is_none_or(|a| it.id.as_str() > a))
            .filter(|it| category.is_none_or(|c| it.categories.iter().any(|x| x == c)))
            .cloned()
            .collect();
        // The first `limit` by id without sorting the rest.
        if out.len() > limit {
            out.select_nth_unstable_by(limit, |a, b| a.id.cmp(&b.id));
            out.truncate(limit);
        }
        out.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        out
    }

    pub fn len(&self) -> usize {
        self.items.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Items only events introduced (bounded by `catalog.max_learned_items`).
    pub fn learned_len(&self) -> usize {
        self.learned_in(&self.items.read())
    }

    /// Items of `items` (the locked map) that only events introduced.
    fn learned_in(&self, items: &FxHashMap<String, Arc<Item>>) -> usize {
        items.len() - self.fed.load(Ordering::Relaxed)
    }

    /// Whether any item is marked unavailable or deleted.
    pub fn has_unavailable(&self) -> bool {
        self.unavailable.load(Ordering::Relaxed) > 0 || !self.deleted.read().is_empty()
    }

    /// Whether the catalog feed (items put through the API) holds `id`; `None` when there
    /// is no feed to judge by (the data-quality check `unknown_items` is skipped then).
    pub fn knows(&self, id: &str) -> Option<bool> {
        if self.fed.load(Ordering::Relaxed) == 0 {
            return None;
        }
        Some(self.items.read().get(id).is_some_and(|i| !i.from_events))
    }

    /// Whether `id` may be recommended: not marked unavailable, not deleted (unknown items
    /// may).
    pub fn is_available(&self, id: &str) -> bool {
        match self.items.read().get(id) {
            Some(i) => i.available,
            None => !self.deleted.read().contains(id),
        }
    }

    /// Every item of the catalog that may be recommended, by id (the last source that fills
    /// answers up: items no event named yet).
    pub fn available_items(&self) -> Vec<Arc<Item>> {
        let mut out: Vec<Arc<Item>> = self
            .items
            .read()
            .values()
            .filter(|i| i.available)
            .cloned()
            .collect();
        out.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        out
    }
}

#[cfg(test)]
mod tests;
