//! Writes a split as TSV files so another tool (bench/implicit_compare.py) evaluates on
//! exactly the same data.
//!
//! Ids are dense and renumbered: users and items that have a training row, in id order.
//! * `train.tsv`: `user item kind ts_ms` (kind: view, click, add_to_cart, purchase).
//! * `test.tsv`: temporal: `user item` (each user's held-out items, already filtered to
//!   known items; rank all items except the user's training items). session: `session item
//!   ts_ms`, each test session's events in order (already filtered); every prefix predicts
//!   the next item, nothing excluded.
//! * `split.json`: protocol, counts and kind weights.

use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::json;

use super::{Protocol, Split};
use crate::data::KindWeights;
use crate::{Error, Result};

fn dense(flags: &[bool]) -> Vec<u32> {
    let mut next = 0;
    flags
        .iter()
        .map(|&f| {
            if f {
                next += 1;
                next - 1
            } else {
                u32::MAX
            }
        })
        .collect()
}

fn create(dir: &Path, name: &str) -> Result<(BufWriter<std::fs::File>, std::path::PathBuf)> {
    let p = dir.join(name);
    let f = std::fs::File::create(&p).map_err(|e| Error::io(&p, e))?;
    Ok((BufWriter::new(f), p))
}

/// Writes `train.tsv`, `test.tsv` and `split.json` into `dir` (created if missing).
pub fn write_split(split: &Split, dir: &Path, weights: &KindWeights) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let train = &split.train;
    let items = dense(&train.present_items());
    let mut has_user = vec![false; train.n_users()];
    for r in &train.rows {
        has_user[r.user as usize] = true;
    }
    let users = dense(&has_user);
    let (mut w, p) = create(dir, "train.tsv")?;
    let io = |e| Error::io(&p, e);
    writeln!(w, "user\titem\tkind\tts_ms").map_err(io)?;
    for r in &train.rows {
        writeln!(
            w,
            "{}\t{}\t{}\t{}",
            users[r.user as usize],
            items[r.item as usize],
            r.kind.as_str(),
            r.ts_ms
        )
        .map_err(io)?;
    }
    w.flush().map_err(io)?;
    let (mut w, p) = create(dir, "test.tsv")?;
    let io = |e| Error::io(&p, e);
    match split.protocol {
        Protocol::Temporal { .. } | Protocol::NextBasket => {
            writeln!(w, "user\titem").map_err(io)?;
            for r in &split.test_rows {
                writeln!(w, "{}\t{}", users[r.user as usize], items[r.item as usize])
                    .map_err(io)?;
            }
        }
        Protocol::Session { .. } => {
            writeln!(w, "session\titem\tts_ms").map_err(io)?;
            for r in &split.test_rows {
                writeln!(w, "{}\t{}\t{}", r.session, items[r.item as usize], r.ts_ms)
                    .map_err(io)?;
            }
        }
    }
    w.flush().map_err(io)?;
    let meta = json!({
        "dataset": train.name,
        "protocol": split.protocol,
        "stats": split.stats,
        "cases": split.cases.len(),
        "n_users": users.iter().filter(|&&u| u != u32::MAX).count(),
        "n_items": items.iter().filter(|&&i| i != u32::MAX).count(),
        "kind_weights": weights,
    });
    let p = dir.join("split.json");
    let text = serde_json::to_string_pretty(&meta).map_err(|e| Error::Param(e.to_string()))?;
    std::fs::write(&p, text).map_err(|e| Error::io(&p, e))
}
