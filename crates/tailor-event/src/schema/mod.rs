//! The schema registry: JSON Schema documents per subject (a track event's name, or
//! `page`/`screen`/`identify`/`group` for the other calls), integer versions, and
//! Confluent-style compatibility modes. Events are validated against the latest version of
//! their subject; an event with no registered subject is accepted as it is.
//!
//! The registry is plain data: the server persists [`RegistrySnapshot`]s.

mod compat;
mod defaults;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use compat::breaking_changes;
pub use defaults::default_schemas;

use crate::{Error, Result};

/// How a new version must relate to the latest one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Compatibility {
    /// The new schema reads every event valid under the latest one.
    #[default]
    Backward,
    /// Events valid under the new schema are readable by the latest one.
    Forward,
    /// Both.
    Full,
    /// No check.
    None,
}

impl fmt::Display for Compatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compatibility::Backward => "BACKWARD",
            Compatibility::Forward => "FORWARD",
            Compatibility::Full => "FULL",
            Compatibility::None => "NONE",
        })
    }
}

impl std::str::FromStr for Compatibility {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "BACKWARD" => Ok(Compatibility::Backward),
            "FORWARD" => Ok(Compatibility::Forward),
            "FULL" => Ok(Compatibility::Full),
            "NONE" => Ok(Compatibility::None),
            _ => Err(format!(
                "{s:?} is not a compatibility mode: use BACKWARD, FORWARD, FULL or NONE"
            )),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SchemaVersion {
    pub version: u32,
    pub schema: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Subject {
    pub subject: String,
    pub compatibility: Compatibility,
    pub versions: Vec<SchemaVersion>,
}

impl Subject {
    pub fn latest(&self) -> Option<&SchemaVersion> {
        self.versions.last()
    }
}

/// What is persisted.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct RegistrySnapshot {
    pub subjects: Vec<Subject>,
}

#[derive(Clone, Default)]
pub struct SchemaRegistry {
    subjects: BTreeMap<String, Subject>,
    validators: BTreeMap<String, Arc<jsonschema::Validator>>,
}

impl fmt::Debug for SchemaRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemaRegistry")
            .field("subjects", &self.subjects.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn compile(subject: &str, schema: &Value) -> Result<jsonschema::Validator> {
    jsonschema::validator_for(schema).map_err(|e| Error::InvalidSchema {
        subject: subject.to_owned(),
        reason: e.to_string(),
    })
}

fn check_subject_name(subject: &str) -> Result<()> {
    if subject.is_empty() || subject.len() > 200 || subject.chars().any(char::is_control) {
        return Err(Error::BadSubject(subject.to_owned()));
    }
    Ok(())
}

impl SchemaRegistry {
    /// A registry holding the default e-commerce spec schemas.
    pub fn with_defaults() -> Self {
        let mut r = SchemaRegistry::default();
        for (subject, schema) in default_schemas() {
            // The shipped schemas are valid and versions start empty; a failure is a bug in them.
            if let Err(e) = r.add(subject, schema, None) {
                panic!("default schema {subject} is invalid: {e}");
            }
        }
        r
    }

    pub fn from_snapshot(snapshot: RegistrySnapshot) -> Result<Self> {
        let mut r = SchemaRegistry::default();
        for s in snapshot.subjects {
            check_subject_name(&s.subject)?;
            if let Some(latest) = s.latest() {
                let v = compile(&s.subject, &latest.schema)?;
                r.validators.insert(s.subject.clone(), Arc::new(v));
            }
            r.subjects.insert(s.subject.clone(), s);
        }
        Ok(r)
    }

    pub fn snapshot(&self) -> RegistrySnapshot {
        RegistrySnapshot {
            subjects: self.subjects.values().cloned().collect(),
        }
    }

    pub fn subjects(&self) -> impl Iterator<Item = &Subject> {
        self.subjects.values()
    }

    pub fn subject(&self, name: &str) -> Option<&Subject> {
        self.subjects.get(name)
    }

    /// Registers `schema` as the next version of `subject`, or returns the existing version
    /// number if the latest version is identical. `compatibility` changes the subject's mode
    /// (the default for a new subject is BACKWARD) and applies to this very check.
    pub fn add(
        &mut self,
        subject: &str,
        schema: Value,
        compatibility: Option<Compatibility>,
    ) -> Result<u32> {
        check_subject_name(subject)?;
        let validator = compile(subject, &schema)?;
        let existing = self.subjects.get(subject);
        let mode = compatibility
            .or(existing.map(|s| s.compatibility))
            .unwrap_or_default();
        if let Some(latest) = existing.and_then(Subject::latest) {
            if latest.schema == schema {
                let version = latest.version;
                if let Some(s) = self.subjects.get_mut(subject) {
                    s.compatibility = mode;
                }
                return Ok(version);
            }
            let mut reasons = Vec::new();
            if matches!(mode, Compatibility::Backward | Compatibility::Full) {
                reasons.extend(
                    breaking_changes(&schema, &latest.schema)
                        .into_iter()
                        .map(|r| format!("old events would be rejected: {r}")),
                );
            }
            if matches!(mode, Compatibility::Forward | Compatibility::Full) {
                reasons.extend(
                    breaking_changes(&latest.schema, &schema)
                        .into_iter()
                        .map(|r| format!("new events would break old readers: {r}")),
                );
            }
            if !reasons.is_empty() {
                return Err(Error::Incompatible {
                    subject: subject.to_owned(),
                    mode: mode.to_string(),
                    against: latest.version,
                    reasons,
                });
            }
        }
        let entry = self
            .subjects
            .entry(subject.to_owned())
            .or_insert_with(|| Subject {
                subject: subject.to_owned(),
                compatibility: mode,
                versions: Vec::new(),
            });
        entry.compatibility = mode;
        let version = entry.versions.last().map_or(1, |v| v.version + 1);
        entry.versions.push(SchemaVersion { version, schema });
        self.validators
            .insert(subject.to_owned(), Arc::new(validator));
        Ok(version)
    }

    /// Validates `payload` against the latest schema of `subject`; the error names the first
    /// failing location.
    pub fn validate(&self, subject: &str, payload: &Value) -> Result<(), String> {
        let Some(v) = self.validators.get(subject) else {
            return Ok(());
        };
        match v.validate(payload) {
            Ok(()) => Ok(()),
            Err(e) => {
                let path = e.instance_path.to_string();
                let field = if path.is_empty() {
                    "properties".to_owned()
                } else {
                    format!("properties{}", path.replace('/', "."))
                };
                let version = self
                    .subjects
                    .get(subject)
                    .and_then(Subject::latest)
                    .map_or(0, |s| s.version);
                Err(format!("schema {subject:?} v{version}: {field}: {e}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_and_compatibility_modes() {
        let mut r = SchemaRegistry::default();
        let v1 = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert_eq!(r.add("Signed Up", v1.clone(), None).expect("v1"), 1);
        assert_eq!(r.add("Signed Up", v1.clone(), None).expect("same"), 1);
        let v2 =
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]});
        let err = r.add("Signed Up", v2.clone(), None).expect_err("backward");
        assert!(err.to_string().contains("became required"), "{err}");
        assert_eq!(
            r.add("Signed Up", v2.clone(), Some(Compatibility::Forward))
                .expect("fwd"),
            2
        );
        assert_eq!(
            r.subject("Signed Up").map(|s| s.compatibility),
            Some(Compatibility::Forward)
        );
        assert!(r.validate("Signed Up", &json!({})).is_err());
        assert!(r.validate("Signed Up", &json!({"a": "x"})).is_ok());
        assert!(r.validate("Unknown", &json!({"anything": 1})).is_ok());
        let again = SchemaRegistry::from_snapshot(r.snapshot()).expect("restore");
        assert_eq!(again.snapshot(), r.snapshot());
        assert!(r.add("Bad", json!({"type": 5}), None).is_err());
        assert!(r.add("", json!({}), None).is_err());
    }

    #[test]
    fn defaults_validate_the_ecommerce_spec() {
        let r = SchemaRegistry::with_defaults();
        assert!(r
            .validate("Product Viewed", &json!({"product_id": "P1", "price": 3.5}))
            .is_ok());
        let e = r
            .validate("Product Viewed", &json!({"price": 3.5}))
            .expect_err("no id");
        assert!(e.contains("product_id"), "{e}");
        let e = r
            .validate(
                "Product Added",
                &json!({"product_id": "P1", "price": "free"}),
            )
            .expect_err("price");
        assert!(e.contains("properties.price"), "{e}");
        assert!(r
            .validate(
                "Order Completed",
                &json!({"products": [{"product_id": "A"}]})
            )
            .is_ok());
        assert!(r
            .validate("Order Completed", &json!({"products": [{"name": "x"}]}))
            .is_err());
    }
}
