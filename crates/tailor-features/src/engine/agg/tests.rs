use super::val::ValRepr;
use super::*;
use proptest::prelude::*;

fn upd(t: i64, seq: u64, v: u32) -> Update<Val> {
    Update {
        stamp: Stamp { t, seq },
        num: f64::from(v),
        val: Val::of_sym(v),
        hash: u64::from(v),
    }
}

fn build(agg: &Agg, updates: &[Update<Val>]) -> Option<Partial<Val>> {
    let mut p: Option<Partial<Val>> = None;
    for u in updates {
        match &mut p {
            Some(p) => p.add(agg, None, u),
            None => p = Some(Partial::new(agg, None, u)),
        }
    }
    p
}

#[test]
fn last_n_distinct_keeps_latest_occurrences() {
    let agg = Agg::LastN {
        n: 3,
        distinct: true,
    };
    let p = build(
        &agg,
        &[
            upd(1, 0, 7),
            upd(2, 0, 8),
            upd(3, 0, 7),
            upd(4, 0, 9),
            upd(5, 0, 10),
            upd(0, 0, 11),
        ],
    );
    let Some(Partial::LastN(list)) = p else {
        panic!("last_n partial")
    };
    let vals: Vec<Val> = list.iter().map(|e| e.1).collect();
    assert_eq!(vals, vec![Val::of_sym(7), Val::of_sym(9), Val::of_sym(10)]);
}

#[test]
fn distinct_count_saturates_at_the_cap() {
    let agg = Agg::DistinctCount;
    let many: Vec<Update<Val>> = (0..DISTINCT_CAP as u32 + 10)
        .map(|i| upd(1, 0, i))
        .collect();
    let p = build(&agg, &many).expect("partial");
    let r = p.map(&|v| RVal::Num(v.tag()));
    assert_eq!(r.finish(&agg, 1), FeatureValue::Int(DISTINCT_CAP as i64));
    let mut merged = r.clone();
    merged.merge(&agg, r);
    assert_eq!(
        merged.finish(&agg, 1),
        FeatureValue::Int(DISTINCT_CAP as i64)
    );
}

#[test]
fn group_by_prunes_to_the_best_keys() {
    let agg = Agg::Count;
    let mut p: Option<Partial<Val>> = None;
    // Key k gets k+1 updates; only the GROUP_KEYS busiest survive a prune.
    for k in 0..(GROUP_KEPT as u32 + 1) {
        for _ in 0..=k {
            let u = upd(1, 0, 0);
            let key = Val::of_sym(k);
            match &mut p {
                Some(p) => p.add(&agg, Some(&key), &u),
                None => p = Some(Partial::new(&agg, Some(&key), &u)),
            }
        }
    }
    let Some(Partial::Group(entries)) = p.map(|p| p.general()) else {
        panic!("group")
    };
    assert!(entries.len() <= GROUP_KEPT);
    assert!(entries.windows(2).all(|w| w[0].0 < w[1].0), "key order");
    assert!(entries
        .iter()
        .any(|(k, _)| *k == Val::of_sym(GROUP_KEPT as u32)));
}

/// Values are 8 bytes, yet order and encode exactly as the enum they replaced: group key
/// order, last_n tie-breaks and checkpoint bytes are unchanged.
#[test]
fn packed_values_order_and_encode_as_the_enum() {
    let nums = [
        0.0,
        -0.0,
        1.5,
        -1.5,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
    ];
    let mut vals: Vec<Val> = nums.iter().map(|&x| Val::of_num(x)).collect();
    vals.extend([0, 1, 7, u32::MAX - 1, u32::MAX].map(Val::of_sym));
    for a in &vals {
        let ra = ValRepr::from(*a);
        let bytes = bincode::serialize(a).expect("encode");
        assert_eq!(bytes, bincode::serialize(&ra).expect("encode"), "{a:?}");
        let back: Val = bincode::deserialize(&bytes).expect("decode");
        assert_eq!(back, *a);
        for b in &vals {
            assert_eq!(a.cmp(b), ra_cmp(&ra, &ValRepr::from(*b)), "{a:?} vs {b:?}");
        }
    }
    assert_eq!(Val::of_num(-0.0), Val::of_num(0.0));
    assert_eq!(Val::of_num(f64::NAN), Val::of_num(0.0));
    assert_eq!(Val::of_sym(9).as_sym(), Some(9));
    assert_eq!(Val::of_num(2.0).as_sym(), None);
    assert_eq!(Val::of_num(2.0).tag(), 2f64.to_bits());
    // A number that is not finite would read as a symbol: a checkpoint holding one is
    // refused.
    let bad = bincode::serialize(&ValRepr::Num(f64::INFINITY.to_bits())).expect("encode");
    assert!(bincode::deserialize::<Val>(&bad).is_err());
    assert_eq!(std::mem::size_of::<Val>(), 8);
}

