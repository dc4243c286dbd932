//! Offline evaluation: metrics, the `session` and `temporal` protocols, [`evaluate`] for
//! several models side by side, validation-split tuning and split export for other tools.

pub mod export;
pub mod metrics;
mod report;
mod split;
pub mod svg;
mod tune;

use std::time::Instant;

use rayon::prelude::*;

pub use report::{ModelReport, Report};
pub use split::{Case, Protocol, Split, SplitStats};
pub use tune::{metric_for, tune_all, tune_blend, tune_models, TUNE_CASES};

use crate::data::Interactions;
use crate::model::{Fitted, Model, ModelSpec, Recommender};
use crate::{Error, Result};

/// Longest list asked of a model (the HR@k curve goes to this k).
pub const MAX_K: usize = 50;

/// Trains every model on the protocol's training split and evaluates all of them on its
/// test cases.
pub fn evaluate(specs: &[ModelSpec], data: &Interactions, protocol: &Protocol) -> Result<Report> {
    let split = protocol.split(data)?;
    evaluate_split(specs, &split)
}

/// [`evaluate`] on a split made beforehand.
pub fn evaluate_split(specs: &[ModelSpec], split: &Split) -> Result<Report> {
    let fitted = specs
        .iter()
        .map(|s| s.fit(&split.train))
        .collect::<Result<Vec<_>>>()?;
    Ok(evaluate_fitted(&fitted, split))
}

/// Mean seconds per iteration for iterative models.
fn per_iteration(m: &Model) -> Option<f64> {
    match m {
        Model::Als(a) if !a.iteration_secs.is_empty() => {
            Some(a.iteration_secs.iter().sum::<f64>() / a.iteration_secs.len() as f64)
        }
        _ => None,
    }
}

/// Evaluates trained models on `split`'s cases.
pub fn evaluate_fitted(models: &[Fitted], split: &Split) -> Report {
    let catalog = split.train.present_items().iter().filter(|&&p| p).count();
    let item_users = split.train.item_user_counts();
    let n_users = {
        let mut u = vec![false; split.train.n_users()];
        for r in &split.train.rows {
            u[r.user as usize] = true;
        }
        u.iter().filter(|&&x| x).count()
    };
    let session = matches!(split.protocol, Protocol::Session { .. });
    let list_k = if session { 20 } else { 10 };
    let reports = models
        .iter()
        .map(|f| {
            let t = Instant::now();
            let lists: Vec<Vec<u32>> = split
                .cases
                .par_iter()
                .map(|c| {
                    f.model
                        .recommend(&c.ctx, MAX_K, &c.exclude)
                        .into_iter()
                        .map(|e| e.0)
                        .collect()
                })
                .collect();
            let eval_secs = t.elapsed().as_secs_f64();
            let n = split.cases.len().max(1) as f64;
            let mean = |m: &dyn Fn(&[u32], &rustc_hash::FxHashSet<u32>) -> f64| {
                lists
                    .iter()
                    .zip(&split.cases)
                    .map(|(l, c)| m(l, &c.targets))
                    .sum::<f64>()
                    / n
            };
            use metrics::*;
            let targets: Vec<&rustc_hash::FxHashSet<u32>> =
                split.cases.iter().map(|c| &c.targets).collect();
            let mut ms = accuracy(&lists, &targets, session);
            let slices = || lists.iter().map(Vec::as_slice);
            ms.push((format!("Cov@{list_k}"), coverage(slices(), list_k, catalog)));
            ms.push((
                format!("Nov@{list_k}"),
                novelty(slices(), list_k, &item_users, n_users),
            ));
            let hr_curve: Vec<f64> = (1..=MAX_K)
                .map(|k| mean(&|l, t| hit_rate(l, t, k)))
                .collect();
            ModelReport {
                name: f.model.name().to_owned(),
                train_secs: f.train_secs,
                secs_per_iteration: per_iteration(&f.model),
                eval_secs,
                hr_se: binomial_se(ms[0].1, split.cases.len()),
                metrics: ms,
                hr_curve,
            }
        })
        .collect();
    Report {
        dataset: split.train.name.clone(),
        protocol: split.protocol.clone(),
        stats: split.stats.clone(),
        cases: split.cases.len(),
        catalog,
        models: reports,
    }
}

/// The accuracy metrics of ranked lists against their cases' targets, as `tailor eval`
/// reports them: HR@20 and MRR@20 for the session protocol; HR@10, NDCG@10, Recall@20 and
/// MRR@20 otherwise. The first is the one with a standard error in reports.
pub fn accuracy(
    lists: &[Vec<u32>],
    targets: &[&rustc_hash::FxHashSet<u32>],
    session: bool,
) -> Vec<(String, f64)> {
    use metrics::*;
    let n = lists.len().max(1) as f64;
    let mean = |m: &dyn Fn(&[u32], &rustc_hash::FxHashSet<u32>) -> f64| {
        lists.iter().zip(targets).map(|(l, t)| m(l, t)).sum::<f64>() / n
    };
    if session {
        vec![
            ("HR@20".into(), mean(&|l, t| hit_rate(l, t, 20))),
            ("MRR@20".into(), mean(&|l, t| reciprocal_rank(l, t, 20))),
        ]
    } else {
        vec![
            ("HR@10".into(), mean(&|l, t| hit_rate(l, t, 10))),
            ("NDCG@10".into(), mean(&|l, t| ndcg(l, t, 10))),
            ("Recall@20".into(), mean(&|l, t| recall(l, t, 20))),
            ("MRR@20".into(), mean(&|l, t| reciprocal_rank(l, t, 20))),
        ]
    }
}

/// Keeps at most `max` cases, evenly spaced (deterministic), to bound tuning time.
pub fn thin_cases(split: &mut Split, max: usize) {
    let n = split.cases.len();
    if max == 0 || n <= max {
        return;
    }
    let step = n as f64 / max as f64;
    let mut mask = vec![false; n];
    for i in 0..max {
        mask[(i as f64 * step) as usize] = true;
    }
    let cases = std::mem::take(&mut split.cases);
    split.cases = cases
        .into_iter()
        .zip(mask)
        .filter(|(_, keep)| *keep)
        .map(|(c, _)| c)
        .collect();
}

/// The sum of the `+`-separated metrics (`"HR@20+MRR@20"`); missing ones count as −∞.
pub fn score(m: &ModelReport, metric: &str) -> f64 {
    metric
        .split('+')
        .map(|n| m.metric(n.trim()).unwrap_or(f64::NEG_INFINITY))
        .sum()
}

/// Picks the candidate with the best `metric` (see [`score`]) on the protocol's validation split (carved
/// from the training data; the test split is never looked at). Returns its index and the
/// validation report.
pub fn tune(
    candidates: &[ModelSpec],
    data: &Interactions,
    protocol: &Protocol,
    metric: &str,
    max_cases: usize,
) -> Result<(usize, Report)> {
    let mut split = protocol.validation_split(data)?;
    thin_cases(&mut split, max_cases);
    let mut fitted = Vec::with_capacity(candidates.len());
    for c in candidates {
        fitted.push(c.fit(&split.train)?);
    }
    let report = evaluate_fitted(&fitted, &split);
    let best = report
        .models
        .iter()
        .enumerate()
        .max_by(|a, b| {
            let (x, y) = (score(a.1, metric), score(b.1, metric));
            x.total_cmp(&y).then(b.0.cmp(&a.0))
        })
        .map(|(i, _)| i)
        .ok_or_else(|| Error::Param("tune needs at least one candidate".into()))?;
    Ok((best, report))
}

#[cfg(test)]
mod tests;
