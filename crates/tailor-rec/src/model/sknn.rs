//! Session kNN, V-SKNN (Ludewig & Jannach 2018): past sessions as item sets; the current
//! session weighted by position; candidate neighbour sessions are the most recent of those
//! sharing an item with it; cosine similarity; the top-k neighbours vote for their items,
//! each vote decayed by how far back the shared item lies. Needs no user id.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use super::{top_k, Context, Recommender};
use crate::data::Interactions;
use crate::{Error, Result};

/// Weight of the current session's item at position `i` (1-based) of `len`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionWeight {
    Same,
    /// `1 − 0.1 · (len − i)`, at least 0.
    Linear,
    /// `i / len`.
    Div,
    /// `(i / len)²`.
    Quadratic,
    /// `1 / (log10(len − i + 1) + 1)`.
    Log,
}

impl PositionWeight {
    fn weight(self, i: usize, len: usize) -> f32 {
        let (i, len) = (i as f32, len as f32);
        match self {
            PositionWeight::Same => 1.0,
            PositionWeight::Linear => (1.0 - 0.1 * (len - i)).max(0.0),
            PositionWeight::Div => i / len,
            PositionWeight::Quadratic => (i / len) * (i / len),
            PositionWeight::Log => 1.0 / ((len - i + 1.0).log10() + 1.0),
        }
    }
}

/// Decay of a neighbour's vote by `step`, the distance (1 = last item) from the end of the
/// current session to the most recent item the neighbour shares.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreDecay {
    None,
    /// `1 − 0.1 · (step − 1)`, at least 0.
    Linear,
    /// `1 / step`.
    Div,
    /// `1 / step²`.
    Quadratic,
}

