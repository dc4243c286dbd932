//! Hyper-parameter tuning on a validation split: a small grid per model family, then a greedy
//! forward selection of blend parts and weights. The split is the protocol's
//! [`Protocol::validation_split`] (carved from the training data), never the test split.

use super::{evaluate_fitted, score, Protocol, Split};
use crate::model::{
    AlsParams, Blend, BlendParams, EaseParams, Fitted, ItemKnnParams, Model, ModelSpec,
    Normalization, PositionWeight, Recommender, RepeatParams, Rules, ScoreDecay, SknnParams,
    TrendingParams,
};
use crate::{Error, Result};

/// Validation cases used for tuning (evenly thinned with [`super::thin_cases`]).
pub const TUNE_CASES: usize = 4000;

/// The metric tuning maximizes for a protocol: HR@20 + MRR@20 (session), HR@10 (temporal).
pub fn metric_for(protocol: &Protocol) -> &'static str {
    match protocol {
        Protocol::Session { .. } => "HR@20+MRR@20",
        Protocol::Temporal { .. } | Protocol::NextBasket => "HR@10",
    }
}

/// Tunes every model family on `val`, then the blend of them. Returns the chosen spec of each
/// family (trending, item-kNN, ALS, EASE, session kNN, repeat, in that order) and the blend's
/// params.
/// `dataset` adapts the grids (`yoochoose`: whole sessions for session kNN; `taobao`: a
/// smaller EASE catalog); `quick` tries only the first candidate of each grid. `progress`
/// receives one line per finished step.
pub fn tune_all(
    dataset: &str,
    val: &Split,
    metric: &str,
    threads: usize,
    quick: bool,
    progress: &dyn Fn(&str),
) -> Result<(Vec<ModelSpec>, BlendParams)> {
    let tuned = tune_models(dataset, val, metric, threads, quick, progress)?;
    let blend = tune_blend(&tuned, val, metric, progress)?;
    Ok((tuned.into_iter().map(|t| t.0).collect(), blend))
}

/// Fits each candidate on the validation split and returns the best one (by `metric`).
fn pick(
    cands: Vec<ModelSpec>,
    val: &Split,
    metric: &str,
    progress: &dyn Fn(&str),
) -> Result<(ModelSpec, Fitted)> {
    let mut fitted = Vec::new();
    for c in &cands {
        fitted.push(c.fit(&val.train)?);
    }
    let report = evaluate_fitted(&fitted, val);
    let (i, m) = report
        .models
        .iter()
        .enumerate()
        .max_by(|a, b| {
            score(a.1, metric)
                .total_cmp(&score(b.1, metric))
                .then(b.0.cmp(&a.0))
        })
        .ok_or_else(|| Error::Param("tuning needs at least one candidate".into()))?;
    progress(&format!(
        "  {:<10} best of {:>2} on validation: {metric} = {:.4}",
        m.name,
        cands.len(),
        score(m, metric)
    ));
    let spec = cands[i].clone();
    let fit = fitted.swap_remove(i);
    Ok((spec, fit))
}

