use proptest::prelude::*;

use super::*;

fn universe(items: &[(String, Option<String>, f64)]) -> Popular {
    let mut items: Vec<PopularItem> = items
        .iter()
        .map(|(id, category, weight)| PopularItem {
            id: id.clone(),
            category: category.clone(),
            weight: *weight,
        })
        .collect();
    items.sort_by(|a, b| b.weight.total_cmp(&a.weight).then_with(|| a.id.cmp(&b.id)));
    let index = items
        .iter()
        .enumerate()
        .map(|(i, it)| (it.id.clone(), i))
        .collect();
    Popular { items, index }
}

fn ranked(id: &str, score: f64) -> RecItem {
    RecItem {
        item_id: id.into(),
        score,
        category: None,
        source: Origin::Cooc,
        sources: Vec::new(),
    }
}

#[test]
fn fills_from_categories_then_trending_then_popularity() {
    let u = Arc::new(universe(&[
        ("a".into(), Some("shoes".into()), 9.0),
        ("b".into(), Some("hats".into()), 8.0),
        ("c".into(), Some("hats".into()), 7.0),
        ("d".into(), Some("bags".into()), 6.0),
        ("e".into(), None, 5.0),
    ]));
    let user = UserInputs {
        affinity: vec![("hats".into(), 2.0), ("bags".into(), 0.0)],
        ..UserInputs::default()
    };
    let trending = vec![("e".to_owned(), 3.0), ("d".to_owned(), 1.0)];
    let popular = || u.clone();
    let sources = FillSources {
        user: Some(&user),
        trending: Some(&trending),
        popular: &popular,
    };
    let all = |_: &str, _: Option<&str>| true;
    let out = fill(vec![ranked("b", 0.5)], 5, &all, &sources);
    let got: Vec<(&str, Origin)> = out.iter().map(|i| (i.item_id.as_str(), i.source)).collect();
    assert_eq!(
        got,
        vec![
            ("b", Origin::Cooc),
            ("c", Origin::Category),
            ("e", Origin::Trending),
            ("d", Origin::Trending),
            ("a", Origin::Popular),
        ]
    );
    assert!(
        out.windows(2).all(|w| w[0].score > w[1].score),
        "scores fall: {out:?}"
    );
    // A filter the ranked item fails: it goes, and only eligible items fill.
    let no_hats = |_: &str, c: Option<&str>| c != Some("hats");
    let hat = RecItem {
        category: Some("hats".into()),
        ..ranked("b", 0.5)
    };
    let out = fill(vec![hat], 10, &no_hats, &sources);
    let ids: Vec<&str> = out.iter().map(|i| i.item_id.as_str()).collect();
    assert_eq!(ids, vec!["e", "d", "a"]);
}

proptest! {
    /// Whatever the ranked list, the filter and the user: the answer holds exactly
    /// min(k, eligible items) distinct eligible items, and the eligible ranked items come
    /// first, in their order.
    #[test]
    fn answers_are_full_whenever_enough_items_qualify(
        n in 0usize..60,
        cats in proptest::collection::vec(proptest::option::of(0u8..4), 60),
        weights in proptest::collection::vec(0.0f64..100.0, 60),
        banned in proptest::collection::vec(any::<bool>(), 60),
        want_cat in proptest::option::of(0u8..4),
        ranked_ids in proptest::collection::vec(0usize..80, 0..30),
        affinity in proptest::collection::vec((0u8..4, -1.0f64..5.0), 0..4),
        trend in proptest::collection::vec(0usize..80, 0..20),
        k in 1usize..40,
    ) {
        let items: Vec<(String, Option<String>, f64)> = (0..n)
            .map(|i| (format!("i{i}"), cats[i].map(|c| format!("c{c}")), weights[i]))
            .collect();
        let u = Arc::new(universe(&items));
        let cat_of: FxHashMap<String, Option<String>> =
            items.iter().map(|(id, c, _)| (id.clone(), c.clone())).collect();
        let eligible = |id: &str, _: Option<&str>| {
            let Some(i) = id.strip_prefix('i').and_then(|x| x.parse::<usize>().ok()) else {
                return false;
            };
            i < n
                && !banned[i]
                && want_cat.is_none_or(|w| cat_of[id].as_deref() == Some(format!("c{w}").as_str()))
        };
        let expected = (0..n).filter(|i| eligible(&format!("i{i}"), None)).count().min(k);
        let user = UserInputs {
            affinity: affinity.iter().map(|(c, a)| (format!("c{c}"), *a)).collect(),
            ..UserInputs::default()
        };
        let trending: Vec<(String, f64)> = trend.iter().map(|i| (format!("i{i}"), 1.0)).collect();
        let popular = || u.clone();
        let sources = FillSources { user: Some(&user), trending: Some(&trending), popular: &popular };
        let list: Vec<RecItem> = ranked_ids
            .iter()
            .enumerate()
            .map(|(r, i)| ranked(&format!("i{i}"), 1.0 / (r as f64 + 1.0)))
            .collect();
        let out = fill(list.clone(), k, &eligible, &sources);
        prop_assert_eq!(out.len(), expected);
        let distinct: FxHashSet<&str> = out.iter().map(|i| i.item_id.as_str()).collect();
        prop_assert_eq!(distinct.len(), out.len());
        prop_assert!(out.iter().all(|i| eligible(&i.item_id, None)));
        let mut seen = FxHashSet::default();
        let kept: Vec<&str> = list
            .iter()
            .map(|i| i.item_id.as_str())
            .filter(|id| eligible(id, None) && seen.insert(*id))
            .take(k)
            .collect();
        let head: Vec<&str> = out.iter().take(kept.len()).map(|i| i.item_id.as_str()).collect();
        prop_assert_eq!(head, kept);
    }
}
