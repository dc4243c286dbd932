//! Online store scenarios, written once over the trait and run against every backend:
//! `memory::*` on the in-memory store, `redis::*` on Redis at `TAILOR_TEST_REDIS_URL`
//! (default `redis://127.0.0.1:6379`; `scripts/test.sh` starts one if none answers), each
//! test under a key prefix of its own that it deletes at the end.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tailor_features::engine::{FeatureEngine, FeatureEvent, FeaturesConfig};
use tailor_features::online::{self, FeatureReader, LiveReader, OnlineBackend, OnlineStore};
use tailor_features::{EmbeddedStore, FeatureRow, FeatureValue};

fn row(entity: &str, id: &str, as_of_ms: i64, views: i64) -> FeatureRow {
    FeatureRow {
        entity: entity.into(),
        id: id.into(),
        as_of_ms,
        values: vec![("views".into(), FeatureValue::Int(views))],
    }
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Writes, misses, kinds kept apart, empty calls.
fn write_then_read(store: &dyn OnlineStore) {
    store
        .write(vec![
            row("item", "P1", 10, 1),
            row("item", "P2", 10, 2),
            row("user", "P1", 10, 9),
        ])
        .expect("write");
    assert_eq!(
        store.read("item", "P1").expect("read"),
        Some(row("item", "P1", 10, 1))
    );
    assert_eq!(
        store.read("user", "P1").expect("read"),
        Some(row("user", "P1", 10, 9))
    );
    assert_eq!(store.read("category", "P1").expect("read"), None);
    assert_eq!(store.read("item", "P3").expect("read"), None);
    store.write(Vec::new()).expect("empty write");
    assert_eq!(store.read_many("item", &[]).expect("empty read"), vec![]);
}

/// The row of the latest `as_of_ms` stays, whichever write comes last, across calls and
/// within one; at equal times the later write wins.
fn newer_wins_in_either_order(store: &dyn OnlineStore) {
    let read = |id: &str| store.read("item", id).expect("read");
    store.write(vec![row("item", "A", 10, 1)]).expect("write");
    store.write(vec![row("item", "A", 20, 2)]).expect("newer");
    assert_eq!(read("A"), Some(row("item", "A", 20, 2)));
    store.write(vec![row("item", "A", 15, 3)]).expect("older");
    assert_eq!(read("A"), Some(row("item", "A", 20, 2)));
    store
        .write(vec![row("item", "A", 20, 4)])
        .expect("same time");
    assert_eq!(read("A"), Some(row("item", "A", 20, 4)));

    store
        .write(vec![row("item", "B", 30, 1), row("item", "B", 5, 2)])
        .expect("newer first");
    assert_eq!(read("B"), Some(row("item", "B", 30, 1)));
    store
        .write(vec![row("item", "C", 5, 2), row("item", "C", 30, 1)])
        .expect("older first");
    assert_eq!(read("C"), Some(row("item", "C", 30, 1)));

    // Times compare as numbers across the sign and at the extremes.
    store.write(vec![row("item", "D", -5, 1)]).expect("write");
    store
        .write(vec![row("item", "D", i64::MIN, 2)])
        .expect("older");
    assert_eq!(read("D"), Some(row("item", "D", -5, 1)));
    store.write(vec![row("item", "D", 0, 3)]).expect("newer");
    store
        .write(vec![row("item", "D", i64::MAX, 4)])
        .expect("newest");
    store.write(vec![row("item", "D", 255, 5)]).expect("older");
    assert_eq!(read("D"), Some(row("item", "D", i64::MAX, 4)));
}

/// `read_many` answers in the order asked, misses and repeats included.
fn batch_read_keeps_order_and_misses(store: &dyn OnlineStore) {
    let rows: Vec<FeatureRow> = (0..10)
        .filter(|i| i % 2 == 0)
        .map(|i| row("item", &format!("P{i}"), 100 + i, i))
        .collect();
    store.write(rows).expect("write");
    let asked = ids(&["P8", "P1", "P0", "nope", "P4", "P4", "P9"]);
    let got = store.read_many("item", &asked).expect("read");
    assert_eq!(
        got,
        vec![
            Some(row("item", "P8", 108, 8)),
            None,
            Some(row("item", "P0", 100, 0)),
            None,
            Some(row("item", "P4", 104, 4)),
            Some(row("item", "P4", 104, 4)),
            None,
        ]
    );
}

/// 5,000 rows in one write, read back in one call.
fn large_batch(store: &dyn OnlineStore) {
    let rows: Vec<FeatureRow> = (0..5_000)
        .map(|i| FeatureRow {
            entity: "item".into(),
            id: format!("L{i}"),
            as_of_ms: 1_000 + i,
            values: vec![
                ("views".into(), FeatureValue::Int(i)),
                (
                    "last".into(),
                    FeatureValue::List(vec![FeatureValue::Str(format!("P{i}")); 5]),
                ),
            ],
        })
        .collect();
    store.write(rows.clone()).expect("write");
    let mut asked: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    asked.push("L5000".into());
    let got = store.read_many("item", &asked).expect("read");
    assert_eq!(got.len(), 5_001);
    assert_eq!(got[5_000], None);
    for (want, got) in rows.iter().zip(&got) {
        assert_eq!(Some(want), got.as_ref());
    }
    // All older: nothing changes.
    let older: Vec<FeatureRow> = (0..5_000)
        .map(|i| row("item", &format!("L{i}"), i, -1))
        .collect();
    store.write(older).expect("older");
    let again = store.read_many("item", &asked[..5_000]).expect("read");
    assert!(rows.iter().zip(&again).all(|(w, g)| Some(w) == g.as_ref()));
}

/// Same value, floats compared by their bits (NaN payloads, -0.0).
fn same(a: &FeatureValue, b: &FeatureValue) -> bool {
    use FeatureValue as V;
    match (a, b) {
        (V::Float(x), V::Float(y)) => x.to_bits() == y.to_bits(),
        (V::List(x), V::List(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (V::Map(x), V::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, a), (kb, b))| ka == kb && same(a, b))
        }
        _ => a == b,
    }
}

