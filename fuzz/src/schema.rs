//! Target `schema`: the schema registry ([`tailor_event::SchemaRegistry`]): compiling a
//! JSON Schema sent to `POST /v1/schemas`, checking it against the latest version under a
//! compatibility mode, validating event properties, and restoring the registry from its
//! snapshot.
//!
//! Input: `SCHEMA 0xFF PROPERTIES` (both JSON; 0xFF never occurs in UTF-8), or `PROPERTIES`
//! alone to validate against the default e-commerce schemas. The last byte picks the
//! default subject the schema is added to as a new version, and the compatibility mode.
//!
//! Properties: no panic; a refused schema leaves the registry as it was, an accepted one is
//! the subject's latest version; a registry restored from its snapshot has the same
//! snapshot and gives the same validation results.

use serde_json::Value;
use tailor_event::{Compatibility, SchemaRegistry};

use crate::samples::registry;

const FUZZ_SUBJECT: &str = "Fuzz Event";

pub fn run(data: &[u8]) {
    let selector = usize::from(data.last().copied().unwrap_or(0));
    let (schema, payload) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (Some(&data[..i]), &data[i + 1..]),
        None => (None, data),
    };
    let Ok(payload) = serde_json::from_slice::<Value>(payload) else {
        return;
    };
    let mut reg: SchemaRegistry = registry().clone();
    let mut subjects: Vec<String> = reg.subjects().map(|s| s.subject.clone()).collect();
    if let Some(schema) = schema {
        let Ok(schema) = serde_json::from_slice::<Value>(schema) else {
            return;
        };
        add_checked(&mut reg, FUZZ_SUBJECT, schema.clone(), None);
        let subject = subjects[selector % subjects.len()].clone();
        let mode = [
            Compatibility::Backward,
            Compatibility::Forward,
            Compatibility::Full,
            Compatibility::None,
        ][(selector / subjects.len()) % 4];
        add_checked(&mut reg, &subject, schema, Some(mode));
        subjects.push(FUZZ_SUBJECT.to_owned());
    }
    let results: Vec<Result<(), String>> =
        subjects.iter().map(|s| reg.validate(s, &payload)).collect();
    let snapshot = reg.snapshot();
    let restored = SchemaRegistry::from_snapshot(snapshot.clone())
        .expect("a registry's own snapshot restores");
    assert_eq!(restored.snapshot(), snapshot);
    for (s, r) in subjects.iter().zip(&results) {
        assert_eq!(
            &restored.validate(s, &payload),
            r,
            "validation differs after a restore"
        );
    }
}

fn add_checked(
    reg: &mut SchemaRegistry,
    subject: &str,
    schema: Value,
    mode: Option<Compatibility>,
) {
    let before = reg.snapshot();
    match reg.add(subject, schema.clone(), mode) {
        Ok(version) => {
            let s = reg.subject(subject).expect("an added subject exists");
            let latest = s.latest().expect("an added subject has a version");
            assert_eq!(latest.version, version);
            assert_eq!(latest.schema, schema);
            if let Some(mode) = mode {
                assert_eq!(s.compatibility, mode);
            }
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            assert_eq!(
                reg.snapshot(),
                before,
                "a refused schema changed the registry"
            );
        }
    }
}
