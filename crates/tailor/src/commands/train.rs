//! `tailor train`: fits the production blend on the stored `events` topic (the same run as
//! the server's `POST /v1/admin/train`), optionally evaluates it on a temporal hold-out,
//! saves it to the model registry as a new version and promotes it. A running server swaps
//! to it within `models.poll_ms`.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tailor_log::EmbeddedLog;
use tailor_rec::model::BlendParams;
use tailor_rec::registry::OfflineMetrics;
use tailor_rec::serving::ServedModel;
use tailor_rec::training::{holdout_metrics, TrainMode};
use tailor_server::models::read_interactions;
use tailor_server::training::{train, TrainSpec};
use tailor_server::EVENTS_TOPIC;

use crate::config::{load, DataArgs};

pub const EXAMPLES: &str = "Examples:
  tailor train
  tailor train --holdout-eval --threads 4
  tailor train --mode incremental
  tailor train --model default --data-dir /var/lib/tailor";

/// What `tailor train` refits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// Refit every model.
    Full,
    /// Refit trending and the neighbourhood models; keep ALS and EASE from the served
    /// version (new ids extend its vocabulary).
    Incremental,
}

impl From<ModeArg> for TrainMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Full => TrainMode::Full,
            ModeArg::Incremental => TrainMode::Incremental,
        }
    }
}

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
    /// What to refit.
    #[arg(long, value_enum, default_value_t = ModeArg::Full)]
    pub mode: ModeArg,
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
    let registry = tailor_server::model_registry(&cfg)?;
    // Fail on a bad name before the long steps.
    registry.versions_of(&args.model)?;
    let mode = TrainMode::from(args.mode);
    let log_dir = cfg.data_dir.join("log");
    let log = EmbeddedLog::open_read_only(&log_dir)
        .with_context(|| format!("opening the log in {}", log_dir.display()))?;
    let base = match mode {
        TrainMode::Full => None,
        TrainMode::Incremental => match registry.current(&args.model)? {
            Some(_) => {
                let (meta, trained) = registry.load_current(&args.model)?;
                Some(ServedModel { meta, trained })
            }
            None => None,
        },
    };

    let metrics = if args.holdout_eval {
        Some(holdout(
            log.as_ref(),
            cfg.models.blend_params(),
            cfg.models.max_training_events,
        )?)
    } else {
        None
    };

    let pb = bar(0, "");
    let report = train(
        log.as_ref(),
        &registry,
        TrainSpec {
            name: &args.model,
            params: cfg.models.blend_params(),
            mode,
            base: base.as_ref(),
            threads: args.threads,
            metrics,
            evaluate: false,
            keep_versions: 0,
            min_interactions: 1,
            max_events: cfg.models.max_training_events,
        },
        &mut |stage, done, total| {
            pb.set_message(stage.to_owned());
            pb.set_length(total);
            pb.set_position(done);
        },
    )
    .map_err(|e| match e {
        tailor_server::Error::NothingToTrain(_) => anyhow::anyhow!(
            "no interactions (product views, clicks, carts, orders) in the events topic of {}; \
             send events first (e.g. `tailor demo --exit`)",
            cfg.data_dir.display()
        ),
        e => e.into(),
    })?;
    pb.finish_and_clear();
    let meta = &report.meta;
    let range = &meta.data;
    println!(
        "training data: {} interactions, {} users, {} items, {} .. {}{}",
        range.rows,
        range.users,
        range.items,
        format_ms(range.first_event_ms),
        format_ms(range.last_event_ms),
        if report.read.undecodable > 0 {
            format!(" ({} undecodable records skipped)", report.read.undecodable)
        } else {
            String::new()
        }
    );
    println!("training time per model ({} run):", report.mode.as_str());
    for p in &report.parts {
        let how = if p.reused {
            "  (kept from the served version)"
        } else {
            ""
        };
        println!("  {:<10} {:>8.2}s{how}", p.name, p.secs);
    }
    println!("  {:<10} {:>8.2}s", "total", meta.train_secs);
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
    let pointer = registry.current(&meta.name)?;
    let at = registry.artifact_location(&meta.name, meta.version)?;
    println!(
        "saved {} v{} to {at} and promoted it{}",
        meta.name,
        meta.version,
        match pointer.and_then(|p| p.history.last().copied()) {
            Some(prev) => format!(
                " (was v{prev}; `tailor models rollback {}` undoes)",
                meta.name
            ),
            None => String::new(),
        }
    );
    Ok(())
}

/// Fits the blend on all but each user's last items and evaluates it on them.
fn holdout(log: &EmbeddedLog, params: BlendParams, max_events: u64) -> Result<OfflineMetrics> {
    let pb = bar(0, "hold-out: reading events");
    let (data, _) = read_interactions(log, EVENTS_TOPIC, None, max_events, &mut |d, n| {
        pb.set_length(n);
        pb.set_position(d);
    })?;
    pb.finish_and_clear();
    let pb = bar(
        params.parts.len() as u64,
        "hold-out: training and evaluating",
    );
    let m = holdout_metrics(&data, &params, &mut |name| {
        pb.set_message(name.to_owned());
        pb.inc(1);
    })
    .context("--holdout-eval: cannot make a temporal hold-out of these events")?;
    pb.finish_and_clear();
    Ok(m)
}