/// Per-family grids, each chosen on `val`; the trained winners come back with their specs.
pub fn tune_models(
    dataset: &str,
    val: &Split,
    metric: &str,
    threads: usize,
    quick: bool,
    progress: &dyn Fn(&str),
) -> Result<Vec<(ModelSpec, Fitted)>> {
    let session = dataset == "yoochoose";
    let als = AlsParams {
        threads: Some(threads),
        ..AlsParams::default()
    };
    let ease_cap = if dataset == "taobao" { 4000 } else { 20_000 };
    let grid = |full: Vec<ModelSpec>| if quick { full[..1].to_vec() } else { full };
    let mut out = Vec::new();
    let trending = [None, Some(1.0), Some(24.0), Some(24.0 * 30.0)]
        .into_iter()
        .map(|h| {
            ModelSpec::Trending(TrendingParams {
                half_life_hours: h,
                ..TrendingParams::default()
            })
        })
        .collect();
    out.push(pick(grid(trending), val, metric, progress)?);
    let mut knn = Vec::new();
    for by_session in [false, true] {
        for alpha in [0.5, 0.75] {
            for seed_decay in [0.9, 0.5, 0.1] {
                for self_similarity in [0.0, 1.0] {
                    knn.push(ModelSpec::ItemKnn(ItemKnnParams {
                        by_session,
                        alpha,
                        seed_decay,
                        self_similarity,
                        ..ItemKnnParams::default()
                    }));
                }
            }
        }
    }
    out.push(pick(grid(knn), val, metric, progress)?);
    let mut alss = Vec::new();
    for regularization in [0.01, 1.0, 10.0] {
        for alpha in [1.0, 5.0, 20.0] {
            alss.push(ModelSpec::Als(AlsParams {
                regularization,
                alpha,
                ..als.clone()
            }));
        }
    }
    out.push(pick(grid(alss), val, metric, progress)?);
    let eases = [50.0, 200.0, 500.0, 2000.0]
        .into_iter()
        .map(|lambda| {
            ModelSpec::Ease(EaseParams {
                lambda,
                max_items: ease_cap,
                ..EaseParams::default()
            })
        })
        .collect();
    out.push(pick(grid(eases), val, metric, progress)?);
    let mut sknns = Vec::new();
    for k in [50, 100, 200] {
        for sample_size in [500, 1000] {
            for position in [PositionWeight::Linear, PositionWeight::Div] {
                for score_decay in [ScoreDecay::Div, ScoreDecay::Quadratic] {
                    for idf_weighting in [0.0, 1.0] {
                        sknns.push(ModelSpec::SessionKnn(SknnParams {
                            k,
                            sample_size,
                            position,
                            score_decay,
                            idf_weighting,
                            last_n: if session { 0 } else { 10 },
                        }));
                    }
                }
            }
        }
    }
    out.push(pick(grid(sknns), val, metric, progress)?);
    let mut repeats = Vec::new();
    for recency in [0.9f32, 0.5, 1.0] {
        for prior in [5.0f32, 50.0] {
            repeats.push(ModelSpec::Repeat(RepeatParams {
                recency,
                prior,
                ..RepeatParams::default()
            }));
        }
    }
    out.push(pick(grid(repeats), val, metric, progress)?);
    Ok(out)
}

/// Greedy forward selection of blend parts and weights on `val`: start from the best single
/// model, then up to three times add the part and weight (0.1, 0.25, 0.5, 1) that improve
/// `metric` most.
pub fn tune_blend(
    parts: &[(ModelSpec, Fitted)],
    val: &Split,
    metric: &str,
    progress: &dyn Fn(&str),
) -> Result<BlendParams> {
    let cats = val.train.item_category.clone();
    let blend = |chosen: &[(usize, f32)]| -> Fitted {
        let models = chosen
            .iter()
            .map(|&(i, w)| (parts[i].1.model.clone(), w))
            .collect();
        Fitted {
            model: Model::Blend(Blend::new(
                "blend",
                models,
                100,
                Normalization::Max,
                Rules::default(),
                cats.clone(),
            )),
            train_secs: 0.0,
        }
    };
    let eval = |chosen: &[(usize, f32)]| -> f64 {
        let r = evaluate_fitted(&[blend(chosen)], val);
        score(&r.models[0], metric)
    };
    let singles: Vec<f64> = (0..parts.len()).map(|i| eval(&[(i, 1.0)])).collect();
    let first = (0..parts.len())
        .max_by(|&a, &b| singles[a].total_cmp(&singles[b]))
        .ok_or_else(|| Error::Param("a blend needs at least one part".into()))?;
    let mut chosen = vec![(first, 1.0f32)];
    let mut best = singles[first];
    for _ in 0..3 {
        let mut step: Option<(usize, f32, f64)> = None;
        for i in (0..parts.len()).filter(|i| chosen.iter().all(|c| c.0 != *i)) {
            for w in [0.1f32, 0.25, 0.5, 1.0] {
                let mut c = chosen.clone();
                c.push((i, w));
                let s = eval(&c);
                if s > best + 1e-4 && step.is_none_or(|x| s > x.2) {
                    step = Some((i, w, s));
                }
            }
        }
        match step {
            Some((i, w, s)) => {
                chosen.push((i, w));
                best = s;
            }
            None => break,
        }
    }
    let names: Vec<String> = chosen
        .iter()
        .map(|&(i, w)| format!("{}×{w}", parts[i].1.model.name()))
        .collect();
    progress(&format!(
        "  blend      {} on validation: {metric} = {best:.4}",
        names.join(" + ")
    ));
    Ok(BlendParams {
        name: "blend".into(),
        parts: chosen
            .iter()
            .map(|&(i, w)| (parts[i].0.clone(), w))
            .collect(),
        candidates: 100,
        normalization: Normalization::Max,
        rules: Rules::default(),
    })
}