fn same_row(a: &FeatureRow, b: &FeatureRow) -> bool {
    a.entity == b.entity
        && a.id == b.id
        && a.as_of_ms == b.as_of_ms
        && a.values.len() == b.values.len()
        && a.values
            .iter()
            .zip(&b.values)
            .all(|((na, a), (nb, b))| na == nb && same(a, b))
}

/// Every variant comes back exactly: floats to the bit (NaN, infinities, -0.0, subnormals),
/// full-range ints, odd strings and ids, nesting, repeated names.
fn every_value_round_trips_exactly(store: &dyn OnlineStore) {
    use FeatureValue as V;
    let floats = [
        0.0,
        -0.0,
        0.1 + 0.2,
        1.0 / 3.0,
        5e-324,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        f64::from_bits(0x7ff4_0000_dead_beef),
    ];
    let mut values: Vec<(String, V)> = floats
        .iter()
        .enumerate()
        .map(|(i, &x)| (format!("f{i}"), V::Float(x)))
        .collect();
    values.extend([
        ("null".into(), V::Null),
        ("min".into(), V::Int(i64::MIN)),
        ("max".into(), V::Int(i64::MAX)),
        ("zero".into(), V::Int(0)),
        ("empty".into(), V::Str(String::new())),
        ("odd".into(), V::Str("a:b \"q\"\n\t\0 é 🙂 %3A".into())),
        (
            "list".into(),
            V::List(vec![
                V::Str("P1".into()),
                V::Null,
                V::Int(-7),
                V::List(vec![V::Float(-0.0), V::List(vec![])]),
            ]),
        ),
        (
            "map".into(),
            V::Map(vec![
                ("shoes".into(), V::Float(4.5)),
                ("shoes".into(), V::Float(1.0)),
                ("".into(), V::Map(vec![])),
            ]),
        ),
        ("null".into(), V::Int(1)),
    ]);
    for (entity, id) in [
        ("user", "u 1/é:🙂"),
        ("property:brand", "Acme:Pro"),
        ("item", ""),
    ] {
        let want = FeatureRow {
            entity: entity.into(),
            id: id.into(),
            as_of_ms: 1_700_000_000_123,
            values: values.clone(),
        };
        store.write(vec![want.clone()]).expect("write");
        let got = store.read(entity, id).expect("read").expect("stored");
        assert!(same_row(&got, &want), "{got:?}\n!=\n{want:?}");
    }
}

