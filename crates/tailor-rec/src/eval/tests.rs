use rustc_hash::FxHashSet;
use tailor_event::InteractionKind;

use super::*;
use crate::data::{loaders::from_records, InteractionsBuilder};
use crate::model::{
    AlsParams, BlendParams, EaseParams, ItemKnnParams, Normalization, Rules, SknnParams,
    TrendingParams,
};

/// 300 users over 5 days; users browse a "neighbourhood" of 60 items in bursts.
fn synthetic() -> Interactions {
    let mut s = 7u64;
    let mut rnd = |n: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) % n
    };
    let kinds = [
        InteractionKind::View,
        InteractionKind::View,
        InteractionKind::Click,
        InteractionKind::AddToCart,
        InteractionKind::Purchase,
    ];
    let mut recs = Vec::new();
    for u in 0..300u64 {
        let base = rnd(50);
        let mut t = rnd(5 * 86_400) as i64 * 1000;
        for _ in 0..(3 + rnd(8)) {
            let item = (base + rnd(10)) % 60;
            let kind = kinds[rnd(5) as usize];
            recs.push((
                format!("u{u}"),
                format!("i{item}"),
                kind,
                t,
                Some(format!("c{}", item / 10)),
            ));
            t += rnd(600) as i64 * 1000;
        }
    }
    from_records("synthetic", recs)
}

fn all_models() -> Vec<ModelSpec> {
    let als = AlsParams {
        factors: 8,
        iterations: 5,
        threads: Some(2),
        ..AlsParams::default()
    };
    vec![
        ModelSpec::Trending(TrendingParams::default()),
        ModelSpec::ItemKnn(ItemKnnParams::default()),
        ModelSpec::Als(als.clone()),
        ModelSpec::Ease(EaseParams {
            lambda: 10.0,
            ..EaseParams::default()
        }),
        ModelSpec::SessionKnn(SknnParams::default()),
        ModelSpec::Blend(BlendParams {
            name: "blend".into(),
            parts: vec![
                (ModelSpec::ItemKnn(ItemKnnParams::default()), 1.0),
                (ModelSpec::Als(als), 1.0),
            ],
            candidates: 100,
            normalization: Normalization::Max,
            rules: Rules::default(),
        }),
    ]
}

#[test]
fn temporal_split_has_no_leakage() {
    let data = synthetic();
    for holdout in [1, 2] {
        let split = Protocol::Temporal { holdout }.split(&data).expect("split");
        assert!(!split.cases.is_empty());
        let train_pairs: FxHashSet<(u32, u32)> =
            split.train.rows.iter().map(|r| (r.user, r.item)).collect();
        let mut last_train_ts = vec![i64::MIN; data.n_users()];
        for r in &split.train.rows {
            last_train_ts[r.user as usize] = last_train_ts[r.user as usize].max(r.ts_ms);
        }
        for c in &split.cases {
            let u = c.ctx.user.expect("temporal cases have a user");
            assert!(c.targets.len() <= holdout);
            for t in &c.targets {
                assert!(!train_pairs.contains(&(u, *t)), "held-out pair in training");
                assert!(!c.exclude.contains(t));
                assert!(c.ctx.history.iter().all(|e| e.item != *t));
            }
            assert!(
                last_train_ts[u as usize] <= c.ctx.now_ms,
                "training row after the cut"
            );
        }
        for r in &split.test_rows {
            assert!(!train_pairs.contains(&(r.user, r.item)));
        }
        // Training never grows: every training row is a row of the data.
        assert!(split.train.len() + split.stats.dropped_after_cut <= data.len());
    }
}

#[test]
fn session_split_has_no_leakage() {
    let data = synthetic();
    let split = Protocol::session().split(&data).expect("split");
    assert!(!split.cases.is_empty());
    let test_sessions: FxHashSet<u32> = split.test_rows.iter().map(|r| r.session).collect();
    assert!(split
        .train
        .rows
        .iter()
        .all(|r| !test_sessions.contains(&r.session)));
    let known = split.train.present_items();
    let cut = data.max_ts_ms() - 86_400_000;
    for r in &split.test_rows {
        assert!(known[r.item as usize], "test items are known to training");
    }
    for r in &split.train.rows {
        // A training session ends before the cut.
        let end = split
            .train
            .rows
            .iter()
            .filter(|x| x.session == r.session)
            .map(|x| x.ts_ms)
            .max()
            .unwrap_or(0);
        assert!(end < cut);
    }
    for c in &split.cases {
        assert!(c.exclude.is_empty());
        assert_eq!(c.targets.len(), 1);
    }
}

