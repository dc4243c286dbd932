//! Model artifacts: a trained [`Model`] with the vocabulary its ids index ([`Trained`]) as a
//! file (bincode after a magic and format version).

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{Interactions, Interner};
use crate::model::Model;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"TLRMODEL";
/// 2: the model travels with its vocabulary (version 1 held the model alone). 3: the
/// vocabulary holds each training user's items (version 2 files are still read, without).
const VERSION: u32 = 3;

/// The string ids behind a model's dense ids: what maps a request's user and items (strings
/// from the feature store) to the model and its answer back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Vocab {
    pub users: Interner,
    pub items: Interner,
    pub categories: Interner,
    /// Category of each item id, where known.
    pub item_category: Vec<Option<u32>>,
    /// Each training user's distinct items, sorted (by user id): what "seen" means for a
    /// user the model knows, beyond the recent items the feature store keeps.
    pub user_items: Vec<Vec<u32>>,
}

/// [`Vocab`] as artifact version 2 wrote it.
#[derive(Deserialize)]
struct VocabV2 {
    users: Interner,
    items: Interner,
    categories: Interner,
    item_category: Vec<Option<u32>>,
}

/// [`Trained`] as artifact version 2 wrote it.
#[derive(Deserialize)]
struct TrainedV2 {
    vocab: VocabV2,
    model: Model,
}

impl Vocab {
    /// The ids of a training set.
    pub fn of(data: &Interactions) -> Vocab {
        let mut user_items: Vec<Vec<u32>> = vec![Vec::new(); data.n_users()];
        for r in &data.rows {
            user_items[r.user as usize].push(r.item);
        }
        for items in &mut user_items {
            items.sort_unstable();
            items.dedup();
        }
        Vocab {
            users: data.users.clone(),
            items: data.items.clone(),
            categories: data.categories.clone(),
            item_category: data.item_category.clone(),
            user_items,
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
    match v {
        VERSION => bincode::deserialize_from(r).map_err(|e| bad(format!("corrupt: {e}"))),
        2 => {
            let old: TrainedV2 =
                bincode::deserialize_from(r).map_err(|e| bad(format!("corrupt: {e}")))?;
            Ok(Trained {
                vocab: Vocab {
                    users: old.vocab.users,
                    items: old.vocab.items,
                    categories: old.vocab.categories,
                    item_category: old.vocab.item_category,
                    user_items: Vec::new(),
                },
                model: old.model,
            })
        }
        _ => Err(bad(format!(
            "format version {v}, this build reads 2 and {VERSION}; retrain or use a matching build"
        ))),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelSpec, TrendingParams};
    use tailor_event::InteractionKind::View;

    fn trained() -> Trained {
        let data = crate::data::loaders::from_records(
            "t",
            [
                ("u1", "b", View, 0, None::<&str>),
                ("u1", "a", View, 1, None),
                ("u1", "b", View, 2, None),
                ("u2", "c", View, 3, None),
            ],
        );
        Trained {
            vocab: Vocab::of(&data),
            model: ModelSpec::Trending(TrendingParams::default())
                .fit(&data)
                .expect("fit")
                .model,
        }
    }

    #[test]
    fn users_items_travel_with_the_vocabulary_and_version_2_files_still_load() {
        let t = trained();
        let v = &t.vocab;
        let u1 = v.users.get("u1").expect("u1") as usize;
        let ids = |names: &[&str]| -> Vec<u32> {
            let mut out: Vec<u32> = names.iter().filter_map(|n| v.items.get(n)).collect();
            out.sort_unstable();
            out
        };
        assert_eq!(v.user_items[u1], ids(&["a", "b"]));
        let back = from_bytes(&to_bytes(&t).expect("bytes")).expect("read");
        assert_eq!(back.vocab.user_items, v.user_items);

        // A version 2 file: the same without the users' items.
        #[derive(Serialize)]
        struct V2<'a> {
            users: &'a Interner,
            items: &'a Interner,
            categories: &'a Interner,
            item_category: &'a Vec<Option<u32>>,
        }
        let mut old = MAGIC.to_vec();
        old.extend_from_slice(&2u32.to_le_bytes());
        bincode::serialize_into(
            &mut old,
            &(
                V2 {
                    users: &v.users,
                    items: &v.items,
                    categories: &v.categories,
                    item_category: &v.item_category,
                },
                &t.model,
            ),
        )
        .expect("v2 bytes");
        let read = from_bytes(&old).expect("a version 2 artifact loads");
        assert!(read.vocab.user_items.is_empty());
        assert_eq!(read.vocab.items.get("a"), v.items.get("a"));
        let mut future = MAGIC.to_vec();
        future.extend_from_slice(&9u32.to_le_bytes());
        let e = from_bytes(&future)
            .expect_err("unknown version")
            .to_string();
        assert!(e.contains("format version 9"), "{e}");
    }
}
