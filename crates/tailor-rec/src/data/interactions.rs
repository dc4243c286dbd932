//! The `Interactions` dataset: interned ids and time-ordered rows.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use tailor_event::InteractionKind;

/// Dense `u32` ids for strings, both ways. Serialized as the list of names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct Interner {
    names: Vec<String>,
    index: FxHashMap<String, u32>,
}

impl From<Vec<String>> for Interner {
    fn from(names: Vec<String>) -> Self {
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        Interner { names, index }
    }
}

impl From<Interner> for Vec<String> {
    fn from(i: Interner) -> Self {
        i.names
    }
}

impl Interner {
    /// The id of `name`, assigning the next one if it is new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), id);
        id
    }

    pub fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// The name of `id`; `""` for an id this interner never gave out.
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Replaces `name` by a placeholder no request can ask for (`\0erased:ID`), keeping its
    /// id (an erased user: what the model learned stays, who it was goes). Whether it was
    /// held.
    pub fn erase(&mut self, name: &str) -> bool {
        let Some(id) = self.index.remove(name) else {
            return false;
        };
        let placeholder = format!("\0erased:{id}");
        self.index.insert(placeholder.clone(), id);
        self.names[id as usize] = placeholder;
        true
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// One interaction. `session` is the dataset's session id, or one derived from a gap in the
/// user's activity (see [`InteractionsBuilder::session_gap_ms`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub user: u32,
    pub item: u32,
    pub kind: InteractionKind,
    pub ts_ms: i64,
    pub session: u32,
}

/// Weight of each interaction kind in training (purchase 8 > cart 4 > click 2 > view 1;
/// impressions are not a signal of interest).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KindWeights {
    pub view: f32,
    pub click: f32,
    pub add_to_cart: f32,
    pub purchase: f32,
    pub impression: f32,
}

impl Default for KindWeights {
    fn default() -> Self {
        KindWeights {
            view: 1.0,
            click: 2.0,
            add_to_cart: 4.0,
            purchase: 8.0,
            impression: 0.0,
        }
    }
}

impl KindWeights {
    pub fn weight(&self, kind: InteractionKind) -> f32 {
        match kind {
            InteractionKind::View => self.view,
            InteractionKind::Click => self.click,
            InteractionKind::AddToCart => self.add_to_cart,
            InteractionKind::Purchase => self.purchase,
            InteractionKind::Impression => self.impression,
        }
    }
}

/// A set of user–item interactions with interned ids, rows sorted by time (ties keep load
/// order). Splits keep the interners of the full set, so ids mean the same on both sides.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Interactions {
    pub name: String,
    pub users: Interner,
    pub items: Interner,
    pub categories: Interner,
    /// Category of each item id, where known.
    pub item_category: Vec<Option<u32>>,
    pub rows: Vec<Row>,
    /// Number of session ids in use (`Row::session < n_sessions`).
    pub n_sessions: u32,
    /// Sessions the publisher put in its test file (yoochoose); the session protocol then
    /// uses them instead of its last-day rule.
    pub given_test_sessions: Option<FxHashSet<u32>>,
}

impl Interactions {
    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The latest timestamp, or 0 when empty.
    pub fn max_ts_ms(&self) -> i64 {
        self.rows.iter().map(|r| r.ts_ms).max().unwrap_or(0)
    }

    pub fn category_of(&self, item: u32) -> Option<u32> {
        self.item_category.get(item as usize).copied().flatten()
    }

    /// Row indices per user, in time order.
    pub fn rows_by_user(&self) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); self.n_users()];
        for (i, r) in self.rows.iter().enumerate() {
            out[r.user as usize].push(i as u32);
        }
        out
    }

    /// Row indices per session, in time order.
    pub fn rows_by_session(&self) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); self.n_sessions as usize];
        for (i, r) in self.rows.iter().enumerate() {
            out[r.session as usize].push(i as u32);
        }
        out
    }

    /// Items that occur in at least one row.
    pub fn present_items(&self) -> Vec<bool> {
        let mut seen = vec![false; self.n_items()];
        for r in &self.rows {
            seen[r.item as usize] = true;
        }
        seen
    }

    /// Number of distinct users per item (the popularity used for novelty).
    pub fn item_user_counts(&self) -> Vec<u32> {
        let mut pairs: FxHashSet<(u32, u32)> = FxHashSet::default();
        let mut counts = vec![0u32; self.n_items()];
        for r in &self.rows {
            if pairs.insert((r.user, r.item)) {
                counts[r.item as usize] += 1;
            }
        }
        counts
    }

    /// The same ids with only the rows `keep` accepts (time order is kept).
    pub fn subset(&self, mut keep: impl FnMut(usize, &Row) -> bool) -> Interactions {
        Interactions {
            name: self.name.clone(),
            users: self.users.clone(),
            items: self.items.clone(),
            categories: self.categories.clone(),
            item_category: self.item_category.clone(),
            rows: self
                .rows
                .iter()
                .enumerate()
                .filter(|(i, r)| keep(*i, r))
                .map(|(_, r)| *r)
                .collect(),
            n_sessions: self.n_sessions,
            given_test_sessions: None,
        }
    }
}