/// Entity kinds and ids that a naive `kind:id` key would confuse stay apart.
fn look_alike_keys_stay_apart(store: &dyn OnlineStore) {
    let pairs = [
        ("property:a:b", "c"),
        ("property:a", "b:c"),
        ("property:a%3Ab", "c"),
        ("a:b", "c"),
        ("a", "b:c"),
        ("property", "a:b:c"),
    ];
    let rows: Vec<FeatureRow> = pairs
        .iter()
        .enumerate()
        .map(|(i, (e, id))| row(e, id, 1, i as i64))
        .collect();
    store.write(rows.clone()).expect("write");
    for want in &rows {
        assert_eq!(
            store.read(&want.entity, &want.id).expect("read").as_ref(),
            Some(want)
        );
    }
}

/// u1 views P9 (shoes) at t = 1 s.
fn u1_views_p9() -> FeatureEvent {
    FeatureEvent {
        event: Some("Product Viewed".into()),
        user_id: Some("u1".into()),
        event_time_ms: 1_000,
        received_at_ms: 1_000,
        interactions: vec![tailor_event::Interaction {
            kind: tailor_event::InteractionKind::View,
            item_id: "P9".into(),
            category: Some("shoes".into()),
            price: Some(3.5),
            quantity: None,
            currency: None,
            order_id: None,
            rec_id: None,
        }],
        ..FeatureEvent::default()
    }
}

/// Rows the engine materializes go through the store unchanged.
fn engine_rows_round_trip(store: &dyn OnlineStore) {
    let mut engine = FeatureEngine::new(&FeaturesConfig::default(), 2).expect("engine");
    let event = u1_views_p9();
    engine.apply(1, 0, &event);
    let touched = engine.take_touched();
    let rows = engine.materialize(&touched);
    assert_eq!(rows.len(), 3);
    store.write(rows.clone()).expect("write");
    for r in &rows {
        let back = store.read(&r.entity, &r.id).expect("read").expect("stored");
        assert_eq!(&back, r);
        // And through JSON, as the API answers with it.
        let json = serde_json::to_string(r).expect("json");
        let parsed: FeatureRow = serde_json::from_str(&json).expect("parse");
        assert_eq!(&parsed, r);
    }
}

/// Writers racing on the same ids and readers alongside: a reader never sees a row older
/// than one it saw, never a row mixed from two writes, and the newest row wins.
fn concurrent_writers_and_readers(store: &dyn OnlineStore) {
    const WRITERS: i64 = 4;
    const ROUNDS: i64 = 40;
    let asked: Vec<String> = (0..50).map(|i| format!("c{i}")).collect();
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let asked = &asked;
            s.spawn(move || {
                for round in 0..ROUNDS {
                    let at = round * WRITERS + w;
                    // Writer w's rows say w, at a time only it uses.
                    let rows = asked.iter().map(|id| row("user", id, at, w)).collect();
                    store.write(rows).expect("write");
                }
            });
        }
        for _ in 0..3 {
            s.spawn(|| {
                let mut seen = vec![i64::MIN; asked.len()];
                for _ in 0..ROUNDS {
                    let got = store.read_many("user", &asked).expect("read");
                    for (last, r) in seen.iter_mut().zip(got.iter().flatten()) {
                        assert!(r.as_of_ms >= *last, "went back from {last} to {r:?}");
                        assert_eq!(
                            r.get("views"),
                            Some(&FeatureValue::Int(r.as_of_ms % WRITERS))
                        );
                        *last = r.as_of_ms;
                    }
                }
            });
        }
    });
    let last = ROUNDS * WRITERS - 1;
    for r in store.read_many("user", &asked).expect("read") {
        let r = r.expect("written");
        assert_eq!(
            (r.as_of_ms, r.get("views")),
            (last, Some(&FeatureValue::Int(WRITERS - 1)))
        );
    }
}

/// One `#[test]` per scenario, on the store `$open` gives.
macro_rules! scenario_tests {
    ($open:expr; $($scenario:ident),* $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                let store = $open;
                super::$scenario(&*store);
            }
        )*
    };
}

