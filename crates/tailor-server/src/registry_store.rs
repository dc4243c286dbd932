//! Persistence of the schema registry: `schemas.json` in the data directory, replaced
//! atomically on every change.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use tailor_event::schema::RegistrySnapshot;
use tailor_event::SchemaRegistry;

use crate::{Error, Result};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Loads the registry, or creates it with the default e-commerce schemas.
pub fn load_or_init(path: &Path) -> Result<SchemaRegistry> {
    match fs::read(path) {
        Ok(bytes) => {
            let snapshot: RegistrySnapshot =
                serde_json::from_slice(&bytes).map_err(|e| Error::Io {
                    path: path.display().to_string(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                })?;
            Ok(SchemaRegistry::from_snapshot(snapshot)?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let r = SchemaRegistry::with_defaults();
            save(path, &r)?;
            Ok(r)
        }
        Err(e) => Err(io(path)(e)),
    }
}

pub fn save(path: &Path, registry: &SchemaRegistry) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(&registry.snapshot()).unwrap_or_default();
    // Named per process: processes of split roles sharing a data directory may write it
    // at once (the first start of each writes the defaults); the last rename wins whole.
    let tmp = path.with_extension(format!("json.tmp.{}", std::process::id()));
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(&bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}
