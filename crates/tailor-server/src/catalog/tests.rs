use tailor_log::{EmbeddedLog, EmbeddedOptions};

use super::*;

fn open(dir: &std::path::Path, max_learned: usize) -> Catalog {
    let opts = EmbeddedOptions {
        fsync: false,
        ..EmbeddedOptions::default()
    };
    let log: Arc<dyn Log> = EmbeddedLog::open(dir, opts).expect("log");
    Catalog::with_capacity(log, max_learned).expect("catalog")
}

fn seen(id: &str, at_ms: i64) -> Learned {
    Learned {
        id: id.into(),
        category: Some("shoes".into()),
        price: None,
        at_ms,
    }
}

fn fed(id: &str) -> Item {
    ItemInput {
        id: Some(id.into()),
        title: Some(id.to_uppercase()),
        categories: vec!["fed".into()],
        price: Some(1.0),
        available: None,
        properties: Map::new(),
        created_at: None,
    }
    .into_item(None, "")
    .expect("valid item")
}

/// Ever-new item ids in events cannot grow the catalog without bound: past the capacity
/// by an eighth, the earliest learned are forgotten (fed items never), a replay of the
/// topic forgets the same ones, and an item named again is learned anew.
#[tokio::test]
async fn learned_items_are_capped_earliest_first_and_replay_alike() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ids: Vec<String>;
    {
        let catalog = open(dir.path(), 16);
        catalog.put(vec![fed("f1"), fed("f2")]).await.expect("put");
        for i in 0..100 {
            catalog
                .learn(vec![seen(&format!("n{i}"), i)])
                .await
                .expect("learn");
            let learned = catalog.len() - 2;
            assert!(learned <= 18, "{learned} learned items after {i}");
        }
        // Re-learning a kept item does not move it or add an entry.
        catalog.learn(vec![seen("n99", 100)]).await.expect("learn");
        assert!(catalog.get("f1").is_some() && catalog.get("f2").is_some());
        assert!(catalog.get("n0").is_none(), "the earliest learned went");
        assert!(catalog.get("n99").is_some(), "the latest stays");
        assert!(catalog.learned_order.lock().len() <= 2 * 18 + 1024);
        // A forgotten item named again is learned again.
        assert_eq!(
            catalog.learn(vec![seen("n0", 200)]).await.expect("learn"),
            1
        );
        assert!(catalog.get("n0").is_some());
        ids = catalog
            .list(1000, None, None)
            .iter()
            .map(|i| i.id.clone())
            .collect();
    }
    let replayed = open(dir.path(), 16);
    let expect = ids;
    let got: Vec<String> = replayed
        .list(1000, None, None)
        .iter()
        .map(|i| i.id.clone())
        .collect();
    assert_eq!(got, expect);
}
