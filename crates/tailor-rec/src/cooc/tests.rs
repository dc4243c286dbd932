use tailor_event::{EventView, Interaction, InteractionKind};

use super::*;

fn event(user: &str, kind: InteractionKind, item: &str, t: i64) -> EventView {
    EventView {
        user_id: Some(user.into()),
        anonymous_id: None,
        event_time_ms: t,
        received_at_ms: t,
        interactions: vec![Interaction {
            kind,
            item_id: item.into(),
            category: Some(item[..1].to_owned()),
            price: None,
            quantity: None,
            currency: None,
            order_id: None,
            rec_id: None,
        }],
    }
}

/// Shoppers co-view shoes s1..s4 and, separately, hats h1..h3; h1 is the most popular item.
fn shop() -> (LiveState, LiveConfig) {
    use InteractionKind::*;
    let live = LiveConfig::default();
    let mut s = LiveState::default();
    let mut events = Vec::new();
    let mut t = 0;
    for u in 0..20 {
        for item in ["s1", "s2", "s3", "s4"] {
            t += 1000;
            events.push(event(&format!("shoe{u}"), View, item, t));
        }
    }
    for u in 0..40 {
        for item in ["h1", "h2", "h3"] {
            t += 1000;
            events.push(event(&format!("hat{u}"), View, item, t));
        }
    }
    events.push(event("buyer", View, "s1", t + 1));
    events.push(event("buyer", Purchase, "s2", t + 2));
    for (i, e) in events.iter().enumerate() {
        s.apply(&live, 0, i as u64, e);
    }
    s.refresh_trending(&live);
    (s, live)
}

#[test]
fn user_gets_co_viewed_items_of_their_category() {
    use InteractionKind::*;
    let (mut s, live) = shop();
    s.apply(&live, 0, 10_000, &event("new", View, "s1", 10_000_000));
    let r = recommend(
        &s,
        &live,
        &RecConfig::default(),
        &RecRequest {
            user: Some("new"),
            item: None,
            k: Some(3),
        },
    )
    .expect("rec");
    assert_eq!(r.strategy, "personalized");
    let ids: Vec<&str> = r.items.iter().map(|i| i.item_id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["s2", "s3", "s4"], "{r:?}");
    assert!(r.items.windows(2).all(|w| w[0].score >= w[1].score));
}

#[test]
fn purchased_items_are_excluded_and_unknowns_get_trending() {
    let (s, live) = shop();
    let cfg = RecConfig::default();
    let r = recommend(
        &s,
        &live,
        &cfg,
        &RecRequest {
            user: Some("buyer"),
            item: None,
            k: Some(10),
        },
    )
    .expect("rec");
    assert!(r.items.iter().all(|i| i.item_id != "s2"), "{r:?}");
    assert_eq!(r.items[0].item_id.chars().next(), Some('s'));
    for req in [
        RecRequest {
            user: Some("nobody"),
            item: None,
            k: Some(2),
        },
        RecRequest {
            user: None,
            item: Some("no-such-item"),
            k: Some(2),
        },
        RecRequest::default(),
    ] {
        let r = recommend(&s, &live, &cfg, &req).expect("rec");
        assert_eq!(r.strategy, "trending");
        // k=2 gives two items; the default k=10 gives all seven known items.
        assert_eq!(r.items.len(), if req.k.is_some() { 2 } else { 7 });
        assert!(r.items[0].item_id.starts_with('h'), "{r:?}");
    }
    let more = recommend(
        &s,
        &live,
        &cfg,
        &RecRequest {
            user: None,
            item: Some("h2"),
            k: Some(2),
        },
    )
    .expect("rec");
    assert_eq!(more.strategy, "item");
    assert!(
        more.items
            .iter()
            .all(|i| i.item_id == "h1" || i.item_id == "h3"),
        "{more:?}"
    );
    assert!(recommend(
        &s,
        &live,
        &cfg,
        &RecRequest {
            k: Some(0),
            ..Default::default()
        }
    )
    .is_err());
    assert!(recommend(
        &s,
        &live,
        &cfg,
        &RecRequest {
            k: Some(100_000),
            ..Default::default()
        }
    )
    .is_err());
}
