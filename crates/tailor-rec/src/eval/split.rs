//! Evaluation protocols and the train/test splits they make.
//!
//! * `session` (session-rec's next-item protocol): the sessions that end in the last
//!   `test_days` are the test set (or the publisher's test file, for yoochoose); test events
//!   on items absent from training are removed and sessions left with fewer than two events
//!   are dropped (both counted); every prefix of a test session predicts its next item,
//!   without excluding anything (repeat clicks count).
//! * `temporal` (leave-last-out): per user, the distinct items ordered by their first
//!   interaction; the last `holdout` of them are the test items. Training keeps the user's
//!   rows before the first interaction with any test item; the user's later rows are dropped.
//!   Users with no more than `holdout` distinct items stay whole in training. Test items no
//!   training row has are removed (counted). The full catalog is ranked, minus the user's
//!   training items; no sampled negatives.
//! * `next_basket` (repeat consumption): per user, the distinct items of their last session
//!   (the last visit, basket or order) are the test items, including items the user had
//!   before: nothing is excluded, so a model of what users buy again can score. Training
//!   keeps the user's rows before that session; users with one session stay whole in
//!   training. Test items no training row has are removed (counted).

use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

use crate::data::{Interactions, Row};
use crate::model::{Context, HistoryEvent};
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "snake_case", deny_unknown_fields)]
pub enum Protocol {
    Session {
        /// Sessions ending within this many days of the newest event are the test set.
        test_days: f64,
    },
    Temporal {
        /// Distinct items held out per user (the last by first-interaction time).
        holdout: usize,
    },
    NextBasket,
}

impl Protocol {
    pub fn session() -> Protocol {
        Protocol::Session { test_days: 1.0 }
    }

    pub fn temporal() -> Protocol {
        Protocol::Temporal { holdout: 1 }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Protocol::Session { .. } => "session",
            Protocol::Temporal { .. } => "temporal",
            Protocol::NextBasket => "next_basket",
        }
    }

    /// Splits `data` into training data and test cases.
    pub fn split(&self, data: &Interactions) -> Result<Split> {
        match *self {
            Protocol::Session { test_days } => session_split(data, test_days),
            Protocol::Temporal { holdout } => temporal_split(data, holdout),
            Protocol::NextBasket => next_basket_split(data),
        }
    }

    /// The validation split: the same protocol applied to the training part of the test
    /// split, so tuning never sees test events.
    pub fn validation_split(&self, data: &Interactions) -> Result<Split> {
        let outer = self.split(data)?;
        self.split(&outer.train)
    }
}

/// One prediction to make.
#[derive(Debug, Clone)]
pub struct Case {
    pub ctx: Context,
    pub targets: FxHashSet<u32>,
    pub exclude: FxHashSet<u32>,
}

/// What the split removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitStats {
    pub train_rows: usize,
    pub test_rows: usize,
    /// Test events (session) or test items (temporal) on items absent from training.
    pub test_unknown_items: usize,
    /// Test sessions or users left without a case.
    pub dropped: usize,
    /// Rows dropped because they happened after a user's held-out interaction (temporal).
    pub dropped_after_cut: usize,
}

#[derive(Debug, Clone)]
pub struct Split {
    pub protocol: Protocol,
    pub train: Interactions,
    pub cases: Vec<Case>,
    pub stats: SplitStats,
    /// Test rows (after filtering), for export: the session's events in order, or each
    /// user's held-out items.
    pub test_rows: Vec<Row>,
}

fn event(r: &Row) -> HistoryEvent {
    HistoryEvent {
        item: r.item,
        kind: r.kind,
        ts_ms: r.ts_ms,
    }
}

