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

fn save(reg: &Registry, name: &str) -> ModelMeta {
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

#[test]
fn versions_are_numbered_and_loadable() {
    let dir = tempfile::tempdir().expect("tmp");
    let reg = Registry::open(dir.path());
    assert!(reg.list().expect("empty list").is_empty());
    assert_eq!(save(&reg, "default").version, 1);
    assert_eq!(save(&reg, "default").version, 2);
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

#[test]
fn promote_and_rollback() {
    let dir = tempfile::tempdir().expect("tmp");
    let reg = Registry::open(dir.path());
    for _ in 0..3 {
        save(&reg, "default");
    }
    assert_eq!(reg.promote("default", 1).expect("p1").version, 1);
    assert_eq!(reg.promote("default", 3).expect("p3").history, [1]);
    reg.promote("default", 2).expect("p2");
    assert_eq!(reg.load_current("default").expect("load").0.version, 2);
    assert_eq!(reg.rollback("default").expect("rb").version, 3);
    assert_eq!(reg.rollback("default").expect("rb").version, 1);
    let e = reg.rollback("default").expect_err("no history");
    assert!(e.to_string().contains("no previous version"), "{e}");
    let e = reg.promote("default", 9).expect_err("unknown version");
    assert!(e.to_string().contains("no version 9"), "{e}");
    let list = reg.list().expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].current.as_ref().map(|p| p.version), Some(1));
    assert_eq!(list[0].versions.len(), 3);
}

#[test]
fn crash_leftovers_are_ignored() {
    let dir = tempfile::tempdir().expect("tmp");
    let reg = Registry::open(dir.path());
    save(&reg, "default");
    save(&reg, "default");
    reg.promote("default", 1).expect("promote");
    let model_dir = reg.root().join("default");
    // A crash while writing the pointer leaves its temporary file (even garbage) behind;
    // a crash while saving leaves a staging directory and maybe a version without meta.
    std::fs::write(model_dir.join("current.tmp"), b"{\"version\": 2, \"hist").expect("w");
    std::fs::create_dir(model_dir.join(".staging-999")).expect("stage");
    std::fs::create_dir(model_dir.join("v3")).expect("v3 without meta");
    assert_eq!(
        reg.current("default").expect("current").map(|p| p.version),
        Some(1)
    );
    assert_eq!(reg.versions_of("default").expect("versions"), [1, 2]);
    assert_eq!(reg.list().expect("list")[0].versions.len(), 2);
    // The next pointer write replaces the leftover, the next save skips the partial v3.
    reg.promote("default", 2).expect("promote");
    assert!(!model_dir.join("current.tmp").exists());
    assert_eq!(reg.load_current("default").expect("load").0.version, 2);
    assert_eq!(save(&reg, "default").version, 4);
}

#[test]
fn bad_names_are_rejected() {
    let dir = tempfile::tempdir().expect("tmp");
    let reg = Registry::open(dir.path());
    for name in ["", "../x", ".hidden", "a/b"] {
        let e = reg.current(name).expect_err(name);
        assert!(e.to_string().contains("invalid model name"), "{e}");
    }
}

#[test]
fn prune_keeps_the_newest_and_every_version_rollback_can_reach() {
    let dir = tempfile::tempdir().expect("tmp");
    let reg = Registry::open(dir.path());
    for _ in 0..6 {
        save(&reg, "default");
    }
    reg.promote("default", 2).expect("promote 2");
    reg.promote("default", 3).expect("promote 3");
    // Keep 2 newest (5, 6) plus the served version (3) and its history (2).
    let removed = reg.prune("default", 2).expect("prune");
    assert_eq!(removed, vec![1, 4]);
    assert_eq!(
        reg.versions_of("default").expect("versions"),
        vec![2, 3, 5, 6]
    );
    assert_eq!(reg.rollback("default").expect("rollback").version, 2);
    assert_eq!(reg.load("default", 2).expect("load").vocab.items.len(), 2);
    assert!(reg.prune("default", 0).is_err(), "keep must be at least 1");
}
