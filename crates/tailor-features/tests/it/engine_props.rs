//! Property tests of the feature engine against brute-force recounts over the applied
//! events ([`reference`]), using the documented semantics (see
//! `engine::window::{sliding, session}`): sliding windows as of T cover events whose bucket
//! start lies in (start(T) − W, start(T)], tumbling windows the period containing T,
//! sessions by the documented gap rule.

use crate::reference;

use std::collections::BTreeSet;

use proptest::prelude::*;
use reference::*;
use tailor_features::engine::{
    bucket_start, bucket_width_ms, FeatureEngine, FeatureEvent, FeatureRow, FeatureValue,
};
use tailor_features::EntityKind;

fn check_row(
    row: &FeatureRow,
    window_of: &dyn Fn(&str, i64, u64) -> bool,
    applied: &[(i64, u64, &FeatureEvent)],
    as_of: i64,
    field: &str,
    windows: &[&str],
) -> Result<(), TestCaseError> {
    for w in windows {
        let mut ups: Vec<Upd<'_>> = Vec::new();
        for &(t, off, e) in applied {
            if !window_of(w, t, off) {
                continue;
            }
            ups.push((t, off, 0, None));
            for (s, i) in e.interactions.iter().enumerate() {
                ups.push((t, off, s, Some(i)));
            }
        }
        for agg in AGGS {
            let name = format!("{agg}_{w}");
            let got = row.get(&name).cloned().unwrap_or(FeatureValue::Null);
            let want = if agg == "ratio" {
                let n = expected("cnt_view", &ups, as_of, field)
                    .as_f64()
                    .unwrap_or(0.0);
                let d = expected("cnt_ev", &ups, as_of, field)
                    .as_f64()
                    .unwrap_or(0.0);
                if d == 0.0 {
                    FeatureValue::Null
                } else {
                    FeatureValue::Float(n / d)
                }
            } else {
                expected(agg, &ups, as_of, field)
            };
            prop_assert!(
                close(&got, &want),
                "{} {}: engine {:?}, reference {:?}",
                row.id,
                name,
                got,
                want
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// User features: every aggregation × window kind equals a brute-force recount over the
    /// events the reference considers applied (not late).
    #[test]
    fn user_features_match_brute_force(gens in gen_events()) {
        let events = to_events(&gens);
        let mut engine = FeatureEngine::new(&config("user", "item_id", LATENESS_MS), 1).expect("valid");
        let mut max: Option<i64> = None;
        let mut applied: Vec<(i64, u64, &FeatureEvent)> = Vec::new();
        for (off, e) in events.iter().enumerate() {
            let t = e.event_time_ms;
            let late = max.is_some_and(|m| t < m - LATENESS_MS);
            let outcome = engine.apply(0, off as u64, e);
            prop_assert_eq!(outcome.late, late);
            if !late {
                applied.push((t, off as u64, e));
                max = Some(max.map_or(t, |m| m.max(t)));
            }
        }
        let as_of = max.expect("first event is never late");
        prop_assert_eq!(engine.stream_time_ms(), Some(as_of));
        let width = bucket_width_ms(SLIDING_MS).expect("width");
        for user in 0..3 {
            let id = format!("u{user}");
            let mine: Vec<(i64, u64, &FeatureEvent)> =
                applied.iter().copied().filter(|a| a.2.user_id.as_deref() == Some(&id)).collect();
            let row = engine.read(&EntityKind::User, &id);
            if mine.is_empty() {
                prop_assert!(row.is_none());
                continue;
            }
            let row = row.expect("user with applied events has a row");
            // Reference sessions: the documented rule, replayed in apply order.
            let mut clock: Option<(i64, i64)> = None;
            let mut members: BTreeSet<u64> = BTreeSet::new();
            for &(t, off, _) in &mine {
                match clock {
                    Some((s, l)) if t <= l + GAP_MS => {
                        if t >= s - GAP_MS {
                            clock = Some((s.min(t), l.max(t)));
                            members.insert(off);
                        }
                    }
                    _ => {
                        clock = Some((t, t));
                        members = BTreeSet::from([off]);
                    }
                }
            }
            let current = clock.is_some_and(|(_, l)| as_of <= l + GAP_MS);
            let window_of = |w: &str, t: i64, off: u64| match w {
                "sliding" => {
                    let b = bucket_start(t, width);
                    let top = bucket_start(as_of, width);
                    b <= top && b > top - SLIDING_MS
                }
                "tumbling" => t.div_euclid(TUMBLING_MS) == as_of.div_euclid(TUMBLING_MS),
                "session" => current && members.contains(&off),
                _ => true,
            };
            check_row(&row, &window_of, &mine, as_of, "item_id",
                &["sliding", "tumbling", "session", "lifetime"])?;
        }
    }

    /// Item features computed in three partitions and merged at read equal one partition
    /// receiving every event.
    #[test]
    fn partitions_merge_like_one(
        gens in proptest::collection::vec(
            (0u8..6, 0i64..3_600, proptest::collection::vec((0usize..3, 0u8..5, 0u8..3, proptest::option::of(1u8..100)), 1..3)),
            1..60),
    ) {
        let lateness = 86_400_000;
        let cfg = config("item", "price", lateness);
        let events: Vec<FeatureEvent> = gens
            .iter()
            .enumerate()
            .map(|(i, (user, base, inters))| {
                // Distinct times, out of order over an hour.
                let t = T0 + base * 1_000 + i as i64;
                let mut e = to_events(&[Gen { user: *user, dt: 0, back: None, inters: inters.clone() }])
                    .remove(0);
                e.event_time_ms = t;
                e
            })
            .collect();
        let mut one = FeatureEngine::new(&cfg, 1).expect("valid");
        let mut three = FeatureEngine::new(&cfg, 3).expect("valid");
        let mut offsets = [0u64; 3];
        for (i, e) in events.iter().enumerate() {
            prop_assert!(!one.apply(0, i as u64, e).late);
            let p = (e.user_id.as_deref().unwrap_or("").len() + gens[i].0 as usize) % 3;
            prop_assert!(!three.apply(p as u32, offsets[p], e).late);
            offsets[p] += 1;
        }
        prop_assert_eq!(one.entities(), three.entities());
        for key in one.entities() {
            let a = one.read(&key.kind, &key.id).expect("one");
            let b = three.read(&key.kind, &key.id).expect("three");
            prop_assert_eq!(a.as_of_ms, b.as_of_ms);
            for ((na, va), (nb, vb)) in a.values.iter().zip(&b.values) {
                prop_assert_eq!(na, nb);
                prop_assert!(close(va, vb), "{} {}: one {:?}, three {:?}", key.id, na, va, vb);
            }
        }
    }
}

#[test]
fn item_features_match_brute_force_on_a_fixed_stream() {
    // Items get one update per interaction: check the item path (value field = price)
    // against the reference once on a deterministic stream.
    let mut rng = tailor_features::engine::bench::Rng::new(7);
    let gens: Vec<Gen> = (0..400)
        .map(|_| Gen {
            user: rng.below(3) as u8,
            dt: rng.below(40_000) as i64,
            back: (rng.below(6) == 0).then(|| rng.below(200_000) as i64),
            inters: (0..rng.below(3))
                .map(|_| {
                    (
                        rng.below(3) as usize,
                        rng.below(4) as u8,
                        rng.below(3) as u8,
                        (rng.below(4) != 0).then(|| 1 + rng.below(99) as u8),
                    )
                })
                .collect(),
        })
        .collect();
    let events = to_events(&gens);
    let mut engine = FeatureEngine::new(&config("item", "price", LATENESS_MS), 1).expect("valid");
    let mut max: Option<i64> = None;
    let mut applied = Vec::new();
    for (off, e) in events.iter().enumerate() {
        let late = max.is_some_and(|m| e.event_time_ms < m - LATENESS_MS);
        assert_eq!(engine.apply(0, off as u64, e).late, late);
        if !late {
            applied.push((e.event_time_ms, off as u64, e));
            max = Some(max.map_or(e.event_time_ms, |m| m.max(e.event_time_ms)));
        }
    }
    let as_of = max.expect("events");
    let width = bucket_width_ms(SLIDING_MS).expect("width");
    for item in 0..4 {
        let id = format!("i{item}");
        // Per item: each matching interaction is one update; `cnt_ev` counts them too.
        let mine: Vec<FeatureEvent> = applied
            .iter()
            .map(|(_, _, e)| FeatureEvent {
                interactions: e
                    .interactions
                    .iter()
                    .filter(|i| i.item_id == id)
                    .cloned()
                    .collect(),
                ..(*e).clone()
            })
            .collect();
        let flat: Vec<(i64, u64, &FeatureEvent)> = applied
            .iter()
            .zip(&mine)
            .filter(|(_, m)| !m.interactions.is_empty())
            .map(|((t, o, _), m)| (*t, *o, m))
            .collect();
        let Some(row) = engine.read(&EntityKind::Item, &id) else {
            assert!(flat.is_empty());
            continue;
        };
        let window_of = |w: &str, t: i64, _off: u64| match w {
            "sliding" => {
                let b = bucket_start(t, width);
                let top = bucket_start(as_of, width);
                b <= top && b > top - SLIDING_MS
            }
            "tumbling" => t.div_euclid(TUMBLING_MS) == as_of.div_euclid(TUMBLING_MS),
            _ => true,
        };
        // For items, count (no filter) counts interactions, not events.
        let per_interaction: Vec<(i64, u64, FeatureEvent)> = flat
            .iter()
            .map(|(t, o, e)| (*t, *o, (*e).clone()))
            .collect();
        let check = check_row_items(&row, &window_of, &per_interaction, as_of);
        assert!(check.is_ok(), "{check:?}");
    }
}

/// Like [`check_row`], with `cnt_ev` counting interactions (item features update once per
/// interaction).
fn check_row_items(
    row: &FeatureRow,
    window_of: &dyn Fn(&str, i64, u64) -> bool,
    applied: &[(i64, u64, FeatureEvent)],
    as_of: i64,
) -> Result<(), TestCaseError> {
    let expanded: Vec<(i64, u64, FeatureEvent)> = applied.to_vec();
    let refs: Vec<(i64, u64, &FeatureEvent)> =
        expanded.iter().map(|(t, o, e)| (*t, *o, e)).collect();
    for w in ["sliding", "tumbling", "lifetime"] {
        let mut ups: Vec<Upd<'_>> = Vec::new();
        let mut count = 0;
        for &(t, off, e) in &refs {
            if !window_of(w, t, off) {
                continue;
            }
            for (s, i) in e.interactions.iter().enumerate() {
                ups.push((t, off, s, Some(i)));
                count += 1;
            }
        }
        let got = row.get(&format!("cnt_ev_{w}")).cloned();
        prop_assert_eq!(got, Some(FeatureValue::Int(count)));
        for agg in AGGS.iter().filter(|a| !matches!(**a, "cnt_ev" | "ratio")) {
            let name = format!("{agg}_{w}");
            let got = row.get(&name).cloned().unwrap_or(FeatureValue::Null);
            let want = expected(agg, &ups, as_of, "price");
            prop_assert!(
                close(&got, &want),
                "{} {}: engine {:?}, reference {:?}",
                row.id,
                name,
                got,
                want
            );
        }
    }
    Ok(())
}
