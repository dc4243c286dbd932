//! Model artifacts: a trained [`Model`] as a file (bincode after a magic and format version).

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use crate::model::Model;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"TLRMODEL";
const VERSION: u32 = 1;

/// The model as bytes (magic, version, bincode).
pub fn to_bytes(model: &Model) -> Result<Vec<u8>> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&VERSION.to_le_bytes());
    bincode::serialize_into(&mut out, model).map_err(|e| Error::Artifact {
        path: "<memory>".into(),
        reason: e.to_string(),
    })?;
    Ok(out)
}

/// A model from [`to_bytes`]' output.
pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
    read_from(bytes, Path::new("<memory>"))
}

fn read_from(mut r: impl Read, path: &Path) -> Result<Model> {
    let bad = |reason: String| Error::Artifact {
        path: path.to_owned(),
        reason,
    };
    let mut head = [0u8; 12];
    r.read_exact(&mut head)
        .map_err(|e| bad(format!("too short for a model artifact ({e})")))?;
    if &head[..8] != MAGIC {
        return Err(bad("not a Tailor model artifact (bad magic)".into()));
    }
    let v = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
    if v != VERSION {
        return Err(bad(format!(
            "format version {v}, this build reads {VERSION}; retrain or use a matching build"
        )));
    }
    bincode::deserialize_from(r).map_err(|e| bad(format!("corrupt: {e}")))
}

/// Writes the model to `path` (through a temporary file and a rename).
pub fn save(model: &Model, path: &Path) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut w = BufWriter::new(f);
    w.write_all(MAGIC)
        .and_then(|_| w.write_all(&VERSION.to_le_bytes()))
        .map_err(|e| Error::io(&tmp, e))?;
    bincode::serialize_into(&mut w, model).map_err(|e| Error::Artifact {
        path: tmp.clone(),
        reason: e.to_string(),
    })?;
    let f = w
        .into_inner()
        .map_err(|e| Error::io(&tmp, e.into_error()))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Reads a model written by [`save`].
pub fn load(path: &Path) -> Result<Model> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_from(BufReader::new(f), path)
}
