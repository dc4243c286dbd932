//! `tailor features list|show|training-set|backfill`: the declared features; one entity's
//! values computed from the stored checkpoint and log (opened read-only, so this also works
//! beside a running server; it shows what the log holds when the command runs);
//! point-in-time training data from the lake; feature state rebuilt from the lake.

use anyhow::{bail, Context, Result};
use serde_json::json;
use tailor_features::{EntityKind, FeatureSet, Processor, ProcessorOptions};
use tailor_log::EmbeddedLog;

use crate::config::{load, DataArgs};

pub const EXAMPLES: &str = "Examples:
  tailor features list
  tailor features show user u000042
  tailor features show item P00017
  tailor features training-set --labels labels.csv --out training.parquet --entity user --id-col user_id --time-col timestamp
  tailor features backfill";

#[derive(Debug, clap::Subcommand)]
pub enum FeaturesCommand {
    /// The definitions in force (defaults and `[[features.define]]`), as JSON.
    List,
    /// One entity's feature values as of the latest event in the log, as JSON.
    Show {
        /// `user`, `anonymous_id`, `item`, `category`, `global` or `property:<key>`.
        entity: String,
        /// The entity's id (a user id, item id, category, ...; anything for `global`).
        id: String,
    },
    /// Point-in-time training data: for each row of a label file, the entity's feature
    /// values as of the row's timestamp, computed from the lake (only events strictly
    /// before it), written as Parquet.
    TrainingSet {
        /// Labels: CSV with a header, or Parquet; one row per example.
        #[arg(long, value_name = "FILE")]
        labels: std::path::PathBuf,
        /// Output Parquet file: the label columns, then one column per feature.
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
        /// Entity kind the label ids are (`user`, `item`, `category`, `property:<key>`, ...).
        #[arg(long, default_value = "user", value_name = "ENTITY")]
        entity: String,
        /// Label column holding the entity id.
        #[arg(long, default_value = "user_id", value_name = "COL")]
        id_col: String,
        /// Label column holding the time (RFC 3339, epoch milliseconds or a timestamp).
        #[arg(long, default_value = "timestamp", value_name = "COL")]
        time_col: String,
    },
    /// Rebuilds the feature and live state from the lake and saves it as the checkpoint the
    /// next `tailor serve` resumes from (e.g. after the log's retention dropped old
    /// segments). Stop the server first.
    Backfill,
}