#[test]
fn given_test_sessions_are_used_and_unknown_items_filtered() {
    let mut b = InteractionsBuilder::new("given");
    let v = InteractionKind::View;
    for (s, items, t) in [
        ("1", ["a", "b"], 0),
        ("2", ["b", "c"], 10),
        ("3", ["a", "z"], 5),
    ] {
        for (p, i) in items.iter().enumerate() {
            b.push(&format!("s{s}"), i, v, t + p as i64, None, Some(s));
        }
    }
    let mut ds = b;
    let test: FxHashSet<u32> = [2].into_iter().collect();
    ds.given_test_sessions(test);
    let data = ds.finish();
    let split = Protocol::session().split(&data).expect("split");
    // Session "3" (id 2) is the test; "z" is unknown so it is left with one event: dropped.
    assert_eq!(split.stats.test_unknown_items, 1);
    assert_eq!(split.stats.dropped, 1);
    assert!(split.cases.is_empty());
    assert_eq!(split.train.len(), 4);
}

#[test]
fn evaluate_reports_every_model_and_renders() {
    let data = synthetic();
    let report = evaluate(&all_models(), &data, &Protocol::temporal()).expect("evaluate");
    assert_eq!(report.models.len(), 6);
    for m in &report.models {
        assert_eq!(m.hr_curve.len(), MAX_K);
        assert!(
            m.hr_curve.windows(2).all(|w| w[0] <= w[1]),
            "HR@k grows with k"
        );
        let hr10 = m.metric("HR@10").expect("HR@10");
        assert!((hr10 - m.hr_curve[9]).abs() < 1e-12);
    }
    // Neighbourhood structure is learnable: CF beats chance (10 of ~60 items).
    let best = report.best("HR@10").expect("best");
    assert!(
        best.metric("HR@10").unwrap_or(0.0) > 10.0 / 60.0,
        "{}",
        report.to_table()
    );
    let table = report.to_table();
    assert!(table.contains("NDCG@10") && table.contains("als"));
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("json");
    assert_eq!(json["models"].as_array().map(Vec::len), Some(6));
    assert_eq!(report.hr_svg().matches("<polyline").count(), 6);
    let session = evaluate(&all_models()[..2], &data, &Protocol::session()).expect("evaluate");
    assert!(session.models[0].metric("MRR@20").is_some());
}

#[test]
fn artifacts_round_trip_with_identical_recommendations() {
    let data = synthetic();
    let split = Protocol::temporal().split(&data).expect("split");
    let dir = tempfile::tempdir().expect("tmp");
    for spec in all_models() {
        let fitted = spec.fit(&split.train).expect("fit");
        let trained = crate::artifact::Trained {
            vocab: crate::artifact::Vocab::of(&split.train),
            model: fitted.model,
        };
        let path = dir.path().join(format!("{}.model", spec.name()));
        crate::artifact::save(&trained, &path).expect("save");
        let back = crate::artifact::load(&path).expect("load");
        let bytes = crate::artifact::to_bytes(&trained).expect("bytes");
        let again = crate::artifact::from_bytes(&bytes).expect("from bytes");
        assert_eq!(back.vocab.items.len(), split.train.n_items());
        for c in split.cases.iter().take(50) {
            let a = trained.model.recommend(&c.ctx, 20, &c.exclude);
            let b = back.model.recommend(&c.ctx, 20, &c.exclude);
            assert_eq!(a, b, "{}", spec.name());
            assert_eq!(a, again.model.recommend(&c.ctx, 20, &c.exclude));
        }
    }
    let e = crate::artifact::from_bytes(b"not a model at all").expect_err("bad magic");
    assert!(e.to_string().contains("bad magic"), "{e}");
}

#[test]
fn tune_picks_on_validation_and_export_writes_files() {
    let data = synthetic();
    let cands = vec![
        ModelSpec::Trending(TrendingParams::default()),
        ModelSpec::ItemKnn(ItemKnnParams::default()),
    ];
    let (best, report) = tune(&cands, &data, &Protocol::temporal(), "HR@10", 100).expect("tune");
    assert!(report.cases <= 100);
    assert_eq!(
        report.best("HR@10").map(|m| m.name.clone()),
        Some(cands[best].name())
    );
    let dir = tempfile::tempdir().expect("tmp");
    for p in [Protocol::temporal(), Protocol::session()] {
        let split = p.split(&data).expect("split");
        export::write_split(&split, dir.path(), &Default::default()).expect("write");
        let train = std::fs::read_to_string(dir.path().join("train.tsv")).expect("train");
        let test = std::fs::read_to_string(dir.path().join("test.tsv")).expect("test");
        assert_eq!(train.lines().count(), split.train.len() + 1);
        assert_eq!(test.lines().count(), split.test_rows.len() + 1);
    }
}

