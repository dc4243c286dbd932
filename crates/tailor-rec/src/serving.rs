//! Serving a registry model: a request's string ids (the user's feature row, a context item)
//! become the model's [`Context`], its answer becomes item ids again, and [`merge`] blends it
//! with the live co-occurrence model, which learns from the stream between trainings.

use rustc_hash::{FxHashMap, FxHashSet};
use tailor_event::InteractionKind;

use crate::artifact::Trained;
use crate::model::{Context, Filters, HistoryEvent, Model, Recommender};
use crate::registry::ModelMeta;
use crate::{RecItem, UserInputs};

/// A promoted registry version, loaded and ready to answer.
#[derive(Debug)]
pub struct ServedModel {
    pub meta: ModelMeta,
    pub trained: Trained,
}

/// What a recommendation request gives the served model.
#[derive(Clone, Copy, Default)]
pub struct ServeRequest<'a> {
    /// The actor id (user id, else anonymous id) the model may know from training.
    pub actor: Option<&'a str>,
    /// The actor's inputs from the online feature store.
    pub inputs: Option<&'a UserInputs>,
    /// A context item ("more like this", the product page).
    pub item: Option<&'a str>,
    pub k: usize,
    /// Drop items the user interacted with recently.
    pub exclude_seen: bool,
    /// Keep the user's purchases (a "buy again" surface) even where the blend's rules drop
    /// them.
    pub keep_purchased: bool,
    /// Only items for which this holds (the catalog's availability), by item id.
    pub available: Option<&'a (dyn Fn(&str) -> bool + Sync)>,
    /// Only items of this category (trending then ranks within it).
    pub category: Option<&'a str>,
    /// Say which parts of the blend proposed each item ([`RecItem::sources`]).
    pub explain: bool,
}

impl ServedModel {
    /// `name@vN`, the `model` field of answers.
    pub fn label(&self) -> String {
        format!("{}@v{}", self.meta.name, self.meta.version)
    }

    /// Whether the user `actor` had `item` in the model's training data.
    pub fn had(&self, actor: &str, item: &str) -> bool {
        let v = &self.trained.vocab;
        match (v.users.get(actor), v.items.get(item)) {
            (Some(u), Some(i)) => v
                .user_items
                .get(u as usize)
                .is_some_and(|items| items.binary_search(&i).is_ok()),
            _ => false,
        }
    }

    /// The model's view of a request. Items the model never saw are left out (the live model
    /// covers them); history and session run oldest first, the context item last.
    pub fn context(&self, req: &ServeRequest<'_>) -> Context {
        let v = &self.trained.vocab;
        let mut ctx = Context {
            user: req.actor.and_then(|a| v.users.get(a)),
            ..Context::default()
        };
        let events = |ids: &[String], kind: InteractionKind| -> Vec<HistoryEvent> {
            ids.iter()
                .rev()
                .filter_map(|s| v.items.get(s))
                .map(|item| HistoryEvent {
                    item,
                    kind,
                    ts_ms: 0,
                })
                .collect()
        };
        if let Some(u) = req.inputs {
            // Purchases first (older than the browsing that follows them in the list).
            ctx.history = events(&u.purchased, InteractionKind::Purchase);
            ctx.history.extend(events(&u.recent, InteractionKind::View));
            ctx.session = events(&u.session, InteractionKind::View);
        }
        // A user the model knows: everything they had in training comes first, as in the
        // library's history (the online features keep only the latest items); what the
        // features hold follows at its own, more recent, place.
        if let Some(items) = ctx.user.and_then(|u| v.user_items.get(u as usize)) {
            let newer: FxHashSet<u32> = ctx.history.iter().map(|e| e.item).collect();
            let mut history: Vec<HistoryEvent> = items
                .iter()
                .filter(|i| !newer.contains(i))
                .map(|&item| HistoryEvent {
                    item,
                    kind: InteractionKind::View,
                    ts_ms: 0,
                })
                .collect();
            history.append(&mut ctx.history);
            ctx.history = history;
        }
        if let Some(item) = req.item.and_then(|i| v.items.get(i)) {
            let e = HistoryEvent {
                item,
                kind: InteractionKind::View,
                ts_ms: 0,
            };
            ctx.history.push(e);
            ctx.session.push(e);
        }
        for (i, e) in ctx.history.iter_mut().enumerate() {
            e.ts_ms = i as i64;
        }
        for (i, e) in ctx.session.iter_mut().enumerate() {
            e.ts_ms = i as i64;
        }
        ctx
    }