pub fn run(cmd: FeaturesCommand, data: &DataArgs) -> Result<()> {
    let cfg = load(data, None)?;
    let set = FeatureSet::compile(&cfg.features)?;
    match cmd {
        FeaturesCommand::TrainingSet {
            labels,
            out,
            entity,
            id_col,
            time_col,
        } => {
            let kind = checked_kind(&set, &entity)?;
            let args = TrainingArgs {
                labels,
                out,
                kind,
                id_col,
                time_col,
            };
            return block_on(training_set(&cfg, set, args));
        }
        FeaturesCommand::Backfill => return block_on(backfill(&cfg)),
        FeaturesCommand::List => {
            let out = json!({
                "entities": set.entity_kinds().iter().map(ToString::to_string).collect::<Vec<_>>(),
                "features": set.definitions(),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        FeaturesCommand::Show { entity, id } => {
            let kind = checked_kind(&set, &entity)?;
            let dir = cfg.data_dir.join("log");
            let log = EmbeddedLog::open_read_only(&dir)
                .with_context(|| format!("opening the log in {}", dir.display()))?;
            // Erased users' events in the log are skipped, as the server skips them.
            let erasures =
                std::sync::Arc::new(tailor_log::ErasureList::load_if_present(log.as_ref())?);
            let processor = Processor::open(
                log,
                ProcessorOptions {
                    topic: tailor_server::EVENTS_TOPIC.into(),
                    group: "live".into(),
                    live: cfg.live.clone(),
                    features: cfg.features.clone(),
                    online: tailor_features::OnlineBackend::Live,
                    checkpoint: tailor_server::live_checkpoint(&cfg)?,
                    sharing: None,
                },
            )?
            .with_erasures(erasures);
            processor.catch_up()?;
            let engine = processor.engine();
            let engine = engine.read();
            match engine.read(&kind, &id) {
                Some(row) => println!(
                    "{}",
                    serde_json::to_string_pretty(&tailor_server::routes::features::row_json(&row))?
                ),
                None => bail!("no features for {entity} {id:?}: no event of it is in the log"),
            }
        }
    }
    Ok(())
}

/// The entity kind `entity` names, if some feature is defined for it.
fn checked_kind(set: &FeatureSet, entity: &str) -> Result<EntityKind> {
    let Some(kind) = EntityKind::parse(entity) else {
        bail!("ENTITY {entity:?} is not an entity kind; use user, anonymous_id, item, category, global or property:<key>");
    };
    if set.feature_names(&kind).is_empty() {
        let kinds: Vec<String> = set.entity_kinds().iter().map(ToString::to_string).collect();
        bail!(
            "no feature is defined for entity {entity:?}; defined: {}",
            kinds.join(", ")
        );
    }
    Ok(kind)
}

/// Runs a lake command (async) from this synchronous command.
fn block_on(f: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// Every committed lake event in log order, with a spinner counting them.
async fn lake_events(
    warehouse: &tailor_lake::Warehouse,
    set: &FeatureSet,
) -> Result<Vec<tailor_features::engine::offline::LoggedEvent>> {
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message("reading events from the lake");
    let events = tailor_lake::replay::logged_events(warehouse, set.needs_properties(), |n| {
        spinner.set_message(format!("reading events from the lake: {n}"));
    })
    .await?;
    spinner.finish_and_clear();
    Ok(events)
}

struct TrainingArgs {
    labels: std::path::PathBuf,
    out: std::path::PathBuf,
    kind: EntityKind,
    id_col: String,
    time_col: String,
}

async fn training_set(
    cfg: &tailor_server::Config,
    set: std::sync::Arc<FeatureSet>,
    a: TrainingArgs,
) -> Result<()> {
    use tailor_features::engine::offline::{point_in_time, PointQuery};
    let started = std::time::Instant::now();
    let labels = tailor_lake::training::read_labels(&a.labels, &a.id_col, &a.time_col).await?;
    let warehouse = tailor_lake::Warehouse::open(&cfg.lake, &cfg.data_dir)
        .await
        .context("opening the lake")?;
    let events = lake_events(&warehouse, &set).await?;
    let n_events = events.len() as u64;
    let queries: Vec<PointQuery> = labels
        .keys
        .iter()
        .map(|(id, at_ms)| PointQuery {
            kind: a.kind.clone(),
            id: id.clone(),
            at_ms: *at_ms,
        })
        .collect();
    let bar = crate::client::progress(n_events, "replaying events");
    let rows = point_in_time(set.clone(), cfg.log.partitions, events, &queries, |n| {
        bar.set_position(n)
    });
    bar.finish_and_clear();
    let names: Vec<String> = set
        .feature_names(&a.kind)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let batch = tailor_lake::training::training_batch(&labels.batch, &names, &rows)?;
    tailor_lake::training::write_parquet(&a.out, &batch)?;
    let found = rows.iter().filter(|r| r.is_some()).count();
    println!(
        "wrote {} rows × {} features to {} ({} with features, {} with no event of the {} before \
         their time); {} lake events replayed in {:.1}s",
        rows.len(),
        names.len(),
        a.out.display(),
        found,
        rows.len() - found,
        a.kind,
        n_events,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn backfill(cfg: &tailor_server::Config) -> Result<()> {
    let started = std::time::Instant::now();
    // Held (writable) until the checkpoint is written: no server may run meanwhile.
    let log = match tailor_server::open_log(cfg) {
        Ok(log) => log,
        Err(tailor_server::Error::Log(tailor_log::Error::Io { context, .. }))
            if context.starts_with("locking") =>
        {
            bail!(
                "the log in {} is locked by another process (a running `tailor serve`?): stop it \
                 first, backfill replaces the checkpoint it resumes from",
                cfg.data_dir.join("log").display()
            )
        }
        Err(e) => return Err(e).context("opening the log"),
    };
    let warehouse = tailor_lake::Warehouse::open(&cfg.lake, &cfg.data_dir)
        .await
        .context("opening the lake")?;
    let committed = tailor_lake::replay::committed_offsets(&warehouse).await?;
    if committed.is_empty() {
        bail!("the lake has no committed events yet; nothing to backfill from");
    }
    for (p, &off) in committed.iter().enumerate() {
        let end = tailor_log::Log::end_offset(&*log, tailor_server::EVENTS_TOPIC, p as u32)?;
        if off > end {
            bail!(
                "the lake covers events partition {p} up to offset {off} but the log ends at \
                 {end}: the lake belongs to another log; nothing was changed"
            );
        }
    }
    if cfg.lake.retention_days > 0 {
        eprintln!(
            "note: lake.retention_days = {}: events older than that are no longer in the lake, so \
             windows reaching further back start from what is left",
            cfg.lake.retention_days
        );
    }
    let set = FeatureSet::compile(&cfg.features)?;
    let events = lake_events(&warehouse, &set).await?;
    let checkpoint = tailor_server::live_checkpoint(cfg)?;
    let rebuilt = tailor_features::rebuild_checkpoint(
        &events,
        &committed,
        &cfg.live,
        &cfg.features,
        &checkpoint,
    )?;
    println!(
        "rebuilt feature state from {} lake events ({} entities, {} late events skipped) in \
         {:.1}s; saved to {}; the next start resumes the log at offsets {:?}",
        rebuilt.events,
        rebuilt.entities,
        rebuilt.late_events,
        started.elapsed().as_secs_f64(),
        checkpoint.location(),
        rebuilt.offsets
    );
    drop(log);
    Ok(())
}
