//! Failpoints: named moments where a test can make the process die, to prove that a crash
//! exactly there loses and duplicates nothing (the crash matrix, `tailor/tests/it/crash.rs`).
//!
//! `TAILOR_FAILPOINT=NAME@N` makes the `N`th call of [`hit`]`(NAME)` abort the process
//! (no unwinding, no destructors, no flush: as abrupt as SIGKILL, at a moment a timed kill
//! rarely reaches). Unset, a hit costs one load of an initialised `OnceLock`. Names:
//!
//! | name | moment |
//! |---|---|
//! | `log.after_write` | a group's records written to the segment files, before fsync |
//! | `log.after_fsync` | fsynced, before the new offsets are published and the appends answered |
//! | `checkpoint.before_rename` | the checkpoint's temporary file written and fsynced, before the rename |
//! | `checkpoint.after_rename` | renamed, before the consumer-group offsets are committed |
//! | `lake.before_commit` | a flush's data files written, before its manifest version |
//! | `lake.compaction.before_commit` | compacted files written, before the manifest switch |
//! | `model.before_promote` | a trained version saved in the registry, before promotion |

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

struct Armed {
    name: String,
    at: u64,
    hits: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("TAILOR_FAILPOINT").ok()?;
            let (name, at) = match spec.split_once('@') {
                Some((n, a)) => (n.to_owned(), a.parse().ok()?),
                None => (spec, 1),
            };
            Some(Armed {
                name,
                at,
                hits: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Aborts the process if `name` is the armed failpoint and this is its armed hit.
pub fn hit(name: &str) {
    if let Some(a) = armed() {
        if a.name == name && a.hits.fetch_add(1, Ordering::Relaxed) + 1 == a.at {
            eprintln!("failpoint {name} (hit {}): aborting the process", a.at);
            std::process::abort();
        }
    }
}