/// Builds an [`Interactions`] row by row.
#[derive(Debug)]
pub struct InteractionsBuilder {
    data: Interactions,
    sessions: Interner,
    /// Rows without a session id get one per user, a new one after this much inactivity.
    pub session_gap_ms: i64,
}

/// Marks a row whose session is derived in `finish`.
const NO_SESSION: u32 = u32::MAX;

impl InteractionsBuilder {
    pub fn new(name: &str) -> Self {
        InteractionsBuilder {
            data: Interactions {
                name: name.to_owned(),
                ..Interactions::default()
            },
            sessions: Interner::default(),
            session_gap_ms: 30 * 60 * 1000,
        }
    }

    /// A builder whose ids start as `vocab`'s: known users, items and categories keep their
    /// ids and new ones are numbered after them, so a model trained on the earlier vocabulary
    /// still indexes the new data correctly (incremental retraining).
    pub fn with_vocab(name: &str, vocab: &crate::artifact::Vocab) -> Self {
        let mut b = InteractionsBuilder::new(name);
        b.data.users = vocab.users.clone();
        b.data.items = vocab.items.clone();
        b.data.categories = vocab.categories.clone();
        b.data.item_category = vocab.item_category.clone();
        b
    }

    /// Adds a row. A category given for an item sets (or replaces) the item's category.
    pub fn push(
        &mut self,
        user: &str,
        item: &str,
        kind: InteractionKind,
        ts_ms: i64,
        category: Option<&str>,
        session: Option<&str>,
    ) -> u32 {
        let d = &mut self.data;
        let user = d.users.intern(user);
        let item = d.items.intern(item);
        if d.item_category.len() < d.items.len() {
            d.item_category.resize(d.items.len(), None);
        }
        if let Some(c) = category {
            d.item_category[item as usize] = Some(d.categories.intern(c));
        }
        let session = session.map_or(NO_SESSION, |s| self.sessions.intern(s));
        d.rows.push(Row {
            user,
            item,
            kind,
            ts_ms,
            session,
        });
        session
    }

    /// Sets an item's category without adding a row.
    pub fn set_category(&mut self, item: &str, category: &str) {
        let d = &mut self.data;
        let item = d.items.intern(item);
        if d.item_category.len() < d.items.len() {
            d.item_category.resize(d.items.len(), None);
        }
        d.item_category[item as usize] = Some(d.categories.intern(category));
    }

    /// Marks the given session ids as the publisher's test set.
    pub fn given_test_sessions(&mut self, sessions: FxHashSet<u32>) {
        self.data.given_test_sessions = Some(sessions);
    }

    /// Sorts rows by time (stable) and derives missing session ids.
    pub fn finish(mut self) -> Interactions {
        let d = &mut self.data;
        d.item_category.resize(d.items.len(), None);
        d.rows.sort_by_key(|r| r.ts_ms);
        let mut next = self.sessions.len() as u32;
        // Per user: (last derived session, last time).
        let mut last: FxHashMap<u32, (u32, i64)> = FxHashMap::default();
        for r in &mut d.rows {
            if r.session != NO_SESSION {
                continue;
            }
            let e = last.entry(r.user).or_insert((NO_SESSION, i64::MIN));
            if e.0 == NO_SESSION || r.ts_ms - e.1 > self.session_gap_ms {
                e.0 = next;
                next += 1;
            }
            e.1 = r.ts_ms;
            r.session = e.0;
        }
        d.n_sessions = next;
        self.data
    }
}