fn session_split(data: &Interactions, test_days: f64) -> Result<Split> {
    if data.is_empty() {
        return Err(Error::Empty("interactions"));
    }
    let by_session = data.rows_by_session();
    let is_test: Vec<bool> = match &data.given_test_sessions {
        Some(given) => (0..data.n_sessions).map(|s| given.contains(&s)).collect(),
        None => {
            let cut = data.max_ts_ms() - (test_days * 86_400_000.0) as i64;
            by_session
                .iter()
                .map(|rows| {
                    rows.last()
                        .is_some_and(|&r| data.rows[r as usize].ts_ms >= cut)
                })
                .collect()
        }
    };
    let train = data.subset(|_, r| !is_test[r.session as usize]);
    let known = train.present_items();
    let mut stats = SplitStats {
        train_rows: train.len(),
        ..SplitStats::default()
    };
    let mut cases = Vec::new();
    let mut test_rows = Vec::new();
    let mut sessions: Vec<(i64, u32)> = by_session
        .iter()
        .enumerate()
        .filter(|(s, rows)| is_test[*s] && !rows.is_empty())
        .map(|(s, rows)| (data.rows[rows[0] as usize].ts_ms, s as u32))
        .collect();
    sessions.sort_unstable();
    for (_, s) in sessions {
        let rows: Vec<&Row> = by_session[s as usize]
            .iter()
            .map(|&r| &data.rows[r as usize])
            .collect();
        let kept: Vec<&Row> = rows
            .iter()
            .copied()
            .filter(|r| known[r.item as usize])
            .collect();
        stats.test_unknown_items += rows.len() - kept.len();
        if kept.len() < 2 {
            stats.dropped += 1;
            continue;
        }
        stats.test_rows += kept.len();
        test_rows.extend(kept.iter().map(|r| **r));
        for i in 1..kept.len() {
            let prefix: Vec<HistoryEvent> = kept[..i].iter().map(|r| event(r)).collect();
            cases.push(Case {
                ctx: Context {
                    user: None,
                    history: prefix.clone(),
                    session: prefix,
                    category: None,
                    now_ms: kept[i - 1].ts_ms,
                },
                targets: [kept[i].item].into_iter().collect(),
                exclude: FxHashSet::default(),
            });
        }
    }
    Ok(Split {
        protocol: Protocol::Session { test_days },
        train,
        cases,
        stats,
        test_rows,
    })
}

/// A user's training rows as a context: the whole history, and its last session.
fn user_context(train: &Interactions, rows: &[u32]) -> (Vec<HistoryEvent>, Vec<HistoryEvent>) {
    let history = rows
        .iter()
        .map(|&r| event(&train.rows[r as usize]))
        .collect();
    let last_session = rows.last().map(|&r| train.rows[r as usize].session);
    let session = rows
        .iter()
        .map(|&r| &train.rows[r as usize])
        .filter(|r| Some(r.session) == last_session)
        .map(event)
        .collect();
    (history, session)
}

