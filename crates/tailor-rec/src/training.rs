//! Training the served blend: a full fit of every part, or an incremental one that refits the
//! cheap parts (trending, item-kNN, session kNN) and keeps the expensive factor models (ALS,
//! EASE) of the version served until now.
//!
//! An incremental fit is only sound when the new data's ids extend the base version's
//! ([`crate::data::InteractionsBuilder::with_vocab`]): the kept models index items by id, and
//! items new since the base simply have no factors until the next full fit (the other parts
//! and the live co-occurrence model cover them meanwhile).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::artifact::{Trained, Vocab};
use crate::data::Interactions;
use crate::eval::{evaluate_fitted, Protocol};
use crate::model::{Blend, BlendParams, Fitted, Model, ModelSpec};
use crate::registry::OfflineMetrics;
use crate::{Error, Result};

/// How much of the blend a training run refits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainMode {
    /// Every part.
    Full,
    /// Trending, item-kNN and session kNN; ALS and EASE are kept from the base version.
    Incremental,
}

impl TrainMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TrainMode::Full => "full",
            TrainMode::Incremental => "incremental",
        }
    }
}

impl std::str::FromStr for TrainMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "full" => Ok(TrainMode::Full),
            "incremental" => Ok(TrainMode::Incremental),
            _ => Err(format!("mode must be full or incremental, got {s:?}")),
        }
    }
}

/// Whether `m` is the base version's fit of `spec`, a part whose training cost grows with
/// factors × users × items (ALS, EASE): incremental fits keep those.
fn keeps(spec: &ModelSpec, m: &Model) -> bool {
    matches!(
        (spec, m),
        (ModelSpec::Als(_), Model::Als(_)) | (ModelSpec::Ease(_), Model::Ease(_))
    )
}

/// One part of a training run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartReport {
    pub name: String,
    pub secs: f64,
    /// Kept from the base version instead of refitted.
    pub reused: bool,
}

/// A trained blend and how it was made.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub trained: Trained,
    pub parts: Vec<PartReport>,
    pub train_secs: f64,
    /// The mode actually run (an incremental run without a usable base is full).
    pub mode: TrainMode,
}

/// Whether `data`'s ids extend `base`'s (same ids for everything `base` knows).
fn extends(data: &Interactions, base: &Vocab) -> bool {
    data.items.len() >= base.items.len()
        && data.users.len() >= base.users.len()
        && (0..base.items.len() as u32).all(|i| data.items.name(i) == base.items.name(i))
}

/// Fits `params` on `data`. With `mode == Incremental` and a `base` whose blend has the same
/// parts and whose ids `data` extends, ALS and EASE are taken from `base`. `on_part` is called
/// before each part with its name.
pub fn fit_blend(
    data: &Interactions,
    params: &BlendParams,
    mode: TrainMode,
    base: Option<&Trained>,
    on_part: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    if data.is_empty() {
        return Err(Error::Empty("interactions"));
    }
    let t = Instant::now();
    let base_parts = match (mode, base) {
        (TrainMode::Incremental, Some(b)) if extends(data, &b.vocab) => match &b.model {
            Model::Blend(blend) if blend.parts().len() == params.parts.len() => Some(blend.parts()),
            _ => None,
        },
        _ => None,
    };
    let mode = if base_parts.is_some() {
        TrainMode::Incremental
    } else {
        TrainMode::Full
    };
    let mut parts = Vec::with_capacity(params.parts.len());
    let mut reports = Vec::with_capacity(params.parts.len());
    for (i, (spec, w)) in params.parts.iter().enumerate() {
        on_part(&spec.name());
        let kept = base_parts
            .and_then(|bp| bp.get(i))
            .filter(|(m, _)| keeps(spec, m));
        let (model, secs, reused) = match kept {
            Some((m, _)) => (m.clone(), 0.0, true),
            None => {
                let f = spec.fit(data)?;
                (f.model, f.train_secs, false)
            }
        };
        reports.push(PartReport {
            name: spec.name(),
            secs,
            reused,
        });
        parts.push((model, *w));
    }
    let blend = Blend::new(
        &params.name,
        parts,
        params.candidates,
        params.normalization,
        params.rules.clone(),
        data.item_category.clone(),
    );
    Ok(Outcome {
        trained: Trained {
            vocab: Vocab::of(data),
            model: Model::Blend(blend),
        },
        parts: reports,
        train_secs: t.elapsed().as_secs_f64(),
        mode,
    })
}