    /// The model's `k` best items for the request, best first.
    pub fn recommend(&self, req: &ServeRequest<'_>) -> Vec<RecItem> {
        let v = &self.trained.vocab;
        let mut ctx = self.context(req);
        let mut exclude: FxHashSet<u32> = FxHashSet::default();
        if let Some(i) = req.item.and_then(|i| v.items.get(i)) {
            exclude.insert(i);
        }
        if req.exclude_seen {
            if let Some(u) = req.inputs {
                exclude.extend(
                    u.recent
                        .iter()
                        .chain(&u.session)
                        .filter_map(|s| v.items.get(s)),
                );
            }
            // Everything a user the model knows had in training, not only the recent items.
            if let Some(items) = ctx.user.and_then(|u| v.user_items.get(u as usize)) {
                exclude.extend(items.iter().copied());
            }
        }
        let by_id = |i: u32| req.available.is_none_or(|a| a(v.items.name(i)));
        // A category the model does not know: no item of the model qualifies.
        let categories: Option<FxHashSet<u32>> = req
            .category
            .map(|c| v.categories.get(c).into_iter().collect());
        ctx.category = categories.as_ref().and_then(|c| c.iter().next().copied());
        let in_category = |i: u32| {
            categories.as_ref().is_none_or(|cs| {
                v.item_category
                    .get(i as usize)
                    .copied()
                    .flatten()
                    .is_some_and(|c| cs.contains(&c))
            })
        };
        let ranked = match &self.trained.model {
            Model::Blend(b) => {
                let filters = Filters {
                    available: req.available.is_some().then_some(&by_id as _),
                    categories: categories.as_ref(),
                    keep_purchased: req.keep_purchased,
                };
                if req.explain {
                    b.recommend_explained(&ctx, req.k, &exclude, &filters)
                } else {
                    let r = b.recommend_filtered(&ctx, req.k, &exclude, &filters);
                    r.into_iter().map(|(i, s)| (i, s, Vec::new())).collect()
                }
            }
            m => {
                let mut list = m.recommend(&ctx, req.k * 2 + 10, &exclude);
                list.retain(|e| by_id(e.0) && in_category(e.0));
                list.truncate(req.k);
                let name = m.name().to_owned();
                list.into_iter()
                    .map(|(i, s)| {
                        (
                            i,
                            s,
                            if req.explain {
                                vec![(name.clone(), s)]
                            } else {
                                Vec::new()
                            },
                        )
                    })
                    .collect()
            }
        };
        ranked
            .into_iter()
            .map(|(i, s, parts)| RecItem {
                item_id: v.items.name(i).to_owned(),
                score: f64::from(s),
                category: v.category_name(i).map(str::to_owned),
                source: crate::Origin::Model,
                sources: parts
                    .into_iter()
                    .map(|(p, c)| (format!("model:{p}"), f64::from(c)))
                    .collect(),
            })
            .collect()
    }
}

