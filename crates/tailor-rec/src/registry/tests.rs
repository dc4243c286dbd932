use super::conformance::{self, save};
use super::*;

#[test]
fn a_directory_registry_behaves_as_every_registry_must() {
    let dir = tempfile::tempdir().expect("tmp");
    conformance::run(&Registry::open(dir.path()));
}

#[test]
fn crash_leftovers_are_ignored() {
    let dir = tempfile::tempdir().expect("tmp");
    let reg = Registry::open(dir.path());
    save(&reg, "default");
    save(&reg, "default");
    reg.promote("default", 1).expect("promote");
    let model_dir = dir.path().join("models/default");
    // A crash while writing the pointer leaves its temporary file (even garbage) behind;
    // a crash while saving leaves a version's artifact without its metadata.
    std::fs::write(
        model_dir.join(".current.tmp.999"),
        b"{\"version\": 2, \"hist",
    )
    .expect("w");
    std::fs::create_dir(model_dir.join("v3")).expect("v3");
    std::fs::write(model_dir.join("v3/model.bin"), b"half an artifact").expect("v3 without meta");
    assert_eq!(
        reg.current("default").expect("current").map(|p| p.version),
        Some(1)
    );
    assert_eq!(reg.versions_of("default").expect("versions"), [1, 2]);
    assert_eq!(reg.list().expect("list")[0].versions.len(), 2);
    // The next pointer write goes on, the next save skips the partial v3.
    reg.promote("default", 2).expect("promote");
    assert_eq!(reg.load_current("default").expect("load").0.version, 2);
    assert_eq!(save(&reg, "default").version, 4);
    assert_eq!(reg.versions_of("default").expect("versions"), [1, 2, 4]);
}

#[test]
fn an_erased_user_leaves_no_name_and_no_items_in_any_version() {
    let dir = tempfile::tempdir().expect("tmp");
    let reg = Registry::open(dir.path());
    let v1 = save(&reg, "m");
    let before = reg.load("m", v1.version).expect("load");
    let u1 = before.vocab.users.get("u1").expect("u1") as usize;
    assert!(!before.vocab.user_items[u1].is_empty());
    let rewritten = reg.erase_user("u1").expect("erase");
    assert_eq!(rewritten, vec![("m".to_owned(), v1.version)]);
    let after = reg.load("m", v1.version).expect("load");
    assert_eq!(after.vocab.users.get("u1"), None);
    assert!(after.vocab.user_items[u1].is_empty());
    let u2 = after.vocab.users.get("u2").expect("u2") as usize;
    assert!(!after.vocab.user_items[u2].is_empty(), "others keep theirs");
}
