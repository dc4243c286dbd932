//! The warehouse's tables and views on a small fixed dataset with known answers.

use crate::common;

use common::*;
use serde_json::json;
use tailor_lake::{Error, Lake, LakeSink, OutputFormat, Warehouse};
use tailor_log::Log;

const D1: i64 = 1_768_471_200_000; // 2026-01-15T10:00:00Z
const D2: i64 = D1 + 86_400_000; // 2026-01-16T10:00:00Z

fn dataset() -> Vec<tailor_event::Event> {
    let mut n = 0;
    let mut ev =
        |name: &str, user: Option<&str>, anon: Option<&str>, t: i64, props: serde_json::Value| {
            n += 1;
            event(&format!("m{n:02}"), name, user, anon, t + n, props)
        };
    vec![
        // Day 1.
        ev(
            "Product Viewed",
            Some("u1"),
            None,
            D1,
            json!({"product_id": "p1", "price": 10}),
        ),
        ev(
            "Product Clicked",
            Some("u1"),
            None,
            D1,
            json!({"product_id": "p1", "rec_id": "r1"}),
        ),
        ev(
            "Product Added",
            Some("u1"),
            None,
            D1,
            json!({"product_id": "p1", "price": 10, "quantity": 2}),
        ),
        ev(
            "Order Completed",
            Some("u1"),
            None,
            D1,
            json!({"order_id": "o1", "products": [
            {"product_id": "p1", "price": 10, "quantity": 2},
            {"product_id": "p2", "price": 5}]}),
        ),
        ev(
            "Product Viewed",
            Some("u2"),
            None,
            D1,
            json!({"product_id": "p1"}),
        ),
        ev(
            "Product Viewed",
            Some("u2"),
            None,
            D1,
            json!({"product_id": "p2"}),
        ),
        ev(
            "Product Clicked",
            Some("u2"),
            None,
            D1,
            json!({"product_id": "p2"}),
        ),
        ev(
            "Product Viewed",
            None,
            Some("a3"),
            D1,
            json!({"product_id": "p1"}),
        ),
        ev(
            "Product List Viewed",
            Some("u2"),
            None,
            D1,
            json!({"rec_id": "r1", "model": "als", "variant": "a",
            "products": [{"product_id": "p1"}, {"product_id": "p2"}]}),
        ),
        ev(
            "Product List Viewed",
            Some("u1"),
            None,
            D1,
            json!({"rec_id": "r2", "products": [{"product_id": "p3"}]}),
        ),
        ev("Signed In", Some("u1"), None, D1, json!({})),
        // Day 2.
        ev(
            "Product Viewed",
            Some("u1"),
            None,
            D2,
            json!({"product_id": "p1"}),
        ),
        ev(
            "Order Completed",
            Some("u2"),
            None,
            D2,
            json!({"order_id": "o2", "products": [
            {"product_id": "p2", "price": 7, "quantity": 3}]}),
        ),
    ]
}

async fn warehouse() -> (tempfile::TempDir, Warehouse) {
    let dir = tempfile::tempdir().expect("tmp");
    // The log is closed (dropped) when this returns, so a test may reopen it.
    let log = open_log(&dir.path().join("log"));
    log.create_topic("events", 2).expect("topic");
    append(&*log, &dataset()).await;
    let lake = Lake::local(&dir.path().join("lake")).expect("lake");
    let sink = LakeSink::with_lake(lake.clone(), test_config())
        .await
        .expect("sink");
    sink.run_once(&*log).await.expect("run");
    let wh = Warehouse::new(lake).await.expect("warehouse");
    (dir, wh)
}

async fn csv(wh: &Warehouse, sql: &str) -> String {
    tailor_lake::to_csv(&wh.query(sql).await.expect(sql)).expect("csv")
}

