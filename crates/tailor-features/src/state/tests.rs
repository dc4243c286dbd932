use tailor_event::{Interaction, InteractionKind};

use crate::engine::FeatureEvent;

use super::*;

pub(crate) fn event(user: &str, kind: InteractionKind, item: &str, t: i64) -> FeatureEvent {
    FeatureEvent {
        user_id: Some(user.into()),
        anonymous_id: None,
        event_time_ms: t,
        received_at_ms: t,
        interactions: vec![Interaction {
            kind,
            item_id: item.into(),
            category: Some(format!("cat-{}", &item[..1])),
            price: None,
            quantity: None,
            currency: None,
            order_id: None,
            rec_id: None,
        }],
        ..FeatureEvent::default()
    }
}

fn run(events: &[FeatureEvent]) -> LiveState {
    let cfg = LiveConfig::default();
    let mut s = LiveState::default();
    for (i, e) in events.iter().enumerate() {
        s.apply(&cfg, 0, i as u64, e);
    }
    s.refresh_trending(&cfg);
    s
}

#[test]
fn sessions_build_weighted_cooccurrence() {
    use InteractionKind::*;
    let min = 60_000;
    let s = run(&[
        event("u1", View, "a1", 0),
        event("u1", View, "a2", min),
        event("u1", AddToCart, "a3", 2 * min),
        // New session after a gap: b1 does not pair with the a-items.
        event("u1", View, "b1", 120 * min),
    ]);
    let (a1, _) = s.item("a1").expect("a1");
    let (a2, _) = s.item("a2").expect("a2");
    let (a3, a3s) = s.item("a3").expect("a3");
    let (b1, b1s) = s.item("b1").expect("b1");
    let n = |i: ItemIdx, j: ItemIdx| s.items[i as usize].neighbours.get(&j).copied();
    assert_eq!(n(a1, a2), Some(1.0));
    assert_eq!(n(a2, a1), Some(1.0));
    assert_eq!(n(a1, a3), Some(4.0), "cart weighs 4");
    assert_eq!(n(a3, a2), Some(4.0));
    assert_eq!(n(a1, b1), None);
    assert!(b1s.neighbours.is_empty());
    assert_eq!(s.count(a3s, AddToCart), 1);
    let u = &s.users["u1"];
    assert_eq!(u.events, 4);
    assert_eq!(u.session.iter().copied().collect::<Vec<_>>(), vec![b1]);
    assert_eq!(s.offsets, vec![4]);
    assert_eq!(s.events_processed, 4);
}

#[test]
fn trending_decays() {
    use InteractionKind::*;
    let hour = 3_600_000;
    let mut events = vec![event("u1", Purchase, "p1", 0)];
    for i in 0..5 {
        events.push(event("u2", View, "old", i));
    }
    for i in 0..3 {
        events.push(event("u3", View, "new", 48 * hour + i));
    }
    let s = run(&events);
    assert!(s.item("p1").is_some());
    // 5 views two half-lives ago weigh 1.25 now; 3 fresh views weigh 3.
    let top = s.items[s.trending[0].0 as usize].id.clone();
    assert_eq!(top, "new");
}

#[test]
fn replay_is_deterministic() {
    use InteractionKind::*;
    let kinds = [View, Click, AddToCart, Purchase, Impression];
    let events: Vec<FeatureEvent> = (0..2_000)
        .map(|i| {
            event(
                &format!("u{}", i % 37),
                kinds[i % 5],
                &format!("{}{}", (b'a' + (i % 7) as u8) as char, i % 53),
                (i as i64) * 10_000,
            )
        })
        .collect();
    assert_eq!(run(&events), run(&events));
}

/// Every index the state holds points at the item it meant: neighbour lists, sessions,
/// the trending list and the id index agree with `items`.
fn assert_consistent(s: &LiveState) {
    assert_eq!(s.item_index.len(), s.items.len());
    for (i, item) in s.items.iter().enumerate() {
        assert_eq!(s.item_index[&item.id], i as ItemIdx, "{}", item.id);
        for &o in item.neighbours.keys() {
            assert!((o as usize) < s.items.len(), "{} → {o}", item.id);
        }
    }
    for u in s.users.values() {
        assert!(u.session.iter().all(|&i| (i as usize) < s.items.len()));
    }
    assert!(s
        .trending
        .iter()
        .all(|&(i, _)| (i as usize) < s.items.len()));
}

#[test]
fn ever_new_items_are_capped_keeping_the_popular_ones() {
    use InteractionKind::*;
    let cfg = LiveConfig {
        max_items: 40,
        ..LiveConfig::default()
    };
    let mut s = LiveState::default();
    let mut offset = 0;
    let mut apply = |s: &mut LiveState, e: FeatureEvent| {
        s.apply(&cfg, 0, offset, &e);
        offset += 1;
    };
    // Two popular items bought together, then a stream of one-view items.
    for t in 0..10 {
        apply(&mut s, event("fan", Purchase, "hit-1", t));
        apply(&mut s, event("fan", Purchase, "hit-2", t));
    }
    s.refresh_trending(&cfg);
    for i in 0..1_000 {
        apply(
            &mut s,
            event(&format!("u{i}"), View, &format!("n{i}"), 100 + i),
        );
        // A returning user carries a session across the evictions.
        apply(&mut s, event("fan", View, &format!("n{i}"), 100 + i));
        assert!(s.items.len() <= 45, "{} items", s.items.len());
        assert_consistent(&s);
    }
    let (h1, _) = s.item("hit-1").expect("popular items stay");
    let (h2, _) = s.item("hit-2").expect("popular items stay");
    assert_eq!(s.items[h1 as usize].neighbours.get(&h2), Some(&152.0));
    assert!(s.item("n0").is_none(), "the first one-view item went");
    assert!(s.item("n999").is_some(), "the newest stays");
    assert!(s.trending.iter().any(|&(i, _)| i == h1));
    // Items are capped; users are not (yet) over theirs.
    assert_eq!(s.users.len(), 1_001);
}

#[test]
fn ever_new_users_are_capped_keeping_the_recent_ones() {
    use InteractionKind::*;
    let cfg = LiveConfig {
        max_users: 80,
        ..LiveConfig::default()
    };
    let mut s = LiveState::default();
    for i in 0..1_000 {
        s.apply(&cfg, 0, i, &event(&format!("u{i}"), View, "a1", i as i64));
        assert!(s.users.len() <= 90, "{} users", s.users.len());
    }
    assert!(s.users.contains_key("u999"));
    assert!(!s.users.contains_key("u0"));
    assert!(s.users.len() >= 80);
}

#[test]
fn capacities_are_validated() {
    for cfg in [
        LiveConfig {
            max_items: 0,
            ..LiveConfig::default()
        },
        LiveConfig {
            max_users: crate::config::MAX_LIVE_CAPACITY + 1,
            ..LiveConfig::default()
        },
    ] {
        let err = cfg.validate().expect_err("out of range");
        assert!(err.contains("live.max_"), "{err}");
    }
}