/// Blends the served model's list with the live model's: each normalised by its best score,
/// weighted `1 − live_weight` and `live_weight`, summed per item; the `k` best, best first.
/// An empty side leaves the other's order as it is.
pub fn merge(model: Vec<RecItem>, live: Vec<RecItem>, live_weight: f64, k: usize) -> Vec<RecItem> {
    if live.is_empty() || live_weight <= 0.0 {
        return model.into_iter().take(k).collect();
    }
    if model.is_empty() {
        return live.into_iter().take(k).collect();
    }
    let norm = |list: &[RecItem]| {
        list.iter()
            .map(|e| e.score)
            .fold(f64::MIN_POSITIVE, f64::max)
    };
    let (mmax, lmax) = (norm(&model), norm(&live));
    let mut order: Vec<RecItem> = Vec::with_capacity(model.len() + live.len());
    let mut at: FxHashMap<String, usize> = FxHashMap::default();
    for (list, w, max) in [(model, 1.0 - live_weight, mmax), (live, live_weight, lmax)] {
        for mut e in list {
            let s = w * e.score.max(0.0) / max;
            // Sources are shares of the item's score on its side: scaled the same way.
            let side = e.score.max(f64::MIN_POSITIVE);
            for src in &mut e.sources {
                src.1 = s * src.1 / side;
            }
            match at.get(&e.item_id) {
                Some(&i) => {
                    order[i].score += s;
                    order[i].sources.append(&mut e.sources);
                }
                None => {
                    at.insert(e.item_id.clone(), order.len());
                    order.push(RecItem { score: s, ..e });
                }
            }
        }
    }
    // Stable: ties keep the model's order.
    order.sort_by(|a, b| b.score.total_cmp(&a.score));
    order.truncate(k);
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::Vocab;
    use crate::data::loaders::from_records;
    use crate::model::{ItemKnnParams, ModelSpec};
    use crate::registry::{DataRange, ModelMeta};

    fn item(id: &str, score: f64) -> RecItem {
        RecItem {
            item_id: id.into(),
            score,
            category: None,
            source: crate::Origin::Model,
            sources: Vec::new(),
        }
    }

    fn served() -> ServedModel {
        let mut rows = Vec::new();
        for u in 0..20 {
            rows.push((
                format!("u{u}"),
                "a",
                InteractionKind::View,
                u * 10,
                Some("shoes"),
            ));
            rows.push((
                format!("u{u}"),
                "b",
                InteractionKind::View,
                u * 10 + 1,
                Some("hats"),
            ));
        }
        rows.push(("v".into(), "c", InteractionKind::View, 500, None));
        let data = from_records("t", rows);
        let spec = ModelSpec::ItemKnn(ItemKnnParams::default());
        let model = spec.fit(&data).expect("fit").model;
        ServedModel {
            meta: ModelMeta {
                name: "default".into(),
                version: 3,
                kind: "item_knn".into(),
                params: spec,
                data: DataRange::of(&data),
                metrics: None,
                train_secs: 0.0,
                trained_at_ms: 0,
            },
            trained: Trained {
                vocab: Vocab::of(&data),
                model,
            },
        }
    }

    #[test]
    fn string_ids_in_and_out() {
        let m = served();
        assert_eq!(m.label(), "default@v3");
        let inputs = UserInputs {
            recent: vec!["a".into(), "never-trained".into()],
            ..UserInputs::default()
        };
        let req = ServeRequest {
            actor: Some("someone-new"),
            inputs: Some(&inputs),
            k: 5,
            exclude_seen: true,
            ..ServeRequest::default()
        };
        let ctx = m.context(&req);
        assert_eq!(ctx.user, None);
        assert_eq!(ctx.history.len(), 1, "unknown items are left out");
        let top = m.recommend(&req);
        assert_eq!(top[0].item_id, "b", "{top:?}");
        assert_eq!(top[0].category.as_deref(), Some("hats"));
        assert!(top.iter().all(|e| e.item_id != "a"), "seen item excluded");
        // A context item is the most recent event and is never recommended back.
        let req = ServeRequest {
            item: Some("b"),
            k: 5,
            ..ServeRequest::default()
        };
        assert_eq!(
            m.context(&req).session.last().map(|e| e.item),
            m.trained.vocab.items.get("b")
        );
        let top = m.recommend(&req);
        assert_eq!(top[0].item_id, "a");
        assert!(top.iter().all(|e| e.item_id != "b"));
    }

    #[test]
    fn a_known_user_has_seen_everything_they_had_in_training() {
        let m = served();
        assert!(m.had("u3", "a") && m.had("u3", "b"));
        assert!(!m.had("u3", "c") && !m.had("v", "a") && !m.had("nobody", "a"));
        // The feature store only remembers "a": training says u3 had "b" too.
        let inputs = UserInputs {
            recent: vec!["a".into()],
            ..UserInputs::default()
        };
        let req = ServeRequest {
            actor: Some("someone-new"),
            inputs: Some(&inputs),
            k: 5,
            exclude_seen: true,
            ..ServeRequest::default()
        };
        assert_eq!(m.recommend(&req)[0].item_id, "b");
        let top = m.recommend(&ServeRequest {
            actor: Some("u3"),
            ..req
        });
        assert!(top.iter().all(|e| e.item_id != "b"), "{top:?}");
        // Without the seen rule (a "next item" surface) it is back.
        let top = m.recommend(&ServeRequest {
            actor: Some("u3"),
            exclude_seen: false,
            ..req
        });
        assert_eq!(top[0].item_id, "b", "{top:?}");
    }

    #[test]
    fn merge_weights_normalised_lists() {
        let model = vec![item("a", 10.0), item("b", 5.0)];
        let live = vec![item("c", 2.0), item("b", 2.0)];
        let out = merge(model.clone(), live.clone(), 0.4, 10);
        let got: Vec<(&str, f64)> = out.iter().map(|e| (e.item_id.as_str(), e.score)).collect();
        // a: 0.6; b: 0.6·0.5 + 0.4 = 0.7; c: 0.4.
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            vec!["b", "a", "c"]
        );
        assert!((got[0].1 - 0.7).abs() < 1e-9 && (got[1].1 - 0.6).abs() < 1e-9);
        assert_eq!(merge(model.clone(), Vec::new(), 0.4, 1).len(), 1);
        assert_eq!(merge(Vec::new(), live, 0.4, 10)[0].item_id, "c");
        assert_eq!(merge(model, vec![item("z", 1.0)], 0.0, 10).len(), 2);
    }
}
