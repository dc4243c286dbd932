//! `tailor features list|show`: the declared features, and one entity's values computed from
//! the stored checkpoint and log (opened read-only, so this also works beside a running
//! server; it shows what the log holds when the command runs).

use anyhow::{bail, Context, Result};
use serde_json::json;
use tailor_features::{EntityKind, FeatureSet, Processor, ProcessorOptions};
use tailor_log::EmbeddedLog;

use crate::config::{load, DataArgs};

#[derive(Debug, clap::Subcommand)]
pub enum FeaturesCommand {
    /// The definitions in force (defaults and `[[features.define]]`), as JSON.
    List,
    /// One entity's feature values as of the latest event in the log, as JSON.
    Show {
        /// `user`, `anonymous_id`, `item`, `category`, `global` or `property:<key>`.
        entity: String,
        id: String,
    },
}

pub fn run(cmd: FeaturesCommand, data: &DataArgs) -> Result<()> {
    let cfg = load(data, None)?;
    let set = FeatureSet::compile(&cfg.features)?;
    match cmd {
        FeaturesCommand::List => {
            let out = json!({
                "entities": set.entity_kinds().iter().map(ToString::to_string).collect::<Vec<_>>(),
                "features": set.definitions(),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        FeaturesCommand::Show { entity, id } => {
            let Some(kind) = EntityKind::parse(&entity) else {
                bail!("ENTITY {entity:?} is not an entity kind; use user, anonymous_id, item, category, global or property:<key>");
            };
            if set.feature_names(&kind).is_empty() {
                let kinds: Vec<String> =
                    set.entity_kinds().iter().map(ToString::to_string).collect();
                bail!(
                    "no feature is defined for entity {entity:?}; defined: {}",
                    kinds.join(", ")
                );
            }
            let dir = cfg.data_dir.join("log");
            let log = EmbeddedLog::open_read_only(&dir)
                .with_context(|| format!("opening the log in {}", dir.display()))?;
            let processor = Processor::open(
                log,
                ProcessorOptions {
                    topic: tailor_server::EVENTS_TOPIC.into(),
                    group: "live".into(),
                    live: cfg.live.clone(),
                    features: cfg.features.clone(),
                    online: tailor_features::OnlineBackend::Live,
                    checkpoint_path: cfg.data_dir.join("checkpoints").join("live.ckpt"),
                },
            )?;
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