fn temporal_split(data: &Interactions, holdout: usize) -> Result<Split> {
    if holdout == 0 {
        return Err(Error::Param("temporal holdout must be at least 1".into()));
    }
    if data.is_empty() {
        return Err(Error::Empty("interactions"));
    }
    let by_user = data.rows_by_user();
    // Per user: the first row index of the held-out items (rows from there on are not
    // training), and the held-out items.
    let mut cut = vec![usize::MAX; data.n_users()];
    let mut held: Vec<Vec<u32>> = vec![Vec::new(); data.n_users()];
    for (u, rows) in by_user.iter().enumerate() {
        let mut firsts: Vec<(u32, u32)> = Vec::new(); // (first row, item)
        let mut seen = FxHashSet::default();
        for &r in rows {
            if seen.insert(data.rows[r as usize].item) {
                firsts.push((r, data.rows[r as usize].item));
            }
        }
        if firsts.len() <= holdout {
            continue;
        }
        let tail = &firsts[firsts.len() - holdout..];
        cut[u] = tail[0].0 as usize;
        held[u] = tail.iter().map(|e| e.1).collect();
    }
    let mut stats = SplitStats::default();
    let train = data.subset(|i, r| i < cut[r.user as usize]);
    for (u, rows) in by_user.iter().enumerate() {
        for &r in rows {
            let row = &data.rows[r as usize];
            if r as usize >= cut[u] && !held[u].contains(&row.item) {
                stats.dropped_after_cut += 1;
            }
        }
    }
    stats.train_rows = train.len();
    let known = train.present_items();
    let train_by_user = train.rows_by_user();
    let mut cases = Vec::new();
    let mut test_rows = Vec::new();
    for (u, items) in held.iter().enumerate() {
        if items.is_empty() {
            continue;
        }
        let targets: FxHashSet<u32> = items
            .iter()
            .copied()
            .filter(|&i| known[i as usize])
            .collect();
        stats.test_unknown_items += items.len() - targets.len();
        if targets.is_empty() {
            stats.dropped += 1;
            continue;
        }
        let (history, session) = user_context(&train, &train_by_user[u]);
        let cut_ts = data.rows[cut[u]].ts_ms;
        for &i in items.iter().filter(|i| targets.contains(i)) {
            test_rows.push(Row {
                user: u as u32,
                item: i,
                kind: data.rows[cut[u]].kind,
                ts_ms: cut_ts,
                session: data.rows[cut[u]].session,
            });
        }
        stats.test_rows += targets.len();
        cases.push(Case {
            exclude: history.iter().map(|e| e.item).collect(),
            ctx: Context {
                user: Some(u as u32),
                history,
                session,
                category: None,
                now_ms: cut_ts,
            },
            targets,
        });
    }
    Ok(Split {
        protocol: Protocol::Temporal { holdout },
        train,
        cases,
        stats,
        test_rows,
    })
}

fn next_basket_split(data: &Interactions) -> Result<Split> {
    if data.is_empty() {
        return Err(Error::Empty("interactions"));
    }
    let by_user = data.rows_by_user();
    // Per user: the first row of their last session (rows from there on are the test).
    let mut cut = vec![usize::MAX; data.n_users()];
    for (u, rows) in by_user.iter().enumerate() {
        let Some(&last) = rows.last() else { continue };
        let session = data.rows[last as usize].session;
        let first = rows
            .iter()
            .rposition(|&r| data.rows[r as usize].session != session)
            .map(|p| rows[p + 1]);
        if let Some(first) = first {
            cut[u] = first as usize;
        }
    }
    let train = data.subset(|i, r| i < cut[r.user as usize]);
    let known = train.present_items();
    let train_by_user = train.rows_by_user();
    let mut stats = SplitStats {
        train_rows: train.len(),
        ..SplitStats::default()
    };
    let mut cases = Vec::new();
    let mut test_rows = Vec::new();
    for (u, rows) in by_user.iter().enumerate() {
        if cut[u] == usize::MAX {
            continue;
        }
        let mut items: Vec<u32> = Vec::new();
        for &r in rows.iter().filter(|&&r| r as usize >= cut[u]) {
            let row = &data.rows[r as usize];
            if !items.contains(&row.item) {
                items.push(row.item);
                if known[row.item as usize] {
                    test_rows.push(*row);
                }
            }
        }
        let targets: FxHashSet<u32> = items
            .iter()
            .copied()
            .filter(|&i| known[i as usize])
            .collect();
        stats.test_unknown_items += items.len() - targets.len();
        if targets.is_empty() {
            stats.dropped += 1;
            continue;
        }
        stats.test_rows += targets.len();
        let (history, session) = user_context(&train, &train_by_user[u]);
        cases.push(Case {
            exclude: FxHashSet::default(),
            ctx: Context {
                user: Some(u as u32),
                history,
                session,
                category: None,
                now_ms: data.rows[cut[u]].ts_ms,
            },
            targets,
        });
    }
    Ok(Split {
        protocol: Protocol::NextBasket,
        train,
        cases,
        stats,
        test_rows,
    })
}