/// The order the derived `Ord` of the old enum gave.
fn ra_cmp(a: &ValRepr, b: &ValRepr) -> std::cmp::Ordering {
    match (a, b) {
        (ValRepr::Num(x), ValRepr::Num(y)) => x.cmp(y),
        (ValRepr::Sym(x), ValRepr::Sym(y)) => x.cmp(y),
        (ValRepr::Num(_), ValRepr::Sym(_)) => std::cmp::Ordering::Less,
        (ValRepr::Sym(_), ValRepr::Num(_)) => std::cmp::Ordering::Greater,
    }
}

proptest! {
    /// A numeric group held compactly is the general group it stands for: same entries
    /// after the same updates (pruning included), same encoding, and it decodes back to
    /// the compact form.
    #[test]
    fn numeric_groups_equal_general_groups(
        raw in proptest::collection::vec((0i64..50_000, 0u32..140, 0u32..9), 1..400),
        which in 0usize..5,
    ) {
        let aggs = [
            Agg::Count, Agg::Sum, Agg::Min, Agg::Max,
            Agg::DecayedSum { half_life_ms: 5_000.0 },
        ];
        let agg = &aggs[which];
        let mut compact: Option<Partial<Val>> = None;
        let mut general: Partial<Val> = Partial::Group(Vec::new());
        for (i, &(t, key, v)) in raw.iter().enumerate() {
            let u = upd(t, i as u64, v);
            let key = Val::of_sym(key);
            match &mut compact {
                Some(p) => p.add(agg, Some(&key), &u),
                None => compact = Some(Partial::new(agg, Some(&key), &u)),
            }
            general.add(agg, Some(&key), &u);
        }
        let compact = compact.expect("updated");
        prop_assert!(matches!(compact, Partial::NumGroup(_)));
        prop_assert!(matches!(general, Partial::Group(_)));
        prop_assert_eq!(compact.general(), general.clone());
        let bytes = bincode::serialize(&compact).expect("encode");
        prop_assert_eq!(&bytes, &bincode::serialize(&general).expect("encode"));
        let back: Partial<Val> = bincode::deserialize(&bytes).expect("decode");
        prop_assert_eq!(back, compact.clone());
        let json = serde_json::to_string(&compact).expect("json");
        prop_assert_eq!(json, serde_json::to_string(&general).expect("json"));
        let r = |p: &Partial<Val>| p.map(&|v| RVal::Num(v.tag())).finish(agg, 60_000);
        prop_assert_eq!(r(&compact), r(&general));
    }
}

proptest! {
    /// Splitting updates over partials and merging equals one partial of all of them.
    #[test]
    fn merge_is_split_invariant(
        raw in proptest::collection::vec((0i64..10_000, 0u32..20, any::<bool>()), 1..60),
        which in 0usize..8,
    ) {
        let aggs = [
            Agg::Count, Agg::Sum, Agg::Min, Agg::Max, Agg::Last,
            Agg::LastN { n: 4, distinct: false }, Agg::LastN { n: 4, distinct: true },
            Agg::DecayedSum { half_life_ms: 5_000.0 },
        ];
        let agg = &aggs[which];
        let updates: Vec<Update<Val>> =
            raw.iter().enumerate().map(|(i, (t, v, _))| upd(*t, i as u64, *v)).collect();
        let (a, b): (Vec<_>, Vec<_>) = updates
            .iter()
            .cloned()
            .zip(raw.iter().map(|r| r.2))
            .partition(|(_, side)| *side);
        let a: Vec<Update<Val>> = a.into_iter().map(|e| e.0).collect();
        let b: Vec<Update<Val>> = b.into_iter().map(|e| e.0).collect();
        let whole = build(agg, &updates).expect("some");
        let merged = match (build(agg, &a), build(agg, &b)) {
            (Some(mut x), Some(y)) => { x.merge(agg, y); x }
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => unreachable!(),
        };
        let r = |p: &Partial<Val>| p.map(&|v| match v.as_sym() { Some(s) => RVal::Str(s.to_string()), None => RVal::Num(v.tag()) }).finish(agg, 20_000);
        let (x, y) = (r(&whole), r(&merged));
        match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => prop_assert!((x - y).abs() <= 1e-9 * x.abs().max(1.0), "{x} vs {y}"),
            _ => prop_assert_eq!(x, y),
        }
    }
}