mod memory {
    use super::*;

    fn open() -> Arc<dyn OnlineStore> {
        let OnlineBackend::Store(store) = online::open("memory://").expect("memory") else {
            panic!("memory:// is a materialized store");
        };
        store
    }

    scenario_tests!(open();
        write_then_read,
        newer_wins_in_either_order,
        batch_read_keeps_order_and_misses,
        large_batch,
        every_value_round_trips_exactly,
        look_alike_keys_stay_apart,
        engine_rows_round_trip,
        concurrent_writers_and_readers,
    );
}

/// The test Redis: `TAILOR_TEST_REDIS_URL`, else the local default.
fn redis_base_url() -> String {
    std::env::var("TAILOR_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// `base` with `query` added to its options.
fn with_query(base: &str, query: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{query}")
}

/// The test Redis's address.
fn redis_addr() -> SocketAddr {
    let url = ::redis::parse_redis_url(&redis_base_url()).expect("TAILOR_TEST_REDIS_URL parses");
    (url.host_str().expect("host"), url.port().unwrap_or(6379))
        .to_socket_addrs()
        .expect("resolve")
        .next()
        .expect("an address")
}

/// A Redis store under a fresh key prefix, whose keys are deleted when it is dropped.
struct TestRedis {
    store: Arc<dyn OnlineStore>,
    prefix: String,
}

impl TestRedis {
    fn open() -> TestRedis {
        TestRedis::at(&redis_base_url(), "")
    }

    /// The store at `base`, with `options` (`&name=value...`) after the prefix.
    fn at(base: &str, options: &str) -> TestRedis {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let prefix = format!(
            "tailor-test-{}-{nanos}-{}:",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let url = with_query(base, &format!("prefix={prefix}{options}"));
        match online::open(&url) {
            Ok(OnlineBackend::Store(store)) => TestRedis { store, prefix },
            Ok(OnlineBackend::Live) => panic!("redis:// is a materialized store"),
            Err(e) if std::env::var_os("TAILOR_TEST_REDIS_URL").is_some() => {
                panic!("the Redis of TAILOR_TEST_REDIS_URL cannot be used: {e}")
            }
            Err(e) => panic!(
                "the Redis online-store tests need a Redis server: {e}\n\
                 Start one with `redis-server --port 6379 --save '' --appendonly no --daemonize yes` \
                 (Debian: `apt-get install redis-server`), or set TAILOR_TEST_REDIS_URL=redis://host:port \
                 to use another; scripts/test.sh does this by itself."
            ),
        }
    }

    fn raw() -> ::redis::Connection {
        ::redis::Client::open(redis_base_url())
            .and_then(|c| c.get_connection())
            .expect("a plain connection to the test Redis")
    }
}

impl std::ops::Deref for TestRedis {
    type Target = dyn OnlineStore;

    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let Ok(mut con) = ::redis::Client::open(redis_base_url()).and_then(|c| c.get_connection())
        else {
            return;
        };
        let mut cursor = 0u64;
        loop {
            let Ok((next, keys)): Result<(u64, Vec<Vec<u8>>), _> = ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.prefix))
                .arg("COUNT")
                .arg(1_000)
                .query(&mut con)
            else {
                return;
            };
            if !keys.is_empty() && ::redis::cmd("DEL").arg(&keys).exec(&mut con).is_err() {
                return;
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}

/// Forwards connections to `upstream` and can cut them all, as a restart or a network
/// failure would.
struct Proxy {
    port: u16,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let sockets = Arc::new(Mutex::new(Vec::<TcpStream>::new()));
        let kept = sockets.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(upstream) else {
                    return;
                };
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    std::thread::spawn(move || {
                        let mut buf = [0; 16 * 1024];
                        while let Ok(n @ 1..) = from.read(&mut buf) {
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                };
                let clones = (client.try_clone(), server.try_clone());
                let (Ok(c2), Ok(s2)) = clones else { return };
                kept.lock()
                    .expect("lock")
                    .extend([c2.try_clone(), s2.try_clone()].into_iter().flatten());
                pipe(client, s2);
                pipe(server, c2);
            }
        });
        Proxy { port, sockets }
    }

    fn cut(&self) {
        for s in self.sockets.lock().expect("lock").drain(..) {
            // Either end may be closed already.
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

mod redis {
    use super::*;

    scenario_tests!(TestRedis::open();
        write_then_read,
        newer_wins_in_either_order,
        batch_read_keeps_order_and_misses,
        large_batch,
        every_value_round_trips_exactly,
        look_alike_keys_stay_apart,
        engine_rows_round_trip,
        concurrent_writers_and_readers,
    );

    /// Keys are `{prefix}f:{entity}:{id}` without expiry by default; a value that is not a
    /// row reads as missing and the next write replaces it.
    #[test]
    fn keys_follow_the_documented_layout() {
        let store = TestRedis::open();
        store
            .write(vec![
                row("item", "P1", 10, 1),
                row("property:brand", "Acme:X", 10, 2),
            ])
            .expect("write");
        let mut con = TestRedis::raw();
        for key in ["f:item:P1", "f:property:brand:Acme:X"] {
            let key = format!("{}{key}", store.prefix);
            let ttl: i64 = ::redis::cmd("PTTL")
                .arg(&key)
                .query(&mut con)
                .expect("PTTL");
            assert_eq!(ttl, -1, "{key} exists without expiry");
        }
        let junk = format!("{}f:item:junk", store.prefix);
        ::redis::cmd("SET")
            .arg(&junk)
            .arg("not a feature row")
            .exec(&mut con)
            .expect("SET");
        assert_eq!(store.read("item", "junk").expect("read"), None);
        store.write(vec![row("item", "junk", 1, 1)]).expect("write");
        assert_eq!(
            store.read("item", "junk").expect("read"),
            Some(row("item", "junk", 1, 1))
        );
    }

    /// `ttl_secs=1`: a row is there at once, gone within a few seconds.
    #[test]
    fn rows_expire_after_their_ttl() {
        let store = TestRedis::at(&redis_base_url(), "&ttl_secs=1");
        store.write(vec![row("item", "T", 1, 1)]).expect("write");
        let written = Instant::now();
        let mut con = TestRedis::raw();
        let ttl: i64 = ::redis::cmd("PTTL")
            .arg(format!("{}f:item:T", store.prefix))
            .query(&mut con)
            .expect("PTTL");
        assert!((1..=1_000).contains(&ttl), "PTTL {ttl}");
        assert_eq!(
            store.read("item", "T").expect("read"),
            Some(row("item", "T", 1, 1))
        );
        while store.read("item", "T").expect("read").is_some() {
            assert!(
                written.elapsed() < Duration::from_secs(5),
                "still there after 5 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            written.elapsed() >= Duration::from_millis(900),
            "gone too early"
        );
    }

    /// Every dropped connection is replaced and the command sent again.
    #[test]
    fn reconnects_after_the_connection_drops() {
        let proxy = Proxy::start(redis_addr());
        let mut url = ::redis::parse_redis_url(&redis_base_url()).expect("url");
        url.set_port(Some(proxy.port)).expect("port");
        url.set_host(Some("127.0.0.1")).expect("host");
        let store = TestRedis::at(url.as_str(), "");
        store.write(vec![row("item", "R", 1, 1)]).expect("write");
        // Several connections in the pool.
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..20 {
                        store.read("item", "R").expect("read");
                    }
                });
            }
        });
        proxy.cut();
        assert_eq!(
            store.read("item", "R").expect("read after a cut"),
            Some(row("item", "R", 1, 1))
        );
        proxy.cut();
        store
            .write(vec![row("item", "R", 2, 2)])
            .expect("write after a cut");
        assert_eq!(
            store.read("item", "R").expect("read"),
            Some(row("item", "R", 2, 2))
        );
    }

    fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    }

    #[test]
    fn refused_port_names_host_and_port() {
        let port = free_port();
        let err = online::open(&format!("redis://127.0.0.1:{port}/0")).expect_err("nothing there");
        let msg = err.to_string();
        assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
        assert!(msg.contains("refused"), "{msg}");
    }

    #[test]
    fn errors_never_show_the_password() {
        let port = free_port();
        let err = online::open(&format!("redis://alice:s3cr3t-pw@127.0.0.1:{port}"))
            .expect_err("nothing there");
        let msg = err.to_string();
        assert!(msg.contains("redis://alice:***@127.0.0.1"), "{msg}");
        assert!(!msg.contains("s3cr3t"), "{msg}");
        // Refused by the server itself.
        let addr = redis_addr();
        let err = online::open(&format!("redis://tailor-no-such-user:wr0ng-s3cret@{addr}"))
            .expect_err("no such user");
        let msg = err.to_string();
        assert!(msg.contains("authentication failed"), "{msg}");
        assert!(msg.contains("tailor-no-such-user:***@"), "{msg}");
        assert!(!msg.contains("wr0ng"), "{msg}");
    }

    /// Wrong URLs and options fail at start, saying what is wrong.
    #[test]
    fn url_errors_are_clear() {
        for (url, says) in [
            ("redis://127.0.0.1:6379?prefx=a", "unknown option \"prefx\""),
            ("redis://127.0.0.1:6379?ttl_secs=0", "ttl_secs"),
            ("redis://127.0.0.1:6379?ttl_secs=1h", "whole number"),
            ("redis://127.0.0.1:6379?pool_size=-1", "pool_size"),
            ("redis://127.0.0.1:6379/x", "database"),
            ("redis://127.0.0.1:notaport", "not a Redis URL"),
            (
                "redis://127.0.0.1:7000,127.0.0.1:7001",
                "Cluster is not supported",
            ),
            ("redis+cluster://127.0.0.1:7000", "Cluster is not supported"),
            ("rediss://u:pw@127.0.0.1:6380", "TLS"),
        ] {
            let err = match online::open(url) {
                Ok(_) => panic!("{url} opened"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(says), "{url}: {err}");
            assert!(!err.contains(":pw@"), "{url}: {err}");
        }
    }
}

