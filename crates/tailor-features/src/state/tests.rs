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
