//! Validation of `[features]` and compilation into a [`FeatureSet`]: entity kinds, slots,
//! filters and value sources resolved once, so applying an event does no string matching
//! beyond one lookup of its name.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::agg::Agg;
use super::def::{FeatureDef, FeaturesConfig};
use super::defaults::default_definitions;
use super::filter::{Field, Filter, ALL_KINDS};
use super::intern::stable_hash;
use super::validate::{check_ratio, compile_one, Ctx, ENTITY_HELP};
use super::value::EntityKind;
use super::window::Window;
use crate::{Error, Result};

/// Where an update's number or value comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ValueMode {
    /// count: nothing read.
    Count,
    /// sum / min / max / decayed_sum of a numeric field (× weight).
    Number(Field),
    /// sum / decayed_sum without a field: the weight (1 without weights).
    Weight,
    /// last / last_n / distinct_count of any field.
    Value(Field),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Feature {
    pub(crate) name: String,
    /// Index into [`FeatureSet::kinds`].
    pub(crate) kind: usize,
    /// Index into the entity's slots (`usize::MAX` for ratios, which keep no state).
    pub(crate) slot: usize,
    pub(crate) agg: Agg,
    pub(crate) window: Window,
    /// Index into [`FeatureSet::bucket_windows`] (bucketed windows only).
    pub(crate) bucket_ix: Option<usize>,
    pub(crate) filter: Filter,
    pub(crate) mode: ValueMode,
    pub(crate) group_by: Option<Field>,
    /// Per interaction kind; 0 skips the interaction.
    pub(crate) weights: Option<[f64; 5]>,
    /// One update per matching interaction (else one per event).
    pub(crate) per_interaction: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KindPlan {
    pub(crate) kind: EntityKind,
    /// Stateful features (slots) per entity.
    pub(crate) slots: usize,
    pub(crate) per_event: Vec<usize>,
    pub(crate) per_interaction: Vec<usize>,
    /// `per_interaction` split by the interaction kinds each feature accepts (by kind index).
    pub(crate) by_kind: [Vec<usize>; 5],
    /// Every feature of the kind, in output order.
    pub(crate) outputs: Vec<usize>,
    /// Slots of session-window features (reset when a session starts).
    pub(crate) session_slots: Vec<usize>,
}

/// Compiled, validated feature definitions. Shared by every partition's state.
#[derive(Debug)]
pub struct FeatureSet {
    pub(crate) lateness_ms: i64,
    pub(crate) gap_ms: i64,
    pub(crate) ttl_ms: i64,
    /// `features.max_entities_per_partition`.
    pub(crate) max_entities: usize,
    pub(crate) features: Vec<Feature>,
    pub(crate) kinds: Vec<KindPlan>,
    /// Distinct (bucket width, span) of bucketed windows: bucket positions are computed once
    /// per event for each.
    pub(crate) bucket_windows: Vec<(i64, i64)>,
    pub(crate) event_names: FxHashMap<String, u16>,
    pub(crate) needs_properties: bool,
    pub(crate) needs_item_syms: bool,
    pub(crate) needs_category_syms: bool,
    fingerprint: u64,
    definitions: Vec<FeatureDef>,
}

impl FeatureSet {
    /// Validates `cfg` (errors name the feature and the field) and compiles it.
    pub fn compile(cfg: &FeaturesConfig) -> Result<Arc<FeatureSet>> {
        for (name, v) in [
            ("features.session_gap_secs", cfg.session_gap_secs),
            ("features.entity_ttl_secs", cfg.entity_ttl_secs),
        ] {
            if v == 0 {
                return Err(Error::FeatureConfig(format!(
                    "{name}: must be greater than 0"
                )));
            }
        }
        let secs = |name: &str, v: u64| {
            i64::try_from(v)
                .ok()
                .and_then(|v| v.checked_mul(1_000))
                .filter(|ms| *ms <= 100 * 365 * 86_400_000)
                .ok_or_else(|| Error::FeatureConfig(format!("{name}: {v} is too large")))
        };
        let lateness_ms = secs("features.allowed_lateness_secs", cfg.allowed_lateness_secs)?;
        let gap_ms = secs("features.session_gap_secs", cfg.session_gap_secs)?;
        let ttl_ms = secs("features.entity_ttl_secs", cfg.entity_ttl_secs)?;
        let max_entities = cfg.max_entities_per_partition;
        if max_entities == 0 || max_entities > u32::MAX as usize / 2 {
            return Err(Error::FeatureConfig(format!(
                "features.max_entities_per_partition: must be between 1 and {}, got {max_entities}",
                u32::MAX / 2
            )));
        }

        let merged = merge_definitions(cfg)?;
        let by_name: BTreeMap<&str, usize> = merged
            .iter()
            .enumerate()
            .map(|(i, (_, d))| (d.name.as_str(), i))
            .collect();

        let mut event_names: FxHashMap<String, u16> = FxHashMap::default();
        let mut kinds: Vec<KindPlan> = Vec::new();
        let mut features: Vec<Feature> = Vec::new();
        let mut ratios: Vec<(usize, usize, usize)> = Vec::new();
        for (ctx, d) in &merged {
            let entity = EntityKind::parse(&d.entity).ok_or_else(|| {
                ctx.err(
                    "entity",
                    format!("{:?} is not an entity; {ENTITY_HELP}", d.entity),
                )
            })?;
            let kind = match kinds.iter().position(|k| k.kind == entity) {
                Some(k) => k,
                None => {
                    kinds.push(KindPlan {
                        kind: entity.clone(),
                        slots: 0,
                        per_event: Vec::new(),
                        per_interaction: Vec::new(),
                        by_kind: Default::default(),
                        outputs: Vec::new(),
                        session_slots: Vec::new(),
                    });
                    kinds.len() - 1
                }
            };
            let idx = features.len();
            let feature = if d.aggregation == "ratio" {
                let (num, den) = check_ratio(ctx, d, &merged, &by_name)?;
                ratios.push((idx, num, den));
                Feature {
                    name: d.name.clone(),
                    kind,
                    slot: usize::MAX,
                    agg: Agg::Ratio {
                        numerator: 0,
                        denominator: 0,
                    },
                    window: Window::Lifetime,
                    bucket_ix: None,
                    filter: Filter {
                        events: None,
                        kinds: ALL_KINDS,
                        preds: Vec::new(),
                    },
                    mode: ValueMode::Count,
                    group_by: None,
                    weights: None,
                    per_interaction: false,
                }
            } else {
                let mut f = compile_one(ctx, d, &entity, &mut event_names)?;
                f.kind = kind;
                f.slot = kinds[kind].slots;
                kinds[kind].slots += 1;
                if f.window == Window::Session {
                    kinds[kind].session_slots.push(f.slot);
                }
                if f.per_interaction {
                    kinds[kind].per_interaction.push(idx);
                } else {
                    kinds[kind].per_event.push(idx);
                }
                f
            };
            kinds[kind].outputs.push(idx);
            features.push(feature);
        }
        for (idx, num, den) in ratios {
            let outputs = &kinds[features[idx].kind].outputs;
            let pos = |f: usize| outputs.iter().position(|&o| o == f).unwrap_or(usize::MAX);
            features[idx].agg = Agg::Ratio {
                numerator: pos(num),
                denominator: pos(den),
            };
        }

        let mut bucket_windows: Vec<(i64, i64)> = Vec::new();
        for f in &mut features {
            if let Some(b) = f.window.buckets() {
                f.bucket_ix = Some(match bucket_windows.iter().position(|w| *w == b) {
                    Some(i) => i,
                    None => {
                        bucket_windows.push(b);
                        bucket_windows.len() - 1
                    }
                });
            }
        }
        for plan in &mut kinds {
            for (k, list) in plan.by_kind.iter_mut().enumerate() {
                *list = plan
                    .per_interaction
                    .iter()
                    .copied()
                    .filter(|&f| features[f].filter.kinds & (1 << k) != 0)
                    .collect();
            }
        }

        let any_field = |pred: &dyn Fn(&Field) -> bool| {
            features.iter().any(|f| {
                matches!(&f.mode, ValueMode::Number(x) | ValueMode::Value(x) if pred(x))
                    || f.group_by.as_ref().is_some_and(pred)
                    || f.filter.preds.iter().any(|p| pred(&p.target))
            })
        };
        let needs_properties = kinds
            .iter()
            .any(|k| matches!(k.kind, EntityKind::Property(_)))
            || any_field(&|f| matches!(f, Field::Property(_)));
        let needs_item_syms =
            kinds.iter().any(|k| k.kind == EntityKind::Item) || any_field(&|f| *f == Field::ItemId);
        let needs_category_syms = kinds.iter().any(|k| k.kind == EntityKind::Category)
            || any_field(&|f| *f == Field::Category);
        let definitions: Vec<FeatureDef> = merged.into_iter().map(|(_, d)| d).collect();
        let fingerprint = stable_hash(&serde_json::to_vec(&definitions).unwrap_or_default());
        Ok(Arc::new(FeatureSet {
            lateness_ms,
            gap_ms,
            ttl_ms,
            max_entities,
            features,
            kinds,
            bucket_windows,
            event_names,
            needs_properties,
            needs_item_syms,
            needs_category_syms,
            fingerprint,
            definitions,
        }))
    }

    /// Whether events must be decoded with their properties.
    pub fn needs_properties(&self) -> bool {
        self.needs_properties
    }

    /// The row of entity `id` of `kind` as of `as_of_ms`, merged from the partitions'
    /// exports ([`super::FeatureEngine::export_entity`], possibly from other processes);
    /// `None` if none holds it. Pass the highest event time of any partition as `as_of_ms`
    /// to read as the engine does.
    pub fn read_exported(
        &self,
        kind: &super::EntityKind,
        id: &str,
        as_of_ms: i64,
        parts: &[super::PartEntity],
    ) -> Option<super::FeatureRow> {
        let k = self.kind_index(kind)?;
        super::read::read_exported(self, k, id, as_of_ms, parts)
    }

    /// Identifies the definitions' state layout; stored in partition snapshots.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The definitions in force (defaults merged), in output order.
    pub fn definitions(&self) -> &[FeatureDef] {
        &self.definitions
    }

    /// Entity kinds that have features.
    pub fn entity_kinds(&self) -> Vec<EntityKind> {
        self.kinds.iter().map(|k| k.kind.clone()).collect()
    }

    /// Feature names of one entity kind, in output order.
    pub fn feature_names(&self, kind: &EntityKind) -> Vec<&str> {
        self.kind_index(kind)
            .map(|k| {
                self.kinds[k]
                    .outputs
                    .iter()
                    .map(|&f| self.features[f].name.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn kind_index(&self, kind: &EntityKind) -> Option<usize> {
        self.kinds.iter().position(|k| k.kind == *kind)
    }
}

/// Defaults (if enabled) with user definitions replacing same-named ones, then the rest of
/// the user definitions. Checks names.
fn merge_definitions(cfg: &FeaturesConfig) -> Result<Vec<(Ctx, FeatureDef)>> {
    let mut merged: Vec<(Ctx, FeatureDef)> = Vec::new();
    if cfg.defaults {
        for d in default_definitions() {
            let ctx = Ctx {
                prefix: format!("features.defaults ({:?})", d.name),
            };
            merged.push((ctx, d));
        }
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, d) in cfg.define.iter().enumerate() {
        let ctx = Ctx {
            prefix: format!("features.define[{i}] ({:?})", d.name),
        };
        let valid = d
            .name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
            && d.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(ctx.err(
                "name",
                format!(
                    "{:?} is not a valid name; use lowercase letters, digits and _, starting with a letter",
                    d.name
                ),
            ));
        }
        if let Some(first) = seen.insert(&d.name, i) {
            return Err(ctx.err(
                "name",
                format!(
                    "{:?} is already defined by features.define[{first}]",
                    d.name
                ),
            ));
        }
        match merged.iter().position(|(_, m)| m.name == d.name) {
            Some(at) => merged[at] = (ctx, d.clone()),
            None => merged.push((ctx, d.clone())),
        }
    }
    Ok(merged)
}
