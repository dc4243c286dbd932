//! The registry's behaviour on any blob store: run by this crate's tests on a directory and
//! by tailor-server's tests on S3-compatible storage (moto).

use tailor_event::InteractionKind;

use super::*;
use crate::data::loaders::from_records;
use crate::model::TrendingParams;

fn data() -> Interactions {
    from_records(
        "t",
        vec![
            ("u1", "a", InteractionKind::View, 1_000, Some("c")),
            ("u1", "b", InteractionKind::Purchase, 2_000, None),
            ("u2", "a", InteractionKind::View, 3_000, None::<&str>),
        ],
    )
}

/// Saves a small trending model as the next version of `name`.
pub fn save(reg: &Registry, name: &str) -> ModelMeta {
    let d = data();
    let spec = ModelSpec::Trending(TrendingParams::default());
    let fitted = spec.fit(&d).expect("fit");
    let meta = ModelMeta {
        name: name.into(),
        version: 0,
        kind: kind_of(&spec).into(),
        params: spec,
        data: DataRange::of(&d),
        metrics: None,
        train_secs: fitted.train_secs,
        trained_at_ms: 0,
    };
    let trained = Trained {
        vocab: crate::artifact::Vocab::of(&d),
        model: fitted.model,
    };
    reg.save(&trained, meta).expect("save")
}

/// Every check, on an empty registry.
pub fn run(reg: &Registry) {
    versions_are_numbered_and_loadable(reg);
    promote_and_rollback(reg);
    bad_names_are_rejected(reg);
    prune_keeps_the_newest_and_every_version_rollback_can_reach(reg);
    let names: Vec<String> = reg
        .list()
        .expect("list")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["default", "pruned", "served"]);
}

fn versions_are_numbered_and_loadable(reg: &Registry) {
    assert!(reg.list().expect("empty list").is_empty());
    assert_eq!(save(reg, "default").version, 1);
    assert_eq!(save(reg, "default").version, 2);
    assert_eq!(reg.versions_of("default").expect("versions"), [1, 2]);
    let m = reg.meta("default", 2).expect("meta");
    assert_eq!(
        (m.kind.as_str(), m.data.rows, m.data.users),
        ("trending", 3, 2)
    );
    assert_eq!(
        (m.data.first_event_ms, m.data.last_event_ms),
        (1_000, 3_000)
    );
    assert!(reg.load("default", 1).is_ok());
    let e = reg.load_current("default").expect_err("nothing promoted");
    assert!(e.to_string().contains("no promoted version"), "{e}");
}

fn promote_and_rollback(reg: &Registry) {
    for _ in 0..3 {
        save(reg, "served");
    }
    assert_eq!(reg.promote("served", 1).expect("p1").version, 1);
    assert_eq!(reg.promote("served", 3).expect("p3").history, [1]);
    reg.promote("served", 2).expect("p2");
    assert_eq!(reg.load_current("served").expect("load").0.version, 2);
    assert_eq!(reg.rollback("served").expect("rb").version, 3);
    assert_eq!(reg.rollback("served").expect("rb").version, 1);
    let e = reg.rollback("served").expect_err("no history");
    assert!(e.to_string().contains("no previous version"), "{e}");
    let e = reg.promote("served", 9).expect_err("unknown version");
    assert!(e.to_string().contains("no version 9"), "{e}");
    let list = reg.list().expect("list");
    let served = list.iter().find(|e| e.name == "served").expect("listed");
    assert_eq!(served.current.as_ref().map(|p| p.version), Some(1));
    assert_eq!(served.versions.len(), 3);
}

fn bad_names_are_rejected(reg: &Registry) {
    for name in ["", "../x", ".hidden", "a/b"] {
        let e = reg.current(name).expect_err(name);
        assert!(e.to_string().contains("invalid model name"), "{e}");
    }
}

fn prune_keeps_the_newest_and_every_version_rollback_can_reach(reg: &Registry) {
    for _ in 0..6 {
        save(reg, "pruned");
    }
    reg.promote("pruned", 2).expect("promote 2");
    reg.promote("pruned", 3).expect("promote 3");
    // Keep 2 newest (5, 6) plus the served version (3) and its history (2).
    let removed = reg.prune("pruned", 2).expect("prune");
    assert_eq!(removed, vec![1, 4]);
    assert_eq!(
        reg.versions_of("pruned").expect("versions"),
        vec![2, 3, 5, 6]
    );
    assert_eq!(reg.rollback("pruned").expect("rollback").version, 2);
    assert_eq!(reg.load("pruned", 2).expect("load").vocab.items.len(), 2);
    assert!(reg.prune("pruned", 0).is_err(), "keep must be at least 1");
}
