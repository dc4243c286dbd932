//! `tailor train`: fits the production blend on the stored `events` topic, optionally
//! evaluates it on a temporal hold-out, saves it to the model registry as a new version and
//! promotes it.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tailor_features::FeatureEvent;
use tailor_log::{EmbeddedLog, Log};
use tailor_rec::data::{loaders, Interactions};
use tailor_rec::eval::{evaluate_fitted, Protocol};
use tailor_rec::model::{Blend, BlendParams, Fitted, Model, ModelSpec};
use tailor_rec::registry::{kind_of, DataRange, ModelMeta, OfflineMetrics, Registry};

use crate::config::{load, DataArgs};

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Registry name of the model.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub model: String,
    /// Also train on all but each user's last item and store HR@10 etc. of that hold-out.
    #[arg(long)]
    pub holdout_eval: bool,
    /// Worker threads for training.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

/// Interactions of the `events` topic in `log_dir` (actor: user id, else anonymous id).
pub fn read_events(log_dir: &Path, pb: &ProgressBar) -> Result<(Interactions, u64)> {
    let log = EmbeddedLog::open_read_only(log_dir)
        .with_context(|| format!("opening the log in {}", log_dir.display()))?;
    let partitions = log.partitions("events").with_context(|| {
        format!(
            "the log in {} has no events topic; send events first (e.g. `tailor demo --exit`)",
            log_dir.display()
        )
    })?;
    let mut total = 0;
    for p in 0..partitions {
        total += log.end_offset("events", p)? - log.start_offset("events", p)?;
    }
    pb.set_length(total);
    let mut records = Vec::new();
    let mut undecodable = 0u64;
    for p in 0..partitions {
        let mut off = log.start_offset("events", p)?;
        loop {
            let recs = log
                .read("events", p, off, 1000)
                .with_context(|| format!("reading events partition {p} at offset {off}"))?;
            let Some(last) = recs.last() else { break };
            off = last.offset + 1;
            pb.inc(recs.len() as u64);
            for r in recs {
                let Ok(e) = FeatureEvent::decode(&r.value, false) else {
                    undecodable += 1;
                    continue;
                };
                let Some(actor) = e.user_id.or(e.anonymous_id) else {
                    continue;
                };
                for i in e.interactions {
                    records.push((
                        actor.clone(),
                        i.item_id,
                        i.kind,
                        e.event_time_ms,
                        i.category,
                    ));
                }
            }
        }
    }
    Ok((loaders::from_records("events", records), undecodable))
}

/// Fits each part of `p` (timed, one progress step each) and assembles the blend.
fn fit_blend(
    data: &Interactions,
    p: &BlendParams,
    pb: &ProgressBar,
) -> Result<(Fitted, Vec<(String, f64)>)> {
    let t = Instant::now();
    let mut parts = Vec::new();
    let mut times = Vec::new();
    for (spec, w) in &p.parts {
        pb.set_message(spec.name());
        let f = spec.fit(data)?;
        times.push((spec.name(), f.train_secs));
        parts.push((f.model, *w));
        pb.inc(1);
    }
    let blend = Blend::new(
        &p.name,
        parts,
        p.candidates,
        p.normalization,
        p.rules.clone(),
        data.item_category.clone(),
    );
    let fitted = Fitted {
        model: Model::Blend(blend),
        train_secs: t.elapsed().as_secs_f64(),
    };
    Ok((fitted, times))
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} {{msg}} [{{bar:20}}] {{pos}}/{{len}} [{{elapsed}}]"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

pub fn run(args: TrainArgs) -> Result<()> {
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    tailor_rec::set_threads(args.threads);
    let cfg = load(&args.data, None)?;
    let registry = Registry::open(&cfg.data_dir);
    // Fail on a bad name before the long steps.
    registry.versions_of(&args.model)?;

    let pb = bar(0, "reading events");
    let (data, undecodable) = read_events(&cfg.data_dir.join("log"), &pb)?;
    pb.finish_and_clear();
    if data.is_empty() {
        bail!(
            "no interactions (product views, clicks, carts, orders) in the events topic of {}; \
             send events first (e.g. `tailor demo --exit`)",
            cfg.data_dir.display()
        );
    }
    let range = DataRange::of(&data);
    println!(
        "training data: {} interactions, {} users, {} items, {} .. {}{}",
        range.rows,
        range.users,
        range.items,
        format_ms(range.first_event_ms),
        format_ms(range.last_event_ms),
        if undecodable > 0 {
            format!(" ({undecodable} undecodable records skipped)")
        } else {
            String::new()
        }
    );

    let mut params = BlendParams::production();
    for (spec, _) in &mut params.parts {
        if let ModelSpec::Als(p) = spec {
            p.threads = Some(args.threads);
        }
    }

    let metrics = if args.holdout_eval {
        let protocol = Protocol::temporal();
        let split = protocol
            .split(&data)
            .context("--holdout-eval: cannot make a temporal hold-out of these events")?;
        let pb = bar(params.parts.len() as u64, "hold-out: training");
        let (fitted, _) = fit_blend(&split.train, &params, &pb)?;
        pb.finish_and_clear();
        let pb = bar(
            0,
            &format!("hold-out: evaluating {} cases", split.cases.len()),
        );
        let report = evaluate_fitted(&[fitted], &split);
        pb.finish_and_clear();
        let m = &report.models[0];
        Some(OfflineMetrics::from_report(&protocol, report.cases, m))
    } else {
        None
    };

    let pb = bar(params.parts.len() as u64, "training");
    let (fitted, times) = fit_blend(&data, &params, &pb)?;
    pb.finish_and_clear();
    let trained_at_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let spec = ModelSpec::Blend(params);
    let meta = ModelMeta {
        name: args.model.clone(),
        version: 0,
        kind: kind_of(&spec).into(),
        params: spec,
        data: range,
        metrics,
        train_secs: fitted.train_secs,
        trained_at_ms,
    };
    let meta = registry.save(&fitted.model, meta)?;
    let pointer = registry.promote(&meta.name, meta.version)?;

    println!("training time per model:");
    for (name, secs) in &times {
        println!("  {name:<10} {secs:>8.2}s");
    }
    println!("  {:<10} {:>8.2}s", "total", fitted.train_secs);
    if let Some(m) = &meta.metrics {
        let line: Vec<String> = m
            .metrics
            .iter()
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect();
        println!(
            "hold-out ({} protocol, {} cases): {}",
            m.protocol.name(),
            m.cases,
            line.join(", ")
        );
    }
    let dir = registry.version_dir(&meta.name, meta.version)?;
    println!(
        "saved {} v{} to {} and promoted it{}",
        meta.name,
        meta.version,
        dir.display(),
        match pointer.history.last() {
            Some(prev) => format!(
                " (was v{prev}; `tailor models rollback {}` undoes)",
                meta.name
            ),
            None => String::new(),
        }
    );
    Ok(())
}