#[tokio::test]
async fn tables_and_views_give_known_answers() {
    let (_dir, wh) = warehouse().await;

    assert_eq!(
        csv(
            &wh,
            "SELECT count(*) AS rows, count(DISTINCT message_id) AS events FROM events"
        )
        .await,
        "rows,events\n15,13\n"
    );
    assert_eq!(
        csv(&wh, "SELECT CAST(dt AS VARCHAR) AS dt, hour, count(*) AS n FROM events GROUP BY dt, hour ORDER BY dt").await,
        "dt,hour,n\n2026-01-15,10,13\n2026-01-16,10,2\n"
    );
    // Partition filters prune files and still give the right answer.
    assert_eq!(
        csv(
            &wh,
            "SELECT count(*) AS n FROM events WHERE dt = '2026-01-16' AND hour = 10"
        )
        .await,
        "n\n2\n"
    );
    assert_eq!(
        csv(&wh, "SELECT interaction, interaction_index, item_id, price, quantity, order_id FROM events WHERE event = 'Order Completed' ORDER BY message_id, interaction_index").await,
        "interaction,interaction_index,item_id,price,quantity,order_id\n\
         purchase,0,p1,10.0,2.0,o1\npurchase,1,p2,5.0,,o1\npurchase,0,p2,7.0,3.0,o2\n"
    );
    assert_eq!(
        csv(
            &wh,
            "SELECT interaction, interaction_index, item_id FROM events WHERE event = 'Signed In'"
        )
        .await,
        "interaction,interaction_index,item_id\n,0,\n"
    );

    assert_eq!(
        csv(&wh, "SELECT CAST(day AS VARCHAR) AS day, item_id, views, clicks, add_to_carts, purchases, revenue FROM item_daily_stats ORDER BY day, item_id").await,
        "day,item_id,views,clicks,add_to_carts,purchases,revenue\n\
         2026-01-15,p1,3,1,1,1,20.0\n\
         2026-01-15,p2,1,1,0,1,5.0\n\
         2026-01-15,p3,0,0,0,0,0.0\n\
         2026-01-16,p1,1,0,0,0,0.0\n\
         2026-01-16,p2,0,0,0,1,21.0\n"
    );

    assert_eq!(
        csv(&wh, "SELECT CAST(day AS VARCHAR) AS day, users_viewed, users_clicked, users_added_to_cart, users_purchased, \
                  round(view_to_click_rate, 4) AS v2c, click_to_cart_rate AS c2a, cart_to_purchase_rate AS a2p, view_to_purchase_rate AS v2p \
                  FROM funnel_daily ORDER BY day").await,
        "day,users_viewed,users_clicked,users_added_to_cart,users_purchased,v2c,c2a,a2p,v2p\n\
         2026-01-15,3,2,1,1,0.6667,0.5,1.0,0.3333333333333333\n\
         2026-01-16,1,0,0,1,0.0,,,1.0\n"
    );

    assert_eq!(
        csv(&wh, "SELECT CAST(day AS VARCHAR) AS day, model, variant, impressions, clicks, ctr FROM recommendation_ctr ORDER BY day, model").await,
        "day,model,variant,impressions,clicks,ctr\n\
         2026-01-15,als,a,2,1,0.5\n\
         2026-01-15,unknown,unknown,1,0,0.0\n"
    );

    assert_eq!(
        csv(&wh, "SELECT json_get_str(properties, 'products.1.product_id') AS p FROM events WHERE message_id = 'm04' AND interaction_index = 0").await,
        "p\np2\n"
    );
}

#[tokio::test]
async fn errors_are_clear_and_queries_read_only() {
    let (_dir, wh) = warehouse().await;
    for (sql, needle) in [
        ("SELEC 1", "SELEC"),
        ("SELECT nope FROM events", "nope"),
        ("SELECT * FROM missing_table", "missing_table"),
        ("CREATE TABLE t AS SELECT 1", "DDL"),
        ("DROP VIEW item_daily_stats", "DDL"),
        ("INSERT INTO events SELECT * FROM events", ""),
        ("SET datafusion.execution.batch_size = 1", ""),
    ] {
        match wh.query(sql).await {
            Err(e @ Error::Sql(_)) => {
                assert!(e.is_client_error());
                assert!(e.to_string().contains(needle), "{sql}: {e}");
            }
            other => panic!("{sql}: expected a SQL error, got {other:?}"),
        }
    }
    // Still intact.
    assert_eq!(
        csv(&wh, "SELECT count(*) AS n FROM item_daily_stats").await,
        "n\n5\n"
    );
}

#[tokio::test]
async fn formats_and_refresh() {
    let (dir, wh) = warehouse().await;
    let b = wh
        .query("SELECT item_id, views FROM item_daily_stats WHERE item_id = 'p3'")
        .await
        .expect("q");
    assert_eq!(
        tailor_lake::format_batches(&b, OutputFormat::Table).expect("table"),
        "+---------+-------+\n| item_id | views |\n+---------+-------+\n| p3      | 0     |\n+---------+-------+"
    );
    assert_eq!(
        tailor_lake::format_batches(&b, "json".parse().expect("fmt")).expect("json"),
        r#"[{"item_id":"p3","views":0}]"#
    );
    assert!("xml".parse::<OutputFormat>().is_err());
    let none = wh
        .query("SELECT * FROM events WHERE false")
        .await
        .expect("q");
    assert_eq!(tailor_lake::to_json(&none).expect("json"), "[]");

    // A commit made after the warehouse opened is visible to the next query.
    let v = wh.version();
    let log = open_log(&dir.path().join("log"));
    append(
        &*log,
        &[event(
            "late",
            "Product Viewed",
            Some("u9"),
            None,
            D2,
            json!({"product_id": "p9"}),
        )],
    )
    .await;
    let sink = LakeSink::with_lake(
        Lake::local(&dir.path().join("lake")).expect("lake"),
        test_config(),
    )
    .await
    .expect("sink");
    assert_eq!(sink.run_once(&*log).await.expect("run").records, 1);
    assert_eq!(
        csv(&wh, "SELECT count(*) AS n FROM events").await,
        "n\n16\n"
    );
    assert_eq!(wh.version(), v + 1);
}
