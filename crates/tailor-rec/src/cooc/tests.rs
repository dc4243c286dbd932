use tailor_event::{Interaction, InteractionKind};
use tailor_features::{EntityKind, FeatureEngine, FeatureEvent, FeaturesConfig, LiveConfig};

use super::*;

fn event(user: &str, kind: InteractionKind, item: &str, t: i64) -> FeatureEvent {
    FeatureEvent {
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
        ..FeatureEvent::default()
    }
}

/// The live state and the feature engine after the same events.
struct Shop {
    state: LiveState,
    live: LiveConfig,
    engine: FeatureEngine,
    next: u64,
}

impl Shop {
    fn apply(&mut self, e: &FeatureEvent) {
        self.state.apply(&self.live, 0, self.next, e);
        self.engine.apply(0, self.next, e);
        self.next += 1;
        self.state.refresh_trending(&self.live);
    }

    fn user(&self, id: &str) -> Option<UserInputs> {
        self.engine
            .read(&EntityKind::User, id)
            .map(|row| UserInputs::from_row(&row))
    }
}

/// Shoppers co-view shoes s1..s4 and, separately, hats h1..h3; h1 is the most popular item.
fn shop() -> Shop {
    use InteractionKind::*;
    let live = LiveConfig::default();
    let s = LiveState::default();
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
    let mut shop = Shop {
        state: s,
        live,
        engine: FeatureEngine::new(&FeaturesConfig::default(), 1).expect("engine"),
        next: 0,
    };
    for e in &events {
        shop.apply(e);
    }
    shop
}

#[test]
fn user_gets_co_viewed_items_of_their_category() {
    use InteractionKind::*;
    let mut shop = shop();
    shop.apply(&event("new", View, "s1", 10_000_000));
    let user = shop.user("new").expect("features of the new user");
    assert_eq!(user.recent, vec!["s1".to_owned()]);
    let r = recommend(
        &shop.state,
        &RecConfig::default(),
        &RecRequest {
            user: Some(&user),
            item: None,
            k: Some(3),
            trending: None,
            ..RecRequest::default()
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
    let shop = shop();
    let s = &shop.state;
    let cfg = RecConfig::default();
    let buyer = shop.user("buyer").expect("buyer features");
    assert_eq!(buyer.purchased, vec!["s2".to_owned()]);
    let r = recommend(
        s,
        &cfg,
        &RecRequest {
            user: Some(&buyer),
            item: None,
            k: Some(10),
            trending: None,
            ..RecRequest::default()
        },
    )
    .expect("rec");
    assert!(r.items.iter().all(|i| i.item_id != "s2"), "{r:?}");
    assert_eq!(r.items[0].item_id.chars().next(), Some('s'));
    for req in [
        RecRequest {
            user: Some(&UserInputs::default()),
            item: None,
            k: Some(2),
            trending: None,
            ..RecRequest::default()
        },
        RecRequest {
            user: None,
            item: Some("no-such-item"),
            k: Some(2),
            trending: None,
            ..RecRequest::default()
        },
        RecRequest::default(),
    ] {
        let r = recommend(s, &cfg, &req).expect("rec");
        assert_eq!(r.strategy, "trending");
        // k=2 gives two items; the default k=10 gives all seven known items.
        assert_eq!(r.items.len(), if req.k.is_some() { 2 } else { 7 });
        assert!(r.items[0].item_id.starts_with('h'), "{r:?}");
    }
    let more = recommend(
        s,
        &cfg,
        &RecRequest {
            user: None,
            item: Some("h2"),
            k: Some(2),
            trending: None,
            ..RecRequest::default()
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
        s,
        &cfg,
        &RecRequest {
            k: Some(0),
            ..Default::default()
        }
    )
    .is_err());
    assert!(recommend(
        s,
        &cfg,
        &RecRequest {
            k: Some(100_000),
            ..Default::default()
        }
    )
    .is_err());
}

#[test]
fn trending_from_the_feature_row_replaces_the_live_list() {
    let shop = shop();
    let cfg = RecConfig::default();
    let from_features = vec![
        ("s3".to_owned(), 5.0),
        ("unknown".to_owned(), 4.0),
        ("s1".to_owned(), 1.0),
    ];
    let r = recommend(
        &shop.state,
        &cfg,
        &RecRequest {
            k: Some(2),
            trending: Some(&from_features),
            ..Default::default()
        },
    )
    .expect("rec");
    let ids: Vec<&str> = r.items.iter().map(|i| i.item_id.as_str()).collect();
    assert_eq!(ids, vec!["s3", "s1"], "{r:?}");
}

/// Without a live model (an API replica without the processor role), the trending list
/// from the features is the answer, by id, without the context item and purchases.
#[test]
fn an_empty_live_state_answers_trending_from_the_features() {
    let trending = vec![
        ("a".to_owned(), 8.0),
        ("b".to_owned(), 4.0),
        ("c".to_owned(), 2.0),
        ("d".to_owned(), 1.0),
    ];
    let user = UserInputs {
        purchased: vec!["b".into()],
        ..UserInputs::default()
    };
    let r = recommend(
        &LiveState::default(),
        &RecConfig::default(),
        &RecRequest {
            user: Some(&user),
            item: Some("a"),
            k: Some(2),
            trending: Some(&trending),
            ..RecRequest::default()
        },
    )
    .expect("rec");
    assert_eq!(r.strategy, "trending");
    let got: Vec<(&str, f64)> = r
        .items
        .iter()
        .map(|i| (i.item_id.as_str(), i.score))
        .collect();
    assert_eq!(got, vec![("c", 0.25), ("d", 0.125)]);
    let none = recommend(
        &LiveState::default(),
        &RecConfig::default(),
        &RecRequest {
            user: None,
            item: None,
            k: Some(2),
            trending: None,
            ..RecRequest::default()
        },
    )
    .expect("rec");
    assert!(none.items.is_empty());
}