#[test]
fn model_specs_round_trip_through_json() {
    let specs = all_models();
    let text = serde_json::to_string(&specs).expect("to json");
    let back: Vec<ModelSpec> = serde_json::from_str(&text).expect("from json");
    assert_eq!(serde_json::to_string(&back).expect("again"), text);
    let one: ModelSpec =
        serde_json::from_str(r#"{"model": "ease", "lambda": 100}"#).expect("defaults");
    assert!(matches!(
        one,
        ModelSpec::Ease(EaseParams { lambda: 100.0, .. })
    ));
    let bad = serde_json::from_str::<ModelSpec>(r#"{"model": "ease", "lamda": 100}"#);
    assert!(bad.is_err(), "unknown fields are rejected");
}

#[test]
fn tune_all_quick_picks_one_spec_per_family_and_a_blend() {
    let data = synthetic();
    let protocol = Protocol::temporal();
    let mut val = protocol.validation_split(&data).expect("validation split");
    thin_cases(&mut val, TUNE_CASES);
    let lines = std::sync::Mutex::new(Vec::new());
    let (specs, blend) = tune_all(
        "synthetic",
        &val,
        metric_for(&protocol),
        1,
        true,
        &|l: &str| lines.lock().expect("lock").push(l.to_owned()),
    )
    .expect("tune");
    let names: Vec<String> = specs.iter().map(ModelSpec::name).collect();
    assert_eq!(
        names,
        ["trending", "item-knn", "als", "ease", "sknn", "repeat"]
    );
    assert!(!blend.parts.is_empty() && blend.parts.len() <= 4);
    assert_eq!(
        lines.lock().expect("lock").len(),
        7,
        "one line per family + blend"
    );
}

/// 200 households ordering weekly: each order holds three of the household's five staples
/// (drawn from 30) and one of 200 one-off products.
fn grocery() -> Interactions {
    let mut s = 11u64;
    let mut rnd = |n: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) % n
    };
    let week = 7 * 86_400_000i64;
    let mut recs = Vec::new();
    for u in 0..200u64 {
        let staples: Vec<u64> = (0..5).map(|_| rnd(30)).collect();
        for w in 0..4i64 {
            let t = w * week + rnd(86_400) as i64 * 1000;
            let mut order: Vec<String> = (0..3)
                .map(|_| format!("staple{}", staples[rnd(5) as usize]))
                .collect();
            order.push(format!("oneoff{}", rnd(200)));
            for (j, item) in order.into_iter().enumerate() {
                recs.push((
                    format!("u{u}"),
                    item,
                    InteractionKind::Purchase,
                    t + j as i64 * 1000,
                    None::<String>,
                ));
            }
        }
    }
    from_records("grocery", recs)
}

#[test]
fn next_basket_holds_out_the_last_order_and_the_repeat_model_wins_it() {
    let data = grocery();
    let split = Protocol::NextBasket.split(&data).expect("split");
    assert_eq!(split.cases.len(), 200, "{:?}", split.stats);
    // Repeats are targets: most of the last order was bought before.
    let repeats: usize = split
        .cases
        .iter()
        .map(|c| {
            c.targets
                .iter()
                .filter(|t| c.ctx.history.iter().any(|e| e.item == **t))
                .count()
        })
        .sum();
    assert!(
        repeats * 2 > split.stats.test_rows,
        "{repeats} of {:?}",
        split.stats
    );
    assert!(split.cases.iter().all(|c| c.exclude.is_empty()));
    // The last order is out of training: the context ends before it.
    assert!(split
        .cases
        .iter()
        .all(|c| c.ctx.history.iter().all(|e| e.ts_ms < c.ctx.now_ms)));
    assert_eq!(split.train.len(), 200 * 3 * 4);
    let specs = [
        ModelSpec::Trending(TrendingParams::default()),
        ModelSpec::Ease(EaseParams::default()),
        ModelSpec::Repeat(crate::model::RepeatParams::default()),
    ];
    let report = evaluate_split(&specs, &split).expect("eval");
    let hr = |name: &str| {
        report
            .models
            .iter()
            .find(|m| m.name == name)
            .and_then(|m| m.metric("HR@10"))
            .expect("HR@10")
    };
    assert!(
        hr("repeat") > hr("trending") + 0.1 && hr("repeat") > hr("ease") + 0.1,
        "repeat {} trending {} ease {}",
        hr("repeat"),
        hr("trending"),
        hr("ease")
    );
    assert_eq!(metric_for(&Protocol::NextBasket), "HR@10");
}