impl ScoreDecay {
    fn weight(self, step: usize) -> f32 {
        let s = step as f32;
        match self {
            ScoreDecay::None => 1.0,
            ScoreDecay::Linear => (1.0 - 0.1 * (s - 1.0)).max(0.0),
            ScoreDecay::Div => 1.0 / s,
            ScoreDecay::Quadratic => 1.0 / (s * s),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SknnParams {
    /// Neighbour sessions that vote.
    pub k: usize,
    /// Candidate sessions considered (the most recent sharing an item).
    pub sample_size: usize,
    pub position: PositionWeight,
    pub score_decay: ScoreDecay,
    /// Votes for item `j` are scaled by `1 + idf_weighting · idf(j)` (0: off).
    pub idf_weighting: f32,
    /// Only the last this many events of the session are used (0: all).
    pub last_n: usize,
}

impl Default for SknnParams {
    fn default() -> Self {
        SknnParams {
            k: 100,
            sample_size: 500,
            position: PositionWeight::Linear,
            score_decay: ScoreDecay::Div,
            idf_weighting: 0.0,
            last_n: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionKnn {
    /// Distinct items of each training session.
    session_items: Vec<Vec<u32>>,
    /// Last event time of each session.
    session_time: Vec<i64>,
    /// Sessions containing each item, most recent first.
    item_sessions: Vec<Vec<u32>>,
    idf: Vec<f32>,
    params: SknnParams,
}

impl SessionKnn {
    pub fn fit(data: &Interactions, p: &SknnParams) -> Result<SessionKnn> {
        if p.k == 0 || p.sample_size == 0 {
            return Err(Error::Param("sknn needs k > 0 and sample_size > 0".into()));
        }
        let mut session_items: Vec<Vec<u32>> = vec![Vec::new(); data.n_sessions as usize];
        let mut session_time = vec![i64::MIN; data.n_sessions as usize];
        for r in &data.rows {
            let s = &mut session_items[r.session as usize];
            if !s.contains(&r.item) {
                s.push(r.item);
            }
            session_time[r.session as usize] = session_time[r.session as usize].max(r.ts_ms);
        }
        let mut item_sessions: Vec<Vec<u32>> = vec![Vec::new(); data.n_items()];
        for (s, items) in session_items.iter().enumerate() {
            for &i in items {
                item_sessions[i as usize].push(s as u32);
            }
        }
        for l in &mut item_sessions {
            l.sort_by(|a, b| {
                session_time[*b as usize]
                    .cmp(&session_time[*a as usize])
                    .then(b.cmp(a))
            });
        }
        let n_sessions = session_items
            .iter()
            .filter(|s| !s.is_empty())
            .count()
            .max(1) as f32;
        let idf = item_sessions
            .iter()
            .map(|l| {
                if l.is_empty() {
                    0.0
                } else {
                    (n_sessions / l.len() as f32).ln()
                }
            })
            .collect();
        Ok(SessionKnn {
            session_items,
            session_time,
            item_sessions,
            idf,
            params: p.clone(),
        })
    }

    /// The top neighbour sessions `(session, similarity)` for the current session's items
    /// (oldest first).
    pub fn neighbours(&self, current: &[u32]) -> Vec<(u32, f32)> {
        let p = &self.params;
        let len = current.len();
        // Position weight of each distinct item: its last position.
        let mut weight: FxHashMap<u32, f32> = FxHashMap::default();
        for (pos, &i) in current.iter().enumerate() {
            weight.insert(i, p.position.weight(pos + 1, len));
        }
        let norm = weight.values().map(|w| w * w).sum::<f32>().sqrt();
        if norm == 0.0 {
            return Vec::new();
        }
        // The most recent `sample_size` sessions sharing an item are among the first
        // `sample_size` of each item's list.
        let mut cands: FxHashSet<u32> = FxHashSet::default();
        for &i in weight.keys() {
            if let Some(l) = self.item_sessions.get(i as usize) {
                cands.extend(l.iter().take(p.sample_size));
            }
        }
        let mut cands: Vec<u32> = cands.into_iter().collect();
        if cands.len() > p.sample_size {
            let key = |s: &u32| {
                (
                    std::cmp::Reverse(self.session_time[*s as usize]),
                    std::cmp::Reverse(*s),
                )
            };
            cands.select_nth_unstable_by_key(p.sample_size - 1, key);
            cands.truncate(p.sample_size);
        }
        let sims = cands
            .into_iter()
            .map(|s| {
                let items = &self.session_items[s as usize];
                let dot: f32 = items.iter().filter_map(|i| weight.get(i)).sum();
                (s, dot / (norm * (items.len() as f32).sqrt()))
            })
            .filter(|e| e.1 > 0.0)
            .collect();
        top_k(sims, p.k)
    }
}

impl Recommender for SessionKnn {
    fn name(&self) -> &str {
        "sknn"
    }

    fn recommend(&self, ctx: &Context, k: usize, exclude: &FxHashSet<u32>) -> Vec<(u32, f32)> {
        let p = &self.params;
        let events = ctx.session_events();
        let from = if p.last_n > 0 {
            events.len().saturating_sub(p.last_n)
        } else {
            0
        };
        let current: Vec<u32> = events[from..].iter().map(|e| e.item).collect();
        let mut scores: FxHashMap<u32, f32> = FxHashMap::default();
        for (s, sim) in self.neighbours(&current) {
            let items = &self.session_items[s as usize];
            let step = current
                .iter()
                .rev()
                .position(|i| items.contains(i))
                .map_or(usize::MAX, |x| x + 1);
            let vote = sim * p.score_decay.weight(step);
            if vote <= 0.0 {
                continue;
            }
            for &j in items {
                if exclude.contains(&j) {
                    continue;
                }
                let idf = self.idf.get(j as usize).copied().unwrap_or(0.0);
                *scores.entry(j).or_insert(0.0) += vote * (1.0 + p.idf_weighting * idf);
            }
        }
        top_k(scores.into_iter().collect(), k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{id, shop};

    #[test]
    fn neighbours_share_items_and_vote_for_the_rest() {
        let data = shop();
        let m = SessionKnn::fit(&data, &SknnParams::default()).expect("fit");
        let (s1, s2) = (id(&data, "s1"), id(&data, "s2"));
        let nb = m.neighbours(&[s1, s2]);
        assert!(!nb.is_empty());
        for (s, _) in &nb {
            assert!(m.session_items[*s as usize].contains(&s1));
        }
        let ex: FxHashSet<u32> = [s1, s2, id(&data, "hit")].into_iter().collect();
        let top = m.recommend(&Context::from_session(&[s1, s2]), 2, &ex);
        assert_eq!(top[0].0, id(&data, "s3"), "{top:?}");
        assert_eq!(top[1].0, id(&data, "s4"), "{top:?}");
    }

    #[test]
    fn sample_keeps_the_most_recent_sessions() {
        let data = shop();
        let p = SknnParams {
            sample_size: 2,
            ..SknnParams::default()
        };
        let m = SessionKnn::fit(&data, &p).expect("fit");
        let h1 = id(&data, "h1");
        let nb = m.neighbours(&[h1]);
        assert_eq!(nb.len(), 2);
        let newest = m.item_sessions[h1 as usize][..2].to_vec();
        for (s, _) in nb {
            assert!(newest.contains(&s));
        }
    }

    #[test]
    fn weights_and_decays() {
        assert_eq!(PositionWeight::Linear.weight(5, 5), 1.0);
        assert!((PositionWeight::Linear.weight(3, 5) - 0.8).abs() < 1e-6);
        assert_eq!(PositionWeight::Div.weight(1, 4), 0.25);
        assert_eq!(ScoreDecay::Div.weight(2), 0.5);
        assert_eq!(ScoreDecay::Quadratic.weight(2), 0.25);
        assert_eq!(ScoreDecay::Linear.weight(1), 1.0);
    }
}