/// Offline metrics of `params` on a temporal hold-out of `data` (each user's last
/// interactions held out, the full catalog ranked): fits a separate blend on the rest.
/// `on_part` is called before each part's fit.
pub fn holdout_metrics(
    data: &Interactions,
    params: &BlendParams,
    on_part: &mut dyn FnMut(&str),
) -> Result<OfflineMetrics> {
    let protocol = Protocol::temporal();
    let split = protocol.split(data)?;
    let out = fit_blend(&split.train, params, TrainMode::Full, None, on_part)?;
    let fitted = Fitted {
        model: out.trained.model,
        train_secs: out.train_secs,
    };
    let report = evaluate_fitted(&[fitted], &split);
    if report.cases == 0 {
        return Err(Error::Empty(
            "hold-out cases (no user's last item was seen in training)",
        ));
    }
    Ok(OfflineMetrics::from_report(
        &protocol,
        report.cases,
        &report.models[0],
    ))
}

#[cfg(test)]
mod tests {
    use tailor_event::InteractionKind;

    use super::*;
    use crate::data::loaders::{from_records, from_records_with};
    use crate::data::InteractionsBuilder;
    use crate::model::Recommender;

    type Rec = (String, String, InteractionKind, i64, Option<String>);

    fn records(users: usize, offset: usize) -> Vec<Rec> {
        let mut out = Vec::new();
        for u in 0..users {
            for j in 0..6 {
                let item = format!("i{}", (u * 3 + j + offset) % 40);
                out.push((
                    format!("u{u}"),
                    item,
                    InteractionKind::View,
                    (u * 100 + j) as i64 * 1000,
                    Some(format!("c{}", j % 3)),
                ));
            }
        }
        out
    }

    #[test]
    fn incremental_keeps_factor_models_and_sees_new_items() {
        let params = BlendParams::production();
        let first = from_records("t", records(30, 0));
        let full = fit_blend(&first, &params, TrainMode::Full, None, &mut |_| {}).expect("full");
        assert_eq!(full.mode, TrainMode::Full);
        assert!(full.parts.iter().all(|p| !p.reused));

        // New data: a new item ("new-1") and new users, ids extending the first vocabulary.
        let mut more = records(30, 0);
        for u in 0..10 {
            more.push((
                format!("n{u}"),
                "new-1".into(),
                InteractionKind::Purchase,
                10_000_000 + u as i64,
                None,
            ));
            more.push((
                format!("n{u}"),
                "i1".into(),
                InteractionKind::View,
                10_000_001 + u as i64,
                None,
            ));
        }
        let data = from_records_with(
            InteractionsBuilder::with_vocab("t", &full.trained.vocab),
            more,
        );
        assert_eq!(data.items.get("i1"), first.items.get("i1"), "ids kept");
        let mut seen = Vec::new();
        let inc = fit_blend(
            &data,
            &params,
            TrainMode::Incremental,
            Some(&full.trained),
            &mut |n| seen.push(n.to_owned()),
        )
        .expect("incremental");
        assert_eq!(inc.mode, TrainMode::Incremental);
        assert_eq!(seen.len(), params.parts.len());
        let reused: Vec<&str> = inc
            .parts
            .iter()
            .filter(|p| p.reused)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(reused, vec!["als"], "{:?}", inc.parts);
        // The refitted item-kNN knows the new item: i1 → new-1.
        let i1 = data.items.get("i1").expect("i1");
        let new1 = data.items.get("new-1").expect("new-1");
        let ctx = crate::model::Context::from_session(&[i1]);
        let top = inc.trained.model.recommend(&ctx, 10, &Default::default());
        assert!(top.iter().any(|e| e.0 == new1), "{top:?}");

        // Data whose ids do not extend the base: the run falls back to a full fit.
        let other = from_records("t", records(5, 7));
        let f = fit_blend(
            &other,
            &params,
            TrainMode::Incremental,
            Some(&full.trained),
            &mut |_| {},
        )
        .expect("fallback");
        assert_eq!(f.mode, TrainMode::Full);
        assert!(f.parts.iter().all(|p| !p.reused));
    }

    #[test]
    fn empty_data_is_an_error() {
        let e = fit_blend(
            &Interactions::default(),
            &BlendParams::production(),
            TrainMode::Full,
            None,
            &mut |_| {},
        )
        .expect_err("empty");
        assert!(e.to_string().contains("no interactions"), "{e}");
    }
}
