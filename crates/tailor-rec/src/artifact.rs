//! Model artifacts: a trained [`Model`] with the vocabulary its ids index ([`Trained`]) as a
//! file (bincode after a magic and format version).

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{Interactions, Interner};
use crate::model::Model;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"TLRMODEL";
/// 2: the model travels with its vocabulary (version 1 held the model alone).
const VERSION: u32 = 2;

/// The string ids behind a model's dense ids: what maps a request's user and items (strings
/// from the feature store) to the model and its answer back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Vocab {
    pub users: Interner,
    pub items: Interner,
    pub categories: Interner,
    /// Category of each item id, where known.
    pub item_category: Vec<Option<u32>>,
}

impl Vocab {
    /// The ids of a training set.
    pub fn of(data: &Interactions) -> Vocab {
        Vocab {
            users: data.users.clone(),
            items: data.items.clone(),
            categories: data.categories.clone(),
            item_category: data.item_category.clone(),
        }
    }

    /// The category name of an item id.
    pub fn category_name(&self, item: u32) -> Option<&str> {
        let c = self.item_category.get(item as usize).copied().flatten()?;
        Some(self.categories.name(c))
    }
}

/// A trained model and its vocabulary: the unit saved as an artifact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trained {
    pub vocab: Vocab,
    pub model: Model,
}

/// The model as bytes (magic, version, bincode).
pub fn to_bytes(model: &Trained) -> Result<Vec<u8>> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&VERSION.to_le_bytes());
    bincode::serialize_into(&mut out, model).map_err(|e| Error::Artifact {
        path: "<memory>".into(),
        reason: e.to_string(),
    })?;
    Ok(out)
}

/// A model from [`to_bytes`]' output.
pub fn from_bytes(bytes: &[u8]) -> Result<Trained> {
    read_from(bytes, Path::new("<memory>"))
}

fn read_from(mut r: impl Read, path: &Path) -> Result<Trained> {
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
pub fn save(model: &Trained, path: &Path) -> Result<()> {
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
pub fn load(path: &Path) -> Result<Trained> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_from(BufReader::new(f), path)
}