/// `embedded://` reads the engine state in place: the same rows the engine would
/// materialize, visible as soon as the event is applied, unknown ids and kinds absent.
#[test]
fn live_reader_reads_the_engine_state() {
    assert!(matches!(
        online::open("embedded://").expect("embedded"),
        OnlineBackend::Live
    ));
    let engine = Arc::new(parking_lot::RwLock::new(
        FeatureEngine::new(&FeaturesConfig::default(), 2).expect("engine"),
    ));
    let reader = LiveReader::new(engine.clone());
    assert_eq!(reader.read("user", "u1").expect("read"), None);
    let mut event = u1_views_p9();
    engine.write().apply(1, 0, &event);
    let row = reader
        .read("user", "u1")
        .expect("read")
        .expect("visible at once");
    assert_eq!(row.as_of_ms, 1_000);
    assert_eq!(
        row.get("user_last_items"),
        Some(&FeatureValue::List(vec![FeatureValue::Str("P9".into())]))
    );
    event.event_time_ms = 2_000;
    event.interactions[0].item_id = "P10".into();
    engine.write().apply(0, 0, &event);
    let many = reader
        .read_many("item", &["P10".into(), "nope".into(), "P9".into()])
        .expect("read");
    let expected = {
        let e = engine.read();
        vec![
            e.read(&tailor_features::EntityKind::Item, "P10"),
            None,
            e.read(&tailor_features::EntityKind::Item, "P9"),
        ]
    };
    assert_eq!(many, expected);
    assert!(many[0].is_some() && many[2].is_some());
    assert_eq!(many[2].as_ref().map(|r| r.as_of_ms), Some(2_000));
    assert_eq!(reader.read("nonsense", "u1").expect("read"), None);
}

#[test]
fn unknown_schemes_are_refused() {
    let err = online::open("cassandra://u:pw@localhost").expect_err("no such backend");
    let msg = err.to_string();
    for scheme in ["embedded://", "memory://", "redis://"] {
        assert!(msg.contains(scheme), "{msg}");
    }
    assert!(!msg.contains("pw@"), "{msg}");
}

#[test]
fn embedded_store_forgets_old_rows() {
    let store = EmbeddedStore::new();
    store
        .write(vec![row("item", "a", 5, 1), row("item", "b", 50, 1)])
        .expect("write");
    assert_eq!(store.retain_newer_than(10), 1);
    assert_eq!(store.len(), 1);
}
