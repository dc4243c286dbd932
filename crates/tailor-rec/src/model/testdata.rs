//! A tiny shop where the right answers are known: shoe fans view s1–s4, hat fans view
//! h1–h3, everyone views the popular `hit` (and half buy it, last).

use tailor_event::InteractionKind::{self, Purchase, View};

use crate::data::{loaders::from_records, Interactions};

pub(crate) fn shop() -> Interactions {
    let mut recs: Vec<(String, String, InteractionKind, i64, Option<String>)> = Vec::new();
    let mut push = |u: String, item: &str, kind, t: i64| {
        recs.push((u, item.to_owned(), kind, t, Some(item[..1].to_owned())));
    };
    for u in 0..12i64 {
        let base = u * 100_000;
        let items: &[&str] = if u % 3 == 0 {
            &["s1", "s2", "s3", "s4"]
        } else {
            &["s1", "s2", "s3"]
        };
        for (p, it) in items.iter().enumerate() {
            push(format!("shoe{u}"), it, View, base + p as i64 * 1000);
        }
        for (p, it) in ["h1", "h2", "h3"].iter().enumerate() {
            push(format!("hat{u}"), it, View, base + 50_000 + p as i64 * 1000);
        }
    }
    for u in 0..12i64 {
        let t = 2_000_000 + u * 1000;
        push(format!("shoe{u}"), "hit", View, t);
        push(format!("hat{u}"), "hit", View, t + 1);
        if u % 2 == 0 {
            push(format!("hat{u}"), "hit", Purchase, t + 2);
        }
    }
    from_records("shop", recs)
}

/// The id of item `name`.
pub(crate) fn id(data: &Interactions, name: &str) -> u32 {
    data.items.get(name).unwrap_or(u32::MAX)
}
